"""A board under calibration: full applies only when the measurement setup changes, bias writes in
place between search steps (hil.board.BiasWrites), and a count of every board run and the stimulus
seconds it took."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from hil import events as ev
from hil.board import BiasKey, BiasWrites, Board, Capability
from hil.chip.config import ChipConfig
from hil.errors import CapabilityError

NO_INPUT = np.empty(0, ev.INPUT_DTYPE)


@dataclass
class Session:
    """Wraps `board`; `runs`, `board_s` and `applies` count what calibration asked of it."""

    board: Board
    runs: int = 0
    board_s: float = 0.0
    applies: int = 0
    writes: int = 0
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        caps = self.board.info().capabilities
        if Capability.BIASES.value not in caps or not isinstance(self.board, BiasWrites):
            raise CapabilityError(
                f"board {self.board.info().board_id!r} cannot write biases in place "
                "(capability 'biases'); calibration needs it to search without re-applying"
            )

    def apply(self, config: ChipConfig) -> None:
        self.board.apply(config)
        self.applies += 1

    def set_biases(self, biases: Mapping[BiasKey, tuple[int, int]]) -> None:
        assert isinstance(self.board, BiasWrites)
        self.board.set_biases(biases)
        self.writes += 1

    def run(self, duration_s: float, stimulus: np.ndarray = NO_INPUT) -> np.ndarray:
        """One board run; output spikes (hil.events.OUTPUT_DTYPE)."""
        self.runs += 1
        self.board_s += duration_s
        return self.board.run(stimulus, duration_s)
