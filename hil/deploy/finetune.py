"""Chip-in-the-loop fine-tuning: the forward pass on the board, the gradient from the chip's twin.

As BrainScaleS-2's hxtorch does on its hardware: each iteration runs the deployed network on the
board (one board run) and takes the per-neuron rate error against the target rates; the gradient
of that error with respect to every synapse's weight current comes from the twin (hil.sim run on
the deployment's config with the twin's per-neuron currents: `compile_config(currents=...)`),
evaluated as d(sum_i r_sim,i * e_i)/dw with e = r_chip - r_target, i.e. the chip's error pushed
back through the twin's Jacobian. Each synapse's magnitude then moves multiplicatively,
w <- w exp(-eta g w / rms(g w)), and is re-rounded to the nearest non-zero level of its core's
base weights (the base weights and biases stay; masks change, signs never). The best
deployment seen on the board is kept; a step that does not improve it on the board is retried
from the best with half the step size (a backtracking line search run on the chip).

Cost: iterations + 1 board runs (the last one measures the final deployment). The errors it
returns are in-sample (the run that chose the best); judge the result on held-out input.

The target rates are the caller's: `hil finetune` takes them from the same deployment on the
nominal simulator (sim://, no mismatch, noise, dead or hot neurons): the chip the network was
designed for.

`finetune_task` tunes for the task instead (the same step and line search): each iteration runs a
fixed set of the task's samples on the board, one board run per sample (hil.deploy.evaluate's
`board_neuron_counts`), and scores the board's class counts c (each class's output neurons'
counts summed) with the loss training minimizes (hil.train.trainer.class_loss of class_logits:
cross-entropy of logit_scale * c, * log(1 + c) or * log(1 + log(1 + c)), as the model was
trained). The gradient is the chip's loss gradient pushed through the twin: d(sum_{s,k}
n_sim,s,k G_s,k)/dw with G = dL/dc at the chip's counts, n_sim the twin's class counts of the
same samples (hil.sim with the twin's currents, CAM-slot factors and dead neurons, as
hil.deploy.predict simulates it). The accuracies it reports decode the same runs as the model
says (hil.train.model.class_scores). Cost: (iterations + 1) * samples board runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from hil.board import Board
from hil.chip.geometry import Dendrite
from hil.chip.netlist import TYPE_INDEX
from hil.deploy.deploy import Deployment
from hil.deploy.mapping import to_config
from hil.deploy.placement import base_weights
from hil.errors import ConfigError
from hil.events import events_to_raster, global_index
from hil.quantize.weights import assign_nonzero, levels_per_core
from hil.tasks import Split, accuracy

if TYPE_CHECKING:
    from hil.deploy.placement import Twin
    from hil.sim.compile import CompiledConfig

S = TypeVar("S")


def rate_error(r: np.ndarray, ref: np.ndarray) -> float:
    """sqrt(mean((r - ref)^2)) / sqrt(mean(ref^2)) over the network's neurons (rates [Hz])."""
    return float(np.sqrt(np.mean((r - ref) ** 2) / np.mean(ref**2)))


def board_rates(
    board: Board, dep: Deployment, stimulus: np.ndarray, duration_s: float
) -> np.ndarray:
    """(N,) rates [Hz] of the network's neurons on `board` (one run)."""
    board.apply(dep.config)
    out = board.run(stimulus, duration_s)
    counts = np.bincount(global_index(out), minlength=int(dep.placement.neurons.max()) + 1)
    return counts[dep.placement.neurons] / duration_s


