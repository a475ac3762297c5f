"""Gradients: the differentiable path matches finite differences; the surrogate is scaled to the
neuron's threshold; a small network learns a target rate through weights and currents."""

from __future__ import annotations

import math

import pytest
import torch

from hil.sim import DynapNet, NeuronParams, State, Weights, constants, simulate, spike, step
from hil.sim.records import AMPA, GABA
from hil.sim.surrogate import surrogate_derivative

F64 = torch.float64


def membrane_after(params: NeuronParams, drive: torch.Tensor, steps: int = 10) -> torch.Tensor:
    """ln(Imem/Io) after `steps` bins of a constant AMPA+GABA drive (sub-threshold)."""
    k = constants(params, 1e-3, types=(AMPA, GABA))
    n = params.neurons
    st = State(
        u=torch.zeros(1, 1, n, dtype=F64),
        timer=torch.zeros(1, 1, n, dtype=F64),
        isyn=torch.zeros(1, 1, 2, n, dtype=F64),
        iahp=torch.zeros(1, 1, n, dtype=F64),
        spikes=torch.zeros(1, 1, n, dtype=F64),
    )
    for _ in range(steps):
        st, _, _ = step(st, drive, k, feedback_grad=1.0)  # the exact derivative
    return st.u


def test_finite_differences_match_autograd_on_the_membrane_path() -> None:
    base = NeuronParams.nominal(3).to(F64)
    itau = base.Itau_mem.clone().requires_grad_(True)
    igain = base.Igain_mem.clone().requires_grad_(True)
    drive = torch.tensor([[[[1.0e-9, 2.0e-9, 3.0e-9], [0.2e-9, 0.1e-9, 0.3e-9]]]], dtype=F64)
    drive.requires_grad_(True)

    def f(itau: torch.Tensor, igain: torch.Tensor, drive: torch.Tensor) -> torch.Tensor:
        return membrane_after(base.replace(Itau_mem=itau, Igain_mem=igain), drive).sum()

    u = membrane_after(base, drive.detach())
    assert float(u.max()) < float(torch.log(base.Ispkthr / base.Io).min())  # no spike
    inputs = [itau, igain, drive]
    grads = torch.autograd.grad(f(*inputs), inputs)
    for i, (x, g) in enumerate(zip(inputs, grads, strict=True)):
        for j in range(x.numel()):
            eps = 1e-6 * float(x.detach().flatten()[j].abs())
            args = [a.detach().clone() for a in inputs]
            args[i].view(-1)[j] += eps
            up = f(*args)
            args[i].view(-1)[j] -= 2 * eps
            numerical = (up - f(*args)) / (2 * eps)
            assert float(g.flatten()[j]) == pytest.approx(float(numerical), rel=1e-4)


def test_surrogate_slope_is_in_units_of_the_neurons_own_threshold() -> None:
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], requires_grad=True)
    s = spike(x)
    assert s.tolist() == [0, 0, 1, 1, 1]
    s.sum().backward()
    assert torch.allclose(x.grad, surrogate_derivative(x.detach()))
    assert x.grad[2] == 0.5  # O(1) per e-fold of Imem at threshold, not 1 per ampere
    grid = torch.linspace(-1e4, 1e4, 2_000_001, dtype=F64)
    area = torch.trapezoid(surrogate_derivative(grid), grid)
    assert float(area) == pytest.approx(1.0, abs=1e-3)  # unit area, like the step's jump


def test_gradients_reach_weights_and_currents_with_useful_magnitude() -> None:
    g = torch.Generator().manual_seed(0)
    net = DynapNet(
        8, 6, w_in=torch.rand(8, 6, generator=g) * 4, train_currents=("Itau_mem", "Ispkthr")
    )
    x = (torch.rand(2, 200, 8, generator=g) < 0.05).float()
    out = net(x)
    assert out.sum() > 0
    out.sum().backward()
    assert net.w_in.grad.abs().max() > 1e-2
    assert net.log_currents["Itau_mem"].grad.abs().max() > 1e-2
    assert net.log_currents["Ispkthr"].grad.abs().max() > 1e-2
    assert net.log_currents["Ispkthr"].grad.sum() < 0  # a higher threshold means fewer spikes


def test_a_small_network_learns_a_target_rate() -> None:
    g = torch.Generator().manual_seed(1)
    n_in, n, T, dt, target = 10, 4, 200, 1e-3, 15.0
    net = DynapNet(
        n_in,
        n,
        w_in=torch.rand(n_in, n, generator=g) * 0.5,
        w_rec=torch.zeros(n, n),
        train_currents=("Itau_mem",),
        groups=torch.zeros(n, dtype=torch.long),  # one current shared by the core
    )
    x = (torch.rand(1, T, n_in, generator=g) < 0.05).float()
    opt = torch.optim.Adam(net.parameters(), lr=0.03)

    def rate() -> torch.Tensor:
        return net(x).sum(2) / (T * dt)

    with torch.no_grad():
        before = rate().mean().item()
    for _ in range(40):
        opt.zero_grad()
        loss = ((rate() - target) ** 2).mean() / target**2
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = rate()
    assert abs(before - target) > 0.5 * target
    assert torch.all((after - target).abs() < 0.25 * target), after
    assert net.log_currents["Itau_mem"].shape == (1, 1)


