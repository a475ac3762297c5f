"""`hil bench store` in small (the full year runs as `hil bench store --json`; docs/nightly.md)."""

from __future__ import annotations

import argparse

import pytest

from hil.bench import store as bench
from hil.errors import ConfigError

pytest_plugins = ["store_fixtures"]  # pg_server


def args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    bench.add_arguments(p)
    return p.parse_args(["--nights", "4", "--boards", "2", "--neurons", "64", "--metrics", "3",
                         "--queries", "3", *argv])  # fmt: skip


def test_bench_store_small_on_both_backends(pg_server, tmp_path):
    out = bench.run(args("--postgres", pg_server.create_database("bench_small")))
    assert out["rows"] == 4 * 2 * 64 * 3
    for backend in ("sqlite", "postgresql"):
        r = out[backend]
        assert r["trend_rows"] == 3 * 4  # 3 metrics x 4 nights, checked value by value inside
        assert 0 < r["trend_median_s"] <= r["trend_max_s"] and r["build_rows_per_s"] > 0
        assert r["target_met"] is True and r["database_mb"] > 0
    assert out["target_met"] is True


def test_bench_store_refuses_a_database_in_use(pg_server):
    url = pg_server.create_database("bench_used")
    bench.run(args("--backends", "postgresql", "--postgres", url))
    with pytest.raises(ConfigError, match="an empty database"):
        bench.run(args("--backends", "postgresql", "--postgres", url))


@pytest.mark.parametrize(
    "argv, match",
    [(("--metrics", "7"), "--metrics"), (("--nights", "0"), "--nights"),
     (("--backends", "mysql"), "--backends")],
)  # fmt: skip
def test_bench_store_bad_arguments(argv, match):
    with pytest.raises(ConfigError, match=match):
        bench.run(args(*argv))


def test_synthetic_history_is_seeded_and_drifts():
    a = bench.synthetic(1, 0, 1024, bench.METRICS, seed=0)
    assert all((a[m] == bench.synthetic(1, 0, 1024, bench.METRICS, 0)[m]).all() for m in a)
    late = bench.synthetic(1, 364, 1024, bench.METRICS, seed=0)["rate_hz"]
    other = bench.synthetic(2, 0, 1024, bench.METRICS, seed=0)["rate_hz"]
    assert not (late == a["rate_hz"]).all() and not (other == a["rate_hz"]).all()