def count_gradient(
    dep: Deployment, cc: CompiledConfig, inputs: np.ndarray, weight: np.ndarray, dt: float
) -> tuple[np.ndarray, np.ndarray]:
    """d(sum_{s,i} n_s,i weight_s,i)/dw in hil.sim: n_s,i the spike count of network neuron i in
    sample s when `cc` (dep's config, compiled with the twin) runs `inputs` (samples, T,
    cc.channels) counts per bin of `dt` [s]; weight (samples, N). Returns (g_in (n_inputs, N),
    g_rec (N, N)) per synapse of the network [weight unit / A], for the type each synapse has
    (zero where there is none)."""
    import torch

    from hil.sim import Weights, simulate

    w_in = cc.weights.w_in.clone().requires_grad_(True)
    w_rec = cc.weights.w_rec.clone().requires_grad_(True)
    x = torch.as_tensor(inputs, dtype=w_in.dtype)
    res = simulate(cc.params, Weights(w_in, w_rec), x, dt=dt)
    counts = res.spikes.sum(dim=2)[0]  # (samples, N_sim)
    col = np.searchsorted(cc.neurons, dep.placement.neurons)
    w = torch.as_tensor(weight, dtype=counts.dtype)
    (counts[:, torch.as_tensor(col)] * w).sum().backward()
    # no gradient reaches a weight the simulation skips (e.g. w_rec of a feed-forward network)
    gi, gr = (
        np.zeros(tuple(t.shape[1:])) if t.grad is None else t.grad[0].numpy() for t in (w_in, w_rec)
    )  # (4, C, N_sim), (4, N_sim, N_sim)
    net = dep.network
    ampa, gaba = TYPE_INDEX[Dendrite.AMPA], TYPE_INDEX[Dendrite.GABA]
    rows = np.searchsorted(cc.channels, dep.placement.channels)
    g_in = np.where(net.sign_in > 0, gi[ampa][np.ix_(rows, col)], gi[gaba][np.ix_(rows, col)])
    g_rec = np.where(net.sign_rec > 0, gr[ampa][np.ix_(col, col)], gr[gaba][np.ix_(col, col)])
    return g_in * (net.masks_in > 0), g_rec * (net.masks_rec > 0)


def twin_gradient(
    dep: Deployment,
    currents: Mapping[str, np.ndarray],
    stimulus: np.ndarray,
    duration_s: float,
    error: np.ndarray,
    dt: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray]:
    """d(sum_i r_i e_i)/dw from the twin: (g_in (n_inputs, N), g_rec (N, N)) per synapse of the
    network [Hz^2 / A], for the type each synapse has (zero where there is none)."""
    from hil.sim import compile_config

    cc = compile_config(dep.config, currents=currents)
    raster = events_to_raster(stimulus, dt, duration_s, n_columns=int(cc.channels.max()) + 1)
    weight = np.asarray(error, dtype=np.float64)[None] / duration_s
    return count_gradient(dep, cc, raster[None, :, cc.channels], weight, dt)


def task_loss(
    counts: np.ndarray, y: np.ndarray, logits: str, logit_scale: float
) -> tuple[float, np.ndarray]:
    """(loss, dloss/dcounts (samples, classes)): training's loss (hil.train.trainer.class_loss) of
    class counts (samples, classes) against labels y (samples,), the logits `logits` (one of
    hil.train.LOGITS) times logit_scale (hil.train.trainer.class_logits)."""
    import torch

    from hil.train.trainer import class_logits, class_loss

    c = torch.as_tensor(np.asarray(counts, dtype=np.float64)).requires_grad_(True)
    scores = class_logits(c, logits, logit_scale)
    loss = class_loss(scores, torch.as_tensor(np.asarray(y, dtype=np.int64)))
    loss.backward()
    assert c.grad is not None
    return float(loss.detach()), c.grad.numpy()


