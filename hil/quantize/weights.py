"""Signed float weights -> per-core base weights Iw_0..Iw_3, a 4-bit mask per synapse, and the
per-core AMPA and GABA synapse gains.

On the chip a synapse's weight current is sum_i bit_i(mask) * Iw_i, where the four base weights
Iw_i are biases of the *target* neuron's core (SYAM_W0_P..SYAM_W3_P), shared by every input and
recurrent synapse of that core; the sign of a weight picks the synapse type (> 0 AMPA, < 0 GABA)
(shared/reference/rockpool_dynapse.md sections 3 and 4). What a spike does to the neuron is that
current times the type's gain: the synaptic jump is (Igain_s / Itau_s) (1 - exp(-t_pulse/tau_s))
Iw (hil.chip.netlist.derived_constants), linear in Igain_s, and Igain_s (DEAM_EGAIN_P,
DEGA_IGAIN_P) is a per-core bias of its own. So a core realizes excitatory magnitudes
f_ampa * L_m and inhibitory ones f_gaba * L_m, two scaled copies of the 16 subset sums
L_m = sum_i bit_i(m) Iw_i, with f_s = Igain_s(code) / Igain_s(reference): the reference is the
gain the float weights were trained with (the model's current for that core, else the nominal).
Changing Igain_s only (not Itau_s) leaves every time constant as it was.

Algorithm, per core (`quantize_core`): alternating least squares over the magnitudes.
1. Given Iw and the ratio rho = f_gaba / f_ampa, each magnitude takes its nearest level of its
   sign's copy (mask 0 drops the synapse). That assignment is exact (all 16 masks compared).
2. Given the masks, Iw is the non-negative least-squares fit over both signs (a 32 x 4 system
   from the count and the sum of the magnitudes per mask and sign, scipy's nnls), then rho the
   1-d least-squares fit of the inhibitory magnitudes (closed form). `split=False` keeps rho at
   the ratio of the reference gains' nearest codes (one scale for both signs).
3. Repeat to a fixed point, from several starts (binary grids Iw = s (1, 2, 4, 8) at a few scales
   s, quantiles of x, and 100 seeded random ones; rho from 1 and from the ratio of the largest
   magnitudes); keep the best. The magnitudes are sorted once with prefix sums of x and x^2, so
   an evaluation costs O(16 log M) and restarts are cheap. The best 6 fits go on to step 4.
4. Snap Iw_0..3 and both gains to currents their biases can produce (`hil.chip.biasgen`):
   coordinate descent over the nearest realizable codes of all six, reassigning the masks after
   each move, until nothing improves.
So the reported error is that of the weights the chip realizes with the codes written to the
config (its nominal bias generator): base weights and gains on their coarse/fine grids.

The error metric (`relative_rms_error`) is the one of rockpool_dynapse.md section 4:
sqrt(sum (w_hat - w)^2 / sum w^2) over every weight of the network (input and recurrent together),
w_hat = sign * f_sign * L_mask in the units of the float weights.

Lower bound (docs/training.md): no choice of 4 base weights and two gains beats the best
unconstrained set of 15 non-zero levels per sign (`optimal_levels_error`, exact dynamic
programming), whatever the search.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import nnls

from hil.chip.biasgen import bias_code, bias_current
from hil.chip.geometry import COARSE_MAX, FINE_MAX, NUM_BASE_WEIGHTS
from hil.chip.params import SIM_TO_DEVICE, HighLevel
from hil.errors import ConfigError
from hil.train.model import Model

N_LEVELS = 1 << NUM_BASE_WEIGHTS  # 16 masks
BITS = ((np.arange(N_LEVELS)[:, None] >> np.arange(NUM_BASE_WEIGHTS)) & 1).astype(np.float64)
BASE_WEIGHT_BIASES = tuple(SIM_TO_DEVICE[f"Iw_{i}"] for i in range(NUM_BASE_WEIGHTS))
GAINS = ("Igain_ampa", "Igain_gaba")  # excitatory, inhibitory: the sign picks the type
GAIN_BIASES = tuple(SIM_TO_DEVICE[g] for g in GAINS)
_NOMINAL = HighLevel().currents()
NOMINAL_GAINS = np.array([_NOMINAL[g] for g in GAINS])  # [A]
_SNAP_NEIGHBOURS = 3  # realizable currents tried on each side of a bias in the snapping descent
_MAX_ROUNDS = 60
_TOLERANCE = 1e-6  # an ALS round that gains less (relatively) ends the run
_SNAPPED = 6  # the best fits that get snapped to codes (snapping can reorder them)
_RANDOM_STARTS = 100  # besides the binary grids and quantiles; each costs ~0.1 ms per ALS round


def _grid(bias: str) -> np.ndarray:
    """Every current [A] the bias can produce, sorted and unique."""
    c, f = np.meshgrid(np.arange(COARSE_MAX + 1), np.arange(FINE_MAX + 1), indexing="ij")
    return np.unique(bias_current(bias, c.ravel(), f.ravel()))


_GRIDS = {b: _grid(b) for b in BASE_WEIGHT_BIASES + GAIN_BIASES}


@dataclass(frozen=True)
class CoreQuantization:
    """One core's result: iw (4,) base weights [A], realizable; codes (4, 2) their (coarse, fine);
    gain (2,) the AMPA and GABA factors f_s = Igain_s(code) / reference, gain_codes (2, 2) the
    codes of DEAM_EGAIN_P and DEGA_IGAIN_P; masks (M,) uint8 for the M weights given; sq_error:
    sum of squared errors [A^2] of the realized weights sign * f_sign * L_mask."""

    iw: np.ndarray
    codes: np.ndarray
    gain: np.ndarray
    gain_codes: np.ndarray
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


_NONE = (np.zeros(N_LEVELS), np.zeros(N_LEVELS), 0.0)


class _Signed:
    """A core's excitatory and inhibitory magnitudes, each `_Sorted` (None when absent)."""

    def __init__(self, x: np.ndarray) -> None:
        self.exc = _Sorted(x[x > 0]) if np.any(x > 0) else None
        self.inh = _Sorted(-x[x < 0]) if np.any(x < 0) else None

    def stats(self, iw: np.ndarray, fe: float, fi: float) -> tuple[tuple, tuple, float]:
        """Per sign (count, total) per mask, and the total squared error, for levels fe * L (AMPA)
        and fi * L (GABA)."""
        e = self.exc.stats(fe * iw) if self.exc is not None else _NONE
        i = self.inh.stats(fi * iw) if self.inh is not None else _NONE
        return e, i, e[2] + i[2]

    def error(self, iw: np.ndarray, fe: float, fi: float) -> float:
        return self.stats(iw, fe, fi)[2]


