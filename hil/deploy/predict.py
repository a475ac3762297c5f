"""What the twin predicts a deployment does: its network neurons' rates on the twin (hil.sim run on
the deployment's config with the twin's per-neuron currents and, when it has them, CAM-slot weight
factors) under a probe stimulus, against the same network deployed nominally on the nominal chip.

`choose` uses that prediction to pick among candidate deployments (deploy's twin placement with
and without mask compensation, and naive placement): the twin decides, the report says what it
predicted for each, and nothing is switched without being reported. When the model's task is
known, the twin also predicts each candidate's accuracy on VAL_SAMPLES samples of the task's
validation split (the same twin simulation, batched over samples, classes read through the
deployment's map as hil.deploy.evaluate reads a board), and that decides: what the deployment is
for, rather than a probe's rates.

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
from hil.tasks import Split, Task, accuracy
from hil.train.model import class_scores

if TYPE_CHECKING:
    from hil.deploy.deploy import Deployment
    from hil.sim.compile import CompiledConfig

PROBE_RATE_HZ = 20.0
PROBE_S = 1.0
PROBE_SEED = 0
DT = 1e-3
# Validation samples the accuracy criterion simulates per candidate: 128 gives a resolution of 0.8
# points, well under the 4-41 point differences between candidates it has to tell apart
# (docs/training.md 4.2), is all of frozen-noise-16's validation split, and keeps the selection
# to seconds per deploy (wall time: docs/deploy.md section 4).
VAL_SAMPLES = 128


def probe(n_inputs: int) -> np.ndarray:
    """The probe stimulus: (events) Poisson at PROBE_RATE_HZ on each of `n_inputs` channels."""
    return poisson_input(PROBE_RATE_HZ, n_inputs, PROBE_S, seed=PROBE_SEED)


def compiled(dep: Deployment, twin: Twin | None) -> CompiledConfig:
    """`dep`'s config compiled for hil.sim: nominal currents, or the twin's (its per-neuron current
    factors on the config's nominal currents, and its CAM-slot weight factors when it has them)."""
    from hil.sim import compile_config

    currents = None
    weight_factor = None
    if twin is not None:
        nominal = board_currents(dep.config, twin.n_chips)
        currents = {k: nominal[k] * twin.factors[k] for k in twin.factors}
        weight_factor = twin.weight_factor
    return compile_config(dep.config, currents=currents, weight_factor=weight_factor)


def _simulated_counts(
    cc: CompiledConfig, raster: np.ndarray, twin: Twin | None, dt: float
) -> np.ndarray:
    """(batch, N) spike counts of every simulated neuron (cc.neurons) for `raster`
    (batch, T, board channels) counts per bin of `dt` [s]; the twin's dead neurons are silent."""
    import torch

    from hil.sim import simulate

    inputs = torch.as_tensor(raster[:, :, cc.channels], dtype=cc.weights.w_in.dtype)
    with torch.no_grad():
        res = simulate(cc.params, cc.weights, inputs, dt=dt)
    counts = res.spikes.sum(dim=2)[0].numpy().astype(np.int64)
    if twin is not None:
        counts[:, twin.dead[cc.neurons]] = 0
    return counts


def simulated_rates(dep: Deployment, stimulus: np.ndarray, twin: Twin | None = None) -> np.ndarray:
    """(N,) rates [Hz] of `dep`'s network neurons in hil.sim: nominal currents, or the twin's."""
    cc = compiled(dep, twin)
    raster = events_to_raster(stimulus, DT, PROBE_S, n_columns=int(cc.channels.max()) + 1)
    counts = _simulated_counts(cc, raster[None], twin, DT)[0] / PROBE_S
    return counts[np.searchsorted(cc.neurons, dep.placement.neurons)].astype(np.float64)


def spaced_subset(split: Split, n: int) -> Split:
    """`n` samples of `split` evenly spaced over it (all of them if it has fewer), so a split
    ordered by class keeps every class."""
    if len(split) <= n:
        return split
    idx = np.linspace(0, len(split) - 1, n).round().astype(np.int64)
    return Split(split.x[idx], split.y[idx])


def validation_subset(split: Split) -> Split:
    """VAL_SAMPLES samples of `split` evenly spaced over it (`spaced_subset`)."""
    return spaced_subset(split, VAL_SAMPLES)


def board_raster(dep: Deployment, cc: CompiledConfig, x: np.ndarray) -> np.ndarray:
    """(samples, T, board channels) float32: task inputs `x` (samples, T, task channels) counts
    per bin on the board channels `dep`'s map gives them (task channel i -> board channel
    placement.channels[i]), as wide as `cc`'s channels need."""
    channels = np.asarray(dep.placement.channels, dtype=np.int64)
    width = max(int(cc.channels.max()), int(channels.max())) + 1
    board = np.zeros(x.shape[:2] + (width,), dtype=np.float32)
    for i, c in enumerate(channels):
        board[:, :, c] += x[:, :, i]
    return board


def simulated_neuron_counts(
    dep: Deployment, split: Split, dt: float, twin: Twin | None = None
) -> np.ndarray:
    """(samples, N) spike counts of `dep`'s network neurons when it runs `split` in hil.sim
    (nominal currents, or the twin's; all samples in one batch, `dt` [s] the task's bin).
    Inputs and outputs go through the deployment map as hil.deploy.evaluate does on a board: task
    channel i drives board channel placement.channels[i] (unrouted channels drive nothing), and a
    network neuron's count is the spikes of the board neuron the map places it on (silent when the
    compiled config does not simulate that neuron)."""
    cc = compiled(dep, twin)
    counts = _simulated_counts(cc, board_raster(dep, cc, split.x), twin, dt)
    placed = np.asarray(dep.placement.neurons, dtype=np.int64)
    out = np.zeros((len(split), placed.size), dtype=np.int64)
    pos = np.searchsorted(cc.neurons, placed)
    simulated = pos < cc.neurons.size
    simulated[simulated] = cc.neurons[pos[simulated]] == placed[simulated]
    out[:, simulated] = counts[:, pos[simulated]]
    return out


def predicted_accuracy(dep: Deployment, split: Split, dt: float, twin: Twin) -> float:
    """Fraction of `split` the twin predicts `dep` classifies correctly: the class scores decoded
    as the model says (hil.train.model.class_scores), hil.tasks.accuracy."""
    counts = simulated_neuron_counts(dep, split, dt, twin)
    return float(accuracy(class_scores(counts, dep.network.outputs, dep.network.decode), split.y))


def choose(
    candidates: dict[str, Deployment], reference: Deployment, twin: Twin, task: Task | None = None
) -> tuple[str, dict[str, dict[str, float]], str]:
    """(name of the chosen candidate, predictions, criterion that decided).

    candidates: name -> Deployment, in order of preference (ties keep the earlier one).
    predictions: {"rate_error": name -> predicted rate error against `reference`} always, and with
    a `task` also {"accuracy": name -> predicted accuracy on VAL_SAMPLES samples of its
    validation split}. Criterion: "accuracy" (highest wins) with a task, else "rate_error"
    (lowest wins)."""
    stim = probe(reference.network.n_inputs)
    ref = simulated_rates(reference, stim)
    denom = float(np.sqrt(np.mean(ref**2))) or 1.0
    rate_error = {
        name: float(np.sqrt(np.mean((simulated_rates(d, stim, twin) - ref) ** 2))) / denom
        for name, d in candidates.items()
    }
    predictions = {"rate_error": rate_error}
    if task is None:
        return min(rate_error, key=lambda n: rate_error[n]), predictions, "rate_error"
    val = validation_subset(task.val)
    acc = {name: predicted_accuracy(d, val, task.dt, twin) for name, d in candidates.items()}
    predictions["accuracy"] = acc
    return max(acc, key=lambda n: acc[n]), predictions, "accuracy"
