"""Identification through the simulator (hil.sim): the twin's response to an experiment's stimuli,
batched over parameter *instances* (one instance per candidate value), so that per-neuron
searches over synaptic parameters run for every neuron at once.

The simulator integrates the same equations as the chip (docs/sim.md); at dt = 100 us it agrees
with the emulated board to 0.3 % per neuron (docs/silicon.md, parity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from hil.chip.config import ChipConfig
from hil.chip.netlist import element
from hil.sim.compile import compile_config
from hil.sim.network import simulate
from hil.sim.twin_source import TwinSource

DT = 1e-4  # simulator step for identification [s]


def simulate_rates(
    source: TwinSource,
    config: ChipConfig,
    stimuli: Sequence[tuple[np.ndarray, float]],
    scales: Mapping[str, np.ndarray] | None = None,
    instances: int = 1,
    dt: float = DT,
) -> np.ndarray:
    """Rates [Hz] (instances, len(stimuli), N) of the twin `source` under `config` for each
    (INPUT_DTYPE stimulus, duration [s]), each from rest. `scales`: element name (Igain_ampa,
    Itau_gaba, ...) -> (instances, N) multipliers of that current. Rates are the inverse mean ISI
    ((k - 1) / (t_k - t_1)) for k >= 3 spikes, k / duration otherwise (as the experiments measure
    them)."""
    cc = compile_config(
        config, currents=source.currents(config), weight_factor=source.weights(config)
    )
    params = source.params(cc.params, cc.neurons).expand(instances)
    changes: dict[str, torch.Tensor] = {}
    for name, mult in (scales or {}).items():
        field, syn = element(name)
        v = changes.get(field, getattr(params, field)).clone()
        m = torch.as_tensor(np.asarray(mult, np.float64), dtype=v.dtype)
        if syn is None:
            v = v * m
        else:
            v[:, syn] = v[:, syn] * m
        changes[field] = v
    params = params.replace(**changes)
    out = []
    for stim, dur in stimuli:
        T = max(1, int(round(dur / dt)))
        x = torch.zeros(1, T, max(len(cc.channels), 1))
        if stim.size:
            rows = np.searchsorted(cc.channels, stim["channel"])
            bins = np.minimum((stim["t_us"] * 1e-6 / dt + 1e-9).astype(np.int64), T - 1)
            np.add.at(x.numpy()[0], (bins, rows), 1.0)
        with torch.no_grad():
            res = simulate(params, cc.weights, x, dt, times=True)
        out.append(_rates(res.spikes[:, 0].numpy(), res.times[:, 0].numpy(), dt, dur))
    return np.stack(out, axis=1)


def _rates(counts: np.ndarray, first: np.ndarray, dt: float, dur: float) -> np.ndarray:
    """(I, N) rates from per-bin counts (I, T, N) and in-bin first spike times (I, T, N)."""
    n_inst, T, N = counts.shape
    k = counts.sum(1)
    has = counts > 0
    b_first = np.argmax(has, axis=1)
    b_last = T - 1 - np.argmax(has[:, ::-1], axis=1)
    ii, nn = np.meshgrid(np.arange(n_inst), np.arange(N), indexing="ij")
    t1 = b_first * dt + np.nan_to_num(first[ii, b_first, nn], posinf=0.0)
    t2 = b_last * dt + np.nan_to_num(first[ii, b_last, nn], posinf=0.0)
    # a bin with c > 1 spikes holds its first spike's time; at 100 us bins that is rare
    return np.where(k >= 3, (k - 1) / np.maximum(t2 - t1, 1e-9), k / dur)
