"""A rendered report opened in real headless Chromium (Debian's `chromium`): it loads with no
console error, requests nothing beyond itself, every image decodes, and its screenshot is not
blank. `.ci/run` installs chromium; locally the test skips, saying so, when it is absent. In CI
(CI=true) a missing chromium fails instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from report_run import build_run
from test_report_render import Page

from hil.report.browser import check_page, find_chromium, pixel_spread
from hil.report.document import write_report


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = find_chromium()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run installs Debian's chromium package")
        pytest.skip("chromium not installed (apt-get install chromium; .ci/run installs it)")
    return exe


def test_report_opens_in_chromium_with_no_error_and_every_image_decoded(
    chromium: str, tmp_path: Path
) -> None:
    run = build_run(tmp_path / "run", trials=4)
    path = write_report(run)
    seen = check_page(path, chromium)
    assert seen.problems() == []
    assert seen.title == "test run · hil report"
    n_img = len(Page(path.read_text()).images())
    assert n_img == 9 and len(seen.images) == n_img
    assert all(i["width"] > 300 and i["height"] > 200 for i in seen.images)
    assert seen.requests == [path.resolve().as_uri()]  # the page itself, nothing else
    assert pixel_spread(seen.screenshot_png) > 10
    (tmp_path / "screenshot.png").write_bytes(seen.screenshot_png)


def test_the_browser_check_sees_what_a_reader_would(chromium: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!doctype html><html><head><title>bad</title></head><body>"
        '<img src="data:image/png;base64,AAAA">'  # does not decode, no alt text
        '<img src="http://127.0.0.1:9/x.png" alt="far">'  # a request beyond the page
        "<script>console.error('boom')</script></body></html>"
    )
    found = "\n".join(check_page(bad, chromium).problems())
    assert "console: error: boom" in found  # the page's own console
    assert "console: error: Failed to load resource" in found  # the browser's log
    assert "image 0 ('') did not decode" in found and "image 0 has no alt text" in found
    assert "request beyond the page: http://127.0.0.1:9/x.png" in found
    blank = tmp_path / "blank.html"
    blank.write_text("<!doctype html><html><head><title>blank</title></head><body></body></html>")
    assert check_page(blank, chromium).problems() == [
        "screenshot is blank (pixel standard deviation 0)"
    ]
