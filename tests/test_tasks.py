"""hil.tasks: the frozen-noise tasks, rate-coded digits, the metrics (issue 10 section 1)."""

from __future__ import annotations

import numpy as np
import pytest

from hil.errors import ConfigError
from hil.tasks import accuracy, firing_rate_ratio, get_task
from hil.tasks.base import predict
from hil.tasks.frozen_noise import frozen_noise, repeat


def test_frozen_noise_is_the_papers_task() -> None:
    t = get_task("frozen-noise")
    x = t.train(0).x
    assert x.shape == (2, 500, 60) and t.dt == 1e-3 and t.n_classes == 2
    rate = x.sum() / (2 * 60 * 0.5)  # spikes per channel-second
    assert 45 < rate < 55  # 50 Hz Poisson: 3000 expected spikes, s.d. ~1.8 %
    assert not np.array_equal(x[0], x[1])
    assert np.array_equal(t.test.x, x) and np.array_equal(t.train(7).x, x)  # frozen


def test_repeats_are_thinned_jittered_and_unseen() -> None:
    t = frozen_noise(16, seed=3, repeats=True, n_train=4, n_val=2, n_test=3)
    base = frozen_noise(16, seed=3).train(0).x
    tr, te = t.train(0), t.test
    assert tr.x.shape == (64, 500, 60) and te.x.shape == (48, 500, 60)
    kept = te.x.sum() / (3 * base.sum())
    assert 0.77 < kept < 0.83  # thin = 0.2

    # every repeat is nearest (in smoothed rasters) to its own class's pattern
    def smooth(a: np.ndarray) -> np.ndarray:
        k = np.ones(21)
        return np.apply_along_axis(lambda v: np.convolve(v, k, "same"), -2, a.astype(float))

    sb, st = smooth(base).reshape(16, -1), smooth(te.x).reshape(len(te), -1)
    nearest = np.argmax(st @ sb.T, axis=1)
    assert np.array_equal(nearest, te.y)
    # no test repeat equals a training repeat or its pattern; new epochs draw new repeats
    assert not any(np.array_equal(a, b) for a in te.x[:5] for b in tr.x)
    assert not np.array_equal(t.train(1).x, tr.x)
    assert np.array_equal(t.train(1).x, t.train(1).x)


def test_repeat_moves_spikes_by_the_jitter() -> None:
    pat = np.zeros((500, 1), dtype=np.uint8)
    pat[250, 0] = 200
    r = repeat(pat, np.random.default_rng(0), jitter=5e-3, thin=0.0)
    t = np.repeat(np.arange(500), r[:, 0])
    assert r.sum() == 200 and abs(t.mean() - 250) < 1.5 and 4.0 < t.std() < 6.0


def test_digits_splits_are_fixed_disjoint_and_rate_coded() -> None:
    from sklearn.datasets import load_digits

    t = get_task("digits", seed=5)
    a, b = get_task("digits", seed=5), get_task("digits", seed=6)
    assert np.array_equal(a.test.x, t.test.x) and not np.array_equal(b.test.y, t.test.y)
    n = len(t.train(0)) + len(t.val) + len(t.test)
    assert n == 1797 and t.train(0).x.shape[1:] == (50, 64)
    # the rate follows the pixel: 200 Hz at 16, 0 at 0
    images = load_digits().data
    order = np.random.default_rng(5).permutation(1797)
    px = images[order[: len(t.train(0))]]
    rate = t.train(0).x.mean(1) / 1e-3
    assert rate[px == 0].max() == 0
    full = rate[px == 16].mean()
    assert 190 < full < 210
    assert np.corrcoef(px.ravel(), rate.ravel())[0, 1] > 0.8


def test_metrics() -> None:
    counts = np.array([[3, 1], [0, 0], [2, 2], [0, 5]])
    assert list(predict(counts)) == [0, -1, -1, 1]  # ties are no prediction
    assert accuracy(counts, np.array([0, 0, 0, 1])) == 0.5
    assert list(firing_rate_ratio(counts)) == [3.0, 0.0, 1.0, 5.0]


def test_unknown_task() -> None:
    with pytest.raises(ConfigError, match="one of frozen-noise"):
        get_task("mnist")
