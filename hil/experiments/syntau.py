"""Per-neuron synaptic time constants from spike times: the one estimator of tau_ampa, tau_nmda,
tau_gaba and tau_shunt. The characterization runs it as the experiments `tau_<kind>` (SynTau, in
`hil characterize`; hil.mismatch puts the result into the twin); calibration
(hil.calibrate.measure) runs the same setups, stimuli and estimators at the codes its search
probes.

Two designs, both independent of the neuron's weight, synaptic gain, membrane gain, threshold and
refractory period (they enter only through quantities each estimator cancels or fits):

- **silence** (inhibitory: GABA, SHUNT). A DC-driven neuron (net drive ~100 pA) gets an
  inhibitory kick of charge G at t0: I_s = G exp(-(t - t0)/tau). The neuron is pinned at rest
  while I_s outweighs its net drive (GABA: a leak; SHUNT: it cancels the DC input before the
  floor at 0) and fires again a fixed time after I_s has decayed to a level of its own. A kick
  of N spikes at once (charge N G: the DPI charges linearly) gives the same input shifted by
  tau ln N, and the pinned membrane forgets everything before, so the silences differ by exactly
  tau ln N: tau = (D_N - D_1) / ln N per neuron, from one run with both kicks.
- **train** (excitatory: AMPA, NMDA with its gate latch off, i.e. ungated). No DC, the leak at
  its floor, a refractory period R ~ tau/10: after one kick A exp(-(t - t0)/tau) the neuron fires
  a slowing train; in the subthreshold regime each charge from rest ends when the drive has
  delivered a fixed charge, so each spike time follows from the one before
  (hil.experiments.models.fit_train); (A / K L, tau, R) are fitted per neuron to its whole train.

Values: tau [s] per neuron; 0 where the response shows tau is below what the run resolves, inf
where it is above (the run ended first), NaN where a neuron gives nothing to measure.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hil import events as ev
from hil.chip.biasgen import bias_code, bias_current
from hil.chip.geometry import COARSE_MAX, FINE_MAX
from hil.chip.netlist import nominal_codes
from hil.errors import ConfigError
from hil.experiments.base import (
    NEURONS_PER_CORE,
    Design,
    Experiment,
    Step,
    address_frame,
    step_neurons,
)
from hil.experiments.models import K_MEM, PHYS, fit_train
from hil.experiments.synapse import KINDS, channel, slot_config
from hil.measure import Recording

if TYPE_CHECKING:
    import pandas as pd

TAU_BIAS = {"ampa": "DEAM_ETAU_P", "nmda": "DENM_ETAU_P", "gaba": "DEGA_ITAU_P",
            "shunt": "DESC_ITAU_P"}  # fmt: skip
GAIN_BIAS = {"ampa": "DEAM_EGAIN_P", "nmda": "DENM_EGAIN_P", "gaba": "DEGA_IGAIN_P",
             "shunt": "DESC_IGAIN_P"}  # fmt: skip
WEIGHT_BIAS = "SYAM_W0_P"  # base weight Iw_0: the kick's slot selects it alone
METHOD = {"ampa": "train", "nmda": "train", "gaba": "silence", "shunt": "silence"}
MAX_CODE = (COARSE_MAX, FINE_MAX)
KICK_THRESHOLD_A = 10e-9  # spike threshold of both designs [A]
SYN_GAIN_A = 100e-9  # synaptic gain of both designs [A]
MAX_RUN_S = 5.0  # no run is longer
# silence design
SILENCE_KICKS = 16  # spikes of the big kick
LEAK_A = 50e-12  # SOIF_LEAK_N
NET_DRIVE_A = 100e-12  # DC minus leak, nominally [A]
KICK_A = 10e-9  # nominal jump of the synaptic current per spike: ~100x the net drive [A]
SETTLE_S = 0.005
# train design
TRAIN_CHARGES = 30  # the kick's charge in threshold charges K L: ~30 spikes
TRAIN_MIN_SPIKES = 6  # fewer: the kick's charge ran out at once (tau below what the run shows)
TRAIN_T0_US = 5000
TRAIN_SPAN = 12  # a train run lasts this many time constants after the kick


def capacitance(kind: str) -> float:
    """Nominal capacitance [F] of synapse type `kind`."""
    return float(getattr(PHYS, f"C_{_kind(kind)}"))


def tau_of_current(kind: str, itau: np.ndarray | float) -> np.ndarray:
    """tau [s] = (Ut/kappa) C_kind / Itau (currents below Io act as Io, as in the dynamics)."""
    return PHYS.Ut / PHYS.kappa * capacitance(kind) / np.maximum(np.asarray(itau, float), PHYS.Io)


def current_of_tau(kind: str, tau: np.ndarray | float) -> np.ndarray:
    """Itau [A] = (Ut/kappa) C_kind / tau (the inverse of tau_of_current above Io)."""
    return PHYS.Ut / PHYS.kappa * capacitance(kind) / np.asarray(tau, float)


def nominal_tau(kind: str) -> float:
    """tau [s] of `kind` at its bias's nominal code."""
    b = TAU_BIAS[_kind(kind)]
    return float(tau_of_current(kind, float(bias_current(b, *nominal_codes()[b]))))


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError("kind", kind, ", ".join(KINDS))
    return kind


