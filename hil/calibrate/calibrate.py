"""calibrate(board, target): every target quantity on every core, one Calibration x Algorithm
at a time, with a survey of bad neurons first, and a cache.

Order: the survey (hil.experiments.HotDead: 2 runs), then per quantity its setup (one full apply), any prelude
and the search (bias writes in place between runs). A core succeeds for a quantity when its
measured median lies within `tolerance` of the target and its search history was monotone.

Cache (calix's idea): a calibration is stored under sha256 of the board id, the silicon id and day
(where the board reports them), the targets, the algorithm and its options, the tolerance and the
hil version; a second call with the same key returns the stored record and runs nothing. A board
that reports no day (a real chip, sim://) keys on today's UTC date instead, so a calibration is
never reused across days on hardware that may drift. Cache files are written atomically. A
damaged entry is a miss: it is recomputed and overwritten, with a CacheWarning; a cache that
cannot be written costs only the cache (a CacheWarning), never the calibration.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from hil import __version__
from hil.board import Board
from hil.calibrate import result as res
from hil.calibrate.algorithms import Algorithm, PredictiveModel, Probe
from hil.calibrate.grid import grid
from hil.calibrate.measure import MEASUREMENTS, BadNeurons, Measurement, survey
from hil.calibrate.session import Session
from hil.calibrate.target import QUANTITIES, Target, check_value
from hil.errors import HilError
from hil.progress import bar

OUTLIER_MADS = 5.0  # a neuron whose log value lies this many robust sigmas off its core's median


class CacheWarning(UserWarning):
    """The calibration cache could not be read (a damaged entry) or written."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hil" / "calibrate"


def board_identity(board: Board) -> dict:
    info = board.info()
    d = info.details or {}
    return {
        "board_id": info.board_id,
        "kind": info.kind,
        "version": info.version,
        "n_chips": info.n_chips,
        "silicon_id": d.get("silicon_id"),
        "day": d.get("day"),
    }


def utc_date() -> str:
    """Today's date in UTC, ISO (2026-12-05)."""
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


