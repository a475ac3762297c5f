"""The stage runner the campaign and the nightly run share: stages with declared inputs, writing
their artifacts into one run directory (docs/report.md's layout), resumable, atomic.

    stages = [
        Stage("probe", probe, always=True),                 # rerun every time: the board may change
        Stage("conformance", conformance, inputs=("probe",)),
        Stage("characterize", characterize, inputs=("probe",), requires="hil.experiments"),
    ]
    result = run_stages(Run.create(out, title), stages, params={"quick": True})
    result.exit_code        # 0 all verdicts pass, 1 a verdict failed or a stage failed

A stage is a function `fn(ctx) -> dict | None`. It writes files under `ctx.dir` (the folder
`stages/<name>/` of the run directory; `ctx.path("x.json")`) and adds recordings, tables,
comparisons and checks to `ctx.run` (a hil.report Run); what it returns (a JSON object) is its
result, which the stages that name it in `inputs` read with `ctx.result(name)`.

Resume. After a stage succeeds, `stages/<name>/stage.json` records its fingerprint: the sha256 of
the stage's name and version, hil's code (`code_digest`: a changed or upgraded hil reruns every
stage instead of reusing what older code produced), the run's parameters, and the records of the stages it names in
`inputs` (their results and the hashes of their files). A later run with the same fingerprint, whose
files are all there with the same hashes, reuses the stage: its result, files, recordings, tables,
comparisons and checks, without running it. A stage marked `always` runs every time, so that what
it returns (e.g. the board's identity) decides whether the stages after it are reused.

Failure. An exception in a stage marks it failed, with its cause ("Type: message"); the stages
after it are "not run" (the report says where the run stopped and why), and every earlier stage's
files and stage.json stay as they were. A stage whose package is missing from this build
(`requires`), or that needs a stage that did not produce a result, is skipped, and says why. Bad
input (a board URL that cannot be opened as written) is re-raised, so that the command exits 2.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import shutil
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import hil
from hil import progress
from hil.artifacts import read_json, write_json
from hil.errors import ArtifactError, BoardURLError, ConfigError, HilError, bounded
from hil.report.rundir import Check, ComparisonEntry, Run

T = TypeVar("T")

RECORD = "stage.json"
RECORD_SCHEMA = "hil.stage/1"
STAGES_DIR = "stages"
# Errors that mean the user asked for something that cannot be (exit 2), not that a stage failed.
BAD_INPUT: tuple[type[HilError], ...] = (BoardURLError,)


class NotAvailable(HilError):
    """Raised by a stage whose work this build cannot do (a command another package brings is not
    there yet): the stage is skipped with this message, not failed."""


@dataclass(frozen=True)
class Stage:
    """One step: `fn(ctx) -> dict | None`.

    inputs: earlier stages whose results and files this one reads (they enter its fingerprint);
    uses: earlier stages this one reads when they produced a result (a skipped one is None);
    requires: a module this stage calls into ("hil.experiments"); when it is not importable the
    stage is skipped as "not available in this build (hil.experiments missing)";
    always: run even when the fingerprint is unchanged (a stage that looks at the outside world);
    version: bump when the stage's code changes what it produces (enters the fingerprint);
    title: what the progress bar and the summary call it.
    """

    name: str
    fn: Callable[[Context], dict | None]
    inputs: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    requires: str | None = None
    always: bool = False
    version: int = 1
    title: str = ""


@dataclass
class Outcome:
    """What happened to one stage in this invocation: status done (ran now), reused (done earlier,
    inputs unchanged), failed, skipped or not run; seconds it took now; message (why)."""

    name: str
    status: str
    seconds: float = 0.0
    message: str = ""
    result: dict = field(default_factory=dict)


@dataclass
class RunResult:
    """The outcome of `run_stages`: every stage's Outcome, the overall verdict line of the report
    (hil.report.document.overall) and the exit code (0 pass, 1 a verdict or a stage failed)."""

    run: Run
    outcomes: list[Outcome]
    verdict: str
    exit_code: int
    report: Path | None

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary: verdict, exit code, run directory, report and the stages."""
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "run_dir": str(self.run.path),
            "report": None if self.report is None else str(self.report),
            "stages": [
                {
                    "name": o.name,
                    "status": o.status,
                    "seconds": round(o.seconds, 3),
                    "message": o.message,
                }
                for o in self.outcomes
            ],
        }


