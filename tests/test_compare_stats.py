"""Spike statistics (hil.compare.stats, hil.compare.trials): known answers on processes whose
statistics are known in closed form, the same numbers from spike events and from counts, and the
van Rossum distance against a direct numerical integral."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from hil import events as ev
from hil.compare import (
    SpikeTimesRequired,
    Trial,
    as_trial,
    as_trials,
    count_correlation,
    fano_factor,
    firing_rate,
    first_spike_latency,
    isi_cv,
    local_variation,
    mean_correlation,
    psth,
    split,
    summary,
    van_rossum_distance,
    van_rossum_matrix,
)
from hil.errors import ConfigError


def trial_of(trains: dict[int, np.ndarray], duration_s: float) -> Trial:
    """A Trial from spike times [s] per board-wide neuron index."""
    t = np.concatenate([np.asarray(v, float) for v in trains.values()])
    g = np.concatenate([np.full(len(v), k) for k, v in trains.items()])
    return Trial(duration_s, events=ev.output_events_at(np.round(t * 1e6).astype(np.int64), g))


def gamma_train(rng: np.random.Generator, rate: float, order: float, duration: float) -> np.ndarray:
    """A renewal process with Gamma(order) intervals of mean 1 / rate (order 1: Poisson)."""
    isi = rng.gamma(order, 1.0 / (order * rate), size=int(duration * rate * 1.5) + 100)
    t = np.cumsum(isi)
    return t[t < duration]


def as_counts(trial: Trial, bin_s: float, neurons: np.ndarray) -> Trial:
    """The same trial as a counts readout (events.Counts) with bin `bin_s`."""
    raster = ev.events_to_raster(trial.events, bin_s, trial.duration_s, n_columns=neurons.max() + 1)
    c = ev.Counts(raster[:, neurons], neurons, int(round(bin_s * 1e6)), trial.duration_us)
    return as_trial(c)


# ---- known answers --------------------------------------------------------------------------------


@pytest.mark.parametrize("order", [1.0, 4.0])
def test_renewal_process_cv_lv_fano(order: float) -> None:
    # Gamma renewal of order k: CV = 1/sqrt(k), LV = 3/(2k+1), Fano at long windows -> CV^2.
    # Poisson (k = 1): CV = LV = Fano = 1 at every window.
    rng = np.random.default_rng(1)
    trial = trial_of({3: gamma_train(rng, 20.0, order, 2000.0)}, 2000.0)
    assert isi_cv(trial)[0] == pytest.approx(1 / np.sqrt(order), abs=0.03)
    assert local_variation(trial)[0] == pytest.approx(3 / (2 * order + 1), abs=0.03)
    assert fano_factor(trial, 2.0)[0] == pytest.approx(1 / order, abs=0.12)
    if order == 1.0:
        for w in (0.01, 0.1):
            assert fano_factor(trial, w)[0] == pytest.approx(1.0, abs=0.05)
    assert firing_rate(trial)[0] == pytest.approx(20.0, rel=0.03)


def test_regular_train_has_zero_variability() -> None:
    t = np.arange(0.005, 10.0, 0.01)  # 100 Hz, every window of 100 ms holds 10 spikes
    trial = trial_of({0: t}, 10.0)
    assert isi_cv(trial)[0] == pytest.approx(0.0, abs=1e-3)
    assert local_variation(trial)[0] == pytest.approx(0.0, abs=1e-5)
    assert fano_factor(trial, 0.1)[0] == 0.0
    assert firing_rate(trial)[0] == pytest.approx(100.0)


def test_too_few_spikes_give_nan() -> None:
    trial = trial_of({0: [0.1, 0.2], 1: [0.5]}, 1.0)
    n = np.array([0, 1, 2])  # neuron 2 silent
    assert np.isnan(isi_cv(trial, n)).all()
    assert np.isnan(local_variation(trial, n)).all()
    np.testing.assert_array_equal(firing_rate(trial, n), [2.0, 1.0, 0.0])
    assert np.isnan(fano_factor(trial, 0.1, n)[2])  # no spikes: no Fano factor


def test_count_correlation_against_numpy() -> None:
    rng = np.random.default_rng(2)
    a = np.sort(rng.uniform(0, 20, 400))
    c = np.sort(rng.uniform(0, 20, 300))
    trial = trial_of({0: a, 1: a + 0.0001, 2: c}, 20.0)  # 0 and 1 share their bins
    got = count_correlation(trial, 0.01)
    raster = ev.events_to_raster(trial.events, 0.01, 20.0, n_columns=3).astype(float)
    np.testing.assert_allclose(got, np.corrcoef(raster.T), atol=1e-12)
    assert got[0, 1] > 0.9 and abs(got[0, 2]) < 0.1
    np.testing.assert_allclose(
        mean_correlation(got),
        [(got[0, 1] + got[0, 2]) / 2, (got[1, 0] + got[1, 2]) / 2, (got[2, 0] + got[2, 1]) / 2],
    )


def test_psth_and_latency() -> None:
    trials = [trial_of({5: [0.052 + 0.001 * k, 0.3], 6: [0.9]}, 1.0) for k in range(4)]
    h = psth(trials, 0.05)
    assert h.shape == (20, 2)
    assert h[1, 0] == pytest.approx(1 / 0.05)  # one spike per trial in [50, 100) ms
    assert h[6, 0] == pytest.approx(1 / 0.05) and h[18, 1] == pytest.approx(1 / 0.05)
    assert h.sum() * 0.05 == pytest.approx(3.0)  # three spikes per trial
    lat = first_spike_latency(trials[2], onset_s=0.0, neurons=np.array([5, 6, 7]))
    np.testing.assert_allclose(lat[:2], [0.054, 0.9])
    assert np.isnan(lat[2])
    assert first_spike_latency(trials[0], onset_s=0.1, neurons=np.array([5]))[0] == pytest.approx(
        0.2
    )


def test_psth_refuses_trials_of_different_length() -> None:
    with pytest.raises(ConfigError, match="one length"):
        psth([trial_of({0: [0.1]}, 1.0), trial_of({0: [0.1]}, 2.0)], 0.1)


# ---- van Rossum -----------------------------------------------------------------------------------


def _vr_integral(a: np.ndarray, b: np.ndarray, tau: float) -> float:
    """sqrt((2/tau) * integral_0^inf (f_a - f_b)^2 dt) by adaptive quadrature between the spikes."""

    def f(t: float, s: np.ndarray) -> float:
        past = s[s <= t]
        return float(np.exp(-(t - past) / tau).sum())

    edges = np.unique(np.concatenate([[0.0], a, b]))
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        total += integrate.quad(lambda t: (f(t, a) - f(t, b)) ** 2, lo, hi, epsabs=1e-12)[0]
    total += integrate.quad(lambda t: (f(t, a) - f(t, b)) ** 2, edges[-1], np.inf)[0]
    return float(np.sqrt(2.0 / tau * total))


@pytest.mark.parametrize("tau", [0.002, 0.01, 0.05])
def test_van_rossum_against_numerical_integral(tau: float) -> None:
    rng = np.random.default_rng(3)
    a = np.sort(rng.uniform(0, 0.3, 9))
    b = np.sort(np.concatenate([a[:4] + 0.001, rng.uniform(0, 0.3, 6)]))
    assert van_rossum_distance(a, b, tau) == pytest.approx(_vr_integral(a, b, tau), rel=1e-6)


def test_van_rossum_normalisation() -> None:
    assert van_rossum_distance(np.array([]), np.array([0.3]), 0.01) == pytest.approx(1.0)
    far = np.array([0.1, 0.5, 0.9])
    assert van_rossum_distance(far, far + 0.2, 1e-5) == pytest.approx(np.sqrt(6.0))
    assert van_rossum_distance(far, far, 0.01) == pytest.approx(0.0, abs=1e-6)


def test_van_rossum_long_trains_rebase_exactly() -> None:
    # 50 s at tau = 10 ms spans 5000 tau: the running sums are rebased every 500 tau.
    rng = np.random.default_rng(4)
    trains = [np.sort(rng.uniform(0, 50, n)) for n in (300, 280, 0)]

    def direct(x: np.ndarray, y: np.ndarray) -> float:
        k = lambda p, q: np.exp(-np.abs(np.subtract.outer(p, q)) / 0.01).sum()  # noqa: E731
        return float(np.sqrt(k(x, x) + k(y, y) - 2 * k(x, y)))

    d = van_rossum_matrix(trains, 0.01)
    for i in range(3):
        for j in range(3):
            assert d[i, j] == pytest.approx(direct(trains[i], trains[j]), rel=1e-9, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(0, 1, allow_nan=False), max_size=12).map(sorted), min_size=3, max_size=5
    ),
    st.floats(0.001, 0.2),
    st.floats(0, 5),
)
def test_van_rossum_is_a_shift_invariant_metric(trains: list, tau: float, shift: float) -> None:
    ts = [np.array(t) for t in trains]
    d = van_rossum_matrix(ts, tau)
    np.testing.assert_allclose(d, d.T, atol=1e-9)
    assert np.all(np.diag(d) < 1e-6)
    for i in range(len(ts)):
        for j in range(len(ts)):
            assert np.all(d[i, j] <= d[i, :] + d[:, j] + 1e-6)  # triangle inequality
    np.testing.assert_allclose(van_rossum_matrix([t + shift for t in ts], tau), d, atol=1e-6)


# ---- counts readout -------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([1, 2, 5]))
def test_counts_give_the_same_rate_fano_correlation_psth(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    neurons = np.array([1, 7, 300, 1030])
    trial = trial_of(
        {int(n): np.sort(rng.uniform(0, 2.0, rng.integers(0, 60))) for n in neurons}, 2.0
    )
    counts = as_counts(trial, 0.002, neurons)
    np.testing.assert_allclose(firing_rate(counts, neurons), firing_rate(trial, neurons))
    w = 0.002 * k * 10
    np.testing.assert_allclose(fano_factor(counts, w, neurons), fano_factor(trial, w, neurons))
    np.testing.assert_allclose(
        count_correlation(counts, 0.002 * k, neurons),
        count_correlation(trial, 0.002 * k, neurons),
        atol=1e-12,
    )
    np.testing.assert_allclose(psth([counts], w, neurons), psth([trial], w, neurons))


@pytest.mark.parametrize(
    "fn",
    [isi_cv, local_variation, lambda t: first_spike_latency(t, 0.0)],
    ids=["cv", "lv", "latency"],
)
def test_statistics_needing_times_refuse_counts(fn) -> None:  # noqa: ANN001
    trial = trial_of({0: [0.1, 0.2, 0.3]}, 1.0)
    with pytest.raises(SpikeTimesRequired, match="needs spike times"):
        fn(as_counts(trial, 0.001, np.array([0])))


def test_counts_bin_must_divide_the_window() -> None:
    counts = as_counts(trial_of({0: [0.1]}, 1.0), 0.002, np.array([0]))
    with pytest.raises(ConfigError, match="multiple of the counts readout bin"):
        fano_factor(counts, 0.003)
    with pytest.raises(ConfigError, match="neurons the counts readout covers"):
        firing_rate(counts, np.array([0, 5]))


def test_summary_table_marks_what_counts_cannot_give() -> None:
    rng = np.random.default_rng(5)
    trials = [trial_of({0: np.sort(rng.uniform(0, 1, 30)), 4: [0.5]}, 1.0) for _ in range(3)]
    df = summary(trials)
    assert list(df.index) == [0, 4] and df.attrs["n_trials"] == 3
    assert df.loc[0, "rate_hz"] == pytest.approx(30.0)
    assert np.isnan(df.loc[4, "cv"]) and not np.isnan(df.loc[0, "cv"])
    dc = summary([as_counts(t, 0.001, np.array([0, 4])) for t in trials])
    assert dc["rate_hz"].tolist() == df["rate_hz"].tolist()
    assert dc["cv"].isna().all() and "cv" in dc.attrs["skipped"]


# ---- trials and the Recording adaptor -------------------------------------------------------------


def test_recording_like_objects_become_trials() -> None:
    events = trial_of({2: [0.1, 0.4]}, 1.0).events
    rec = SimpleNamespace(readout="spikes", events=events, duration_s=1.0, provenance={})
    t = as_trial(rec)
    assert t.has_times and t.duration_s == 1.0 and t.neurons().tolist() == [2]
    counts = ev.Counts(np.zeros((10, 1), np.int32), np.array([2]), 100_000, 1_000_000)
    t = as_trial(SimpleNamespace(readout="counts", counts=counts, duration_s=1.0))
    assert not t.has_times and t.counts is counts
    assert len(as_trials([rec, rec])) == 2 and len(as_trials(rec)) == 1
    with pytest.raises(ConfigError, match="Recording"):
        as_trial(events)  # a bare array carries no length
    with pytest.raises(ConfigError, match="exactly one"):
        Trial(1.0)


def test_split_into_windows() -> None:
    trial = trial_of({0: [0.1, 0.6, 1.2, 1.9, 2.5]}, 2.6)
    parts = split(trial, 1.0)
    assert [p.events["t_us"].tolist() for p in parts] == [[100_000, 600_000], [200_000, 900_000]]
    counts = as_counts(trial, 0.1, np.array([0]))
    assert [int(p.counts.counts.sum()) for p in split(counts, 1.0)] == [2, 2]
    assert len(as_trials([trial, trial], trial_s=0.5)) == 10
    with pytest.raises(ConfigError, match="multiple of the counts bin"):
        split(counts, 0.25)
