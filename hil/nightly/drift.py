"""Drift of a board against its history: per core, per neuron, newly dead and newly hot neurons.

Two families of per-neuron statistics are judged:
- the DC probe network's rates (hil.campaign.probe: rate_100pa_hz, rate_1na_hz, with their
  within-night standard errors, and spont_hz);
- the twin's identified parameters (hil.mismatch, stored nightly as twin_<current>_a [A]) that
  come with a standard error twin_<current>_se_a: Iref, Itau_mem, Igain_mem, Ispkthr and the
  synaptic Itau_<type> (the fit's own per-neuron errors, hil.mismatch.fit: the Levenberg-Marquardt
  covariance of the membrane fit, the refractory regression's error, the spread of the synaptic
  time constant's repeats).
Any metric with a `<name>_se_<unit>` partner is tested the same way.

Reference: per metric, the board's first complete night that has it (its baseline). Tonight's
value x of a neuron is compared with its reference value r:

    rel = x / r - 1
    z   = (x - r) / (k * sqrt(se_x^2 + se_r^2))

se_x, se_r are the within-night standard errors; k >= 1 scales them up to the night-to-night noise
the history shows: per core and metric, k = max(1, 1.4826 * MAD of the z-scores of the second
differences of the last HISTORY_NIGHTS nights; noise_scale). Measurement noise (k * se) therefore
turns into a z that stays small on a stable chip, whatever the chip's noise is.

An alert needs both: a change beyond the documented size (THRESHOLDS) and beyond the noise.

- core drift: the median rel of a core's neurons (neither dead nor hot on either night; rates:
  reference rate >= min_rate_hz; parameters: a standard error on both nights), |median rel| >=
  core_rel (5 %; parameters param_core_rel, 5 %), and |z_core| >= z_core (4), where z_core =
  median rel / (1.2533 * median(k * se_rel) / sqrt(n)), the standard error of a median of n
  neurons;
- neuron drift: |rel| >= neuron_rel (20 %; parameters param_neuron_rel, 20 %) and |z| >= z_neuron
  (5: Bonferroni over ~1000 tests at a family-wise 0.1 %); rates at the strongest DC level only
  (1 nA, 30-50 Hz, far from the rheobase; near the rheobase a neuron's rate moves by tens of
  percent for a few percent of leak, which the core median tracks), every parameter;
- newly dead: silent at the strongest DC level tonight, spiking there on the reference night;
- newly hot: spont_hz >= HOT_MIN_HZ tonight (5 Hz with no input), below it on the reference night.

The core z treats a core's neurons as independent. A fit error shared by a core's neurons (the
per-core DC branch factor of the membrane fit: about 1 % night to night, docs/nightly.md) is not
in it; the 5 % size threshold is what keeps it from alarming.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hil.campaign.probe import HOT_MIN_HZ
from hil.chip.geometry import CORES_PER_CHIP, neuron_address

METRIC = re.compile(r"[a-z][a-z0-9_]{0,63}")  # a store metric name (hil.store)
HISTORY_NIGHTS = 14  # nights of history that estimate the night-to-night noise scale k
MAX_NEURON_ALERTS = 200  # per kind and night; the rest are counted in the core's alert


@dataclass(frozen=True)
class Thresholds:
    """The documented alert thresholds (module docstring)."""

    core_rel: float = 0.05
    neuron_rel: float = 0.20
    z_core: float = 4.0
    z_neuron: float = 5.0
    min_rate_hz: float = 2.0
    hot_hz: float = HOT_MIN_HZ
    param_core_rel: float = 0.05
    param_neuron_rel: float = 0.20


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Finding:
    """One alert: kind ("core_drift", "neuron_drift", "newly_dead", "newly_hot"), the metric, the
    board-wide neuron or core (chip * 4 + core), the value (rel change, or the rate) and the
    threshold it crossed, the z-score where there is one, and a message."""

    kind: str
    message: str
    metric: str | None = None
    neuron: int | None = None
    core: int | None = None
    value: float | None = None
    threshold: float | None = None
    z: float | None = None


@dataclass(frozen=True)
class Night:
    """One night's per-neuron values by metric, aligned with `neurons` (board-wide, sorted)."""

    neurons: np.ndarray
    values: Mapping[str, np.ndarray]

    def get(self, metric: str) -> np.ndarray:
        v = self.values.get(metric)
        return np.full(self.neurons.size, np.nan) if v is None else np.asarray(v, float)