def task_gradient(
    dep: Deployment, twin: Twin, split: Split, dt: float, dloss: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """d(sum_{s,k} n_s,k dloss_s,k)/dw: n_s,k class k's count in sample s of `split` on the twin
    (hil.deploy.predict's simulation: the twin's currents, CAM-slot factors, dead neurons silent,
    inputs through the map), dloss (samples, classes) the loss gradient at the chip's counts;
    (g_in, g_rec) as count_gradient's."""
    from hil.deploy.predict import board_raster, compiled

    cc = compiled(dep, twin)
    weight = np.zeros((len(split), dep.network.n_neurons))
    for c, neurons in enumerate(dep.network.outputs):
        weight[:, neurons] = dloss[:, c : c + 1]
    weight[:, twin.dead[dep.placement.neurons]] = 0.0  # the twin predicts them silent
    inputs = board_raster(dep, cc, split.x)[:, :, cc.channels]
    return count_gradient(dep, cc, inputs, weight, dt)


def _step(dep: Deployment, g_in: np.ndarray, g_rec: np.ndarray, eta: float) -> Deployment:
    net = dep.network
    iw = base_weights(dep.config, dep.placement.cores)
    lv = levels_per_core(iw)
    new = {}
    for part, g in (("in", g_in), ("rec", g_rec)):
        masks = getattr(net, f"masks_{part}").copy()
        on = masks > 0
        w = lv[net.core_of[None, :].repeat(masks.shape[0], 0), masks]
        # a synapse's own charge is positive; the sign of its effect is in the gradient's sign
        gw = g * w
        scale = float(np.sqrt(np.mean(gw[on] ** 2))) if on.any() else 0.0
        if scale > 0:
            w = w * np.exp(-eta * gw / scale)
        for post in range(net.n_neurons):
            rows = np.flatnonzero(on[:, post])
            if rows.size:
                masks[rows, post] = assign_nonzero(w[rows, post], iw[net.core_of[post]])
        new[part] = masks
    tuned = replace(net, masks_in=new["in"], masks_rec=new["rec"])
    return Deployment(to_config(tuned, dep.placement), tuned, dep.placement, dict(dep.report))


def _descend(
    dep: Deployment,
    measure: Callable[[Deployment], tuple[float, S]],
    gradient: Callable[[Deployment, S], tuple[np.ndarray, np.ndarray]],
    iterations: int,
    eta: float,
) -> tuple[Deployment, list[float]]:
    """The board-in-the-loop descent both objectives share: `measure(dep)` runs dep on the board
    and gives (error, what `gradient` needs); each step goes from the best deployment seen along
    the twin's gradient; a step that does not lower the board's error is retried from the best
    with half the step size. Returns (best, error of each measurement)."""
    history: list[float] = []
    best, best_err = dep, np.inf
    for it in range(iterations + 1):
        err, state = measure(dep)
        history.append(err)
        if err < best_err:
            best, best_err, best_state = dep, err, state
        else:
            eta /= 2  # the step overshot on the board: try a shorter one from the best
        if it == iterations:
            break
        if it == 0 or err <= best_err:
            g_in, g_rec = gradient(best, best_state)
        dep = _step(best, g_in, g_rec, eta)
    return best, history


def finetune(
    dep: Deployment,
    board: Board,
    currents: Mapping[str, np.ndarray],
    stimulus: np.ndarray,
    duration_s: float,
    target: np.ndarray,
    iterations: int = 5,
    eta: float = 0.3,
) -> tuple[Deployment, list[float]]:
    """(best deployment, rate error of each board run) after `iterations` steps (module
    docstring). target: (N,) rates [Hz] per network neuron; currents: the twin's per-neuron
    effective currents over the board-wide index (simulation name -> (n_chips * 1024,))."""
    target = np.asarray(target, dtype=np.float64)
    if target.shape != (dep.network.n_neurons,) or not np.isfinite(target).all():
        raise ConfigError("target", target.shape, f"({dep.network.n_neurons},) finite rates [Hz]")
    denom = float(np.sqrt(np.mean(target**2))) or 1.0

    def measure(d: Deployment) -> tuple[float, np.ndarray]:
        r = board_rates(board, d, stimulus, duration_s)
        return float(np.sqrt(np.mean((r - target) ** 2))) / denom, r - target

    def gradient(d: Deployment, error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return twin_gradient(d, currents, stimulus, duration_s, error)

    return _descend(dep, measure, gradient, iterations, eta)


def finetune_task(
    dep: Deployment,
    board: Board,
    twin: Twin,
    split: Split,
    dt: float,
    logits: str,
    logit_scale: float,
    iterations: int = 5,
    eta: float = 0.3,
) -> tuple[Deployment, list[float], list[float]]:
    """(best deployment, board loss of each iteration, board accuracy of each iteration) after
    `iterations` steps on the task objective (module docstring): `split` the tuning samples
    (never the test split), `dt` [s] the task's bin, `logits` and `logit_scale` the model's
    (training's: hil.train.trainer.class_logits).
    (iterations + 1) * len(split) board runs; the losses and accuracies are in-sample."""
    from hil.deploy.evaluate import board_neuron_counts
    from hil.train import check_logits
    from hil.train.model import class_scores

    if len(split) < 1:
        raise ConfigError("tuning samples", len(split), "at least 1")
    if not (np.isfinite(logit_scale) and logit_scale > 0):
        raise ConfigError("logit_scale", logit_scale, "a finite number > 0")
    check_logits(logits)  # before any board run
    accuracies: list[float] = []

    def measure(d: Deployment) -> tuple[float, np.ndarray]:
        n = board_neuron_counts(board, d, split, dt)
        decoded = class_scores(n, d.network.outputs, d.network.decode)
        accuracies.append(float(accuracy(decoded, split.y)))
        counts = class_scores(n, d.network.outputs, "sum")
        loss, dloss = task_loss(counts, split.y, logits, logit_scale)
        return loss, dloss

    def gradient(d: Deployment, dloss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return task_gradient(d, twin, split, dt, dloss)

    best, losses = _descend(dep, measure, gradient, iterations, eta)
    return best, losses, accuracies
