"""Recordings: what a board measured, with where it came from.

    rec = record(board, stimulus, 1.0)                       # spikes, 1 us timestamps
    rec = record(board, stimulus, 1.0, "counts", bin_s=1e-3)  # counts per 1 ms bin
    rec.to_frame(); rec.rates(); rec.save("runs/a"); Recording.load("runs/a")

A Recording holds either output events (readout "spikes", `resolution_us` 1: the board clock) or
hil.events.Counts (readout "counts", `resolution_us` the bin), never one dressed as the other: when
a board answers a spikes request with its counts readout (a rate-limited link, reported in
`board.last_run.readout`), the Recording holds counts and says so.

`provenance` is a flat dict of JSON scalars (PROVENANCE_KEYS at least): config, board, silicon,
stimulus, seeds, software, time, host, and the link report of the run (`link_*`, from whatever
`board.last_run.to_dict()` offers; None where a board has no link).

On disk a Recording is a folder: `table.parquet` (the events, or the non-zero counts as bin,
neuron, count) and `recording.json` (schema, readout, resolution, neurons, provenance), written to
a temporary folder and renamed into place. No pickle anywhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hil import __version__
from hil import events as ev
from hil.artifacts import parse_json, write_atomic
from hil.board import Board, CountsReadout
from hil.chip.config import ChipConfig
from hil.chip.geometry import global_neuron, neuron_address
from hil.errors import BoardError, CapabilityError, ConfigError

if TYPE_CHECKING:
    import pandas as pd

SCHEMA = "hil.recording/1"
READOUTS = ("spikes", "counts")
TABLE, HEADER = "table.parquet", "recording.json"
# What every Recording's provenance names (None where a board does not report it).
PROVENANCE_KEYS = (
    "config_hash",
    "board_id",
    "board_kind",
    "board_url",
    "board_version",
    "silicon_id",
    "stimulus_hash",
    "stimulus_seed",
    "seed",
    "hil_version",
    "utc",
    "host",
    "link_lost",
    "link_retransmits",
    "link_restarted",
)
SPIKE_COLUMNS = ("chip", "core", "neuron", "t_us")
# OUTPUT_DTYPE's fields in its order: the Parquet table's columns (numpy types `names` optional)
_EVENT_FIELDS: tuple[str, ...] = ev.OUTPUT_DTYPE.names or ()
assert _EVENT_FIELDS
COUNT_COLUMNS = ("chip", "core", "neuron", "bin", "count")
Scalar = str | int | float | bool | None


@dataclass(frozen=True, eq=False)
class Recording:
    """A measurement: `events` (OUTPUT_DTYPE) for readout "spikes", `counts` for "counts".

    duration_us: run length [us]; resolution_us: 1 for spikes, the bin for counts;
    neurons: (n,) int64 sorted board-wide indices of the neurons recorded (those the config sets
    where known, else those that spiked); provenance: flat {name: JSON scalar}.
    """

    readout: str
    duration_us: int
    resolution_us: int
    neurons: np.ndarray
    provenance: dict[str, Scalar] = field(default_factory=dict)
    events: np.ndarray | None = None
    counts: ev.Counts | None = None

    def __post_init__(self) -> None:
        if self.readout not in READOUTS:
            raise ConfigError("readout", self.readout, " or ".join(READOUTS))
        if (self.readout == "spikes") != (self.events is not None) or (
            self.readout == "counts"
        ) != (self.counts is not None):
            raise ConfigError("readout", self.readout, "events for spikes, counts for counts")
        n = self.neurons
        if not (n.dtype == np.int64 and n.ndim == 1 and np.all(np.diff(n) > 0)):
            raise ConfigError("neurons", n.dtype, "sorted unique board-wide indices (int64)")
        if self.events is not None:
            if self.events.dtype != ev.OUTPUT_DTYPE:
                raise ConfigError("events", str(self.events.dtype), str(ev.OUTPUT_DTYPE))
            ev.validate(self.events)
            if not np.isin(ev.global_index(self.events), n).all():
                raise ConfigError("events", "a neuron", "neurons listed in `neurons`")
        if self.counts is not None and (
            self.counts.bin_us != self.resolution_us
            or self.counts.duration_us != self.duration_us
            or not np.array_equal(self.counts.neurons, n)
        ):
            raise ConfigError("counts", "bin, duration or neurons", "those of the Recording")
        _check_provenance(self.provenance, SPIKE_COLUMNS + COUNT_COLUMNS)

    @property
    def duration_s(self) -> float:
        """Run length [s]."""
        return self.duration_us * 1e-6

    # -- views ---------------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Tidy long form: one row per spike (chip, core, neuron, t_us) or per bin and neuron
        (chip, core, neuron, bin, count; zeros included), then `readout`, `resolution_us` and
        every provenance key as columns."""
        import pandas as pd

        if self.events is not None:
            e = self.events
            df = pd.DataFrame({c: e[c] for c in SPIKE_COLUMNS})
        else:
            assert self.counts is not None
            n_bins, n = self.counts.counts.shape
            chip, core, neuron = neuron_address(np.tile(self.counts.neurons, n_bins))
            df = pd.DataFrame(
                {
                    "chip": chip.astype(np.uint8),
                    "core": core.astype(np.uint8),
                    "neuron": neuron.astype(np.uint16),
                    "bin": np.repeat(np.arange(n_bins, dtype=np.int64), n),
                    "count": self.counts.counts.reshape(-1),
                }
            )
        return _with_provenance(df, self._tags())

    def rates(self) -> pd.DataFrame:
        """One row per recorded neuron: chip, core, neuron, count, rate_hz, then the tags."""
        import pandas as pd

        if self.events is not None:
            total = _count_by(self.neurons, ev.global_index(self.events))
        else:
            assert self.counts is not None
            total = self.counts.total()
        chip, core, neuron = neuron_address(self.neurons)
        df = pd.DataFrame(
            {
                "chip": chip.astype(np.uint8),
                "core": core.astype(np.uint8),
                "neuron": neuron.astype(np.uint16),
                "count": np.asarray(total, np.int64),
                "rate_hz": np.asarray(total, float) / (self.duration_us * 1e-6),
            }
        )
        return _with_provenance(df, self._tags())

    def _tags(self) -> dict[str, Scalar]:
        return {"readout": self.readout, "resolution_us": self.resolution_us, **self.provenance}

    # -- files ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the folder `path` (table.parquet + recording.json) atomically: a complete new
        folder replaces an earlier recording there; any other existing path is refused."""
        path = Path(path)
        if path.exists() and not (path.is_dir() and (path / HEADER).is_file()):
            raise ConfigError("path", str(path), "a new path or an earlier recording folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            write_atomic(tmp / TABLE, _parquet_bytes(self))
            write_atomic(tmp / HEADER, json.dumps(self._header(), indent=2, sort_keys=True) + "\n")
            old = None
            if path.exists():
                old = Path(
                    tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent)
                )
                os.replace(path, old / "recording")
            os.replace(tmp, path)
            if old is not None:
                shutil.rmtree(old)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    def _header(self) -> dict:
        return {
            "schema": SCHEMA,
            "readout": self.readout,
            "duration_us": self.duration_us,
            "resolution_us": self.resolution_us,
            "neurons": self.neurons.tolist(),
            "provenance": self.provenance,
        }

    @classmethod
    def load(cls, path: str | Path) -> Recording:
        """Read a folder written by `save`; anything unreadable or malformed is a ConfigError."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        try:
            head = parse_json((path / HEADER).read_text(), f"recording {path}")
            table = pq.read_table(path / TABLE)
        except (OSError, pa.ArrowException) as e:
            raise ConfigError(
                "recording", str(path), f"a folder written by Recording.save ({e})"
            ) from None
        h = _header_fields(head, path)
        cols = {name: table.column(name).to_numpy() for name in table.column_names}
        neurons = np.asarray(h["neurons"], dtype=np.int64)
        if h["readout"] == "spikes":
            _columns(cols, SPIKE_COLUMNS[::-1], path)
            events = np.empty(len(cols["t_us"]), ev.OUTPUT_DTYPE)
            for name in _EVENT_FIELDS:
                events[name] = cols[name]
            return cls(
                "spikes",
                h["duration_us"],
                h["resolution_us"],
                neurons,
                h["provenance"],
                events=events,
            )
        _columns(cols, ("bin", "neuron", "count"), path)
        n_bins = -(-h["duration_us"] // h["resolution_us"])
        counts = np.zeros((n_bins, neurons.size), np.int32)
        col = np.minimum(np.searchsorted(neurons, cols["neuron"]), max(neurons.size - 1, 0))
        b = cols["bin"]
        if b.size and (
            neurons.size == 0
            or np.any(neurons[col] != cols["neuron"])
            or b.min() < 0
            or b.max() >= n_bins
        ):
            raise ConfigError(
                f"recording {path}/{TABLE}", "bin or neuron", "rows inside the header"
            )
        counts[b, col] = cols["count"]
        c = ev.Counts(counts, neurons, h["resolution_us"], h["duration_us"])
        return cls(
            "counts", h["duration_us"], h["resolution_us"], neurons, h["provenance"], counts=c
        )


def record(
    board: Board,
    stimulus: np.ndarray,
    duration_s: float,
    readout: str = "spikes",
    bin_s: float | None = None,
    *,
    config: ChipConfig | None = None,
    stimulus_seed: int | None = None,
) -> Recording:
    """Run `stimulus` for `duration_s` on `board` and return a Recording with its provenance.

    readout "spikes" (board.run) or "counts" (hil.board.CountsReadout.run_counts, bins of `bin_s`
    seconds, default 1 ms; CapabilityError on a board without it). `config`: applied first (its
    hash as the board confirms it is recorded), else the board's applied config
    (Board.config_hash; BoardError where the board does not report it). `stimulus_seed`: the seed
    the stimulus was drawn with, recorded.
    """
    if readout not in READOUTS:
        raise ConfigError("readout", readout, " or ".join(READOUTS))
    if readout == "spikes" and bin_s is not None:
        raise ConfigError("bin_s", bin_s, "None for the spikes readout (it has 1 us timestamps)")
    info = board.info()
    config_hash = board.apply(config) if config is not None else board.config_hash
    if config_hash is None:
        raise BoardError(
            f"board {board.url or info.board_id!r} does not report its applied config: pass "
            "config=... to record() so that the Recording names it"
        )
    utc = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
    duration_us = round(duration_s * 1e6)
    set_neurons = (
        None
        if config is None
        else np.array([global_neuron(c, k, n) for c, k, n, _ in config.neurons()], np.int64)
    )
    events, counts = None, None
    if readout == "counts":
        if not isinstance(board, CountsReadout):
            raise CapabilityError(
                f"board {board.url or info.board_id!r} has no counts readout; its capabilities: "
                + ", ".join(sorted(info.capabilities))
            )
        counts = board.run_counts(stimulus, duration_s, 1e-3 if bin_s is None else bin_s)
    else:
        events = board.run(stimulus, duration_s)
        last = getattr(board, "last_run", None)
        if getattr(last, "readout", "spikes") == "counts":  # the board binned: say so
            neurons = set_neurons if set_neurons is not None else np.unique(ev.global_index(events))
            counts = ev.Counts.from_events(events, neurons, int(last.bin_us), duration_us)  # type: ignore[union-attr]
            events = None
    details = info.details
    provenance: dict[str, Scalar] = {
        "config_hash": config_hash,
        "board_id": info.board_id,
        "board_kind": info.kind,
        "board_url": board.url or None,
        "board_version": info.version,
        "silicon_id": _scalar(details.get("silicon_id")),
        "stimulus_hash": stimulus_hash(stimulus),
        "stimulus_seed": stimulus_seed,
        "seed": _scalar(details.get("seed")),
        "hil_version": __version__,
        "utc": utc,
        "host": socket.gethostname(),
        **link_report(board),
    }
    if counts is not None:
        return Recording(
            "counts", duration_us, counts.bin_us, counts.neurons, provenance, counts=counts
        )
    assert events is not None
    seen = np.unique(ev.global_index(events))
    neurons = seen if set_neurons is None else np.union1d(set_neurons, seen)
    return Recording("spikes", duration_us, 1, neurons, provenance, events=events)


def stimulus_hash(stimulus: np.ndarray) -> str:
    """SHA-256 (hex) of a stimulus' little-endian (t_us int64, channel int32) records."""
    if not isinstance(stimulus, np.ndarray) or stimulus.dtype != ev.INPUT_DTYPE:
        raise ConfigError(
            "stimulus", getattr(stimulus, "dtype", type(stimulus)), str(ev.INPUT_DTYPE)
        )
    return hashlib.sha256(np.ascontiguousarray(stimulus).tobytes()).hexdigest()


def link_report(board: Board) -> dict[str, Scalar]:
    """The board's report of its last run (`board.last_run.to_dict()`, as SerialBoard keeps it),
    flattened to link_* keys; link_lost, link_retransmits and link_restarted are None for a board
    without a link."""
    out: dict[str, Scalar] = {"link_lost": None, "link_retransmits": None, "link_restarted": None}
    last = getattr(board, "last_run", None)
    report = last.to_dict() if last is not None and hasattr(last, "to_dict") else None
    if not isinstance(report, dict):
        return out
    for key, value in report.items():
        out[f"link_{key}"] = _scalar(value)
    out["link_restarted"] = _scalar(report.get("recovered_after_restart"))
    return out


# ---- helpers --------------------------------------------------------------------------------------


def _scalar(v: object) -> Scalar:
    """A JSON scalar: numbers, strings, booleans and None as they are, anything else as JSON."""
    if v is None or isinstance(v, str | bool | int):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, np.generic):
        return _scalar(v.item())
    return json.dumps(v, sort_keys=True, default=str)


