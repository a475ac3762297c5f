"""The tables a report takes besides Recordings: their input contract and their checks.

Each is a tidy pandas DataFrame, one row per observation, stored in a run directory as CSV (or
Parquet) and listed in run.json under `tables` (docs/report.md):

fi           one row per (neuron, DC level) of an f-I sweep:
             chip, core, neuron (int), idc_A (DC input current [A], >= 0),
             rate_hz (measured rate [Hz], >= 0)
calibration  one row per (core, parameter) of a calibration:
             chip, core (int), parameter (a hil.chip.params.HighLevel name, e.g. tau_mem),
             target, achieved (the per-core population median, SI units; achieved may be NaN when
             the search failed), success (bool); optional unit (text, e.g. "s")
accuracy     one row per (mismatch level, training mode) of a robustness evaluation:
             mismatch (relative std of the mismatch, e.g. 0.1 for 10 %, >= 0), mode (text, e.g.
             "none", "noise", "adversarial", "fitted"), accuracy (fraction in [0, 1]);
             optional accuracy_lo, accuracy_hi (a confidence interval, fractions), n (int, chips)

trend        one row per (night, metric, core) of a board's history (hil.nightly): night (text,
             YYYY-MM-DD), metric (text, the unit in the name, e.g. rate_1na_hz), core (int, the
             board-wide core chip * 4 + core, -1 for the whole board), value (the core's median);
             optional alert (bool: an alert on that night, core and metric)

A comparison table is hil.compare.Comparison.table, stored as it is.

`check(kind, frame)` returns the frame with the contract's dtypes, or raises ConfigError naming the
table, the column and what is allowed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hil.artifacts import MAX_READ_BYTES, write_atomic
from hil.chip.geometry import CORES_PER_CHIP, MAX_CHIPS, NEURONS_PER_CORE
from hil.errors import ArtifactError, ConfigError, HilError, bounded


@dataclass(frozen=True)
class Column:
    """One column: its kind ("int", "float", "text", "bool"), the closed range of a number
    (NaN allowed when `nan`, +-inf when `inf`), and whether it may be left out."""

    kind: str
    lo: float = -np.inf
    hi: float = np.inf
    nan: bool = False
    optional: bool = False
    inf: bool = False


CONTRACTS: dict[str, dict[str, Column]] = {
    "fi": {
        "chip": Column("int", 0, MAX_CHIPS - 1),
        "core": Column("int", 0, CORES_PER_CHIP - 1),
        "neuron": Column("int", 0, NEURONS_PER_CORE - 1),
        "idc_A": Column("float", 0.0),
        "rate_hz": Column("float", 0.0),
    },
    "calibration": {
        "chip": Column("int", 0, MAX_CHIPS - 1),
        "core": Column("int", 0, CORES_PER_CHIP - 1),
        "parameter": Column("text"),
        "target": Column("float"),
        "achieved": Column("float", nan=True),
        "success": Column("bool"),
        "unit": Column("text", optional=True),
    },
    "accuracy": {
        "mismatch": Column("float", 0.0),
        "mode": Column("text"),
        "accuracy": Column("float", 0.0, 1.0),
        "accuracy_lo": Column("float", 0.0, 1.0, optional=True),
        "accuracy_hi": Column("float", 0.0, 1.0, optional=True),
        "n": Column("int", 1, optional=True),
    },
    "trend": {
        "night": Column("text"),
        "metric": Column("text"),
        "core": Column("int", -1, MAX_CHIPS * CORES_PER_CHIP - 1),
        "value": Column("float", nan=True),
        "alert": Column("bool", optional=True),
    },
}
KINDS = tuple(CONTRACTS)  # the tables run.json lists under `tables`
# hil.compare.Comparison.table, as compare() returns it
CONTRACTS["comparison"] = {
    "stat": Column("text"),
    "neuron": Column("int", -1),
    "n_ref": Column("int", 0),
    "n_cand": Column("int", 0),
    "ref": Column("float", nan=True),
    "cand": Column("float", nan=True),
    "rel": Column("float", nan=True, inf=True),  # cand / ref - 1 is inf when ref is 0
    "effect": Column("float", nan=True, inf=True),
    "effect_name": Column("text"),
    "test": Column("text"),
    "p": Column("float", 0.0, 1.0, nan=True),
    "p_adj": Column("float", 0.0, 1.0, nan=True),
    "differs": Column("bool"),
    "note": Column("text"),
}
MAX_ROWS = 1_000_000
_NA = ["", "NaN", "nan", "NA", "null"]  # what a CSV number cell may say for NaN


def check(kind: str, frame: object) -> pd.DataFrame:
    """`frame` checked against the contract of table `kind`, with the contract's dtypes (int64,
    float64, str, bool) and only its columns, in the contract's order."""
    if kind not in CONTRACTS:
        raise ConfigError("table", kind, f"one of {', '.join(CONTRACTS)}")
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError(f"table {kind}", type(frame).__name__, "a pandas DataFrame")
    if len(frame) > MAX_ROWS:
        raise ConfigError(f"table {kind}", f"{len(frame)} rows", f"at most {MAX_ROWS}")
    out = {}
    for name, col in CONTRACTS[kind].items():
        where = f"table {kind}: column {name}"
        if name not in frame.columns:
            if col.optional:
                continue
            raise ConfigError(where, "missing", f"columns {', '.join(CONTRACTS[kind])}")
        out[name] = _column(frame[name], col, where)
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def _column(s: pd.Series, col: Column, where: str) -> pd.Series:
    v = s.to_numpy()
    if col.kind == "text":
        if not all(isinstance(x, str) for x in v):
            bad = next(x for x in v if not isinstance(x, str))
            raise ConfigError(where, bad, "text in every row")
        return pd.Series(v, dtype=object)
    if col.kind == "bool":
        if v.dtype != bool and not all(isinstance(x, bool | np.bool_) for x in v):
            raise ConfigError(where, str(v.dtype), "True or False in every row")
        return pd.Series(v.astype(bool))
    if v.dtype.kind not in "iuf" or (col.kind == "int" and v.dtype.kind == "f"):
        raise ConfigError(where, str(v.dtype), f"{col.kind} numbers")
    x = v.astype(np.int64 if col.kind == "int" else np.float64)
    f = x.astype(np.float64)
    finite = np.isfinite(f)
    bad = (np.isnan(f) & (not col.nan)) | (np.isinf(f) & (not col.inf))
    bad |= finite & ((x < col.lo) | (x > col.hi))
    if bad.any():
        allowed = (
            "finite numbers" + (" or NaN" if col.nan else "") + (" or +-inf" if col.inf else "")
        )
        if np.isfinite(col.lo) or np.isfinite(col.hi):
            allowed += f" in [{col.lo:g}, {col.hi:g}]"
        raise ConfigError(f"{where}, row {int(np.argmax(bad))}", x[bad][0].item(), allowed)
    return pd.Series(x)


