"""`hil bench link` runs end to end and reports every key (speed is measured by the benchmark
itself, never asserted here)."""

from __future__ import annotations

import argparse

from hil.bench import link


def test_bench_link_reports_every_key() -> None:
    p = argparse.ArgumentParser()
    link.add_arguments(p)
    out = link.run(
        p.parse_args(
            [
                *("--unpaced-events", "3000", "--paced-seconds", "0.05", "--pings", "20"),
                *("--ber-runs", "1", "--ber-duration", "0.2"),
            ]
        )
    )
    for key in (
        "events_per_s_unpaced",
        "events_per_s_921600",
        "events_per_s_3000000",
        "line_efficiency_921600",
        "line_efficiency_3000000",
        "command_rtt_median_us_emu",
        "command_rtt_median_us_pty",
    ):
        assert out[key] > 0, key
    assert out["line_ceiling_events_per_s_921600"] == 23040  # 921600 / 10 / 4
    assert out["run_921600"]["events"] == int(23040 * 0.05)
    for ber in ("0.0001", "0.001", "0.01"):
        r = out[f"ber_{ber}"]
        assert r["runs"] == 1 and r["wrong"] == 0 and r["exact"] + r["failed"] == 1
    assert isinstance(out["ber_0.001_met"], bool)
