"""`hil bench emulator`: the workload is what it claims and the result carries its keys (no timing
assertions: speed is measured by the benchmark, never in tests)."""

from __future__ import annotations

import argparse

from hil.bench import emulator as bench
from hil.chip.geometry import SYNAPSES_PER_NEURON


def test_workload_is_a_full_chip_with_64_synapses_each() -> None:
    cfg = bench.workload(1)
    neurons = list(cfg.neurons())
    assert len(neurons) == 1024
    assert all(len(n.synapses) == SYNAPSES_PER_NEURON for *_, n in neurons)
    assert len(cfg.inputs) == bench.N_INPUTS


def test_run_reports_the_realtime_factor_and_the_workload() -> None:
    p = argparse.ArgumentParser()
    bench.add_arguments(p)
    res = bench.run(p.parse_args(["--duration", "0.3", "--repeats", "1"]))
    assert res["realtime_factor"] > 0 and res["dt_s"] <= 1e-4
    assert res["neurons"] == 1024 and res["synapses"] == 1024 * 64
    assert 12 < res["mean_rate_hz"] < 30  # about 20 Hz, as the benchmark promises
    assert {"workload", "seed", "wall_s_median", "target_met", "steps_per_run"} <= set(res)
