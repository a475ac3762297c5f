"""hil.store: the results store of nightly runs (SQLite by default, PostgreSQL for farms).

Boards, runs (one per board per night), stages, content-addressed artifacts, per-neuron statistics
for trends, calibrations (exactly one active per board) and alerts, in a schema versioned with
Alembic migrations. See hil/store/store.py for the API and its crash-safety guarantees, and
docs/nightly.md for the schema, URLs and measured numbers.
"""

from hil.store.diff import Change, diff_documents
from hil.store.engine import DEFAULT_URL, parse_url
from hil.store.store import Alert, Calibration, Run, StatHistory, Store, open_store

__all__ = [
    "DEFAULT_URL",
    "Alert",
    "Calibration",
    "Change",
    "Run",
    "StatHistory",
    "Store",
    "diff_documents",
    "open_store",
    "parse_url",
]
