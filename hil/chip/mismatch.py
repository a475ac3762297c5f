"""Multiplicative mismatch factors: the one sampler the simulator's instances (hil.sim.mismatch)
and the emulated silicon's hidden truth (hil.emulator.silicon) draw from.

A parameter p becomes p * f with f drawn around 1 with relative spread `sigma` from one of
`FAMILIES`. Which parameters exist and what they are called: hil.chip.netlist (PARAMETERS, and
the element names such as Itau_ampa or C_mem).
"""

from __future__ import annotations

import math

import numpy as np

from hil.errors import ConfigError

FAMILIES = ("lognormal", "normal", "uniform")
FACTOR_FLOOR = 0.05  # normal and uniform factors are clipped here so that a value stays positive


def draw_factors(
    rng: np.random.Generator, family: str, sigma: float, shape: tuple[int, ...]
) -> np.ndarray:
    """Multiplicative factors around 1 with relative spread `sigma`, float64 of shape `shape`.

    lognormal: exp(sigma z) (median 1); normal: 1 + sigma z; uniform: 1 + sigma sqrt(3) (2u - 1)
    (std sigma); the last two are clipped at FACTOR_FLOOR so that a current never turns negative
    or zero. z ~ N(0, 1), u ~ U(0, 1) from `rng`.
    """
    if family not in FAMILIES:
        raise ConfigError("family", family, "one of " + ", ".join(FAMILIES))
    try:
        ok = not isinstance(sigma, bool) and 0 <= float(sigma) < math.inf
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError("sigma", sigma, "a finite relative spread >= 0")
    if family == "lognormal":
        return np.exp(sigma * rng.standard_normal(shape))
    if family == "normal":
        return np.maximum(1.0 + sigma * rng.standard_normal(shape), FACTOR_FLOOR)
    return np.maximum(1.0 + sigma * math.sqrt(3.0) * (2.0 * rng.random(shape) - 1.0), FACTOR_FLOOR)
