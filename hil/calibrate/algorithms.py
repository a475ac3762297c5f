"""How to search: algorithms over a bias's monotone code grid, vectorized over cores.

Every calibrated quantity falls as its bias current rises (value = K / I), so along the grid
(hil.calibrate.grid, increasing current) a core's measured median falls. An algorithm gets
`probe(codes) -> medians` (one board run for every core at once) and returns, per core, the code
it settled on, the median measured there, and every (codes, medians) it saw.

- BinarySearch: halve each core's bracket until it is one step wide (~11 runs over the full grid),
  then keep the probed code nearest the target (calix's BinarySearch keeps the best of the last
  ones). The history is checked for monotonicity: a measured median that rises with the current by
  more than `slack` marks the core non-monotonic (e.g. a coarse-branch error of the generator).
- NoisyBinarySearch: the same with `repeats` runs per step (median of them) and a random start
  inside the bracket per core (calix's NoisyBinarySearch: not every core at the same code).
- PredictiveModel: the nominal conversion (value = K / I_code) corrected per core and coarse
  branch by a factor F = K / (I_code * measured), re-estimated after each run at the code it
  predicts, over every branch that can give the current (a target in the gap that two branches'
  generator errors leave at their boundary is reached on the other branch); stops when the
  predicted code repeats. Typically 2-3 runs.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hil.calibrate.grid import CodeGrid, fine_for
from hil.chip.biasgen import bias_current
from hil.chip.geometry import COARSE_MAX, FINE_MAX

Codes = np.ndarray  # (n_cores, 2) int64 (coarse, fine) per core
Probe = Callable[[Codes], np.ndarray]  # codes -> (n_cores,) medians [s], one board run


@dataclass
class Search:
    """Per core: the chosen code (n_cores, 2), the median measured there [s], whether the history
    was monotone on every coarse branch; history: (codes, medians) of every probe (a step's median
    where it took several runs); runs: board runs the search used."""

    code: Codes
    value: np.ndarray
    monotonic: np.ndarray
    history: list[tuple[Codes, np.ndarray]] = field(default_factory=list)
    runs: int = 0


def _error(v: np.ndarray, target: float) -> np.ndarray:
    with np.errstate(all="ignore"):
        e = np.abs(np.log(v / target))
    return np.where(np.isfinite(e), e, np.inf)


def _finish(history: list[tuple[Codes, np.ndarray]], target: float, slack: float) -> Search:
    """Pick, per core, the probed code whose median is nearest the target; check that on every
    coarse branch a larger fine value (more current) never gave a clearly larger value."""
    codes = np.stack([h[0] for h in history])  # (P, n_cores, 2)
    val = np.stack([h[1] for h in history])  # (P, n_cores)
    best = np.argmin(_error(val, target), axis=0)
    cols = np.arange(val.shape[1])
    mono = np.ones(val.shape[1], bool)
    for j in cols:
        for c in np.unique(codes[:, j, 0]):
            on = (codes[:, j, 0] == c) & ~np.isnan(val[:, j])
            f, v = codes[on, j, 1], val[on, j]
            order = np.argsort(f, kind="stable")
            f, v = f[order], v[order]
            rises = (np.diff(f) > 0) & (v[1:] > v[:-1] * (1 + slack))
            mono[j] &= not rises.any()
    return Search(codes[best, cols], val[best, cols], mono, history, len(history))


def _ratio(value: float, target: float) -> float:
    """How much more current the target needs than the code measured: value / target, within
    [1/8, 8] (0 and inf, a core whose neurons all showed a bound, move by 8x; NaN stays)."""
    if np.isnan(value):
        return 1.0
    if value == 0:
        return 1 / 8
    return float(np.clip(value / target, 1 / 8, 8))


class Algorithm(abc.ABC):
    """Search a bias's codes for the one whose measured median equals `target`, every core."""

    name: str = ""

    @abc.abstractmethod
    def search(self, probe: Probe, grid: CodeGrid, target: float, start: Codes) -> Search:
        """`start`: (n_cores, 2) codes of the nominal conversion (a hint some ignore)."""

    def options(self) -> dict:
        return {}


