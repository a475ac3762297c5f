"""Held-out networks and stimuli for judging a twin: random recurrent networks on every core of
every chip with all four synapse types in arbitrary CAM slots, driven by Poisson inputs.

    cfg, stim = random_network(seed, n_chips=1, duration_s=2.0)
    errors = prediction_errors(chip_rates, twin_rates, min_rate_hz=2.0)
"""

from __future__ import annotations

import numpy as np

from hil import events as ev
from hil.chip.config import ChipConfig, Destination, InputRoute, Synapse, mask_bits
from hil.chip.geometry import CORES_PER_CHIP, Dendrite
from hil.experiments.base import NEURONS_PER_CORE, all_neurons_config

N_INPUTS = 48
NEURON_TAG0 = 256  # tag of (core k, neuron n) on its chip: NEURON_TAG0 + k * 256 + n


def random_network(
    seed: int,
    n_chips: int = 1,
    duration_s: float = 2.0,
    rate_hz: tuple[float, float] = (5.0, 30.0),
    n_per_core: int = NEURONS_PER_CORE,
) -> tuple[ChipConfig, np.ndarray]:
    """A random network (module docstring) and its Poisson stimulus, both drawn from `seed`.

    Per neuron: 12-20 input synapses (AMPA or NMDA, random masks 1..15), 6-10 recurrent
    excitatory (AMPA/NMDA) from random excitatory neurons of its chip, 2-5 inhibitory (GABA or
    SHUNT) from the chip's inhibitory neurons (a fifth of each core), in random CAM slots. Inputs:
    N_INPUTS channels per chip, each Poisson at a rate drawn from `rate_hz`. Only neurons
    0..n_per_core-1 of each core are set."""
    rng = np.random.default_rng(seed)
    cfg = all_neurons_config(n_chips, n_per_core=n_per_core)
    inputs = []
    for c in range(n_chips):
        for i in range(N_INPUTS):
            inputs.append(
                InputRoute(channel=c * N_INPUTS + i, chip=c, tag=i, core=(True, True, True, True))
            )
    cfg.inputs = inputs
    n_inh = max(1, n_per_core // 5)
    exc = [(k, n) for k in range(CORES_PER_CHIP) for n in range(n_inh, n_per_core)]
    inh = [(k, n) for k in range(CORES_PER_CHIP) for n in range(n_inh)]
    for _c, k, n, nr in cfg.neurons():
        syn = []
        for t in rng.choice(N_INPUTS, size=int(rng.integers(12, 21)), replace=False):
            d = Dendrite.AMPA if rng.random() < 0.7 else Dendrite.NMDA
            syn.append(Synapse(tag=int(t), dendrite=d, weight=mask_bits(int(rng.integers(1, 8)))))
        for j in rng.choice(len(exc), size=min(len(exc), int(rng.integers(6, 11))), replace=False):
            kk, nn = exc[j]
            d = Dendrite.AMPA if rng.random() < 0.6 else Dendrite.NMDA
            tag = NEURON_TAG0 + kk * NEURONS_PER_CORE + nn
            syn.append(Synapse(tag=tag, dendrite=d, weight=mask_bits(int(rng.integers(1, 4)))))
        for j in rng.choice(len(inh), size=min(len(inh), int(rng.integers(2, 6))), replace=False):
            kk, nn = inh[j]
            d = Dendrite.GABA if rng.random() < 0.5 else Dendrite.SHUNT
            tag = NEURON_TAG0 + kk * NEURONS_PER_CORE + nn
            syn.append(Synapse(tag=tag, dendrite=d, weight=mask_bits(int(rng.integers(1, 8)))))
        order = rng.permutation(64)[: len(syn)]  # arbitrary CAM slots: pad with empty entries
        slots: list[Synapse] = [Synapse(tag=0, dendrite=Dendrite.NONE)] * 64
        for s, sy in zip(order, syn, strict=True):
            slots[int(s)] = sy
        last = int(order.max()) + 1
        nr.synapses = slots[:last]
        nr.destinations = [
            Destination(tag=NEURON_TAG0 + k * NEURONS_PER_CORE + n, core=(True, True, True, True))
        ]
    rates = rng.uniform(*rate_hz, size=n_chips * N_INPUTS)
    t_list, ch_list = [], []
    for ch, r in enumerate(rates):
        k = rng.poisson(r * duration_s)
        t_list.append(np.sort(rng.integers(0, int(duration_s * 1e6), size=k)))
        ch_list.append(np.full(k, ch))
    stim = ev.input_events(np.concatenate(t_list), np.concatenate(ch_list))
    return cfg.validate(), stim


def prediction_errors(
    chip: np.ndarray, model: np.ndarray, alive: np.ndarray, min_rate_hz: float = 2.0
) -> np.ndarray:
    """|model / chip - 1| over the neurons that are alive and fire >= min_rate_hz on the chip."""
    sel = alive & (chip >= min_rate_hz)
    return np.abs(model[sel] / chip[sel] - 1.0)
