"""A tiny deterministic engine Board for the link tests (test-only; the emulator's real engine is
hil.emulator.engine.SiliconEngine). Every input spike on a routed channel makes each configured
neuron that has a CAM entry for the channel's tag fire `copies` spikes, `delay_us` apart, starting
`delay_us` after the input. Stateless, so runs are reproducible bit for bit."""

from __future__ import annotations

import numpy as np

from hil import events as ev
from hil.board import Board, BoardInfo, check_run
from hil.chip.config import ChipConfig
from hil.errors import BoardError


class ToyEngine(Board):
    def __init__(self, copies: int = 1, delay_us: int = 7):
        self.copies, self.delay_us = copies, delay_us
        self.config: ChipConfig | None = None
        self.targets: dict[int, np.ndarray] = {}
        self.last_output: np.ndarray | None = None
        self.closed = False

    def info(self) -> BoardInfo:
        return BoardInfo("toy-0", "toy", "1", 1, frozenset({"spikes"}))

    def apply(self, config: ChipConfig) -> str:
        config.validate()
        self.config = config
        by_tag: dict[int, list[int]] = {}
        for chip, core, n, neuron in config.neurons():
            for syn in neuron.synapses:
                if any(syn.weight) and chip == 0:
                    by_tag.setdefault(syn.tag, []).append(core * 256 + n)
        self.targets = {
            r.channel: np.array(sorted(set(by_tag.get(r.tag, []))), np.int64)
            for r in config.inputs
            if r.chip == 0
        }
        return config.content_hash()

    def run(self, stimulus: np.ndarray, duration_s: float) -> np.ndarray:
        if self.closed:
            raise BoardError("closed")
        check_run(self.config, stimulus, duration_s)
        counts = np.array(
            [self.targets.get(c, np.empty(0)).size for c in stimulus["channel"].tolist()], int
        )
        if counts.sum():
            reps = np.repeat(np.arange(stimulus.size), counts)
            g = np.concatenate(
                [
                    self.targets[c]
                    for c, k in zip(stimulus["channel"].tolist(), counts.tolist(), strict=True)
                    if k
                ]
            )
            t0 = stimulus["t_us"][reps]
            k = np.arange(1, self.copies + 1)
            t = (t0[None, :] + k[:, None] * self.delay_us).ravel()
            g = np.tile(g, self.copies)
        else:
            t, g = np.empty(0, np.int64), np.empty(0, np.int64)
        keep = t < int(round(duration_s * 1e6))
        out = ev.output_events(t[keep], np.zeros(keep.sum(), int), g[keep] // 256, g[keep] % 256)
        self.last_output = out
        return out

    def reset(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def toy_engine_factory(opts: object) -> tuple[Board, dict]:
    return ToyEngine(copies=3), {"kind": "emulator", "engine": "toy (tests)"}