def _code(bias: str, amps: float) -> tuple[int, int]:
    c, f = bias_code(bias, amps)
    return int(c), int(f)


def _pulse_width() -> float:
    """Nominal synaptic pulse width t_pulse [s] (SYPD_EXT_N at its nominal code)."""
    return (
        PHYS.Vth * PHYS.C_pulse / float(bias_current("SYPD_EXT_N", *nominal_codes()["SYPD_EXT_N"]))
    )


def _weight_for(kind: str, jump_a: float) -> tuple[int, int]:
    """The Iw_0 code whose spike raises synapse `kind`'s current by about `jump_a` [A] at gain
    SYN_GAIN_A: jump ~ Igain Iw t_pulse / ((Ut/kappa) C)."""
    w = jump_a * PHYS.Ut / PHYS.kappa * capacitance(kind) / (SYN_GAIN_A * _pulse_width())
    return _code(WEIGHT_BIAS, w)


# ---- the silence design (GABA, SHUNT) -------------------------------------------------------------


def silence_biases(kind: str) -> dict[str, tuple[int, int]]:
    """Per-core biases of the silence design (DC latch on; the tau bias is the caller's)."""
    return {
        "SOIF_DC_P": _code("SOIF_DC_P", LEAK_A + NET_DRIVE_A),
        "SOIF_LEAK_N": _code("SOIF_LEAK_N", LEAK_A),
        "SOIF_GAIN_N": MAX_CODE,
        "SOIF_SPKTHR_P": _code("SOIF_SPKTHR_P", KICK_THRESHOLD_A),
        "SOIF_REFR_N": MAX_CODE,
        GAIN_BIAS[_kind(kind)]: _code(GAIN_BIAS[kind], SYN_GAIN_A),
        WEIGHT_BIAS: _weight_for(kind, KICK_A),
    }


@dataclass(frozen=True)
class SilenceRun:
    """One silence run: the stimulus and its times [us] (kick of 1 at t0, of SILENCE_KICKS at t1,
    end of the run)."""

    stimulus: np.ndarray
    t0_us: int
    t1_us: int
    end_us: int


def silence_run(tau_s: float, channels: Sequence[int]) -> SilenceRun:
    """The silence run for time constants up to about `tau_s` [s], each kick on every channel of
    `channels`; at most MAX_RUN_S long (the big kick stays inside the run: a neuron that shows no
    recovery then reads inf)."""
    t0 = SETTLE_S
    t1 = t0 + tau_s * (math.log(KICK_A / NET_DRIVE_A) + 6) + SETTLE_S
    end = t1 + tau_s * (math.log(SILENCE_KICKS * KICK_A / NET_DRIVE_A) + 6) + SETTLE_S
    end = min(end, MAX_RUN_S)
    t1 = min(t1, 0.5 * end)
    t0_us, t1_us, end_us = (int(round(x * 1e6)) for x in (t0, t1, end))
    times = np.array([t0_us] + [t1_us] * SILENCE_KICKS, np.int64)
    ch = np.asarray(list(channels), np.int64)
    stim = ev.input_events(np.repeat(times, ch.size), np.tile(ch, times.size))
    return SilenceRun(stim, t0_us, t1_us, end_us)


def silence_tau(spikes: np.ndarray, index: np.ndarray, run: SilenceRun) -> np.ndarray:
    """Per neuron of `index` (board-wide indices, any shape): tau [s] = (D_N - D_1) / ln N from
    the output spikes of `run`; inf where a kick is followed by no spike (tau longer than the run
    shows)."""
    d1 = first_after(spikes, index, run.t0_us, run.t1_us)
    dn = first_after(spikes, index, run.t1_us, run.end_us)
    with np.errstate(invalid="ignore"):
        out = (dn - d1) / math.log(SILENCE_KICKS)
    return np.where(np.isinf(dn) | np.isinf(d1), np.inf, out)


