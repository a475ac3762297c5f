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
    res = bench.run(p.parse_args(["--duration", "0.3", "--repeats", "1", "--chips", "1"]))
    assert res["realtime_factor"] > 0 and res["dt_s"] <= 1e-4
    assert res["neurons"] == 1024 and res["synapses"] == 1024 * 64
    assert 12 < res["mean_rate_hz"] < 30  # about 20 Hz, as the benchmark promises
    assert {"workload", "seed", "wall_s_median", "target_met", "steps_per_run"} <= set(res)
    assert res["threads"] >= 1 and set(res["per_event_ns"]) == {"1"}
    assert res["boards"]["1"]["per_event_ns_serial"] > 0
    assert "realtime_factor_4chips_20hz" not in res  # not measured


def test_four_chip_board_fires_at_about_20_hz_and_reports_its_keys() -> None:
    p = argparse.ArgumentParser()
    bench.add_arguments(p)
    res = bench.run(p.parse_args(["--duration", "0.1", "--repeats", "1", "--chips", "4"]))
    four = res["boards"]["4"]
    assert four["neurons"] == 4096 and four["synapses"] == 4096 * 64
    assert 12 < four["mean_rate_hz"] < 30
    assert res["realtime_factor_4chips_20hz"] == four["realtime_factor"] > 0
    assert {"target_met_4chips_20hz", "load_average_1min", "parallel_speedup"} <= set(res)
    assert "realtime_factor" not in res  # the one-chip key comes only with the one-chip board


def test_boards_of_several_chips_send_spikes_to_the_previous_chips_neighbour() -> None:
    """Chip c listens to 12 of chip c - 1's neurons per neuron (the last chip for chip 0)."""
    cfg = bench.workload(1, n_chips=3)
    assert len(cfg.inputs) == 3 * bench.N_INPUTS
    for chip in range(3):
        neurons = [n for c, *_, n in cfg.neurons() if c == chip]
        assert len(neurons) == 1024
        assert all(len(n.synapses) == SYNAPSES_PER_NEURON for n in neurons)
        cross = [s for n in neurons for s in n.synapses if s.tag >= bench.CROSS_TAG0]
        assert len(cross) == 1024 * bench.N_CROSS
        hops = {d.x_hop for n in neurons for d in n.destinations if d.tag >= bench.CROSS_TAG0}
        assert hops == {-2 if chip == 2 else 1}
