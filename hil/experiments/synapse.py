"""Synapse experiments: per-CAM-slot weight factors and base weights (SlotScan), and the
efficacy and time constant of each synapse type (SynapseType).

Every neuron of every core is set. Inputs are regular spike trains on input channels routed to
every core of their chip; one channel per chip carries each tag, so all chips run in parallel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hil import events as ev
from hil.chip.config import ChipConfig, InputRoute, Synapse, mask_bits
from hil.chip.geometry import Dendrite
from hil.experiments.base import (
    NEURONS_PER_CORE,
    Design,
    Experiment,
    Step,
    address_frame,
    all_neurons_config,
    spike_rates,
    step_neurons,
)
from hil.experiments.fi import DC
from hil.measure import Recording

if TYPE_CHECKING:
    import pandas as pd

SLOTS = 64
ALL_CORES = (True, True, True, True)  # an input route to every core of its chip
TAG0 = 1  # tag of slot 0's input; slot s listens to TAG0 + s
CHANNELS_PER_CHIP = SLOTS
# Masks of the slot scan: slots 0..15 select Iw_0..Iw_3 alone in turn (four slots per base weight:
# the per-core ratios Iw_k / Iw_0), every other slot Iw_0.
SLOT_MASKS = tuple(1 << (s % 4) for s in range(16)) + (1,) * (SLOTS - 16)
KINDS = {
    "ampa": Dendrite.AMPA,
    "nmda": Dendrite.NMDA,
    "gaba": Dendrite.GABA,
    "shunt": Dendrite.SHUNT,
}
INHIBITORY = ("gaba", "shunt")
INH_DC_CODE = (2, 255)  # DC drive under which inhibition is measured: 1.63 nA nominal


def regular_train(channels: Sequence[int], rate_hz: float, duration_s: float) -> np.ndarray:
    """Input events: every channel in `channels` fires at `rate_hz` from t = 0 (integer us)."""
    period = round(1e6 / rate_hz)
    t = np.arange(0, round(duration_s * 1e6), period, dtype=np.int64)
    chans = np.asarray(list(channels), np.int64)
    return ev.input_events(np.repeat(t, chans.size), np.tile(chans, t.size))


def channel(chip: int, slot: int) -> int:
    """Input channel of `slot`'s tag on `chip`."""
    return chip * CHANNELS_PER_CHIP + slot


def _routes(n_chips: int, slots: int) -> list[InputRoute]:
    return [
        InputRoute(channel=channel(c, s), chip=c, tag=TAG0 + s, core=ALL_CORES)
        for c in range(n_chips)
        for s in range(slots)
    ]


def slot_config(
    n_chips: int, kinds: Sequence[Dendrite], masks: Sequence[int], **kw: Any
) -> ChipConfig:
    """Every neuron with CAM slot s listening to tag TAG0 + s, of type kinds[s], mask masks[s]."""
    cfg = all_neurons_config(n_chips, **kw)
    syn = [
        Synapse(tag=TAG0 + s, dendrite=kinds[s], weight=mask_bits(masks[s]))
        for s in range(len(kinds))
    ]
    for _, _, _, nr in cfg.neurons():
        nr.synapses = list(syn)
    cfg.inputs = _routes(n_chips, len(kinds))
    return cfg


