"""hil.report rendering: what the HTML holds, that it asks for nothing outside itself, that run
text is escaped, that every plot is labelled, and that a run directory re-renders identically."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_run import FAST, build_run, counts_trial, fast_neuron_names, poisson_trial

from hil import events as ev
from hil.report import figures as fg
from hil.report.document import render
from hil.report.rundir import Run

HOSTILE = "<script>alert(1)</script>\"'&<img src=x onerror=alert(2)> $\\frac{1}{0}$"


class Page(HTMLParser):
    """Every start tag with its attributes, the text, and the text of each <section>."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.sections: dict[str, list[str]] = {}
        self._section: str | None = None
        self.feed(html)
        self.close()

    INLINE = ("strong", "em", "code", "a", "span", "b", "i")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag not in self.INLINE:  # a block or cell boundary separates words
            self.handle_data(" ")
        if tag == "section":
            self._section = a.get("id")
            self.sections[self._section or ""] = []

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.INLINE:
            self.handle_data(" ")
        if tag == "section":
            self._section = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._section is not None:
            self.sections[self._section].append(data)

    def section(self, name: str) -> str:
        return " ".join("".join(self.sections[name]).split())

    def all_text(self) -> str:
        return " ".join("".join(self.text).split())

    def images(self) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == "img"]


URL_ATTRS = ("src", "href", "action", "data", "poster", "srcset", "formaction", "background")


def external_references(html: str) -> list[str]:
    """Every reference the page could follow to something outside itself (an oracle written here:
    any URL attribute that is not an in-page anchor or a data: URI, any script, link, frame or
    object element, any url(...) or @import in inline CSS)."""
    page = Page(html)
    out = []
    for tag, attrs in page.tags:
        if tag in (
            "script",
            "link",
            "iframe",
            "frame",
            "object",
            "embed",
            "base",
            "audio",
            "video",
        ):
            out.append(f"<{tag}>")
        for k, v in attrs.items():
            if (
                k in URL_ATTRS
                and v is not None
                and not (v.startswith("#") or v.startswith("data:"))
            ):
                out.append(f"{tag}.{k}={v[:80]}")
            if k == "style" and v and re.search(r"url\(|@import", v):
                out.append(f"{tag}.style")
            if k not in ("alt", "title") and v and "://" in v:  # text may name a board URL
                out.append(f"{tag}.{k} holds a URL")
    styles = re.findall(r"<style[^>]*>(.*?)</style>", html, flags=re.S)
    out += [f"css: {m}" for s in styles for m in re.findall(r"url\([^)]*\)|@import[^;]*|//", s)]
    return out


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, str]:
    run = build_run(tmp_path_factory.mktemp("full"))
    return run, render(run, rendered_utc="T")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, str]:
    run = build_run(tmp_path_factory.mktemp("hostile"), hostile=HOSTILE, trials=4)
    run.set_stage(f"deploy {HOSTILE}", "failed", message=f"board said {HOSTILE}")
    run.add_check(f"check {HOSTILE}", passed=False, detail=HOSTILE)
    run.save()
    return run, render(run, rendered_utc="T")


def test_report_has_every_section_a_contents_entry_for_each_and_the_verdicts_first(full) -> None:
    _, html = full
    page = Page(html)
    ids = [a.get("id") for t, a in page.tags if t == "section"]
    assert ids == ["verdicts", "stages", "rasters", "rates", "isi", "fi", "calibration",
                   "accuracy", "trends", "provenance"]  # fmt: skip
    links = [a["href"] for t, a in page.tags if t == "a"]
    assert links == [f"#{i}" for i in ids]
    for i in ids:
        assert "Not run" not in page.section(i), i
    assert "FAIL: 1 of 3 verdicts failed" in page.all_text()
    verdicts = page.section("verdicts")
    assert "sim vs chip: rate and CV FAIL 3 of 48 tests differ" in verdicts
    assert "link losses PASS 0 events <= 0 events" in verdicts
    for name in fast_neuron_names():  # the neurons that really differ, each named once
        assert verdicts.count(name) == 1
    assert len(page.images()) == 9  # 8 and the trend plot


def test_scatter_names_the_neurons_whose_rate_differs(full) -> None:
    run, html = full
    text = Page(html).section("rates")
    assert "sim vs chip: rate differs (hil.compare)" in text
    for name in fast_neuron_names():
        assert name in text
    for g, name in zip(
        FAST, fast_neuron_names(), strict=True
    ):  # rates counted here, from the events
        hz = []
        for group in ("sim", "chip"):
            recs = run.load_recordings(group)
            spikes = [np.sum(ev.global_index(r.events) == g) for r in recs]
            hz.append(np.mean(spikes) / (recs[0].duration_us * 1e-6))
        assert f"{name} {hz[0]:.4g} {hz[1]:.4g}" in text
    alt = next(a["alt"] for a in Page(html).images() if "scatter" in (a["alt"] or ""))
    assert all(str(g) in alt for g in FAST)
    differs = run.comparison_table(run.comparisons[0]).query("differs")["neuron"]
    assert sorted(differs) == sorted(FAST)  # the stand-in data really has exactly these


