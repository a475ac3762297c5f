"""Two-sample tests and multiple-comparison control (hil.compare.twosample): exact p-values on small
cases, each test's false-alarm rate on many independent null samples, and the corrections against
independent implementations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from hil.compare import twosample as ts
from hil.errors import ConfigError

ALPHA = 0.05


def _holm_loop(p: list[float]) -> list[float]:
    """Holm's step-down procedure written out: the i-th smallest p times (m - i), running max."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=40))
def test_holm_matches_the_step_down_loop(p: list[float]) -> None:
    np.testing.assert_allclose(ts.holm(np.array(p)), _holm_loop(p), atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=40))
def test_bh_matches_scipy(p: list[float]) -> None:
    np.testing.assert_allclose(
        ts.benjamini_hochberg(np.array(p)), sps.false_discovery_control(p, method="bh"), atol=1e-12
    )


def test_corrections_skip_nan_and_count_only_tests() -> None:
    p = np.array([0.01, np.nan, 0.04, np.nan])
    np.testing.assert_allclose(ts.holm(p)[[0, 2]], [0.02, 0.04])
    assert np.isnan(ts.holm(p)[[1, 3]]).all() and np.isnan(ts.benjamini_hochberg(p)[1])
    np.testing.assert_allclose(ts.benjamini_hochberg(p)[[0, 2]], [0.02, 0.04])
    with pytest.raises(ConfigError, match="holm, bh"):
        ts.adjust(p, "bonferroni")


def test_sign_flip_exact_small_cases() -> None:
    # n = 4 pairs, all differences +1: only the all-plus and all-minus sign vectors reach |mean| = 1
    rng = np.random.default_rng(0)
    assert ts.sign_flip_test(np.ones((4, 1)), 10_000, rng)[0] == pytest.approx(2 / 16)
    # differences 3, 1, 1, 1 (mean 1.5): sign vectors reaching |mean| >= 1.5 are the identity,
    # and its negation only (|3 - 1 + 1 + 1| = 4 < 6): p = 2/16; NaN pairs are dropped
    d = np.array([[3.0], [1.0], [1.0], [1.0], [np.nan]])
    assert ts.sign_flip_test(d, 10_000, rng)[0] == pytest.approx(2 / 16)
    # enumerate by hand for a mixed case
    d = np.array([2.0, -1.0, 0.5, 1.5, 0.25])
    obs = abs(d.mean())
    hits = sum(
        abs((np.array(s) * d).mean()) >= obs - 1e-12 for s in itertools.product([1, -1], repeat=5)
    )
    assert ts.sign_flip_test(d[:, None], 10_000, rng)[0] == pytest.approx(hits / 32)


def test_sequential_pvalues_stop_early_and_resolve_small_ones() -> None:
    rng = np.random.default_rng(1)
    calls = []

    def draw(b: int, units: np.ndarray) -> np.ndarray:
        calls.append(len(units))
        return rng.random((b, len(units)))

    # unit 0 reaches often (observed 0.5: p ~ 0.5), unit 1 never (observed 2)
    p = ts.sequential_pvalues(np.array([0.5, 2.0]), draw, n_perm=5000, h=10, batch=100)
    assert 0.2 < p[0] < 0.9 and p[1] == pytest.approx(1 / 5001)
    assert calls[0] == 2 and calls[-1] == 1  # unit 0 stopped after the first batch


