"""The monotone code grid of one bias: its (coarse, fine) codes ordered by nominal current.

Coarse ranges overlap (each spans about 8x, the next starts below where it ends). The grid keeps,
for every current, the code with the lowest coarse value that reaches it: coarse 0 from fine 0,
then each coarse c only where it exceeds coarse c - 1's largest current. That gives a strictly
increasing sequence of about 1370 codes with the finest steps available (fine >= ~32 after coarse
0, so adjacent codes differ by at most ~3 %). Searching by index keeps each step on one coarse
branch except at the boundaries, where the silicon's per-branch generator error can break
monotonicity; the algorithms check for that (hil.calibrate.algorithms).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from hil.chip.biasgen import bias_current
from hil.chip.geometry import COARSE_MAX, FINE_MAX


@dataclass(frozen=True)
class CodeGrid:
    """coarse, fine: (G,) int64 codes; current: (G,) nominal current [A], strictly increasing."""

    bias: str
    coarse: np.ndarray
    fine: np.ndarray
    current: np.ndarray

    def __len__(self) -> int:
        return int(self.current.size)

    def code(self, index: int) -> tuple[int, int]:
        return int(self.coarse[index]), int(self.fine[index])

    def nearest(self, amps: float) -> int:
        """Index of the code whose nominal current is nearest to `amps` in ratio."""
        i = int(np.searchsorted(self.current, amps))
        cand = [j for j in (i - 1, i) if 0 <= j < len(self)]
        return min(cand, key=lambda j: abs(np.log(self.current[j] / amps)))


@cache
def grid(bias: str) -> CodeGrid:
    """The monotone grid of device bias `bias` (cached: it depends on the name only)."""
    coarse, fine, cur = [], [], []
    top = -np.inf
    for c in range(COARSE_MAX + 1):
        f = np.arange(FINE_MAX + 1)
        i = bias_current(bias, c, f)
        keep = i > top
        coarse.append(np.full(int(keep.sum()), c))
        fine.append(f[keep])
        cur.append(i[keep])
        top = float(i.max())
    return CodeGrid(bias, np.concatenate(coarse), np.concatenate(fine), np.concatenate(cur))


def fine_for(bias: str, coarse: int, amps: float) -> float:
    """The (unrounded) fine value at which coarse branch `coarse` of `bias` gives `amps` [A]
    nominally; outside 0..255 where that branch cannot."""
    lo = float(bias_current(bias, coarse, 0))
    hi = float(bias_current(bias, coarse, FINE_MAX))
    return (amps - lo) / (hi - lo) * FINE_MAX