def assign_nonzero(x: np.ndarray, iw: np.ndarray) -> np.ndarray:
    """Nearest non-zero mask (1..15) for each magnitude x [A]: for a synapse that must stay."""
    lv = levels(iw)[1:]
    order = np.argsort(lv, kind="stable")
    s = lv[order]
    k = np.searchsorted((s[1:] + s[:-1]) / 2, np.asarray(x, dtype=np.float64))
    return (order[k] + 1).astype(np.uint8)


def _fit(e: tuple, i: tuple, rho: float) -> np.ndarray:
    """Non-negative least-squares base weights for fixed masks, from the count and the sum of
    the magnitudes per mask and sign: sum_j (x_j - f B_m Iw)^2 = sum_m n_m (xbar_m - f B_m Iw)^2
    + const, f = 1 for AMPA and rho for GABA."""
    rows, rhs = [], []
    for (count, total, _), f in ((e, 1.0), (i, rho)):
        used = count > 0
        r = np.sqrt(count[used])
        rows.append(BITS[used] * (r * f)[:, None])
        rhs.append(total[used] / r)
    iw, _ = nnls(np.vstack(rows), np.concatenate(rhs))
    return iw


def _fit_rho(i: tuple, iw: np.ndarray) -> float:
    """Least-squares GABA factor for fixed masks and base weights (closed form)."""
    lv = levels(iw)
    den = float(i[0] @ lv**2)
    return float(i[1] @ lv) / den if den > 0 else 1.0


def _als(xs: _Signed, iw: np.ndarray, rho: float, free: bool) -> tuple[np.ndarray, float, float]:
    """Alternating least squares from (iw, rho); rho moves only when `free`. (iw, rho, error)."""
    best = (iw, rho, np.inf)
    for _ in range(_MAX_ROUNDS):
        e, i, err = xs.stats(iw, 1.0, rho)
        if err >= best[2]:
            break
        stalled = err > best[2] * (1 - _TOLERANCE)
        best = (iw, rho, err)
        if stalled:  # the free ratio can creep for many rounds for next to nothing
            break
        iw = _fit(e, i, rho)
        if free:
            rho = _fit_rho(i, iw)
            if not (np.isfinite(rho) and rho > 0):
                rho = best[1]
    return best


