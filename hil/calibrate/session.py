"""A board under calibration: full applies only when the measurement setup changes, bias writes in
place between search steps (hil.board.BiasWrites), every run recorded through `hil.measure.record`
(provenance: the applied config's hash as the board confirms it, the board, the stimulus), and a
count of every board run and the stimulus seconds it took.

The Recordings themselves are not kept (a full-chip calibration makes ~20 of ~10^5 spikes each);
their content hashes are (`hil.experiments.recording_hash`), and `source` hashes them together, as
an experiment's provenance column does, for the calibration record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from hil import events as ev
from hil.board import BiasKey, BiasWrites, Board, Capability
from hil.chip.config import ChipConfig
from hil.errors import CapabilityError
from hil.experiments import ExperimentResult, recording_hash
from hil.measure import Recording, record

NO_INPUT = np.empty(0, ev.INPUT_DTYPE)


@dataclass
class Session:
    """Wraps `board`; `runs`, `board_s` and `applies` count what calibration asked of it,
    `hashes` the content hash of every Recording in order."""

    board: Board
    runs: int = 0
    board_s: float = 0.0
    applies: int = 0
    writes: int = 0
    hashes: list[str] = field(default_factory=list)

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
        """One board run, recorded (hil.measure.record, under the config the board reports as
        applied, in-place writes included); output spikes (hil.events.OUTPUT_DTYPE)."""
        rec = record(self.board, stimulus, duration_s)
        self._count(rec, duration_s)
        assert rec.events is not None
        return rec.events

    def add_experiment(self, result: ExperimentResult, applies: int = 1) -> None:
        """Count the runs of an experiment run on this board (hil.experiments.run_experiment)."""
        self.applies += applies
        for rec in result.recordings:
            self._count(rec, rec.duration_s)

    @property
    def source(self) -> str:
        """SHA-256 (hex) of every Recording's content hash, in order."""
        return hashlib.sha256("".join(self.hashes).encode()).hexdigest()

    def _count(self, rec: Recording, duration_s: float) -> None:
        self.runs += 1
        self.board_s += duration_s
        self.hashes.append(recording_hash(rec))