def test_no_external_reference_anywhere(full) -> None:
    _, html = full
    assert external_references(html) == []
    for img in Page(html).images():
        assert img["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(img["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_url_oracle_catches_each_kind_of_reference() -> None:
    for bad in (
        '<link rel="stylesheet" href="https://cdn.example/x.css">',
        '<img src="x.png" alt="a">',
        "<script>1</script>",
        "<style>body { background: url(x.png) }</style>",
        '<a href="//example.org/">a</a>',
        '<meta http-equiv="refresh" content="0; url=https://example.org/">',
    ):
        assert external_references(f"<html><body>{bad}</body></html>"), bad


def test_every_image_has_alt_text_that_says_what_it_shows(full) -> None:
    _, html = full
    for img in Page(html).images():
        assert img["alt"] and len(img["alt"]) > 30, img["alt"]


def test_hostile_text_is_escaped_everywhere(hostile) -> None:
    run, html = hostile
    page = Page(html)
    assert [t for t, _ in page.tags].count("script") == 0
    assert not [a for t, a in page.tags for k in a if k.startswith("on")]  # no onerror= etc.
    assert all(t != "img" or a["src"].startswith("data:") for t, a in page.tags)
    text = page.all_text()
    assert text.count(HOSTILE) >= 8  # title, group, provenance, stage, check name and detail, ...
    assert "&lt;script&gt;" in html
    assert "The run stopped at stage deploy " + HOSTILE in text
    # the group name became a safe file name, and the run reloads
    assert all(
        re.fullmatch(r"recordings/[a-z0-9-]+-\d{3}", p)
        for ps in run.recordings.values()
        for p in ps
    )
    assert external_references(html) == []


def test_rerender_from_the_run_directory_equals_the_first_render(full) -> None:
    run, first = full
    again = render(Run.load(run.path), rendered_utc="T")  # the files, not the objects
    assert again == first  # (the command's output, time stamp and all: test_report_rundir)


def test_an_empty_run_says_not_run_in_every_section(tmp_path: Path) -> None:
    run = Run.create(tmp_path / "empty", title="nothing yet")
    run.save()
    page = Page(render(Run.load(run.path)))
    assert "NO VERDICTS" in page.all_text()
    for sec in ("verdicts", "stages", "rasters", "rates", "isi", "fi", "calibration",
                "accuracy", "provenance"):  # fmt: skip
        assert "Not run:" in page.section(sec), sec
    assert "this run holds no f-I table" in page.section("fi")
    assert page.images() == []


def test_counts_recordings_get_a_heat_map_and_no_isi(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    run = Run.create(tmp_path / "counts", title="counts")
    run.add_recording("chip", counts_trial(rng, 0.5))
    run.save()
    page = Page(render(Run.load(run.path)))
    assert "ISI and CV need spike times; every recording holds counts" in page.section("isi")
    (img,) = page.images()
    assert "counts readout" in img["alt"]
    assert "Not run" in page.section("rates")  # no comparison names two groups


def test_a_failed_stage_is_a_failed_verdict_and_says_where_the_run_stopped(tmp_path: Path) -> None:
    run = Run.create(tmp_path / "stopped", title="stopped")
    run.set_stage("probe", "done", seconds=0.1)
    run.set_stage("calibrate", "failed", message="core 2: SOIF_LEAK_N not monotone")
    run.set_stage("train", "not run")
    run.save()
    text = Page(render(Run.load(run.path))).all_text()
    assert "The run stopped at stage calibrate: core 2: SOIF_LEAK_N not monotone" in text
    assert "stage calibrate FAIL failed core 2" in text
    assert "FAIL: 1 of 1 verdicts failed" in text


def test_untested_comparison_is_not_a_pass(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    from hil.compare import compare

    a = [counts_trial(rng, 0.2)]
    b = [counts_trial(rng, 0.2)]
    run = Run.create(tmp_path / "untested", title="one trial each")
    for r in a:
        run.add_recording("sim", r)
    for r in b:
        run.add_recording("chip", r)
    run.add_comparison("rates", compare(a, b, ["rate", "cv"]), reference="sim", candidate="chip")
    run.save()
    text = Page(render(Run.load(run.path))).all_text()
    assert "NOT TESTED 0 of 0 tests differ" in text
    assert "skipped cv: needs spike times" in text
    assert "INCOMPLETE" in text and "PASS" not in text


# ---- figures ---------------------------------------------------------------------------------


def test_each_figure_has_labelled_axes_with_units_and_a_legend_when_it_has_series() -> None:
    from report_run import accuracy_table, calibration_table, fi_table

    rng = np.random.default_rng(3)
    rec = poisson_trial(rng, np.full(24, 20.0), 0.5, {})
    c = counts_trial(rng, 0.5)
    two = {"sim": rng.exponential(20, 500), "chip": rng.exponential(25, 500)}
    figures = {
        "raster": fg.raster(rec.events, None, 0.5, "x")[0],
        "counts": fg.raster(None, c.counts, 0.5, "x")[0],
        "scatter": fg.rate_scatter(np.arange(5), np.ones(5), np.ones(5) * 2, ("a", "b"), [1], "o"),
        "hist": fg.histograms(two, "ISI [ms]", "t", log_x=True),
        "fi": fg.fi_curves(fi_table()),
        "calibration": fg.calibration(calibration_table()),
        "accuracy": fg.accuracy(accuracy_table()),
    }
    for name, fig in figures.items():
        assert fg.problems(fig) == [], name
        labels = [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]
        assert all(re.search(r"\[.+\]", x + y) for x, y in labels), (name, labels)


def test_the_figure_check_catches_a_missing_unit_label_and_legend() -> None:
    fig, ax = fg.new_figure()
    ax.plot([0, 1], [0, 1], label="one")
    ax.plot([0, 1], [1, 0], label="two")
    ax.set_xlabel("time")  # no unit
    found = fg.problems(fig)
    assert any("x axis has no label with a [unit]" in p for p in found)
    assert any("y axis has no label" in p for p in found)
    assert any("2 series and no legend" in p for p in found)
    with pytest.raises(fg.FigureError, match="no legend"):
        fg.embed(fig, "f", "t", "alt text")
    ax.set_xlabel("time [s]")
    ax.set_ylabel("rate [Hz]")
    ax.legend(handles=ax.lines[:1])
    assert fg.problems(fig) == ["axes 0: series 'two' is not in the legend"]
    ax.legend()
    assert fg.problems(fig) == []
    with pytest.raises(fg.FigureError, match="no alt text"):
        fg.embed(fig, "f", "t", "  ")


def test_histograms_of_two_groups_need_their_legend() -> None:
    fig = fg.histograms({"a": np.arange(10.0), "b": np.arange(10.0)}, "x [s]", "t")
    fig.axes[0].get_legend().remove()
    assert "axes 0: 2 series and no legend" in fg.problems(fig)


def test_the_figure_check_catches_tick_labels_left_as_mathtext() -> None:
    fig, ax = fg.new_figure()
    ax.plot([1, 10, 100], [1, 2, 3])
    ax.set_xscale("log")  # the default log labels are mathtext, which the report turns off
    ax.set_xlabel("x [s]")
    ax.set_ylabel("y [s]")
    assert any("raw mathtext" in p for p in fg.problems(fig))


def test_mathtext_in_run_text_is_drawn_literally() -> None:
    fig = fg.histograms({"$\\frac{1}{0}$": np.arange(10.0)}, "x [s]", "$\\sqrt{$", log_x=True)
    fg.embed(fig, "f", "t", "alt text")  # a parse error would raise here


def test_table_contract_rejects_what_it_does_not_allow() -> None:
    from report_run import fi_table

    from hil.errors import ConfigError
    from hil.report import tables as tb

    good = fi_table()
    assert tb.check("fi", good).dtypes["chip"] == np.int64
    with pytest.raises(ConfigError, match="column rate_hz.*missing"):
        tb.check("fi", good.drop(columns="rate_hz"))
    bad = good.copy()
    bad.loc[3, "rate_hz"] = -1.0
    with pytest.raises(ConfigError, match=r"rate_hz, row 3.*-1.0.*\[0, inf\]"):
        tb.check("fi", bad)
    bad = good.copy()
    bad.loc[0, "idc_A"] = np.nan
    with pytest.raises(ConfigError, match="idc_A"):
        tb.check("fi", bad)
    bad = good.copy()
    bad["core"] = 4
    with pytest.raises(ConfigError, match=r"core.*\[0, 3\]"):
        tb.check("fi", bad)
    with pytest.raises(ConfigError, match="mode"):
        tb.check("accuracy", pd.DataFrame({"mismatch": [0.1], "mode": [3], "accuracy": [0.5]}))
    with pytest.raises(ConfigError, match="one of fi, calibration, accuracy, trend, comparison"):
        tb.check("nope", good)