# ---- the train design (AMPA, NMDA) ------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSetup:
    """Per-core biases of the train design (DC latch off; the tau bias is the caller's) for a
    time constant near `target_s`, the refractory period it sets and L = ln(Ispkthr / Io)."""

    biases: dict[str, tuple[int, int]]
    target_s: float
    refr_s: float
    L: float


def train_setup(kind: str, target_s: float) -> TrainSetup:
    """The train design for time constants near `target_s` [s]."""
    refr = 0.1 * target_s
    thr = _code("SOIF_SPKTHR_P", KICK_THRESHOLD_A)
    L = math.log(float(bias_current("SOIF_SPKTHR_P", *thr)) / PHYS.Io)
    # the kick's charge A tau = (jump) tau: TRAIN_CHARGES threshold charges K L
    jump = TRAIN_CHARGES * K_MEM * L / target_s
    biases = {
        "SOIF_LEAK_N": (0, 0),
        "SOIF_GAIN_N": MAX_CODE,
        "SOIF_SPKTHR_P": thr,
        "SOIF_REFR_N": _code("SOIF_REFR_N", PHYS.Vth * PHYS.C_ref / refr),
        GAIN_BIAS[_kind(kind)]: _code(GAIN_BIAS[kind], SYN_GAIN_A),
        WEIGHT_BIAS: _weight_for(kind, jump),
    }
    return TrainSetup(biases, target_s, refr, L)


def train_run(span_s: float, channels: Sequence[int]) -> tuple[np.ndarray, float]:
    """(stimulus, duration [s]) of a train run: one kick at TRAIN_T0_US on every channel of
    `channels`, then TRAIN_SPAN x `span_s` (at most MAX_RUN_S in all)."""
    end = min(TRAIN_T0_US * 1e-6 + TRAIN_SPAN * span_s, MAX_RUN_S)
    ch = np.asarray(list(channels), np.int64)
    return ev.input_events(np.full(ch.size, TRAIN_T0_US, np.int64), ch), end


def train_tau(
    spikes: np.ndarray, index: np.ndarray, setup: TrainSetup, duration_s: float
) -> np.ndarray:
    """Per neuron of `index` (any shape): tau [s] fitted to its train after the kick of a train
    run of `duration_s` [s]; 0 with fewer than TRAIN_MIN_SPIKES spikes (the kick's charge ran out
    at once), inf where the fit lies far beyond the run (more than 5x its length)."""
    times, n = spike_matrix(spikes, index, TRAIN_T0_US)
    tau = fit_train(times, n, TRAIN_T0_US * 1e-6, setup.target_s, setup.refr_s, setup.L)
    out = np.where(n < TRAIN_MIN_SPIKES, 0.0, tau)
    return np.where(out > 5 * duration_s, np.inf, out).reshape(index.shape)


# ---- spike-time helpers ------------------------------------------------------------------------------


def first_after(spikes: np.ndarray, index: np.ndarray, t_us: int, end_us: int) -> np.ndarray:
    """Per neuron of `index`: time [s] from `t_us` to its first spike in [t_us, end_us); inf
    where it has none."""
    g = ev.global_index(spikes)
    t = spikes["t_us"]
    keep = (t >= t_us) & (t < end_us)
    g, t = g[keep], t[keep]
    order = np.lexsort((t, g))
    g, t = g[order], t[order]
    flat = index.ravel()
    pos = np.searchsorted(g, flat)
    has = (pos < g.size) & (g[np.minimum(pos, max(g.size - 1, 0))] == flat) if g.size else None
    out = np.full(flat.size, np.inf)
    if has is not None:
        out[has] = (t[pos[has]] - t_us) * 1e-6
    return out.reshape(index.shape)


