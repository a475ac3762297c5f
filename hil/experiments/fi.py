"""Membrane experiments under DC drive: the f-I curve, the refractory period, hot and dead neurons.

All neurons of all cores are set (no synapses) with `latch_so_dc` on; the steps sweep the per-core
DC bias SOIF_DC_P (or, for the refractory period, SOIF_REFR_N under the strongest DC) with
`set_biases`. Currents in the tables are the *nominal* currents of the codes
(`hil.chip.biasgen.bias_current`): the host cannot see a neuron's own Idc, so a rheobase in amperes
is "the code current at which this neuron starts to fire".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hil.chip.biasgen import bias_code, bias_current
from hil.chip.netlist import PHYSICS, nominal_codes
from hil.experiments.base import (
    NEURONS_PER_CORE,
    Design,
    Experiment,
    Step,
    address_frame,
    all_neurons_config,
    per_core,
    spike_rates,
    step_neurons,
)
from hil.measure import Recording

if TYPE_CHECKING:
    import pandas as pd

DC = "SOIF_DC_P"
REFR = "SOIF_REFR_N"
# SOIF_DC_P codes of the default f-I sweep. Near the rheobase (Itau_mem about 5.3 pA with 10-30 %
# mismatch) on coarse 0, for the rheobase only; then coarse 2, whose 6.7 pA - 1.6 nA span the
# inputs of networks at 2-100 Hz, and overlapping stretches of coarses 3, 4 and 5 up to the largest
# code (855 nA). Overlaps let the fit separate each coarse branch's bias-generator error (one
# factor per core and branch) from the neurons' own parameters (hil.mismatch).
RHEO_CODES = tuple((0, f) for f in (20, 30, 40, 50, 60, 70, 85, 100, 130, 170))
FIT_CODES = (
    *((2, f) for f in (2, 3, 4, 5, 6, 8, 10, 13, 17, 22, 30, 45, 65, 90, 130, 180, 255)),
    *((3, f) for f in (10, 20, 60, 128, 255)),
    *((4, f) for f in (5, 30, 120, 255)),
    *((5, f) for f in (10, 40, 255)),
)
FI_CODES = RHEO_CODES + FIT_CODES
LOW_RATE_A = 2e-11  # below this nominal current the steps run longer (rates of a few Hz)
STRONG_DC = (5, 255)  # the largest DC code: 855 nA nominal
# Refractory codes: SOIF_REFR_N on the nominal code's coarse branch (3), t_ref about 1.75, 1.0 and
# 0.5 ms nominally; one branch, so the bias-generator error is one factor for all three.
REFR_CODES = ((3, 4), (3, 7), (3, 14))


def dc_code(amps: float) -> tuple[int, int]:
    """The SOIF_DC_P code nearest to `amps` [A]."""
    c, f = bias_code(DC, amps)
    return int(c), int(f)


def code_current(name: str, code: tuple[int, int]) -> float:
    """Nominal current [A] of device bias `name` at `code`."""
    return float(bias_current(name, *code))


def sweep_step(
    n_chips: int, n_per_core: int, name: str, code: tuple[int, int], prefix: str, duration_s: float
) -> Step:
    """One step of a sweep of device bias `name` over (coarse, fine) codes, on every core: the
    params record `<prefix>_coarse`, `<prefix>_fine` and the nominal current `<prefix>_a` [A]."""
    c, f = int(code[0]), int(code[1])
    return Step(
        params={
            "n_chips": n_chips,
            "n_per_core": n_per_core,
            f"{prefix}_coarse": c,
            f"{prefix}_fine": f,
            f"{prefix}_a": code_current(name, (c, f)),
        },
        duration_s=duration_s,
        biases=per_core(n_chips, name, (c, f)),
    )


def rate_matrix(steps: Sequence[Step], recordings: Sequence[Recording]) -> np.ndarray:
    """(steps, neurons) firing rates [Hz] of every neuron of the board in every step."""
    neurons = step_neurons(steps)
    return np.stack([spike_rates(r, neurons) for r in recordings])


@dataclass(frozen=True)
class FI(Experiment):
    """f-I curve: rate against the DC code, per neuron; rheobase, gain and saturation rate.

    Table columns: rheobase_a (nominal DC current where the rate first crosses `rheo_rate_hz`,
    linear interpolation between the bracketing codes; NaN when it never does), gain_hz_per_a
    (least-squares slope of rate against nominal current over the codes with rates between
    `rheo_rate_hz` and half the saturation rate), rate_sat_hz (rate at the largest code),
    tau_mem_s (Ut/kappa C_mem / rheobase_a: the membrane time constant if the rheobase were the
    leak current Itau_mem; the fit (hil.mismatch) refines it), and rate_hz_<k> per step is left to
    `curves` (the long form)."""

    codes: tuple[tuple[int, int], ...] = FI_CODES
    duration_s: float = 0.4
    low_duration_s: float = 1.0
    rheo_rate_hz: float = 2.0
    n_per_core: int = NEURONS_PER_CORE  # neurons 0..n_per_core-1 of every core
    name: str = "fi"

    def design(self, n_chips: int) -> Design:
        cfg = all_neurons_config(n_chips, {"latch_so_dc": True}, n_per_core=self.n_per_core)
        steps = tuple(
            sweep_step(n_chips, self.n_per_core, DC, code, "dc", self._duration(code))
            for code in self.codes
        )
        return Design(cfg, steps)

    def _duration(self, code: tuple[int, int]) -> float:
        """Longer steps where the drive is weak (rates near the rheobase)."""
        return self.low_duration_s if code_current(DC, code) < LOW_RATE_A else self.duration_s

    def analyse(self, steps: Sequence[Step], recordings: Sequence[Recording]) -> pd.DataFrame:
        x = np.array([s.params["dc_a"] for s in steps])
        r = rate_matrix(steps, recordings)  # (K, n)
        order = np.argsort(x)
        x, r = x[order], r[order]
        df = address_frame(step_neurons(steps))
        df["rheobase_a"] = _crossing(x, r, self.rheo_rate_hz)
        sat = r[-1]
        df["rate_sat_hz"] = sat
        df["gain_hz_per_a"] = _slope(x, r, self.rheo_rate_hz, 0.5 * sat)
        ut_k = PHYSICS.Ut / PHYSICS.kappa
        df["tau_mem_s"] = ut_k * PHYSICS.C_mem / df["rheobase_a"]
        return df


def _crossing(x: np.ndarray, r: np.ndarray, level: float) -> np.ndarray:
    """Per column of r (K, n): x where r first reaches `level` (linear between codes), NaN when
    it never does; x[0] when it already does at the first code."""
    above = r >= level
    first = np.argmax(above, axis=0)
    out = np.full(r.shape[1], np.nan)
    any_ = above.any(axis=0)
    j = np.arange(r.shape[1])
    k = first[any_]
    jj = j[any_]
    lo = np.maximum(k - 1, 0)
    r0, r1 = r[lo, jj], r[k, jj]
    x0, x1 = x[lo], x[k]
    frac = np.where(r1 > r0, (level - r0) / np.maximum(r1 - r0, 1e-30), 1.0)
    out[any_] = np.where(k == 0, x[0], x0 + np.clip(frac, 0, 1) * (x1 - x0))
    return out


def _slope(x: np.ndarray, r: np.ndarray, lo: float, hi: np.ndarray) -> np.ndarray:
    """Least-squares slope of r against x per column over the rows with lo <= r <= hi[col]."""
    w = (r >= lo) & (r <= hi[None, :])
    n = w.sum(0)
    xm = (w * x[:, None]).sum(0) / np.maximum(n, 1)
    rm = (w * r).sum(0) / np.maximum(n, 1)
    sxx = (w * (x[:, None] - xm) ** 2).sum(0)
    sxr = (w * (x[:, None] - xm) * (r - rm)).sum(0)
    return np.where((n >= 2) & (sxx > 0), sxr / np.where(sxx > 0, sxx, 1.0), np.nan)


@dataclass(frozen=True)
class Refractory(Experiment):
    """Refractory period under the strongest DC, from several SOIF_REFR_N codes on one coarse
    branch: the membrane's own time to threshold T is the same at every code, so per neuron
    1 / rate_i = T + Vth C_ref / (a I_i), with I_i the nominal code currents, is linear in 1 / I_i
    (least squares). `a` is the neuron's effective Iref factor (per-neuron mismatch x per-core
    mismatch x the branch's generator error).

    Table columns: t_ref_s (at the nominal SOIF_REFR_N code), iref_factor (a), t_th_s (T under
    the strongest DC), rate_sat_hz (at the nominal code), refr_resid_s (RMS residual of the
    linear fit of 1/rate), iref_rel_se (standard error of a, relative); NaN for a neuron that does
    not fire at every code."""

    codes: tuple[tuple[int, int], ...] = REFR_CODES
    duration_s: float = 0.3
    n_per_core: int = NEURONS_PER_CORE  # neurons 0..n_per_core-1 of every core
    name: str = "refractory"

    def design(self, n_chips: int) -> Design:
        cfg = all_neurons_config(n_chips, {"latch_so_dc": True}, {DC: STRONG_DC}, self.n_per_core)
        steps = tuple(
            Step(
                params={"n_chips": n_chips, "n_per_core": self.n_per_core, "iref_a": code_current(REFR, code), "coarse": code[0],
                        "fine": code[1]},
                duration_s=self.duration_s,
                biases=per_core(n_chips, REFR, code),
            )
            for code in self.codes
        )  # fmt: skip
        return Design(cfg, steps)

    def analyse(self, steps: Sequence[Step], recordings: Sequence[Recording]) -> pd.DataFrame:
        x = np.array([s.params["iref_a"] for s in steps])
        r = rate_matrix(steps, recordings)  # (K, n)
        df = address_frame(step_neurons(steps))
        ok = (r > 0).all(0)
        inv = 1.0 / np.where(r > 0, r, np.nan)  # (K, n)
        k = PHYSICS.Vth * PHYSICS.C_ref
        A = np.stack([np.ones_like(x), k / x], axis=1)  # unknowns T and 1/a
        coef, *_ = np.linalg.lstsq(A, np.nan_to_num(inv), rcond=None)  # (2, n)
        T, inv_a = coef
        resid = np.sqrt(np.mean((A @ coef - np.nan_to_num(inv)) ** 2, axis=0))
        good = ok & (inv_a > 0)
        nominal = code_current(REFR, nominal_codes()[REFR])
        a = np.where(good, 1.0 / np.where(good, inv_a, 1.0), np.nan)
        df["t_ref_s"] = k / (a * nominal)
        df["iref_factor"] = a
        df["t_th_s"] = np.where(good, T, np.nan)
        i_nom = int(np.argmin(np.abs(x - nominal)))
        df["rate_sat_hz"] = r[i_nom]
        df["refr_resid_s"] = np.where(good, resid, np.nan)
        # standard error of the Iref factor (relative), from the fit's residual: dof K - 2
        dof = max(x.size - 2, 1)
        s2 = (resid**2) * x.size / dof
        var_inv_a = s2 * np.linalg.inv(A.T @ A)[1, 1]
        df["iref_rel_se"] = np.where(good, np.sqrt(var_inv_a) / np.where(good, inv_a, 1.0), np.nan)
        return df


@dataclass(frozen=True)
class HotDead(Experiment):
    """Hot and dead neurons: spontaneous firing with no input (DC latch off, no synapses), and
    silence under the strongest DC.

    Table columns: spont_rate_hz, driven_rate_hz, hot (spontaneous rate >= hot_rate_hz),
    dead (no spike under the strongest drive)."""

    spont_duration_s: float = 2.0
    driven_duration_s: float = 0.1
    hot_rate_hz: float = 1.0
    n_per_core: int = NEURONS_PER_CORE  # neurons 0..n_per_core-1 of every core
    name: str = "hotdead"

    def design(self, n_chips: int) -> Design:
        # the DC latch is on, and the DC code goes from the floor (0, 0), 0.14 pA nominal (far below
        # any rheobase), to the strongest one: a hot neuron's extra input is always on
        cfg = all_neurons_config(n_chips, {"latch_so_dc": True}, {DC: (0, 0)}, self.n_per_core)
        steps = (
            Step(
                {"n_chips": n_chips, "n_per_core": self.n_per_core, "drive": "none"},
                self.spont_duration_s,
            ),
            Step(
                {"n_chips": n_chips, "n_per_core": self.n_per_core, "drive": "strong"},
                self.driven_duration_s,
                biases=per_core(n_chips, DC, STRONG_DC),
            ),
        )
        return Design(cfg, steps)

    def analyse(self, steps: Sequence[Step], recordings: Sequence[Recording]) -> pd.DataFrame:
        r = rate_matrix(steps, recordings)
        df = address_frame(step_neurons(steps))
        df["spont_rate_hz"] = r[0]
        df["driven_rate_hz"] = r[1]
        df["dead"] = r[1] == 0
        df["hot"] = (r[0] >= self.hot_rate_hz) & ~df["dead"].to_numpy()
        return df
