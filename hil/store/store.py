"""The results store: every night of every board, kept (SQLite by default, PostgreSQL for farms).

    store = open_store("sqlite:///reports/hil.db")        # creates / migrates the schema
    run = store.start_run("emu-3", date(2026, 11, 28), provenance={"url": "emu://?seed=3"})
    with store.stage(run, "characterize") as detail:       # status, timing, cause on failure
        ...; detail["n_recordings"] = 4
    store.attach(run, "recordings/characterize.parquet", Path("rec.parquet"))
    store.complete_run(run, stats={"rate_hz": rates}, calibration=doc, activate=True,
                       verdict="pass", alerts=[Alert("drift", "core 2 leak moved 3.1 sigma")])
    store.trend("emu-3", neuron=17)                        # one neuron over all nights
    store.use_calibration(41, reason="rollback")           # make an earlier calibration active

Crash safety. A run is `running` until the one transaction of `complete_run` writes its
statistics, alerts and calibration and marks it `complete`; a process killed at any point before
that commit leaves no statistics, no alert and no new active calibration of that run, and every
query for history, trends and drift reads complete runs only. The next `start_run` for the same
board and night marks the dead attempt `abandoned` (its process is gone on this host, or its last
heartbeat is older than `stale_after_s`) and starts attempt 2. Artifact files are written (atomically)
before the rows that name them. Write transactions that meet another writer's lock are retried
with bounded backoff (hil.store.engine.transact), then fail with StoreBusyError.
"""

from __future__ import annotations

import json
import math
import operator
import os
import re
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, SupportsIndex, TypeVar, overload

import numpy as np
import sqlalchemy as sa
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, CursorResult

import hil
from hil.errors import ConfigError, StoreError
from hil.store import engine as eng
from hil.store.diff import Change, diff_documents
from hil.store.objects import Objects, check_sha, sha256_hex
from hil.store.schema import (
    LIVE_RUN_STATUSES,
    VERDICTS,
    artifacts,
    boards,
    calibration_activations,
    calibrations,
    neuron_stats,
    run_artifacts,
    runs,
    stages,
)
from hil.store.schema import alerts as alerts_table  # `alerts` and `metrics` are Store methods
from hil.store.schema import metrics as metrics_table

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")

DEFAULT_RETRY_S = 60.0
DEFAULT_BUSY_TIMEOUT_S = 5.0
# A running attempt whose process cannot be checked (another host) counts as dead after this long
# without a heartbeat; heartbeats come with every stage start and end.
STALE_AFTER_S = 2 * 3600.0

STAGE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
METRIC_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
MEDIA_TYPES = {
    ".parquet": "application/vnd.apache.parquet",
    ".json": "application/json",
    ".csv": "text/csv",
    ".html": "text/html",
    ".png": "image/png",
    ".npz": "application/octet-stream",
}


@dataclass(frozen=True)
class Run:
    """One attempt at one board's night. `status`: running, complete, failed or abandoned."""

    id: int
    board: str
    night: date
    attempt: int
    status: str
    verdict: str | None
    started_at: datetime
    heartbeat_at: datetime
    finished_at: datetime | None
    host: str
    pid: int
    software_version: str
    provenance: dict
    error: str | None


@dataclass(frozen=True)
class Calibration:
    """A stored calibration document of one board; `active`: the one deployments use now."""

    id: int
    board: str
    run_id: int | None
    created_at: datetime
    sha256: str
    document: dict
    active: bool
    note: str


@dataclass(frozen=True)
class Alert:
    """A finding of a run. `neuron` is a board-wide neuron index, `core` a board-wide core index
    (chip * 4 + core); both None for a board-wide alert."""

    kind: str
    message: str
    metric: str | None = None
    neuron: int | None = None
    core: int | None = None
    value: float | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class StatHistory:
    """One metric of one board over its complete nights, oldest first.

    nights (n_nights,), run_ids (n_nights,) int64, neurons (n_neurons,) int64 sorted board-wide
    indices, values (n_nights, n_neurons) float64 with NaN where a night has no value.
    """

    metric: str
    nights: tuple[date, ...]
    run_ids: np.ndarray
    neurons: np.ndarray
    values: np.ndarray


def open_store(
    url: str = eng.DEFAULT_URL,
    *,
    migrate: bool = True,
    retry_s: float = DEFAULT_RETRY_S,
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
) -> Store:
    """Open the store at `url` (hil.store.engine: sqlite:///PATH or postgresql://...).

    With `migrate` (the default) the schema is created or brought to the newest migration first;
    without it, a store that is not at the newest migration is a StoreError.
    """
    return Store(url, migrate=migrate, retry_s=retry_s, busy_timeout_s=busy_timeout_s)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@overload