@dataclass(frozen=True)
class SlotScan(Experiment):
    """Each of the 64 CAM slots alone: a regular train of `rate_hz` on its tag (AMPA), per step.

    Table: one row per synapse (chip, core, neuron, slot, mask, rate_hz). The weight factor of a
    slot is physical and stays with the slot whatever it listens to; hil.mismatch inverts these
    rates through the twin's membrane into per-slot factors and per-core base-weight ratios."""

    rate_hz: float = 1000.0
    duration_s: float = 0.25
    n_per_core: int = NEURONS_PER_CORE  # neurons 0..n_per_core-1 of every core
    name: str = "slots"

    def design(self, n_chips: int) -> Design:
        cfg = slot_config(n_chips, [Dendrite.AMPA] * SLOTS, SLOT_MASKS, n_per_core=self.n_per_core)
        steps = tuple(
            Step(
                params={
                    "n_chips": n_chips,
                    "n_per_core": self.n_per_core,
                    "slot": s,
                    "mask": SLOT_MASKS[s],
                    "rate_hz": self.rate_hz,
                },
                duration_s=self.duration_s,
                stimulus=regular_train(
                    [channel(c, s) for c in range(n_chips)], self.rate_hz, self.duration_s
                ),
            )
            for s in range(SLOTS)
        )
        return Design(cfg, steps)

    def analyse(self, steps: Sequence[Step], recordings: Sequence[Recording]) -> pd.DataFrame:
        import pandas as pd

        neurons = step_neurons(steps)
        frames = []
        for st, rec in zip(steps, recordings, strict=True):
            df = address_frame(neurons)
            df["slot"] = st.params["slot"]
            df["mask"] = st.params["mask"]
            df["rate_hz"] = spike_rates(rec, neurons)
            frames.append(df)
        return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class SynapseType(Experiment):
    """One synapse type through CAM slot 0 (mask Iw_0): regular trains at a high and a low rate.

    Excitatory types (AMPA, NMDA) drive silent neurons; inhibitory ones (GABA, SHUNT) act against a
    DC drive (SOIF_DC_P at INH_DC_CODE), with a step without input first. At the high rate the
    synaptic current is nearly constant (its mean carries the efficacy); at the low rate it
    fluctuates (its time constant shapes the response). Table: one row per neuron with rate_hz_<i>
    per step (steps listed in the result's design.json)."""

    kind: str = "ampa"
    rates_hz: tuple[float, float] = (1000.0, 150.0)
    inh_rates_hz: tuple[float, float] = (1000.0, 200.0)
    durations_s: tuple[float, float] = (0.3, 0.6)
    n_per_core: int = NEURONS_PER_CORE  # neurons 0..n_per_core-1 of every core

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"syn_{self.kind}"

    @property
    def inhibitory(self) -> bool:
        return self.kind in INHIBITORY

    def design(self, n_chips: int) -> Design:
        if self.kind not in KINDS:
            from hil.errors import ConfigError

            raise ConfigError("kind", self.kind, ", ".join(KINDS))
        if self.inhibitory:
            cfg = slot_config(
                n_chips, [KINDS[self.kind]], [1], latches={"latch_so_dc": True},
                parameters={DC: INH_DC_CODE}, n_per_core=self.n_per_core,
            )  # fmt: skip
        else:
            cfg = slot_config(n_chips, [KINDS[self.kind]], [1], n_per_core=self.n_per_core)
        chans = [channel(c, 0) for c in range(n_chips)]
        rates = self.inh_rates_hz if self.inhibitory else self.rates_hz
        steps = [
            Step(
                params={
                    "n_chips": n_chips,
                    "n_per_core": self.n_per_core,
                    "kind": self.kind,
                    "rate_hz": r,
                },
                duration_s=d,
                stimulus=regular_train(chans, r, d),
            )
            for r, d in zip(rates, self.durations_s, strict=True)
        ]
        if self.inhibitory:
            steps.insert(
                0,
                Step(
                    {
                        "n_chips": n_chips,
                        "n_per_core": self.n_per_core,
                        "kind": self.kind,
                        "rate_hz": 0.0,
                    },
                    0.3,
                ),
            )
        return Design(cfg, tuple(steps))

    def analyse(self, steps: Sequence[Step], recordings: Sequence[Recording]) -> pd.DataFrame:
        neurons = step_neurons(steps)
        df = address_frame(neurons)
        for i, rec in enumerate(recordings):
            df[f"rate_hz_{i}"] = spike_rates(rec, neurons)
        return df


__all__ = ["SlotScan", "SynapseType"]
