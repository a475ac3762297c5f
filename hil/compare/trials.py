"""One trial of output spikes, the unit of replication of every comparison in hil.compare.

A `Trial` holds either spike events (hil.events.OUTPUT_DTYPE, with times) or a counts readout
(hil.events.Counts, spike counts per bin, no times) and the trial's length. `as_trial` turns a
Recording (anything with `.readout`, `.events` / `.counts` and `.duration_s`), a Counts or a Trial
into a Trial; it is the one place that knows what a Recording looks like.

Board-wide neuron indices (hil.chip.geometry.global_neuron) name the neurons everywhere here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from hil import events as ev
from hil.errors import ConfigError, HilError


class SpikeTimesRequired(HilError, ValueError):
    """A statistic needs spike times but the data holds only counts per bin."""


@dataclass(frozen=True)
class Trial:
    """One trial: `events` (OUTPUT_DTYPE, time-sorted, t_us from the trial start) or `counts`
    (hil.events.Counts), and its length `duration_s` [s]."""

    duration_s: float
    events: np.ndarray | None = None
    counts: ev.Counts | None = None

    def __post_init__(self) -> None:
        if (self.events is None) == (self.counts is None):
            raise ConfigError("trial", "events and counts", "exactly one of events or counts")
        if not (np.isfinite(self.duration_s) and self.duration_s > 0):
            raise ConfigError("duration_s", self.duration_s, "a finite number of seconds > 0")
        if self.events is not None:
            ev.validate(self.events)
            if self.events.dtype != ev.OUTPUT_DTYPE:
                raise ConfigError("events", str(self.events.dtype), f"{ev.OUTPUT_DTYPE}")

    @property
    def has_times(self) -> bool:
        return self.events is not None

    @property
    def duration_us(self) -> int:
        return int(round(self.duration_s * 1e6))

    def neurons(self) -> np.ndarray:
        """Sorted board-wide indices this trial covers: the counts' neurons, or those that spiked."""
        if self.counts is not None:
            return np.asarray(self.counts.neurons, dtype=np.int64)
        assert self.events is not None
        return np.unique(ev.global_index(self.events))


def as_trial(obj: object) -> Trial:
    """A Trial from a Trial, an events.Counts, or a Recording-like object: `.readout` "spikes"
    (then `.events`, OUTPUT_DTYPE) or "counts" (then `.counts`, events.Counts), and `.duration_s`.

    A bare events array carries no length: wrap it as `Trial(duration_s, events=...)`.
    """
    if isinstance(obj, Trial):
        return obj
    if isinstance(obj, ev.Counts):
        return Trial(obj.duration_us * 1e-6, counts=obj)
    readout = getattr(obj, "readout", None)
    if readout in ("spikes", "counts") and hasattr(obj, "duration_s"):
        # a missing .events/.counts is None here, which Trial refuses with what it needs
        if readout == "spikes":
            return Trial(float(obj.duration_s), events=getattr(obj, "events", None))
        return Trial(float(obj.duration_s), counts=getattr(obj, "counts", None))
    raise ConfigError(
        "recording",
        type(obj).__name__,
        "a Recording (.readout 'spikes' or 'counts', .duration_s), an events.Counts, or a "
        "hil.compare.Trial (wrap bare events as Trial(duration_s, events=...))",
    )


def as_trials(obj: object, trial_s: float | None = None) -> list[Trial]:
    """Trials from one recording or a sequence of them (each one trial); with `trial_s`, every
    recording is cut into consecutive windows of `trial_s` seconds, each a trial (the remainder is
    dropped). Cutting is valid only for a stationary stimulus and windows much longer than the
    network's memory: the windows must be (nearly) independent repetitions."""
    items: Iterable[object]
    if isinstance(obj, Sequence) and not isinstance(obj, np.ndarray | str):
        items = obj
    else:
        items = [obj]
    trials = [as_trial(o) for o in items]
    if not trials:
        raise ConfigError("recordings", "an empty sequence", "at least one trial")
    if trial_s is None:
        return trials
    return [w for t in trials for w in split(t, trial_s)]


