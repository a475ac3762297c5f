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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

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
    import torch

    from hil.sim import Weights, compile_config, simulate

    cc = compile_config(dep.config, currents=currents)
    w_in = cc.weights.w_in.clone().requires_grad_(True)
    w_rec = cc.weights.w_rec.clone().requires_grad_(True)
    raster = events_to_raster(stimulus, dt, duration_s, n_columns=int(cc.channels.max()) + 1)
    inputs = torch.as_tensor(raster[:, cc.channels], dtype=w_in.dtype)[None]
    res = simulate(cc.params, Weights(w_in, w_rec), inputs, dt=dt)
    rates = res.spikes.sum(dim=2)[0, 0] / duration_s  # (N_sim,)
    col = np.searchsorted(cc.neurons, dep.placement.neurons)
    (rates[torch.as_tensor(col)] * torch.as_tensor(error, dtype=rates.dtype)).sum().backward()
    assert w_in.grad is not None and w_rec.grad is not None
    gi, gr = w_in.grad[0].numpy(), w_rec.grad[0].numpy()  # (4, C, N_sim), (4, N_sim, N_sim)
    net = dep.network
    ampa, gaba = TYPE_INDEX[Dendrite.AMPA], TYPE_INDEX[Dendrite.GABA]
    rows = np.searchsorted(cc.channels, dep.placement.channels)
    g_in = np.where(net.sign_in > 0, gi[ampa][np.ix_(rows, col)], gi[gaba][np.ix_(rows, col)])
    g_rec = np.where(net.sign_rec > 0, gr[ampa][np.ix_(col, col)], gr[gaba][np.ix_(col, col)])
    return g_in * (net.masks_in > 0), g_rec * (net.masks_rec > 0)


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
    history: list[float] = []
    best, best_err = dep, np.inf
    for it in range(iterations + 1):
        r = board_rates(board, dep, stimulus, duration_s)
        err = float(np.sqrt(np.mean((r - target) ** 2))) / denom
        history.append(err)
        if err < best_err:
            best, best_err, best_error = dep, err, r - target
        else:
            eta /= 2  # the step overshot on the board: try a shorter one from the best
        if it == iterations:
            break
        if it == 0 or err <= best_err:
            g_in, g_rec = twin_gradient(best, currents, stimulus, duration_s, best_error)
        dep = _step(best, g_in, g_rec, eta)
    return best, history
