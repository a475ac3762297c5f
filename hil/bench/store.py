"""`hil bench store`: how fast the results store loads a trend from a year of history, on SQLite and
on PostgreSQL.

Workload: a synthetic year, `--nights` (365) nights x `--boards` (4) boards x `--neurons` (1024)
neurons x `--metrics` (6) per-neuron statistics, written through the store's own API exactly as a
nightly run writes it (start_run, then complete_run with the night's statistics: one transaction
per run, statistics bulk-inserted by executemany on SQLite and COPY on PostgreSQL). The values are
seeded: a per-neuron baseline, a slow drift over the year and night-to-night noise.

Measured, per backend:
- build: wall time of the year and rows/s;
- trend: `Store.trend(board, neuron)` (all metrics of one neuron of one board over the year), first
  on a freshly opened store (its connection set-up included; Python's one-time import of pandas
  is not), then the median and maximum over `--queries` random (board, neuron) pairs; every
  result is checked against the values written;
- the drift read `stat_history(board, metric, last=30)` and the table `history(board)` (medians);
- the database size.
Target (issue 12): a one-board, one-neuron trend in < 1 s on both backends.

PostgreSQL: `--postgres URL` names an empty database to use; without it a throwaway server is
started with initdb/pg_ctl (hil.store.pgserver, durable settings). When neither is possible the
result says why, under `postgresql.skipped`.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from hil import argtypes as at

METRICS = ("rate_hz", "cv_isi", "tau_mem_s", "tau_syn_s", "i_thr_a", "refractory_s")
# Typical magnitude of each metric (its unit is in its name); the synthetic values scatter around it.
SCALE = {"rate_hz": 20.0, "cv_isi": 0.8, "tau_mem_s": 0.02, "tau_syn_s": 0.005, "i_thr_a": 2e-9,
         "refractory_s": 0.002}  # fmt: skip
FIRST_NIGHT = date(2025, 1, 1)
TARGET_S = 1.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--nights", type=at.integer(1, 3650), default=365, help="nights of history (default 365)"
    )
    p.add_argument("--boards", type=at.integer(1, 64), default=4, help="boards (default 4)")
    p.add_argument(
        "--neurons",
        type=at.integer(1, 16384),
        default=1024,
        help="neurons per board (default 1024)",
    )
    p.add_argument(
        "--metrics",
        type=at.integer(1, len(METRICS)),
        default=len(METRICS),
        help=f"statistics per neuron (1..{len(METRICS)})",
    )
    p.add_argument(
        "--queries", type=at.integer(1, 10_000), default=20, help="trend queries timed (default 20)"
    )
    p.add_argument("--backends", default="sqlite,postgresql", help="comma-separated (default both)")
    p.add_argument(
        "--postgres",
        metavar="URL",
        help="an empty PostgreSQL database to use (default: a throwaway server via initdb)",
    )
    p.add_argument(
        "--seed", type=at.seed, default=0, help="seed of the synthetic history (default 0)"
    )
    p.epilog = (
        "examples:\n  hil bench store --json\n  hil bench store --nights 30 --backends sqlite"
    )
    p.formatter_class = argparse.RawDescriptionHelpFormatter


def synthetic(board: int, night: int, n: int, metrics: tuple[str, ...], seed: int) -> dict:
    """The statistics of one board's night: baseline x (1 + slow drift) x (1 + 2 % noise)."""
    base = np.random.default_rng([seed, board])
    rng = np.random.default_rng([seed, board, night])
    out = {}
    for m in metrics:
        level = SCALE[m] * base.lognormal(0.0, 0.3, n)
        drift = base.normal(0.0, 0.05, n) * night / 365
        out[m] = level * (1 + drift) * (1 + 0.02 * rng.standard_normal(n))
    return out


def _median(xs: list[float]) -> float:
    return round(statistics.median(xs), 5)


