"""`hil bench emulator`: real-time factor of emulated boards of 1, 2 and 4 chips at the emulator's
resolution, on one thread and on one per core.

Workload: per chip, all 1024 neurons set, each with 64 CAM synapses: 16 listen to 256 Poisson input
channels (AMPA), 48 to other neurons of the chip (80 % excitatory AMPA, 20 % inhibitory GABA; the
first 20 % of each core are the inhibitory ones). Every neuron sends its spikes with its own tag to
all four cores. Biases are nominal except the base weights (0.1-0.8 nA); 11 Hz inputs (0.8 nA) make the network fire at
about 20 Hz on average. The silicon is `Silicon.from_seed(seed)` (mismatch, noise, dead/hot).

realtime_factor = simulated seconds / wall seconds, the median over `--repeats` runs after one
warm-up run (which also compiles the kernel; its time is reported as `first_run_s`).
`realtime_factor` is the one-chip board's, `realtime_factor_4chips_20hz` the four-chip board's
(target >= 10 for both), both with the engine as it ships (`threads=None`: it times one thread and
one per core as it runs and keeps the faster). Each repeat also runs the board on one thread
(`_serial`) and on `--threads` threads (`_parallel`, default one per core), in turn, so
`parallel_speedup` (serial wall / parallel wall) compares runs under the same load. per_event_ns =
wall seconds per neuron and step (every neuron of the board is integrated every step), in ns. The
machine's load average before and after goes with the figures: timings of a shared machine mean
little without it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from hil import argtypes as at
from hil import events as ev
from hil.chip.config import Chip, ChipConfig, Destination, InputRoute, Neuron, Synapse, mask_bits
from hil.chip.geometry import NEURONS_PER_CHIP, SYNAPSES_PER_NEURON, Dendrite
from hil.chip.params import HighLevel, core_parameters

N_INPUTS = 256
INPUT_TAG0 = 1024
N_FROM_INPUT = 16
INH_FRACTION = 0.2
INPUT_RATE_HZ = 11.0
# Base weights Iw_0..3 of every core [A]; masks select their sums per synapse.
BASE_WEIGHTS = (1e-10, 2e-10, 4e-10, 8e-10)
INPUT_MASK = 0b1000  # Iw_3 = 0.8 nA
EXC_MASK = 0b0001  # 0.1 nA
INH_MASK = 0b0010  # 0.2 nA
CHIP_COUNTS = (1, 2, 4)  # board sizes the benchmark measures by default
N_CROSS = 12  # recurrent synapses from the previous chip (boards of several chips)
CROSS_TAG0 = 1280


def workload(seed: int = 0, n_chips: int = 1) -> ChipConfig:
    """The full-chip benchmark network on each of `n_chips` chips (deterministic for `seed`).

    One chip is the network of the module docstring. On a board of several chips, chip c gets the
    input channels c * 256 .. c * 256 + 255 and its own draw of the same network, except that 12
    of each neuron's 48 recurrent synapses listen to the previous chip (c - 1, the last chip for
    chip 0): its neurons g with g % 4 == 1 also send their spikes there, with tag 1280 + g // 4.
    """
    rng = np.random.default_rng(seed)
    cfg = ChipConfig(
        chips=[Chip() for _ in range(n_chips)],
        inputs=[
            InputRoute(channel=chip * N_INPUTS + c, chip=chip, tag=INPUT_TAG0 + c)
            for chip in range(n_chips)
            for c in range(N_INPUTS)
        ],
    )
    params = core_parameters(HighLevel(Iw=BASE_WEIGHTS).currents())
    inh = np.zeros(NEURONS_PER_CHIP, bool)
    for g in range(NEURONS_PER_CHIP):
        inh[g] = g % 256 < int(256 * INH_FRACTION)
    senders = np.arange(1, NEURONS_PER_CHIP, 4)  # send to the next chip too (n_chips > 1)
    n_cross = N_CROSS if n_chips > 1 else 0
    for chip in range(n_chips):
        if chip > 0:
            rng = np.random.default_rng([seed, chip])
        nxt = (chip + 1) % n_chips - chip  # x_hop to the next chip
        for k in range(4):
            cfg.core(chip, k).parameters = dict(params)
        for g in range(NEURONS_PER_CHIP):
            ins = rng.choice(N_INPUTS, N_FROM_INPUT, replace=False)
            pre = rng.choice(
                np.delete(np.arange(NEURONS_PER_CHIP), g),
                SYNAPSES_PER_NEURON - N_FROM_INPUT - n_cross,
                replace=False,
            )
            syn = [
                Synapse(
                    tag=INPUT_TAG0 + int(c), dendrite=Dendrite.AMPA, weight=mask_bits(INPUT_MASK)
                )
                for c in ins
            ]
            syn += [_recurrent(int(p), bool(inh[p])) for p in pre]
            if n_cross:
                far = rng.choice(senders, n_cross, replace=False)
                syn += [_recurrent(CROSS_TAG0 + int(p) // 4, bool(inh[p])) for p in far]
            dest = [Destination(tag=g, core=(True, True, True, True))]
            if n_cross and g % 4 == 1:
                dest.append(Destination(tag=CROSS_TAG0 + g // 4, x_hop=nxt))
            cfg.core(chip, g // 256).neurons[g % 256] = Neuron(synapses=syn, destinations=dest)
    return cfg.validate()


def _recurrent(tag: int, inhibitory: bool) -> Synapse:
    """A recurrent synapse (from the neuron seen as `tag`): GABA from inhibitory neurons."""
    return Synapse(
        tag=tag,
        dendrite=Dendrite.GABA if inhibitory else Dendrite.AMPA,
        weight=mask_bits(INH_MASK if inhibitory else EXC_MASK),
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration",
        type=at.number(0, 3600, "s", lo_open=True),
        default=2.0,
        help="simulated seconds per run",
    )
    parser.add_argument(
        "--repeats", type=at.integer(1, 1000), default=5, help="timed runs (median reported)"
    )
    parser.add_argument(
        "--dt",
        type=at.number(1e-7, 1e-2, "s"),
        default=None,
        help="integration step [s] (default: the engine's)",
    )
    parser.add_argument("--seed", type=at.seed, default=1, help="silicon, network and input seed")
    parser.add_argument(
        "--chips",
        type=at.integer(1, 4),
        nargs="+",
        default=list(CHIP_COUNTS),
        help="board sizes to measure (default: 1 2 4)",
    )
    parser.add_argument(
        "--threads",
        type=at.integer(1, 256),
        default=None,
        help="threads of the parallel runs (default: one per core)",
    )


def run(args: argparse.Namespace) -> dict:
    import numba

    from hil import progress
    from hil.emulator.engine import DEFAULT_DT, SiliconEngine, default_threads
    from hil.emulator.silicon import Silicon

    duration = float(getattr(args, "duration", 2.0))
    repeats = int(getattr(args, "repeats", 5))
    dt = getattr(args, "dt", None) or DEFAULT_DT
    seed = int(getattr(args, "seed", 1))
    chips = sorted(set(getattr(args, "chips", None) or CHIP_COUNTS))
    threads = int(getattr(args, "threads", None) or default_threads())
    load_before = _load()
    per: dict[str, dict] = {}
    # one bar step per board set up (network, apply, warm-up run) and per timed repeat
    steps = progress.bar(
        [(c, r) for c in chips for r in range(-1, repeats)],
        desc="bench emulator",
        total=len(chips) * (repeats + 1),
    )
    engine = cfg = stim = None
    walls: dict[str, list[float]] = {}
    # serial: one thread; parallel: `threads`; adaptive: the engine's default (threads=None), which
    # times both counts as it runs and keeps the faster
    modes = {"serial": (1, False), "parallel": (threads, False), "adaptive": (threads, True)}
    if threads == 1:
        modes = {"serial": (1, False)}
    spikes: list[int] = []
    for n_chips, rep in steps:
        if rep < 0:  # set up this board
            cfg = workload(seed, n_chips)
            stim = ev.poisson_input(INPUT_RATE_HZ, N_INPUTS * n_chips, duration, seed=seed, dt=1e-4)
            engine = SiliconEngine(Silicon.from_seed(seed, n_chips=n_chips), dt=dt)
            t0 = time.perf_counter()
            engine.apply(cfg)
            apply_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            engine.run(stim, duration)  # compiles the kernel on the first board
            first = time.perf_counter() - t0
            walls, spikes = {mode: [] for mode in modes}, []
            continue
        assert engine is not None and cfg is not None and stim is not None
        for mode, (t, adaptive) in modes.items():  # in turn, so that all see the same load
            engine.threads, engine.adaptive = t, adaptive
            engine.reset()
            t0 = time.perf_counter()
            out = engine.run(stim, duration)
            walls[mode].append(time.perf_counter() - t0)
            spikes.append(out.size)
        if rep == repeats - 1:
            per[str(n_chips)] = _board_figures(
                n_chips, duration, engine.dt, walls, spikes, cfg, stim.size, apply_s, first
            )
    result: dict = {
        "threads": threads,
        "chips_measured": chips,
        "boards": per,
        "per_event_ns": {c: b["per_event_ns"] for c, b in per.items()},
        "per_event_ns_serial": {c: b["per_event_ns_serial"] for c, b in per.items()},
        "per_event_ns_parallel": {
            c: b.get("per_event_ns_parallel", b["per_event_ns_serial"]) for c, b in per.items()
        },
        "parallel_speedup": {c: b["parallel_speedup"] for c, b in per.items()},
        "load_average_1min": [load_before, _load()],
        "target_realtime_factor": 10.0,
        "simulated_s": duration,
        "dt_s": engine.dt if engine is not None else dt,
        "steps_per_run": int(round(duration / (engine.dt if engine is not None else dt))),
        "input_rate_hz": INPUT_RATE_HZ,
        "workload": (
            "per chip: 1024 neurons x 64 CAM synapses (16 from 256 Poisson inputs at 11 Hz, 48 "
            "recurrent, 20 % inhibitory GABA; on boards of several chips 12 of the 48 from the "
            "previous chip), nominal biases but base weights 0.1-0.8 nA, "
            "Silicon.from_seed(seed, n_chips)"
        ),
        "seed": seed,
        "repeats": repeats,
        "engine": f"numba {numba.__version__}",
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}, "
        f"{os.cpu_count()} CPUs",
    }
    if "1" in per:  # the full chip, as before (now on `threads` threads)
        one = per["1"]
        result.update(
            realtime_factor=one["realtime_factor"],
            target_met=one["realtime_factor"] >= 10.0,
            wall_s_median=one["wall_s_median"],
            wall_s_runs=one["wall_s_runs"],
            first_run_s=one["first_run_s"],
            apply_s=one["apply_s"],
            neurons=one["neurons"],
            synapses=one["synapses"],
            input_channels=N_INPUTS,
            input_events=one["input_events"],
            mean_rate_hz=one["mean_rate_hz"],
            synaptic_events_per_s=one["synaptic_events_per_s"],
        )
    if "4" in per:
        rtf4 = per["4"]["realtime_factor"]
        result.update(
            realtime_factor_4chips_20hz=rtf4,
            target_realtime_factor_4chips_20hz=10.0,
            target_met_4chips_20hz=rtf4 >= 10.0,
        )
    return result


def _board_figures(
    n_chips: int,
    duration: float,
    dt: float,
    walls: dict[str, list[float]],
    spikes: list[int],
    cfg: ChipConfig,
    input_events: int,
    apply_s: float,
    first: float,
) -> dict:
    """The figures of one board size: medians of the timed runs of each mode (`run`); the plain
    keys are the engine's default mode (adaptive; serial on one core)."""
    med = {mode: statistics.median(w) for mode, w in walls.items()}
    default = "adaptive" if "adaptive" in med else "serial"
    neuron_steps = n_chips * NEURONS_PER_CHIP * duration / dt
    rate = statistics.median(spikes) / (n_chips * NEURONS_PER_CHIP) / duration
    n_syn = sum(len(n.synapses) for *_, n in cfg.neurons())
    out = {
        "realtime_factor": round(duration / med[default], 2),
        "per_event_ns": round(med[default] / neuron_steps * 1e9, 3),
        "wall_s_median": round(med[default], 4),
        "wall_s_runs": [round(w, 4) for w in walls[default]],
    }
    for mode in med:
        out[f"realtime_factor_{mode}"] = round(duration / med[mode], 2)
        out[f"per_event_ns_{mode}"] = round(med[mode] / neuron_steps * 1e9, 3)
        out[f"wall_s_runs_{mode}"] = [round(w, 4) for w in walls[mode]]
    out["parallel_speedup"] = round(med["serial"] / med.get("parallel", med["serial"]), 3)
    return out | {
        "first_run_s": round(first, 3),
        "apply_s": round(apply_s, 3),
        "neurons": n_chips * NEURONS_PER_CHIP,
        "synapses": n_syn,
        "input_events": int(input_events),
        "mean_rate_hz": round(rate, 2),
        "synaptic_events_per_s": round(rate * n_syn, 0),
    }


def _load() -> float | None:
    """The 1-minute load average (None where the system has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


if __name__ == "__main__":
    import json

    p = argparse.ArgumentParser()
    add_arguments(p)
    print(json.dumps(run(p.parse_args()), indent=2, sort_keys=True))
