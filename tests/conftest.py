"""Tests run without hardware: the simulator (sim://) and the emulated board (emu://) stand in."""

from __future__ import annotations

import pytest

BACKENDS = ["sim://"]


@pytest.fixture(scope="session", params=BACKENDS)
def board_url(request: pytest.FixtureRequest) -> str:
    """Every board-using test in tests/ runs on each backend (unless --board names others)."""
    return request.param
