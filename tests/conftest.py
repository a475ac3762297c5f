"""Tests run without hardware: the simulator (sim://) and the emulated board (emu://) stand in."""

from __future__ import annotations

import pytest

BACKENDS = ["sim://", "emu://", "pty://"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every board-using test in tests/ runs on each backend, unless --board names others (then
    the hil plugin parametrizes `board_url`; a fixture with params here would clash with it)."""
    if "board_url" in metafunc.fixturenames and not metafunc.config.getoption("--board"):
        metafunc.parametrize("board_url", BACKENDS, scope="session")
