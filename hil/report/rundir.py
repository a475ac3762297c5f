"""A run directory: what one run (a campaign, a test session, a notebook) measured and decided, laid
out so that `hil report RUN_DIR` can re-render its report without the board (docs/report.md).

    RUN_DIR/
      run.json                   the manifest (schema hil.run/1), written last and atomically
      recordings/<group>-NNN/    one Recording per trial, grouped ("sim", "twin", "chip", ...)
      tables/<kind>.parquet      f-I, calibration, accuracy tables (hil.report.tables)
      tables/compare-<name>.parquet   the table of each hil.compare.Comparison
      report.html                the rendered report (default output)

    run = Run.create("reports/nightly", title="emu:// seed 3")
    run.add_recording("sim", rec)               # for each trial
    run.add_comparison("rates sim vs chip", comparison, reference="sim", candidate="chip")
    run.add_check("link losses", value=0, op="<=", limit=0, unit="events")
    run.add_table("fi", frame)
    run.set_stage("characterize", "done", seconds=12.5, artifacts=["tables/fi.parquet"])
    run.save()                                  # run.json; then hil.report.write_report(run)

Every path in run.json is relative to the run directory and must stay inside it.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from hil.artifacts import read_json, write_json
from hil.errors import ArtifactError, ConfigError, bounded
from hil.measure import Recording
from hil.report import tables as tb
from hil.report.recordings import as_recording, load_recording

SCHEMA = "hil.run/1"
MANIFEST = "run.json"
REPORT = "report.html"
STAGE_STATUSES = ("done", "failed", "skipped", "running", "not run")
OPS = {"<=": lambda v, t: v <= t, ">=": lambda v, t: v >= t, "==": lambda v, t: v == t}
MAX_TEXT = 10_000  # characters in one name or message of the manifest
MAX_ITEMS = 100_000  # entries in one list of the manifest


@dataclass
class Stage:
    """One step of the run: its status (STAGE_STATUSES), how long it took [s], a message (why it
    failed or was skipped), and the artifacts it wrote (paths relative to the run directory)."""

    name: str
    status: str
    seconds: float | None = None
    message: str = ""
    artifacts: list[str] = field(default_factory=list)


@dataclass
class Check:
    """An assert-style verdict with its numbers: `value op limit` in `unit` (e.g. link losses
    0 <= 0 events), or only `passed` and a `detail` for a check without one number."""

    name: str
    passed: bool
    value: float | None = None
    op: str = ""
    limit: float | None = None
    unit: str = ""
    detail: str = ""


@dataclass
class ComparisonEntry:
    """A hil.compare.Comparison stored in the run: its table's file and its settings. `reference`
    and `candidate` name recording groups (the labels of the comparison)."""

    name: str
    reference: str
    candidate: str
    table: str
    alpha: float
    correction: str
    paired: bool
    n_ref: int
    n_cand: int
    n_perm: int
    seed: int
    skipped: dict[str, str] = field(default_factory=dict)
    # False: shown (scatter, what differs) beside the verdicts but not one of them, e.g. the
    # nominal simulator against the chip next to the twin against the chip
    verdict: bool = True


class Run:
    """A run directory: its manifest in memory, and what was added in this process (kept, so that
    the first render needs no round trip through the files; `Run.load` reads them back)."""

    def __init__(self, path: str | Path, title: str, created_utc: str | None = None):
        self.path = Path(path)
        self.title = title
        self.created_utc = created_utc or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.provenance: dict[str, Any] = {}
        self.stages: list[Stage] = []
        self.checks: list[Check] = []
        self.comparisons: list[ComparisonEntry] = []
        self.recordings: dict[str, list[str]] = {}
        self.tables: dict[str, str] = {}
        # relative path -> what was added or read in this process
        self._recordings: dict[str, Recording] = {}
        self._tables: dict[str, pd.DataFrame] = {}

    # ---- writing --------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, title: str, provenance: dict | None = None) -> Run:
        """A new, empty run in folder `path` (created; an existing run.json there is replaced at
        the next save). `provenance`: run-level facts (command, board URL, seeds)."""
        run = cls(path, _text(title, "title"))
        run.provenance = dict(provenance or {})
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ArtifactError(
                f"cannot create run directory {bounded(str(path))} ({e.strerror}); "
                "allowed: a folder that can be created or written"
            ) from None
        return run

    def add_recording(self, group: str, recording: object) -> str:
        """Store one trial of `group` (a hil.measure Recording, or Recording-like: see
        hil.report.recordings.as_recording) under recordings/; returns its path in the run."""
        _text(group, "recording group")
        names = self.recordings.setdefault(group, [])
        rel = f"recordings/{_slug(group)}-{len(names):03d}"
        while rel in self._all_recordings():  # two groups may share a slug ("a b", "a-b")
            rel += "x"
        rec = as_recording(recording)
        rec.save(self.path / rel)
        names.append(rel)
        self._recordings[rel] = rec
        return rel

    def add_table(self, kind: str, frame: pd.DataFrame) -> str:
        """Store a table of `kind` (hil.report.tables: fi, calibration, accuracy), checked against
        its contract; returns its path in the run."""
        if kind not in tb.KINDS:
            raise ConfigError("table", kind, f"one of {', '.join(tb.KINDS)}")
        frame = tb.check(kind, frame)
        rel = f"tables/{kind}.parquet"
        tb.write_table(frame, self.path / rel)
        self.tables[kind] = rel
        self._tables[rel] = frame
        return rel

    def add_comparison(
        self, name: str, comparison: Any, reference: str, candidate: str, verdict: bool = True
    ) -> ComparisonEntry:
        """Store a hil.compare.Comparison (its table and settings) under `name`. reference,
        candidate: the recording groups it compared (e.g. "sim", "chip"). `verdict` False: shown
        beside the verdicts for comparison, not one of them."""
        _text(name, "comparison name")
        table = tb.check("comparison", comparison.table)
        used = {c.table for c in self.comparisons}
        rel = f"tables/compare-{_slug(name)}.parquet"
        while rel in used:
            rel = rel.replace(".parquet", "x.parquet")
        tb.write_table(table, self.path / rel)
        entry = ComparisonEntry(
            name=name,
            reference=reference,
            candidate=candidate,
            table=rel,
            alpha=float(comparison.alpha),
            correction=str(comparison.correction),
            paired=bool(comparison.paired),
            n_ref=int(comparison.n_ref),
            n_cand=int(comparison.n_cand),
            n_perm=int(comparison.n_perm),
            seed=int(comparison.seed),
            skipped={str(k): str(v) for k, v in comparison.skipped.items()},
            verdict=bool(verdict),
        )
        self.comparisons.append(entry)
        self._tables[rel] = table
        return entry

    def add_check(
        self,
        name: str,
        passed: bool | None = None,
        *,
        value: float | None = None,
        op: str = "",
        limit: float | None = None,
        unit: str = "",
        detail: str = "",
    ) -> Check:
        """Record an assert-style verdict. With value, op ("<=", ">=", "==") and limit, `passed`
        is computed from them (and must agree when also given); else `passed` is required."""
        if op and passed is None and op in OPS and value is not None and limit is not None:
            passed = bool(OPS[op](value, limit))
        if passed is None:
            raise ConfigError(
                f"check {name}: passed", None, "True or False, or value, op and limit"
            )
        check = Check(_text(name, "check name"), bool(passed), value, op, limit, unit, detail)
        self.checks.append(_consistent(check, f"check {name}"))
        return check

    def set_stage(
        self,
        name: str,
        status: str,
        *,
        seconds: float | None = None,
        message: str = "",
        artifacts: list[str] | tuple[str, ...] = (),
    ) -> Stage:
        """Add or update the stage `name` (stages keep the order they were first set in)."""
        if status not in STAGE_STATUSES:
            raise ConfigError(
                f"stage {name}: status", status, f"one of {', '.join(STAGE_STATUSES)}"
            )
        for a in artifacts:
            _inside(self.path, a, f"stage {name}: artifact")
        stage = Stage(_text(name, "stage name"), status, seconds, message, list(artifacts))
        for i, s in enumerate(self.stages):
            if s.name == name:
                self.stages[i] = stage
                return stage
        self.stages.append(stage)
        return stage

    def manifest(self) -> dict[str, Any]:
        """run.json's content."""
        return {
            "schema": SCHEMA,
            "title": self.title,
            "created_utc": self.created_utc,
            "provenance": self.provenance,
            "stages": [asdict(s) for s in self.stages],
            "checks": [asdict(c) for c in self.checks],
            "comparisons": [asdict(c) for c in self.comparisons],
            # a list, so that the groups keep their order (run.json's keys are sorted)
            "recordings": [{"group": g, "paths": p} for g, p in self.recordings.items()],
            "tables": self.tables,
        }

    def save(self) -> Path:
        """Write run.json atomically; returns its path."""
        return write_json(self.path / MANIFEST, self.manifest())

    # ---- reading --------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> Run:
        """The run in folder `path` (its run.json checked; recordings and tables are read when
        asked for). ArtifactError when it cannot be read, ConfigError when its content is bad."""
        path = Path(path)
        if not path.is_dir():
            raise ArtifactError(
                f"cannot read run directory {bounded(str(path))} (not a folder); "
                f"allowed: a folder with {MANIFEST}"
            )
        m = read_json(path / MANIFEST, "run manifest")
        where = f"{bounded(str(path / MANIFEST))}"
        m = _obj(m, where)
        if m.get("schema") != SCHEMA:
            raise ConfigError(f"{where}: schema", m.get("schema"), SCHEMA)
        run = cls(path, _text(m.get("title", ""), f"{where}: title"))
        run.created_utc = _text(m.get("created_utc", ""), f"{where}: created_utc")
        run.provenance = _obj(m.get("provenance", {}), f"{where}: provenance")
        run.stages = [
            _stage(_obj(s, f"{where}: stages[{i}]"), path, f"{where}: stages[{i}]")
            for i, s in enumerate(_list(m.get("stages", []), f"{where}: stages"))
        ]
        for i, c in enumerate(_list(m.get("checks", []), f"{where}: checks")):
            w = f"{where}: checks[{i}]"
            run.checks.append(_consistent(_record(Check, _obj(c, w), w), w))
        run.comparisons = []
        for i, c in enumerate(_list(m.get("comparisons", []), f"{where}: comparisons")):
            entry = _record(
                ComparisonEntry, _obj(c, f"{where}: comparisons[{i}]"), f"{where}: comparisons[{i}]"
            )
            _inside(path, entry.table, f"{where}: comparisons[{i}].table")
            run.comparisons.append(entry)
        for i, item in enumerate(_list(m.get("recordings", []), f"{where}: recordings")):
            w = f"{where}: recordings[{i}]"
            item = _obj(item, w)
            group, rels = (
                _text(item.get("group"), f"{w}.group"),
                _list(item.get("paths"), f"{w}.paths"),
            )
            if set(item) != {"group", "paths"} or group in run.recordings:
                raise ConfigError(w, sorted(item), "keys group and paths, each group once")
            for r in rels:
                _inside(path, _text(r, f"{w}.paths"), f"{w}.paths")
            run.recordings[group] = rels
        for kind, rel in _obj(m.get("tables", {}), f"{where}: tables").items():
            if kind not in tb.KINDS:
                raise ConfigError(f"{where}: tables", kind, f"one of {', '.join(tb.KINDS)}")
            _inside(path, _text(rel, f"{where}: tables.{kind}"), f"{where}: tables.{kind}")
            run.tables[kind] = rel
        return run

    def _all_recordings(self) -> set[str]:
        return {r for rels in self.recordings.values() for r in rels}

    def load_recordings(self, group: str) -> list[Recording]:
        """The trials of `group`, in the order they were added."""
        out = []
        for rel in self.recordings.get(group, []):
            if rel not in self._recordings:
                self._recordings[rel] = load_recording(_inside(self.path, rel, "recording"))
            out.append(self._recordings[rel])
        return out

    def table(self, kind: str) -> pd.DataFrame | None:
        """Table `kind` (hil.report.tables), or None when the run has none."""
        rel = self.tables.get(kind)
        if rel is None:
            return None
        if rel not in self._tables:
            self._tables[rel] = tb.read_table(
                _inside(self.path, rel, f"table {kind}"), kind, f"table {kind}"
            )
        return self._tables[rel]

    def comparison_table(self, entry: ComparisonEntry) -> pd.DataFrame:
        """The stored table of a comparison (columns of hil.compare.Comparison.table)."""
        if entry.table not in self._tables:
            p = _inside(self.path, entry.table, f"comparison {entry.name}")
            self._tables[entry.table] = tb.read_table(p, "comparison", f"comparison {entry.name}")
        return self._tables[entry.table]


