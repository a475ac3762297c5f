"""Single-neuron checks of hil.sim against its equations (docs/sim.md)."""

from __future__ import annotations

import math

import pytest
import torch

from hil.chip.params import Physics
from hil.sim import NeuronParams, State, Weights, constants, simulate, step
from hil.sim.records import AMPA, GABA, NMDA, SHUNT

PHYS = Physics()


def rates(params: NeuronParams, weights: Weights, x: torch.Tensor, dt: float) -> torch.Tensor:
    """Mean rate [Hz] per (instance, batch, neuron)."""
    with torch.no_grad():
        out = simulate(params, weights, x, dt=dt).spikes
    return out.sum(2) / (x.shape[-2] * dt)


def dc_neurons(idc: list[float]) -> NeuronParams:
    return NeuronParams.nominal(len(idc)).replace(Idc=torch.tensor([idc]))


@pytest.mark.parametrize("syn", [AMPA, NMDA, GABA, SHUNT])
def test_synaptic_decay_time_constant_matches_the_dpi_formula(syn: int) -> None:
    p = NeuronParams.nominal(1)
    dt = 1e-4
    k = constants(p, dt, types=(syn,))
    st = State.rest(1, 1, 1, 1)
    st, _, _ = step(st, torch.full((1, 1, 1, 1), 1e-8), k)
    trace = []
    for _ in range(100):
        trace.append(float(st.isyn[0, 0, 0, 0]))
        st, _, _ = step(st, None, k)
    n = 50
    tau_measured = -n * dt / math.log(trace[n] / trace[0])
    name = ("ampa", "nmda", "gaba", "shunt")[syn]
    itau = float(p.Itau_syn[0, syn, 0])
    tau_formula = PHYS.Ut / PHYS.kappa * getattr(PHYS, f"C_{name}") / itau
    assert tau_measured == pytest.approx(tau_formula, rel=0.01)
    assert tau_formula == pytest.approx(10e-3, rel=0.05)  # the nominal 10 ms


def test_max_rate_is_bounded_by_the_refractory_period() -> None:
    p = dc_neurons([1e-6, 1e-6])
    t_ref = torch.tensor([[1e-3, 4e-3]])
    p = p.replace(Iref=PHYS.Vth * PHYS.C_ref / t_ref)
    r = rates(p, Weights.zeros(1, 2), torch.zeros(1, 500, 1), dt=1e-3)[0, 0]
    bound = 1.0 / t_ref[0]
    assert torch.all(r <= bound + 2.0)
    assert torch.all(r >= 0.5 * bound)  # strongly driven: the refractory period dominates


def test_f_i_curve_is_monotonic_and_dt_robust() -> None:
    idc = [5e-12, 10e-12, 20e-12, 50e-12, 100e-12, 200e-12, 500e-12, 1e-9, 2e-9]
    p = dc_neurons(idc)
    coarse = rates(p, Weights.zeros(1, len(idc)), torch.zeros(1, 1000, 1), dt=1e-3)[0, 0]
    fine = rates(p, Weights.zeros(1, len(idc)), torch.zeros(1, 10000, 1), dt=1e-4)[0, 0]
    assert torch.all(coarse[1:] >= coarse[:-1])
    assert coarse[0] == 0 and coarse[-1] > 40
    assert torch.allclose(coarse, fine, rtol=0.05, atol=1.0)


def test_gaba_lowers_the_rate_of_a_neuron_driven_only_in_other_bins() -> None:
    T = 1000
    x = torch.zeros(1, T, 2)
    x[0, 0::10, 0] = 1  # excitation at 100 Hz in bins 0, 10, 20, ...
    x[0, 5::10, 1] = 1  # inhibition in bins 5, 15, 25, ...: never the same bin
    w_in = torch.zeros(1, 4, 2, 1)
    w_in[0, AMPA, 0, 0] = 8e-8
    base = rates(NeuronParams.nominal(1), Weights(w_in, torch.zeros(1, 4, 1, 1)), x, 1e-3)
    w_in[0, GABA, 1, 0] = 8e-8
    inhibited = rates(NeuronParams.nominal(1), Weights(w_in, torch.zeros(1, 4, 1, 1)), x, 1e-3)
    assert base.item() > 20
    assert inhibited.item() < 0.7 * base.item()


def test_shunt_subtracts_and_nmda_is_gated() -> None:
    T = 1000
    x = torch.zeros(1, T, 2)
    x[0, 0::10, 0] = 1
    x[0, 0::10, 1] = 1
    p = NeuronParams.nominal(1)
    w = torch.zeros(1, 4, 2, 1)
    w[0, AMPA, 0, 0] = 8e-8
    base = rates(p, Weights(w, torch.zeros(1, 4, 1, 1)), x, 1e-3).item()
    w[0, SHUNT, 1, 0] = 4e-8
    shunted = rates(p, Weights(w, torch.zeros(1, 4, 1, 1)), x, 1e-3).item()
    assert 0 < shunted < base
    w = torch.zeros(1, 4, 1, 1)
    w[0, NMDA, 0, 0] = 8e-8
    W = Weights(w, torch.zeros(1, 4, 1, 1))
    open_gate = rates(p.replace(If_nmda=torch.zeros(1, 1)), W, x[..., :1], 1e-3).item()
    closed = rates(p.replace(If_nmda=torch.full((1, 1), 1e-9)), W, x[..., :1], 1e-3).item()
    assert open_gate == pytest.approx(base, rel=0.1)  # ungated NMDA acts like AMPA
    assert closed < 0.7 * open_gate


def test_adaptation_lengthens_the_interspike_intervals() -> None:
    p = dc_neurons([500e-12, 500e-12])
    p = p.replace(Iw_ahp=torch.tensor([[0.0, 1e-7]]), Igain_ahp=p.Itau_ahp * 10)
    with torch.no_grad():
        s = simulate(p, Weights.zeros(1, 2), torch.zeros(1, 1000, 1), dt=1e-3).spikes[0, 0]
    plain, adapted = s[:, 0].sum().item(), s[:, 1].sum().item()
    assert adapted < 0.8 * plain
    t = torch.nonzero(s[:, 1]).flatten().float()
    isi = torch.diff(t)
    assert isi[-3:].mean() > isi[:2].mean()  # intervals grow as adaptation builds up


def test_rest_is_silent_and_dead_neurons_never_spike() -> None:
    p = dc_neurons([0.0, 1e-9, 1e-9]).replace(alive=torch.tensor([[1.0, 1.0, 0.0]]))
    r = rates(p, Weights.zeros(1, 3), torch.zeros(1, 300, 1), 1e-3)[0, 0]
    assert r[0] == 0 and r[1] > 10 and r[2] == 0


def test_simulate_leaves_ieee_subnormals_alone_afterwards() -> None:
    # simulate flushes subnormals only while it runs (speed); the caller's process keeps IEEE floats
    from hil.sim import NeuronParams, Weights, simulate

    params = NeuronParams.nominal(2)
    simulate(params, Weights.zeros(1, 2), torch.zeros(1, 5, 1), fused=False)
    assert (torch.tensor([1e-40]) * 1.0).item() > 0.0