def se_metric(metric: str) -> str:
    """The standard-error partner of a metric: rate_1na_hz -> rate_1na_se_hz."""
    head, _, unit = metric.rpartition("_")
    return f"{head}_se_{unit}"


def noise_scale(history: list[Night], metric: str, cores: np.ndarray) -> dict[int, float]:
    """k per board-wide core: 1.4826 * MAD of the second-difference z-scores of the history
    (>= 1; 1 with fewer than 3 nights). `history`: oldest first.

    Second differences d2 = x[t+1] - 2 x[t] + x[t-1] cancel a drift that is linear over three
    nights, so that the drift being watched does not pass for noise; their variance under pure
    noise is se[t+1]^2 + 4 se[t]^2 + se[t-1]^2."""
    out = {int(c): 1.0 for c in np.unique(cores)}
    if len(history) < 3:
        return out
    zs = []
    for a, b, c in zip(history[:-2], history[1:-1], history[2:], strict=True):
        xa, xb, xc = a.get(metric), b.get(metric), c.get(metric)
        sa, sb, sc = (n.get(se_metric(metric)) for n in (a, b, c))
        with np.errstate(invalid="ignore", divide="ignore"):
            zs.append((xc - 2 * xb + xa) / np.sqrt(sc**2 + 4 * sb**2 + sa**2))
    z = np.vstack(zs)
    for core in out:
        zc = z[:, cores == core]
        zc = zc[np.isfinite(zc)]
        if zc.size >= 10:
            mad = 1.4826 * float(np.median(np.abs(zc - np.median(zc))))
            out[core] = max(1.0, mad)
    return out