def test_differentiable_simulate_matches_no_grad_simulate() -> None:
    p = NeuronParams.nominal(5)
    g = torch.Generator().manual_seed(2)
    w = Weights.from_signed(torch.rand(4, 5, generator=g) * 5, torch.randn(5, 5, generator=g))
    x = (torch.rand(1, 100, 4, generator=g) < 0.1).float()
    with torch.no_grad():
        a = simulate(p, w, x).spikes
    w2 = Weights(w.w_in.clone().requires_grad_(True), w.w_rec.clone().requires_grad_(True))
    b = simulate(p, w2, x).spikes
    assert torch.equal(a, b.detach())


def test_gradients_stay_finite_on_a_long_recurrent_run() -> None:
    g = torch.Generator().manual_seed(3)
    n = 48
    w_in = (torch.eye(n) * 4).requires_grad_(True)
    w_rec = (torch.randn(n, n, generator=g) * 2 / n**0.5).requires_grad_(True)
    x = (torch.rand(2, 600, n, generator=g) < 0.02).float()
    grads = {}
    for rec_grad in (0.0, 0.5):
        w_in.grad = w_rec.grad = None
        out = simulate(
            NeuronParams.nominal(n), Weights.from_signed(w_in, w_rec), x, rec_grad=rec_grad
        )
        out.spikes.mean().backward()
        assert torch.isfinite(w_rec.grad).all() and w_rec.grad.abs().max() > 0
        grads[rec_grad] = w_in.grad.clone()
    assert not torch.allclose(grads[0.0], grads[0.5])  # credit flows through recurrent spikes


@pytest.mark.slow  # torch.compile builds the kernel: seconds to tens of seconds with a cold cache
def test_compiled_step_matches_eager_step() -> None:
    p = NeuronParams.nominal(6).replace(Idc=torch.linspace(20e-12, 1e-9, 6)[None])
    x = torch.zeros(1, 300, 1)
    with torch.no_grad():
        eager = simulate(p, Weights.zeros(1, 6), x).spikes
        fused = simulate(p, Weights.zeros(1, 6), x, compiled=True).spikes
    assert torch.equal(eager.sum(2), fused.sum(2))


def _benchmark_like(n: int, batch: int, bins: int, seed: int) -> tuple:
    """The workload of `hil bench sim`: eye(n) * 4 input weights, N(0, (2/sqrt(n))^2) recurrent
    weights, one 20 Hz Poisson channel per neuron at dt = 1 ms."""
    g = torch.Generator().manual_seed(seed)
    w_in = (torch.eye(n) * 4).requires_grad_(True)
    w_rec = (torch.randn(n, n, generator=g) * 2 / n**0.5).requires_grad_(True)
    x = torch.poisson(torch.full((batch, bins, n), 0.02), generator=g)
    return w_in, w_rec, x


def _grad_norm(w_in: torch.Tensor, w_rec: torch.Tensor, x: torch.Tensor, fb: float) -> float:
    w_in.grad = w_rec.grad = None
    p = NeuronParams.nominal(w_rec.shape[0])
    out = simulate(p, Weights.from_signed(w_in, w_rec), x, rec_grad=1.0, feedback_grad=fb)
    out.spikes.mean().backward()
    return float(torch.cat([w_in.grad.flatten(), w_rec.grad.flatten()]).norm())


def test_full_bptt_stays_finite_on_the_benchmark_workload_and_longer_runs() -> None:
    # the benchmark's own workload (N 256, batch 32, 1 s), full BPTT through recurrent spikes
    w_in, w_rec, x = _benchmark_like(256, 32, 1000, seed=0)
    norm = _grad_norm(w_in, w_rec, x, fb=0.0)
    assert math.isfinite(norm) and norm > 1e-4
    # without the feedback treatment the same gradient blows up (not finite or > 1e6 x larger)
    exact = _grad_norm(w_in, w_rec, x, fb=1.0)
    assert not math.isfinite(exact) or exact > 1e6 * norm
    # 4 s of model time: the gradient of the mean count does not grow with the run length
    w_in, w_rec, x = _benchmark_like(256, 2, 4000, seed=1)
    short = _grad_norm(w_in, w_rec, x[:, :500], fb=0.0)
    long = _grad_norm(w_in, w_rec, x, fb=0.0)
    assert math.isfinite(long) and 0.2 * short < long < 5 * short