def _utc(t: datetime) -> datetime: ...
@overload
def _utc(t: None) -> None: ...
def _utc(t: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; the store writes UTC only."""
    return t.replace(tzinfo=timezone.utc) if t is not None and t.tzinfo is None else t


def _json_object(obj: Mapping | None, what: str) -> str:
    if obj is None:
        return "{}"
    if not isinstance(obj, Mapping):
        raise ConfigError(what, type(obj).__name__, "a JSON object (dict)")
    try:
        return json.dumps(dict(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ConfigError(what, str(e), "JSON values (no NaN or infinity: use null)") from None


def _check_text(value: object, what: str, pattern: re.Pattern | None = None) -> str:
    if pattern is not None:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ConfigError(what, value, f"a name matching {pattern.pattern}")
        return value
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > 200
        or not value.isprintable()
    ):
        raise ConfigError(what, value, "printable text of 1 to 200 characters")
    return value


def _check_message(value: object, what: str, limit: int = 10_000) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ConfigError(what, value, f"non-empty text of at most {limit} characters")
    return value


def _inserted_id(res: CursorResult) -> int:
    """The new row's id of a one-row INSERT."""
    key = res.inserted_primary_key
    assert key is not None  # SQLAlchemy has it for every single-row INSERT of a table with an id
    return int(key[0])


def _ident(value: object, what: str) -> int:
    """An id or index as a Python int (numpy integers too: a driver may bind those as bytes)."""
    if isinstance(value, bool) or not isinstance(value, SupportsIndex):
        raise ConfigError(what, value, "an integer")
    return operator.index(value)


def _check_night(night: date | str) -> date:
    if isinstance(night, str):
        try:
            return date.fromisoformat(night)
        except ValueError:
            pass
    elif isinstance(night, date) and not isinstance(night, datetime):
        return night
    raise ConfigError("night", night, "a date (datetime.date or YYYY-MM-DD)")


def _cause(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class Store:
    """A results store; see the module docstring. Use as a context manager or call close()."""

    def __init__(
        self,
        url: str = eng.DEFAULT_URL,
        *,
        migrate: bool = True,
        retry_s: float = DEFAULT_RETRY_S,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    ):
        self.location = eng.parse_url(url)
        self.backend = self.location.backend
        self.objects = Objects(self.location.objects)
        self.retry_s = float(retry_s)
        self._engine = eng.create_engine(self.location, busy_timeout_s)
        try:
            if migrate:
                self.revision = eng.upgrade(self._engine, self.location, self.retry_s)
            else:
                revision = self._read(eng.current_revision)
                if revision is None or revision != eng.head_revision():
                    raise StoreError(
                        f"store {self.url} is at schema revision {revision}, not "
                        f"{eng.head_revision()}; open it with migrate=True to upgrade"
                    )
                self.revision = revision
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def url(self) -> str:
        """The store URL without its password."""
        return self.location.display()

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transactions ---------------------------------------------------------------------------

    def _write(self, fn: Callable[[Connection], T]) -> T:
        return eng.transact(self._engine, self.location, fn, write=True, retry_s=self.retry_s)

    def _read(self, fn: Callable[[Connection], T]) -> T:
        return eng.transact(self._engine, self.location, fn, write=False, retry_s=self.retry_s)

    def _insert_ignore(self, conn: Connection, table: sa.Table, row: dict, key: list[str]) -> None:
        """INSERT that does nothing when a row with the same `key` exists (both backends)."""
        if self.backend == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            conn.execute(
                sqlite_insert(table).values(**row).on_conflict_do_nothing(index_elements=key)
            )
        else:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(pg_insert(table).values(**row).on_conflict_do_nothing(index_elements=key))

    # ---- boards and runs ------------------------------------------------------------------------

    def _board_id(self, conn: Connection, board: str, create: bool = False) -> int:
        if create:
            self._insert_ignore(conn, boards, {"name": board, "created_at": _now()}, key=["name"])
        bid = conn.execute(select(boards.c.id).where(boards.c.name == board)).scalar()
        if bid is None:
            known = conn.execute(select(boards.c.name).order_by(boards.c.name)).scalars().all()
            raise StoreError(
                f"board {board!r} is not in store {self.url}; known boards: "
                f"{', '.join(known) if known else 'none'}"
            )
        return bid

    def boards(self) -> list[str]:
        """The names of every board in the store, sorted."""
        return self._read(
            lambda c: list(c.execute(select(boards.c.name).order_by(boards.c.name)).scalars())
        )

    def start_run(
        self,
        board: str,
        night: date | str,
        *,
        provenance: Mapping | None = None,
        software_version: str = hil.__version__,
        stale_after_s: float = STALE_AFTER_S,
    ) -> int:
        """Start the run of `board` (its BoardInfo.board_id; added when new) for `night`; return
        the run id.

        `provenance` (a JSON object: board URL, firmware version, silicon id, seed, ...) is kept
        with the run. A night that already has a complete run, or a running attempt whose process
        is alive, is a StoreError; a dead attempt is marked abandoned and this one is the next.
        """
        board = _check_text(board, "board")
        night = _check_night(night)
        prov = _json_object(provenance, "provenance")
        host, pid = socket.gethostname(), os.getpid()

        def start(conn: Connection) -> int:
            bid = self._board_id(conn, board, create=True)
            at_night = (runs.c.board_id == bid) & (runs.c.night == night)
            live = conn.execute(
                select(runs).where(at_night, runs.c.status.in_(LIVE_RUN_STATUSES))
            ).first()
            now = _now()
            if live is not None:
                if live.status == "complete":
                    raise StoreError(
                        f"board {board!r} night {night} already has a complete run (run "
                        f"{live.id}); a night is run once"
                    )
                why = self._stale(live, host, now, stale_after_s)
                if why is None:
                    age = (now - _utc(live.heartbeat_at)).total_seconds()
                    raise StoreError(
                        f"board {board!r} night {night} is being run by process {live.pid} on "
                        f"{live.host} (run {live.id}, last heartbeat {age:.0f} s ago)"
                    )
                conn.execute(
                    update(runs)
                    .where(runs.c.id == live.id, runs.c.status == "running")
                    .values(status="abandoned", error=why, finished_at=now)
                )
            last = conn.execute(select(func.max(runs.c.attempt)).where(at_night)).scalar()
            res = conn.execute(
                runs.insert().values(
                    board_id=bid,
                    night=night,
                    attempt=(last or 0) + 1,
                    status="running",
                    started_at=now,
                    heartbeat_at=now,
                    host=host,
                    pid=pid,
                    software_version=str(software_version)[:64],
                    provenance=prov,
                )
            )
            return _inserted_id(res)

        try:
            return self._write(start)
        except eng.Conflict as e:
            raise StoreError(
                f"board {board!r} night {night}: another process started a run at the same "
                f"moment; {e}"
            ) from None

    @staticmethod
    def _stale(live: sa.Row, host: str, now: datetime, stale_after_s: float) -> str | None:
        """Why a running attempt may be taken over, or None while it may still be alive."""
        if live.host == host and live.pid != os.getpid() and not eng.pid_alive(live.pid):
            return f"abandoned: its process {live.pid} on {host} is gone"
        age = (now - _utc(live.heartbeat_at)).total_seconds()
        if age > stale_after_s:
            return f"abandoned: no heartbeat from process {live.pid} on {live.host} for {age:.0f} s"
        return None

    def _running(self, conn: Connection, run_id: int, allowed: tuple[str, ...] = ("running",)):
        """The run's row, locked against a concurrent takeover (PostgreSQL row lock; SQLite holds
        the whole write lock); StoreError unless its status is one of `allowed`."""
        row = conn.execute(select(runs).where(runs.c.id == run_id).with_for_update()).first()
        if row is None:
            raise StoreError(f"run {run_id} is not in store {self.url}")
        if row.status not in allowed:
            why = f" ({row.error})" if row.error else ""
            raise StoreError(
                f"run {run_id} is {row.status}{why}; allowed here: {' or '.join(allowed)}"
            )
        return row

    def heartbeat(self, run_id: int) -> None:
        """Tell other processes that this run is alive (stage starts and ends do this too)."""
        run_id = _ident(run_id, "run id")
        self._write(lambda c: self._beat(c, run_id))

    def _beat(self, conn: Connection, run_id: int) -> datetime:
        self._running(conn, run_id)
        now = _now()
        conn.execute(update(runs).where(runs.c.id == run_id).values(heartbeat_at=now))
        return now

    # ---- stages ---------------------------------------------------------------------------------

    def begin_stage(self, run_id: int, name: str) -> None:
        """Record that stage `name` of a running run has started."""
        run_id = _ident(run_id, "run id")
        name = _check_text(name, "stage name", STAGE_NAME)

        def begin(conn: Connection) -> None:
            now = self._beat(conn, run_id)
            done = conn.execute(
                select(stages.c.status).where(stages.c.run_id == run_id, stages.c.name == name)
            ).scalar()
            if done is not None:
                raise StoreError(f"stage {name!r} of run {run_id} is already recorded ({done})")
            conn.execute(
                stages.insert().values(run_id=run_id, name=name, status="running", started_at=now)
            )

        self._write(begin)

    def end_stage(
        self,
        run_id: int,
        name: str,
        status: str,
        *,
        error: str | None = None,
        detail: Mapping | None = None,
    ) -> None:
        """Record the end of a stage: status ok, failed (with `error`, its cause) or skipped."""
        run_id = _ident(run_id, "run id")
        if status not in ("ok", "failed", "skipped"):
            raise ConfigError("stage status", status, "ok, failed or skipped")
        if status == "failed" and not error:
            raise ConfigError("stage error", error, "the cause of the failure (text)")
        det = _json_object(detail, "stage detail")

        def end(conn: Connection) -> None:
            now = self._beat(conn, run_id)
            row = conn.execute(
                select(stages).where(stages.c.run_id == run_id, stages.c.name == name)
            ).first()
            if row is None and status == "skipped":
                conn.execute(
                    stages.insert().values(
                        run_id=run_id, name=name, status=status, started_at=now, finished_at=now,
                        duration_s=0.0, error=error, detail=det,
                    )
                )  # fmt: skip
                return
            if row is None or row.status != "running":
                raise StoreError(
                    f"stage {name!r} of run {run_id} is not running "
                    f"({'never started' if row is None else row.status})"
                )
            conn.execute(
                update(stages)
                .where(stages.c.id == row.id)
                .values(
                    status=status,
                    finished_at=now,
                    duration_s=(now - _utc(row.started_at)).total_seconds(),
                    error=error,
                    detail=det,
                )
            )

        self._write(end)

    @contextmanager
    def stage(self, run_id: int, name: str) -> Iterator[dict]:
        """Run a stage: yields a dict the stage may fill (stored as its JSON detail). An exception
        inside marks the stage failed with its cause ("Type: message") and propagates."""
        self.begin_stage(run_id, name)
        detail: dict = {}
        try:
            yield detail
        except BaseException as e:
            self.end_stage(run_id, name, "failed", error=_cause(e), detail=detail)
            raise
        self.end_stage(run_id, name, "ok", detail=detail)

    # ---- artifacts ------------------------------------------------------------------------------

    def attach(
        self, run_id: int, name: str, data: bytes | Path, media_type: str | None = None
    ) -> str:
        """Store a file's bytes (or `data` itself) by sha256 and name it `name` in the run; return
        the sha256. A run takes artifacts while running and after it completes (its report)."""
        run_id = _ident(run_id, "run id")
        name = _check_text(name, "artifact name")
        if isinstance(data, str | Path):
            path = Path(data)
            try:
                raw = path.read_bytes()
            except OSError as e:
                why = f"a readable file ({e.strerror})"
                raise ConfigError("artifact file", str(path), why) from None
            media_type = media_type or MEDIA_TYPES.get(path.suffix, "application/octet-stream")
        elif isinstance(data, bytes | bytearray | memoryview):
            raw = bytes(data)
        else:
            raise ConfigError("artifact data", type(data).__name__, "bytes or a file path")
        media_type = media_type or MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")
        sha = self.objects.put(raw)  # the file first: a row never names a file that is not there

        def link(conn: Connection) -> None:
            self._running(conn, run_id, ("running", "complete"))
            row = {"sha256": sha, "size_bytes": len(raw), "media_type": media_type}
            self._insert_ignore(conn, artifacts, {**row, "created_at": _now()}, key=["sha256"])
            have = conn.execute(
                select(run_artifacts.c.sha256).where(
                    run_artifacts.c.run_id == run_id, run_artifacts.c.name == name
                )
            ).scalar()
            if have is not None:
                raise StoreError(f"run {run_id} already has an artifact named {name!r} ({have})")
            conn.execute(run_artifacts.insert().values(run_id=run_id, name=name, sha256=sha))

        self._write(link)
        return sha

    def artifacts(self, run_id: int) -> dict[str, str]:
        """{name: sha256} of a run's artifacts."""
        run_id = _ident(run_id, "run id")
        q = select(run_artifacts.c.name, run_artifacts.c.sha256).where(
            run_artifacts.c.run_id == run_id
        )
        return self._read(lambda c: dict(c.execute(q.order_by(run_artifacts.c.name)).all()))

    def artifact_path(self, sha: str) -> Path:
        """The file of an artifact in the objects folder (e.g. to open a Parquet recording)."""
        return self.objects.path(sha)

    def read_artifact(self, sha: str) -> bytes:
        """An artifact's bytes, checked against its hash."""
        return self.objects.get(check_sha(sha))

    # ---- completing and failing a run -----------------------------------------------------------

    def complete_run(
        self,
        run_id: int,
        *,
        stats: Mapping[str, np.ndarray] | None = None,
        neurons: np.ndarray | None = None,
        calibration: Mapping | None = None,
        activate: bool = False,
        calibration_note: str = "",
        verdict: str | None = None,
        alerts: Sequence[Alert] = (),
    ) -> int | None:
        """Complete a running run in ONE transaction: its per-neuron statistics, alerts and
        calibration, and the status `complete`. Returns the new calibration's id (or None).

        stats: {metric name (unit in the name, e.g. rate_hz): values (n_neurons,)}, for the
            board-wide neuron indices `neurons` (n_neurons,) (default 0..n-1). Non-finite values
            are not stored: the neuron has no value for that metric that night (NaN on reading).
        calibration: the calibration document (JSON object), stored; with `activate` it becomes
            the board's active calibration in the same transaction.
        verdict: pass or fail (the night's validation), or None.
        """
        run_id = _ident(run_id, "run id")
        if verdict is not None and verdict not in VERDICTS:
            raise ConfigError("verdict", verdict, f"None or one of {', '.join(VERDICTS)}")
        neuron_idx, columns = _stat_columns(stats or {}, neurons)
        rows_alerts = [{"run_id": run_id, **_alert_row(a, i)} for i, a in enumerate(alerts)]
        cal = None
        if calibration is not None:
            text = _json_object(calibration, "calibration")
            cal = (text, sha256_hex(text.encode()))
        elif activate:
            raise ConfigError("activate", True, "only with a calibration document")

        def complete(conn: Connection) -> int | None:
            run = self._running(conn, run_id)
            open_stages = conn.execute(
                select(stages.c.name).where(
                    stages.c.run_id == run_id, stages.c.status == "running"
                )
            ).scalars().all()  # fmt: skip
            if open_stages:
                raise StoreError(
                    f"run {run_id} cannot complete: stage {', '.join(open_stages)} is still running"
                )
            if columns:
                self._insert_stats(conn, run_id, neuron_idx, columns)
            if rows_alerts:
                conn.execute(alerts_table.insert(), rows_alerts)
            cal_id = None
            if cal is not None:
                cal_id = self._add_calibration(conn, run.board_id, cal, run_id, calibration_note)
                if activate:
                    self._activate(conn, run.board_id, cal_id, f"run {run_id} completed")
            now = _now()
            done = conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.status == "running")
                .values(status="complete", verdict=verdict, finished_at=now, heartbeat_at=now)
            )
            if done.rowcount != 1:
                raise StoreError(f"run {run_id} was taken over while completing")
            return cal_id

        return self._write(complete)

    def fail_run(self, run_id: int, cause: str) -> None:
        """Mark a running run failed with its cause; stages still running fail with it. A failed
        night may be run again (a new attempt)."""
        run_id = _ident(run_id, "run id")
        cause = _check_message(cause, "cause")

        def fail(conn: Connection) -> None:
            self._running(conn, run_id)
            now = _now()
            conn.execute(
                update(stages)
                .where(stages.c.run_id == run_id, stages.c.status == "running")
                .values(status="failed", finished_at=now, error=f"run failed: {cause}")
            )
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(status="failed", error=cause, finished_at=now, heartbeat_at=now)
            )

        self._write(fail)

    def _metric_ids(self, conn: Connection, names: Sequence[str]) -> dict[str, int]:
        for name in names:
            self._insert_ignore(conn, metrics_table, {"name": name}, key=["name"])
        q = select(metrics_table.c.name, metrics_table.c.id).where(
            metrics_table.c.name.in_(list(names))
        )
        return dict(conn.execute(q).all())

    def _insert_stats(
        self, conn: Connection, run_id: int, neurons: np.ndarray, columns: dict[str, np.ndarray]
    ) -> None:
        """Bulk insert: executemany on SQLite, COPY on PostgreSQL (same transaction)."""
        ids = self._metric_ids(conn, sorted(columns))
        parts = []
        for name, values in columns.items():
            keep = np.isfinite(values)
            parts.append((neurons[keep], np.full(int(keep.sum()), ids[name]), values[keep]))
        neuron = np.concatenate([p[0] for p in parts])
        metric = np.concatenate([p[1] for p in parts])
        value = np.concatenate([p[2] for p in parts])
        order = np.lexsort((metric, neuron))  # primary-key order: appends to the b-tree
        if not order.size:
            return
        cells = (neuron[order].tolist(), metric[order].tolist(), value[order].tolist())
        cols = "(run_id, neuron, metric_id, value)"
        if self.backend == "postgresql":
            # COPY in text format, one block; repr() of a float is exact and PostgreSQL reads it
            # back to the same double.
            text = "".join(f"{run_id}\t{n}\t{m}\t{v!r}\n" for n, m, v in zip(*cells, strict=True))
            dbapi = conn.connection.driver_connection
            assert dbapi is not None  # a connection checked out of the pool has one
            with dbapi.cursor() as cur:
                with cur.copy(f"COPY neuron_stats {cols} FROM STDIN") as copy:
                    copy.write(text)
        else:
            rows = zip([run_id] * order.size, *cells, strict=True)
            conn.exec_driver_sql(f"INSERT INTO neuron_stats {cols} VALUES (?, ?, ?, ?)", list(rows))

    # ---- calibrations ---------------------------------------------------------------------------

    def _add_calibration(
        self, conn: Connection, bid: int, cal: tuple[str, str], run_id: int | None, note: str
    ) -> int:
        res = conn.execute(
            calibrations.insert().values(
                board_id=bid,
                run_id=run_id,
                created_at=_now(),
                document=cal[0],
                sha256=cal[1],
                active=False,
                note=note,
            )
        )
        return _inserted_id(res)

    def _activate(self, conn: Connection, bid: int, cal_id: int, reason: str) -> None:
        # Lock the board row: concurrent activations of one board go one after the other.
        conn.execute(select(boards.c.id).where(boards.c.id == bid).with_for_update())
        prev = conn.execute(
            select(calibrations.c.id).where(calibrations.c.board_id == bid, calibrations.c.active)
        ).scalar()
        if prev == cal_id:
            return
        conn.execute(
            update(calibrations)
            .where(calibrations.c.board_id == bid, calibrations.c.active)
            .values(active=False)
        )
        conn.execute(update(calibrations).where(calibrations.c.id == cal_id).values(active=True))
        conn.execute(
            calibration_activations.insert().values(
                board_id=bid, calibration_id=cal_id, previous_id=prev, at=_now(), reason=reason
            )
        )

    def add_calibration(
        self, board: str, document: Mapping, *, activate: bool = False, note: str = ""
    ) -> int:
        """Store a calibration made outside a nightly run (e.g. by hand); return its id."""
        board = _check_text(board, "board")
        text = _json_object(document, "calibration")

        def add(conn: Connection) -> int:
            bid = self._board_id(conn, board, create=True)
            cal_id = self._add_calibration(conn, bid, (text, sha256_hex(text.encode())), None, note)
            if activate:
                self._activate(conn, bid, cal_id, note or "added")
            return cal_id

        return self._write(add)

    def use_calibration(self, calibration_id: int, reason: str = "rollback") -> Calibration:
        """Make a stored calibration its board's active one (rollback); in one transaction, so
        some calibration is active throughout. Returns it."""
        calibration_id = _ident(calibration_id, "calibration id")
        reason = _check_text(reason, "reason")

        def use(conn: Connection) -> None:
            bid = conn.execute(
                select(calibrations.c.board_id).where(calibrations.c.id == calibration_id)
            ).scalar()
            if bid is None:
                raise StoreError(f"calibration {calibration_id} is not in store {self.url}")
            self._activate(conn, bid, calibration_id, reason)

        self._write(use)
        return self.calibration(calibration_id)

    def _calibration_query(self) -> sa.Select:
        return select(calibrations, boards.c.name.label("board")).join(
            boards, boards.c.id == calibrations.c.board_id
        )

    @staticmethod
    def _calibration(row: sa.Row) -> Calibration:
        return Calibration(
            id=row.id,
            board=row.board,
            run_id=row.run_id,
            created_at=_utc(row.created_at),
            sha256=row.sha256,
            document=json.loads(row.document),
            active=bool(row.active),
            note=row.note,
        )

    def calibration(self, calibration_id: int) -> Calibration:
        """A stored calibration by id."""
        calibration_id = _ident(calibration_id, "calibration id")
        q = self._calibration_query().where(calibrations.c.id == calibration_id)
        row = self._read(lambda c: c.execute(q).first())
        if row is None:
            raise StoreError(f"calibration {calibration_id} is not in store {self.url}")
        return self._calibration(row)

    def active_calibration(self, board: str) -> Calibration:
        """The calibration that `board` uses now (what experiments and deployments load)."""

        def active(conn: Connection) -> sa.Row | None:
            bid = self._board_id(conn, board)
            q = self._calibration_query().where(
                calibrations.c.board_id == bid, calibrations.c.active
            )
            return conn.execute(q).first()

        row = self._read(active)
        if row is None:
            raise StoreError(f"board {board!r} has no active calibration in store {self.url}")
        return self._calibration(row)

    def calibrations(self, board: str) -> pd.DataFrame:
        """Every calibration of a board, oldest first: id, run_id, night (of its run), created_at,
        sha256, active, note."""
        q = (
            select(
                calibrations.c.id,
                calibrations.c.run_id,
                runs.c.night,
                calibrations.c.created_at,
                calibrations.c.sha256,
                calibrations.c.active,
                calibrations.c.note,
            )
            .outerjoin(runs, runs.c.id == calibrations.c.run_id)
            .order_by(calibrations.c.id)
        )
        return self._frame(
            lambda c: c.execute(q.where(calibrations.c.board_id == self._board_id(c, board))),
            times=("created_at",),
            bools=("active",),
            ints=("run_id",),
        )

    def activations(self, board: str) -> pd.DataFrame:
        """Every change of a board's active calibration, oldest first: at, calibration_id,
        previous_id, reason."""
        t = calibration_activations
        q = select(t.c.at, t.c.calibration_id, t.c.previous_id, t.c.reason).order_by(t.c.id)
        return self._frame(
            lambda c: c.execute(q.where(t.c.board_id == self._board_id(c, board))),
            times=("at",),
            ints=("previous_id",),
        )

    def calibration_diff(self, a: int, b: int) -> list[Change]:
        """Leaf-by-leaf changes from calibration `a` to calibration `b` (hil.store.diff)."""
        a, b = _ident(a, "calibration id"), _ident(b, "calibration id")
        return diff_documents(self.calibration(a).document, self.calibration(b).document)

    # ---- history and trends ---------------------------------------------------------------------

    def _frame(
        self,
        query: Callable[[Connection], sa.CursorResult],
        times: Sequence[str] = (),
        bools: Sequence[str] = (),
        ints: Sequence[str] = (),
    ) -> pd.DataFrame:
        """A query's rows as a DataFrame: `times` as UTC timestamps, `bools` as bool, `ints` as
        nullable integers."""
        import pandas as pd

        def read(conn: Connection) -> tuple[list, Sequence]:
            res = query(conn)
            return list(res.keys()), res.all()

        cols, rows = self._read(read)
        df = pd.DataFrame([tuple(r) for r in rows], columns=cols)
        for col in times:
            df[col] = pd.to_datetime(df[col], utc=True)
        for col in bools:
            df[col] = df[col].astype(bool)
        for col in ints:
            df[col] = pd.array(df[col], dtype="Int64")
        return df

    def run(self, run_id: int) -> Run:
        """One run attempt by id."""
        run_id = _ident(run_id, "run id")
        q = select(runs, boards.c.name.label("board")).join(boards).where(runs.c.id == run_id)
        row = self._read(lambda c: c.execute(q).first())
        if row is None:
            raise StoreError(f"run {run_id} is not in store {self.url}")
        return Run(
            id=row.id,
            board=row.board,
            night=row.night,
            attempt=row.attempt,
            status=row.status,
            verdict=row.verdict,
            started_at=_utc(row.started_at),
            heartbeat_at=_utc(row.heartbeat_at),
            finished_at=_utc(row.finished_at),
            host=row.host,
            pid=row.pid,
            software_version=row.software_version,
            provenance=json.loads(row.provenance),
            error=row.error,
        )

    def stages(self, run_id: int) -> pd.DataFrame:
        """A run's stages in the order they started: name, status, started_at, finished_at,
        duration_s, error, detail (dict)."""
        run_id = _ident(run_id, "run id")
        t = stages
        q = select(
            t.c.name, t.c.status, t.c.started_at, t.c.finished_at, t.c.duration_s, t.c.error,
            t.c.detail,
        ).where(t.c.run_id == run_id).order_by(t.c.started_at, t.c.id)  # fmt: skip
        df = self._frame(lambda c: c.execute(q), times=("started_at", "finished_at"))
        df["detail"] = [json.loads(d) if isinstance(d, str) and d else {} for d in df["detail"]]
        return df

    def history(self, board: str) -> pd.DataFrame:
        """Every run attempt of a board, by night (what `hil history` shows): run_id, night,
        attempt, status, verdict, started_at, finished_at, duration_s, failed_stages (names),
        n_alerts, calibration_id (made by the run), error."""
        n_alerts = (
            select(alerts_table.c.run_id, func.count().label("n"))
            .group_by(alerts_table.c.run_id)
            .subquery()
        )
        failed = select(stages.c.run_id, stages.c.name).where(stages.c.status == "failed")
        cal = select(calibrations.c.run_id, func.max(calibrations.c.id).label("cid")).group_by(
            calibrations.c.run_id
        )
        q = (
            select(
                runs.c.id.label("run_id"),
                runs.c.night,
                runs.c.attempt,
                runs.c.status,
                runs.c.verdict,
                runs.c.started_at,
                runs.c.finished_at,
                func.coalesce(n_alerts.c.n, 0).label("n_alerts"),
                runs.c.error,
            )
            .outerjoin(n_alerts, n_alerts.c.run_id == runs.c.id)
            .order_by(runs.c.night, runs.c.attempt)
        )

        def read(conn: Connection) -> tuple:
            bid = self._board_id(conn, board)
            res = conn.execute(q.where(runs.c.board_id == bid))
            cols, rows = list(res.keys()), res.all()
            ids = select(runs.c.id).where(runs.c.board_id == bid)
            fails = conn.execute(failed.where(stages.c.run_id.in_(ids))).all()
            cals = dict(conn.execute(cal.where(calibrations.c.run_id.in_(ids))).all())
            return cols, rows, fails, cals

        import pandas as pd

        cols, rows, fails, cals = self._read(read)
        df = pd.DataFrame([tuple(r) for r in rows], columns=cols)
        for col in ("started_at", "finished_at"):
            df[col] = pd.to_datetime(df[col], utc=True)
        df["duration_s"] = (df["finished_at"] - df["started_at"]).dt.total_seconds()
        by_run: dict[int, list[str]] = {}
        for rid, name in fails:
            by_run.setdefault(rid, []).append(name)
        df["failed_stages"] = [", ".join(sorted(by_run.get(r, []))) for r in df["run_id"]]
        df["calibration_id"] = pd.array([cals.get(r) for r in df["run_id"]], dtype="Int64")
        order = ["run_id", "night", "attempt", "status", "verdict", "started_at", "finished_at"]
        order += ["duration_s", "failed_stages", "n_alerts", "calibration_id", "error"]
        return df[order]

    def trend(self, board: str, neuron: int, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """One neuron's statistics over the board's complete nights, oldest first: night, run_id,
        metric, value (long format; `metrics` limits the metrics)."""
        neuron = _ident(neuron, "neuron")
        q = (
            select(runs.c.night, runs.c.id.label("run_id"), metrics_table.c.name.label("metric"),
                   neuron_stats.c.value)
            .select_from(runs)
            .join(neuron_stats, neuron_stats.c.run_id == runs.c.id)
            .join(metrics_table, metrics_table.c.id == neuron_stats.c.metric_id)
            .where(runs.c.status == "complete", neuron_stats.c.neuron == neuron)
            .order_by(runs.c.night, metrics_table.c.name)
        )  # fmt: skip
        if metrics is not None:
            q = q.where(metrics_table.c.name.in_(list(metrics)))
        return self._frame(
            lambda c: c.execute(q.where(runs.c.board_id == self._board_id(c, board)))
        )

    def metrics(self) -> list[str]:
        """The names of every per-neuron metric stored so far."""
        return self._read(
            lambda c: list(
                c.execute(select(metrics_table.c.name).order_by(metrics_table.c.name)).scalars()
            )
        )

    def stat_history(
        self,
        board: str,
        metric: str,
        last: int | None = None,
        neurons: np.ndarray | None = None,
    ) -> StatHistory:
        """One metric of a board's neurons over its complete nights (the `last` ones when given),
        as a (nights x neurons) matrix: what a drift test reads. The columns are `neurons` when
        given (NaN where a night has no value), else every neuron with a value on some night."""

        def read(conn: Connection) -> tuple:
            bid = self._board_id(conn, board)
            mid = conn.execute(
                select(metrics_table.c.id).where(metrics_table.c.name == metric)
            ).scalar()
            if mid is None:
                known = conn.execute(
                    select(metrics_table.c.name).order_by(metrics_table.c.name)
                ).scalars()
                raise StoreError(f"metric {metric!r} is not stored; known: {', '.join(known)}")
            q = select(runs.c.id, runs.c.night).where(
                runs.c.board_id == bid, runs.c.status == "complete"
            )
            nights = conn.execute(q.order_by(runs.c.night.desc()).limit(last)).all()[::-1]
            ids = [r.id for r in nights]
            vals = conn.execute(
                select(neuron_stats.c.run_id, neuron_stats.c.neuron, neuron_stats.c.value).where(
                    neuron_stats.c.run_id.in_(ids), neuron_stats.c.metric_id == mid
                )
            )
            return nights, [tuple(r) for r in vals]  # plain tuples: numpy reads them fast

        nights, vals = self._read(read)
        run_ids = np.array([r.id for r in nights], dtype=np.int64)
        arr = np.array(vals, dtype=np.float64).reshape(-1, 3)
        have = arr[:, 1].astype(np.int64)
        cols = np.unique(have) if neurons is None else np.unique(np.asarray(neurons, np.int64))
        values = np.full((len(run_ids), len(cols)), np.nan)
        row = {rid: i for i, rid in enumerate(run_ids.tolist())}
        ri = np.array([row[int(r)] for r in arr[:, 0]], dtype=np.int64)
        ci = np.searchsorted(cols, have).clip(0, max(len(cols) - 1, 0))
        keep = (ci < len(cols)) & (cols[ci] == have) if len(cols) else np.zeros(len(have), bool)
        values[ri[keep], ci[keep]] = arr[keep, 2]
        return StatHistory(metric, tuple(r.night for r in nights), run_ids, cols, values)

    def alerts(self, board: str, run_id: int | None = None) -> pd.DataFrame:
        """A board's alerts (of one run when given), by night: run_id, night, kind, metric,
        neuron, core, value, threshold, message."""
        run_id = None if run_id is None else _ident(run_id, "run id")
        a = alerts_table
        q = (
            select(a.c.run_id, runs.c.night, a.c.kind, a.c.metric, a.c.neuron, a.c.core,
                   a.c.value, a.c.threshold, a.c.message)
            .join(runs, runs.c.id == a.c.run_id)
            .order_by(runs.c.night, a.c.id)
        )  # fmt: skip
        if run_id is not None:
            q = q.where(a.c.run_id == run_id)
        return self._frame(
            lambda c: c.execute(q.where(runs.c.board_id == self._board_id(c, board)))
        )

    def size_bytes(self) -> int:
        """The database's size on disk (SQLite: the file with its WAL; PostgreSQL: the database),
        without the objects folder."""
        if self.backend == "sqlite":
            db = self.location.database_file()
            return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())
        size = "SELECT pg_database_size(current_database())"
        return int(self._read(lambda c: c.exec_driver_sql(size).scalar_one()))

    # ---- consistency ----------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Every inconsistency found (empty: the store is consistent): the database's own check
        (SQLite), more than one active calibration or live run per board and night, complete runs
        with a running stage, per-neuron statistics of a missing or unfinished run or of an
        unknown metric, and artifact files missing or not matching their hash."""

        def read(conn: Connection) -> tuple[list[str], Sequence]:
            out = []
            if self.backend == "sqlite":
                ok = conn.exec_driver_sql("PRAGMA integrity_check").scalars().all()
                if ok != ["ok"]:
                    out += [f"sqlite integrity: {m}" for m in ok]
                out += [
                    f"foreign key: {r}" for r in conn.exec_driver_sql("PRAGMA foreign_key_check")
                ]
            c = calibrations
            q = select(c.c.board_id).where(c.c.active).group_by(c.c.board_id)
            for (bid,) in conn.execute(q.having(func.count() > 1)):
                out.append(f"board id {bid} has more than one active calibration")
            live = runs.c.status.in_(LIVE_RUN_STATUSES)
            q = select(runs.c.board_id, runs.c.night).where(live)
            for bid, night in conn.execute(
                q.group_by(runs.c.board_id, runs.c.night).having(func.count() > 1)
            ):
                out.append(f"board id {bid} night {night} has more than one live run")
            q = (
                select(stages.c.run_id, stages.c.name)
                .join(runs, runs.c.id == stages.c.run_id)
                .where(runs.c.status == "complete", stages.c.status == "running")
            )
            for rid, name in conn.execute(q):
                out.append(f"run {rid} is complete but its stage {name} is still running")
            ns = neuron_stats
            for col, ref, what in ((ns.c.run_id, runs.c.id, "run"),
                                   (ns.c.metric_id, metrics_table.c.id, "metric")):  # fmt: skip
                q = select(func.count()).where(col.not_in(select(ref)))
                if n := conn.execute(q).scalar():
                    out.append(f"{n} per-neuron statistics name a {what} that does not exist")
            q = select(func.count()).select_from(ns.join(runs, runs.c.id == ns.c.run_id))
            if n := conn.execute(q.where(runs.c.status != "complete")).scalar():
                out.append(f"{n} per-neuron statistics belong to runs that are not complete")
            files = conn.execute(select(artifacts.c.sha256, artifacts.c.size_bytes)).all()
            return out, files

        problems, files = self._read(read)
        for sha, size in files:
            p = self.objects.problem(sha, size)
            if p:
                problems.append(p)
        return problems


def _stat_columns(
    stats: Mapping[str, np.ndarray], neurons: np.ndarray | None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Validate statistics and their neuron indices; returns (neurons, {metric: float64 values})."""
    columns: dict[str, np.ndarray] = {}
    n = None
    for name, values in stats.items():
        _check_text(name, "metric name", METRIC_NAME)
        v = np.asarray(values)
        if v.ndim != 1 or v.dtype.kind not in "biuf":
            raise ConfigError(f"stats[{name!r}]", f"{v.dtype} {v.shape}", "numbers, shape (n,)")
        if n is not None and len(v) != n:
            raise ConfigError(f"stats[{name!r}]", len(v), f"{n} values like the other metrics")
        n = len(v)
        columns[name] = v.astype(np.float64)
    if neurons is None:
        idx = np.arange(n or 0, dtype=np.int64)
    else:
        idx = np.asarray(neurons)
        if idx.ndim != 1 or idx.dtype.kind not in "iu" or len(idx) != (n or 0):
            raise ConfigError("neurons", f"{idx.dtype} {idx.shape}", f"{n} integer indices")
        if len(idx) and (idx.min() < 0 or len(np.unique(idx)) != len(idx)):
            raise ConfigError("neurons", "negative or repeated", "distinct indices >= 0")
        idx = idx.astype(np.int64)
    return idx, columns


def _alert_row(a: Alert, i: int) -> dict:
    if not isinstance(a, Alert):
        raise ConfigError(f"alerts[{i}]", type(a).__name__, "hil.store.Alert")
    _check_text(a.kind, f"alerts[{i}].kind", METRIC_NAME)
    _check_message(a.message, f"alerts[{i}].message")
    for field in ("value", "threshold"):
        v = getattr(a, field)
        if v is not None and not math.isfinite(float(v)):
            raise ConfigError(f"alerts[{i}].{field}", v, "a finite number or None")
    return {
        "kind": a.kind,
        "message": a.message,
        "metric": a.metric,
        "neuron": None if a.neuron is None else int(a.neuron),
        "core": None if a.core is None else int(a.core),
        "value": None if a.value is None else float(a.value),
        "threshold": None if a.threshold is None else float(a.threshold),
    }