# ---- files --------------------------------------------------------------------------------------


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write `frame` atomically as CSV or Parquet (by the file's suffix)."""
    if path.suffix == ".parquet":
        return write_atomic(path, frame.to_parquet(index=False))
    if path.suffix == ".csv":
        return write_atomic(path, frame.to_csv(index=False, lineterminator="\n"))
    raise ConfigError("table file", path.name, "a name ending in .csv or .parquet")


def read_table(path: Path, kind: str, what: str) -> pd.DataFrame:
    """Table `kind` from a CSV or Parquet file (bounded in size), checked against its contract.
    CSV floats read back exactly, and an empty text cell stays ""."""
    where = f"{what} {bounded(str(path))}"
    try:
        size = os.stat(path).st_size
    except OSError as e:
        raise ArtifactError(
            f"cannot read {where} ({e.strerror}); allowed: a readable file"
        ) from None
    if size > MAX_READ_BYTES:
        raise ArtifactError(f"cannot read {where} ({size} B); allowed: at most {MAX_READ_BYTES} B")
    text = [n for n, c in CONTRACTS[kind].items() if c.kind == "text"]
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix == ".csv":
            header = pd.read_csv(path, nrows=0).columns
            frame = pd.read_csv(  # text stays as written; only the other columns know NaN
                path,
                dtype=dict.fromkeys([c for c in text if c in header], str),
                keep_default_na=False,
                na_values={c: _NA for c in header if c not in text},
            )
        else:
            raise ConfigError(where, path.suffix, "a .csv or .parquet file")
    except HilError:
        raise
    except Exception as e:  # pandas and pyarrow raise many unrelated types on a damaged file
        raise ConfigError(where, bounded(f"{type(e).__name__}: {e}"), "a readable table") from None
    try:
        return check(kind, frame)
    except ConfigError as e:
        raise ConfigError(f"{bounded(str(path))}: {e.path}", e.value, e.allowed) from None
