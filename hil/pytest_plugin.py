"""pytest plugin (entry point `pytest11`): run tests against boards chosen by URL.

    pytest --board emu://                      # board tests run on the emulated board
    pytest --board sim:// --board emu://       # every board-using test runs on each
    HIL_BOARD='sim:// emu://' pytest           # the same through the environment
    pytest --pyargs hil.validation --board /dev/ttyUSB0

It is installed with hil and so loaded by every pytest in the environment, so it acts only on what
is hil's, as labgrid's plugin acts only when its option is given:
- the fixtures `board_url` (one per board URL) and `board` (an open Board, closed after the test);
- the marker `@pytest.mark.requires("counts", ...)`, read only on tests that use those fixtures: it
  skips, with a reason, on boards without the capabilities, and names outside hil.board.Capability
  are refused when the tests are collected;
- the marker `@pytest.mark.hil_slow`: skipped unless `--hil-run-slow` is given;
- the fixture `spiking_equivalent`: hil.compare.assert_spiking_equivalent, imported when a test
  asks for it (`spiking_equivalent(sim_rec, chip_rec, stats=["rate", "cv"], alpha=0.05)`).
A project that uses none of them runs as if the plugin were not there (its `slow` tests included).

Board URLs come from `--board` (repeatable), else from $HIL_BOARD (several URLs, separated by commas
or whitespace), else the `board_url` fixture decides (a conftest.py may override it; the default is
emu://). URLs given either way are checked once at start-up: a bad one is one usage error, not an
ERROR on every test. The pytest header names them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

DEFAULT_URL = "emu://"
ENV = "HIL_BOARD"
SLOW = "hil_slow"
_URLS = pytest.StashKey[list[str]]()  # the URLs given
_SEEN = pytest.StashKey[list[str]]()  # each with who answered, for the header


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "hil: test against boards chosen by URL")
    group.addoption(
        "--board",
        action="append",
        default=None,
        metavar="URL",
        help=f"board URL to test against; repeat for several (default: ${ENV}, a comma or "
        f"space separated list, else {DEFAULT_URL})",
    )
    group.addoption(
        "--hil-run-slow",
        action="store_true",
        default=False,
        help=f"also run tests marked {SLOW} (long end-to-end runs on a board)",
    )


def board_urls(config: pytest.Config) -> list[str]:
    """The board URLs given by --board or $HIL_BOARD (empty when neither is given)."""
    urls: list[str] = config.stash.get(_URLS, [])
    return list(urls)


def _given_urls(config: pytest.Config) -> list[str]:
    urls = config.getoption("--board") or re.split(r"[\s,]+", os.environ.get(ENV, "").strip())
    return [u for u in urls if u]


def _check_url(url: str) -> str:
    """Open the board once and read who it is; a bad URL or an absent board is a usage error."""
    from hil.board import open_board
    from hil.errors import HilError

    try:
        with open_board(url) as board:
            info = board.info()
    except HilError as e:
        raise pytest.UsageError(f"hil: board URL {url!r} cannot be used: {e}") from None
    return f"{url} ({info.board_id}, {info.kind} {info.version})"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires(*capabilities): hil board tests: needs these board capabilities"
    )
    config.addinivalue_line("markers", f"{SLOW}: long hil end-to-end run; needs --hil-run-slow")
    urls = _given_urls(config)
    config.stash[_URLS] = urls
    if urls and not config.option.collectonly:
        config.stash[_SEEN] = [_check_url(u) for u in urls]


def pytest_report_header(config: pytest.Config) -> list[str]:
    seen = config.stash.get(_SEEN, None) or board_urls(config)
    return [f"hil boards: {', '.join(seen)}"] if seen else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Boards named on the command line or in $HIL_BOARD parametrize every test that uses them.
    # Otherwise the `board_url` fixture decides (a conftest.py may override it).
    urls = board_urls(metafunc.config)
    if urls and "board_url" in metafunc.fixturenames:
        metafunc.parametrize("board_url", urls, scope="session")


@pytest.fixture(scope="session")
def board_url() -> str:
    """The board URL under test when neither --board nor $HIL_BOARD names one."""
    return DEFAULT_URL


def _uses_board(item: pytest.Item) -> bool:
    names = getattr(item, "fixturenames", ())
    return "board" in names or "board_url" in names


def _required(item: pytest.Item) -> Iterator[str]:
    for marker in item.iter_markers("requires"):
        yield from marker.args


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # only tests that use hil's fixtures: another project's `requires` marker is its own business
    board_items = [item for item in items if _uses_board(item)]
    if board_items:
        from hil.board import Capability

        known = {c.value for c in Capability}
    for item in board_items:
        unknown = sorted({str(c) for c in _required(item)} - known)
        if unknown:
            raise pytest.UsageError(
                f"hil: {item.nodeid}: requires{tuple(unknown)} names no board capability; "
                f"allowed: {', '.join(sorted(known))}"
            )
    if config.getoption("--hil-run-slow"):
        return
    skip = pytest.mark.skip(reason=f"{SLOW}: long end-to-end run; use --hil-run-slow")
    for item in items:
        if item.get_closest_marker(SLOW):
            item.add_marker(skip)


@pytest.fixture
def board(board_url: str, request: pytest.FixtureRequest):
    """An open Board for `board_url`; tests marked `requires(...)` skip when it lacks a capability."""
    from hil.board import open_board

    b = open_board(board_url)
    try:
        missing = set(_required(request.node)) - set(b.info().capabilities)
        if missing:
            pytest.skip(f"board {board_url} lacks capabilities {sorted(missing)}")
        yield b
    finally:
        b.close()


@pytest.fixture
def spiking_equivalent():  # noqa: ANN201
    """hil.compare.assert_spiking_equivalent (docs/compare.md): sim-vs-chip statistics as an
    assertion whose failure names the statistics, neurons, effect sizes and p-values."""
    from hil.compare import assert_spiking_equivalent

    return assert_spiking_equivalent
