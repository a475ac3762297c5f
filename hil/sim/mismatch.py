"""Mismatch by sampling instances: every instance is the same network with its own currents.

p' = p * f per instance, neuron and element, f drawn by hil.chip.mismatch.draw_factors (the
sampler the emulated silicon uses too): by default `normal`, f = 1 + sigma * eps, eps ~ N(0, 1)
(Rockpool's model, reference section 5, sigma = percent / 3), clipped below at 0.05 so that no
current or capacitance reaches zero. Names are hil.chip.netlist's: a NeuronParams field
(`Itau_syn`: every synapse type) or one element of it (`Itau_ampa`, `C_nmda`). Nothing is rebuilt
or recompiled: the result is one NeuronParams with a leading instance dimension.

Why this is not the silicon's model (hil.emulator.silicon): the silicon's truth is hierarchical
(bias-generator branch x core x neuron x drift, per bias current, fixed by a chip's seed); this
is the training-time model of many independent instances, over capacitances too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from hil.chip.mismatch import draw_factors
from hil.chip.netlist import ELEMENTS, FIELDS, element
from hil.errors import ConfigError
from hil.sim.records import NeuronParams

CURRENTS = FIELDS  # every field the sampler perturbs by default (currents and capacitances)


def sample_mismatch(
    params: NeuronParams,
    instances: int,
    sigma: float = 0.1,
    seed: int = 0,
    names: Sequence[str] | None = None,
    family: str = "normal",
) -> NeuronParams:
    """`instances` mismatched copies of a 1-instance `params`: relative spread `sigma` of `family`
    (hil.chip.mismatch.FAMILIES) on `names` (default: every current and capacitance), drawn from
    numpy's generator seeded with `seed`."""
    names = FIELDS if names is None else tuple(names)
    unknown = sorted(set(names) - set(FIELDS) - set(ELEMENTS))
    if unknown:
        raise ConfigError(
            "names", unknown, "fields or elements: " + ", ".join(FIELDS + tuple(ELEMENTS))
        )
    if isinstance(instances, bool) or not isinstance(instances, int) or instances < 1:
        raise ConfigError("instances", instances, "an integer >= 1")
    rng = np.random.default_rng(seed)
    base = params.expand(instances)
    changes: dict[str, torch.Tensor] = {}
    for name in names:
        field, syn = element(name)
        v = changes.get(field, getattr(base, field))
        shape = tuple(v.shape) if syn is None else tuple(v[:, syn].shape)
        f = torch.as_tensor(draw_factors(rng, family, sigma, shape), dtype=v.dtype)
        if syn is not None:  # one synapse type: factor 1 on the other rows
            f = torch.ones_like(v).index_copy(1, torch.tensor([syn]), f.unsqueeze(1))
        changes[field] = v * f
    return base.replace(**changes)
