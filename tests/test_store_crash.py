"""Crash safety and concurrency of the store, with real processes (tests/store_writer.py):

- SIGKILL of a writer in the middle of a run, inside a stage or inside the transaction that
  completes the run: no partial run is marked complete, nothing of it is visible, the previous
  calibration stays active, the store checks clean, and a rerun of the night completes.
- Two writers on one store at once (SQLite, also with SQLite's own busy wait switched off so that
  the store's retry does all the work; PostgreSQL): no corruption, nothing lost, no "database is
  locked" reaching the user.
- A lock held longer than the retry budget: StoreBusyError, a clear HilError.
"""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from store_writer import calibration, stats, write_night

from hil.errors import StoreBusyError
from hil.store import open_store, parse_url

pytest_plugins = ["store_fixtures"]  # new_store_url

WRITER = Path(__file__).parent / "store_writer.py"
N = 1024


def writer(url: str, board: str, first: str, n: int, mode: str, busy: float = 5.0):
    return subprocess.Popen(
        [sys.executable, str(WRITER), url, board, first, str(n), mode, str(busy)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return err


def wait_for(proc: subprocess.Popen, marker: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if line.strip() == marker:
                return
            if line == "" and proc.poll() is not None:
                break
    proc.kill()
    raise AssertionError(f"writer never reached {marker}: {proc.stderr.read()}")


def rows(url: str, sql: str, **params: object) -> list:
    """The database's own answer, through a plain engine (not the store's code)."""
    eng = sa.create_engine(parse_url(url).url)
    with eng.connect() as c:
        out = c.execute(sa.text(sql), params).all()
    eng.dispose()
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("mode", ["kill-tx", "kill-stage"])
def test_sigkill_mid_run_leaves_the_store_consistent(backend, mode, new_store_url):
    url = new_store_url(backend)
    n1, n2 = date(2026, 9, 1), date(2026, 9, 2)
    store = open_store(url)
    write_night(store, "crash", n1)

    proc = writer(url, "crash", n2.isoformat(), 1, mode)
    wait_for(proc, "IN-TX" if mode == "kill-tx" else "IN-STAGE")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    hist = store.history("crash")
    assert [(r.night, r.attempt, r.status) for r in hist.itertuples()] == [
        (n1, 1, "complete"),
        (n2, 1, "running"),  # never complete: the kill came before the completing commit
    ]
    killed = int(hist.run_id.iloc[1])
    for table in ("neuron_stats", "alerts", "calibrations"):
        assert rows(url, f"SELECT count(*) FROM {table} WHERE run_id = :r", r=killed) == [(0,)]
    active = store.active_calibration("crash")
    assert active.document == calibration("crash", n1)  # the previous calibration, still active
    assert list(store.trend("crash", 5)["night"].unique()) == [n1]
    assert store.check() == []

    err = finish(writer(url, "crash", n2.isoformat(), 1, "nights"))  # the rerun completes
    assert "locked" not in err
    hist = store.history("crash")
    assert [(r.night, r.attempt, r.status) for r in hist.itertuples()] == [
        (n1, 1, "complete"),
        (n2, 1, "abandoned"),
        (n2, 2, "complete"),
    ]
    assert f"process {store.run(killed).pid}" in hist.error.iloc[1]
    assert store.active_calibration("crash").document == calibration("crash", n2)
    h = store.stat_history("crash", "rate_hz")
    np.testing.assert_array_equal(h.values, [stats("crash", n)["rate_hz"] for n in (n1, n2)])
    assert store.check() == []
    store.close()


@pytest.mark.parametrize(
    "backend, busy_timeout_s",
    [("sqlite", 5.0), ("sqlite", 0.0), ("postgresql", 5.0)],
    ids=["sqlite", "sqlite-no-busy-wait", "postgresql"],
)
def test_two_writers_at_once(backend, busy_timeout_s, new_store_url):
    """Two processes open one new store (both migrate it) and write 6 nights each, plus the
    active calibration of one board they share."""
    url = new_store_url(backend)
    nights = 6
    procs = [writer(url, b, "2026-10-01", nights, "nights", busy_timeout_s) for b in ("w1", "w2")]
    errs = [finish(p) for p in procs]
    for err in errs:
        assert "locked" not in err.lower() and "Traceback" not in err

    store = open_store(url)
    for board in ("w1", "w2"):
        hist = store.history(board)
        assert list(hist.status) == ["complete"] * nights and list(hist.attempt) == [1] * nights
        n = rows(
            url,
            "SELECT count(*) FROM neuron_stats s JOIN runs r ON r.id = s.run_id "
            "JOIN boards b ON b.id = r.board_id WHERE b.name = :b",
            b=board,
        )
        assert n == [(nights * N * 2,)]
        assert len(store.alerts(board)) == 2 * nights
        assert store.active_calibration(board).document == calibration(board, date(2026, 10, 6))
        last = store.stat_history(board, "tau_mem_s", last=1).values[0]
        np.testing.assert_array_equal(last, stats(board, date(2026, 10, 6))["tau_mem_s"])
    assert len(store.activations("farm")) == 2 * nights
    assert rows(url, "SELECT count(*) FROM calibrations c JOIN boards b ON b.id = c.board_id "
                "WHERE b.name = 'farm' AND c.active") == [(1,)]  # fmt: skip
    assert len(store.artifacts(store.history("w1").run_id.iloc[0])) == 2
    assert rows(url, "SELECT count(*) FROM artifacts") == [(1 + 2 * nights,)]  # shared.bin once
    assert store.check() == []
    store.close()


def test_a_lock_held_past_the_retry_budget_is_a_clear_error(tmp_path):
    path = tmp_path / "hil.db"
    store = open_store(f"sqlite:///{path}", retry_s=0.5, busy_timeout_s=0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer that does not let go
    t0 = time.monotonic()
    with pytest.raises(
        StoreBusyError, match=r"stayed locked by other writers for 0.5 s \(\d+ tries"
    ):
        store.start_run("b", "2026-01-01")
    assert 0.5 <= time.monotonic() - t0 < 10.0  # it tried for the budget, and no longer
    assert store.boards() == []  # reads are not blocked by a writer (WAL)
    holder.execute("ROLLBACK")
    holder.close()
    store.start_run("b", "2026-01-01")
    store.close()
