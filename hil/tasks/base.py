"""The Task record and the two metrics: accuracy and the firing-rate ratio."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hil.errors import ConfigError


@dataclass(frozen=True)
class Split:
    """x: spike counts per bin (samples, T, channels) uint8; y: class labels (samples,) int64."""

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        if self.x.ndim != 3 or self.y.shape != (self.x.shape[0],):
            raise ConfigError("split", (self.x.shape, self.y.shape), "x (n, T, C) and y (n,)")

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class Task:
    """A classification task on spike trains with bin width `dt` [s].

    `draw_train(epoch)` returns the training split of that epoch (deterministic in seed and epoch);
    `val` and `test` are fixed. `spec` is what a model records to name the task (JSON-able)."""

    name: str
    n_inputs: int
    n_classes: int
    T: int
    dt: float
    seed: int
    draw_train: Callable[[int], Split]
    val: Split
    test: Split
    spec: dict = field(default_factory=dict)

    def train(self, epoch: int = 0) -> Split:
        return self.draw_train(epoch)


def predict(counts: np.ndarray) -> np.ndarray:
    """Predicted class per sample from output spike counts (..., classes): the class with the most
    spikes. A tie (a silent output layer included) is no prediction (-1), so it counts as wrong."""
    counts = np.asarray(counts)
    best = counts.argmax(-1)
    top = np.take_along_axis(counts, best[..., None], -1)
    ties = (counts == top).sum(-1) > 1
    return np.where(ties, -1, best)


def accuracy(counts: np.ndarray, y: np.ndarray) -> float | np.ndarray:
    """Fraction of samples whose predicted class (`predict`) is the label; counts (..., n, classes)
    -> accuracy over n, one per leading index."""
    return (predict(counts) == np.asarray(y)).mean(-1)


def firing_rate_ratio(counts: np.ndarray) -> np.ndarray:
    """The tutorial's metric (paper_facts.md A.3): per sample, the largest output spike count over
    the smallest, (..., classes) -> (...); the smallest is floored at 1 spike so that a silent
    neuron gives a finite ratio (the largest count itself)."""
    counts = np.asarray(counts, dtype=np.float64)
    return counts.max(-1) / np.maximum(counts.min(-1), 1.0)
