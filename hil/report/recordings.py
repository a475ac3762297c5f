"""Recordings in a run directory: the one place where the report reads and writes them.

On disk each trial is a hil.measure Recording folder (`Recording.save`: table.parquet +
recording.json). `save_recording` also takes anything Recording-like (`.readout` "spikes" or
"counts", `.events` (hil.events.OUTPUT_DTYPE) or `.counts` (hil.events.Counts), `.duration_s` [s]
or `.duration_us`, `.provenance` a flat dict of JSON scalars) and stores it as a Recording.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hil import events as ev
from hil.errors import ArtifactError, ConfigError, bounded
from hil.measure import Recording


def as_recording(obj: object) -> Recording:
    """`obj` as a hil.measure Recording (itself when it is one)."""
    if isinstance(obj, Recording):
        return obj
    readout = getattr(obj, "readout", None)
    if readout not in ("spikes", "counts"):
        raise ConfigError("recording.readout", readout, "'spikes' or 'counts'")
    duration_us = getattr(obj, "duration_us", None)
    if duration_us is None:
        duration_s = getattr(obj, "duration_s", None)
        if not (
            isinstance(duration_s, int | float)
            and not isinstance(duration_s, bool)
            and np.isfinite(duration_s)
            and duration_s > 0
        ):
            raise ConfigError("recording.duration_s", duration_s, "a finite number of seconds > 0")
        duration_us = round(duration_s * 1e6)
    provenance = dict(getattr(obj, "provenance", None) or {})
    if readout == "spikes":
        events = getattr(obj, "events", None)
        if not isinstance(events, np.ndarray) or events.dtype != ev.OUTPUT_DTYPE:
            raise ConfigError("recording.events", type(events).__name__, f"{ev.OUTPUT_DTYPE}")
        neurons = np.unique(ev.global_index(events)).astype(np.int64)
        return Recording("spikes", int(duration_us), 1, neurons, provenance, events=events)
    counts = getattr(obj, "counts", None)
    if not isinstance(counts, ev.Counts):
        raise ConfigError("recording.counts", type(counts).__name__, "a hil.events.Counts")
    neurons = np.asarray(counts.neurons, np.int64)
    return Recording(
        "counts", counts.duration_us, counts.bin_us, neurons, provenance, counts=counts
    )


def save_recording(obj: object, path: str | Path) -> Path:
    """Store `obj` (a Recording or Recording-like) as a Recording folder at `path`."""
    return as_recording(obj).save(path)


def load_recording(path: str | Path) -> Recording:
    """The Recording folder at `path` (hil.measure.Recording.load)."""
    if not os.path.isdir(path):
        raise ArtifactError(
            f"cannot read recording {bounded(str(path))} (not a folder); "
            "allowed: a folder written by Recording.save"
        )
    return Recording.load(path)
