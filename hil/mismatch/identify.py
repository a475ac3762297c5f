"""Per-neuron identification of the membrane from f-I and refractory Recordings (analytic
inversion through the closed-form f-I relation, hil.mismatch.membrane).

Unknowns per neuron: the leak Itau_mem, the gain Igain_mem and the threshold Ispkthr (log-space,
Levenberg-Marquardt on log rates, all neurons at once); per core and DC coarse branch the
bias-generator factor of SOIF_DC_P relative to the reference branch (Gauss-Newton, alternating
with the neuron fits; the f-I sweep's branches overlap, which separates them). The refractory
period is known before (hil.experiments.Refractory: exact).

Convention (docs/characterization.md): the host never sees a neuron's own DC current, so the
neuron's DC factor on the reference branch is fixed to 1 (its Idc is the nominal code current);
Itau_mem, Igain_mem and Ispkthr are then in the units this fixes. This does not harm prediction:
every other input (synapses, hot leak) is identified through the same membrane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hil.chip.params import HighLevel
from hil.mismatch.membrane import rate

REF_COARSE = 2  # the DC branch whose factor is fixed to 1 (covers the inputs of networks)
MIN_RATE_HZ = 8.0  # points below this rate are left out (membrane noise shapes them)
NOMINAL = HighLevel().currents()


@dataclass(frozen=True)
class MembraneFit:
    """Per neuron (n,): itau, igain, ispkthr [A] (convention above); se (n, 3): standard errors of
    their logarithms; rms (n,): RMS residual of log rate; n_points (n,); ok (n,) bool: fitted on
    at least 4 points. branch (cores, 6): SOIF_DC_P factor of each coarse branch relative to
    REF_COARSE (1 where not measured)."""

    itau: np.ndarray
    igain: np.ndarray
    ispkthr: np.ndarray
    se: np.ndarray
    rms: np.ndarray
    n_points: np.ndarray
    ok: np.ndarray
    branch: np.ndarray


def fit_membrane(
    x: np.ndarray,
    coarse: np.ndarray,
    rates: np.ndarray,
    t_ref: np.ndarray,
    core: np.ndarray,
    *,
    outer: int = 3,
    iters: int = 12,
    min_rate_hz: float = MIN_RATE_HZ,
    fix_threshold: bool = False,
    durations: np.ndarray | None = None,
) -> MembraneFit:
    """Fit the membrane of every neuron (module docstring).

    x: (K,) nominal DC code currents [A]; coarse: (K,) their coarse branches; rates: (K, n) [Hz];
    t_ref: (n,) refractory periods [s] (NaN for neurons that did not fire); core: (n,) index of
    each neuron's (chip, core), 0..cores-1; durations: (K,) run lengths [s]: points with fewer
    than 4 spikes are left out (their rate is a spike count, not an inverse ISI)."""
    x = np.asarray(x, float)
    coarse = np.asarray(coarse, int)
    K, n = rates.shape
    n_cores = int(core.max()) + 1 if n else 0
    use = (rates >= min_rate_hz) & np.isfinite(t_ref)[None, :]
    if durations is not None:
        use &= rates * np.asarray(durations, float)[:, None] >= 4
    tr = np.nan_to_num(t_ref, nan=1e-3)
    meas = np.log(np.maximum(rates, 1e-3))
    free = (0, 1) if fix_threshold else (0, 1, 2)
    th0 = np.log(np.array([NOMINAL["Itau_mem"], NOMINAL["Igain_mem"], NOMINAL["Ispkthr"]]))
    th0 = np.tile(th0[:, None], (1, n))
    th = th0[list(free)]
    branch = np.ones((max(n_cores, 1), 6))

    def resid(th: np.ndarray, branch: np.ndarray) -> np.ndarray:
        full = th0.copy()
        full[list(free)] = th
        itau, ig, ith = np.exp(full)
        iin = x[:, None] * branch[core][:, coarse].T
        r = np.log(np.maximum(rate(iin, itau, ig, ith, tr), 1e-3)) - meas
        return np.where(use, r, 0.0)

    A = np.zeros((n, len(free), len(free)))
    cost = np.zeros(n)
    for o in range(outer):
        th, cost, A = _levenberg_marquardt(lambda t: resid(t, branch), th, iters)
        if o == outer - 1:
            break
        # one Gauss-Newton step per (core, branch) on its log factor
        r = resid(th, branch)
        eps = 1e-4
        dr = (resid(th, branch * np.exp(eps)) - r) / eps  # d r / d log(branch of that point)
        for c in set(coarse.tolist()) - {REF_COARSE}:
            rows = coarse == c
            for k in range(n_cores):
                cols = core == k
                m = use[np.ix_(rows, cols)]
                d, rr = dr[np.ix_(rows, cols)] * m, r[np.ix_(rows, cols)] * m
                den = float((d * d).sum())
                if den > 0:
                    branch[k, c] *= float(np.exp(-(d * rr).sum() / den))
    npts = use.sum(0)
    s2 = cost / np.maximum(npts - len(free), 1)
    cov = np.linalg.pinv(A)
    se = np.zeros((n, 3))
    se[:, list(free)] = np.sqrt(np.abs(np.diagonal(cov, axis1=1, axis2=2)) * s2[:, None])
    full = th0.copy()
    full[list(free)] = th
    itau, ig, ith = np.exp(full)
    return MembraneFit(
        itau, ig, ith, se, np.sqrt(cost / np.maximum(npts, 1)), npts, npts >= 4, branch
    )


def _levenberg_marquardt(
    resid, th: np.ndarray, iters: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched LM over columns: th (p, n); resid(th) -> (K, n). Returns th, cost (n,), J^T J."""
    p, n = th.shape
    lam = np.full(n, 1e-2)
    r = resid(th)
    cost = (r**2).sum(0)
    A = np.zeros((n, p, p))
    eye = np.eye(p)
    for _ in range(iters):
        J = np.empty((p, *r.shape))
        for j in range(p):
            d = np.zeros((p, 1))
            d[j] = 1e-5
            J[j] = (resid(th + d) - r) / 1e-5
        JT = np.moveaxis(J, 2, 0)  # (n, p, K)
        A = JT @ np.moveaxis(JT, 1, 2)
        g = (JT @ r.T[:, :, None])[..., 0]
        diag = np.diagonal(A, axis1=1, axis2=2)[:, :, None] * eye
        step = -np.linalg.solve(A + lam[:, None, None] * (diag + 1e-12 * eye), g[..., None])[..., 0]
        th_new = th + np.clip(step.T, -1.0, 1.0)
        r_new = resid(th_new)
        c_new = (r_new**2).sum(0)
        better = c_new < cost
        th = np.where(better, th_new, th)
        r = np.where(better, r_new, r)
        cost = np.where(better, c_new, cost)
        lam = np.where(better, lam / 3, lam * 4)
    return th, cost, A


def invert_rate(
    target_hz: np.ndarray,
    itau: np.ndarray,
    igain: np.ndarray,
    ispkthr: np.ndarray,
    t_ref: np.ndarray,
    lo: float = 1e-13,
    hi: float = 1e-6,
    iters: int = 50,
) -> np.ndarray:
    """The constant input current [A] at which each neuron fires at `target_hz` (bisection in log
    current; the f-I relation is monotone). NaN where the target is 0 or not finite."""
    a = np.full(np.shape(target_hz), np.log(lo))
    b = np.full(np.shape(target_hz), np.log(hi))
    for _ in range(iters):
        m = (a + b) / 2
        r = rate(np.exp(m), itau, igain, ispkthr, t_ref)
        high = r > target_hz
        b = np.where(high, m, b)
        a = np.where(high, a, m)
    out = np.exp((a + b) / 2)
    return np.where(np.isfinite(target_hz) & (np.asarray(target_hz) > 0), out, np.nan)
