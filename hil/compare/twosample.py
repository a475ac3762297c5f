"""Two-sample tests with effect sizes, and multiple-comparison control.

A sample is one value per trial (a per-neuron statistic of each trial), or, for the distance tests,
a matrix of distances between trials. The trial is the unit of replication: spikes or windows
inside one trial are not independent, so they are never the samples here.

Tests (two-sided; x is the reference sample, y the candidate):
- `mann_whitney`: rank test, scipy's Mann-Whitney U; effect: Cliff's delta P(y > x) - P(y < x).
- `kolmogorov_smirnov`: scipy's two-sample KS; effect: the KS distance D.
- `energy_test`: energy distance (Szekely & Rizzo) between two samples in any metric of negative
  type (absolute difference, Euclidean, van Rossum), p-value by permutation of the trial labels
  (within pairs when paired); effect: the energy distance, as scipy.stats.energy_distance.
- `sign_flip_test`: the trial-paired permutation test: the mean of the paired differences against
  random sign flips (exact when 2^n <= n_perm); `label_permutation_test`: the unpaired one, the
  difference of means against random relabelling.

Permutation p-values use Besag & Clifford's (1991) sequential rule: permutations are drawn until
`h` of them reach the observed statistic (p = h / L after L draws) or until n_perm draws
(p = (G + 1) / (n_perm + 1) with G reaching ones). Both are valid p-values; clearly null units
stop after a few dozen draws, and units with an effect get the full resolution 1 / (n_perm + 1).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats as sps

from hil.errors import ConfigError

CORRECTIONS = ("holm", "bh")


def cliffs_delta(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(y > x) - P(y < x) over all pairs, per column of x (n_x, ...) and y (n_y, ...):
    -1..1, 0 when the samples are exchangeable."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    return np.sign(y[:, None] - x[None, :]).mean(axis=(0, 1))


def mann_whitney(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p, Cliff's delta) of the two-sided Mann-Whitney U test per column of x (n_x, ...) and
    y (n_y, ...), no NaN (scipy's 'auto' method: exact for small samples without ties, else the
    normal approximation with tie correction). A column whose values are all equal: p = 1."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    same = np.ptp(np.concatenate([x, y]), axis=0) == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        p = sps.mannwhitneyu(x, y, alternative="two-sided", axis=0).pvalue
    return np.where(same, 1.0, p), cliffs_delta(x, y)


def kolmogorov_smirnov(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p, D) of the two-sided two-sample Kolmogorov-Smirnov test (scipy's ks_2samp) per column
    of x (n_x, ...) and y (n_y, ...), no NaN."""
    r = sps.ks_2samp(np.asarray(x, float), np.asarray(y, float), alternative="two-sided", axis=0)
    return np.asarray(r.pvalue), np.asarray(r.statistic)


# ---- permutation machinery ------------------------------------------------------------------------


