"""hil.sim.fastmath32's fused multiply-add against float64 arithmetic (an independent oracle)."""

from __future__ import annotations

import numpy as np
from numba import njit

from hil.sim.fastmath32 import fma32


@njit(cache=False)
def _fma_all(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        out[i] = fma32(a[i], b[i], c[i])
    return out


def test_fma32_rounds_the_exact_product_plus_sum_once() -> None:
    rng = np.random.default_rng(7)
    a, b = (rng.normal(0, 1, 10_000).astype(np.float32) for _ in range(2))
    c = (-(a.astype(np.float64) * b) * (1 + rng.normal(0, 1e-6, 10_000))).astype(np.float32)
    got = _fma_all(a, b, c)
    # a b is exact in float64 (48 of 53 bits) and so is a b + c here (c cancels most of it):
    # rounding that once to float32 is the correctly rounded fused result
    want = (a.astype(np.float64) * b + c).astype(np.float32)
    np.testing.assert_array_equal(got, want)
    separate = a * b + c  # rounded twice: differs from the fused result in many lanes
    assert (separate != want).mean() > 0.1
