"""The fused forward (hil.sim.fused, numba) against the per-bin torch path: same spikes.

exp and log differ in the last bits (Cephes-style polynomials here, SLEEF in torch), so states agree
to ~1e-5 relative and in-bin spike times to well under 1 us; spike counts are identical here."""

from __future__ import annotations

import pytest
import torch

from hil.errors import ConfigError
from hil.sim import NeuronParams, State, Weights, sample_mismatch, simulate
from hil.sim.records import AMPA, GABA, NMDA, SHUNT


def both(p: NeuronParams, w: Weights, x: torch.Tensor, **kw: object) -> tuple:
    """(fused Result, torch Result) of the same run."""
    with torch.no_grad():
        return simulate(p, w, x, fused=True, **kw), simulate(p, w, x, fused=False, **kw)


def same_times(a: torch.Tensor, b: torch.Tensor) -> None:
    """Same bins with a spike; in-bin times equal within 1 us (the board's resolution): last-bit
    differences of u are amplified by the interpolation when u lands just past the threshold."""
    assert torch.equal(torch.isinf(a), torch.isinf(b))
    m = torch.isfinite(a)
    assert torch.allclose(a[m], b[m], rtol=0.0, atol=1e-6)


def test_single_neurons_give_identical_spikes_and_times_at_several_dt() -> None:
    idc = torch.linspace(0.0, 2e-9, 12)[None]
    p = NeuronParams.nominal(12).replace(Idc=idc, alive=torch.tensor([[1.0] * 11 + [0.0]]))
    for dt, T in ((1e-3, 400), (1e-4, 1000), (2.5e-3, 200)):  # 2.5 ms: three sub-steps per bin
        a, b = both(p, Weights.zeros(1, 12), torch.zeros(2, T, 1), dt=dt, times=True)
        assert a.spikes.sum() > 0
        assert torch.equal(a.spikes, b.spikes)
        same_times(a.times, b.times)
        for f in ("u", "timer", "isyn", "iahp", "spikes"):
            x, y = getattr(a.state, f), getattr(b.state, f)
            assert torch.allclose(x, y, rtol=1e-4, atol=0.0), f


def test_all_synapse_types_adaptation_and_mismatch_match_the_torch_path() -> None:
    g = torch.Generator().manual_seed(4)
    n, n_in = 12, 4
    w_in = torch.zeros(1, 4, n_in, n)
    w_in[0, AMPA] = torch.rand(n_in, n, generator=g) * 6e-8
    w_in[0, NMDA] = torch.rand(n_in, n, generator=g) * 3e-8
    w_in[0, SHUNT, 3] = 2e-8
    w_rec = torch.zeros(1, 4, n, n)
    w_rec[0, GABA] = torch.rand(n, n, generator=g) * 1e-9
    w_rec[0, AMPA] = torch.rand(n, n, generator=g) * 1e-9
    base = NeuronParams.nominal(n)
    p = base.replace(
        Iw_ahp=torch.full((1, n), 2e-8),
        Igain_ahp=base.Itau_ahp * 10,
        If_nmda=torch.full((1, n), 1e-12),
    )
    p = sample_mismatch(p, 3, sigma=0.1, seed=1)
    x = (torch.rand(2, 300, n_in, generator=g) < 0.1).float()
    a, b = both(p, Weights(w_in, w_rec), x, times=True)
    assert a.spikes.sum() > 50
    assert torch.equal(a.spikes, b.spikes)
    same_times(a.times, b.times)


def test_recurrent_network_with_noise_and_a_continued_state() -> None:
    g = torch.Generator().manual_seed(0)
    n = 24
    w = Weights.from_signed(torch.rand(6, n, generator=g) * 6, torch.randn(n, n, generator=g) * 0.5)
    p = NeuronParams.nominal(n)
    x = (torch.rand(3, 200, 6, generator=g) < 0.05).float()
    kw = {"noise": 2e-12, "times": True}
    a = simulate(p, w, x, fused=True, generator=torch.Generator().manual_seed(7), **kw)
    b = simulate(p, w, x, fused=False, generator=torch.Generator().manual_seed(7), **kw)
    assert a.spikes.sum() > 0
    # float32 exp/log may differ in the last bit (libm-style here, SLEEF in torch): compare counts
    assert torch.equal(a.spikes.sum((2, 3)), b.spikes.sum((2, 3))) or torch.allclose(
        a.spikes.mean(), b.spikes.mean(), rtol=0.02
    )
    first = simulate(p, w, x[:, :120], fused=True)
    rest = simulate(p, w, x[:, 120:], fused=True, state=first.state)
    whole = simulate(p, w, x, fused=True)
    assert torch.equal(torch.cat([first.spikes, rest.spikes], 2), whole.spikes)
    assert isinstance(rest.state, State)