def _reach(stat: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Permuted statistics that reach the observed one (a relative tolerance absorbs the rounding
    of sums taken in another order)."""
    return stat >= observed - 1e-9 * np.maximum(1.0, np.abs(observed))


def sequential_pvalues(
    observed: np.ndarray,
    draw: Callable[[int, np.ndarray], np.ndarray],
    n_perm: int,
    h: int = 10,
    batch: int = 256,
) -> np.ndarray:
    """Besag-Clifford sequential Monte Carlo p-values for U units at once.

    `draw(b, units)` returns (b, len(units)) statistics of b fresh random permutations for those
    units (larger = more extreme); `observed` is (U,). Units stop once h draws reach their
    observed value.
    """
    if n_perm < 1 or h < 1:
        raise ConfigError("n_perm", n_perm, "an integer >= 1 (and h >= 1)")
    obs = np.asarray(observed, float)
    p = np.full(obs.shape, np.nan)
    hits = np.zeros(obs.shape, np.int64)
    active = np.isfinite(obs)
    drawn = 0
    while active.any() and drawn < n_perm:
        b = min(batch, n_perm - drawn)
        idx = np.flatnonzero(active)
        cum = hits[idx] + np.cumsum(_reach(draw(b, idx), obs[idx]), axis=0)
        done = cum[-1] >= h
        if done.any():
            row = np.argmax(cum[:, done] >= h, axis=0)
            p[idx[done]] = h / (drawn + row + 1)
            active[idx[done]] = False
        hits[idx] = cum[-1]
        drawn += b
    p[active] = (hits[active] + 1) / (n_perm + 1)
    return p


def _signs(rng: np.random.Generator, b: int, n: int) -> np.ndarray:
    return rng.integers(0, 2, size=(b, n)) * 2.0 - 1.0


def sign_flip_test(d: np.ndarray, n_perm: int, rng: np.random.Generator, h: int = 10) -> np.ndarray:
    """Trial-paired permutation test of mean(d) = 0 for each column of d (n_pairs, U), the paired
    differences candidate - reference per trial (NaN: pair dropped for that unit). Under the null
    each pair's two trials are exchangeable, so each difference is symmetric about 0.
    Statistic |mean(d)|; exact over all 2^n sign vectors when 2^n <= min(n_perm, 2^16).
    Returns p (U,)."""
    d = np.atleast_2d(np.asarray(d, float))
    valid = np.isfinite(d)
    n_valid = valid.sum(axis=0)
    z = np.where(valid, d, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        obs = np.abs(z.sum(axis=0)) / n_valid
    obs[n_valid < 1] = np.nan
    n = d.shape[0]
    if 2**n <= min(n_perm, 2**16):  # exact: every sign vector once (the identity among them)
        signs = 1.0 - 2.0 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = _reach(np.abs(signs @ z) / n_valid, obs).mean(axis=0)
        return np.where(np.isfinite(obs), p, np.nan)

    def draw(b: int, units: np.ndarray) -> np.ndarray:
        return np.abs(_signs(rng, b, n) @ z[:, units]) / n_valid[units]

    return sequential_pvalues(obs, draw, n_perm, h)


def label_permutation_test(
    x: np.ndarray, y: np.ndarray, n_perm: int, rng: np.random.Generator, h: int = 10
) -> np.ndarray:
    """Unpaired permutation test of equal means for each column of x (n_x, U) and y (n_y, U)
    (NaN: value missing for that unit). Statistic |mean(y) - mean(x)|. Returns p (U,)."""
    pool = np.concatenate([np.atleast_2d(x), np.atleast_2d(y)]).astype(float)
    valid = np.isfinite(pool)
    z = np.where(valid, pool, 0.0)
    n, nx = pool.shape[0], np.atleast_2d(x).shape[0]

    def stat(a: np.ndarray, units: np.ndarray) -> np.ndarray:  # a: (b, n) 1 = reference group
        zs, vs = z[:, units], valid[:, units].astype(float)
        sa, ca = a @ zs, a @ vs
        sb, cb = zs.sum(axis=0) - sa, vs.sum(axis=0) - ca
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.abs(sb / cb - sa / ca)

    first = np.zeros((1, n))
    first[0, :nx] = 1.0
    obs = stat(first, np.arange(pool.shape[1]))[0]

    def draw(b: int, units: np.ndarray) -> np.ndarray:
        a = (np.argsort(rng.random((b, n)), axis=1) < nx).astype(float)
        # an empty group leaves the statistic undefined: count it as reaching (conservative)
        return np.nan_to_num(stat(a, units), nan=np.inf)

    return sequential_pvalues(obs, draw, n_perm, h)


def energy_test(
    dist: np.ndarray,
    n_ref: int,
    n_perm: int,
    rng: np.random.Generator,
    paired: bool = False,
    h: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Energy-distance permutation test for U units at once.

    dist: (U, n, n) distances between the n pooled trials of each unit, the first n_ref the
    reference's (when paired, trial k of the candidate is row n_ref + k and pairs with row k).
    Statistic E = 2 mean d(x, y) - mean d(x, x') - mean d(y, y') (V-statistics, zeros on the
    diagonal included, as scipy.stats.energy_distance). Labels are permuted over all trials, or
    swapped within pairs when `paired`. Returns (p (U,), sqrt(E) (U,), the energy distance).
    """
    dist = np.asarray(dist, float)
    if dist.ndim == 2:
        dist = dist[None]
    n = dist.shape[-1]
    if paired and n != 2 * n_ref:
        raise ConfigError("trials", f"{n_ref} vs {n - n_ref}", "equal trial counts when paired")

    def stat(a: np.ndarray, units: np.ndarray) -> np.ndarray:  # a: (b, n) 1 = reference group
        d = dist[units]
        bgrp = 1.0 - a
        na, nb = a.sum(axis=1, keepdims=True), bgrp.sum(axis=1, keepdims=True)
        ad = np.einsum("bi,uij->buj", a, d)
        saa = np.einsum("buj,bj->bu", ad, a)
        sab = np.einsum("buj,bj->bu", ad, bgrp)
        sbb = np.einsum("bi,uij,bj->bu", bgrp, d, bgrp)
        return 2 * sab / (na * nb) - saa / na**2 - sbb / nb**2

    first = np.zeros((1, n))
    first[0, :n_ref] = 1.0
    units = np.arange(dist.shape[0])
    obs = stat(first, units)[0]

    def draw(b: int, units: np.ndarray) -> np.ndarray:
        if paired:
            swap = rng.integers(0, 2, size=(b, n_ref)).astype(float)
            a = np.concatenate([1.0 - swap, swap], axis=1)
        else:
            a = (np.argsort(rng.random((b, n)), axis=1) < n_ref).astype(float)
        return stat(a, units)

    p = sequential_pvalues(obs, draw, n_perm, h)
    return p, np.sqrt(np.maximum(obs, 0.0))


# ---- multiple comparisons -------------------------------------------------------------------------


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control under any dependence).
    NaN entries are not tests: they stay NaN and do not count in the family size."""
    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m:
        order = ok[np.argsort(p[ok], kind="stable")]
        adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
        out[order] = np.minimum(adj, 1.0)
    return out


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (false-discovery-rate control for independent
    or positively dependent tests). NaN entries stay NaN and do not count in the family size."""
    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m:
        order = ok[np.argsort(p[ok], kind="stable")]
        adj = p[order] * m / np.arange(1, m + 1)
        out[order] = np.minimum(np.minimum.accumulate(adj[::-1])[::-1], 1.0)
    return out


def adjust(p: np.ndarray, method: str = "holm") -> np.ndarray:
    """Adjusted p-values by `method`: "holm" (default) or "bh"."""
    if method == "holm":
        return holm(p)
    if method == "bh":
        return benjamini_hochberg(p)
    raise ConfigError("correction", method, f"one of {', '.join(CORRECTIONS)}")
