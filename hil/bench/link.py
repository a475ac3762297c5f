"""`hil bench link`: the wire protocol's speed - events per second from the emulated board to the
host over emu:// (unpaced, and paced to 921600 and 3000000 baud, with the ratio to the line-rate
ceiling of the event format), the median command round trip - and its integrity on a noisy link:
at each byte error rate (BER 1e-4, 1e-3, 1e-2, with drops and garbage at BER / 10 each), how many
5 s runs at 200 Hz input come back with exactly the right result, how many fail with a clear
HilError, and how many come back wrong (which must be none).

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
from typing import TYPE_CHECKING

import numpy as np

from hil import argtypes as at
from hil import events as ev
from hil.board import Board, BoardInfo, check_run
from hil.chip.config import ChipConfig, InputRoute
from hil.chip.geometry import NEURONS_PER_CORE
from hil.errors import ConfigError

if TYPE_CHECKING:
    from hil.link.serial_board import SerialBoard

BYTES_PER_EVENT = 4
BAUDS = (921600, 3000000)


# Spikes per second that the example network answers to 200 Hz Poisson drive on every input
# (20,520 spikes in 5 s on emu://?seed=0); the replay engine sends as many in the BER runs.
EXAMPLE_SPIKES_PER_S = 4100
BER_LEVELS = (1e-4, 1e-3, 1e-2)


class ReplayEngine(Board):
    """An engine Board that answers every run with `n` spikes spread over the run and over all 1024
    neurons of chip 0, drawn from `seed` (the host's RUN seed, `seed_runs`). Only for measuring the
    link: its result is known without running any dynamics."""

    def __init__(self, n: int, seed: int = 0):
        self.n, self.seed = n, seed
        self.config: ChipConfig | None = None

    def seed_runs(self, seed: int) -> None:
        self.seed = seed

    def spikes(self, duration_s: float) -> np.ndarray:
        """The output of a run of `duration_s` seconds under the current seed."""
        rng = np.random.default_rng(self.seed)
        t = np.sort(rng.integers(0, int(duration_s * 1e6), self.n))
        g = rng.integers(0, 4 * NEURONS_PER_CORE, self.n)
        return ev.output_events(
            t, np.zeros(self.n, int), g // NEURONS_PER_CORE, g % NEURONS_PER_CORE
        )

    def info(self) -> BoardInfo:
        return BoardInfo("replay", "replay", "1", 1, frozenset({"spikes"}))

    def apply(self, config: ChipConfig) -> str:
        self.config = config.validate()
        return config.content_hash()

    def run(self, stimulus: np.ndarray, duration_s: float) -> np.ndarray:
        check_run(self.config, stimulus, duration_s)
        return self.spikes(duration_s)

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
    p.add_argument(
        "--ber-runs",
        type=at.integer(0, 100_000),
        default=100,
        help="runs per byte error rate in the integrity part (0 skips it; default 100)",
    )
    p.add_argument(
        "--ber-duration",
        type=at.number(0, 600, "s", lo_open=True),
        default=5.0,
        help="seconds per integrity run (200 Hz input on 16 channels; default 5)",
    )


def _open_link(url: str) -> SerialBoard:
    """The board that `url` names, which must be one behind the wire link: what is measured."""
    from hil.board import open_board
    from hil.link.serial_board import SerialBoard

    b = open_board(url)
    if not isinstance(b, SerialBoard):
        b.close()
        raise ConfigError("board URL", url, "a board behind the wire link (emu://, a serial port)")
    return b


def _stream(n: int, baud: int = 0) -> tuple[float, dict]:
    """Events/s of one run of n events over emu:// (paced to `baud` when > 0)."""
    from hil.emulator.server import register_engine

    register_engine("bench-replay", lambda opts: (ReplayEngine(n), {"kind": "emulator"}))
    url = "emu://?engine=bench-replay" + (f"&baud={baud}" if baud else "") + "&readout=spikes"
    with _open_link(url) as b:
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
    with _open_link(url) as b:
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
    for ber in BER_LEVELS if args.ber_runs > 0 else ():
        out[f"ber_{ber:g}"] = ber_runs(ber, args.ber_runs, args.ber_duration)
    if args.ber_runs > 0:
        r = out["ber_0.001"]
        out["ber_0.001_target"] = ">= 99 % of runs exact, none wrong"
        out["ber_0.001_met"] = r["exact_fraction"] >= 0.99 and r["wrong"] == 0
    out["bench_wall_s"] = round(time.perf_counter() - t0, 2)
    return out


def ber_runs(ber: float, runs: int, duration_s: float = 5.0, fault_seed: int = 0) -> dict:
    """`runs` runs of `duration_s` s at 200 Hz input over emu:// with byte error rate `ber` and drops
    and garbage at ber / 10 each. Each result is compared with what the engine sent: exact, wrong,
    or failed with a HilError (counted by class). After a failure the board is opened again."""
    import warnings

    from hil.board import open_board
    from hil.chip.example import N_INPUTS, example_config
    from hil.emulator.server import register_engine
    from hil.errors import HilError

    n = int(EXAMPLE_SPIKES_PER_S * duration_s)
    register_engine("bench-ber", lambda opts: (ReplayEngine(n), {"kind": "emulator"}))
    exact = wrong = 0
    failures: dict[str, int] = {}
    walls: list[float] = []
    rtx: list[int] = []
    board = None
    reopen = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # restarts and retries warn; they are counted here
        for i in range(runs):
            t0 = time.perf_counter()
            try:
                if board is None:
                    reopen += 1
                    board = open_board(
                        f"emu://?engine=bench-ber&ber={ber:g}&drop={ber / 10:g}"
                        f"&garbage={ber / 10:g}&fault_seed={fault_seed + reopen}"
                    )
                    board.apply(example_config())
                board.run_seed = i  # type: ignore[attr-defined]
                got = board.run(ev.poisson_input(200.0, N_INPUTS, duration_s, seed=i), duration_s)
                want = ReplayEngine(n, seed=i).spikes(duration_s)
                if np.array_equal(got, want):
                    exact += 1
                else:
                    wrong += 1
                rtx.append(board.last_run.retransmits)  # type: ignore[attr-defined]
            except HilError as e:
                failures[type(e).__name__] = failures.get(type(e).__name__, 0) + 1
                if board is not None:
                    board.close()
                board = None
            walls.append(time.perf_counter() - t0)
    if board is not None:
        board.close()
    return {
        "runs": runs,
        "duration_s": duration_s,
        "drop": ber / 10,
        "garbage": ber / 10,
        "exact": exact,
        "wrong": wrong,
        "failed": runs - exact - wrong,
        "failures": failures,
        "exact_fraction": round(exact / runs, 4),
        "median_wall_s": round(statistics.median(walls), 3),
        "median_retransmits": statistics.median(rtx) if rtx else None,
    }
