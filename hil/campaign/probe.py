"""The fixed DC probe network: every neuron of every core driven by a DC current at a few levels,
no synapses. Its per-neuron rates are the campaign's dead/hot screen and, until fitted parameters
exist (hil.mismatch), the statistics the nightly drift check tracks.

    frame, recordings = measure(board, PROBE)       # one row per neuron
    frame.columns: neuron (board-wide), chip, core, idx, rate_<level>_hz and rate_<level>_se_hz
                   for each DC level, spont_hz

A rate is the inverse mean inter-spike interval, (n - 1) / (t_last - t_first), for a neuron with at
least 3 spikes in the run: for regular firing under DC it is free of the +-1 spike quantization of
a count over a fixed window (a 20 Hz neuron counted over 1 s is 20 or 21 Hz depending on its phase).
With fewer spikes it is the count / duration. `spont_hz` is the count / duration with no input
and no DC: a healthy neuron is silent there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hil import events as ev
from hil.board import Board
from hil.chip.config import Chip, ChipConfig, Neuron
from hil.chip.geometry import CORES_PER_CHIP, NEURONS_PER_CORE, neuron_address
from hil.chip.params import HighLevel, core_parameters
from hil.measure import Recording, record


@dataclass(frozen=True)
class Probe:
    """DC levels [A] (each one run of `duration_s` [s]) and the spontaneous run's length [s]."""

    levels_A: tuple[float, ...] = (1e-10, 1e-9)
    duration_s: float = 1.0
    spont_s: float = 1.0

    def columns(self) -> list[str]:
        """The rate columns: rate_100pa_hz, rate_1na_hz, ..., spont_hz."""
        return [level_column(a) for a in self.levels_A] + ["spont_hz"]

    def to_dict(self) -> dict:
        return {
            "levels_A": list(self.levels_A),
            "duration_s": self.duration_s,
            "spont_s": self.spont_s,
        }


PROBE = Probe()
# A hot neuron fires at least this often with no input [Hz]: a leak into the membrane (50-150 pA,
# about 8-15 Hz at nominal biases, docs/silicon.md). Membrane noise alone makes a healthy neuron
# spike now and then (about 1 Hz on a noisy silicon), which is not hot.
HOT_MIN_HZ = 5.0


def level_column(amps: float) -> str:
    """The column (and store metric) name of a DC level: 1e-10 -> rate_100pa_hz."""
    for scale, unit in ((1e-9, "na"), (1e-12, "pa")):
        v = amps / scale
        if v >= 1 and abs(v - round(v)) < 1e-9:
            return f"rate_{round(v)}{unit}_hz"
    return f"rate_{amps:.3g}a_hz".replace(".", "p").replace("-", "m").replace("+", "")


def dc_config(n_chips: int, idc_A: float) -> ChipConfig:
    """Every neuron of `n_chips` chips set, no synapses, Idc = `idc_A` on every core, the DC latch
    on when `idc_A` > 0; the other biases nominal."""
    cfg = ChipConfig(chips=[Chip() for _ in range(n_chips)])
    codes = core_parameters(HighLevel(Idc=float(idc_A)).currents())
    for chip in range(n_chips):
        for k in range(CORES_PER_CHIP):
            core = cfg.core(chip, k)
            core.parameters = dict(codes)
            for n in range(NEURONS_PER_CORE):
                core.neurons[n] = Neuron(latches={"latch_so_dc": idc_A > 0})
    return cfg.validate()


