"""Adaptation (AHP) per neuron from the rate decay under a DC step (hil.experiments.Adaptation),
through the simulator (hil.mismatch.simfit's approach: the twin's response, batched over
parameter instances).

What spikes see of the AHP: its time constant tau_ahp (how fast the ISIs lengthen after the step)
and its charge per spike J = (Igain_ahp / Itau_ahp) Iw_ahp (1 - exp(-t_pulse_ahp / tau_ahp)) [A]
(how far they lengthen), against the fitted membrane. Per neuron the fit moves two multipliers,
of Itau_ahp (mostly tau) and of Igain_ahp (J only), by Gauss-Newton on the log of the first
MAX_ISIS ISIs of each AHP step relative to the no-AHP step's ISI (the membrane's own error
cancels). (The ISI in force at fixed times, `isi_at`, jumps where a spike crosses such a time: as
fit features it left 18 % of the neurons of a development chip 5-100 % off in Itau_ahp.)
Convention: C_ahp, Ipulse_ahp and Iw_ahp (per neuron factor) nominal; Itau_ahp then carries
tau_ahp and Igain_ahp the rest of J (so Igain_ahp Iw_ahp / Ipulse_ahp is what J identifies).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from hil import events as ev
from hil.chip.config import ChipConfig
from hil.measure import Recording
from hil.mismatch.simfit import DT
from hil.sim.compile import compile_config
from hil.sim.network import simulate
from hil.sim.twin_source import TwinSource

GRID_S = np.linspace(0.015, 0.48, 32)  # times [s] of isi_at (the figure's view)
MAX_ISIS = 40  # ISIs per step the fit compares (the first ones: the AHP builds up there)


def isi_at(times: Sequence[np.ndarray], grid: np.ndarray = GRID_S) -> np.ndarray:
    """(len(grid), n): the ISI [s] in force at each grid time (the interval between the spikes
    around it) of each neuron's sorted spike times; NaN before the second spike or after the
    last."""
    out = np.full((grid.size, len(times)), np.nan)
    for j, t in enumerate(times):
        if t.size < 2:
            continue
        k = np.searchsorted(t, grid, side="right")  # spikes at or before each grid time
        ok = (k >= 1) & (k < t.size)
        kk = np.clip(k, 1, t.size - 1)
        out[:, j] = np.where(ok, t[kk] - t[kk - 1], np.nan)
    return out


def recording_times(rec: Recording, neurons: np.ndarray) -> list[np.ndarray] | None:
    """Each neuron's spike times [s] (sorted) in a spikes Recording; None for a counts one."""
    if rec.events is None:
        return None
    g = ev.global_index(rec.events)
    t = rec.events["t_us"].astype(np.float64) * 1e-6
    col = np.searchsorted(neurons, g)
    ok = (col < neurons.size) & (neurons[np.minimum(col, neurons.size - 1)] == g)
    col, t = col[ok], t[ok]
    order = np.lexsort((t, col))
    col, t = col[order], t[order]
    cuts = np.searchsorted(col, np.arange(neurons.size + 1))
    return [t[cuts[i] : cuts[i + 1]] for i in range(neurons.size)]


def simulate_times(
    source: TwinSource,
    config: ChipConfig,
    duration_s: float,
    scales: dict[str, np.ndarray],
    instances: int,
    neurons: np.ndarray,
    dt: float = DT,
) -> list[list[np.ndarray]]:
    """Spike times [s] [instance][neuron] of `neurons` (board-wide, sorted; all simulated by
    `config`) under `config` with no input spikes, from rest; scales: per-neuron field name
    (Itau_ahp, Igain_ahp, ...) -> (instances, len(neurons)) multipliers."""
    cc = compile_config(
        config, currents=source.currents(config), weight_factor=source.weights(config)
    )
    params = source.params(cc.params, cc.neurons).expand(instances)
    col = np.searchsorted(cc.neurons, neurons)
    changes: dict[str, torch.Tensor] = {}
    for name, mult in scales.items():
        v = getattr(params, name)
        m = np.ones((instances, cc.neurons.size))
        m[:, col] = mult
        changes[name] = v * torch.as_tensor(m, dtype=v.dtype)
    params = params.replace(**changes)
    T = max(1, int(round(duration_s / dt)))
    x = torch.zeros(1, T, len(cc.channels))
    with torch.no_grad():
        res = simulate(params, cc.weights, x, dt, times=True)
    counts = res.spikes[:, 0].numpy()  # (I, T, N)
    first = res.times[:, 0].numpy()
    out = []
    for i in range(instances):
        b, n = np.nonzero(counts[i][:, col] > 0)
        t = b * dt + np.nan_to_num(first[i][b, col[n]], posinf=0.0)
        order = np.lexsort((t, n))
        b, n, t = b[order], n[order], t[order]
        cuts = np.searchsorted(n, np.arange(neurons.size + 1))
        out.append([t[cuts[j] : cuts[j + 1]] for j in range(neurons.size)])
    return out


