"""Store URLs, the database engine, transactions with a bounded retry, and schema migrations.

URLs:
    sqlite:///reports/hil.db                     relative to the working folder
    sqlite:////abs/path/hil.db
    postgresql://user[:password]@host[:port]/db  (driver psycopg 3)
Both take an optional query `objects=DIR`, the folder of the content-addressed files. SQLite's
default is `<db stem>-objects/` beside the database file; PostgreSQL has no default (the folder
must be one that every writer can reach, e.g. on shared storage).

SQLite runs in WAL mode with foreign keys on, `synchronous=FULL` and a busy timeout; a write
transaction starts with BEGIN IMMEDIATE, so it takes the write lock before it reads and never has
to upgrade a read lock (the case SQLite answers with an immediate "database is locked").
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url

from hil.errors import ConfigError, StoreBusyError, StoreError

T = TypeVar("T")

DEFAULT_URL = "sqlite:///reports/hil.db"
URL_FORMS = "sqlite:///PATH/hil.db or postgresql://USER@HOST[:PORT]/DB (optional ?objects=DIR)"
MIGRATIONS = Path(__file__).parent / "migrations"
# Any lock on the PostgreSQL side that serializes concurrent migrations; the value is arbitrary
# but fixed (bigint), "hil.store" in ASCII.
PG_MIGRATION_LOCK = 0x68696C2E73746F


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL: the SQLAlchemy URL, the backend and the objects folder."""

    url: URL
    backend: str  # "sqlite" or "postgresql"
    objects: Path
    shown: str  # the URL as given, without its password: for messages

    def display(self) -> str:
        """The URL as given, without its password."""
        return self.shown

    def database_file(self) -> Path:
        """The SQLite database file (parse_url refuses a sqlite URL without one)."""
        if self.backend != "sqlite" or not self.url.database:
            raise ConfigError("store URL", self.shown, "a sqlite URL with a database file path")
        return Path(self.url.database)


def parse_url(text: str) -> StoreURL:
    """Parse a store URL (see the module doc); anything else is a ConfigError naming the forms."""
    try:
        url = make_url(text)
    except (sa.exc.ArgumentError, ValueError):
        raise ConfigError("store URL", text, URL_FORMS) from None
    shown = url.render_as_string(hide_password=True)
    query = dict(url.query)
    objects = query.pop("objects", None)
    if isinstance(objects, tuple):
        raise ConfigError("store URL objects", objects, "one folder")
    url = url.set(query=query)
    name = url.drivername
    if name in ("sqlite", "sqlite+pysqlite"):
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            raise ConfigError("store URL", text, f"a database file path: {URL_FORMS}")
        if query:
            raise ConfigError("store URL query", sorted(query), "only objects=DIR for sqlite")
        db = Path(url.database)
        url = url.set(drivername="sqlite+pysqlite", database=str(db))
        return StoreURL(url, "sqlite", Path(objects) if objects else _default_objects(db), shown)
    if name in ("postgresql", "postgres", "postgresql+psycopg"):
        if not objects:
            raise ConfigError(
                "store URL",
                shown,
                "a postgresql URL with ?objects=DIR: a folder for the content-addressed files "
                "that every writer can reach",
            )
        if not url.database:
            raise ConfigError("store URL database", text, f"a database name: {URL_FORMS}")
        pg = url.set(drivername="postgresql+psycopg")
        return StoreURL(pg, "postgresql", Path(objects), shown)
    raise ConfigError("store URL scheme", url.drivername, URL_FORMS)


def _default_objects(db: Path) -> Path:
    return db.with_name(f"{db.stem}-objects")


def create_engine(su: StoreURL, busy_timeout_s: float) -> Engine:
    """The engine for a store URL, with the per-connection settings of its backend."""
    if su.backend == "sqlite":
        folder = su.database_file().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"store {su.display()}: cannot make folder {folder}: {e}") from None
        engine = sa.create_engine(su.url, connect_args={"timeout": busy_timeout_s})
        ms = int(busy_timeout_s * 1000)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record) -> None:  # noqa: ANN001
            dbapi_conn.isolation_level = None  # transactions are ours (BEGIN below), not pysqlite's
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {ms}")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = FULL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("hil_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return sa.create_engine(
        su.url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": max(1, int(busy_timeout_s))},
    )


