"""Initial schema: boards, runs, stages, artifacts, per-neuron statistics, calibrations, alerts.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

A migration is frozen history: it spells out its tables rather than importing hil.store.schema,
which describes only the newest revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
LIVE = sa.text("status IN ('running', 'complete')")
ACTIVE = sa.text("active")


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_artifacts"),
    )
    op.create_table(
        "boards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_boards"),
        sa.UniqueConstraint("name", name="uq_boards_name"),
    )
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_metrics"),
        sa.UniqueConstraint("name", name="uq_metrics_name"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("night", sa.Date(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("heartbeat_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("software_version", sa.String(64), nullable=False),
        sa.Column("provenance", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'complete', 'failed', 'abandoned')", name="ck_runs_status"
        ),
        sa.CheckConstraint(
            "verdict IS NULL OR verdict IN ('pass', 'fail')", name="ck_runs_verdict"
        ),
        sa.ForeignKeyConstraint(["board_id"], ["boards.id"], name="fk_runs_board_id_boards"),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.UniqueConstraint("board_id", "night", "attempt", name="uq_runs_board_id_night_attempt"),
    )
    op.create_index(
        "uq_runs_live_board_night",
        "runs",
        ["board_id", "night"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("metric", sa.String(64), nullable=True),
        sa.Column("neuron", sa.Integer(), nullable=True),
        sa.Column("core", sa.Integer(), nullable=True),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_alerts_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_run_id", "alerts", ["run_id"])
    op.create_table(
        "calibrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["board_id"], ["boards.id"], name="fk_calibrations_board_id_boards"
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_calibrations_run_id_runs"),
        sa.PrimaryKeyConstraint("id", name="pk_calibrations"),
    )
    op.create_index("ix_calibrations_board_id", "calibrations", ["board_id"])
    op.create_index(
        "uq_calibrations_one_active_per_board",
        "calibrations",
        ["board_id"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.create_table(
        "neuron_stats",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("neuron", sa.Integer(), nullable=False),
        sa.Column("metric_id", sa.SmallInteger(), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "neuron", "metric_id", name="pk_neuron_stats"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "run_artifacts",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_run_artifacts_run_id_runs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["sha256"], ["artifacts.sha256"], name="fk_run_artifacts_sha256_artifacts"
        ),
        sa.PrimaryKeyConstraint("run_id", "name", name="pk_run_artifacts"),
    )
    op.create_table(
        "stages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("duration_s", sa.Double(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'ok', 'failed', 'skipped')", name="ck_stages_status"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_stages_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_stages"),
        sa.UniqueConstraint("run_id", "name", name="uq_stages_run_id_name"),
    )
    op.create_table(
        "calibration_activations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("calibration_id", sa.Integer(), nullable=False),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["board_id"], ["boards.id"], name="fk_calibration_activations_board_id_boards"
        ),
        sa.ForeignKeyConstraint(
            ["calibration_id"],
            ["calibrations.id"],
            name="fk_calibration_activations_calibration_id_calibrations",
        ),
        sa.ForeignKeyConstraint(
            ["previous_id"],
            ["calibrations.id"],
            name="fk_calibration_activations_previous_id_calibrations",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_calibration_activations"),
    )
    op.create_index("ix_calibration_activations_board_id", "calibration_activations", ["board_id"])


def downgrade() -> None:
    for table in (
        "calibration_activations",
        "stages",
        "run_artifacts",
        "neuron_stats",
        "calibrations",
        "alerts",
        "runs",
        "metrics",
        "boards",
        "artifacts",
    ):
        op.drop_table(table)