@pytest.mark.parametrize(
    "test", ["mannwhitney", "ks", "label", "energy", "sign_flip", "energy_paired"]
)
def test_each_test_holds_its_false_alarm_rate(test: str) -> None:
    """600 independent null data sets (tied, discrete counts like spike counts): the fraction with
    p <= 0.05 stays inside the range a valid test gives with probability > 0.999."""
    rng = np.random.default_rng(2)
    U, n = 600, 12
    x = rng.poisson(5.0, (n, U)).astype(float)
    y = rng.poisson(5.0, (n, U)).astype(float)
    if test == "mannwhitney":
        p, _ = ts.mann_whitney(x, y)
    elif test == "ks":
        p, _ = ts.kolmogorov_smirnov(x, y)
    elif test == "label":
        p = ts.label_permutation_test(x, y, 2000, rng)
    elif test == "sign_flip":
        p = ts.sign_flip_test(y - x, 2000, rng)
    else:
        pool = np.concatenate([x, y]).T  # (U, 2n)
        d = np.abs(pool[:, :, None] - pool[:, None, :])
        p, _ = ts.energy_test(d, n, 2000, rng, paired=test == "energy_paired")
    k = int(np.sum(p <= ALPHA))
    # a valid test: P(p <= alpha) <= alpha, so k <= the 0.999 quantile of Binomial(600, 0.05)
    assert k <= sps.binom.ppf(0.999, U, ALPHA), f"{test}: {k}/{U} false alarms"
    if test in ("label", "sign_flip", "energy", "energy_paired"):
        # permutation tests are (nearly) exact: not grossly conservative either
        assert k >= sps.binom.ppf(0.001, U, ALPHA) * 0.6, f"{test}: only {k}/{U}"


@pytest.mark.parametrize("test", ["mannwhitney", "ks", "label", "energy", "sign_flip"])
def test_each_test_detects_a_shift(test: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 1.0, (20, 50))
    y = (
        x + 1.5 + rng.normal(0.0, 0.5, (20, 50))
        if test == "sign_flip"
        else rng.normal(1.5, 1.0, (20, 50))
    )
    if test == "mannwhitney":
        p, eff = ts.mann_whitney(x, y)
        assert np.all(eff > 0)
    elif test == "ks":
        p, _ = ts.kolmogorov_smirnov(x, y)
    elif test == "label":
        p = ts.label_permutation_test(x, y, 2000, rng)
    elif test == "sign_flip":
        p = ts.sign_flip_test(y - x, 2000, rng)
    else:
        pool = np.concatenate([x, y]).T
        p, _ = ts.energy_test(np.abs(pool[:, :, None] - pool[:, None, :]), 20, 2000, rng)
    assert np.mean(p <= ALPHA) > 0.9


def test_energy_distance_matches_scipy() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(0, 1, 15), rng.normal(0.7, 2, 11)
    v = np.concatenate([x, y])
    _, e = ts.energy_test(np.abs(v[:, None] - v[None, :]), 15, 10, rng)
    # scipy's energy_distance is sqrt(2 E|X-Y| - E|X-X'| - E|Y-Y'|)
    direct = np.sqrt(
        2 * np.abs(x[:, None] - y[None, :]).mean()
        - np.abs(x[:, None] - x[None, :]).mean()
        - np.abs(y[:, None] - y[None, :]).mean()
    )
    assert e[0] == pytest.approx(direct, rel=1e-9)
    assert e[0] == pytest.approx(sps.energy_distance(x, y), rel=1e-9)


def test_cliffs_delta_by_counting() -> None:
    x, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0])
    # pairs (y > x): 2>1, 4>1, 4>2, 4>3 = 4; (y < x): 2<3 = 1; ties 1: (4 - 1) / 6
    assert ts.cliffs_delta(x, y) == pytest.approx(0.5)
    assert ts.mann_whitney(np.ones(5), np.ones(5))[0] == 1.0  # all equal: no evidence


def test_paired_energy_test_swaps_only_within_pairs() -> None:
    # 3 pairs, fully separated groups: within-pair swaps give 2^3 = 8 labelings, 2 of which (the
    # identity and the full swap) reach the observed statistic: p = 1/4. Free relabelling gives
    # C(6, 3) = 20 labelings, again 2 reaching: p = 1/10.
    rng = np.random.default_rng(5)
    v = np.array([0.0, 1.0, 2.0, 10.0, 11.0, 12.0])
    d = np.abs(v[:, None] - v[None, :])
    p_paired, _ = ts.energy_test(d, 3, 20_000, rng, paired=True, h=400)
    p_free, _ = ts.energy_test(d, 3, 20_000, rng, paired=False, h=400)
    assert p_paired[0] == pytest.approx(0.25, abs=0.04)
    assert p_free[0] == pytest.approx(0.10, abs=0.02)
