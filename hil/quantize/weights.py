"""Signed float weights -> per-core base weights Iw_0..Iw_3 and a 4-bit mask per synapse.

On the chip a synapse's weight current is sum_i bit_i(mask) * Iw_i, where the four base weights
Iw_i are biases of the *target* neuron's core (SYAM_W0_P..SYAM_W3_P), shared by every input and
recurrent synapse of that core; the sign of a weight picks the synapse type (> 0 AMPA, < 0 GABA),
so only magnitudes are quantized (shared/reference/rockpool_dynapse.md sections 3 and 4).

Algorithm, per core (`quantize_core`): alternating least squares over the magnitudes x_j.
1. Given Iw, the 16 levels L_m = sum_i bit_i(m) Iw_i are known and each x_j takes its nearest level
   (mask 0 drops the synapse). That assignment is exact.
2. Given the masks, Iw is the non-negative least-squares fit of x_j ~ sum_i bit_i(m_j) Iw_i, which
   only needs the count and the sum of the x_j per mask (a 16 x 4 system, scipy's nnls).
3. Repeat to a fixed point, from several starts (binary grids Iw = s (1, 2, 4, 8) at a few scales s,
   quantiles of x, and 100 seeded random ones); keep the best. The magnitudes are sorted once with
   prefix sums of x and x^2, so an evaluation costs O(16 log M) and restarts are cheap.
   The best 6 fits go on to step 4.
4. Snap each Iw_i to a current its bias can produce (`hil.chip.biasgen`): coordinate descent over
   the nearest realizable codes, reassigning the masks after each move, until nothing improves.
So the reported error is that of weights the chip can actually realize (its nominal bias generator).

The error metric (`relative_rms_error`) is the one of rockpool_dynapse.md section 4:
sqrt(sum (w_hat - w)^2 / sum w^2) over every weight of the network (input and recurrent together).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import nnls

from hil.chip.biasgen import bias_code, bias_current
from hil.chip.geometry import COARSE_MAX, FINE_MAX, NUM_BASE_WEIGHTS
from hil.chip.params import SIM_TO_DEVICE
from hil.errors import ConfigError
from hil.train.model import Model

N_LEVELS = 1 << NUM_BASE_WEIGHTS  # 16 masks
BITS = ((np.arange(N_LEVELS)[:, None] >> np.arange(NUM_BASE_WEIGHTS)) & 1).astype(np.float64)
BASE_WEIGHT_BIASES = tuple(SIM_TO_DEVICE[f"Iw_{i}"] for i in range(NUM_BASE_WEIGHTS))
_SNAP_NEIGHBOURS = 3  # realizable currents tried on each side of an Iw in the snapping descent
_MAX_ROUNDS = 60
_SNAPPED = 6  # the best fits that get snapped to codes (snapping can reorder them)
_RANDOM_STARTS = 100  # besides the binary grids and quantiles; each costs ~0.1 ms per ALS round


def _grid(bias: str) -> np.ndarray:
    """Every current [A] the bias can produce, sorted and unique."""
    c, f = np.meshgrid(np.arange(COARSE_MAX + 1), np.arange(FINE_MAX + 1), indexing="ij")
    return np.unique(bias_current(bias, c.ravel(), f.ravel()))


_GRIDS = {b: _grid(b) for b in BASE_WEIGHT_BIASES}


@dataclass(frozen=True)
class CoreQuantization:
    """One core's result: iw (4,) base weights [A], realizable; codes (4, 2) their (coarse, fine);
    masks (M,) uint8 for the M magnitudes given; sq_error: sum of squared errors [A^2]."""

    iw: np.ndarray
    codes: np.ndarray
    masks: np.ndarray
    sq_error: float


def levels(iw: np.ndarray) -> np.ndarray:
    """(16,) weight magnitude [A] of each mask 0..15 for base weights `iw` (4,)."""
    return BITS @ np.asarray(iw, dtype=np.float64)


def assign(x: np.ndarray, iw: np.ndarray) -> tuple[np.ndarray, float]:
    """Nearest mask for each magnitude x (M,) [A] under base weights iw; (masks, sum sq. error)."""
    lv = levels(iw)
    order = np.argsort(lv, kind="stable")
    s = lv[order]
    # Nearest of the sorted levels: compare with the midpoints between neighbours.
    k = np.searchsorted((s[1:] + s[:-1]) / 2, x)
    masks = order[k].astype(np.uint8)
    err = x - lv[masks]
    return masks, float(err @ err)


class _Sorted:
    """Magnitudes sorted once, with prefix sums of x and x^2: every evaluation of a set of base
    weights then costs O(16 log M), not O(M) (the 16 levels cut the sorted x into segments)."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = np.sort(x)
        self.s1 = np.concatenate([[0.0], np.cumsum(self.x)])
        self.s2 = np.concatenate([[0.0], np.cumsum(self.x**2)])

    def stats(self, iw: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(count per mask (16,), sum of x per mask (16,), sum of squared errors) when every x
        takes its nearest level (ties to the lower level, as `assign`)."""
        lv = levels(iw)
        order = np.argsort(lv, kind="stable")
        s = lv[order]
        cut = np.concatenate(
            [[0], np.searchsorted(self.x, (s[1:] + s[:-1]) / 2, "right"), [self.x.size]]
        )
        n = np.diff(cut).astype(np.float64)
        t1 = np.diff(self.s1[cut])
        t2 = np.diff(self.s2[cut])
        err = float(np.sum(t2 - 2 * s * t1 + n * s * s))
        count = np.zeros(N_LEVELS)
        total = np.zeros(N_LEVELS)
        count[order], total[order] = n, t1
        return count, total, max(err, 0.0)


def assign_nonzero(x: np.ndarray, iw: np.ndarray) -> np.ndarray:
    """Nearest non-zero mask (1..15) for each magnitude x [A]: for a synapse that must stay."""
    lv = levels(iw)[1:]
    order = np.argsort(lv, kind="stable")
    s = lv[order]
    k = np.searchsorted((s[1:] + s[:-1]) / 2, np.asarray(x, dtype=np.float64))
    return (order[k] + 1).astype(np.uint8)


def _fit(count: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Non-negative least-squares base weights for fixed masks, from the count and the sum of
    the magnitudes per mask: sum_j (x_j - B_m Iw)^2 = sum_m n_m (xbar_m - B_m Iw)^2 + const."""
    used = count > 0
    r = np.sqrt(count[used])
    iw, _ = nnls(BITS[used] * r[:, None], total[used] / r)
    return iw


def _als(xs: _Sorted, iw: np.ndarray) -> tuple[np.ndarray, float]:
    best_iw, best = iw, np.inf
    for _ in range(_MAX_ROUNDS):
        count, total, err = xs.stats(iw)
        if err >= best * (1 - 1e-12):
            break
        best_iw, best = iw, err
        iw = _fit(count, total)
    return best_iw, best


def _starts(x: np.ndarray) -> list[np.ndarray]:
    top = float(np.max(x))
    binary = np.array([1.0, 2.0, 4.0, 8.0])
    starts = [binary * top / 15 * f for f in (0.55, 0.7, 0.85, 1.0)]
    q = np.quantile(x, [0.15, 0.35, 0.6, 0.85])
    starts.append(np.array([q[0], q[1] - q[0], q[2] - q[1], q[3] - q[2]]).clip(top * 1e-3))
    rng = np.random.default_rng(0)  # fixed: the result is a pure function of the weights
    starts += list(np.sort(rng.uniform(0, top / 2, (_RANDOM_STARTS, NUM_BASE_WEIGHTS)), axis=1))
    return starts


def _snap(xs: _Sorted, iw: np.ndarray) -> tuple[np.ndarray, float]:
    """Coordinate descent of iw over realizable currents (module docstring, step 4)."""
    iw = np.array([_nearest(b, v) for b, v in zip(BASE_WEIGHT_BIASES, iw, strict=True)])
    best = xs.stats(iw)[2]
    improved = True
    while improved:
        improved = False
        for i, bias in enumerate(BASE_WEIGHT_BIASES):
            grid = _GRIDS[bias]
            j = int(np.searchsorted(grid, iw[i]))
            for cand in grid[max(0, j - _SNAP_NEIGHBOURS) : j + _SNAP_NEIGHBOURS + 1]:
                trial = iw.copy()
                trial[i] = cand
                err = xs.stats(trial)[2]
                if err < best * (1 - 1e-12):
                    iw, best, improved = trial, err, True
    return iw, best


def _nearest(bias: str, amps: float) -> float:
    c, f = bias_code(bias, max(float(amps), 0.0))
    return float(bias_current(bias, c, f))


def quantize_core(x: np.ndarray) -> CoreQuantization:
    """Quantize the weight magnitudes x (M,) [A] of one core's synapses (module docstring).

    Zeros are allowed (they get mask 0); a magnitude nearer 0 than to any level gets mask 0 too
    (the synapse rounds away; deployment reports how many). An all-zero core gets every Iw at the
    lowest realizable current and mask 0 everywhere."""
    x = np.abs(np.asarray(x, dtype=np.float64)).ravel()
    if not np.isfinite(x).all():
        raise ConfigError("weights", "non-finite values", "finite weight currents [A]")
    nz = x[x > 0]
    if nz.size == 0:
        iw = np.array([_nearest(b, 0.0) for b in BASE_WEIGHT_BIASES])
    else:
        xs = _Sorted(nz)
        fits = sorted((_als(xs, start) for start in _starts(nz)), key=lambda f: f[1])
        snapped = [_snap(xs, f[0]) for f in fits[:_SNAPPED]]
        iw = min(snapped, key=lambda f: f[1])[0]
    masks, _ = assign(x, iw)
    masks[x == 0] = 0
    err = float(np.sum((x - levels(iw)[masks]) ** 2))
    codes = np.array(
        [[int(v) for v in bias_code(b, w)] for b, w in zip(BASE_WEIGHT_BIASES, iw, strict=True)]
    )
    return CoreQuantization(iw=iw, codes=codes, masks=masks, sq_error=err)


@dataclass(frozen=True)
class Quantized:
    """A network's quantized weights.

    iw (n_cores, 4) base weights [A] (realizable), codes (n_cores, 4, 2) their (coarse, fine),
    masks_in (n_inputs, N) and masks_rec (N, N) uint8 4-bit masks (0: no synapse), sign_in /
    sign_rec int8 (+1 AMPA, -1 GABA, 0 none), indexed [pre, post] like the float weights."""

    iw: np.ndarray
    codes: np.ndarray
    masks_in: np.ndarray
    masks_rec: np.ndarray
    sign_in: np.ndarray
    sign_rec: np.ndarray
    core_of: np.ndarray

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """The realized signed weight currents [A]: (w_in (n_inputs, N), w_rec (N, N))."""
        lv = levels_per_core(self.iw)  # (n_cores, 16)
        col = lv[self.core_of]  # (N, 16)
        n = self.core_of.size
        cols = np.arange(n)
        w_in = self.sign_in * col[cols[None, :], self.masks_in]
        w_rec = self.sign_rec * col[cols[None, :], self.masks_rec]
        return w_in, w_rec


def levels_per_core(iw: np.ndarray) -> np.ndarray:
    """(n_cores, 16) magnitudes [A] of each mask for base weights iw (n_cores, 4)."""
    return np.asarray(iw, dtype=np.float64) @ BITS.T


def quantize(w_in: np.ndarray, w_rec: np.ndarray, core_of: np.ndarray) -> Quantized:
    """Quantize a network: w_in (n_inputs, N), w_rec (N, N) signed weight currents [A] indexed
    [pre, post]; core_of (N,) the logical core of each neuron (its base weights quantize the
    column of that neuron, input and recurrent rows together)."""
    w_in = np.asarray(w_in, dtype=np.float64)
    w_rec = np.asarray(w_rec, dtype=np.float64)
    core_of = np.asarray(core_of, dtype=np.int64)
    n = core_of.size
    if w_in.ndim != 2 or w_in.shape[1] != n or w_rec.shape != (n, n):
        raise ConfigError(
            "weights",
            f"w_in {w_in.shape}, w_rec {w_rec.shape}, core_of {core_of.shape}",
            "w_in (n_inputs, N), w_rec (N, N), core_of (N,)",
        )
    if n and core_of.min() < 0:
        raise ConfigError("core_of", int(core_of.min()), "logical core indices >= 0")
    n_cores = int(core_of.max()) + 1 if n else 0
    stacked = np.vstack([w_in, w_rec])  # (n_inputs + N, N), [pre, post]
    masks = np.zeros(stacked.shape, np.uint8)
    iw = np.zeros((n_cores, NUM_BASE_WEIGHTS))
    codes = np.zeros((n_cores, NUM_BASE_WEIGHTS, 2), np.int64)
    for c in range(n_cores):
        cols = np.flatnonzero(core_of == c)
        q = quantize_core(stacked[:, cols].ravel())
        masks[:, cols] = q.masks.reshape(stacked.shape[0], cols.size)
        iw[c], codes[c] = q.iw, q.codes
    sign = (np.sign(stacked) * (masks > 0)).astype(np.int8)
    k = w_in.shape[0]
    return Quantized(
        iw=iw,
        codes=codes,
        masks_in=masks[:k],
        masks_rec=masks[k:],
        sign_in=sign[:k],
        sign_rec=sign[k:],
        core_of=core_of,
    )


def relative_rms_error(
    w_in: np.ndarray, w_rec: np.ndarray, q_in: np.ndarray, q_rec: np.ndarray
) -> float:
    """sqrt(sum (q - w)^2 / sum w^2) over input and recurrent weights together (rockpool_dynapse.md
    section 4's "relative RMS error"); 0 for an all-zero network that stays zero."""
    w = np.concatenate([np.ravel(w_in), np.ravel(w_rec)]).astype(np.float64)
    q = np.concatenate([np.ravel(q_in), np.ravel(q_rec)]).astype(np.float64)
    den = float(w @ w)
    num = float((q - w) @ (q - w))
    if den == 0:
        return 0.0 if num == 0 else float("inf")
    return float(np.sqrt(num / den))


def binary_grid(w_in: np.ndarray, w_rec: np.ndarray, steps: int = 200) -> tuple[float, float]:
    """The plain baseline of rockpool_dynapse.md section 4: Iw_i = s 2^i, mask = round(|w| / s)
    clipped at 15, the best s over a grid (not snapped to bias codes). (error, s [A])."""
    w = np.concatenate([np.ravel(w_in), np.ravel(w_rec)]).astype(np.float64)
    top = float(np.max(np.abs(w))) if w.size else 0.0
    if top == 0:
        return 0.0, 0.0
    best = (np.inf, 0.0)
    for s in np.linspace(top / 30, top / 10, steps):
        q = np.sign(w) * np.clip(np.rint(np.abs(w) / s), 0, N_LEVELS - 1) * s
        err = float(np.sqrt(np.sum((q - w) ** 2) / np.sum(w**2)))
        best = min(best, (err, float(s)))
    return best


def quantize_model(model: Model) -> Model:
    """A copy of `model` (hil.model/1) with its quantized form set: iw (n_cores, 4) realizable base
    weights [A] and masks_in / masks_rec uint8, per logical core (`quantize`); the float weights
    stay (their signs pick AMPA or GABA, as the quantized form expects)."""
    q = quantize(model.w_in, model.w_rec, model.core_of)
    return replace(model, quantized={"iw": q.iw, "masks_in": q.masks_in, "masks_rec": q.masks_rec})
