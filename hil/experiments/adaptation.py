"""Adaptation (AHP): the decay of the rate under a DC step, with the adaptation latch on.

Nominally the AHP weight sits at its floor code (0.5 pA: no adaptation), so the experiment raises
SOAD_W_N per step. With Igain_ahp / Itau_ahp = 1, a 1 us pulse and tau_ahp = 50 ms, a weight of
1 uA charges about 20 pA per spike, 0.26 uA about 5 pA: at 50 Hz the AHP current settles near
50 and 13 pA, against a DC drive of 1.6 nA (the AHP also scales the membrane's leak term)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

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

AHP_W = "SOAD_W_N"


@dataclass(frozen=True)
class Adaptation(Experiment):
    """Per step (an AHP weight code): spikes (hil.mismatch.ahpfit fits the AHP's time constant
    and charge per spike from their times) under a DC step from rest, counted in `bin_s` bins.

    Table: rate_onset_hz_<i> (the first `onset_s`), rate_adapted_hz_<i> (the last `adapted_s`),
    adaptation_<i> = adapted / onset, and ahp_drop_<i> = adapted_i / adapted_0 (the steady rate
    relative to the first step's, whose weight is the floor: the AHP's share of the decay; NaN
    where a rate is 0). The onset window holds few spikes: adaptation_<i> is coarse."""

    weights: tuple[tuple[int, int], ...] = ((0, 0), (5, 32), (5, 128))
    dc: tuple[int, int] = (2, 255)  # 1.63 nA nominal
    duration_s: float = 0.5
    bin_s: float = 0.01
    onset_s: float = 0.06
    adapted_s: float = 0.2
    n_per_core: int = NEURONS_PER_CORE  # neurons 0..n_per_core-1 of every core
    name: str = "adaptation"

    def design(self, n_chips: int) -> Design:
        cfg = all_neurons_config(
            n_chips, {"latch_so_dc": True, "latch_so_adaptation": True}, {DC: self.dc},
            self.n_per_core,
        )  # fmt: skip
        steps = tuple(
            sweep_step(n_chips, self.n_per_core, AHP_W, code, "ahp_w", self.duration_s)
            for code in self.weights
        )
        return Design(cfg, steps)

    def analyse(self, steps: Sequence[Step], recordings: Sequence[Recording]) -> pd.DataFrame:
        neurons = step_neurons(steps)
        df = address_frame(neurons)
        for i, rec in enumerate(recordings):
            m, b = _counts(rec, neurons, self.bin_s)  # (bins, n), bin width [s]
            k1 = max(1, round(self.onset_s / b))
            k2 = max(1, round(self.adapted_s / b))
            onset = m[:k1].sum(0) / (k1 * b)
            adapted = m[-k2:].sum(0) / (k2 * b)
            df[f"rate_onset_hz_{i}"] = onset
            df[f"rate_adapted_hz_{i}"] = adapted
            df[f"adaptation_{i}"] = _ratio(adapted, onset)
            df[f"ahp_drop_{i}"] = _ratio(adapted, df["rate_adapted_hz_0"].to_numpy())
        return df


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def _counts(rec: Recording, neurons: np.ndarray, bin_s: float) -> tuple[np.ndarray, float]:
    """(bins, n) spike counts of `neurons` and the bin width [s] (a counts Recording's own bins;
    a spikes Recording binned at about `bin_s`)."""
    if rec.counts is not None:
        c = rec.counts
        col = np.searchsorted(c.neurons, neurons)
        m = c.counts[:, np.minimum(col, max(c.neurons.size - 1, 0))].astype(float)
        return m, rec.resolution_us * 1e-6
    from hil import events as ev

    assert rec.events is not None
    bins = max(1, round(rec.duration_us / (bin_s * 1e6)))
    width = rec.duration_us // bins
    counts = ev.Counts.from_events(rec.events, neurons, width, rec.duration_us)
    return counts.counts.astype(float), width * 1e-6