def cache_key(identity: dict, target: Target, algorithm: Algorithm, tolerance: float) -> str:
    """sha256 (hex) of what makes two calibrations interchangeable (module docstring)."""
    blob = {
        "board_id": identity["board_id"],
        "silicon_id": identity["silicon_id"],
        "day": identity["day"],
        # no day from the board: today (UTC), so a real board is recalibrated at least daily
        "utc_date": utc_date() if identity["day"] is None else None,
        "target": target.to_dict(),
        "algorithm": {"name": algorithm.name, **algorithm.options()},
        "tolerance": tolerance,
        "hil_version": __version__,
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def calibrate(
    board: Board,
    target: Target,
    algorithm: Algorithm | None = None,
    tolerance: float = 0.03,
    cache_dir: str | Path | None = None,
    store: bool = True,
) -> dict:
    """Calibrate `board` to `target`; returns the `hil.calibration/1` record (hil.calibrate.result),
    with "cached": True when it came from the cache.

    cache_dir: where results are cached (None: no cache); store: write a fresh record there (False:
    the caller does, with `store_cached`, e.g. after writing its own output first). Raises
    ConfigError for targets or cores the board cannot take, CapabilityError for a board without
    in-place bias writes; a damaged or unwritable cache is a CacheWarning, never an error.
    """
    algorithm = algorithm or PredictiveModel()
    for name, value in target.targets.items():
        check_value(name, value)
    identity = board_identity(board)
    cores = target.cores_on(identity["n_chips"])
    key = cache_key(identity, target, algorithm, tolerance)
    if cache_dir is not None:
        hit = _lookup(Path(cache_dir) / f"{key}.json")
        if hit is not None:
            return hit

    session = Session(board)
    bad = survey(session, cores)
    per_core: list[dict] = [
        {
            "chip": c,
            "core": k,
            "parameters": {},
            "nominal": {},
            "achieved": {},
            "success": {},
            "monotonic": {},
        }
        for c, k in cores
    ]
    outliers: dict[str, list[list[int]]] = {}
    for name in bar(sorted(target.targets), desc="calibrate"):
        value = target.targets[name]
        q = QUANTITIES[name]
        g = grid(q.bias)
        nominal = g.code(g.nearest(q.current_for(value)))
        start = np.array([nominal] * len(cores), np.int64)
        meas = MEASUREMENTS[name](session, cores, value, bad)
        meas.prepare([nominal] * len(cores))
        probes: dict[tuple[int, tuple[int, int]], np.ndarray] = {}
        found = algorithm.search(_prober(meas, probes), g, value, start)
        outliers[name] = []
        for j, (c, k) in enumerate(cores):
            code = (int(found.code[j, 0]), int(found.code[j, 1]))
            v = float(found.value[j])
            ok = bool(abs(v / value - 1) <= tolerance and found.monotonic[j])
            pc = per_core[j]
            pc["parameters"][q.bias] = list(code)
            pc["nominal"][q.bias] = list(nominal)
            pc["achieved"][name] = v if np.isfinite(v) else None
            pc["success"][name] = ok
            pc["monotonic"][name] = bool(found.monotonic[j])
            outliers[name] += [[c, k, int(n)] for n in _outliers(probes[(j, code)])]
    record = {
        "schema": res.SCHEMA,
        "hil_version": __version__,
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "board": identity,
        "targets": dict(sorted(target.targets.items())),
        "algorithm": {"name": algorithm.name, **algorithm.options()},
        "tolerance": tolerance,
        "runs": session.runs,
        "board_s": round(session.board_s, 6),
        "applies": session.applies,
        # SHA-256 over the content hashes of every board run's Recording (hil.measure.record)
        "source": session.source,
        "cache_key": key,
        "cores": per_core,
        "bad_neurons": _bad(bad, cores) | {"outliers": outliers},
    }
    if cache_dir is not None and store:
        store_cached(cache_dir, record)
    return record


def store_cached(cache_dir: str | Path, record: dict) -> None:
    """Write `record` into the cache under its cache_key; a CacheWarning (not an error) when the
    cache cannot be written."""
    path = Path(cache_dir) / f"{record['cache_key']}.json"
    try:
        res.save(path, {k: v for k, v in record.items() if k != "cached"})
    except (HilError, OSError) as e:
        warnings.warn(f"calibration cache not written: {e}", CacheWarning, stacklevel=2)


def _lookup(path: Path) -> dict | None:
    """The cached record at `path`, or None: absent, or damaged (a CacheWarning; the caller
    recomputes and overwrites it)."""
    if not path.exists():
        return None
    try:
        return {**res.load(path), "cached": True}
    except HilError as e:
        warnings.warn(
            f"damaged calibration cache entry ignored, recomputing and overwriting it: {e}",
            CacheWarning,
            stacklevel=3,
        )
        return None


def _prober(meas: Measurement, seen: dict[tuple[int, tuple[int, int]], np.ndarray]) -> Probe:
    """The algorithms' probe: (n_cores, 2) codes -> per-core medians; keeps the per-neuron values
    of every (core, code) in `seen`."""

    def probe(codes: np.ndarray) -> np.ndarray:
        cs = [(int(c), int(f)) for c, f in codes]
        p = meas.probe(cs)
        for j, code in enumerate(cs):
            seen[(j, code)] = p.values[j]
        return p.medians

    return probe


def _outliers(values: np.ndarray) -> list[int]:
    """Neurons whose log value lies more than OUTLIER_MADS robust sigmas from the median (bad
    neurons, NaN, are not counted; a silent one, 0 or inf, is an outlier)."""
    v = np.asarray(values, np.float64)
    with np.errstate(all="ignore"):
        lv = np.log(v)
    ok = np.isfinite(lv)
    if ok.sum() < 8:
        return []
    med = np.median(lv[ok])
    mad = 1.4826 * np.median(np.abs(lv[ok] - med))
    far = ~np.isnan(v) & (~ok | (np.abs(lv - med) > OUTLIER_MADS * max(mad, 1e-3)))
    return np.flatnonzero(far).tolist()


def _bad(bad: BadNeurons, cores: list[tuple[int, int]]) -> dict:
    out: dict = {}
    for name, m in (("dead", bad.dead), ("hot", bad.hot)):
        out[name] = [[c, k, int(n)] for j, (c, k) in enumerate(cores) for n in np.flatnonzero(m[j])]
    return out