def split(trial: Trial, trial_s: float) -> list[Trial]:
    """Cut a trial into consecutive windows of `trial_s` [s] (times rebased to each window)."""
    step = int(round(trial_s * 1e6))
    n = trial.duration_us // step if step > 0 else 0
    if n < 1:
        raise ConfigError("trial_s", trial_s, f"seconds in (0, {trial.duration_s}], the run length")
    if trial.events is not None:
        return [
            Trial(trial_s, events=ev.time_slice(trial.events, i * step, (i + 1) * step, True))
            for i in range(n)
        ]
    c = trial.counts
    assert c is not None
    if step % c.bin_us:
        raise ConfigError("trial_s", trial_s, f"a multiple of the counts bin ({c.bin_us} us)")
    k = step // c.bin_us
    return [
        Trial(trial_s, counts=ev.Counts(c.counts[i * k : (i + 1) * k], c.neurons, c.bin_us, step))
        for i in range(n)
    ]


def neurons_of(trials: Iterable[Trial]) -> np.ndarray:
    """Sorted union of the neurons the trials cover."""
    sets = [t.neurons() for t in trials]
    return np.unique(np.concatenate(sets)) if sets else np.zeros(0, np.int64)


def require_times(trial: Trial, statistic: str) -> np.ndarray:
    """The trial's events, or SpikeTimesRequired naming the statistic."""
    if trial.events is None:
        raise SpikeTimesRequired(
            f"{statistic} needs spike times; this recording holds counts per "
            f"{trial.counts.bin_us if trial.counts is not None else '?'} us bin (counts readout)"
        )
    return trial.events


def spike_times(trial: Trial, neurons: np.ndarray, statistic: str = "this statistic") -> list:
    """Spike times [s] per neuron (sorted float64 arrays, in the order of `neurons`)."""
    events = require_times(trial, statistic)
    g = ev.global_index(events)
    order = np.lexsort((events["t_us"], g))
    g, t = g[order], events["t_us"][order] * 1e-6
    lo = np.searchsorted(g, neurons, side="left")
    hi = np.searchsorted(g, neurons, side="right")
    return [t[a:b] for a, b in zip(lo, hi, strict=True)]


def binned(trial: Trial, neurons: np.ndarray, bin_s: float) -> np.ndarray:
    """Spike counts in consecutive full bins of `bin_s` [s]: (n_bins, n_neurons) int64, with
    n_bins = floor(duration / bin_s); a last partial bin is dropped. From counts, `bin_s` must be a
    multiple of the readout bin and every neuron must be one the readout covers."""
    w = int(round(bin_s * 1e6))
    if w <= 0:
        raise ConfigError("bin_s", bin_s, "seconds >= 1e-6")
    n_bins = trial.duration_us // w
    out = np.zeros((n_bins, len(neurons)), np.int64)
    if trial.events is not None:
        col, ok = _event_columns(trial.events, neurons)
        row = trial.events["t_us"] // w
        ok &= row < n_bins
        np.add.at(out, (row[ok], col[ok]), 1)
        return out
    c = trial.counts
    assert c is not None
    if w % c.bin_us:
        raise ConfigError("bin_s", bin_s, f"a multiple of the counts readout bin ({c.bin_us} us)")
    k = w // c.bin_us
    col = _columns(c, neurons)
    return np.asarray(c.counts)[: n_bins * k, col].reshape(n_bins, k, len(neurons)).sum(axis=1)


def total_counts(trial: Trial, neurons: np.ndarray) -> np.ndarray:
    """(n_neurons,) spikes per neuron over the whole trial (counts: every bin, the last partial
    one included)."""
    if trial.events is not None:
        col, ok = _event_columns(trial.events, neurons)
        return np.bincount(col[ok], minlength=len(neurons)).astype(np.int64)
    assert trial.counts is not None
    return np.asarray(trial.counts.counts)[:, _columns(trial.counts, neurons)].sum(axis=0)


def _columns(c: ev.Counts, neurons: np.ndarray) -> np.ndarray:
    """Columns of `neurons` in a counts readout; ConfigError naming those it does not cover."""
    have = np.asarray(c.neurons)
    col, found = _lookup(have, neurons)
    missing = ~found
    if np.any(missing):
        raise ConfigError(
            "neurons",
            [int(x) for x in neurons[missing][:8]],
            f"neurons the counts readout covers ({len(have)} of them)",
        )
    return col


def _lookup(table: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of `keys` in the sorted `table` and whether each key is there."""
    pos = np.searchsorted(table, keys)
    found = pos < len(table)
    found[found] &= table[pos[found]] == keys[found]
    return pos, found


def _event_columns(events: np.ndarray, neurons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column of each event's neuron in `neurons` and whether the neuron is one of them."""
    return _lookup(neurons, ev.global_index(events))