def _starts(x: np.ndarray) -> list[np.ndarray]:
    top = float(np.max(x))
    binary = np.array([1.0, 2.0, 4.0, 8.0])
    starts = [binary * top / 15 * f for f in (0.55, 0.7, 0.85, 1.0)]
    q = np.quantile(x, [0.15, 0.35, 0.6, 0.85])
    starts.append(np.array([q[0], q[1] - q[0], q[2] - q[1], q[3] - q[2]]).clip(top * 1e-3))
    rng = np.random.default_rng(0)  # fixed: the result is a pure function of the weights
    starts += list(np.sort(rng.uniform(0, top / 2, (_RANDOM_STARTS, NUM_BASE_WEIGHTS)), axis=1))
    return starts


def _neighbours(bias: str, amps: float) -> np.ndarray:
    grid = _GRIDS[bias]
    j = int(np.searchsorted(grid, amps))
    return grid[max(0, j - _SNAP_NEIGHBOURS) : j + _SNAP_NEIGHBOURS + 1]


def _snap(
    xs: _Signed, iw: np.ndarray, rho: float, ref: np.ndarray, split: bool
) -> tuple[np.ndarray, np.ndarray, float]:
    """Coordinate descent of iw (4,) and the gain currents (2,) over realizable currents
    (module docstring, step 4); ref (2,) the reference gains [A]. (iw, gain currents, error)."""
    g = np.array([_nearest(b, v) for b, v in zip(GAIN_BIASES, ref, strict=True)])
    if split:
        g[1] = _nearest(GAIN_BIASES[1], rho * g[0] / ref[0] * ref[1])
    fe = g[0] / ref[0]
    iw = np.array([_nearest(b, v / fe) for b, v in zip(BASE_WEIGHT_BIASES, iw, strict=True)])

    def err(iw: np.ndarray, g: np.ndarray) -> float:
        return xs.error(iw, g[0] / ref[0], g[1] / ref[1])

    best = err(iw, g)
    moves = [(0, i, b) for i, b in enumerate(BASE_WEIGHT_BIASES)]
    if split:
        moves += [(1, i, b) for i, b in enumerate(GAIN_BIASES)]
    improved = True
    while improved:
        improved = False
        for which, i, bias in moves:
            vec = iw if which == 0 else g
            for cand in _neighbours(bias, vec[i]):
                trial = vec.copy()
                trial[i] = cand
                e = err(trial, g) if which == 0 else err(iw, trial)
                if e < best * (1 - 1e-12):
                    best, improved = e, True
                    if which == 0:
                        iw = vec = trial
                    else:
                        g = vec = trial
    return iw, g, best


def _nearest(bias: str, amps: float) -> float:
    c, f = bias_code(bias, max(float(amps), 0.0))
    return float(bias_current(bias, c, f))


def _code(bias: str, amps: float) -> list[int]:
    return [int(v) for v in bias_code(bias, amps)]


