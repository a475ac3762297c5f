"""Spike statistics per neuron and per population, on one trial or on repeated trials.

Every function takes a trial (a hil.compare.Trial, a Recording, or an events.Counts; wrap a bare
events array as `Trial(duration_s, events=...)`) and optionally `neurons`, the board-wide
indices to report, sorted (default: the neurons the trial covers). Results are aligned with
`neurons`; NaN marks a neuron with too few spikes for the statistic.

Need spike times (raise SpikeTimesRequired on a counts readout): isi_cv, local_variation,
first_spike_latency, van_rossum_distance / van_rossum_matrix. Work on counts too (window or bin a
multiple of the readout bin): firing_rate, fano_factor, count_correlation, psth.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hil.compare.trials import (
    SpikeTimesRequired,
    Trial,
    as_trial,
    binned,
    neurons_of,
    spike_times,
    total_counts,
)
from hil.errors import ConfigError


def _resolve(trial: object, neurons: np.ndarray | None) -> tuple[Trial, np.ndarray]:
    t = as_trial(trial)
    n = t.neurons() if neurons is None else np.asarray(neurons, dtype=np.int64)
    if n.ndim != 1 or np.any(np.diff(n) <= 0):
        raise ConfigError("neurons", n.tolist()[:8], "a 1-D array of distinct sorted indices")
    return t, n


def firing_rate(trial: object, neurons: np.ndarray | None = None) -> np.ndarray:
    """(n,) mean firing rate [Hz]: spikes in the trial / its duration."""
    t, n = _resolve(trial, neurons)
    return total_counts(t, n) / t.duration_s


def _intervals(
    trial: object, neurons: np.ndarray | None, name: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Inter-spike intervals [s] of all neurons, in time order per neuron, with the column of each
    interval's neuron in `neurons`, and the number of neurons."""
    t, n = _resolve(trial, neurons)
    trains = spike_times(t, n, name)
    sizes = np.array([len(x) for x in trains], dtype=np.int64)
    flat = np.concatenate(trains) if trains else np.zeros(0)
    col = np.repeat(np.arange(len(n)), sizes)
    same = col[1:] == col[:-1]
    return np.diff(flat)[same], col[1:][same], len(n)


