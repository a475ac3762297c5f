"""simulate's shortcut for weights made by Weights.from_signed (hil.sim.network._from_signed):
the kernel layout built straight from the AMPA and GABA parts gives the same spikes and the same
gradients bit for bit as the general path through the four-type tensors, and is not used once
those tensors were written in place or the Weights were copied with `replace`."""

from __future__ import annotations

import dataclasses

import torch

from hil.sim import NeuronParams, Weights, simulate
from hil.sim.records import AMPA, GABA

N, NIN = 12, 5


def _signed(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return 3.0 * torch.randn(NIN, N, generator=g), 1.5 * torch.randn(N, N, generator=g)


def _inputs(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed + 100)
    return (torch.rand(3, 60, NIN, generator=g) < 0.3).float()


def _run(w: Weights, x: torch.Tensor) -> torch.Tensor:
    return simulate(NeuronParams.nominal(N), w, x, rec_grad=1.0).spikes


def _general(w: Weights) -> Weights:
    """The same four-type tensors (same autograd history) without from_signed's parts."""
    return Weights(w.w_in, w.w_rec)


def test_shortcut_matches_the_four_type_path_bit_for_bit() -> None:
    for seed in (3, 11):
        a_in, a_rec = (t.clone().requires_grad_() for t in _signed(seed))
        b_in, b_rec = (t.clone().requires_grad_() for t in _signed(seed))
        wa = Weights.from_signed(a_in, a_rec)
        wb = _general(Weights.from_signed(b_in, b_rec))
        assert wa.signed_parts() is not None and wb.signed_parts() is None
        x = _inputs(seed)
        sa, sb = _run(wa, x), _run(wb, x)
        assert sa.sum() > 0 and torch.equal(sa, sb)
        (sa * torch.linspace(0, 1, N)).sum().backward()
        (sb * torch.linspace(0, 1, N)).sum().backward()
        assert a_rec.grad is not None and a_rec.grad.abs().sum() > 0
        assert torch.equal(a_in.grad, b_in.grad) and torch.equal(a_rec.grad, b_rec.grad)


def test_one_sign_only_and_no_recurrent_weights() -> None:
    w_in, w_rec = _signed(5)
    x = _inputs(5)
    for wi, wr in ((w_in.abs(), w_rec.abs()), (w_in.abs(), None), (w_in, -w_rec.abs())):
        ws = Weights.from_signed(wi.requires_grad_(), wr)
        assert torch.equal(_run(ws, x), _run(_general(ws), x))


def test_parts_are_dropped_after_an_in_place_write_or_replace() -> None:
    w_in, w_rec = _signed(7)
    x = _inputs(7)
    with torch.no_grad():
        w = Weights.from_signed(w_in, w_rec)
        assert w.signed_parts() is not None
        w.w_rec[0, GABA] = 0.0  # no inhibition left: the parts are stale now
        w.w_rec[0, AMPA, 0, :] *= 3.0
        assert torch.equal(_run(w, x), _run(Weights(w.w_in.clone(), w.w_rec.clone()), x))
        assert w.signed_parts() is None
        w2 = Weights.from_signed(w_in, w_rec)
        copy = dataclasses.replace(w2, w_rec=torch.zeros_like(w2.w_rec))
        assert torch.equal(_run(copy, x), _run(Weights(w2.w_in, torch.zeros_like(w2.w_rec)), x))
        assert copy.signed_parts() is None
