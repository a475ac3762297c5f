"""SiliconEngine: hidden silicon shows in the spikes (dead, hot, mismatch, drift), resolution,
routing, reproducibility and errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import hil.board
from hil import events as ev
from hil.chip.config import Chip, ChipConfig, Destination, InputRoute, Neuron, Synapse, mask_bits
from hil.chip.example import N_EXC, N_INH, N_INPUTS, example_config
from hil.chip.geometry import Dendrite
from hil.chip.params import HighLevel, core_parameters
from hil.emulator.engine import DEFAULT_DT, SiliconEngine
from hil.emulator.silicon import Silicon
from hil.errors import BoardError, ConfigError


def dc_config(idc: float, n_chips: int = 1, latches: dict | None = None) -> ChipConfig:
    """Every neuron of every chip driven by a DC current `idc` [A] (latch_so_dc on)."""
    cfg = ChipConfig(chips=[Chip() for _ in range(n_chips)])
    params = core_parameters(HighLevel(Idc=idc).currents())
    for c in range(n_chips):
        for k in range(4):
            core = cfg.core(c, k)
            core.parameters = dict(params)
            for n in range(256):
                core.neurons[n] = Neuron(latches={"latch_so_dc": True, **(latches or {})})
    return cfg.validate()


def rates(out: np.ndarray, duration: float, n: int = 1024) -> np.ndarray:
    return np.bincount(ev.global_index(out), minlength=n)[:n] / duration


QUIET = ev.input_events([], [])


def test_info_names_the_silicon_but_hides_its_truth() -> None:
    s = Silicon.from_seed(5)
    info = SiliconEngine(s).info()
    assert info.kind == "emulator" and info.board_id == s.silicon_id and info.n_chips == 1
    assert {"spikes", "counts", "hidden-silicon"} <= set(info.capabilities)
    assert set(info.details) == {"dt_s", "day", "engine", "silicon_id"}
    assert info.details["dt_s"] == DEFAULT_DT <= 1e-4


def test_dead_neurons_never_spike_and_the_rest_do() -> None:
    s = Silicon(silicon_id="dead", seed=1, dead_fraction=0.2)
    eng = SiliconEngine(s)
    eng.apply(dc_config(200e-12))
    r = rates(eng.run(QUIET, 0.5), 0.5)
    dead = eng.truth().dead
    assert 150 < dead.sum() < 260
    assert np.all(r[dead] == 0)
    assert np.all(r[~dead] > 10)


def test_killed_neurons_never_spike() -> None:
    eng = SiliconEngine(Silicon(silicon_id="ideal", seed=0))
    eng.apply(dc_config(200e-12, latches={"latch_soif_kill": True}))
    assert eng.run(QUIET, 0.3).size == 0


def test_hot_neurons_spike_spontaneously() -> None:
    s = Silicon(silicon_id="hot", seed=2, hot_fraction=0.03, hot_current_A=2e-10)
    eng = SiliconEngine(s)
    eng.apply(ChipConfig())
    r = rates(eng.run(QUIET, 1.0), 1.0)
    hot = eng.truth().hot
    assert 10 < hot.sum() < 60
    assert np.all(r[hot] > 5)  # ~20 Hz at 200 pA
    assert np.all(r[~hot] == 0)


def test_mismatch_shows_in_the_rates() -> None:
    """Under one DC drive, neurons with a larger leak fire less (hidden per-neuron currents), and
    the spread of rates is real. (The threshold barely matters: the positive feedback carries the
    membrane through it within microseconds.)"""
    s = Silicon.from_seed(3)
    eng = SiliconEngine(replace(s, noise_std_A=0.0))
    eng.apply(dc_config(100e-12))
    r = rates(eng.run(QUIET, 1.0), 1.0)
    t = eng.truth()
    alive = ~t.dead & ~t.hot
    assert np.std(r[alive]) / np.mean(r[alive]) > 0.05
    rho = np.corrcoef(np.log(t.currents["Itau_mem"][alive]), r[alive])[0, 1]
    assert rho < -0.3, rho


def test_ideal_silicon_rates_are_uniform() -> None:
    eng = SiliconEngine(Silicon(silicon_id="ideal", seed=0))
    eng.apply(dc_config(100e-12))
    r = rates(eng.run(QUIET, 1.0), 1.0)
    assert np.all(r == r[0]) and 10 < r[0] < 25  # f-I: 100 pA -> ~15 Hz


def test_per_core_bias_error_shows_per_core() -> None:
    s = Silicon(silicon_id="bg", seed=4, biasgen_sigma=0.15)
    eng = SiliconEngine(s)
    eng.apply(dc_config(100e-12))
    r = rates(eng.run(QUIET, 1.0), 1.0).reshape(4, 256)
    assert np.all(r == r[:, :1])  # no per-neuron mismatch: a core fires in unison
    assert len(np.unique(r[:, 0])) > 1  # but the cores differ


def test_drift_changes_the_firing() -> None:
    s = replace(Silicon.from_seed(6), noise_std_A=0.0)
    eng = SiliconEngine(s)
    eng.apply(dc_config(100e-12))
    r0 = rates(eng.run(QUIET, 1.0), 1.0)
    eng.set_day(400)
    assert eng.info().details["day"] == 400
    r400 = rates(eng.run(QUIET, 1.0), 1.0)
    eng.set_day(0)
    again = rates(eng.run(QUIET, 1.0), 1.0)
    assert np.abs(r400 - r0).mean() > 0.3
    np.testing.assert_array_equal(again, r0)


def test_example_network_fires_in_a_sane_range() -> None:
    eng = SiliconEngine(Silicon.from_seed(1))
    eng.apply(example_config())
    stim = ev.poisson_input(50.0, N_INPUTS, 1.0, seed=3)
    r = rates(eng.run(stim, 1.0), 1.0)
    exc, inh = r[:N_EXC], r[N_EXC : N_EXC + N_INH]
    assert 10 < exc.mean() < 200, exc.mean()
    assert 5 < inh.mean() < 300, inh.mean()
    outside = np.flatnonzero(r[N_EXC + N_INH :]) + N_EXC + N_INH
    assert set(outside.tolist()) <= set(np.flatnonzero(eng.truth().hot).tolist())
    assert np.all(r <= 1 / 1e-3 + 1)  # nothing beats the ~1 ms refractory period


def test_default_resolution_matches_a_fine_reference() -> None:
    """The default step gives the rates of a 10 us integration (docs/silicon.md, accuracy)."""
    s = replace(Silicon.from_seed(1), noise_std_A=0.0)
    stim = ev.poisson_input(50.0, N_INPUTS, 0.5, seed=4)
    out = {}
    for dt in (DEFAULT_DT, 1e-5):
        eng = SiliconEngine(s, dt=dt)
        eng.apply(example_config())
        out[dt] = rates(eng.run(stim, 0.5), 0.5)[: N_EXC + N_INH]
    ref, got = out[1e-5], out[DEFAULT_DT]
    assert ref.mean() > 10
    assert abs(got.mean() / ref.mean() - 1) < 0.02
    assert np.sqrt(np.mean((got - ref) ** 2)) < 2.0  # Hz per neuron


def test_spike_times_resolve_inside_a_step() -> None:
    eng = SiliconEngine(Silicon.from_seed(1))
    eng.apply(dc_config(300e-12))
    out = eng.run(QUIET, 0.2)
    assert out.size > 1000
    assert len(np.unique(out["t_us"] % eng.dt_us)) > 10
    ev.validate(out, n_chips=1)


def test_runs_are_reproducible_and_noise_is_fresh_per_run() -> None:
    stim = ev.poisson_input(50.0, N_INPUTS, 0.5, seed=1)

    def two_runs() -> tuple[np.ndarray, np.ndarray]:
        eng = SiliconEngine(Silicon.from_seed(2))
        eng.apply(example_config())
        a = eng.run(stim, 0.5)
        eng.reset()
        return a, eng.run(stim, 0.5)

    a1, b1 = two_runs()
    a2, b2 = two_runs()
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    assert not np.array_equal(a1, b1)  # same stimulus, new noise
    assert abs(a1.size - b1.size) < 0.2 * a1.size
    eng = SiliconEngine(Silicon.from_seed(2), noise_seed=99)
    eng.apply(example_config())
    assert not np.array_equal(eng.run(stim, 0.5), a1)


def test_state_carries_over_between_runs_until_reset() -> None:
    eng = SiliconEngine(Silicon(silicon_id="ideal", seed=0))
    cfg = ChipConfig(inputs=[InputRoute(channel=0, chip=0, tag=5)])
    core = cfg.core(0, 0)
    core.parameters = core_parameters(HighLevel(Iw=(2e-9, 2e-9, 2e-9, 2e-9)).currents())
    core.neurons[0] = Neuron(
        synapses=[Synapse(tag=5, dendrite=Dendrite.AMPA, weight=mask_bits(15))]
    )
    eng.apply(cfg)
    burst = ev.input_events(np.arange(9000, 10000, 100), np.zeros(10, int))
    eng.run(burst, 0.01)
    carried = eng.run(QUIET, 0.05).size
    eng.reset()
    eng.run(QUIET, 0.01)
    rested = eng.run(QUIET, 0.05).size
    assert carried > 0 and rested == 0


def test_routing_across_chips_and_cores() -> None:
    """Chip 0 neuron 0 sends tag 7 to chip 1 (x_hop=1), cores 2 and 3 only."""
    s = Silicon(silicon_id="two", seed=0, n_chips=2)
    cfg = ChipConfig(chips=[Chip() for _ in range(2)])
    cfg.inputs = [InputRoute(channel=0, chip=0, tag=1, core=(True, False, False, False))]
    params = core_parameters(HighLevel().currents())
    for c in range(2):
        for k in range(4):
            cfg.core(c, k).parameters = dict(params)
    strong = mask_bits(15)
    cfg.core(0, 0).neurons[0] = Neuron(
        synapses=[Synapse(tag=1, weight=strong)],
        destinations=[Destination(tag=7, core=(False, False, True, True), x_hop=1)],
    )
    for c in range(2):
        for k in range(4):
            cfg.core(c, k).neurons[9] = Neuron(synapses=[Synapse(tag=7, weight=strong)])
    eng = SiliconEngine(s)
    eng.apply(cfg)
    stim = ev.input_events(np.arange(0, 200_000, 5000), np.zeros(40, int))
    idx = set(ev.global_index(eng.run(stim, 0.2)).tolist())
    assert 0 in idx
    assert {1024 + 2 * 256 + 9, 1024 + 3 * 256 + 9} <= idx
    assert not idx & ({k * 256 + 9 for k in range(4)} | {1024 + 9, 1024 + 256 + 9})


def test_open_board_by_registered_scheme() -> None:
    hil.board.register_scheme("silicon-test", lambda url: SiliconEngine(Silicon.from_seed(1)))
    with hil.board.open_board("silicon-test://") as b:
        assert b.info().kind == "emulator"


@pytest.mark.parametrize("dt", [0.0, 3.5e-6, 2e-3, float("nan")])
def test_bad_dt_is_refused(dt: float) -> None:
    with pytest.raises(ConfigError, match="dt"):
        SiliconEngine(Silicon.from_seed(1), dt=dt)


def test_config_with_more_chips_than_the_silicon_is_refused() -> None:
    eng = SiliconEngine(Silicon.from_seed(1))
    two = ChipConfig(chips=[Chip() for _ in range(2)])
    with pytest.raises(ConfigError, match="chips"):
        eng.apply(two)


def test_closed_engine_refuses_everything() -> None:
    eng = SiliconEngine(Silicon.from_seed(1))
    eng.close()
    for call in (lambda: eng.apply(ChipConfig()), eng.reset, lambda: eng.set_day(1)):
        with pytest.raises(BoardError, match="closed"):
            call()


@pytest.mark.parametrize("threads", [1, 2])
def test_output_buffer_refills_without_changing_the_result(
    monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    """A run that produces more spikes than one kernel call buffers gives the same events."""
    import hil.emulator.engine as engine_module

    def run() -> np.ndarray:
        eng = SiliconEngine(Silicon.from_seed(1), threads=threads)
        eng.apply(dc_config(300e-12))
        return eng.run(QUIET, 0.1)

    whole = run()
    # room for 76 spikes per call (1100 - 1024 neurons), or 38 per thread (550 - 512)
    monkeypatch.setattr(engine_module, "_OUT_CAPACITY", 1100)
    chunked = run()
    assert whole.size > 10 * 76
    np.testing.assert_array_equal(chunked, whole)


@pytest.mark.parametrize("t_in", [3e-5, -2.0])
def test_spike_scan_finds_every_neuron_with_work_wherever_it_sits_in_its_block(t_in: float) -> None:
    """The scan skips blocks (and stops) by a test of their spk rows: a spike (t_in >= 0) or a
    long step (-2) of any single neuron, in either block, is found and handled. A spike's time is
    placed by the scan from the rise in y (in u), y before the step (eu) and the active time (in
    spk): here y crosses the threshold 3/10 into a full step."""
    from hil.emulator import kernel

    f32, m, io, gamma, dt, g = np.float32, 2 * kernel.BLOCK, 1e-13, 0.7, 1e-4, 1e-9
    for p in range(m):
        spk = np.full(m, -1, f32)
        spk[p] = dt if t_in >= 0 else t_in  # a spike: the active time, here the full step
        u = np.full(m, 2.0, f32)
        u[p] = 3.5  # a long step: an upper bound of the new u, and its y in eu (the root: u = 3)
        y = io * np.exp(3.0) + g * 3.0
        eu = np.where(np.arange(m) == p, f32(y), np.expm1(u)).astype(f32)
        eg = np.zeros(m, f32)
        ythr = np.full(m, 2e-9, f32)
        if t_in >= 0:  # a rise of 1 nA from 0.3 nA below the threshold
            u[p], eu[p], eg[p] = 1e-9, 1.7e-9, 0.5
        timer, ahp = np.zeros(m, f32), np.zeros(m, f32)
        igain, tref, jump = np.full(m, g, f32), np.full(m, 2e-3, f32), np.full(m, 1e-12, f32)
        out = np.zeros(4, np.int64), np.zeros(4, np.int64), np.zeros(4, f32)
        nout = kernel._scan(
            spk, u, eu, eg, timer, igain, tref, ahp, jump, ythr, 1000, 1000 + m // 2, 64, 7,
            f32(io), f32(gamma), f32(dt), 0, *out,
        )  # fmt: skip
        others = np.arange(m) != p
        assert np.all(u[others] == f32(2.0)) and np.all(timer[others] == 0), p
        assert np.all(eu[others] == np.expm1(f32(2.0))), p
        if t_in >= 0:
            neuron = 1000 + p - (64 if p >= m // 2 else 0)  # columns from 1000 + m/2 on: gap 64
            assert nout == 1 and (out[0][0], out[1][0]) == (7, neuron), p
            assert out[2][0] == pytest.approx(t_in, rel=1e-4), p
            assert u[p] == 0 and eu[p] == 0 and ahp[p] == f32(1e-12), p
            assert timer[p] == pytest.approx(2e-3 - (dt - t_in), rel=1e-6), p
        else:
            assert nout == 0, p
            assert u[p] == pytest.approx(3.0, rel=1e-6) and eu[p] == pytest.approx(np.expm1(3.0)), p


def test_fexp_is_within_1e_6_of_exp_over_its_range() -> None:
    """The kernel's branch-free e^x (range reduction to 2^k p(f)) against numpy's float64 exp on
    4 million points of [-50, 20], in the vectorized loop it is compiled into; e^0 is exactly 1."""
    from numba import njit

    from hil.emulator import kernel

    @njit(fastmath=True)
    def many(x: np.ndarray, out: np.ndarray) -> None:
        for i in range(x.shape[0]):
            out[i] = kernel.fexp(x[i])

    rng = np.random.default_rng(3)
    x = np.concatenate(
        [np.linspace(-50, 20, 2_000_001), rng.uniform(-50, 20, 2_000_000), [0.0, np.log(2) / 2]]
    ).astype(np.float32)
    out = np.empty_like(x)
    many(x, out)
    rel = np.abs(out / np.exp(x.astype(np.float64)) - 1)
    assert rel.max() < 1e-6, (rel.max(), x[rel.argmax()])
    assert out[-2] == 1.0


def test_membrane_noise_is_an_ou_process_with_the_documented_std_and_time_constant() -> None:
    from hil.emulator import kernel

    n, steps, dt, tau, std = 64, 20000, 1e-4, 1e-3, 2e-12
    a = np.full(n, np.exp(-dt / tau))
    b = std * np.sqrt(1 - a * a)
    eta = np.zeros(n)
    trace = np.empty((steps, n))
    for k in range(steps):
        key = kernel._step_key(np.uint64(12345 * 2**20 + k * n))
        kernel._noise(eta, eta, a, b, key, 0, n, 0)
        trace[k] = eta
    x = trace[1000:]  # past the start-up transient
    assert abs(x.std() / std - 1) < 0.05
    assert abs(x.mean()) < 0.05 * std
    lag = int(tau / dt)
    rho = np.mean([np.corrcoef(x[:-lag, i], x[lag:, i])[0, 1] for i in range(n)])
    assert abs(rho - np.exp(-1)) < 0.03
    cross = np.corrcoef(x[:, 0], x[:, 1])[0, 1]
    assert abs(cross) < 0.1  # neurons get independent noise


def test_nmda_gate_latch_weakens_nmda_drive_near_rest() -> None:
    """latch_denm_nmda on: NMDA current is gated by Imem/(Imem + If_nmda) (as in the simulator)."""

    def count(gate: bool) -> int:
        cfg = ChipConfig(inputs=[InputRoute(channel=0, chip=0, tag=3)])
        core = cfg.core(0, 0)
        hl = HighLevel(If_nmda=20e-12, Iw=(6e-10, 6e-10, 6e-10, 6e-10))
        core.parameters = core_parameters(hl.currents())
        core.neurons[0] = Neuron(
            synapses=[Synapse(tag=3, dendrite=Dendrite.NMDA, weight=mask_bits(1))],
            latches={"latch_denm_nmda": gate},
        )
        eng = SiliconEngine(Silicon(silicon_id="ideal", seed=0))
        eng.apply(cfg)
        stim = ev.input_events(np.arange(0, 500_000, 2000), np.zeros(250, int))
        return eng.run(stim, 0.5).size

    ungated, gated = count(False), count(True)
    assert ungated > 10
    assert gated < ungated
