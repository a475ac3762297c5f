"""A tiny deterministic engine Board for the link tests (test-only; the emulator's real engine is
hil.emulator.engine.SiliconEngine). Every input spike on a routed channel makes each configured
neuron that has a CAM entry for the channel's tag fire `copies` spikes, `delay_us` apart, starting
`delay_us` after the input. Stateless, so runs are reproducible bit for bit."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import serial

from hil import events as ev
from hil.board import Board, BoardInfo, check_run
from hil.chip.config import ChipConfig
from hil.emulator.faults import Corrupter, FaultSpec
from hil.emulator.firmware import Firmware
from hil.errors import BoardError
from hil.link import messages as m
from hil.link.framing import FrameSplitter
from hil.link.serial_board import SerialBoard


class ToyEngine(Board):
    def __init__(self, copies: int = 1, delay_us: int = 7):
        self.copies, self.delay_us = copies, delay_us
        self.config: ChipConfig | None = None
        self.targets: dict[int, np.ndarray] = {}
        self.last_output: np.ndarray | None = None
        self.run_hashes: list[str] = []  # content hash of the config each run used
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
        self.run_hashes.append(self.config.content_hash())  # type: ignore[union-attr]
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


# ---- an in-memory link with a simulated clock ----------------------------------------------------


NO_FAULTS = FaultSpec()


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class RecordingFirmware(Firmware):
    """Firmware that logs every command it carries out."""

    def __init__(self, *a, **kw):  # type: ignore[no-untyped-def]
        super().__init__(*a, **kw)
        self.executed: list[tuple[int, int, bytes]] = []

    def execute(self, f: m.Frame) -> tuple[int, bytes]:
        self.executed.append((f.type, f.seq, f.payload))
        return super().execute(f)


class MemLink:
    """pyserial-like port whose other end is a Firmware, with faults in both directions. Reading
    an empty link advances the simulated clock by 2 ms, so retransmission timers fire without
    any real waiting. `board` reuses the firmware of an earlier link (a reconnect to a board that
    stayed up); `cut(frame)` returning True drops the link when the host sends that frame."""

    def __init__(
        self,
        fw_engine: Board | None,
        spec: FaultSpec = NO_FAULTS,
        clock: Clock | None = None,
        board: MemLink | None = None,
        cut: Callable[[m.Frame], bool] | None = None,
    ):
        self.clock = clock or (board.clock if board else Clock())
        self.up, self.down = Corrupter(spec, seed=1), Corrupter(spec, seed=2)
        self.buf = bytearray()
        self.frames_up = self.frames_down = 0
        self.sent: dict[int, list[tuple[int, bytes]]] = {}  # seq -> [(type, payload)] as sent
        self._clean = FrameSplitter()
        self.cut = cut
        if board is not None:
            self.fw = board.fw
        else:
            self.fw = RecordingFirmware(
                fw_engine, self._board_write, board_id="mem", clock=self.clock
            )

    def attach(self) -> MemLink:
        """Connect: from now on the board's output goes to this link."""
        self.fw.write = self._board_write
        return self

    def _board_write(self, data: bytes) -> None:
        self.frames_down += 1
        self.buf += self.down(data)

    def write(self, data: bytes) -> int:
        for body in self._clean.feed(data):  # what the host meant to send
            f = m.unpack(body)
            if self.cut is not None and self.cut(f):
                raise serial.SerialException("link cut")
            self.sent.setdefault(f.seq, []).append((f.type, f.payload))
            self.frames_up += 1
        self.fw.feed(self.up(data))
        return len(data)

    @property
    def in_waiting(self) -> int:
        return len(self.buf)

    def read(self, n: int = 1) -> bytes:
        if not self.buf:
            self.clock.t += 0.002
            return b""
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def close(self) -> None:
        pass


class MemBoard(SerialBoard):
    """SerialBoard on MemLinks: each (re)connect opens the next link of `links` (the last stays)."""

    def __init__(self, *links: MemLink, url: str = "mem://?timeout=2"):
        self._links = list(links)
        super().__init__(url)

    def _open_port(self):  # type: ignore[no-untyped-def]
        link = self._links.pop(0) if len(self._links) > 1 else self._links[0]
        self._clock = link.clock
        return link.attach()
