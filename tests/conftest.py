"""Tests run without hardware: the simulator (sim://) and the emulated board (emu://) stand in.

This repository marks its long runs `@pytest.mark.slow` (registered in pyproject.toml); they are
skipped unless `--run-slow` (or the plugin's `--hil-run-slow`) is given. The hil pytest plugin
itself only knows its own marker `hil_slow`, so that other projects' `slow` tests are theirs.
"""

from __future__ import annotations

import pytest

from hil.pytest_plugin import SLOW, board_urls

BACKENDS = ["sim://", "emu://", "pty://"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow", action="store_true", default=False, help="also run tests marked slow"
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--run-slow"):
        config.option.hil_run_slow = True


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [] if board_urls(config) else [f"hil boards (tests/conftest.py): {', '.join(BACKENDS)}"]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """This repository's `slow` is the plugin's `hil_slow` (skipped unless asked for)."""
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(getattr(pytest.mark, SLOW))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every board-using test in tests/ runs on each backend, unless --board or $HIL_BOARD names
    others (then the hil plugin parametrizes `board_url`; a fixture with params here would clash)."""
    if "board_url" in metafunc.fixturenames and not board_urls(metafunc.config):
        metafunc.parametrize("board_url", BACKENDS, scope="session")
