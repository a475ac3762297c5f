"""The emulator integrates the simulator's equations: with the same hidden silicon (per-neuron
currents and per-synapse weights handed to the simulator explicitly) and the same step, both give
the same rates."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from hil import events as ev
from hil.chip.example import N_EXC, N_INH, N_INPUTS, example_config
from hil.emulator.engine import SiliconEngine
from hil.emulator.silicon import Silicon
from hil.sim.compile import compile_config
from hil.sim.network import simulate
from hil.sim.records import NeuronParams

N = N_EXC + N_INH
DT = 1e-4
T = 1.0


def sim_inputs(silicon: Silicon) -> tuple:
    """NeuronParams and Weights of the example network carrying `silicon`'s hidden truth, compiled
    through the same netlist as the engine (hil.chip.netlist), with what only silicon has added:
    a hot neuron's leak as DC and dead neurons silenced."""
    cfg = example_config()
    t = silicon.truth(cfg)
    c = compile_config(cfg, currents=t.currents, weight_factor=t.weight_factor)
    params: NeuronParams = c.params.replace(
        Idc=torch.as_tensor(t.Ihot[c.neurons], dtype=torch.float32)[None],
        dc_enable=torch.ones(1, N),  # no latch_so_dc in the example: only the hot leak
        alive=c.params.alive * torch.as_tensor(~t.dead[c.neurons], dtype=torch.float32),
    )
    assert list(c.neurons) == list(range(N)) and list(c.channels) == list(range(N_INPUTS))
    return cfg, params, c.weights


def test_emulator_and_simulator_agree_on_the_same_silicon() -> None:
    silicon = replace(Silicon.from_seed(1), noise_std_A=0.0)
    cfg, params, weights = sim_inputs(silicon)
    stim = ev.poisson_input(50.0, N_INPUTS, T, seed=5, dt=DT)
    raster = torch.as_tensor(ev.events_to_raster(stim, DT, T, N_INPUTS), dtype=torch.float32)
    sim = simulate(params, weights, raster.unsqueeze(0), dt=DT).spikes[0, 0].sum(0).numpy() / T
    eng = SiliconEngine(silicon, dt=DT)
    eng.apply(cfg)
    emu = np.bincount(ev.global_index(eng.run(stim, T)), minlength=1024)[:N] / T
    assert sim.mean() > 10
    assert abs(emu.mean() / sim.mean() - 1) < 0.02, (emu.mean(), sim.mean())
    # 0.2 Hz measured; wiring GABA as SHUNT instead would give 2.7 Hz
    assert np.sqrt(np.mean((emu - sim) ** 2)) < 1.5, (emu, sim)  # Hz per neuron