def test_fused_is_the_default_and_refuses_gradients_it_does_not_cover() -> None:
    p = NeuronParams.nominal(3).replace(Idc=torch.full((1, 3), 1e-9))
    itau = p.Itau_mem.clone().requires_grad_(True)
    w = Weights.from_signed(torch.ones(1, 3), torch.zeros(3, 3))
    x = torch.zeros(1, 50, 1)
    with pytest.raises(ConfigError):  # a current's gradient: only the torch path has it
        simulate(p.replace(Itau_mem=itau), w, x, fused=True)
    out = simulate(p.replace(Itau_mem=itau), w, x)  # the torch path
    assert out.spikes.requires_grad
    with torch.no_grad():
        assert not simulate(p, w, x).spikes.requires_grad


@pytest.mark.parametrize(
    ("rec_grad", "feedback_grad"), [(0.0, 0.0), (0.5, 0.0), (1.0, 0.0), (1.0, 1.0)]
)
def test_adjoint_gradients_equal_torch_autograd(rec_grad: float, feedback_grad: float) -> None:
    g = torch.Generator().manual_seed(3)
    n, n_in = 20, 6
    w_in0 = torch.rand(n_in, n, generator=g) * 6
    w_rec0 = torch.randn(n, n, generator=g) * 0.5
    x = (torch.rand(3, 150, n_in, generator=g) < 0.05).float()
    base = NeuronParams.nominal(n)  # nominal neurons adapt (AHP)
    p = sample_mismatch(base.replace(Idc=torch.full((1, n), 3e-12)), 2, sigma=0.1, seed=2)
    res = {}
    for fused in (True, False):
        w_in = w_in0.clone().requires_grad_(True)
        w_rec = w_rec0.clone().requires_grad_(True)
        w = Weights.from_signed(w_in, w_rec)
        # a SHUNT input as well: AMPA, GABA and SHUNT synapses
        w = Weights(
            w.w_in + torch.zeros_like(w.w_in).index_fill(1, torch.tensor([SHUNT]), 1e-9), w.w_rec
        )
        out = simulate(p, w, x, rec_grad=rec_grad, fused=fused, noise=1e-12,
                       feedback_grad=feedback_grad,
                       generator=torch.Generator().manual_seed(1)).spikes  # fmt: skip
        weights = torch.sin(torch.arange(out.numel(), dtype=torch.float32)).reshape(out.shape)
        (out * weights).sum().backward()
        res[fused] = (out.detach(), w_in.grad, w_rec.grad)
    (sa, gia, gra), (sb, gib, grb) = res[True], res[False]
    assert sa.sum() > 20
    assert torch.equal(sa, sb)
    for a, b in ((gia, gib), (gra, grb)):
        assert b.abs().max() > 0
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-3 * float(b.abs().max()))


def test_float64_runs_take_the_torch_path_and_threads_are_left_alone() -> None:
    p = NeuronParams.nominal(3).replace(Idc=torch.full((1, 3), 1e-9))
    w = Weights.zeros(1, 3)
    x = torch.zeros(1, 40, 1)
    n = torch.get_num_threads()
    with torch.no_grad():
        ref = simulate(p, w, x).spikes  # fused
        p64 = p.to(torch.float64)
        w64 = Weights(w.w_in.double(), w.w_rec.double())
        assert torch.equal(simulate(p64, w64, x).spikes.float(), ref)  # torch path, float64
        with pytest.raises(ConfigError):
            simulate(p64, w64, x, fused=True)
    assert torch.get_num_threads() == n