def check(
    reference: Night,
    tonight: Night,
    history: list[Night],
    metrics: list[str],
    strongest: str,
    thresholds: Thresholds = THRESHOLDS,
    params: Sequence[str] = (),
) -> tuple[list[Finding], dict[str, dict[int, dict[str, float]]]]:
    """Findings of tonight against the reference night (see the module docstring), and per metric
    and core the numbers behind them: median_rel, z, n, k. All Nights share `neurons`.
    `metrics`: the probe's rate metrics [Hz]; `strongest`: the one of the strongest DC level (dead
    neurons are silent there); `params`: identified-parameter metrics (twin_<current>_a [A]),
    judged per core and per neuron with the param_* thresholds wherever both nights give them a
    standard error."""
    th = thresholds
    neurons = tonight.neurons
    if not np.array_equal(reference.neurons, neurons):
        raise ValueError("reference and tonight must cover the same neurons")
    chip, core, _ = neuron_address(np.asarray(neurons, np.int64))
    cores = chip * CORES_PER_CHIP + core  # board-wide core index
    found: list[Finding] = []
    dead_ref = reference.get(strongest) == 0
    dead_now = tonight.get(strongest) == 0
    hot_ref = reference.get("spont_hz") >= th.hot_hz
    hot_now = tonight.get("spont_hz") >= th.hot_hz
    for kind, new in (("newly_dead", dead_now & ~dead_ref), ("newly_hot", hot_now & ~hot_ref)):
        for i in np.flatnonzero(new)[:MAX_NEURON_ALERTS]:
            what = (
                f"silent at the strongest DC level ({strongest}); it spiked at "
                f"{reference.get(strongest)[i]:.1f} Hz on the reference night"
                if kind == "newly_dead"
                else f"spikes at {tonight.get('spont_hz')[i]:.1f} Hz with no input "
                f"(>= {th.hot_hz:g} Hz); {reference.get('spont_hz')[i]:.1f} Hz on the reference night"
            )
            found.append(
                Finding(
                    kind,
                    f"neuron {int(neurons[i])}: {what}",
                    metric=strongest if kind == "newly_dead" else "spont_hz",
                    neuron=int(neurons[i]),
                    core=int(cores[i]),
                    value=float(
                        tonight.get(strongest)[i]
                        if kind == "newly_dead"
                        else tonight.get("spont_hz")[i]
                    ),
                    threshold=0.0 if kind == "newly_dead" else th.hot_hz,
                )
            )
    numbers: dict[str, dict[int, dict[str, float]]] = {}
    usable = ~(dead_ref | dead_now | hot_ref | hot_now)
    for metric in [*metrics, *params]:
        is_param = metric in params
        r, x = reference.get(metric), tonight.get(metric)
        sr, sx = reference.get(se_metric(metric)), tonight.get(se_metric(metric))
        k = noise_scale(history, metric, cores)
        kk = np.array([k[int(c)] for c in cores])
        ok = usable & np.isfinite(r) & np.isfinite(x)
        if is_param:  # a neuron the fit gave no standard error for is not judged
            ok &= np.isfinite(sr) & np.isfinite(sx) & (r > 0)
        else:
            ok &= r >= th.min_rate_hz
        sr, sx = np.nan_to_num(sr), np.nan_to_num(sx)
        core_rel = th.param_core_rel if is_param else th.core_rel
        neuron_rel = th.param_neuron_rel if is_param else th.neuron_rel
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = x / r - 1.0
            se_abs = kk * np.sqrt(sr**2 + sx**2)
            z = (x - r) / se_abs
            se_rel = se_abs / r
        numbers[metric] = {}
        for c in np.unique(cores):
            m = ok & (cores == c)
            n = int(m.sum())
            if n < 10:
                continue
            med = float(np.median(rel[m]))
            spread = 1.2533 * float(np.median(se_rel[m])) / np.sqrt(n)
            zc = med / spread if spread > 0 else (np.inf if med else 0.0)
            numbers[metric][int(c)] = {"median_rel": med, "z": float(zc), "n": n, "k": k[int(c)]}
            if abs(med) >= core_rel and abs(zc) >= th.z_core:
                found.append(
                    Finding(
                        "core_drift",
                        f"core {int(c)}: {metric} moved {100 * med:+.1f} % (median of {n} "
                        f"neurons) since the reference night, z = {zc:.1f} (noise scale k = "
                        f"{k[int(c)]:.2f}); thresholds {100 * core_rel:g} % and z {th.z_core:g}",
                        metric=metric,
                        core=int(c),
                        value=med,
                        threshold=core_rel,
                        z=float(zc),
                    )
                )
        if metric != strongest and not is_param:
            continue
        unit = {"hz": "Hz", "a": "A"}.get(metric.rpartition("_")[2], "")
        hit = ok & (np.abs(rel) >= neuron_rel) & (np.abs(z) >= th.z_neuron)
        for i in np.flatnonzero(hit)[:MAX_NEURON_ALERTS]:
            found.append(
                Finding(
                    "neuron_drift",
                    f"neuron {int(neurons[i])}: {metric} {r[i]:.4g} -> {x[i]:.4g} {unit} "
                    f"({100 * rel[i]:+.1f} %, z = {z[i]:.1f}); thresholds "
                    f"{100 * neuron_rel:g} % and z {th.z_neuron:g}",
                    metric=metric,
                    neuron=int(neurons[i]),
                    core=int(cores[i]),
                    value=float(rel[i]),
                    threshold=neuron_rel,
                    z=float(z[i]),
                )
            )
    return found, numbers
