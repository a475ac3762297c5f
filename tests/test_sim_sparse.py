"""Sparse recurrent rows (hil.sim.sparse): the same spikes and gradients as dense rows, as the
per-bin torch path, and batched as one by one; the ELL table from a config's netlist holds exactly
the config's recurrent weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hil.chip.example import example_config
from hil.chip.netlist import build_netlist
from hil.sim import NeuronParams, Weights, compile_config, simulate
from hil.sim.sparse import ell_from_netlist, fanout, use_sparse


def _network(n: int = 96, fan_in: int = 8, seed: int = 5) -> tuple:
    g = torch.Generator().manual_seed(seed)
    w_rec = torch.zeros(n, n)
    for post in range(n):
        pre = torch.randperm(n, generator=g)[:fan_in]
        w_rec[pre, post] = torch.randn(fan_in, generator=g) * 1.5  # AMPA and GABA
    w_in = torch.eye(n) * 4
    x = torch.poisson(torch.full((3, 150, n), 0.03), generator=g)
    return w_in, w_rec, x


def test_fanout_rows_hold_the_non_zeros_in_dense_order() -> None:
    w = np.array([[0, 2, 0, 3], [0, 0, 0, 0], [5, 0, 0, 1]], np.float32)
    ptr, cols, vals = fanout(w)
    assert ptr.tolist() == [0, 2, 2, 4]
    assert cols.tolist() == [1, 3, 0, 3] and vals.tolist() == [2, 3, 5, 1]
    assert use_sparse(np.eye(16, dtype=np.float32)) and not use_sparse(w)


def test_sparse_dense_torch_and_batched_paths_give_identical_spikes() -> None:
    w_in, w_rec, x = _network()
    p = NeuronParams.nominal(96)
    w = Weights.from_signed(w_in, w_rec)
    with torch.no_grad():
        sparse = simulate(p, w, x, sparse=True).spikes
        dense = simulate(p, w, x, sparse=False).spikes
        auto = simulate(p, w, x).spikes  # 8 of 96 sources per neuron: sparse by default
        torch_path = simulate(p, w, x, fused=False).spikes
        one_by_one = torch.cat(
            [simulate(p, w, x[b : b + 1], sparse=True).spikes for b in range(3)], 1
        )
    assert sparse.sum() > 100
    for other in (dense, auto, torch_path, one_by_one):
        assert torch.equal(sparse, other)


@pytest.mark.parametrize("rec_grad", [0.0, 1.0])
def test_sparse_and_dense_backward_give_identical_gradients(rec_grad: float) -> None:
    w_in0, w_rec0, x = _network()
    p = NeuronParams.nominal(96)
    res = {}
    for name, kw in (
        ("sparse", {"sparse": True}),
        ("dense", {"sparse": False}),
        ("torch", {"fused": False}),
    ):
        w_in = w_in0.clone().requires_grad_(True)
        w_rec = w_rec0.clone().requires_grad_(True)
        out = simulate(p, Weights.from_signed(w_in, w_rec), x, rec_grad=rec_grad, **kw).spikes
        weights = torch.cos(torch.arange(out.numel(), dtype=torch.float32)).reshape(out.shape)
        (out * weights).sum().backward()
        res[name] = (out.detach(), w_in.grad, w_rec.grad)
    assert torch.equal(res["sparse"][0], res["dense"][0])
    assert torch.equal(res["sparse"][1], res["dense"][1])
    assert torch.equal(res["sparse"][2], res["dense"][2])
    for a, b in zip(res["sparse"][1:], res["torch"][1:], strict=True):
        assert b.abs().max() > 0
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-3 * float(b.abs().max()))


def test_the_ell_table_of_a_config_holds_its_recurrent_weights() -> None:
    cfg = example_config(seed=3)
    c = compile_config(cfg)
    assert c.netlist is not None
    ell = ell_from_netlist(c.netlist)
    assert ell.width <= 64 and ell.source.shape[0] == c.params.neurons
    assert (ell.source >= 0).sum() > 0
    assert np.allclose(ell.dense(), c.weights.w_rec[0].double().numpy(), rtol=1e-6, atol=0)
    assert build_netlist(cfg).neurons.size == ell.source.shape[0]
