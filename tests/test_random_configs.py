"""Every valid config runs on the simulator and on the emulator's engine, and the two agree.

Configs are drawn at random (tests/configs.py): 1-2 chips, cores, biases, latches, input routes,
recurrent and cross-chip synapses, or nothing at all. The silicon is mismatch-free with no noise,
so both backends integrate the same equations from the same netlist and the same inputs.
"""

from __future__ import annotations

import numpy as np
import pytest
from configs import CHANNELS, SIM_LATCHES, configs
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from hil import events as ev
from hil.board import open_board
from hil.chip.config import ChipConfig, Neuron
from hil.chip.geometry import global_neuron
from hil.chip.params import HighLevel, core_parameters
from hil.emulator.engine import SiliconEngine
from hil.emulator.silicon import Silicon

DURATION = 1.0
# Below this rate the emulator's membrane step is exact to the count on one DC-driven neuron (5 to
# 66 Hz: identical counts to the simulator at 10 us and 100 us), +4 % at 106 Hz, +71 % at 166 Hz:
# issue 7 section 1, which worker emufid is fixing in hil/emulator/kernel.py.
ACCURATE_HZ = 80.0


def ideal_engine(cfg: ChipConfig) -> SiliconEngine:
    engine = SiliconEngine(Silicon("ideal", 0, n_chips=len(cfg.chips)))
    engine.apply(cfg)
    return engine


def stimulus(cfg: ChipConfig, rate: float, seed: int) -> np.ndarray:
    """Poisson input on the routed channels."""
    stim = ev.poisson_input(rate, CHANNELS, DURATION, seed=seed)
    return stim[np.isin(stim["channel"], [r.channel for r in cfg.inputs])]


def counts(out: np.ndarray, cfg: ChipConfig) -> np.ndarray:
    """Spikes per neuron the config sets, in address order."""
    g = np.array([global_neuron(c, k, n) for c, k, n, _ in cfg.neurons()], np.int64)
    return np.bincount(ev.global_index(out), minlength=4096)[g]


def within_tolerance(sim: np.ndarray, emu: np.ndarray) -> np.ndarray:
    """Per neuron: |emu - sim| <= 2 spikes + 2 % of sim's count.

    Both step the same equations on the same 100 us grid from the same inputs without noise; they
    differ only in the membrane step (the simulator's Pade step in y = I + Ig ln(I/Io), the
    emulator's exponential Rosenbrock step in u = ln(I/Io)) and in where inside a step a spike is
    placed. Below ACCURATE_HZ that moves a spike by a fraction of a step: it can cross the end of
    the run, and a recurrent target can gain or lose the spike it causes (2 spikes). 2 %: the
    accuracy issue 7 asks of the emulator against an exact solution.
    """
    return np.abs(emu - sim) <= 2 + 0.02 * sim


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs(codes="any"), rate=st.floats(0.0, 400.0), seed=st.integers(0, 2**16))
def test_every_valid_config_runs_on_both_backends(cfg: ChipConfig, rate: float, seed: int) -> None:
    stim = stimulus(cfg, rate, seed)
    with open_board("sim://") as sim:
        assert sim.apply(cfg) == cfg.content_hash()
        out_sim = sim.run(stim, DURATION)
    out_emu = ideal_engine(cfg).run(stim, DURATION)
    for out in (out_sim, out_emu):
        ev.validate(out, n_chips=len(cfg.chips))
        assert out.size == 0 or out["t_us"][-1] < DURATION * 1e6
    set_neurons = {global_neuron(c, k, n) for c, k, n, _ in cfg.neurons()}
    assert set(ev.global_index(out_sim).tolist()) <= set_neurons  # the sim runs only those


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cfg=configs(codes="moderate", latches=SIM_LATCHES, driven=True, max_neurons=6),
    rate=st.floats(20.0, 300.0),
    seed=st.integers(0, 2**16),
)
def test_simulator_and_emulator_agree_on_random_configs(
    cfg: ChipConfig, rate: float, seed: int
) -> None:
    stim = stimulus(cfg, rate, seed)
    with open_board("sim://?dt=1e-4") as sim:  # the emulator's step
        sim.apply(cfg)
        n_sim = counts(sim.run(stim, DURATION), cfg)
    n_emu = counts(ideal_engine(cfg).run(stim, DURATION), cfg)
    note(f"simulator {n_sim.tolist()}\nemulator  {n_emu.tolist()}")
    if n_sim.size and n_sim.max() > ACCURATE_HZ * DURATION:
        # strongly driven: the known emulator error (test_strong_drive_known_emulator_error)
        event("a neuron above ACCURATE_HZ: not compared")
        return
    event("compared, a neuron fired" if n_sim.any() else "compared, all silent")
    assert within_tolerance(n_sim, n_emu).all()


def test_a_config_without_input_routes_runs_and_agrees() -> None:
    """Neurons driven only by DC (no input routes, no synapses): sim:// raised "cannot reshape
    tensor of 0 elements" here."""
    cfg = ChipConfig()
    cfg.core(0, 1).parameters = core_parameters(HighLevel(Idc=1e-9).currents())
    cfg.core(0, 1).neurons[7] = Neuron(latches={"latch_so_dc": True})
    cfg.core(0, 1).neurons[8] = Neuron()  # no DC: silent
    none = ev.input_events([], [])
    with open_board("sim://?dt=1e-4") as sim:
        sim.apply(cfg)
        n_sim = counts(sim.run(none, DURATION), cfg)
    n_emu = counts(ideal_engine(cfg).run(none, DURATION), cfg)
    assert n_sim[0] > 20 and n_sim[1] == 0
    assert within_tolerance(n_sim, n_emu).all(), (n_sim, n_emu)


@pytest.mark.xfail(
    strict=True,
    reason="issue 7 section 1: the emulator's explicit membrane step overestimates strongly driven "
    "neurons (284 vs 166 Hz at 30 nA DC, 616 vs 281 Hz at 100 nA); worker emufid is fixing hil/emulator/kernel.py. Remove this "
    "mark when it passes.",
)
@pytest.mark.parametrize("idc", [3e-8, 1e-7])
def test_strong_drive_known_emulator_error(idc: float) -> None:
    cfg = ChipConfig()
    cfg.core(0, 0).parameters = core_parameters(HighLevel(Idc=idc).currents())
    cfg.core(0, 0).neurons[0] = Neuron(latches={"latch_so_dc": True})
    none = ev.input_events([], [])
    with open_board("sim://?dt=1e-4") as sim:
        sim.apply(cfg)
        n_sim = counts(sim.run(none, DURATION), cfg)
    n_emu = counts(ideal_engine(cfg).run(none, DURATION), cfg)
    assert n_sim[0] > ACCURATE_HZ * DURATION
    assert within_tolerance(n_sim, n_emu).all(), (n_sim, n_emu)