def spike_matrix(
    spikes: np.ndarray, index: np.ndarray, from_us: int, cap: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """(index.size, cap) spike times [s] at or after `from_us` per neuron of `index` (NaN padded,
    at most `cap`), and the counts (clipped to cap), flat over `index`."""
    g = ev.global_index(spikes)
    t = spikes["t_us"]
    keep = t >= from_us
    g, t = g[keep], t[keep]
    order = np.lexsort((t, g))
    g, t = g[order], t[order] * 1e-6
    flat = index.ravel()
    lo = np.searchsorted(g, flat, "left")
    hi = np.searchsorted(g, flat, "right")
    n = np.minimum(hi - lo, cap)
    out = np.full((flat.size, cap), np.nan)
    for j in range(cap):
        has = n > j
        out[has, j] = t[lo[has] + j]
    return out, n


# ---- the experiment ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynTau(Experiment):
    """The time constant of synapse type `kind` of every neuron, at the tau bias's nominal code
    (module docstring: silence design for GABA/SHUNT, train design for AMPA/NMDA), through CAM
    slot 0 (mask Iw_0), `repeats` runs from rest. Runs are long enough for time constants up to
    `margin` x the nominal one.

    Table: tau_s (median over the repeats that gave a finite positive value), tau_rel_se (standard
    error of their mean relative to it, from their spread; NaN with fewer than 2), repeats_ok, and
    tau_s_<i> per repeat (as the estimator returned it: 0 below, inf above what the run shows).
    Needs the spikes readout: a counts recording has no spike times (tau NaN, repeats_ok 0)."""

    kind: str = "ampa"
    repeats: int = 3
    margin: float = 2.0
    n_per_core: int = NEURONS_PER_CORE  # neurons 0..n_per_core-1 of every core

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"tau_{self.kind}"

    def design(self, n_chips: int) -> Design:
        kind = _kind(self.kind)
        if not (isinstance(self.repeats, int) and self.repeats >= 1):
            raise ConfigError("repeats", self.repeats, "an integer >= 1")
        if not self.margin >= 1:
            raise ConfigError("margin", self.margin, "a number >= 1")
        tau0 = nominal_tau(kind)
        chans = [channel(c, 0) for c in range(n_chips)]
        base = {"n_chips": n_chips, "n_per_core": self.n_per_core, "kind": kind, "tau0_s": tau0}
        if METHOD[kind] == "silence":
            biases = silence_biases(kind)
            run = silence_run(tau0 * self.margin, chans)
            stim, dur = run.stimulus, run.end_us * 1e-6
            params = {**base, "t0_us": run.t0_us, "t1_us": run.t1_us, "end_us": run.end_us}
        else:
            setup = train_setup(kind, tau0)
            biases = setup.biases
            stim, dur = train_run(tau0 * self.margin, chans)
            params = {**base, "refr_s": setup.refr_s, "L": setup.L}
        cfg = slot_config(
            n_chips, [KINDS[kind]], [1], latches={"latch_so_dc": METHOD[kind] == "silence"},
            parameters=biases, n_per_core=self.n_per_core,
        )  # fmt: skip
        steps = tuple(
            Step(params={**params, "repeat": i}, duration_s=dur, stimulus=stim)
            for i in range(self.repeats)
        )
        return Design(cfg, steps)

    def analyse(self, steps: Sequence[Step], recordings: Sequence[Recording]) -> pd.DataFrame:
        neurons = step_neurons(steps)
        df = address_frame(neurons)
        vals = np.stack(
            [step_tau(st, rec, neurons) for st, rec in zip(steps, recordings, strict=True)]
        )
        for i, v in enumerate(vals):
            df[f"tau_s_{i}"] = v
        tau, se, k = combine_repeats(vals)
        df["tau_s"] = tau
        df["tau_rel_se"] = se
        df["repeats_ok"] = k
        return df


def step_tau(step: Step, rec: Recording, neurons: np.ndarray) -> np.ndarray:
    """(n,) per-neuron tau [s] of one SynTau step; NaN for every neuron of a counts recording."""
    if rec.events is None:
        return np.full(neurons.size, np.nan)
    p = step.params
    kind = str(p["kind"])
    if METHOD[kind] == "silence":
        run = SilenceRun(np.empty(0, ev.INPUT_DTYPE), int(p["t0_us"]), int(p["t1_us"]),
                         int(p["end_us"]))  # fmt: skip
        return silence_tau(rec.events, neurons, run)
    setup = TrainSetup({}, float(p["tau0_s"]), float(p["refr_s"]), float(p["L"]))
    return train_tau(rec.events, neurons, setup, step.duration_s)


def combine_repeats(vals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of `vals` (repeats, n) [s]: (median of the finite positive values, standard
    error of their mean relative to that median, how many there were); NaN where none (se: fewer
    than 2)."""
    ok = np.isfinite(vals) & (vals > 0)
    k = ok.sum(0)
    v = np.where(ok, vals, np.nan)
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # all-NaN columns: NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(v, axis=0)
        sd = np.nanstd(v, axis=0, ddof=1)
    se = np.where(k >= 2, sd / np.sqrt(np.maximum(k, 1)) / med, np.nan)
    return np.where(k > 0, med, np.nan), se, k


__all__ = ["SynTau", "silence_tau", "train_tau"]
