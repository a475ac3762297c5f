"""`hil bench emulator`: real-time factor of the emulated full chip at the emulator's resolution.

Workload: one chip, all 1024 neurons set, each with 64 CAM synapses: 16 listen to 256 Poisson input
channels (AMPA), 48 to other neurons of the chip (80 % excitatory AMPA, 20 % inhibitory GABA; the
first 20 % of each core are the inhibitory ones). Every neuron sends its spikes with its own tag to
all four cores. Biases are nominal except the base weights (0.1-0.8 nA); 11 Hz inputs (0.8 nA) make the network fire at
about 20 Hz on average. The silicon is `Silicon.from_seed(seed)` (mismatch, noise, dead/hot).

realtime_factor = simulated seconds / wall seconds, the median over `--repeats` runs after one
warm-up run (which also compiles the kernel; its time is reported as `first_run_s`).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

from hil import argtypes as at
from hil import events as ev
from hil.chip.config import ChipConfig, Destination, InputRoute, Neuron, Synapse, mask_bits
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


def workload(seed: int = 0) -> ChipConfig:
    """The full-chip benchmark network (deterministic for `seed`)."""
    rng = np.random.default_rng(seed)
    cfg = ChipConfig(
        inputs=[InputRoute(channel=c, chip=0, tag=INPUT_TAG0 + c) for c in range(N_INPUTS)]
    )
    params = core_parameters(HighLevel(Iw=BASE_WEIGHTS).currents())
    inh = np.zeros(NEURONS_PER_CHIP, bool)
    for g in range(NEURONS_PER_CHIP):
        inh[g] = g % 256 < int(256 * INH_FRACTION)
    for k in range(4):
        cfg.core(0, k).parameters = dict(params)
    for g in range(NEURONS_PER_CHIP):
        ins = rng.choice(N_INPUTS, N_FROM_INPUT, replace=False)
        pre = rng.choice(
            np.delete(np.arange(NEURONS_PER_CHIP), g),
            SYNAPSES_PER_NEURON - N_FROM_INPUT,
            replace=False,
        )
        syn = [
            Synapse(tag=INPUT_TAG0 + int(c), dendrite=Dendrite.AMPA, weight=mask_bits(INPUT_MASK))
            for c in ins
        ]
        syn += [
            Synapse(
                tag=int(p),
                dendrite=Dendrite.GABA if inh[p] else Dendrite.AMPA,
                weight=mask_bits(INH_MASK if inh[p] else EXC_MASK),
            )
            for p in pre
        ]
        cfg.core(0, g // 256).neurons[g % 256] = Neuron(
            synapses=syn, destinations=[Destination(tag=g, core=(True, True, True, True))]
        )
    return cfg.validate()


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


def run(args: argparse.Namespace) -> dict:
    import numba

    from hil.emulator.engine import DEFAULT_DT, SiliconEngine
    from hil.emulator.silicon import Silicon

    duration = float(getattr(args, "duration", 2.0))
    repeats = int(getattr(args, "repeats", 5))
    dt = getattr(args, "dt", None) or DEFAULT_DT
    seed = int(getattr(args, "seed", 1))
    cfg = workload(seed)
    stim = ev.poisson_input(INPUT_RATE_HZ, N_INPUTS, duration, seed=seed, dt=1e-4)
    engine = SiliconEngine(Silicon.from_seed(seed), dt=dt)
    t0 = time.perf_counter()
    engine.apply(cfg)
    apply_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine.run(stim, duration)
    first = time.perf_counter() - t0
    walls, spikes = [], []
    for _ in range(repeats):
        engine.reset()
        t0 = time.perf_counter()
        out = engine.run(stim, duration)
        walls.append(time.perf_counter() - t0)
        spikes.append(out.size)
    wall = statistics.median(walls)
    rate = statistics.median(spikes) / NEURONS_PER_CHIP / duration
    n_syn = sum(len(n.synapses) for *_, n in cfg.neurons())
    return {
        "realtime_factor": round(duration / wall, 2),
        "target_realtime_factor": 10.0,
        "target_met": duration / wall >= 10.0,
        "wall_s_median": round(wall, 4),
        "wall_s_runs": [round(w, 4) for w in walls],
        "first_run_s": round(first, 3),
        "apply_s": round(apply_s, 3),
        "simulated_s": duration,
        "dt_s": engine.dt,
        "steps_per_run": int(round(duration / engine.dt)),
        "neurons": NEURONS_PER_CHIP,
        "synapses": n_syn,
        "input_channels": N_INPUTS,
        "input_rate_hz": INPUT_RATE_HZ,
        "input_events": int(stim.size),
        "mean_rate_hz": round(rate, 2),
        "synaptic_events_per_s": round(rate * n_syn, 0),
        "workload": (
            "1 chip, 1024 neurons x 64 CAM synapses (16 from 256 Poisson inputs at 11 Hz, 48 "
            "recurrent, 20 % inhibitory GABA), nominal biases but base weights 0.1-0.8 nA, "
            "Silicon.from_seed(seed)"
        ),
        "seed": seed,
        "repeats": repeats,
        "engine": f"numba {numba.__version__}",
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
    }


if __name__ == "__main__":
    import json

    p = argparse.ArgumentParser()
    add_arguments(p)
    print(json.dumps(run(p.parse_args()), indent=2, sort_keys=True))