def _bench(url: str, args: argparse.Namespace) -> dict:
    from hil.errors import ConfigError
    from hil.store import open_store

    metrics = METRICS[: args.metrics]
    boards = [f"bench-{b}" for b in range(args.boards)]
    nights = [FIRST_NIGHT + timedelta(days=k) for k in range(args.nights)]
    store = open_store(url)
    if store.boards():
        store.close()
        raise ConfigError("--postgres", url, "an empty database (the benchmark writes a year)")
    t0 = time.perf_counter()
    for k, night in enumerate(nights):
        for b, board in enumerate(boards):
            run = store.start_run(board, night, provenance={"synthetic": True, "seed": args.seed})
            store.complete_run(run, stats=synthetic(b, k, args.neurons, metrics, args.seed))
    build_s = time.perf_counter() - t0
    store.close()
    rows = args.nights * args.boards * args.neurons * len(metrics)

    import pandas  # noqa: F401 - imported before the clock starts: a trend's time is the store's

    store = open_store(url)  # a fresh engine: the first query opens its connection
    rng = random.Random(args.seed)
    pairs = [(rng.randrange(args.boards), rng.randrange(args.neurons)) for _ in range(args.queries)]
    times = []
    for b, neuron in pairs:
        t = time.perf_counter()
        trend = store.trend(boards[b], neuron)
        times.append(time.perf_counter() - t)
        want = [
            synthetic(b, k, args.neurons, metrics, args.seed)[m][neuron]
            for k in range(args.nights)
            for m in sorted(metrics)
        ]
        assert len(trend) == len(want) and np.array_equal(trend["value"].to_numpy(), want), (
            f"trend of board {b} neuron {neuron} does not return the values written"
        )
    drift, hist = [], []
    for b in range(min(args.boards, 5)):
        t = time.perf_counter()
        h = store.stat_history(boards[b], metrics[0], last=30)
        drift.append(time.perf_counter() - t)
        assert h.values.shape == (min(30, args.nights), args.neurons)
        t = time.perf_counter()
        store.history(boards[b])
        hist.append(time.perf_counter() - t)
    size = store.size_bytes()
    store.close()
    return {
        "build_s": round(build_s, 2),
        "build_rows_per_s": round(rows / build_s),
        "trend_first_s": round(times[0], 5),
        "trend_median_s": _median(times),
        "trend_max_s": round(max(times), 5),
        "trend_rows": len(metrics) * args.nights,
        "stat_history_30_nights_median_s": _median(drift),
        "history_table_median_s": _median(hist),
        "database_mb": round(size / 2**20, 1),
        "target_met": max(times) < TARGET_S,
    }


def run(args: argparse.Namespace) -> dict:
    from hil.errors import ConfigError
    from hil.store.pgserver import PostgresServer, find_bindir

    if not 1 <= args.metrics <= len(METRICS):
        raise ConfigError("--metrics", args.metrics, f"1..{len(METRICS)}")
    for name in ("nights", "boards", "neurons", "queries"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name}", getattr(args, name), "a positive integer")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends or set(backends) - {"sqlite", "postgresql"}:
        raise ConfigError("--backends", args.backends, "sqlite and/or postgresql, comma-separated")
    out: dict = {
        "nights": args.nights,
        "boards": args.boards,
        "neurons": args.neurons,
        "metrics": list(METRICS[: args.metrics]),
        "rows": args.nights * args.boards * args.neurons * args.metrics,
        "target_trend_s": TARGET_S,
        "cpu_count": os.cpu_count(),
    }
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hil-bench-store-") as tmp:
        if "sqlite" in backends:
            out["sqlite"] = _bench(f"sqlite:///{Path(tmp) / 'hil.db'}", args)
        if "postgresql" in backends:
            objects = f"objects={Path(tmp) / 'pg-objects'}"
            if args.postgres:
                sep = "&" if "?" in args.postgres else "?"
                out["postgresql"] = _bench(args.postgres + sep + objects, args)
            elif find_bindir()[0] is None:
                out["postgresql"] = {"skipped": find_bindir()[1]}
            else:
                with PostgresServer(fast=False) as pg:
                    out["postgresql"] = _bench(f"{pg.create_database('bench')}?{objects}", args)
    out["bench_wall_s"] = round(time.perf_counter() - t0, 1)
    measured = [out[b] for b in backends if "target_met" in out[b]]
    out["target_met"] = bool(measured) and all(r["target_met"] for r in measured)
    return out
