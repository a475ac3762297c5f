"""How to search: algorithms over a bias's monotone code grid, vectorized over cores.

Every calibrated quantity falls as its bias current rises (value = K / I), so along the grid
(hil.calibrate.grid, increasing current) a core's measured median falls. An algorithm gets
`probe(indices) -> medians` (one board run for every core at once) and returns, per core, the grid
index it settled on, the median measured there, and every (index, median) it saw.

- BinarySearch: halve each core's bracket until it is one step wide (~11 runs over the full grid),
  then keep the probed code nearest the target (calix's BinarySearch keeps the best of the last
  ones). The history is checked for monotonicity: a measured median that rises with the current by
  more than `slack` marks the core non-monotonic (e.g. a coarse-branch error of the generator).
- NoisyBinarySearch: the same with `repeats` runs per step (median of them) and a random start
  inside the bracket per core (calix's NoisyBinarySearch: not every core at the same code).
- PredictiveModel: the nominal conversion (value = K / I_code) corrected per core by one factor
  F = K / (I_code * measured), re-estimated after each run at the code it predicts; stops when the
  predicted code repeats. Typically 2-3 runs.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hil.calibrate.grid import CodeGrid

Probe = Callable[[np.ndarray], np.ndarray]  # (n_cores,) grid indices -> (n_cores,) medians [s]


@dataclass
class Search:
    """Per core: the chosen grid index, the median measured there [s], whether the history was
    monotone; history: (indices, medians) of every probe; runs: board runs the search used."""

    index: np.ndarray
    value: np.ndarray
    monotonic: np.ndarray
    history: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    runs: int = 0


def _error(v: np.ndarray, target: float) -> np.ndarray:
    with np.errstate(all="ignore"):
        e = np.abs(np.log(v / target))
    return np.where(np.isfinite(e), e, np.inf)


def _finish(history: list[tuple[np.ndarray, np.ndarray]], target: float, slack: float) -> Search:
    """Pick, per core, the probed index whose median is nearest the target; check monotonicity."""
    idx = np.stack([h[0] for h in history])  # (P, n_cores)
    val = np.stack([h[1] for h in history])
    err = _error(val, target)
    best = np.argmin(err, axis=0)
    cols = np.arange(idx.shape[1])
    mono = np.ones(idx.shape[1], bool)
    for j in cols:
        order = np.argsort(idx[:, j], kind="stable")
        v = val[order, j]
        i = idx[order, j]
        ok = ~np.isnan(v)
        v, i = v[ok], i[ok]
        # a larger index (more current) must not give a clearly larger value
        rises = (np.diff(i) > 0) & (v[1:] > v[:-1] * (1 + slack))
        mono[j] = not rises.any()
    return Search(idx[best, cols], val[best, cols], mono, history, len(history))


class Algorithm(abc.ABC):
    """Search a grid for the code whose measured median equals `target`, for every core."""

    name: str = ""

    @abc.abstractmethod
    def search(self, probe: Probe, grid: CodeGrid, target: float, start: np.ndarray) -> Search:
        """`start`: (n_cores,) grid indices of the nominal conversion (a hint some ignore)."""

    def options(self) -> dict:
        return {}


@dataclass
class BinarySearch(Algorithm):
    """Plain bisection over the whole grid (`start` is ignored)."""

    slack: float = 0.02  # relative rise tolerated before a history counts as non-monotonic
    name = "binary"

    def _measure(self, probe: Probe, idx: np.ndarray) -> np.ndarray:
        return probe(idx)

    def _first(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        return (lo + hi) // 2

    def search(self, probe: Probe, grid: CodeGrid, target: float, start: np.ndarray) -> Search:
        n = start.size
        lo = np.zeros(n, np.int64)  # value(lo) > target assumed (smallest current)
        hi = np.full(n, len(grid) - 1, np.int64)  # value(hi) < target assumed
        history: list[tuple[np.ndarray, np.ndarray]] = []
        mid = self._first(lo, hi)
        while np.any(hi - lo > 1):
            open_ = hi - lo > 1
            mid = np.where(open_, mid, lo)
            v = self._measure(probe, mid)
            history.append((mid.copy(), v))
            above = v > target  # value too large: need more current
            lo = np.where(open_ & above, mid, lo)
            hi = np.where(open_ & ~above, mid, hi)
            mid = (lo + hi) // 2
        # the bracket ends may never have been probed: measure the ones that were not
        seen = {(j, int(i)) for ids, _ in history for j, i in enumerate(ids)}
        for end in (lo, hi):
            if any((j, int(i)) not in seen for j, i in enumerate(end)):
                history.append((end.copy(), self._measure(probe, end)))
        found = _finish(history, target, self.slack)
        found.runs = len(history) * self._runs_per_step()
        return found

    def _runs_per_step(self) -> int:
        return 1

    def options(self) -> dict:
        return {"slack": self.slack}


@dataclass
class NoisyBinarySearch(BinarySearch):
    """Bisection with `repeats` runs per step (their median) and a random first probe per core."""

    repeats: int = 3
    seed: int = 0
    name = "noisy-binary"

    def _measure(self, probe: Probe, idx: np.ndarray) -> np.ndarray:
        return np.median(np.stack([probe(idx) for _ in range(self.repeats)]), axis=0)

    def _runs_per_step(self) -> int:
        return self.repeats

    def _first(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        width = hi - lo
        return lo + width // 4 + rng.integers(0, np.maximum(width // 2, 1))

    def options(self) -> dict:
        return {"slack": self.slack, "repeats": self.repeats, "seed": self.seed}


@dataclass
class PredictiveModel(Algorithm):
    """Nominal conversion corrected by what the board measured (module docstring)."""

    max_runs: int = 5
    slack: float = 0.02
    name = "predictive"

    def search(self, probe: Probe, grid: CodeGrid, target: float, start: np.ndarray) -> Search:
        history: list[tuple[np.ndarray, np.ndarray]] = []
        idx = start.copy()
        seen: list[set[int]] = [set() for _ in idx]
        for _ in range(self.max_runs):
            v = probe(idx)
            history.append((idx.copy(), v))
            for s, i in zip(seen, idx, strict=True):
                s.add(int(i))
            # value = K / (F I): the current that gives the target is I * value / target; a core
            # that showed only a bound (every neuron silent: 0 or inf) moves by at most 8x
            with np.errstate(all="ignore"):
                ratio = np.clip(np.nan_to_num(v / target, nan=1.0), 1 / 8, 8)
            want = grid.current[idx] * ratio
            nxt = np.array([grid.nearest(float(w)) for w in want])
            if all(int(i) in s for s, i in zip(seen, nxt, strict=True)):
                break  # every core's prediction was measured already
            idx = nxt
        return _finish(history, target, self.slack)

    def options(self) -> dict:
        return {"max_runs": self.max_runs, "slack": self.slack}


ALGORITHMS: dict[str, type[Algorithm]] = {
    a.name: a for a in (BinarySearch, NoisyBinarySearch, PredictiveModel)
}
