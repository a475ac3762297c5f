"""The models fitted to spike times, and a vectorized least-squares solver: shared by the
characterization (hil.experiments.syntau) and calibration (hil.calibrate.measure).

The subthreshold DPI neuron (docs/sim.md; Igain far above the membrane current): with
K = (Ut/kappa) C_mem = Itau tau_mem, K d ln(I)/dt = Iin - Itau + Ia(I), Ia = Io (I/Io)^gamma.
`interval` is the time from rest to threshold under a constant input (closed form); `fit_train`
fits the spike train after a decaying synaptic kick. Both are checked against scipy ODE solutions
in tests/test_calibrate.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from hil.chip.params import Physics

PHYS = Physics()
K_MEM = PHYS.Ut / PHYS.kappa * PHYS.C_mem  # Itau * tau_mem [C]
GAMMA = PHYS.kappa / (PHYS.kappa + 1.0)


def interval(a: np.ndarray, L: np.ndarray | float) -> np.ndarray:
    """T(a) [s] of the subthreshold DPI (module docstring) for a = Iin - Itau [A] and
    L = ln(Ispkthr / Io) (broadcasting); inf where the neuron cannot reach threshold (a <= -Io)."""
    a, L = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(L, np.float64))
    out = np.full(a.shape, np.inf)
    ok = a > -PHYS.Io
    small = ok & (np.abs(a) < 1e-18)
    big = ok & ~small
    ab, Lb = a[big], L[big]
    top = PHYS.Io * np.exp(GAMMA * Lb)
    out[big] = K_MEM / ab * (Lb - np.log((ab + top) / (ab + PHYS.Io)) / GAMMA)
    # a -> 0: K * integral of ds / (Io e^(gamma s)) = K (1 - e^(-gamma L)) / (gamma Io)
    out[small] = K_MEM * (1 - np.exp(-GAMMA * L[small])) / (GAMMA * PHYS.Io)
    return out


def invert_interval(T: np.ndarray, L: np.ndarray | float) -> np.ndarray:
    """a [A] with interval(a, L) = T (T decreases in a), by bisection; NaN where T is NaN."""
    T = np.asarray(T, np.float64)
    lo = np.full(T.shape, -PHYS.Io * (1 - 1e-9))
    hi = np.full(T.shape, 1e-3)
    for _ in range(80):
        mid = np.where(lo > 0, np.sqrt(np.abs(lo * hi)), 0.5 * (lo + hi))  # hi > 0 always
        slow = interval(mid, L) > T  # too slow: a must be larger
        lo = np.where(slow, mid, lo)
        hi = np.where(slow, hi, mid)
    return np.where(np.isfinite(T), 0.5 * (lo + hi), np.nan)


def levenberg_marquardt(
    resid: Callable[[np.ndarray], np.ndarray],
    p0: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    iterations: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimize sum(resid(p)**2) for every row of p (n, k) at once, within [lo, hi] (k,):
    forward-difference Jacobians, Marquardt scaling, a damping per row. resid: (n, k) -> (n, m),
    finite. Returns (p, cost). The one least-squares routine of hil.calibrate and hil.experiments
    (the tau_mem prelude and the synaptic train fit use it).

    Why not scipy.optimize.least_squares: the rows are thousands of independent 3-parameter
    problems. As one problem with a block-diagonal jac_sparsity it shares one trust region over
    all rows (512 rows of the tau_mem fit: 933 residual calls, 3.0 s CPU, same final costs); row by
    row it is 5.6 s CPU; this loop takes 0.03 s (241 calls). tests/test_calibrate.py checks that it
    ends every row at a cost no higher than scipy's."""
    p = np.array(p0, np.float64)
    k = p.shape[1]
    lam = np.full(len(p), 1e-2)
    r = resid(p)
    cost = (r**2).sum(axis=1)
    for _ in range(iterations):
        J = np.stack([(resid(p + h) - r) / 1e-6 for h in np.eye(k) * 1e-6], axis=2)
        JtJ = np.einsum("nlj,nlk->njk", J, J)
        g = np.einsum("nlj,nl->nj", J, r)
        A = JtJ + lam[:, None, None] * (np.eye(k) * np.maximum(JtJ, 1e-12))
        step = -np.linalg.solve(A, g[:, :, None])[:, :, 0]
        trial = np.clip(p + step, lo, hi)
        rt = resid(trial)
        ct = (rt**2).sum(axis=1)
        better = ct < cost
        p = np.where(better[:, None], trial, p)
        r = np.where(better[:, None], rt, r)
        cost = np.where(better, ct, cost)
        lam = np.where(better, lam / 3, lam * 4)
    return p, cost


