"""The per-core bias generator: (coarse, fine) codes <-> currents in amperes.

Model (documented in docs/chip.md). Each parameter has a transistor type (N or P) and a scale factor.
For a type T and coarse value c the generator spans from a leakage floor I_floor(T, c) at fine = 0 to
I_max(T, c) at fine = 255, linearly in the fine value:

    I(name, c, f) = scale(name) * (I_floor(T, c) + f / 255 * (I_max(T, c) - I_floor(T, c)))

Numbers: the envelope of SynSense's measured generator table as Rockpool 3.1.0 ships it
(`lookup/paramgen.py`, `lookup/scaling.py`), restated in shared/reference/rockpool_dynapse.md section 2:
I_max and I_floor per coarse value and the per-parameter scale factors. The real table departs from
the straight line by up to ~20 % at fine <= 8 and 2-3 % at fine 128-192; hil models the straight line
and leaves the rest to per-chip calibration (the emulator's silicon adds a per-core generator error).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hil.chip.geometry import COARSE_MAX, FINE_MAX
from hil.errors import ConfigError

# Current at fine = 255, per coarse value 0..5 [A] (rockpool_dynapse.md section 2, table envelope).
I_MAX = {
    "N": np.array([7.18e-11, 5.73e-10, 4.57e-09, 3.64e-08, 2.90e-07, 2.28e-06]),
    "P": np.array([6.69e-11, 5.36e-10, 4.30e-09, 3.45e-08, 2.77e-07, 2.25e-06]),
}
# Leakage floor at fine = 0, per coarse value [A].
I_FLOOR = {
    "N": np.array([4.9e-13, 9.4e-13, 1.06e-12, 1.08e-12, 1.08e-12, 1.08e-12]),
    "P": np.array([3.7e-13, 6.6e-13, 7.5e-13, 7.6e-13, 7.6e-13, 7.6e-13]),
}


@dataclass(frozen=True)
class BiasParameter:
    """One per-core bias: its device name, transistor type ('N' or 'P') and scale factor."""

    name: str
    type: str
    scale: float
    doc: str


def _p(name: str, scale: float, doc: str) -> BiasParameter:
    return BiasParameter(name, name[-1], scale, doc)


# Device names, scale factors: rockpool_dynapse.md section 2 ("Scale factors").
PARAMETERS: dict[str, BiasParameter] = {
    p.name: p
    for p in (
        _p("SOIF_LEAK_N", 0.61, "membrane leak (Itau_mem)"),
        _p("SOIF_GAIN_N", 1.05, "membrane gain (Igain_mem)"),
        _p("SOIF_REFR_N", 1.05, "refractory period (Iref)"),
        _p("SOIF_SPKTHR_P", 0.38, "spike threshold (Ispkthr)"),
        _p("SOIF_DC_P", 0.38, "DC input (Idc), gated per neuron by latch_so_dc"),
        _p("SOAD_GAIN_P", 0.68, "adaptation gain (Igain_ahp)"),
        _p("SOAD_TAU_P", 0.2, "adaptation time constant (Itau_ahp)"),
        _p("SOAD_W_N", 0.92, "adaptation weight per spike (Iw_ahp)"),
        _p("SOAD_PWTAU_N", 0.92, "adaptation pulse width (Ipulse_ahp)"),
        _p("DEAM_ETAU_P", 0.2, "AMPA time constant (Itau_ampa)"),
        _p("DEAM_EGAIN_P", 0.68, "AMPA gain (Igain_ampa)"),
        _p("DEGA_ITAU_P", 0.2, "GABA time constant (Itau_gaba)"),
        _p("DEGA_IGAIN_P", 0.68, "GABA gain (Igain_gaba)"),
        _p("DENM_ETAU_P", 0.2, "NMDA time constant (Itau_nmda)"),
        _p("DENM_EGAIN_P", 0.68, "NMDA gain (Igain_nmda)"),
        _p("DENM_NMREV_N", 1.05, "NMDA gating threshold (If_nmda)"),
        _p("DESC_ITAU_P", 0.2, "SHUNT time constant (Itau_shunt)"),
        _p("DESC_IGAIN_P", 0.68, "SHUNT gain (Igain_shunt)"),
        _p("SYPD_EXT_N", 0.92, "synaptic pulse width (Ipulse)"),
        _p("SYAM_W0_P", 0.22, "base weight 0 (Iw_0)"),
        _p("SYAM_W1_P", 0.22, "base weight 1 (Iw_1)"),
        _p("SYAM_W2_P", 0.22, "base weight 2 (Iw_2)"),
        _p("SYAM_W3_P", 0.22, "base weight 3 (Iw_3)"),
        _p("SYAW_STDSTR_N", 0.2, "short-term plasticity strength (not simulated)"),
        _p("SYAM_STDW_N", 0.67, "short-term plasticity weight (not simulated)"),
    )
}


def parameter(name: str) -> BiasParameter:
    """Look up a bias by device name; an unknown name is a ConfigError listing the known ones."""
    try:
        return PARAMETERS[name]
    except KeyError:
        raise ConfigError("parameter", name, "one of " + ", ".join(sorted(PARAMETERS))) from None


def _check_codes(coarse: np.ndarray, fine: np.ndarray) -> None:
    if np.any((coarse < 0) | (coarse > COARSE_MAX)):
        bad = coarse[(coarse < 0) | (coarse > COARSE_MAX)].flat[0]
        raise ConfigError("coarse", int(bad), f"integers 0..{COARSE_MAX}")
    if np.any((fine < 0) | (fine > FINE_MAX)):
        bad = fine[(fine < 0) | (fine > FINE_MAX)].flat[0]
        raise ConfigError("fine", int(bad), f"integers 0..{FINE_MAX}")


def bias_current(name: str, coarse: np.ndarray | int, fine: np.ndarray | int) -> np.ndarray:
    """Current [A] that bias `name` produces at (coarse, fine); numpy-vectorized, broadcasting."""
    p = parameter(name)
    try:
        c = np.asarray(coarse, dtype=np.int64)
        f = np.asarray(fine, dtype=np.int64)
    except (OverflowError, TypeError, ValueError):
        raise ConfigError(
            "(coarse, fine)", (coarse, fine), f"integers 0..{COARSE_MAX}, 0..{FINE_MAX}"
        ) from None
    _check_codes(c, f)
    lo, hi = I_FLOOR[p.type][c], I_MAX[p.type][c]
    return p.scale * (lo + f / FINE_MAX * (hi - lo))


def current_range(name: str) -> tuple[float, float]:
    """(smallest, largest) current [A] that bias `name` can produce."""
    p = parameter(name)
    return p.scale * float(I_FLOOR[p.type].min()), p.scale * float(I_MAX[p.type].max())


def bias_code(name: str, amps: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest achievable (coarse, fine) code for a current [A]; vectorized over `amps`.

    For every coarse value the best fine value follows from inverting the linear model; the coarse
    value whose current lies nearest to the target wins (ties go to the lower coarse value).
    Currents outside `current_range(name)` map to the end codes: below the range to the lowest
    current, above it to the highest (coarse 5, fine 255). `hil bias code` refuses them instead.
    """
    p = parameter(name)
    target = np.asarray(amps, dtype=np.float64)
    if np.any(~np.isfinite(target)) or np.any(target < 0):
        raise ConfigError(
            "current", target[~np.isfinite(target) | (target < 0)].flat[0], "finite currents >= 0 A"
        )
    lo = I_FLOOR[p.type][:, None] * p.scale  # (6, 1)
    hi = I_MAX[p.type][:, None] * p.scale
    # Clip first: far outside the range every coarse value is equally far in float64 (1e11 A minus
    # any achievable current rounds to the same number), and the search would pick coarse 0.
    flat = np.clip(target.reshape(1, -1), lo.min(), hi.max())
    fine = np.clip(np.rint((flat - lo) / (hi - lo) * FINE_MAX), 0, FINE_MAX)
    got = lo + fine / FINE_MAX * (hi - lo)
    best = np.argmin(np.abs(got - flat), axis=0)
    cols = np.arange(flat.shape[1])
    coarse_out = best.reshape(target.shape).astype(np.int64)
    fine_out = fine[best, cols].reshape(target.shape).astype(np.int64)
    return coarse_out, fine_out