def isi_sequence(times: Sequence[np.ndarray], k: int = MAX_ISIS) -> np.ndarray:
    """(k, n): each neuron's first k ISIs [s] (NaN where it has fewer). Unlike the ISI in force
    at a fixed time, the k-th ISI moves continuously with the parameters."""
    out = np.full((k, len(times)), np.nan)
    for j, t in enumerate(times):
        d = np.diff(t)[:k]
        out[: d.size, j] = d
    return out


def features(times: Sequence[np.ndarray], base: np.ndarray) -> np.ndarray:
    """(MAX_ISIS, n) ln(k-th ISI / the no-AHP step's median ISI `base` (n,))."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(isi_sequence(times) / base[None, :])


def base_isi(times: Sequence[np.ndarray], after_s: float = 0.1) -> np.ndarray:
    """(n,) each neuron's median ISI [s] after `after_s` (NaN with fewer than 3 ISIs there)."""
    out = np.full(len(times), np.nan)
    for j, t in enumerate(times):
        d = np.diff(t[t >= after_s])
        if d.size >= 3:
            out[j] = float(np.median(d))
    return out


def fit_ahp(
    source: TwinSource,
    base_config: ChipConfig,
    configs: Sequence[ChipConfig],
    duration_s: float,
    measured_base: list[np.ndarray],
    measured: Sequence[list[np.ndarray]],
    neurons: np.ndarray,
    alive: np.ndarray,
    iters: int = 5,
    h: float = 0.08,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gauss-Newton on (ln Itau_ahp multiplier, ln Igain_ahp multiplier) per neuron (n = `neurons`)
    against the measured spike times of the AHP steps (`configs`, each with its measured times
    [neuron]), each relative to its own no-AHP step (`base_config`, `measured_base`), simulated
    and measured alike. Returns the two ln multipliers (2, n), their standard errors (2, n) from
    the final linearization and the RMS residual of ln ISI (n,)."""
    n = neurons.size
    base = base_isi(measured_base)
    sim_base = base_isi(simulate_times(source, base_config, duration_s, {}, 1, neurons)[0])
    y = np.concatenate([features(m, base) for m in measured])  # (S * grid, n)
    th = np.zeros((2, n))
    se = np.full((2, n), np.nan)
    rms = np.full(n, np.nan)
    for _ in range(iters):
        lt = np.stack([th[0], th[0] + h, th[0]])
        lgn = np.stack([th[1], th[1], th[1] + h])
        sc = {"Itau_ahp": np.exp(lt), "Igain_ahp": np.exp(lgn)}
        sims = [simulate_times(source, c, duration_s, sc, 3, neurons) for c in configs]
        f = [np.concatenate([features(s[i], sim_base) for s in sims]) for i in range(3)]
        r = f[0] - y
        J = np.stack([(f[1] - f[0]) / h, (f[2] - f[0]) / h])  # (2, M, n)
        use = np.isfinite(r) & np.isfinite(J).all(0)
        r = np.where(use, r, 0.0)
        J = np.where(use[None], J, 0.0)
        A = np.einsum("amn,bmn->nab", J, J)
        g = np.einsum("amn,mn->na", J, r)
        A_reg = A + 1e-6 * np.eye(2)[None]
        step = -np.linalg.solve(A_reg, g[..., None])[..., 0].T  # (2, n)
        ok = alive & (use.sum(0) >= 6)
        th = np.where(ok[None], th + np.clip(np.nan_to_num(step), -0.5, 0.5), th)
        m = np.maximum(use.sum(0), 1)
        s2 = (r**2).sum(0) / np.maximum(m - 2, 1)
        cov = np.linalg.pinv(A_reg)
        se = np.where(ok[None], np.sqrt(np.abs(np.diagonal(cov, axis1=1, axis2=2)).T * s2), np.nan)
        rms = np.where(ok, np.sqrt((r**2).sum(0) / m), np.nan)
    return th, se, rms