def quantize_core(
    x: np.ndarray, reference: np.ndarray | None = None, split: bool = True
) -> CoreQuantization:
    """Quantize the signed weights x (M,) [A] of one core's synapses (module docstring).

    reference (2,): the Igain_ampa and Igain_gaba [A] the float weights assume (default: the
    nominal); `split=False`: one scale for both signs (the gains at their nearest codes).
    Zeros are allowed (they get mask 0); a magnitude nearer 0 than to any level gets mask 0 too
    (the synapse rounds away; deployment reports how many). An all-zero core gets every Iw at the
    lowest realizable current and mask 0 everywhere."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if not np.isfinite(x).all():
        raise ConfigError("weights", "non-finite values", "finite weight currents [A]")
    ref = NOMINAL_GAINS if reference is None else np.asarray(reference, dtype=np.float64)
    if ref.shape != (2,) or not (np.isfinite(ref).all() and np.all(ref > 0)):
        raise ConfigError("reference gains", ref.tolist(), "(Igain_ampa, Igain_gaba) > 0 [A]")
    g0 = np.array([_nearest(b, v) for b, v in zip(GAIN_BIASES, ref, strict=True)])
    rho0 = (g0[1] / ref[1]) / (g0[0] / ref[0])
    nz = np.abs(x[x != 0])
    xs = _Signed(x)
    if nz.size == 0:
        iw = np.array([_nearest(b, 0.0) for b in BASE_WEIGHT_BIASES])
        g = g0
    else:
        free = split and xs.exc is not None and xs.inh is not None
        rhos = [rho0]
        if free:
            rhos.append(float(xs.inh.x[-1] / xs.exc.x[-1]))  # type: ignore[union-attr]
        fits = sorted(
            (_als(xs, start, r, free) for start in _starts(nz) for r in rhos), key=lambda f: f[2]
        )
        snapped = [_snap(xs, f[0], f[1], ref, free) for f in fits[:_SNAPPED]]
        iw, g, _ = min(snapped, key=lambda f: f[2])
    gain = g / ref
    masks = np.zeros(x.size, np.uint8)
    for sign, f in ((1, gain[0]), (-1, gain[1])):
        on = np.sign(x) == sign
        masks[on] = assign(np.abs(x[on]), f * iw)[0]
    realized = np.where(x > 0, gain[0], gain[1]) * levels(iw)[masks] * np.sign(x)
    codes = np.array([_code(b, w) for b, w in zip(BASE_WEIGHT_BIASES, iw, strict=True)])
    gain_codes = np.array([_code(b, v) for b, v in zip(GAIN_BIASES, g, strict=True)])
    return CoreQuantization(
        iw=iw,
        codes=codes,
        gain=gain,
        gain_codes=gain_codes,
        masks=masks,
        sq_error=float(np.sum((realized - x) ** 2)),
    )


@dataclass(frozen=True)
class Quantized:
    """A network's quantized weights.

    iw (n_cores, 4) base weights [A] (realizable), codes (n_cores, 4, 2) their (coarse, fine);
    gain (n_cores, 2) the AMPA and GABA factors (Igain code current over the reference),
    gain_codes (n_cores, 2, 2) the DEAM_EGAIN_P and DEGA_IGAIN_P codes, reference (n_cores, 2)
    [A] the gains the float weights assume; masks_in (n_inputs, N) and masks_rec (N, N) uint8
    4-bit masks (0: no synapse), sign_in / sign_rec int8 (+1 AMPA, -1 GABA, 0 none), indexed
    [pre, post] like the float weights."""

    iw: np.ndarray
    codes: np.ndarray
    gain: np.ndarray
    gain_codes: np.ndarray
    reference: np.ndarray
    masks_in: np.ndarray
    masks_rec: np.ndarray
    sign_in: np.ndarray
    sign_rec: np.ndarray
    core_of: np.ndarray

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """The realized signed weights in the float weights' units [A at the reference gains]:
        (w_in (n_inputs, N), w_rec (N, N)), sign * f_sign * L_mask of the post neuron's core."""
        lv = levels_per_core(self.iw)  # (n_cores, 16)
        col = lv[self.core_of]  # (N, 16)
        fe, fi = self.gain[self.core_of, 0], self.gain[self.core_of, 1]  # (N,)
        cols = np.arange(self.core_of.size)

        def realize(sign: np.ndarray, masks: np.ndarray) -> np.ndarray:
            f = np.where(sign > 0, fe[None, :], fi[None, :])
            return sign * f * col[cols[None, :], masks]

        return realize(self.sign_in, self.masks_in), realize(self.sign_rec, self.masks_rec)


def levels_per_core(iw: np.ndarray) -> np.ndarray:
    """(n_cores, 16) magnitudes [A] of each mask for base weights iw (n_cores, 4)."""
    return np.asarray(iw, dtype=np.float64) @ BITS.T


def reference_gains(currents: list[dict[str, float]], n_cores: int) -> np.ndarray:
    """(n_cores, 2) Igain_ampa and Igain_gaba [A] per logical core: the model's, else nominal."""
    out = np.tile(NOMINAL_GAINS, (n_cores, 1))
    for k, cur in enumerate(currents[:n_cores]):
        for j, g in enumerate(GAINS):
            if g in cur:
                out[k, j] = float(cur[g])
    return out