def test_the_backward_keeps_at_most_16_bytes_per_bin_batch_and_neuron() -> None:
    from hil.sim.adjoint import CHECKPOINT_BINS, saved_bytes

    g = torch.Generator().manual_seed(4)
    n, batch, bins = 64, 4, 10 * CHECKPOINT_BINS + 3  # a partial last segment
    w_in = (torch.eye(n) * 4).requires_grad_(True)
    w_rec = (torch.randn(n, n, generator=g) * 2 / n**0.5).requires_grad_(True)
    x = torch.poisson(torch.full((batch, bins, n), 0.05), generator=g)
    out = simulate(NeuronParams.nominal(n), Weights.from_signed(w_in, w_rec), x, rec_grad=1.0)
    assert out.spikes.grad_fn is not None and out.spikes.sum() > 0
    per = saved_bytes(out.spikes) / (bins * batch * n)
    assert per <= 16.0, per
    out.spikes.mean().backward()  # and the checkpointed backward runs through every segment
    assert torch.isfinite(w_rec.grad).all() and w_rec.grad.abs().max() > 0


def test_a_network_run_again_sees_in_place_changes_of_its_weights() -> None:
    """simulate keeps what it derives from a Weights (types, concatenated rows, sparse rows) for the
    next run of the same object: an in-place write must invalidate it, including one that adds a
    synapse type or moves the weights across the sparse threshold."""
    g = torch.Generator().manual_seed(8)
    n = 40
    w_rec = torch.zeros(1, 4, n, n)
    w_rec[0, AMPA, :4] = torch.rand(4, n, generator=g) * 4e-9  # 10 % dense: sparse rows
    w = Weights(_ampa_eye(n), w_rec)
    p = NeuronParams.nominal(n)
    x = (torch.rand(2, 200, n, generator=g) < 0.05).float()

    def fresh() -> torch.Tensor:  # a new Weights of the same values: nothing to reuse
        with torch.no_grad():
            return simulate(p, Weights(w.w_in.clone(), w.w_rec.clone()), x).spikes

    with torch.no_grad():
        first = simulate(p, w, x).spikes
        assert torch.equal(simulate(p, w, x).spikes, first)
        assert torch.equal(first, fresh())
        w.w_rec[0, GABA] = torch.rand(n, n, generator=g) * 2e-9  # a new type, now dense
        changed = simulate(p, w, x).spikes
    assert torch.equal(changed, fresh())
    assert not torch.equal(changed, first)


def _ampa_eye(n: int) -> torch.Tensor:
    w = torch.zeros(1, 4, n, n)
    w[0, AMPA] = torch.eye(n) * 4e-8
    return w


def test_trainable_and_inference_weights_are_read_afresh_every_run() -> None:
    """Optimizers may write parameters without counting the write (fused Adam, `.data`), and
    inference tensors count nothing: such weights are never kept between runs."""
    g = torch.Generator().manual_seed(9)
    n = 24
    rec = torch.zeros(1, 4, n, n)
    rec[0, AMPA] = torch.rand(n, n, generator=g) * 2e-9
    param = torch.nn.Parameter(rec.clone())
    w = Weights(_ampa_eye(n), param)
    p = NeuronParams.nominal(n)
    x = (torch.rand(1, 200, n, generator=g) < 0.05).float()
    with torch.no_grad():
        before = simulate(p, w, x).spikes
        param.data.mul_(3.0)  # not counted in param._version
        after = simulate(p, w, x).spikes
        fresh = simulate(p, Weights(_ampa_eye(n), param.detach().clone()), x).spikes
    assert torch.equal(after, fresh) and not torch.equal(after, before)
    with torch.inference_mode():
        wi = Weights(_ampa_eye(n), rec.clone())
        a = simulate(p, wi, x, types=(t for t in (AMPA,))).spikes  # a one-shot iterable too
    with torch.no_grad():
        assert torch.equal(a, simulate(p, Weights(_ampa_eye(n), rec.clone()), x).spikes)


def test_the_event_lists_hold_each_bins_nonzero_channels_in_order() -> None:
    import numpy as np

    from hil.sim.fused import events

    rng = np.random.default_rng(5)
    x = rng.poisson(0.3, (2, 3, 7, 11)).astype(np.float32)
    x[0, 1, 2] = 0.0  # a bin without events
    x[1, 2, 4] = 2.0  # a bin with events on every channel
    ptr, ch = events(x)
    assert ptr.shape == (2, 3, 8) and ch.shape == (int((x != 0).sum()),)
    for ix in range(2):
        for b in range(3):
            for t in range(7):
                want = np.flatnonzero(x[ix, b, t])
                np.testing.assert_array_equal(ch[ptr[ix, b, t] : ptr[ix, b, t + 1]], want)