class Context:
    """What a stage sees: the run (hil.report Run), its folder, the run's parameters and the
    results of the stages it declared as inputs."""

    def __init__(self, run: Run, stage: Stage, params: Mapping[str, Any], results: dict[str, dict]):
        self.run = run
        self.stage = stage
        self.params = dict(params)
        self.dir = run.path / STAGES_DIR / stage.name
        self._results = results

    def path(self, name: str) -> Path:
        """A file of this stage: `stages/<stage>/<name>` (write it atomically); the folder is
        created."""
        self.dir.mkdir(parents=True, exist_ok=True)
        return self.dir / name

    def rel(self, path: Path) -> str:
        """`path` relative to the run directory (for run.json)."""
        return path.relative_to(self.run.path).as_posix()

    def result(self, name: str) -> dict | None:
        """The result of stage `name` (declared in `inputs`, or in `uses`: None when it has none)."""
        if name not in self.stage.inputs + self.stage.uses:
            allowed = ", ".join(self.stage.inputs + self.stage.uses)
            raise ConfigError(f"stage {self.stage.name}: input", name, allowed)
        return self._results.get(name)

    def input_path(self, name: str, rel: str) -> Path:
        """A file of an earlier stage, by its path relative to the run directory (as a result
        names it)."""
        self.result(name)
        return self.run.path / rel

    def bar(self, iterable: Iterable[T], total: int | None = None) -> Iterable[T]:
        """`iterable` with a progress bar labelled with this stage."""
        return progress.bar(iterable, desc=f"{self.stage.name}", total=total)


def available(module: str) -> bool:
    """Whether `module` is part of this build (found without importing it). A `hil.` module must
    live in the same tree as this hil: an editable install elsewhere may resolve a name this tree
    lacks to another checkout's file."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    if module.split(".")[0] != "hil":
        return True
    root = Path(hil.__file__).resolve().parent
    where = spec.origin or next(iter(spec.submodule_search_locations or []), None)
    return where is not None and Path(where).resolve().is_relative_to(root)


def _canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _sha_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(folder: Path, root: Path) -> dict[str, str]:
    """Every regular file under `folder` (temporary files of an atomic write left out) -> sha256,
    keyed by its path relative to `root`."""
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): _sha_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != RECORD and not p.name.endswith(".tmp")
    }


@functools.cache
def code_digest() -> str:
    """sha256 over hil's Python sources (relative path and bytes, in path order): the code that
    produced a stage's output, so that resume never reuses results of other code."""
    root = Path(hil.__file__).parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def fingerprint(stage: Stage, params: Mapping[str, Any], records: Mapping[str, dict]) -> str:
    """sha256 of what a stage's output depends on: its name and version, hil's version and code
    (`code_digest`), the run's parameters, and its inputs' records (results but their message,
    and file hashes)."""
    doc = {
        "stage": stage.name,
        "version": stage.version,
        "hil": hil.__version__,
        "code": code_digest(),
        "params": dict(params),
        "inputs": {
            n: {"result": _stable(records[n]["result"]), "files": records[n]["files"]}
            if n in records
            else None
            for n in stage.inputs + stage.uses
        },
    }
    return hashlib.sha256(_canonical(doc)).hexdigest()


def _stable(result: dict) -> dict:
    """A result without its `message` (text for people, e.g. a measured round trip)."""
    return {k: v for k, v in result.items() if k != "message"}


def _read_record(path: Path) -> dict | None:
    """A stage.json, or None when there is none or it cannot be trusted."""
    if not path.is_file():
        return None
    try:
        rec = read_json(path, "stage record")
    except HilError:
        return None
    if not isinstance(rec, dict) or rec.get("schema") != RECORD_SCHEMA:
        return None
    return rec


def _files_intact(run: Run, rec: dict) -> bool:
    for rel, sha in rec.get("files", {}).items():
        p = run.path / rel
        if not p.is_file() or _sha_file(p) != sha:
            return False
    return True


def _snapshot(run: Run) -> tuple[int, int, dict[str, list[str]], dict[str, str]]:
    return (
        len(run.checks),
        len(run.comparisons),
        {g: list(p) for g, p in run.recordings.items()},
        dict(run.tables),
    )


