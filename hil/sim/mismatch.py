"""Mismatch by sampling instances: every instance is the same network with its own currents.

p' = p (1 + sigma * eps), eps ~ N(0, 1) independent per instance, neuron and current (Rockpool's
model, reference section 5, sigma = percent / 3), clipped below at 0. Nothing is rebuilt or
recompiled: the result is one NeuronParams with a leading instance dimension.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hil.errors import ConfigError
from hil.sim.records import NeuronParams

CURRENTS = (
    "Itau_mem",
    "Igain_mem",
    "Ispkthr",
    "Iref",
    "Idc",
    "Itau_ahp",
    "Igain_ahp",
    "Iw_ahp",
    "Ipulse_ahp",
    "Ipulse",
    "If_nmda",
    "Itau_syn",
    "Igain_syn",
    "C_mem",
    "C_ahp",
    "C_ref",
    "C_pulse",
    "C_pulse_ahp",
    "C_syn",
)


def sample_mismatch(
    params: NeuronParams,
    instances: int,
    sigma: float = 0.1,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> NeuronParams:
    """`instances` mismatched copies of a 1-instance `params`; relative s.d. `sigma` on `names`
    (default: every current and capacitance)."""
    g = torch.Generator().manual_seed(seed)
    base = params.expand(instances)
    names = CURRENTS if names is None else tuple(names)
    unknown = set(names) - set(CURRENTS)
    if unknown:
        raise ConfigError("names", sorted(unknown), "any of " + ", ".join(CURRENTS))
    changes = {}
    for name in names:
        v = getattr(base, name)
        eps = torch.randn(v.shape, generator=g, dtype=v.dtype)
        changes[name] = (v * (1.0 + sigma * eps)).clamp(min=0.0)
    return base.replace(**changes)
