"""A nightly-like writer process for the store's crash and concurrency tests (run as a script).

    python tests/store_writer.py URL BOARD FIRST_NIGHT N_NIGHTS MODE [BUSY_TIMEOUT_S]

Per night: start the run, three stages, two artifacts (one with bytes every writer shares), then
complete it with per-neuron statistics, two alerts and a calibration made active; then make a
calibration of the shared board `farm` active, so that writers contend on one board too.

MODE:
  nights     write N_NIGHTS nights and exit 0
  kill-tx    on the last night, print IN-TX once the statistics are written inside complete_run's
             transaction (before its commit), then sleep until killed
  kill-stage on the last night, print IN-STAGE inside the second stage, then sleep until killed
"""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta

import numpy as np

from hil.store import Alert, open_store
from hil.store.store import Store

N = 1024


def stats(board: str, night: date) -> dict[str, np.ndarray]:
    """Deterministic statistics of a board's night (the tests recompute them)."""
    rng = np.random.default_rng([sum(board.encode()), night.toordinal()])
    return {"rate_hz": rng.gamma(4.0, 5.0, N), "tau_mem_s": rng.uniform(5e-3, 3e-2, N)}


def calibration(board: str, night: date) -> dict:
    return {"board": board, "night": night.isoformat(), "leak": [night.day, 40]}


def hang(marker: str) -> None:
    print(marker, flush=True)
    time.sleep(600)


_insert_stats = Store._insert_stats


def insert_then_hang(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
    """Store._insert_stats, then hang: the process is inside complete_run's transaction."""
    _insert_stats(self, *a, **k)
    hang("IN-TX")


def write_night(store: Store, board: str, night: date, hang_in: str | None = None) -> None:
    """One night of `board` as the module docstring says; `hang_in` (kill-tx, kill-stage) hangs
    at that point instead of finishing."""
    run = store.start_run(board, night, provenance={"writer": board})
    for i, name in enumerate(("probe", "characterize", "fit")):
        with store.stage(run, name) as detail:
            detail["night"] = night.isoformat()
            if hang_in == "kill-stage" and i == 1:
                hang("IN-STAGE")
    store.attach(run, "shared.bin", b"identical bytes in every writer")
    store.attach(run, "recording.parquet", f"{board} {night}".encode() * 100)
    if hang_in == "kill-tx":
        Store._insert_stats = insert_then_hang
    store.complete_run(
        run,
        stats=stats(board, night),
        calibration=calibration(board, night),
        activate=True,
        verdict="pass",
        alerts=[Alert("drift", f"{board} {night} a"), Alert("hot", f"{board} {night} b")],
    )
    cal = store.add_calibration("farm", {"by": board, "night": night.isoformat()})
    store.use_calibration(cal, reason=f"{board} {night}")


def main() -> int:
    url, board, first, n, mode = sys.argv[1:6]
    busy = float(sys.argv[6]) if len(sys.argv) > 6 else 5.0
    store = open_store(url, busy_timeout_s=busy)
    for k in range(int(n)):
        last = k == int(n) - 1
        write_night(store, board, date.fromisoformat(first) + timedelta(days=k),
                    mode if last and mode != "nights" else None)  # fmt: skip
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
