"""What the twin predicts a deployment does: its network neurons' rates on the twin (hil.sim run on
the deployment's config with the twin's per-neuron currents and, when it has them, CAM-slot weight
factors) under a probe stimulus, against the same network deployed nominally on the nominal chip.

`choose` uses that prediction to pick among candidate deployments (deploy's twin placement with
and without mask compensation, and naive placement): the twin decides, the report says what it
predicted for each, and nothing is switched without being reported.

Probe: Poisson input at PROBE_RATE_HZ on every input channel for PROBE_S seconds (seed
PROBE_SEED), dt 1 ms. Predicted error: sqrt(mean((r - r_ref)^2)) / sqrt(mean(r_ref^2)) over the
network's neurons, r on the twin, r_ref nominal. Dead neurons (the twin's flag) are predicted
silent; hot neurons are simulated with their currents only (their extra current is not in a
twin's factors), so a prediction understates what a hot neuron costs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hil.chip.netlist import board_currents
from hil.deploy.placement import Twin
from hil.events import events_to_raster, poisson_input

if TYPE_CHECKING:
    from hil.deploy.deploy import Deployment

PROBE_RATE_HZ = 20.0
PROBE_S = 1.0
PROBE_SEED = 0
DT = 1e-3


def probe(n_inputs: int) -> np.ndarray:
    """The probe stimulus: (events) Poisson at PROBE_RATE_HZ on each of `n_inputs` channels."""
    return poisson_input(PROBE_RATE_HZ, n_inputs, PROBE_S, seed=PROBE_SEED)


def simulated_rates(dep: Deployment, stimulus: np.ndarray, twin: Twin | None = None) -> np.ndarray:
    """(N,) rates [Hz] of `dep`'s network neurons in hil.sim: nominal currents, or the twin's."""
    import torch

    from hil.sim import compile_config, simulate

    currents = None
    weight_factor = None
    if twin is not None:
        nominal = board_currents(dep.config, twin.n_chips)
        currents = {k: nominal[k] * twin.factors[k] for k in twin.factors}
        weight_factor = twin.weight_factor
    cc = compile_config(dep.config, currents=currents, weight_factor=weight_factor)
    raster = events_to_raster(stimulus, DT, PROBE_S, n_columns=int(cc.channels.max()) + 1)
    inputs = torch.as_tensor(raster[:, cc.channels], dtype=cc.weights.w_in.dtype)[None]
    with torch.no_grad():
        res = simulate(cc.params, cc.weights, inputs, dt=DT)
    r = res.spikes.sum(dim=2)[0, 0].numpy() / PROBE_S
    out = r[np.searchsorted(cc.neurons, dep.placement.neurons)].astype(np.float64)
    if twin is not None:
        out[twin.dead[dep.placement.neurons]] = 0.0
    return out


def choose(
    candidates: dict[str, Deployment], reference: Deployment, twin: Twin
) -> tuple[str, dict[str, float]]:
    """(name of the candidate the twin predicts closest to `reference`, predicted error of each).
    candidates: name -> Deployment, in order of preference (ties keep the earlier one)."""
    stim = probe(reference.network.n_inputs)
    ref = simulated_rates(reference, stim)
    denom = float(np.sqrt(np.mean(ref**2))) or 1.0
    predicted = {
        name: float(np.sqrt(np.mean((simulated_rates(d, stim, twin) - ref) ** 2))) / denom
        for name, d in candidates.items()
    }
    best = min(predicted, key=lambda n: predicted[n])
    return best, predicted