def isi_rates(
    events: np.ndarray, n_neurons: int, duration_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """(rate, se), each (n_neurons,) [Hz] per board-wide neuron: the inverse mean ISI with >= 3
    spikes, else the count over `duration_s`; se its standard error from within the run (ISI CV /
    sqrt(intervals) of the rate, or sqrt(count) / duration for a count)."""
    idx = ev.global_index(events)
    counts = np.bincount(idx, minlength=n_neurons)[:n_neurons].astype(float)
    rates = counts / duration_s
    se = np.sqrt(counts) / duration_s
    if events.size:
        order = np.lexsort((events["t_us"], idx))
        idx, t = idx[order], events["t_us"][order].astype(float) * 1e-6
        isi = np.diff(t)
        same = idx[1:] == idx[:-1]  # intervals between two spikes of one neuron
        who = idx[1:][same]
        isi = isi[same]
        n_isi = np.bincount(who, minlength=n_neurons)[:n_neurons].astype(float)
        s1 = np.bincount(who, weights=isi, minlength=n_neurons)[:n_neurons]
        s2 = np.bincount(who, weights=isi * isi, minlength=n_neurons)[:n_neurons]
        ok = (n_isi >= 2) & (s1 > 0)
        mean = np.divide(s1, n_isi, out=np.zeros(n_neurons), where=ok)
        var = np.divide(s2, n_isi, out=np.zeros(n_neurons), where=ok) - mean**2
        cv = np.sqrt(np.clip(var, 0.0, None)) / np.where(ok, mean, 1.0)
        rates[ok] = 1.0 / mean[ok]
        se[ok] = rates[ok] * cv[ok] / np.sqrt(n_isi[ok])
    return rates, se


def measure(
    board: Board, probe: Probe = PROBE, stimulus_seed: int = 0
) -> tuple[pd.DataFrame, list[tuple[str, Recording]]]:
    """Run the probe on `board`: one run per DC level and one without input. Returns a frame with
    one row per neuron (neuron, chip, core, idx and the rate columns [Hz]) and the Recordings
    with their group names ("dc 100pA", ..., "spontaneous")."""
    n_chips = board.info().n_chips
    n = n_chips * CORES_PER_CHIP * NEURONS_PER_CORE
    empty = np.zeros(0, ev.INPUT_DTYPE)
    recs: list[tuple[str, Recording]] = []
    cols: dict[str, np.ndarray] = {}
    runs = [(a, probe.duration_s) for a in probe.levels_A] + [(0.0, probe.spont_s)]
    for amps, seconds in runs:
        rec = record(
            board, empty, seconds, config=dc_config(n_chips, amps), stimulus_seed=stimulus_seed
        )
        assert rec.events is not None
        if amps > 0:
            name = level_column(amps)
            cols[name], cols[name[:-3] + "_se_hz"] = isi_rates(rec.events, n, seconds)
            recs.append((f"dc {name[5:-3]}", rec))
        else:
            counts = np.bincount(ev.global_index(rec.events), minlength=n)[:n]
            cols["spont_hz"] = counts / seconds
            recs.append(("spontaneous", rec))
    neurons = np.arange(n, dtype=np.int64)
    chip, core, idx = neuron_address(neurons)
    frame = pd.DataFrame({"neuron": neurons, "chip": chip, "core": core, "idx": idx, **cols})
    return frame, recs


def fi_table(frame: pd.DataFrame, probe: Probe = PROBE) -> pd.DataFrame:
    """The probe's rates as hil.report's `fi` table (chip, core, neuron, idc_A, rate_hz), with the
    spontaneous run as Idc = 0."""
    parts = []
    for amps, col in [(a, level_column(a)) for a in probe.levels_A] + [(0.0, "spont_hz")]:
        parts.append(
            pd.DataFrame(
                {
                    "chip": frame["chip"],
                    "core": frame["core"],
                    "neuron": frame["idx"],
                    "idc_A": amps,
                    "rate_hz": frame[col],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def dead_and_hot(frame: pd.DataFrame, probe: Probe = PROBE) -> tuple[np.ndarray, np.ndarray]:
    """Board-wide indices of dead neurons (silent at the strongest DC level) and hot ones (spiking
    at >= HOT_MIN_HZ with no input)."""
    strongest = level_column(max(probe.levels_A))
    dead = frame.loc[frame[strongest] == 0, "neuron"].to_numpy()
    hot = frame.loc[frame["spont_hz"] >= HOT_MIN_HZ, "neuron"].to_numpy()
    return dead, hot
