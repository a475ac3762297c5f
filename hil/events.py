"""Spike events as numpy structured arrays with integer microsecond timestamps.

Input stimuli: INPUT_DTYPE (t_us, channel). Output spikes: OUTPUT_DTYPE (t_us, chip, core, neuron).
Timestamps count microseconds from the start of a run (the board FPGA clock is 1 us).
Rasters are spike counts per time bin, shape (T, channels) for inputs and (T, chips * 1024) for
outputs, indexed by the board-wide neuron index `chip * 1024 + core * 256 + neuron`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hil.chip.geometry import (
    CORES_PER_CHIP,
    MAX_CHIPS,
    NEURONS_PER_CHIP,
    NEURONS_PER_CORE,
    NUM_INPUT_CHANNELS,
    global_neuron,
    neuron_address,
)
from hil.errors import EventError

INPUT_DTYPE = np.dtype([("t_us", "<i8"), ("channel", "<i4")])
OUTPUT_DTYPE = np.dtype([("t_us", "<i8"), ("chip", "<u1"), ("core", "<u1"), ("neuron", "<u2")])


def input_events(t_us: npt.ArrayLike, channel: npt.ArrayLike) -> np.ndarray:
    """Build input events from timestamps [us] and channels; sorted by time (stable)."""
    t = np.asarray(t_us, dtype=np.int64)
    ch = np.asarray(channel)
    i32 = np.iinfo(np.int32)
    bad = (ch < i32.min) | (ch > i32.max)
    if np.any(bad):  # the int32 field would wrap it into another channel
        raise EventError(
            f"channel {int(ch[bad].flat[0])}; allowed 0..{NUM_INPUT_CHANNELS - 1} (the wire's u16)"
        )
    ev = np.empty(t.shape[0], INPUT_DTYPE)
    ev["t_us"], ev["channel"] = t, ch
    return sort(ev)


def output_events(
    t_us: npt.ArrayLike, chip: npt.ArrayLike, core: npt.ArrayLike, neuron: npt.ArrayLike
) -> np.ndarray:
    """Build output events from timestamps [us] and addresses; sorted by time (stable)."""
    t = np.asarray(t_us, dtype=np.int64)
    ev = np.empty(t.shape[0], OUTPUT_DTYPE)
    ev["t_us"], ev["chip"], ev["core"], ev["neuron"] = t, chip, core, neuron
    return sort(ev)


def output_events_at(t_us: npt.ArrayLike, index: npt.ArrayLike) -> np.ndarray:
    """Build output events from timestamps [us] and board-wide neuron indices; sorted by time."""
    return output_events(t_us, *neuron_address(np.asarray(index, dtype=np.int64)))


def global_index(events: np.ndarray) -> np.ndarray:
    """Board-wide neuron index of output events (chip * 1024 + core * 256 + neuron)."""
    return global_neuron(events["chip"], events["core"], events["neuron"])


@dataclass(frozen=True)
class Counts:
    """Spike counts per time bin, the `counts` readout (hil.board.CountsReadout).

    counts: (n_bins, n_neurons) int32, bin b covering [b * bin_us, (b + 1) * bin_us) us from the
    start of the run (the last bin ends at duration_us and may be shorter);
    neurons: (n_neurons,) int64 board-wide neuron indices (hil.chip.geometry.global_neuron), sorted:
    the neurons the applied config sets; bin_us: bin width [us]; duration_us: run length [us].
    """

    counts: np.ndarray
    neurons: np.ndarray
    bin_us: int
    duration_us: int

    def __post_init__(self) -> None:
        c, n = np.asarray(self.counts), np.asarray(self.neurons)
        want = -(-self.duration_us // self.bin_us) if self.bin_us > 0 else -1
        if c.ndim != 2 or n.ndim != 1 or c.shape != (want, n.shape[0]):
            raise EventError(
                f"counts shape {c.shape} with {n.shape} neurons, bin {self.bin_us} us, "
                f"duration {self.duration_us} us; allowed: (ceil(duration / bin), n_neurons)"
            )

    def total(self) -> np.ndarray:
        """(n_neurons,) spikes per neuron over the whole run."""
        return self.counts.sum(axis=0)

    @classmethod
    def from_events(
        cls, events: np.ndarray, neurons: np.ndarray, bin_us: int, duration_us: int
    ) -> Counts:
        """Count output events (OUTPUT_DTYPE, 0 <= t_us < duration_us) per bin for `neurons`
        (sorted board-wide indices); events of other neurons are not counted."""
        neurons = np.asarray(neurons, dtype=np.int64)
        t = events["t_us"]
        if t.size and (t.min() < 0 or t.max() >= duration_us):
            raise EventError(f"events from {t.min()} to {t.max()} us; allowed 0..{duration_us - 1}")
        g = global_index(events)
        col = np.minimum(np.searchsorted(neurons, g), max(neurons.size - 1, 0))
        keep = neurons[col] == g if neurons.size else np.zeros(g.size, bool)
        counts = np.zeros((-(-duration_us // bin_us), neurons.size), np.int32)
        np.add.at(counts, (t[keep] // bin_us, col[keep]), 1)
        return cls(counts, neurons, int(bin_us), int(duration_us))


def sort(events: np.ndarray) -> np.ndarray:
    """Events in time order; events at the same time keep their order."""
    return events[np.argsort(events["t_us"], kind="stable")]


def merge(*streams: np.ndarray) -> np.ndarray:
    """Merge event arrays of one dtype into one time-sorted array."""
    if not streams:
        raise EventError("merge needs at least one event array")
    dtypes = {s.dtype for s in streams}
    if len(dtypes) != 1:
        raise EventError(f"cannot merge events of different dtypes: {sorted(map(str, dtypes))}")
    return sort(np.concatenate(streams))


def time_slice(events: np.ndarray, t0_us: int, t1_us: int, rebase: bool = False) -> np.ndarray:
    """Events with t0_us <= t_us < t1_us (input must be sorted); with `rebase`, times from t0_us."""
    lo, hi = np.searchsorted(events["t_us"], [t0_us, t1_us], side="left")
    out = events[lo:hi].copy()
    if rebase:
        out["t_us"] -= t0_us
    return out


def validate(
    events: np.ndarray, n_chips: int = MAX_CHIPS, n_channels: int | None = None
) -> np.ndarray:
    """Check dtype, non-negative and non-decreasing time and address ranges; return `events`."""
    if not isinstance(events, np.ndarray) or events.dtype not in (INPUT_DTYPE, OUTPUT_DTYPE):
        raise EventError(
            f"events must be a numpy array of dtype {INPUT_DTYPE} (inputs) or "
            f"{OUTPUT_DTYPE} (outputs), got {getattr(events, 'dtype', type(events))}"
        )
    t = events["t_us"]
    if t.size and t[0] < 0:
        raise EventError(f"event 0 has t_us={int(t[0])}; timestamps must be >= 0 us")
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise EventError(
            f"event {i} has t_us={int(t[i])} < t_us={int(t[i - 1])} of event {i - 1}; "
            "timestamps must not decrease (use hil.events.sort)"
        )
    if events.dtype == INPUT_DTYPE:
        top = NUM_INPUT_CHANNELS if n_channels is None else min(n_channels, NUM_INPUT_CHANNELS)
        bad = (events["channel"] < 0) | (events["channel"] >= top)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise EventError(
                f"event {i} has channel={int(events['channel'][i])}; allowed 0..{top - 1}"
            )
    else:
        for name, hi in (("chip", n_chips), ("core", CORES_PER_CHIP), ("neuron", NEURONS_PER_CORE)):
            bad = events[name] >= hi
            if np.any(bad):
                i = int(np.flatnonzero(bad)[0])
                raise EventError(
                    f"event {i} has {name}={int(events[name][i])}; allowed 0..{hi - 1}"
                )
    return events


def n_bins(duration_s: float, dt: float) -> int:
    """Number of time bins of width dt [s] in duration_s [s] (rounded to the nearest bin)."""
    return int(round(duration_s / dt))


def events_to_raster(
    events: np.ndarray, dt: float, duration_s: float, n_columns: int | None = None
) -> np.ndarray:
    """Spike counts per bin, shape (T, n_columns), int32.

    Inputs are counted by channel, outputs by board-wide neuron index. Events at or after
    `duration_s` are dropped. `n_columns` defaults to max index + 1 (inputs) or the chips seen * 1024.
    """
    T = n_bins(duration_s, dt)
    if events.dtype == INPUT_DTYPE:
        col = events["channel"].astype(np.int64)
        default = int(col.max()) + 1 if col.size else 0
    elif events.dtype == OUTPUT_DTYPE:
        col = global_index(events)
        default = (
            (int(events["chip"].max()) + 1) * NEURONS_PER_CHIP if col.size else NEURONS_PER_CHIP
        )
    else:
        raise EventError(f"not an event array: dtype {events.dtype}")
    n = default if n_columns is None else n_columns
    row = (events["t_us"] // int(round(dt * 1e6))).astype(np.int64)
    keep = (row < T) & (col < n)
    raster = np.zeros((T, n), np.int32)
    np.add.at(raster, (row[keep], col[keep]), 1)
    return raster


def raster_to_input_events(raster: np.ndarray, dt: float) -> np.ndarray:
    """Input events from a (T, channels) count raster: a count k in bin t gives k events, at the
    bin's start plus 0, 1, ... us (so repeated spikes stay distinct, as on the FPGA)."""
    r = np.asarray(raster)
    if r.ndim != 2 or np.any(r < 0):
        raise EventError(
            f"raster must be a (T, channels) array of counts >= 0, got shape {r.shape}"
        )
    t_idx, ch = np.nonzero(r)
    counts = r[t_idx, ch].astype(np.int64)
    reps = np.repeat(np.arange(counts.size), counts)
    offset = np.arange(reps.size) - np.repeat(np.cumsum(counts) - counts, counts)
    step_us = int(round(dt * 1e6))
    return input_events(t_idx[reps] * step_us + offset, ch[reps])


def raster_to_output_events(raster: np.ndarray, dt: float) -> np.ndarray:
    """Output events from a (T, neurons) count raster over board-wide neuron indices."""
    inp = raster_to_input_events(raster, dt)
    return output_events_at(inp["t_us"], inp["channel"])


def poisson_input(
    rate_hz: float | np.ndarray, n_channels: int, duration_s: float, seed: int, dt: float = 1e-3
) -> np.ndarray:
    """Poisson input events, `rate_hz` per channel (scalar or per channel), on a dt grid [s]."""
    rng = np.random.default_rng(seed)
    rates = np.broadcast_to(np.asarray(rate_hz, dtype=float), (n_channels,))
    raster = rng.poisson(rates * dt, size=(n_bins(duration_s, dt), n_channels))
    return raster_to_input_events(raster, dt)
