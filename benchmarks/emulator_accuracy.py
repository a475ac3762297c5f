"""Network-level accuracy figures of the emulator, quoted in docs/silicon.md ("Resolution and its
accuracy", "Parity with the simulator").

    PYTHONPATH=$PWD .venv/bin/python benchmarks/emulator_accuracy.py [resolution] [parity] [mismatch]

resolution: rates of the `hil bench emulator` network and of the example network against a 5 us
            emulator step, at steps from 10 us to 1 ms (seed-1 silicon, noise off, 2 s).
parity:     the simulator handed the same hidden silicon (per-neuron currents, per-synapse weights,
            dead neurons) against the emulator, on the example network (seed-1 silicon, noise off).
mismatch:   the same on `rnd256` (below) over a silicon with 30 % lognormal per-neuron mismatch of
            every current, at emulator and simulator steps of 20 us, 100 us and 1 ms.

Single-neuron accuracy against a scipy ODE solution: `python tests/test_emulator_accuracy.py`.

rnd256: 256 neurons on core 0 of one chip, each with 16 AMPA synapses from 64 Poisson input
channels at 20 Hz (random base-weight masks) and 48 from random other neurons of the core (AMPA,
1 nA; GABA, 2 nA from the first 52 neurons, the inhibitory ones); nominal biases.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np

from hil import events as ev
from hil.bench.emulator import INPUT_RATE_HZ, N_INPUTS, workload
from hil.chip.config import (
    ChipConfig,
    Destination,
    InputRoute,
    Neuron,
    Synapse,
    mask_bits,
)
from hil.chip.example import N_INPUTS as EXAMPLE_INPUTS
from hil.chip.example import example_config
from hil.chip.geometry import NEURONS_PER_CORE, Dendrite
from hil.chip.params import HighLevel, core_parameters
from hil.emulator.engine import SiliconEngine
from hil.emulator.silicon import PARAMETERS, Silicon, Spread

T = 2.0  # simulated seconds per run
RND_INPUTS = 64
RND_INH = 52


def rnd256(seed: int = 0) -> ChipConfig:
    """The rnd256 network (module docstring); deterministic for `seed`."""
    rng = np.random.default_rng(seed)
    cfg = ChipConfig(inputs=[InputRoute(channel=c, chip=0, tag=1024 + c) for c in range(64)])
    core = cfg.core(0, 0)
    core.parameters = core_parameters(HighLevel().currents())
    for n in range(NEURONS_PER_CORE):
        syn = [
            Synapse(1024 + int(c), Dendrite.AMPA, mask_bits(int(rng.integers(1, 16))))
            for c in rng.choice(RND_INPUTS, 16, replace=False)
        ]
        pre = rng.choice(np.delete(np.arange(NEURONS_PER_CORE), n), 48, replace=False)
        syn += [
            Synapse(int(p), Dendrite.GABA, mask_bits(2))
            if p < RND_INH
            else Synapse(int(p), Dendrite.AMPA, mask_bits(1))
            for p in pre
        ]
        core.neurons[n] = Neuron(
            synapses=syn, destinations=[Destination(tag=n, core=(True, False, False, False))]
        )
    return cfg.validate()


def emulate(silicon: Silicon, cfg: ChipConfig, stim: np.ndarray, dt: float) -> np.ndarray:
    """Per-neuron rates [Hz] of all neurons of the silicon's board over T."""
    eng = SiliconEngine(silicon, dt=dt)
    eng.apply(cfg)
    out = eng.run(stim, T)
    return np.bincount(ev.global_index(out), minlength=silicon.n_neurons) / T


def simulate_truth(silicon: Silicon, cfg: ChipConfig, stim: np.ndarray, dt: float) -> np.ndarray:
    """Per-neuron rates [Hz] of every neuron of chip 0 from hil.sim handed the silicon's hidden
    truth under `cfg` (one chip), compiled through the same netlist as the engine: every neuron's
    effective currents and every CAM slot's own weight, plus what only silicon has (a hot
    neuron's leak as DC, dead neurons silenced)."""
    import torch

    from hil.sim.compile import compile_config
    from hil.sim.network import simulate

    t = silicon.truth(cfg)
    c = compile_config(cfg, currents=t.currents, weight_factor=t.weight_factor, all_neurons=True)
    idc = c.params.Idc * c.params.dc_enable + torch.as_tensor(
        t.Ihot[c.neurons], dtype=torch.float32
    )
    params = c.params.replace(
        Idc=idc,
        dc_enable=torch.ones_like(idc),
        alive=c.params.alive * torch.as_tensor(~t.dead[c.neurons], dtype=torch.float32),
    )
    n_in = int(c.channels.max()) + 1 if c.channels.size else 0
    raster = ev.events_to_raster(stim, dt, T, n_in)[:, c.channels]
    x = torch.as_tensor(raster, dtype=torch.float32).unsqueeze(0)
    with torch.no_grad():
        spikes = simulate(params, c.weights, x, dt=dt).spikes[0, 0]
    return spikes.sum(0).numpy() / T