def fit_train(
    times: np.ndarray, n: np.ndarray, t_kick: float, tau0: float, refr0: float, L: float
) -> np.ndarray:
    """Per row of `times` (spike times [s], NaN padded; `n` spikes each), tau [s] of the AMPA-train
    model (hil.experiments.syntau: the excitatory kick) for a kick at `t_kick` [s] and a threshold of
    L = ln(Ispkthr / Io); NaN where a row has fewer than 4 usable spikes. Levenberg-Marquardt from
    three starting values of tau (0.5, 1 and 2 x tau0), the best fit kept."""
    # the tail, where the kick's charge barely reaches threshold, is too sensitive to model:
    # keep each train up to its first interval longer than tau0 / 2
    gap = np.diff(times, axis=1, prepend=t_kick)
    cut = np.cumsum(~(gap <= 0.5 * tau0), axis=1) > 0  # NaN compares False: padding is cut too
    times = np.where(cut, np.nan, times)
    n = (~cut).sum(axis=1)
    ok = n >= 4
    T = times[ok][:, : max(int(n.max(initial=0)), 1)]
    best = np.full(len(T), np.inf)
    tau = np.full(len(T), np.nan)
    for f in (1.0, 0.5, 2.0):
        p0 = np.stack(
            [
                np.log(n[ok] / (f * tau0)),
                np.full(len(T), math.log(f * tau0)),
                np.full(len(T), math.log(refr0)),
            ],
            axis=1,
        )
        p, cost = _fit_train_from(T, t_kick, p0, tau0, refr0, L)
        better = cost < best
        best = np.where(better, cost, best)
        tau = np.where(better, np.exp(p[:, 1]), tau)
    out = np.full(n.size, np.nan)
    out[ok] = tau
    return out


def _fit_train_from(
    T: np.ndarray, t_kick: float, p0: np.ndarray, tau0: float, refr0: float, L: float
) -> tuple[np.ndarray, np.ndarray]:
    """Levenberg-Marquardt over p = (log B, log tau, log R) per row of T; (p, cost)."""
    prev = np.concatenate([np.full((len(T), 1), np.nan), T[:, :-1]], axis=1)
    valid = ~np.isnan(T)
    first = np.zeros_like(valid)
    first[:, 0] = True
    span = T - np.where(first, t_kick, prev)

    def resid(p: np.ndarray) -> np.ndarray:
        B, tau, R = (np.exp(p[:, i : i + 1]) for i in range(3))
        start = np.where(first, t_kick, prev + R) - t_kick
        with np.errstate(all="ignore"):
            e0 = np.exp(-start / tau)
            need = np.ones_like(e0)  # the charge still needed, in threshold charges K L
            for _ in range(2):  # the feedback current lowers it, more so under a weak drive
                end = -tau * np.log(e0 - need / (B * tau))
                mean_drive = K_MEM * L * need / np.maximum(end - start, 1e-9)
                need = interval(mean_drive, L) * mean_drive / (K_MEM * L)
            pred = t_kick - tau * np.log(e0 - need / (B * tau))
            r = (pred - T) / span  # relative to the observed interval
        r = np.where(valid, r, 0.0)
        return np.where(np.isfinite(r), r, 10.0)

    lo = np.array([-30.0, math.log(tau0) - 5, math.log(refr0) - 4])
    hi = np.array([30.0, math.log(tau0) + 5, math.log(refr0) + 4])
    return levenberg_marquardt(resid, p0, lo, hi, 40)
