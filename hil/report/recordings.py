"""Recordings in a run directory: the one place that reads and writes them for the report.

A Recording is anything with `.readout` ("spikes" or "counts"), `.events` (hil.events.OUTPUT_DTYPE)
or `.counts` (hil.events.Counts), `.duration_s` [s] and `.provenance` (a dict): the Recording of
hil.measure. Two on-disk formats are read, chosen by what the path holds, never by guessing after a
failure:

- `hil.report.recording/1` (this module's stand-in, docs/report.md): a folder with
  `recording.json` (schema, readout, duration_s, provenance; for counts also bin_us, duration_us
  and neurons) and `events.parquet` (t_us, chip, core, neuron) or `counts.parquet` (bin, chip,
  core, neuron, count; every bin of every neuron).
- anything else is handed to `hil.measure.Recording.load(path)`; without hil.measure that is a
  ConfigError naming the path.

`save_recording` uses the object's own `save(path)` when it has one (hil.measure), else the
stand-in format.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hil import events as ev
from hil.artifacts import MAX_READ_BYTES, read_json, write_atomic, write_json
from hil.chip.geometry import global_neuron, neuron_address
from hil.errors import ArtifactError, ConfigError, EventError, bounded

SCHEMA = "hil.report.recording/1"
META = "recording.json"
EVENTS_FILE = "events.parquet"
COUNTS_FILE = "counts.parquet"
READOUTS = ("spikes", "counts")


@dataclass
class StoredRecording:
    """A Recording read from the stand-in format (the attributes hil.measure's Recording has)."""

    readout: str
    duration_s: float
    provenance: dict[str, Any] = field(default_factory=dict)
    events: np.ndarray | None = None
    counts: ev.Counts | None = None


def save_recording(recording: object, path: str | Path) -> Path:
    """Write `recording` to `path`: through its own `save(path)` when it has one (hil.measure),
    else as a `hil.report.recording/1` folder. Returns the path."""
    path = Path(path)
    own_save = getattr(recording, "save", None)
    if callable(own_save):
        own_save(path)
        return path
    readout, duration_s = _checked(
        getattr(recording, "readout", None), getattr(recording, "duration_s", None), "recording"
    )
    provenance = getattr(recording, "provenance", None) or {}
    if not isinstance(provenance, dict):
        raise ConfigError("recording.provenance", type(provenance).__name__, "a dict")
    meta: dict[str, Any] = {
        "schema": SCHEMA,
        "readout": readout,
        "duration_s": duration_s,
        "provenance": provenance,
    }
    if readout == "spikes":
        events = recording.events  # type: ignore[attr-defined]
        if not isinstance(events, np.ndarray) or events.dtype != ev.OUTPUT_DTYPE:
            raise ConfigError("recording.events", type(events).__name__, f"{ev.OUTPUT_DTYPE}")
        frame = pd.DataFrame({k: events[k] for k in ev.OUTPUT_DTYPE.names})
        name = EVENTS_FILE
    else:
        c = recording.counts  # type: ignore[attr-defined]
        if not isinstance(c, ev.Counts):
            raise ConfigError("recording.counts", type(c).__name__, "a hil.events.Counts")
        n_bins, n_neurons = c.counts.shape
        chip, core, neuron = neuron_address(np.asarray(c.neurons, np.int64))
        frame = pd.DataFrame(
            {
                "bin": np.repeat(np.arange(n_bins, dtype=np.int64), n_neurons),
                "chip": np.tile(chip, n_bins).astype(np.int64),
                "core": np.tile(core, n_bins).astype(np.int64),
                "neuron": np.tile(neuron, n_bins).astype(np.int64),
                "count": np.asarray(c.counts, np.int64).ravel(),
            }
        )
        meta.update(bin_us=int(c.bin_us), duration_us=int(c.duration_us))
        meta["neurons"] = [int(x) for x in c.neurons]
        name = COUNTS_FILE
    path.mkdir(parents=True, exist_ok=True)
    write_atomic(path / name, frame.to_parquet(index=False))
    write_json(path / META, meta)  # last: a folder without it is not a finished recording
    return path


def _checked(readout: object, duration_s: object, where: str) -> tuple[str, float]:
    if readout not in READOUTS:
        raise ConfigError(f"{where}: readout", readout, "'spikes' or 'counts'")
    ok = isinstance(duration_s, int | float) and not isinstance(duration_s, bool)
    if not ok or not (np.isfinite(duration_s) and duration_s > 0):  # type: ignore[arg-type]
        raise ConfigError(f"{where}: duration_s", duration_s, "a finite number of seconds > 0")
    return str(readout), float(duration_s)  # type: ignore[arg-type]


def is_stand_in(path: Path) -> bool:
    """Whether `path` is a folder in the stand-in format (it holds recording.json)."""
    return path.is_dir() and (path / META).is_file()


def load_recording(path: str | Path) -> object:
    """The Recording at `path`: the stand-in folder format, else hil.measure.Recording.load."""
    path = Path(path)
    if is_stand_in(path):
        return _load_stand_in(path)
    try:
        measure = importlib.import_module("hil.measure")
    except ModuleNotFoundError:
        raise ConfigError(
            "recording",
            str(path),
            f"a folder with {META} (schema {SCHEMA}) or a hil.measure Recording "
            "(hil.measure is not installed)",
        ) from None
    if not os.path.exists(path):
        raise ArtifactError(f"cannot read recording {bounded(str(path))} (no such file)")
    return measure.Recording.load(path)


def _load_stand_in(path: Path) -> StoredRecording:
    where = f"recording {bounded(str(path))}"
    meta = read_json(path / META, "recording manifest")
    if not isinstance(meta, dict) or meta.get("schema") != SCHEMA:
        got = meta.get("schema") if isinstance(meta, dict) else type(meta).__name__
        raise ConfigError(f"{where}/{META}: schema", got, SCHEMA)
    readout, duration_s = _checked(meta.get("readout"), meta.get("duration_s"), where)
    provenance = meta.get("provenance", {})
    if not isinstance(provenance, dict):
        raise ConfigError(f"{where}: provenance", type(provenance).__name__, "a JSON object")
    if readout == "spikes":
        frame = _read_parquet(path / EVENTS_FILE, ev.OUTPUT_DTYPE.names, where)
        events = np.empty(len(frame), ev.OUTPUT_DTYPE)
        try:
            for k in ev.OUTPUT_DTYPE.names:
                events[k] = _integers(frame[k], ev.OUTPUT_DTYPE[k], f"{where}: {k}")
            ev.validate(events)
        except EventError as e:
            raise ConfigError(where, "events", f"valid output events ({e})") from None
        return StoredRecording(readout, duration_s, provenance, events=events)
    neurons = np.asarray(meta.get("neurons", []), dtype=np.int64)
    bin_us, duration_us = meta.get("bin_us"), meta.get("duration_us")
    if not (isinstance(bin_us, int) and bin_us > 0 and isinstance(duration_us, int)):
        raise ConfigError(f"{where}: bin_us, duration_us", (bin_us, duration_us), "integers > 0")
    if neurons.ndim != 1 or np.any(np.diff(neurons) <= 0) or np.any(neurons < 0):
        raise ConfigError(f"{where}: neurons", neurons.tolist()[:8], "sorted distinct indices")
    frame = _read_parquet(path / COUNTS_FILE, ("bin", "chip", "core", "neuron", "count"), where)
    n_bins = -(-duration_us // bin_us)
    want = n_bins * len(neurons)
    if len(frame) != want:
        raise ConfigError(
            f"{where}: {COUNTS_FILE}", f"{len(frame)} rows", f"{want} (bins x neurons)"
        )
    g = global_neuron(*(_integers(frame[k], np.int64, where) for k in ("chip", "core", "neuron")))
    b = _integers(frame["bin"], np.int64, where)
    col = np.searchsorted(neurons, g)
    ok = (b >= 0) & (b < n_bins) & (col < len(neurons))
    ok[ok] &= neurons[col[ok]] == g[ok]
    if not ok.all() or np.unique(b * len(neurons) + col).size != want:
        raise ConfigError(
            f"{where}: {COUNTS_FILE}",
            "rows outside the readout or repeated",
            "each bin x neuron once",
        )
    counts = np.zeros((n_bins, len(neurons)), np.int32)
    counts[b, col] = _integers(frame["count"], np.int32, where)
    try:
        c = ev.Counts(counts, neurons, bin_us, duration_us)
    except EventError as e:
        raise ConfigError(where, "counts", str(e)) from None
    return StoredRecording(readout, duration_s, provenance, counts=c)


def _read_parquet(path: Path, columns: tuple[str, ...] | None, where: str) -> pd.DataFrame:
    try:
        size = os.stat(path).st_size
    except OSError as e:
        raise ArtifactError(f"cannot read {bounded(str(path))} ({e.strerror})") from None
    if size > MAX_READ_BYTES:
        raise ArtifactError(f"cannot read {bounded(str(path))} (larger than {MAX_READ_BYTES} B)")
    try:
        frame = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several unrelated types on a damaged file
        raise ConfigError(
            where, bounded(f"{type(e).__name__}: {e}"), "a readable Parquet file"
        ) from None
    missing = [c for c in columns or () if c not in frame.columns]
    if missing:
        raise ConfigError(f"{where}: {path.name}", f"missing columns {missing}", f"{columns}")
    return frame


def _integers(column: pd.Series, dtype: np.dtype | type, where: str) -> np.ndarray:
    """`column` as `dtype`, refusing non-integers and values out of its range."""
    a = column.to_numpy()
    info = np.iinfo(dtype)
    if a.dtype.kind not in "iu" or (a.size and (a.min() < info.min or a.max() > info.max)):
        raise ConfigError(where, f"column of {a.dtype}", f"integers in {info.min}..{info.max}")
    return a.astype(dtype)
