"""The Board conformance suite (hil.validation) run on SiliconEngine, for two silicons.

The suite's tests are imported here and get this module's `board` fixture; the same suite runs on
any registered scheme with `pytest --pyargs hil.validation --board URL`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.emulator.engine import SiliconEngine
from hil.emulator.silicon import Silicon
from hil.validation.test_board_protocol import *  # noqa: F403

TYPICAL = Path(__file__).resolve().parent.parent / "fixtures" / "silicon" / "typical.json"


@pytest.fixture(params=["seed-1", "typical"])
def board(request: pytest.FixtureRequest) -> Iterator[SiliconEngine]:
    silicon = Silicon.from_seed(1) if request.param == "seed-1" else Silicon.load(TYPICAL)
    b = SiliconEngine(silicon)
    yield b
    b.close()
