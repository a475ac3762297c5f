"""scikit-learn's handwritten digits (`sklearn.datasets.load_digits`: 1797 images of 8x8 pixels,
values 0..16, shipped inside the package) as spike trains.

Encoding: rate. Pixel p (0..63) is input channel p; in each 1 ms bin of a `T`-bin window it spikes
with probability value / 16 * `max_rate` * dt (a Bernoulli process, at most one spike per bin), so a
full-intensity pixel fires at max_rate (default 200 Hz, 10 spikes in 50 ms on average) and a blank
one never. Why rate: the class lives in which pixels are on, not when; rate coding keeps every
pixel's information in every bin, so a short window suffices and training stays cheap; 64 channels
fill a neuron's 64 CAM entries exactly.

Splits: a permutation of the 1797 images by `seed`, 60 % train / 20 % validation / 20 % test. The
validation and test spike trains are drawn once from the seed; the training spike trains are drawn
afresh every epoch (the same for a given seed and epoch).
"""

from __future__ import annotations

import functools

import numpy as np

from hil.tasks.base import Split, Task

MAX_VALUE = 16.0


def encode(
    images: np.ndarray, rng: np.random.Generator, T: int, max_rate: float, dt: float
) -> np.ndarray:
    """Rate code: (n, 64) pixel values 0..16 -> spike counts (n, T, 64) uint8."""
    p = np.clip(images / MAX_VALUE, 0.0, 1.0) * max_rate * dt
    return (rng.random((images.shape[0], T, images.shape[1])) < p[:, None, :]).astype(np.uint8)


@functools.cache
def _load() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: images (1797, 64) float64 0..16, labels (1797,) int64 (read once)."""
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]

    data = load_digits()
    images = np.asarray(data.data, dtype=np.float64)
    images.setflags(write=False)
    labels = np.asarray(data.target, dtype=np.int64)
    labels.setflags(write=False)
    return images, labels


def digits(seed: int = 0, T: int = 50, max_rate: float = 200.0, dt: float = 1e-3) -> Task:
    """The rate-coded digits task (module docstring)."""
    images, labels = _load()
    order = np.random.default_rng(seed).permutation(len(labels))
    n_train, n_val = int(0.6 * len(order)), int(0.2 * len(order))
    parts = order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]

    def split(idx: np.ndarray, stream: int) -> Split:
        rng = np.random.default_rng([seed, stream])
        return Split(encode(images[idx], rng, T, max_rate, dt), labels[idx])

    spec = {"name": "digits", "seed": seed, "T": T, "max_rate_hz": max_rate, "encoding": "rate"}
    return Task(
        "digits",
        images.shape[1],
        10,
        T,
        dt,
        seed,
        lambda epoch: split(parts[0], 1000 + epoch),
        split(parts[1], 1),
        split(parts[2], 2),
        spec,
    )