@dataclass
class BinarySearch(Algorithm):
    """Plain bisection over the whole monotone grid (`start` is ignored)."""

    slack: float = 0.02  # relative rise tolerated before a history counts as non-monotonic
    name = "binary"

    def _measure(self, probe: Probe, codes: Codes) -> np.ndarray:
        return probe(codes)

    def _runs_per_step(self) -> int:
        return 1

    def _first(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        return (lo + hi) // 2

    def search(self, probe: Probe, grid: CodeGrid, target: float, start: Codes) -> Search:
        n = len(start)
        lo = np.zeros(n, np.int64)  # value(lo) > target assumed (smallest current)
        hi = np.full(n, len(grid) - 1, np.int64)  # value(hi) < target assumed
        history: list[tuple[Codes, np.ndarray]] = []
        seen: set[tuple[int, int]] = set()

        def at(idx: np.ndarray) -> np.ndarray:
            codes = np.stack([grid.coarse[idx], grid.fine[idx]], axis=1)
            v = self._measure(probe, codes)
            history.append((codes, v))
            seen.update((j, int(i)) for j, i in enumerate(idx))
            return v

        mid = self._first(lo, hi)
        while np.any(hi - lo > 1):
            open_ = hi - lo > 1
            mid = np.where(open_, mid, lo)
            above = at(mid) > target  # value too large: need more current
            lo = np.where(open_ & above, mid, lo)
            hi = np.where(open_ & ~above, mid, hi)
            mid = (lo + hi) // 2
        for end in (lo, hi):  # the bracket ends may never have been probed
            if any((j, int(i)) not in seen for j, i in enumerate(end)):
                at(end)
        found = _finish(history, target, self.slack)
        found.runs = len(history) * self._runs_per_step()
        return found

    def options(self) -> dict:
        return {"slack": self.slack}


@dataclass
class NoisyBinarySearch(BinarySearch):
    """Bisection with `repeats` runs per step (their median) and a random first probe per core."""

    repeats: int = 3
    seed: int = 0
    name = "noisy-binary"

    def _measure(self, probe: Probe, codes: Codes) -> np.ndarray:
        return np.median(np.stack([probe(codes) for _ in range(self.repeats)]), axis=0)

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
    """Nominal conversion corrected by what the board measured, per coarse branch.

    value = K / (F_c I_code): each run gives, per core, the factor F_c of the branch it ran on
    (the silicon's generator error differs per coarse branch). The next code is the one whose
    predicted value is nearest the target over every branch that can give the current: with the
    branch's own F_c where measured, else the last one measured (then counted `explore` worse, so
    a known branch wins unless it cannot get close). Stops when every core's next code was
    measured already, or after `max_runs`.
    """

    max_runs: int = 5
    slack: float = 0.02
    explore: float = 0.01  # penalty [relative] of a branch whose factor is not measured yet
    name = "predictive"

    def search(self, probe: Probe, grid: CodeGrid, target: float, start: Codes) -> Search:
        history: list[tuple[Codes, np.ndarray]] = []
        codes = np.array(start, np.int64)
        n = len(codes)
        seen: list[set[tuple[int, int]]] = [set() for _ in range(n)]
        need: list[dict[int, float]] = [{} for _ in range(n)]  # branch -> nominal current wanted
        last: list[float] = [0.0] * n
        for _ in range(self.max_runs):
            v = probe(codes)
            history.append((codes.copy(), v))
            nxt = codes.copy()
            for j in range(n):
                c, f = int(codes[j, 0]), int(codes[j, 1])
                seen[j].add((c, f))
                # value = K / (F I): the current that gives the target is I * value / target; a
                # core that showed only a bound (every neuron silent: 0 or inf) moves by <= 8x
                ratio = _ratio(float(v[j]), target)
                need[j][c] = float(bias_current(grid.bias, c, f)) * ratio
                last[j] = need[j][c]
                nxt[j] = self._choose(grid, need[j], last[j])
            if all((int(a), int(b)) in s for s, (a, b) in zip(seen, nxt, strict=True)):
                break  # every core's prediction was measured already
            codes = nxt
        return _finish(history, target, self.slack)

    def _choose(self, grid: CodeGrid, need: dict[int, float], last: float) -> np.ndarray:
        """The code, over every coarse branch, whose current is nearest (in ratio) to what that
        branch needs; an unmeasured branch is assumed to need `last` and pays `explore`."""
        best, best_err = np.array([0, 0]), np.inf
        for c in range(COARSE_MAX + 1):
            want = need.get(c, last)
            f = fine_for(grid.bias, c, want)
            if not -0.5 <= f <= FINE_MAX + 0.5:
                continue
            fi = int(np.clip(round(f), 0, FINE_MAX))
            err = abs(np.log(float(bias_current(grid.bias, c, fi)) / want))
            err += 0.0 if c in need else self.explore
            if err < best_err:
                best, best_err = np.array([c, fi]), err
        if not np.isfinite(best_err):  # beyond every branch: the nearest end of the grid
            i = grid.nearest(last)
            best = np.array(grid.code(i))
        return best

    def options(self) -> dict:
        return {"max_runs": self.max_runs, "slack": self.slack, "explore": self.explore}


ALGORITHMS: dict[str, type[Algorithm]] = {
    a.name: a for a in (BinarySearch, NoisyBinarySearch, PredictiveModel)
}
