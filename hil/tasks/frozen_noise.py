"""Frozen-noise classification (paper_facts.md A.3: Rockpool's Dynap-SE2 tutorial, the task of
Cakal et al.): 60 Poisson channels at 50 Hz, 500 ms, dt 1 ms, one frozen pattern per class, counts
per bin drawn as Poisson(rate * dt).

K = 2 is the paper's task: the two patterns are the whole data set (train = val = test), scored by
the firing-rate ratio. K = 16 (`repeats=True`) adds generalization: each sample is a repeat of its
class's pattern with every spike kept with probability 1 - `thin` and moved by a Gaussian jitter of
`jitter` seconds (rounded to bins, clipped to the window), so that no two samples are equal and the
test repeats are never seen in training.
"""

from __future__ import annotations

import numpy as np

from hil.errors import ConfigError
from hil.tasks.base import Split, Task

CHANNELS, RATE, DURATION, DT = 60, 50.0, 0.5, 1e-3


def patterns(
    k: int,
    channels: int = CHANNELS,
    rate: float = RATE,
    T: int = 500,
    dt: float = DT,
    seed: int = 0,
) -> np.ndarray:
    """`k` frozen patterns: Poisson counts per bin (k, T, channels) uint8."""
    rng = np.random.default_rng(seed)
    return rng.poisson(rate * dt, size=(k, T, channels)).astype(np.uint8)


def repeat(
    pattern: np.ndarray, rng: np.random.Generator, jitter: float, thin: float, dt: float = DT
) -> np.ndarray:
    """One jittered, thinned repeat of `pattern` (T, channels): each spike survives with
    probability 1 - thin and moves by round(N(0, jitter) / dt) bins, clipped to the window."""
    T = pattern.shape[0]
    t, c = np.nonzero(pattern)
    n = pattern[t, c].astype(np.int64)
    t, c = np.repeat(t, n), np.repeat(c, n)
    keep = rng.random(t.size) >= thin
    t, c = t[keep], c[keep]
    t = np.clip(t + np.rint(rng.normal(0.0, jitter / dt, t.size)).astype(np.int64), 0, T - 1)
    out = np.zeros_like(pattern, dtype=np.int64)
    np.add.at(out, (t, c), 1)
    return np.minimum(out, 255).astype(np.uint8)


def frozen_noise(
    k: int = 2,
    seed: int = 0,
    repeats: bool = False,
    jitter: float = 5e-3,
    thin: float = 0.2,
    n_train: int = 24,
    n_val: int = 8,
    n_test: int = 16,
    duration: float = DURATION,
) -> Task:
    """The frozen-noise task with `k` classes (module docstring). With `repeats`, n_train / n_val /
    n_test repeats per class; training repeats are fresh every epoch."""
    if not (isinstance(k, int) and 2 <= k <= 256):
        raise ConfigError("k", k, "an integer 2..256")
    if not (0 <= thin < 1 and 0 <= jitter < duration and 0.01 <= duration <= 10):
        raise ConfigError(
            "thin, jitter, duration",
            (thin, jitter, duration),
            "0 <= thin < 1, 0 <= jitter < duration, 0.01 <= duration <= 10 s",
        )
    T = int(round(duration / DT))
    base = patterns(k, T=T, seed=seed)
    labels = np.arange(k, dtype=np.int64)
    spec = {
        "name": "frozen-noise",
        "k": k,
        "seed": seed,
        "channels": CHANNELS,
        "rate_hz": RATE,
        "duration_s": duration,
    }
    if not repeats:
        whole = Split(base, labels)
        return Task(
            f"frozen-noise-{k}", CHANNELS, k, T, DT, seed, lambda epoch: whole, whole, whole, spec
        )

    def draw(n: int, stream: int) -> Split:
        rng = np.random.default_rng([seed, stream])
        y = np.repeat(labels, n)
        x = np.stack([repeat(base[c], rng, jitter, thin) for c in y])
        return Split(x, y)

    spec.update(repeats=True, jitter_s=jitter, thin=thin, n_train=n_train)
    return Task(
        f"frozen-noise-{k}",
        CHANNELS,
        k,
        T,
        DT,
        seed,
        lambda epoch: draw(n_train, 1000 + epoch),
        draw(n_val, 1),
        draw(n_test, 2),
        spec,
    )