def is_busy(e: BaseException) -> bool:
    """True for the errors that another writer causes and that a retry can cure."""
    orig = getattr(e, "orig", e)
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (and their extended codes)
    if type(orig).__module__.startswith("sqlite3"):
        text = str(orig).lower()
        return "database is locked" in text or "database is busy" in text
    # psycopg: serialization_failure, deadlock_detected, lock_not_available
    return getattr(orig, "sqlstate", None) in ("40001", "40P01", "55P03")


def transact(
    engine: Engine,
    su: StoreURL,
    fn: Callable[[Connection], T],
    *,
    write: bool,
    retry_s: float,
) -> T:
    """Run `fn(conn)` in one transaction and return its result.

    The transaction either commits whole or not at all. When another writer holds the lock, the
    whole transaction is retried with exponential backoff (10 ms doubling to 1 s, jittered) until
    `retry_s` seconds have passed, then StoreBusyError. `fn` must therefore do nothing outside the
    database that a second run would not repeat harmlessly. Other database errors become
    StoreError with the driver's message.
    """
    deadline = time.monotonic() + retry_s
    delay, tries = 0.01, 0
    while True:
        tries += 1
        try:
            with engine.connect() as conn:
                if write and su.backend == "sqlite":
                    conn = conn.execution_options(hil_write=True)
                with conn.begin():
                    return fn(conn)
        except sa.exc.DBAPIError as e:
            if not is_busy(e):
                raise db_error(su, e) from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise StoreBusyError(
                    f"store {su.display()} stayed locked by other writers for {retry_s:g} s "
                    f"({tries} tries); try again when the other nightly run has finished, or "
                    f"raise the store's retry time"
                ) from None
            time.sleep(min(delay * random.uniform(0.5, 1.5), left))
            delay = min(delay * 2, 1.0)


class Conflict(StoreError):
    """A write broke a unique constraint: another writer got there first (start_run reads it)."""


def db_error(su: StoreURL, e: sa.exc.DBAPIError) -> StoreError:
    """A database error as a StoreError (Conflict for a broken constraint): the store and the
    driver's first line."""
    first = str(getattr(e, "orig", e)).strip().splitlines()
    cls = Conflict if isinstance(e, sa.exc.IntegrityError) else StoreError
    return cls(f"store {su.display()}: {first[0] if first else type(e).__name__}")


def alembic_config(conn: Connection | None = None):  # noqa: ANN201 - alembic.config.Config
    """Alembic configuration for the migrations shipped in this package (no alembic.ini)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    """The newest migration's revision id."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at (None: an empty database)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, su: StoreURL, retry_s: float) -> str:
    """Bring the schema to the newest migration (`alembic upgrade head`), once, even when several
    processes open a new store at the same moment. Returns the revision.

    Cheap when already at head (one read). Otherwise the upgrade runs in one write transaction
    that first takes the backend's lock (SQLite BEGIN IMMEDIATE; a PostgreSQL advisory lock), so a
    second process waits and then finds nothing to do. A database at a revision this hil does not
    know (written by a newer hil) is a StoreError.
    """
    from alembic import command
    from alembic.script import ScriptDirectory

    head = head_revision()
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}

    def check(rev: str | None) -> None:
        if rev is not None and rev not in known:
            raise StoreError(
                f"store {su.display()} has schema revision {rev}, which this hil does not know "
                f"(newest known: {head}); it was written by a newer hil: upgrade hil"
            )

    rev = transact(engine, su, current_revision, write=False, retry_s=retry_s)
    check(rev)
    if rev == head:
        return head

    def run(conn: Connection) -> str:
        if su.backend == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
        check(current_revision(conn))
        command.upgrade(alembic_config(conn), "head")
        return head

    return transact(engine, su, run, write=True, retry_s=retry_s)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped by its parent) is dead for our purposes.
    with suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True