def resolution() -> None:
    silicon = replace(Silicon.from_seed(1), noise_std_A=0.0)
    nets = {
        "bench (1024 neurons, 64 syn each)": (
            workload(1),
            ev.poisson_input(INPUT_RATE_HZ, N_INPUTS, T, seed=1, dt=1e-5),
            slice(0, 1024),
        ),
        "example (`hil config example`, 50 Hz inputs)": (
            example_config(),
            ev.poisson_input(50.0, EXAMPLE_INPUTS, T, seed=5, dt=1e-5),
            slice(0, 32),
        ),
    }
    print("| network | dt [us] | mean rate [Hz] | error of the mean | per-neuron RMS [Hz] |")
    print("|---|---|---|---|---|")
    for name, (cfg, stim, sel) in nets.items():
        ref = emulate(silicon, cfg, stim, 5e-6)[sel]
        print(f"| {name} | 5 | {ref.mean():.2f} | ref | ref |")
        for dt_us in (10, 20, 50, 100, 200, 1000):
            r = emulate(silicon, cfg, stim, dt_us * 1e-6)[sel]
            rms = np.sqrt(np.mean((r - ref) ** 2))
            print(f"| | {dt_us} | {r.mean():.2f} | {r.mean() / ref.mean() - 1:+.1%} | {rms:.2f} |")


def parity() -> None:
    silicon = replace(Silicon.from_seed(1), noise_std_A=0.0)
    cfg = example_config()
    stim = ev.poisson_input(50.0, EXAMPLE_INPUTS, T, seed=5, dt=1e-4)
    emu = emulate(silicon, cfg, stim, 1e-4)[:32]
    print("example network, seed-1 silicon (noise off), 2 s, inputs on a 100 us grid")
    print(f"emulator 100 us: mean {emu.mean():.2f} Hz")
    for dt in (1e-4, 1e-3):
        sim = simulate_truth(silicon, cfg, stim, dt)[:32]
        rms = np.sqrt(np.mean((sim - emu) ** 2))
        print(
            f"simulator {dt * 1e6:.0f} us: mean {sim.mean():.2f} Hz, RMS vs emulator {rms:.2f} Hz"
        )


def mismatch() -> None:
    spread = {p: Spread("lognormal", 0.0, 0.3) for p in PARAMETERS if not p.startswith("Iw_")}
    silicon = Silicon(silicon_id="lognormal-30", seed=7, mismatch=spread)
    cfg = rnd256()
    stim = ev.poisson_input(20.0, RND_INPUTS, T, seed=3, dt=1e-4)
    steps = (20e-6, 1e-4, 1e-3)
    emu = {dt: emulate(silicon, cfg, stim, dt)[:NEURONS_PER_CORE] for dt in steps}
    sim = {dt: simulate_truth(silicon, cfg, stim, dt)[:NEURONS_PER_CORE] for dt in steps}
    print("rnd256 on a 30 % lognormal per-neuron silicon (seed 7, noise off), 2 s")
    print(
        "mean rates [Hz]: "
        + ", ".join(f"emulator {dt * 1e6:.0f} us {emu[dt].mean():.2f}" for dt in steps)
    )
    print(
        "                 "
        + ", ".join(f"simulator {dt * 1e6:.0f} us {sim[dt].mean():.2f}" for dt in steps)
    )
    print("per-neuron RMS difference [Hz], emulator step (rows) x simulator step (columns):")
    print("| emulator \\ simulator | " + " | ".join(f"{dt * 1e6:.0f} us" for dt in steps) + " |")
    print("|---" * (len(steps) + 1) + "|")
    for de in steps:
        cells = [f"{np.sqrt(np.mean((emu[de] - sim[ds]) ** 2)):.2f}" for ds in steps]
        print(f"| {de * 1e6:.0f} us | " + " | ".join(cells) + " |")
    print(f"max rate: emulator 20 us {emu[20e-6].max():.0f} Hz")


if __name__ == "__main__":
    parts = {"resolution": resolution, "parity": parity, "mismatch": mismatch}
    for name in sys.argv[1:] or parts:
        print(f"== {name}", flush=True)
        parts[name]()
