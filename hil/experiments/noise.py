"""Noise: the variability of inter-spike intervals under constant drive, from which
hil.mismatch.noisefit identifies each neuron's membrane-noise current (a few pA).

The codes sit on the DC reference branch (coarse 2, whose factor the membrane fit fixes), at
10-35 Hz: high enough for many ISIs per second (the ISI variance's relative standard error is
sqrt(2 / n_isi)), low enough that the noise's ISI jitter (tens of us) stays far above the
emulator's deterministic timing floor (1-2 % of it in variance terms at these rates)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hil import events as ev
from hil.experiments.base import (
    NEURONS_PER_CORE,
    Design,
    Experiment,
    Step,
    address_frame,
    all_neurons_config,
    step_neurons,
)
from hil.experiments.fi import DC, sweep_step
from hil.measure import Recording

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Noise(Experiment):
    """ISI variability under DC: one step per code in `codes` (SOIF_DC_P), spikes readout.
    Table per step i: isi_cv_<i> (std / mean of the ISIs, NaN with fewer than 5 ISIs), isi_var_<i>
    (their variance [s^2], NaN likewise), n_isi_<i>, rate_hz_<i>; and isi_cv (the step with the
    most ISIs). A counts readout has no ISIs: every CV and variance is NaN."""

    codes: tuple[tuple[int, int], ...] = ((2, 10), (2, 20), (2, 45))  # 64, 128, 288 pA nominal
    duration_s: float = 12.0
    n_per_core: int = NEURONS_PER_CORE  # neurons 0..n_per_core-1 of every core
    name: str = "noise"

    def design(self, n_chips: int) -> Design:
        cfg = all_neurons_config(n_chips, {"latch_so_dc": True}, n_per_core=self.n_per_core)
        steps = tuple(
            sweep_step(n_chips, self.n_per_core, DC, code, "dc", self.duration_s)
            for code in self.codes
        )
        return Design(cfg, steps)

    def analyse(self, steps: Sequence[Step], recordings: Sequence[Recording]) -> pd.DataFrame:
        neurons = step_neurons(steps)
        df = address_frame(neurons)
        cvs, counts = [], []
        for i, rec in enumerate(recordings):
            cv, n_isi, rate, var = _isi_stats(rec, neurons)
            df[f"isi_cv_{i}"] = cv
            df[f"isi_var_{i}"] = var
            df[f"n_isi_{i}"] = n_isi
            df[f"rate_hz_{i}"] = rate
            cvs.append(cv)
            counts.append(n_isi)
        best = np.argmax(np.stack(counts), axis=0)
        df["isi_cv"] = np.stack(cvs)[best, np.arange(neurons.size)]
        return df


def _isi_stats(
    rec: Recording, neurons: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per neuron: ISI coefficient of variation, number of ISIs, rate [Hz], ISI variance [s^2]
    (unbiased, ddof 1). A counts recording has no ISIs (CV and variance NaN, rate 0)."""
    n = neurons.size
    cv = np.full(n, np.nan)
    out_var = np.full(n, np.nan)
    n_isi = np.zeros(n, int)
    rate = np.zeros(n)
    if rec.events is None:
        return cv, n_isi, rate, out_var
    g = ev.global_index(rec.events)
    t = rec.events["t_us"].astype(float) * 1e-6
    order = np.lexsort((t, g))
    g, t = g[order], t[order]
    col = np.searchsorted(neurons, g)
    inside = (col < n) & (neurons[np.minimum(col, n - 1)] == g)
    g, t, col = g[inside], t[inside], col[inside]
    same = np.diff(g) == 0
    isi = np.diff(t)[same]
    who = col[1:][same]
    n_isi = np.bincount(who, minlength=n)
    s1 = np.bincount(who, isi, minlength=n)
    m = s1 / np.maximum(n_isi, 1)
    ok = n_isi >= 5
    # centred second moment per neuron (the ISIs are ~1e-2 s with ~1e-5 s jitter: s2/n - m^2
    # would lose the variance to cancellation)
    d2 = np.bincount(who, (isi - m[who]) ** 2, minlength=n)
    var = d2 / np.maximum(n_isi - 1, 1)
    cv[ok] = np.sqrt(var[ok]) / m[ok]
    out_var[ok] = var[ok]
    rate = np.bincount(col, minlength=n) / rec.duration_s
    return cv, n_isi, rate, out_var