def _check_provenance(p: object, reserved: tuple[str, ...]) -> None:
    if not isinstance(p, dict):
        raise ConfigError("provenance", type(p).__name__, "a dict of name -> JSON scalar")
    for k, v in p.items():
        if not isinstance(k, str) or k in reserved or k in ("readout", "resolution_us"):
            raise ConfigError("provenance", k, "string names other than the table's columns")
        ok = (
            v is None
            or isinstance(v, str | bool | int)
            or (isinstance(v, float) and math.isfinite(v))
        )
        if not ok:
            raise ConfigError(
                f"provenance[{k}]", v, "a string, integer, finite float, bool or None"
            )


def _with_provenance(df: pd.DataFrame, tags: dict[str, Scalar]) -> pd.DataFrame:
    for k, v in tags.items():
        df[k] = v
    return df


def _count_by(neurons: np.ndarray, g: np.ndarray) -> np.ndarray:
    col = np.searchsorted(neurons, g)
    out = np.zeros(neurons.size, np.int64)
    np.add.at(out, col, 1)
    return out


def _parquet_bytes(rec: Recording) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if rec.events is not None:
        e = rec.events
        table = pa.table({name: e[name] for name in _EVENT_FIELDS})
    else:
        assert rec.counts is not None
        b, i = np.nonzero(rec.counts.counts)
        table = pa.table(
            {
                "bin": b.astype(np.int64),
                "neuron": rec.counts.neurons[i],
                "count": rec.counts.counts[b, i].astype(np.int32),
            }
        )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _header_fields(h: object, path: Path) -> dict:
    where = f"recording {path}"
    if not isinstance(h, dict):
        raise ConfigError(where, type(h).__name__, "a JSON object")
    if h.get("schema") != SCHEMA:
        raise ConfigError(f"{where}.schema", h.get("schema"), repr(SCHEMA))
    if h.get("readout") not in READOUTS:
        raise ConfigError(f"{where}.readout", h.get("readout"), " or ".join(READOUTS))
    for k in ("duration_us", "resolution_us"):
        v = h.get(k)
        if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            raise ConfigError(f"{where}.{k}", v, "an integer >= 1")
    n = h.get("neurons")
    if not (isinstance(n, list) and all(isinstance(x, int) and x >= 0 for x in n)):
        raise ConfigError(f"{where}.neurons", type(n).__name__, "a list of neuron indices >= 0")
    _check_provenance(h.get("provenance"), SPIKE_COLUMNS + COUNT_COLUMNS)
    return h


def _columns(cols: dict, names: tuple[str, ...], path: Path) -> None:
    missing = [n for n in names if n not in cols]
    if missing:
        raise ConfigError(f"recording {path}/{TABLE}", sorted(cols), f"columns {', '.join(names)}")
