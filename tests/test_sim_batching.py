"""Instances and batches: one call equals the same runs one by one; seeds reproduce spikes."""

from __future__ import annotations

import numpy as np
import torch

from hil import events as ev
from hil.board import open_board
from hil.chip.example import N_INPUTS, example_config
from hil.sim import NeuronParams, Weights, sample_mismatch, simulate


def network(
    n: int = 32, n_in: int = 8, seed: int = 0
) -> tuple[NeuronParams, Weights, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w_in = torch.rand(n_in, n, generator=g) * 6
    w_rec = torch.randn(n, n, generator=g) * 0.5
    x = (torch.rand(3, 300, n_in, generator=g) < 0.05).float()
    return NeuronParams.nominal(n), Weights.from_signed(w_in, w_rec), x


def test_instances_in_one_call_equal_the_instances_one_by_one() -> None:
    p, w, x = network()
    inst = sample_mismatch(p, 5, sigma=0.2, seed=3)
    with torch.no_grad():
        together = simulate(inst, w, x).spikes
        alone = torch.cat([simulate(inst.select(i), w, x).spikes for i in range(5)])
    assert together.sum() > 0
    assert torch.equal(together, alone)
    assert not torch.equal(together[0], together[1])  # the instances do differ


def test_batch_entries_equal_separate_runs_and_per_instance_weights_work() -> None:
    p, w, x = network()
    with torch.no_grad():
        together = simulate(p, w, x).spikes
        alone = torch.cat([simulate(p, w, x[b : b + 1]).spikes for b in range(3)], dim=1)
        assert torch.equal(together, alone)
        w2 = Weights(w.w_in.expand(2, -1, -1, -1).clone(), w.w_rec.expand(2, -1, -1, -1).clone())
        w2.w_in[1] *= 0.5
        two = simulate(p.expand(2), w2, x).spikes
    assert torch.equal(two[0], together[0])
    assert two[1].sum() < two[0].sum()


def test_mismatch_sampling_is_seeded() -> None:
    p = NeuronParams.nominal(16)
    a, b = sample_mismatch(p, 4, seed=1), sample_mismatch(p, 4, seed=1)
    c = sample_mismatch(p, 4, seed=2)
    assert torch.equal(a.Itau_mem, b.Itau_mem)
    assert not torch.equal(a.Itau_mem, c.Itau_mem)
    rel = a.Itau_mem / p.Itau_mem - 1
    assert 0.05 < float(rel.std()) < 0.15  # sigma = 0.1


def test_same_seed_gives_the_same_spikes_on_the_board() -> None:
    stim = ev.poisson_input(60.0, N_INPUTS, 0.3, seed=5)
    runs = []
    for seed in (7, 7, 8):
        with open_board(f"sim://?seed={seed}&noise=2e-11") as b:
            b.apply(example_config())
            runs.append(b.run(stim, 0.3))
    assert runs[0].size > 0
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])  # the noise follows the seed


def test_board_state_continues_across_runs_until_reset() -> None:
    stim = ev.poisson_input(80.0, N_INPUTS, 0.2, seed=2)
    with open_board("sim://") as b:
        b.apply(example_config())
        first = b.run(stim, 0.2)
        b.reset()
        again = b.run(stim, 0.2)
    assert np.array_equal(first, again)


def test_per_neuron_noise_is_seeded_and_only_where_asked() -> None:
    p = NeuronParams.nominal(3).replace(Idc=torch.full((1, 3), 30e-12))
    x = torch.zeros(1, 500, 1)
    sd = torch.tensor([[[0.0, 0.0, 5e-11]]])

    def run(seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            return simulate(p, Weights.zeros(1, 3), x, noise=sd, generator=g, times=True).spikes

    a, b, c = run(1), run(1), run(2)
    assert torch.equal(a, b) and not torch.equal(a[..., 2], c[..., 2])
    assert torch.equal(a[..., 0], a[..., 1]) and torch.equal(a[..., 0], c[..., 0])
