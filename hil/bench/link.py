"""`hil bench link`: the wire protocol's speed - events per second from the emulated board to the
host over emu:// (unpaced, and paced to 921600 and 3000000 baud, with the ratio to the line-rate
ceiling of the event format), and the median command round trip.

The event source is a replay engine (a Board that returns a fixed, seeded spike train at once), so
the numbers measure the link - firmware batching, framing, the byte stream, host decoding and
assembly - and not the dynamics, whose speed `hil bench emulator` measures. The stream rate is
taken on the host as the least-squares slope of the records received against the arrival time of
each EVENTS batch (robust to when the host starts reading); the end-to-end rate (upload, replay,
stream and assembly) is reported beside it.

Line-rate ceiling: UART 8N1 carries baud / 10 bytes/s; an event record is 4 bytes (12-bit address,
16-bit time offset; docs/protocol.md), so the ceiling is baud / 40 events/s (ecosystem.md 2.3:
23,040 ev/s at 921600 baud, 75,000 at 3 Mbaud). Framing costs 5 header + 10 batch + 2 CRC + ~5 COBS
+ 1 delimiter bytes per 251 events (4.086 B/event on this stream), so the format itself allows at
most about 0.979 of the ceiling.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from hil import argtypes as at
from hil import events as ev
from hil.board import Board, BoardInfo, check_run
from hil.chip.config import ChipConfig, InputRoute
from hil.chip.geometry import NEURONS_PER_CORE

BYTES_PER_EVENT = 4
BAUDS = (921600, 3000000)


class ReplayEngine(Board):
    """An engine Board that answers every run with `n` seeded spikes spread over the run and over
    all 1024 neurons of chip 0. Only for measuring the link."""

    def __init__(self, n: int, seed: int = 0):
        self.n, self.seed = n, seed
        self.config: ChipConfig | None = None

    def info(self) -> BoardInfo:
        return BoardInfo("replay", "replay", "1", 1, frozenset({"spikes"}))

    def apply(self, config: ChipConfig) -> str:
        self.config = config.validate()
        return config.content_hash()

    def run(self, stimulus: np.ndarray, duration_s: float) -> np.ndarray:
        check_run(self.config, stimulus, duration_s)
        rng = np.random.default_rng(self.seed)
        t = np.sort(rng.integers(0, int(duration_s * 1e6), self.n))
        g = rng.integers(0, 4 * NEURONS_PER_CORE, self.n)
        return ev.output_events(
            t, np.zeros(self.n, int), g // NEURONS_PER_CORE, g % NEURONS_PER_CORE
        )

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--unpaced-events",
        type=at.integer(1, 10_000_000),
        default=400_000,
        help="events in the unpaced run",
    )
    p.add_argument(
        "--paced-seconds",
        type=at.number(0, 600, "s", lo_open=True),
        default=2.0,
        help="seconds of line time per paced run (events = ceiling rate x seconds)",
    )
    p.add_argument(
        "--pings",
        type=at.integer(1, 1_000_000),
        default=2000,
        help="commands timed for the round trip",
    )


def _stream(n: int, baud: int = 0) -> tuple[float, dict]:
    """Events/s of one run of n events over emu:// (paced to `baud` when > 0)."""
    from hil.board import open_board
    from hil.emulator.server import register_engine

    register_engine("bench-replay", lambda opts: (ReplayEngine(n), {"kind": "emulator"}))
    url = "emu://?engine=bench-replay" + (f"&baud={baud}" if baud else "") + "&readout=spikes"
    with open_board(url) as b:
        b.apply(ChipConfig(inputs=[InputRoute(channel=0, chip=0, tag=0)]))
        out = b.run(ev.input_events([], []), 10.0)
        r = b.last_run
    assert r is not None and r.lost == 0 and out.size == n
    rate = r.stream_rate
    return rate, {
        "events": n,
        "stream_s": round(r.stream_s, 4),
        "wall_s": round(r.wall_s, 4),  # stimulus upload + replay + stream + host assembly
        "events_per_s_end_to_end": round(n / r.wall_s),
    }


def _rtt(url: str, n: int) -> float:
    from hil.board import open_board

    with open_board(url) as b:
        for _ in range(50):
            b.ping()
        times = [b.ping() for _ in range(n)]
    return statistics.median(times)


def run(args: argparse.Namespace) -> dict:
    from hil.link.messages import EVENTS_PER_BATCH

    out: dict = {
        "event_bytes": BYTES_PER_EVENT,
        "events_per_batch": EVENTS_PER_BATCH,
        "engine": "replay (link only; see hil bench emulator for the dynamics)",
    }
    t0 = time.perf_counter()
    rate, det = _stream(args.unpaced_events)
    out["events_per_s_unpaced"] = round(rate)
    out["unpaced_run"] = det
    for baud in BAUDS:
        ceiling = baud / 10 / BYTES_PER_EVENT
        n = int(ceiling * args.paced_seconds)
        rate, det = _stream(n, baud)
        out[f"events_per_s_{baud}"] = round(rate)
        out[f"line_ceiling_events_per_s_{baud}"] = round(ceiling)
        out[f"line_efficiency_{baud}"] = round(rate / ceiling, 4)
        out[f"run_{baud}"] = det
    out["line_efficiency_921600_target"] = 0.85
    out["line_efficiency_921600_met"] = out["line_efficiency_921600"] >= 0.85
    out["command_rtt_median_us_emu"] = round(
        _rtt("emu://?engine=bench-replay", args.pings) * 1e6, 1
    )
    out["command_rtt_median_us_pty"] = round(
        _rtt("pty://?engine=bench-replay", args.pings) * 1e6, 1
    )
    out["bench_wall_s"] = round(time.perf_counter() - t0, 2)
    return out
