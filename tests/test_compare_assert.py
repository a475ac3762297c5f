"""compare() and assert_spiking_equivalent(): verdicts on synthetic trials with known differences,
the failure message, skipped statistics on counts, and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hil import events as ev
from hil.compare import (
    KINDS,
    SkippedStatistic,
    Statistic,
    Trial,
    assert_spiking_equivalent,
    compare,
)
from hil.errors import ConfigError

NEURONS = np.array([0, 1, 2, 3, 4, 5, 260, 1030])  # two cores, two chips


def poisson_trials(
    n: int, seed: int, rates: dict[int, float] | None = None, duration: float = 1.0
) -> list[Trial]:
    """n trials of independent Poisson trains, 30 Hz per neuron unless `rates` says otherwise."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        t, g = [], []
        for nid in NEURONS:
            r = (rates or {}).get(int(nid), 30.0)
            k = rng.poisson(r * duration)
            t.append(np.sort(rng.uniform(0, duration, k)))
            g.append(np.full(k, nid))
        t_us = np.round(np.concatenate(t) * 1e6).astype(np.int64)
        out.append(Trial(duration, events=ev.output_events_at(t_us, np.concatenate(g))))
    return out


def counts_of(trials: list[Trial], bin_s: float = 0.001) -> list[ev.Counts]:
    out = []
    for t in trials:
        raster = ev.events_to_raster(t.events, bin_s, t.duration_s, n_columns=2048)
        out.append(ev.Counts(raster[:, NEURONS], NEURONS, int(bin_s * 1e6), t.duration_us))
    return out


def test_equal_processes_pass_and_every_statistic_runs() -> None:
    stats = [k for k in KINDS]
    res = assert_spiking_equivalent(poisson_trials(15, 1), poisson_trials(15, 2), stats=stats)
    assert res.passed and not res.skipped
    assert set(res.table["stat"].str.split("@").str[0]) == set(KINDS)
    assert (res.table.loc[res.table["stat"] == "pop_rate", "neuron"] == -1).all()
    assert res.n_tests == len(res.table)


def test_a_changed_neuron_is_named_with_size_and_p() -> None:
    sim = poisson_trials(20, 1)
    chip = poisson_trials(20, 2, rates={260: 45.0})  # +50 % on chip 0 core 1 neuron 4
    with pytest.raises(AssertionError) as info:
        assert_spiking_equivalent(sim, chip, stats=["rate", "cv"], alpha=0.05)
    msg = str(info.value)
    assert "1 of 16 (statistic, neuron) tests differ" in msg
    assert "rate" in msg and "neuron 260 (chip 0 core 1 #4)" in msg
    line = next(x for x in msg.splitlines() if "neuron 260" in x)
    assert "sim 3" in line and "chip 4" in line and "%" in line and "Cliff's delta" in line
    assert "p=" in line and "adjusted p=" in line and "Holm" in msg
    assert "neuron 0 " not in msg


def test_the_message_is_bounded() -> None:
    sim = poisson_trials(12, 1)
    chip = poisson_trials(12, 2, rates={int(n): 90.0 for n in NEURONS})
    res = compare(
        sim, chip, ["rate", "fano@100ms", "pop_rate", "van_rossum@10ms"], labels=("sim", "chip")
    )
    assert not res.passed
    msg = res.message(max_rows=3)
    assert len(msg.splitlines()) <= 1 + 3 + 1 and len(msg) < 1200
    assert "... and" in msg and "more" in msg


def test_paired_design_uses_sign_flips_and_needs_equal_counts() -> None:
    sim = poisson_trials(10, 1)
    res = compare(sim, sim, ["rate"], paired=True)
    assert res.passed and set(res.table["test"]) == {"permutation"}
    assert (res.table["p"] == 1.0).all()  # identical trials: every difference is 0
    with pytest.raises(ConfigError, match="equal trial counts"):
        compare(sim, sim[:9], ["rate"], paired=True)


@pytest.mark.parametrize("test", ["mannwhitney", "ks", "energy", "permutation"])
def test_every_test_flags_a_large_rate_change(test: str) -> None:
    res = compare(
        poisson_trials(15, 1), poisson_trials(15, 2, rates={3: 60.0}), ["rate"], test=test
    )
    assert res.failures()["neuron"].iloc[0] == 3, res.message()  # the most significant one


def test_counts_skip_statistics_that_need_times() -> None:
    sim, chip = poisson_trials(10, 1), counts_of(poisson_trials(10, 2))
    with pytest.warns(SkippedStatistic, match="cv not compared: needs spike times; the chip"):
        res = assert_spiking_equivalent(sim, chip, stats=["rate", "cv", "fano@10ms"])
    assert "cv" in res.skipped and set(res.table["stat"]) == {"rate", "fano@10ms"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedStatistic)
        with pytest.raises(pytest.skip.Exception, match="no statistic could be compared"):
            assert_spiking_equivalent(sim, chip, stats=["cv", "latency"])


def test_counts_on_both_sides_compare_rates() -> None:
    sim = counts_of(poisson_trials(15, 1))
    chip = counts_of(poisson_trials(15, 2, rates={2: 60.0}))
    res = compare(sim, chip, ["rate", "corr@10ms", "psth@100ms"])
    assert res.failures()[["stat", "neuron"]].values.tolist()[0] == ["rate", 2]


def test_a_neuron_silent_on_one_side_is_compared() -> None:
    sim = poisson_trials(10, 1)
    chip = [
        Trial(t.duration_s, events=t.events[ev.global_index(t.events) != 5])
        for t in poisson_trials(10, 2)
    ]
    res = compare(sim, chip, ["rate"])
    assert res.failures()["neuron"].tolist() == [5]


def test_one_long_recording_cut_into_windows() -> None:
    long_sim, long_chip = poisson_trials(1, 1, duration=12.0), poisson_trials(1, 2, duration=12.0)
    res = compare(long_sim, long_chip, ["rate"], trial_s=1.0)
    assert res.n_ref == res.n_cand == 12 and res.passed


def test_bad_arguments_name_what_is_allowed() -> None:
    sim = poisson_trials(3, 1)
    with pytest.raises(ConfigError, match="one of rate, cv"):
        compare(sim, sim, ["rates"])
    with pytest.raises(ConfigError, match="without a parameter"):
        compare(sim, sim, ["cv@10ms"])
    with pytest.raises(ConfigError, match="mannwhitney, ks"):
        compare(sim, sim, ["rate"], test="t")
    with pytest.raises(ConfigError, match="holm, bh"):
        compare(sim, sim, ["rate"], correction="none")
    with pytest.raises(ConfigError, match=r"\(0, 1\)"):
        compare(sim, sim, ["rate"], alpha=1.5)
    assert Statistic.parse("fano@20ms").param_s == pytest.approx(0.02)
    assert Statistic.parse("van_rossum@500us").name == "van_rossum@0.5ms"
    assert Statistic.parse("fano").name == "fano@100ms"


def test_bh_names_at_least_what_holm_names() -> None:
    sim = poisson_trials(15, 1)
    chip = poisson_trials(15, 2, rates={0: 40.0, 1: 40.0, 2: 40.0, 3: 40.0})
    holm = compare(sim, chip, ["rate"], correction="holm")
    bh = compare(sim, chip, ["rate"], correction="bh")
    assert set(holm.failures()["neuron"]) <= set(bh.failures()["neuron"])
