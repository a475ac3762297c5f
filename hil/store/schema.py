"""The store's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

This module describes the schema at the newest migration; the migrations in
hil/store/migrations/versions/ build it step by step, and a test checks that both agree.

    boards ─┬─ runs ─┬─ stages            one run per board per night (attempts after a crash)
            │        ├─ run_artifacts ── artifacts (sha256 -> file in the objects folder)
            │        ├─ neuron_stats ── metrics   (run, neuron, metric) -> value
            │        └─ alerts
            └─ calibrations ── calibration_activations   (exactly one active per board)

Invariants the database itself enforces (partial unique indexes, on both backends):
- at most one calibration per board has `active` true;
- per board and night, at most one run is `running` or `complete` (a crashed attempt is marked
  `abandoned` by the attempt that takes over, in the same transaction).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

RUN_STATUSES = ("running", "complete", "failed", "abandoned")
# A run counts for history, trends and drift only when complete; `running` and `complete` are the
# statuses of which at most one may exist per board and night.
LIVE_RUN_STATUSES = ("running", "complete")
VERDICTS = ("pass", "fail")
STAGE_STATUSES = ("running", "ok", "failed", "skipped")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


boards = Table(
    "boards",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),  # BoardInfo.board_id
    Column("created_at", DateTime(timezone=True), nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("board_id", Integer, ForeignKey("boards.id"), nullable=False),
    Column("night", Date, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("verdict", String(16)),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("software_version", String(64), nullable=False),
    Column("provenance", Text, nullable=False),  # JSON object: board url, firmware, silicon, seed
    Column("error", Text),  # the cause, when failed or abandoned
    CheckConstraint(_in("status", RUN_STATUSES), name="status"),
    CheckConstraint(f"verdict IS NULL OR {_in('verdict', VERDICTS)}", name="verdict"),
    UniqueConstraint("board_id", "night", "attempt"),
)
Index(
    "uq_runs_live_board_night",
    runs.c.board_id,
    runs.c.night,
    unique=True,
    sqlite_where=runs.c.status.in_(LIVE_RUN_STATUSES),
    postgresql_where=runs.c.status.in_(LIVE_RUN_STATUSES),
)

stages = Table(
    "stages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("duration_s", Double),
    Column("error", Text),  # the cause when failed: "ExceptionType: message"
    Column("detail", Text),  # JSON object the stage chose to record
    CheckConstraint(_in("status", STAGE_STATUSES), name="status"),
    UniqueConstraint("run_id", "name"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("sha256", String(64), primary_key=True),  # lowercase hex; the file's name on disk
    Column("size_bytes", BigInteger, nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(200), primary_key=True),  # e.g. "recordings/characterize.parquet"
    Column("sha256", String(64), ForeignKey("artifacts.sha256"), nullable=False),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),  # the name says the unit: rate_hz
)

# One row per (run, neuron, metric): long format, so that a new statistic needs no migration.
# The primary key (run_id, neuron, metric_id) is the trend index: one board's runs, then one seek
# per run for one neuron. SQLite stores the table clustered on that key (WITHOUT ROWID).
# No foreign keys here, on purpose: PostgreSQL checks each one with a trigger per row, which made
# the bulk load of a night (6144 values) three times slower. The store writes these rows only in
# complete_run's transaction, after locking the running run and reading the metric ids in that
# same transaction, so the references hold by construction; Store.check() looks for orphans.
neuron_stats = Table(
    "neuron_stats",
    metadata,
    Column("run_id", Integer, primary_key=True),  # runs.id
    Column("neuron", Integer, primary_key=True),  # board-wide index (hil.chip.geometry)
    Column("metric_id", SmallInteger, primary_key=True),  # metrics.id
    Column("value", Double, nullable=False),
    sqlite_with_rowid=False,
)

calibrations = Table(
    "calibrations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("board_id", Integer, ForeignKey("boards.id"), nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id")),  # the run that produced it, if any
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sha256", String(64), nullable=False),  # of the canonical JSON document
    Column("document", Text, nullable=False),  # the calibration itself (JSON)
    Column("active", Boolean, nullable=False),
    Column("note", Text, nullable=False),
)
Index(
    "uq_calibrations_one_active_per_board",
    calibrations.c.board_id,
    unique=True,
    sqlite_where=calibrations.c.active,
    postgresql_where=calibrations.c.active,
)

# Every change of the active calibration: when, to which, from which, and why (rollbacks).
calibration_activations = Table(
    "calibration_activations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("board_id", Integer, ForeignKey("boards.id"), nullable=False),
    Column("calibration_id", Integer, ForeignKey("calibrations.id"), nullable=False),
    Column("previous_id", Integer, ForeignKey("calibrations.id")),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),  # e.g. drift, dead, hot
    Column("metric", String(64)),
    Column("neuron", Integer),  # board-wide neuron index, when the alert is about one neuron
    Column("core", Integer),  # board-wide core index (chip * 4 + core), when about one core
    Column("value", Double),
    Column("threshold", Double),
    Column("message", Text, nullable=False),
)
Index("ix_alerts_run_id", alerts.c.run_id)
Index("ix_calibrations_board_id", calibrations.c.board_id)
Index("ix_calibration_activations_board_id", calibration_activations.c.board_id)
