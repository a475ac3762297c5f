"""Crash safety and concurrency of `hil nightly` in real processes: SIGKILL mid-run, two nightly
processes on one SQLite store at once, the same night started twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from hil.store import open_store

ROOT = Path(__file__).resolve().parent.parent


def nightly(store: str, out: Path, board: str, night: str) -> subprocess.Popen:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HIL_PROGRESS": "0",
           "HOME": os.environ.get("HOME", "/tmp")}  # fmt: skip
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hil",
            "nightly",
            "--board",
            board,
            "--store",
            store,
            "--night",
            night,
            "--out",
            str(out),
            "--skip",
            "conformance",
            "--skip",
            "validate",
            # the slow learning stages: the kill lands in `measure`, the store is what is tested
            "--skip",
            "characterize",
            "--skip",
            "fit",
            "--skip",
            "calibrate",
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def wait_for_stage(url: str, board: str, night: str, stage: str, timeout: float = 120) -> int:
    """The run id of `board`'s `night` while `stage` runs (polling one open store)."""
    end = time.monotonic() + timeout
    with open_store(url) as store:
        while time.monotonic() < end:
            if board in store.boards():
                h = store.history(board)
                h = h[h["night"].astype(str) == night]
                if len(h):
                    rid = int(h["run_id"].iloc[-1])
                    st = store.stages(rid)
                    if len(st[(st["name"] == stage) & (st["status"] == "running")]):
                        return rid
                    if stage in set(st["name"]):
                        raise AssertionError(f"stage {stage} ended before the poll saw it run")
            time.sleep(0.01)
    raise AssertionError(f"stage {stage} of {board} {night} never started")


def test_sigkill_mid_run_keeps_the_store_consistent_and_a_rerun_completes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hil.db'}"
    board, bid = "emu://?seed=31", "emu-seed-31"
    p = nightly(url, tmp_path / "runs", board, "2026-11-01")
    assert p.wait(timeout=300) == 0, p.stderr.read() if p.stderr else ""
    with open_store(url) as store:
        good = store.add_calibration(
            bid, {"cores": [{"chip": 0, "core": 0, "v": 1}]}, activate=True
        )
    p = nightly(url, tmp_path / "runs", board, "2026-11-02")
    rid = wait_for_stage(url, bid, "2026-11-02", "measure")
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=60)
    assert p.returncode == -signal.SIGKILL
    with open_store(url) as store:
        assert store.check() == []
        assert store.run(rid).status == "running"  # not complete: its transaction never ran
        h = store.stat_history(bid, "rate_1na_hz")
        assert [n.isoformat() for n in h.nights] == ["2026-11-01"]  # none of its statistics
        assert store.active_calibration(bid).id == good
        assert len(store.alerts(bid)) == 0
    p = nightly(url, tmp_path / "runs", board, "2026-11-02")
    assert p.wait(timeout=300) == 0, p.stderr.read() if p.stderr else ""
    with open_store(url) as store:
        h = store.history(bid)
        night2 = h[h["night"].astype(str) == "2026-11-02"].sort_values("attempt")
        assert list(night2["status"]) == ["abandoned", "complete"]
        assert store.check() == []
        # the killed attempt stored no calibration; the completed one activates its own, if any
        abandoned, complete = night2["calibration_id"]
        assert abandoned is pd.NA
        expected = good if complete is pd.NA else int(complete)
        assert store.active_calibration(bid).id == expected


@pytest.mark.slow
def test_two_nightly_processes_on_one_sqlite_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hil.db'}"
    procs = [nightly(url, tmp_path / "runs", f"emu://?seed={s}", "2026-11-01") for s in (41, 42)]
    procs.append(nightly(url, tmp_path / "runs", "emu://?seed=41", "2026-11-01"))  # the same night
    outs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    for out, err in outs:
        assert "database is locked" not in (out + err)
        assert "Traceback" not in err
    assert codes[1] == 0
    # board 41 night 1 twice: one completes; the other is told the night is being run or done
    assert sorted(codes[0:3:2]) in ([0, 0], [0, 1]), outs
    with open_store(url) as store:
        assert store.check() == []
        for bid in ("emu-seed-41", "emu-seed-42"):
            assert list(store.history(bid)["status"]).count("complete") == 1


@pytest.mark.parametrize("board", ["nope://x"])
def test_bad_input_is_exit_2_with_one_line(tmp_path: Path, board: str) -> None:
    p = nightly(f"sqlite:///{tmp_path / 'hil.db'}", tmp_path / "runs", board, "2026-11-01")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2, (out, err)
    assert err.count("\n") == 1 and "nope" in err