def isi_cv(trial: object, neurons: np.ndarray | None = None) -> np.ndarray:
    """(n,) coefficient of variation of the inter-spike intervals: std / mean (population std,
    ddof=0). Poisson process: 1; regular train: 0. NaN with fewer than 2 intervals. Needs times."""
    isi, col, n = _intervals(trial, neurons, "isi_cv")
    k = np.bincount(col, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(col, isi, minlength=n) / k
        sd = np.sqrt(np.bincount(col, (isi - mean[col]) ** 2, minlength=n) / k)
        return np.where((k >= 2) & (mean > 0), sd / mean, np.nan)


def local_variation(trial: object, neurons: np.ndarray | None = None) -> np.ndarray:
    """(n,) local variation LV = 3/(m-1) * sum_i ((I_i - I_{i+1}) / (I_i + I_{i+1}))^2 over the m
    intervals I (Shinomoto et al. 2003): Poisson 1, regular 0, insensitive to slow rate changes.
    NaN with fewer than 2 intervals. Needs times."""
    isi, col, n = _intervals(trial, neurons, "local_variation")
    pair = (col[1:] == col[:-1]) & (isi[1:] + isi[:-1] > 0)
    a, b, c = isi[:-1][pair], isi[1:][pair], col[1:][pair]
    k = np.bincount(c, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            k > 0, 3.0 * np.bincount(c, ((a - b) / (a + b)) ** 2, minlength=n) / k, np.nan
        )


def fano_factor(trial: object, window_s: float, neurons: np.ndarray | None = None) -> np.ndarray:
    """(n,) Fano factor var / mean of the spike counts in consecutive windows of `window_s` [s]
    inside the trial (sample variance, ddof=1; a stationary trial is assumed). Poisson: 1 at every
    window; regular train: -> 0 at windows that are multiples of the period. NaN with fewer than 2
    windows or no spikes."""
    t, n = _resolve(trial, neurons)
    c = binned(t, n, window_s).astype(float)
    if c.shape[0] < 2:
        return np.full(len(n), np.nan)
    m = c.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(m > 0, c.var(axis=0, ddof=1) / m, np.nan)


def count_correlation(trial: object, bin_s: float, neurons: np.ndarray | None = None) -> np.ndarray:
    """(n, n) Pearson correlation of the spike counts in bins of `bin_s` [s]; NaN in the rows and
    columns of neurons whose count does not vary (silent ones), 1 on the other diagonal entries."""
    t, n = _resolve(trial, neurons)
    c = binned(t, n, bin_s).astype(float)
    c -= c.mean(axis=0)
    sd = np.sqrt((c**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(sd > 0, c / sd, np.nan)
    return z.T @ z


def mean_correlation(corr: np.ndarray) -> np.ndarray:
    """(n,) each neuron's mean correlation with the others (NaN entries ignored)."""
    c = np.array(corr, dtype=float)
    np.fill_diagonal(c, np.nan)
    return nanmean(c, axis=1)


def nanmean(a: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Mean over the finite entries along `axis`; NaN (without a warning) where there are none."""
    a = np.asarray(a, float)
    ok = np.isfinite(a)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, a, 0.0).sum(axis=axis) / ok.sum(axis=axis)


def first_spike_latency(
    trial: object, onset_s: float = 0.0, neurons: np.ndarray | None = None
) -> np.ndarray:
    """(n,) time [s] from `onset_s` to each neuron's first spike at or after it; NaN if none.
    Needs times."""
    t, n = _resolve(trial, neurons)
    out = np.full(len(n), np.nan)
    for i, s in enumerate(spike_times(t, n, "first_spike_latency")):
        k = np.searchsorted(s, onset_s)
        if k < s.size:
            out[i] = s[k] - onset_s
    return out


def psth(trials: Sequence[object], bin_s: float, neurons: np.ndarray | None = None) -> np.ndarray:
    """(n_bins, n) peri-stimulus time histogram [Hz]: the mean over repeated trials (each
    starting at stimulus onset, all of one length) of the spike count per bin / bin_s."""
    ts = [as_trial(t) for t in trials]
    if not ts:
        raise ConfigError("trials", "an empty sequence", "at least one trial")
    if len({t.duration_us for t in ts}) != 1:
        raise ConfigError(
            "trials", sorted({t.duration_us for t in ts})[:4], "trials of one length [us]"
        )
    n = neurons_of(ts) if neurons is None else np.asarray(neurons, dtype=np.int64)
    return np.mean([binned(t, n, bin_s) for t in ts], axis=0) / bin_s


# ---- van Rossum distance --------------------------------------------------------------------------


def van_rossum_distance(a_s: np.ndarray, b_s: np.ndarray, tau_s: float) -> float:
    """van Rossum distance between two spike trains (spike times [s]) with time constant tau_s.

    Normalisation: D^2 = (2 / tau) * integral_0^inf (f_a(t) - f_b(t))^2 dt, with
    f(t) = sum_i H(t - t_i) exp(-(t - t_i) / tau) (the tail after the last spike is included).
    Closed form: D^2 = sum_ij k(a_i, a_j) + sum_ij k(b_i, b_j) - 2 sum_ij k(a_i, b_j), with
    k(x, y) = exp(-|x - y| / tau). So one unmatched spike adds 1 to D^2, D^2 -> the number of
    non-coincident spikes as tau -> 0, and D is sqrt(2) times van Rossum's (2001) 1/tau form.
    """
    return float(van_rossum_matrix([np.asarray(a_s), np.asarray(b_s)], tau_s)[0, 1])


def van_rossum_matrix(trains: Sequence[np.ndarray], tau_s: float) -> np.ndarray:
    """(m, m) van Rossum distances between m spike trains (times [s]); normalisation as in
    `van_rossum_distance`. Exact, O(S * m) for S spikes in all.

    All spikes are sorted together; H[k, b] = sum over the spikes j of train b sorted before spike
    k of exp(-(t_k - t_j) / tau) is a running sum, kept in float64 by rebasing every 500 tau. Then
    the kernel sums are K = P + P^T + diag(n) with P[a, b] = sum over the spikes k of a of H[k, b].
    """
    if not (np.isfinite(tau_s) and tau_s > 0):
        raise ConfigError("tau_s", tau_s, "a finite time constant [s] > 0")
    m = len(trains)
    sizes = np.array([len(t) for t in trains], dtype=np.int64)
    s = np.concatenate([np.asarray(t, float) for t in trains]) if m else np.zeros(0)
    order = np.argsort(s, kind="stable")
    s, label = s[order], np.repeat(np.arange(m), sizes)[order]
    h = np.zeros((s.size, m))
    carry, t0 = np.zeros(m), s[0] if s.size else 0.0
    lo = 0
    while lo < s.size:
        hi = int(np.searchsorted(s, t0 + 500 * tau_s, side="left"))
        hi = max(hi, lo + 1)
        w = np.zeros((hi - lo, m))
        w[np.arange(hi - lo), label[lo:hi]] = np.exp((s[lo:hi] - t0) / tau_s)
        before = np.cumsum(w, axis=0) - w + carry  # spikes before k, weighted at t0
        h[lo:hi] = before * np.exp(-(s[lo:hi] - t0) / tau_s)[:, None]
        t1 = s[hi] if hi < s.size else s[-1]
        carry = (carry + w.sum(axis=0)) * np.exp(-(t1 - t0) / tau_s)
        lo, t0 = hi, t1
    p = np.zeros((m, m))
    np.add.at(p, label, h)
    gram = p + p.T + np.diag(sizes.astype(float))
    d2 = np.diag(gram)[:, None] + np.diag(gram)[None, :] - 2.0 * gram
    return np.sqrt(np.maximum(d2, 0.0))


# ---- a per-neuron table ---------------------------------------------------------------------------


def summary(
    trials: Sequence[object],
    neurons: np.ndarray | None = None,
    fano_windows_s: Sequence[float] = (0.01, 0.1),
) -> pd.DataFrame:
    """Per-neuron means over trials: rate_hz, cv, lv, fano_<window>ms, latency_s (NaN-ignoring),
    one row per neuron (index `neuron`, board-wide). Columns that need spike times are NaN when a
    trial holds counts; `df.attrs["skipped"]` says which and why."""
    ts = [as_trial(t) for t in trials]
    n = neurons_of(ts) if neurons is None else np.asarray(neurons, dtype=np.int64)
    cols: dict[str, list[np.ndarray]] = {}
    skipped: dict[str, str] = {}

    def add(name: str, fn) -> None:  # noqa: ANN001
        try:
            cols.setdefault(name, []).extend(fn(t) for t in ts)
        except SpikeTimesRequired as e:
            skipped[name] = str(e)
            cols[name] = [np.full(len(n), np.nan)]

    add("rate_hz", lambda t: firing_rate(t, n))
    add("cv", lambda t: isi_cv(t, n))
    add("lv", lambda t: local_variation(t, n))
    for w in fano_windows_s:
        add(f"fano_{w * 1e3:g}ms", lambda t, w=w: fano_factor(t, w, n))
    add("latency_s", lambda t: first_spike_latency(t, 0.0, n))
    df = pd.DataFrame(
        {k: nanmean(np.stack(v), axis=0) for k, v in cols.items()},
        index=pd.Index(n, name="neuron"),
    )
    df.attrs["skipped"] = skipped
    df.attrs["n_trials"] = len(ts)
    return df
