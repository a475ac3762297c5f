"""pytest plugin (entry point `pytest11`): run tests against boards chosen by URL.

    pytest --board emu://                      # the default
    pytest --board sim:// --board emu://       # every board-using test runs on each
    pytest --pyargs hil.validation --board /dev/ttyUSB0

Fixtures: `board_url` (one per --board), `board` (an open Board, closed after the test).
Marker: `@pytest.mark.requires("counts", ...)` skips, with a reason, on boards without those
capabilities.
"""

from __future__ import annotations

import os

import pytest

DEFAULT_URL = "emu://"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil")
    group.addoption(
        "--board",
        action="append",
        default=None,
        metavar="URL",
        help="board URL to test against; repeat for several "
        f"(default: $HIL_BOARD or {DEFAULT_URL})",
    )
    group.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run tests marked slow (long end-to-end runs)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(*capabilities): needs these board capabilities")
    config.addinivalue_line("markers", "slow: long end-to-end run; needs --run-slow")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Boards named on the command line parametrize every test that uses them. Without --board, the
    # `board_url` fixture decides (a conftest.py may override it, e.g. to cover several backends).
    urls = metafunc.config.getoption("--board")
    if urls and "board_url" in metafunc.fixturenames:
        metafunc.parametrize("board_url", urls, scope="session")


@pytest.fixture(scope="session")
def board_url() -> str:
    """The board URL under test: --board URL, else $HIL_BOARD, else the default."""
    return os.environ.get("HIL_BOARD", DEFAULT_URL)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow end-to-end run; use --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def board(board_url: str, request: pytest.FixtureRequest):
    """An open Board for `board_url`; tests marked `requires(...)` skip when it lacks a capability."""
    from hil.board import open_board

    b = open_board(board_url)
    try:
        marker = request.node.get_closest_marker("requires")
        if marker:
            missing = set(marker.args) - set(b.info().capabilities)
            if missing:
                pytest.skip(f"board {board_url} lacks capabilities {sorted(missing)}")
        yield b
    finally:
        b.close()
