"""The backward's merged g W_rec^T (hil.sim.adjoint.recurrent_transpose): one signed N x N pass
where each (pre, post) pair has one of two synapse types, the two type halves elsewhere; the
same gradients as the two-half pass within float32 round-off, sparse and dense bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hil.sim import NeuronParams, Weights, simulate
from hil.sim import adjoint as adj
from hil.sim.records import AMPA, GABA, SHUNT
from hil.sim.sparse import fanout, no_csr


def _signed(n: int, seed: int) -> np.ndarray:
    """(n, 2 n) weight currents over (AMPA, GABA) from signed weights, about half zero."""
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(n, n)) * (rng.random((n, n)) < 0.5)
    return np.concatenate([np.maximum(s, 0), np.maximum(-s, 0)], 1).astype(np.float32)


def test_signed_weights_merge_into_one_matrix_and_the_rows_follow() -> None:
    n = 7
    w = _signed(n, 1)
    w_t, merged, gcsr = adj.recurrent_transpose(w, 2, fanout(w))
    assert merged and w_t.shape == (n, n)
    for pre in range(n):
        for post in range(n):
            a, g = w[pre, post], w[pre, n + post]
            assert w_t[post, pre] == (a if a > 0 else -g)
    ptr, cols, vals = gcsr
    assert ptr.tolist() == fanout(w)[0].tolist()
    for pre in range(n):  # the row's entries, post ascending
        c, v = cols[ptr[pre] : ptr[pre + 1]], vals[ptr[pre] : ptr[pre + 1]]
        assert np.all(np.diff(c % n) > 0)
        assert sorted(c.tolist()) == np.nonzero(w[pre])[0].tolist()
        assert np.array_equal(v, w[pre, c])
    w_t2, merged2, csr2 = adj.recurrent_transpose(w, 2, no_csr())
    assert merged2 and np.array_equal(w_t2, w_t) and csr2[0].size == 0


def test_a_pair_with_both_types_or_other_than_two_types_keeps_the_two_halves() -> None:
    n = 5
    both = _signed(n, 2)
    both[1, 3] = both[1, n + 3] = 0.5  # AMPA and GABA on one pair
    three = np.concatenate([_signed(n, 3), np.zeros((n, n), np.float32)], 1)
    for w, k in ((both, 2), (three, 3)):
        csr = fanout(w)
        w_t, merged, gcsr = adj.recurrent_transpose(w, k, csr)
        assert not merged and np.array_equal(w_t, w.T) and gcsr is csr


def _grads(w: Weights, x: torch.Tensor, **kw: object) -> tuple:
    w_in = w.w_in.clone().requires_grad_(True)
    w_rec = w.w_rec.clone().requires_grad_(True)
    n = w.neurons
    out = simulate(NeuronParams.nominal(n), Weights(w_in, w_rec), x, rec_grad=1.0, **kw).spikes
    weights = torch.cos(torch.arange(out.numel(), dtype=torch.float32)).reshape(out.shape)
    (out * weights).sum().backward()
    assert w_in.grad is not None and w_rec.grad is not None
    return out.detach(), w_in.grad, w_rec.grad


def _network(n: int, seed: int) -> tuple[Weights, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w_rec = torch.randn(n, n, generator=g) * 3 / n**0.5
    w = Weights.from_signed(torch.eye(n) * 4, w_rec)
    x = torch.poisson(torch.full((3, 120, n), 0.04), generator=g)
    return w, x


@pytest.mark.parametrize("sparse", [False, True])
def test_merged_gradients_equal_the_two_half_pass_within_round_off(
    sparse: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, x = _network(48, 11)
    merged = _grads(w, x, sparse=sparse)
    monkeypatch.setattr(
        adj,
        "recurrent_transpose",
        lambda w_rec, k, csr: (np.ascontiguousarray(w_rec.T), False, csr),
    )
    halves = _grads(w, x, sparse=sparse)
    assert merged[0].sum() > 50 and torch.equal(merged[0], halves[0])
    for a, b in zip(merged[1:], halves[1:], strict=True):
        assert b.abs().max() > 0
        assert torch.allclose(a, b, rtol=0.0, atol=1e-5 * float(b.abs().max()))


def test_pairs_with_both_types_give_identical_sparse_and_dense_gradients() -> None:
    w, x = _network(48, 12)
    w_rec = w.w_rec.clone()
    g = torch.Generator().manual_seed(4)
    extra = (torch.rand(48, 48, generator=g) < 0.1) * 2e-8  # GABA added to some AMPA pairs
    w_rec[0, GABA] += extra * (w_rec[0, AMPA] > 0)
    w2 = Weights(w.w_in, w_rec)
    assert ((w2.w_rec[0, AMPA] > 0) & (w2.w_rec[0, GABA] > 0)).any()
    sp, dn, tp = (
        _grads(w2, x, sparse=True),
        _grads(w2, x, sparse=False),
        _grads(w2, x, fused=False),
    )
    for a, b in zip(sp, dn, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(sp[0], tp[0])
    for a, b in zip(sp[1:], tp[1:], strict=True):
        assert b.abs().max() > 0
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-3 * float(b.abs().max()))


def test_shunt_weights_make_three_types_and_keep_the_two_halves() -> None:
    w, x = _network(24, 13)
    w_in = w.w_in.clone()
    w_in[0, SHUNT, 0, :] = 1e-9
    w3 = Weights(w_in, w.w_rec)
    sp, dn = _grads(w3, x, sparse=True), _grads(w3, x, sparse=False)
    for a, b in zip(sp, dn, strict=True):
        assert torch.equal(a, b)