# ---- manifest checks ------------------------------------------------------------------------------


def _slug(text: str) -> str:
    """A file-name-safe form of `text`: lowercase ASCII letters, digits and '-', at most 40."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]
    return s or "x"


def _inside(root: Path, rel: str, what: str) -> Path:
    """root / rel, refusing an absolute path, '..', or a link that leads out of `root`."""
    p = PurePosixPath(rel) if isinstance(rel, str) else None
    if p is None or p.is_absolute() or ".." in p.parts or "\\" in rel or not rel or "\x00" in rel:
        raise ConfigError(what, rel, "a relative path inside the run directory (no '..')")
    full = root / p
    try:
        inside = full.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):
        inside = False
    if not inside:
        raise ConfigError(what, rel, "a path that stays inside the run directory (links too)")
    return full


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        shown = bounded(repr(value), 60) if isinstance(value, str) else type(value).__name__
        raise ConfigError(what, shown, f"text of at most {MAX_TEXT} characters")
    return value


def _obj(value: object, what: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(what, type(value).__name__, "a JSON object")
    if len(value) > MAX_ITEMS:
        raise ConfigError(what, f"{len(value)} keys", f"at most {MAX_ITEMS}")
    return value


def _list(value: object, what: str) -> list:
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise ConfigError(what, type(value).__name__, f"a JSON list of at most {MAX_ITEMS} items")
    return value


_TYPES = {
    "str": (str,),
    "bool": (bool,),
    "int": (int,),
    "float": (int, float),
    "float | None": (int, float, type(None)),
    "dict[str, str]": (dict,),
    "list[str]": (list,),
}


def _record(cls: type, d: dict, where: str) -> Any:
    """An instance of dataclass `cls` from JSON object `d`, each field type-checked."""
    kwargs = {}
    names = [f.name for f in fields(cls)]
    for f in fields(cls):
        t = str(f.type)  # postponed annotations: the type as written
        if f.name not in d:
            if f.default is not MISSING or f.default_factory is not MISSING:
                continue
            raise ConfigError(f"{where}.{f.name}", "missing", f"a {t}")
        v = d[f.name]
        ok = isinstance(v, _TYPES[t]) and not (
            isinstance(v, bool) and t.startswith(("int", "float"))
        )
        if isinstance(v, float) and not math.isfinite(v):
            ok = False
        if t == "str":
            _text(v, f"{where}.{f.name}")
        if t == "dict[str, str]" and ok:
            ok = all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())
        if t == "list[str]" and ok:
            ok = all(isinstance(x, str) for x in v)
        if not ok:
            raise ConfigError(f"{where}.{f.name}", bounded(repr(v), 60), f"a {t}")
        kwargs[f.name] = v
    extra = set(d) - set(names)
    if extra:
        raise ConfigError(where, f"unknown keys {sorted(extra)[:6]}", ", ".join(names))
    return cls(**kwargs)


def _consistent(c: Check, where: str) -> Check:
    """`c`, when its op is known and its verdict agrees with `value op limit`."""
    if not c.op:
        return c
    if c.op not in OPS or c.value is None or c.limit is None:
        raise ConfigError(f"{where}.op", c.op, f"one of {', '.join(OPS)}, with value and limit")
    if bool(OPS[c.op](c.value, c.limit)) != c.passed:
        raise ConfigError(f"{where}.passed", c.passed, f"what {c.value} {c.op} {c.limit} says")
    return c


def _stage(d: dict, root: Path, where: str) -> Stage:
    s = _record(Stage, d, where)
    if s.status not in STAGE_STATUSES:
        raise ConfigError(f"{where}.status", s.status, f"one of {', '.join(STAGE_STATUSES)}")
    for a in s.artifacts:
        _inside(root, a, f"{where}.artifacts")
    return s