def _contributions(run: Run, before: tuple) -> dict:
    """What a stage added to the run since `before` (a _snapshot)."""
    n_checks, n_cmp, recs, tables = before
    return {
        "checks": [asdict(c) for c in run.checks[n_checks:]],
        "comparisons": [asdict(c) for c in run.comparisons[n_cmp:]],
        "recordings": {
            g: p[len(recs.get(g, [])) :] for g, p in run.recordings.items() if p != recs.get(g)
        },
        "tables": {k: v for k, v in run.tables.items() if tables.get(k) != v},
    }


def _recording_files(run: Run, contributions: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    for paths in contributions["recordings"].values():
        for rel in paths:
            out.update(_files(run.path / rel, run.path))
    for rel in list(contributions["tables"].values()) + [
        c["table"] for c in contributions["comparisons"]
    ]:
        out[rel] = _sha_file(run.path / rel)
    return out


def _replay(run: Run, contributions: dict) -> None:
    """Add a reused stage's recordings, tables, comparisons and checks to `run` again."""
    for c in contributions["checks"]:
        run.checks.append(Check(**c))
    for c in contributions["comparisons"]:
        run.comparisons.append(ComparisonEntry(**c))
    for g, paths in contributions["recordings"].items():
        run.recordings.setdefault(g, []).extend(paths)
    run.tables.update(contributions["tables"])


def _cause(e: BaseException) -> str:
    text = str(e).strip()
    return bounded(f"{type(e).__name__}: {text}" if text else type(e).__name__, 2000)


def run_stages(
    run: Run,
    stages: list[Stage],
    params: Mapping[str, Any],
    *,
    render: bool = True,
    on_stage: Callable[[Outcome], None] | None = None,
    on_start: Callable[[str], None] | None = None,
    reuse: bool = True,
) -> RunResult:
    """Run `stages` in order into `run` (a fresh hil.report Run on the run directory), reusing
    those whose fingerprint is unchanged; save run.json after every stage and render the report at
    the end (when `render`). `params`: the JSON-able settings every fingerprint includes.
    `on_start(name)` is called before a stage runs, `on_stage(outcome)` after each stage (the
    nightly run stores them). `reuse` False redoes every stage."""
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ConfigError("stages", names, "unique stage names")
    for s in stages:
        # `uses` may name a stage this run leaves out (`hil nightly --skip fit`): it reads as None
        later = names[names.index(s.name) :]
        unknown = [i for i in s.inputs if i not in names[: names.index(s.name)]]
        unknown += [u for u in s.uses if u in later]
        if unknown:
            raise ConfigError(f"stage {s.name}: inputs", unknown, "names of earlier stages")
    _canonical(dict(params))  # JSON-able, or a ConfigError now rather than in the middle
    for s in stages:
        run.set_stage(s.name, "not run", message="waiting")
    run.save()

    records: dict[str, dict] = {}  # stage -> its record (result and files) when it has one
    outcomes: list[Outcome] = []
    stopped: str | None = None
    for stage in progress.bar(stages, desc="stages", total=len(stages)):
        outcome = _one(run, stage, params, records, stopped, on_start, reuse)
        if outcome.status == "failed":
            stopped = stage.name
        outcomes.append(outcome)
        run.save()
        if on_stage is not None:
            on_stage(outcome)

    report = None
    if render:  # the last stage: the report of everything above, rendered also after a failure
        from hil.report.document import write_report

        run.set_stage("report", "done", message=f"{run.path.name}/report.html")
        t0 = time.perf_counter()
        try:
            report = write_report(run)
            run.set_stage("report", "done", seconds=time.perf_counter() - t0,
                          message=f"{run.path.name}/report.html")  # fmt: skip
        except HilError as e:
            run.set_stage("report", "failed", seconds=time.perf_counter() - t0, message=_cause(e))
            outcomes.append(Outcome("report", "failed", time.perf_counter() - t0, _cause(e)))
        else:
            outcomes.append(Outcome("report", "done", time.perf_counter() - t0, str(report)))
        run.save()
    from hil.report.document import FAIL, overall

    result, line = overall(run)
    code = 1 if result == FAIL else 0
    return RunResult(run, outcomes, line, code, report)


def _one(
    run: Run,
    stage: Stage,
    params: Mapping[str, Any],
    records: dict[str, dict],
    stopped: str | None,
    on_start: Callable[[str], None] | None,
    reuse: bool = True,
) -> Outcome:
    name = stage.name
    if stopped is not None:
        msg = f"the run stopped at stage {stopped}"
        run.set_stage(name, "not run", message=msg)
        return Outcome(name, "not run", message=msg)
    if stage.requires is not None and not available(stage.requires):
        msg = f"not available in this build ({stage.requires} missing)"
        run.set_stage(name, "skipped", message=msg)
        return Outcome(name, "skipped", message=msg)
    missing = [i for i in stage.inputs if i not in records]
    if missing:
        msg = f"needs stage {', '.join(missing)}, which has no result in this run"
        run.set_stage(name, "skipped", message=msg)
        return Outcome(name, "skipped", message=msg)

    fp = fingerprint(stage, params, records)
    record_path = run.path / STAGES_DIR / name / RECORD
    old = _read_record(record_path)
    if (
        reuse
        and not stage.always
        and old is not None
        and old.get("fingerprint") == fp
        and old.get("status") == "done"
        and _files_intact(run, old)
    ):
        _replay(run, old["contributions"])
        records[name] = old
        run.set_stage(
            name,
            "done",
            seconds=old.get("seconds"),
            message="reused: inputs unchanged since " + str(old.get("utc", "an earlier run")),
            artifacts=sorted(old["files"]),
        )
        return Outcome(name, "reused", message="inputs unchanged", result=old["result"])

    ctx = Context(run, stage, params, {n: r["result"] for n, r in records.items()})
    shutil.rmtree(ctx.dir, ignore_errors=True)  # no file of an earlier attempt counts as output
    before = _snapshot(run)
    run.set_stage(name, "running")
    run.save()
    if on_start is not None:
        on_start(name)
    t0 = time.perf_counter()
    try:
        with progress.ticker(f"stage {name}" + (f": {stage.title}" if stage.title else "")):
            result = stage.fn(ctx)
        if result is None:
            result = {}
        _canonical(result)  # a result must be JSON (it is stored and fingerprinted)
    except NotAvailable as e:
        _drop_added(run, before)
        run.set_stage(name, "skipped", message=str(e))
        return Outcome(name, "skipped", time.perf_counter() - t0, str(e))
    except BAD_INPUT:
        run.set_stage(name, "failed", seconds=time.perf_counter() - t0, message="bad input")
        run.save()
        raise
    except Exception as e:  # a stage's failure is a verdict, stored with its cause
        seconds = time.perf_counter() - t0
        cause = _cause(e)
        if not isinstance(e, HilError):  # a bug, not a measured failure: keep where it happened
            frames = traceback.extract_tb(e.__traceback__)[-3:]
            cause += (
                " (at " + "; ".join(f"{Path(f.filename).name}:{f.lineno}" for f in frames) + ")"
            )
        _drop_added(run, before)
        run.set_stage(name, "failed", seconds=seconds, message=cause)
        return Outcome(name, "failed", seconds, cause)
    seconds = time.perf_counter() - t0
    contributions = _contributions(run, before)
    files = _files(ctx.dir, run.path)
    files.update(_recording_files(run, contributions))
    record = {
        "schema": RECORD_SCHEMA,
        "stage": name,
        "fingerprint": fp,
        "status": "done",
        "seconds": seconds,
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "result": result,
        "files": files,
        "contributions": contributions,
    }
    try:
        write_json(record_path, record)
    except ArtifactError as e:
        run.set_stage(name, "failed", seconds=seconds, message=_cause(e))
        return Outcome(name, "failed", seconds, _cause(e))
    records[name] = record
    run.set_stage(
        name,
        "done",
        seconds=seconds,
        message=str(result.get("message", "")),
        artifacts=sorted(files),
    )
    return Outcome(name, "done", seconds, str(result.get("message", "")), result)


def _drop_added(run: Run, before: tuple) -> None:
    """Forget what a failed stage added to the run (its files may be half there)."""
    n_checks, n_cmp, recs, tables = before
    del run.checks[n_checks:]
    del run.comparisons[n_cmp:]
    run.recordings.clear()
    run.recordings.update(recs)
    run.tables.clear()
    run.tables.update(tables)
