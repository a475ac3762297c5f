"""Measured error rates of the sim-vs-chip comparison on the real simulator (hil.compare.error_rates).

The default run is a short version (a few dozen repetitions): it catches a test that is grossly
invalid or blind. The full measurement (>= 200 repetitions per condition, the figures in
docs/compare.md) is marked slow: `pytest --run-slow tests/test_compare_error_rates.py`, or
`python -m hil.compare.error_rates`.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from hil.compare import error_rates as er
from hil.compare import isi_cv

ALPHA = 0.05


def test_the_batched_harness_runs_what_the_sim_board_runs() -> None:
    d = er.Design(noise_A=0.0, n_trials=2)
    batched = er.simulate_trials(d, np.array([3, 4]), noise_seed=0)
    board = er.trials_from_board(d, np.array([3, 4]))
    for a, b in zip(batched, board, strict=True):
        assert a.events.size > 500
        np.testing.assert_array_equal(a.events, b.events)


def test_noise_seeds_make_trials_differ_and_repeat() -> None:
    d = er.Design(n_trials=2)
    a = er.simulate_trials(d, np.array([1]), noise_seed=5)[0].events
    b = er.simulate_trials(d, np.array([1]), noise_seed=6)[0].events
    again = er.simulate_trials(d, np.array([1]), noise_seed=5)[0].events
    np.testing.assert_array_equal(a, again)
    assert not np.array_equal(a, b)


def test_effects_do_what_the_docs_say() -> None:
    d = er.Design()
    (trial,) = er.simulate_trials(d, np.array([0]), noise_seed=1)
    reg = er.regularize(trial, 0.2)
    n = trial.neurons()
    cv, cv_reg = isi_cv(trial, n), isi_cv(reg, n)
    np.testing.assert_allclose(cv_reg / cv, 0.8, rtol=2e-3)  # exact up to 1 us rounding
    assert reg.events.size == trial.events.size
    thinned = [er.thin(trial, 0.9, np.random.default_rng(s)).events.size for s in range(40)]
    assert np.mean(thinned) / trial.events.size == pytest.approx(0.9, abs=0.01)
    (heavier,) = er.simulate_trials(d, np.array([0]), noise_seed=1, weight_scale=1.5)
    assert heavier.events.size > trial.events.size


def test_false_alarm_rate_short() -> None:
    m = er.measure("null", reps=16)
    # a valid procedure: verdict false alarms ~ Binomial(16, <= 0.05); P(k > 4) < 0.001
    assert m.verdict.k <= sps.binom.ppf(0.999, 16, ALPHA), str(m.verdict)
    # the single tests before correction hold alpha too (they are dependent: a loose bound)
    assert m.raw_rejections.value <= 1.5 * ALPHA, str(m.raw_rejections)


@pytest.mark.parametrize("condition", ["rate-10%", "cv-20%", "weight+5%-paired"])
def test_power_short(condition: str) -> None:
    m = er.measure(condition, reps=6)
    assert m.verdict.k >= 5, f"{condition}: {m.verdict}"


@pytest.mark.slow
def test_error_rates_full() -> None:
    """The documented figures: false alarms <= alpha within the 95 % CI, power >= 95 %."""
    for name in ("null", "null-paired", "null-all-stats"):
        m = er.measure(name, reps=200)
        assert m.verdict.ci[0] <= ALPHA, f"{name}: {m.verdict}"
    for name in ("rate-10%", "cv-20%", "weight+5%-paired"):
        m = er.measure(name, reps=200)
        assert m.verdict.value >= 0.95, f"{name}: {m.verdict}"