def quantize(
    w_in: np.ndarray,
    w_rec: np.ndarray,
    core_of: np.ndarray,
    reference: np.ndarray | None = None,
    split: bool = True,
) -> Quantized:
    """Quantize a network: w_in (n_inputs, N), w_rec (N, N) signed weight currents [A] indexed
    [pre, post]; core_of (N,) the logical core of each neuron (its base weights and gains
    quantize the column of that neuron, input and recurrent rows together); reference
    (n_cores, 2) the Igain_ampa, Igain_gaba [A] the weights assume (default nominal);
    `split=False`: one scale for both signs."""
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
    ref = np.tile(NOMINAL_GAINS, (n_cores, 1)) if reference is None else np.asarray(reference)
    if ref.shape != (n_cores, 2):
        raise ConfigError("reference gains", ref.shape, f"({n_cores}, 2): per core, AMPA and GABA")
    stacked = np.vstack([w_in, w_rec])  # (n_inputs + N, N), [pre, post]
    masks = np.zeros(stacked.shape, np.uint8)
    iw = np.zeros((n_cores, NUM_BASE_WEIGHTS))
    codes = np.zeros((n_cores, NUM_BASE_WEIGHTS, 2), np.int64)
    gain = np.ones((n_cores, 2))
    gain_codes = np.zeros((n_cores, 2, 2), np.int64)
    for c in range(n_cores):
        cols = np.flatnonzero(core_of == c)
        q = quantize_core(stacked[:, cols].ravel(), ref[c], split)
        masks[:, cols] = q.masks.reshape(stacked.shape[0], cols.size)
        iw[c], codes[c], gain[c], gain_codes[c] = q.iw, q.codes, q.gain, q.gain_codes
    sign = (np.sign(stacked) * (masks > 0)).astype(np.int8)
    k = w_in.shape[0]
    return Quantized(
        iw=iw,
        codes=codes,
        gain=gain,
        gain_codes=gain_codes,
        reference=ref.astype(np.float64),
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


def optimal_levels_error(x: np.ndarray, n_levels: int = N_LEVELS - 1) -> float:
    """Smallest sum of squared errors [A^2] of magnitudes x (M,) [A] over every set of `n_levels`
    free non-zero levels plus 0: exact 1-d optimal quantization (the clusters of sorted values are
    contiguous), by dynamic programming with the monotone split point (divide and conquer),
    O(n_levels M log M). A lower bound for any 4 base weights (their 15 non-zero subset sums are
    one such set)."""
    x = np.sort(np.abs(np.asarray(x, dtype=np.float64).ravel()))
    x = x[x > 0]
    m = x.size
    s1 = np.concatenate([[0.0], np.cumsum(x)])
    s2 = np.concatenate([[0.0], np.cumsum(x * x)])

    def cost(i: np.ndarray, j: int) -> np.ndarray:  # x[i:j] at its mean
        c = np.maximum(j - i, 1)
        return (s2[j] - s2[i]) - (s1[j] - s1[i]) ** 2 / c

    prev = s2.copy()  # no free level: everything at 0
    for _ in range(n_levels):
        cur = np.empty(m + 1)
        # (j range lo..hi, split range olo..ohi): optimum split is monotone in j
        stack = [(0, m, 0, m)]
        while stack:
            lo, hi, olo, ohi = stack.pop()
            if lo > hi:
                continue
            j = (lo + hi) // 2
            i = np.arange(olo, min(j, ohi) + 1)
            v = prev[i] + cost(i, j)
            k = int(np.argmin(v))
            cur[j] = v[k]
            stack.append((lo, j - 1, olo, int(i[k])))
            stack.append((j + 1, hi, int(i[k]), ohi))
        prev = np.minimum(cur, prev)
    return float(max(prev[m], 0.0))


def quantize_model(model: Model) -> Model:
    """A copy of `model` (hil.model/1) with its quantized form set (iw (n_cores, 4) realizable
    base weights [A], masks_in / masks_rec uint8, per logical core, `quantize`), and each core's
    Igain_ampa / Igain_gaba set to the realizable currents the quantizer chose.

    The float network is unchanged: a synapse's drive is proportional to Igain_s * w
    (hil.chip.netlist.derived_constants), so the float weights of each post core are divided by
    that core's factor f_s = Igain_s(new) / Igain_s(old) for their sign. The quantized form is in
    these rescaled units, as every reader of it (deploy, evaluate, finetune) expects; the gain
    codes reach the config through the currents (deploy codes them, exactly)."""
    ref = reference_gains(model.currents, model.n_cores)
    q = quantize(model.w_in, model.w_rec, model.core_of, ref)
    fe, fi = q.gain[model.core_of, 0], q.gain[model.core_of, 1]

    def rescale(w: np.ndarray) -> np.ndarray:
        w = w.astype(np.float64)
        return np.where(w > 0, w / fe[None, :], w / fi[None, :])

    currents = []
    for k, cur in enumerate(model.currents):
        cur = dict(cur)
        for j, g in enumerate(GAINS):
            cur[g] = float(q.gain[k, j] * q.reference[k, j])
        currents.append(cur)
    return replace(
        model,
        w_in=rescale(model.w_in),
        w_rec=rescale(model.w_rec),
        currents=currents,
        quantized={"iw": q.iw, "masks_in": q.masks_in, "masks_rec": q.masks_rec},
    )
