"""A complete run directory for the report tests: Poisson spike trials of a "sim" and a "chip"
group (the chip with a few neurons at twice the rate), their hil.compare comparison, assert-style
checks, stages, and f-I, calibration and accuracy tables. The trials are Recording-like objects
(readout, events / counts, duration_s, flat provenance), stored as hil.measure Recordings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hil import events as ev
from hil.chip.geometry import global_neuron, neuron_address
from hil.compare import compare
from hil.compare.trials import as_trial
from hil.report.recordings import as_recording
from hil.report.rundir import Run

N_NEURONS = 24
FAST = (3, 7, 300)  # board-wide neurons whose chip rate is doubled (300: chip 0 core 1 #44)


@dataclass
class FakeRecording:
    """What the report needs of a Recording, without hil.measure."""

    readout: str
    duration_s: float
    provenance: dict[str, Any] = field(default_factory=dict)
    events: np.ndarray | None = None
    counts: ev.Counts | None = None


def neurons() -> np.ndarray:
    return np.array(sorted({*range(N_NEURONS - 1), 300}), dtype=np.int64)


def poisson_trial(
    rng: np.random.Generator, rates_hz: np.ndarray, duration_s: float, provenance: dict
) -> FakeRecording:
    """Poisson spikes of each neuron at its rate [Hz] (refractory-free), as OUTPUT_DTYPE events."""
    ts, gs = [], []
    for g, r in zip(neurons(), rates_hz, strict=True):
        n = rng.poisson(r * duration_s)
        ts.append(np.sort(rng.integers(0, int(duration_s * 1e6), n)))
        gs.append(np.full(n, g))
    t, g = np.concatenate(ts), np.concatenate(gs)
    order = np.argsort(t, kind="stable")
    events = ev.output_events_at(t[order], g[order])
    return FakeRecording("spikes", duration_s, dict(provenance), events=events)


def counts_trial(
    rng: np.random.Generator, duration_s: float, bin_us: int = 10_000
) -> FakeRecording:
    n_bins = -(-int(duration_s * 1e6) // bin_us)
    counts = rng.poisson(0.3, (n_bins, len(neurons()))).astype(np.int32)
    c = ev.Counts(counts, neurons(), bin_us, int(duration_s * 1e6))
    return FakeRecording("counts", duration_s, {"board_id": "counts-board"}, counts=c)


def provenance(kind: str, k: int) -> dict[str, Any]:
    return {
        "board_id": f"{kind}-0",
        "board_kind": kind,
        "board_url": "sim://" if kind == "sim" else "emu://?seed=3",
        "silicon_id": None if kind == "sim" else "silicon-3",
        "config_hash": "ab12cd34",
        "hil_version": "0.1.0",
        "seed": 100 + k,
        "utc": f"2026-11-01T00:00:{k:02d}Z",
        "link_lost": 0,
        "link_retransmits": k % 2,
        "link_restarted": False,
    }


def fi_table() -> pd.DataFrame:
    rows = []
    for core in (0, 1):
        for n in range(6):
            for idc in np.linspace(0, 200e-12, 6):
                rate = max(0.0, (idc - 40e-12) * 1e12 * (0.8 + 0.05 * n + 0.1 * core))
                rows.append((0, core, n, idc, rate))
    return pd.DataFrame(rows, columns=["chip", "core", "neuron", "idc_A", "rate_hz"])


def calibration_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "chip": [0, 0, 0, 0],
            "core": [0, 0, 1, 1],
            "parameter": ["tau_mem", "t_ref", "tau_mem", "t_ref"],
            "target": [0.02, 0.002, 0.02, 0.002],
            "achieved": [0.0205, 0.0019, np.nan, 0.0021],
            "success": [True, True, False, True],
            "unit": ["s", "s", "s", "s"],
        }
    )


def accuracy_table() -> pd.DataFrame:
    levels = [0.0, 0.05, 0.1, 0.2]
    rows = []
    for mode, drop in (("none", 1.2), ("noise", 0.5), ("adversarial", 0.3)):
        for m in levels:
            a = 0.95 - drop * m
            rows.append((m, mode, a, a - 0.03, min(a + 0.03, 1.0), 10))
    return pd.DataFrame(
        rows, columns=["mismatch", "mode", "accuracy", "accuracy_lo", "accuracy_hi", "n"]
    )


def trend_table() -> pd.DataFrame:
    """Five nights of two cores' median rates, core 1 drifting, its last night an alert."""
    rows = []
    for night in range(5):
        for core in (0, 1):
            value = 40.0 * (1 - (0.02 * night if core else 0.0))
            rows.append(
                (f"2026-11-0{night + 1}", "rate_1na_hz", core, value, core == 1 and night == 4)
            )
    return pd.DataFrame(rows, columns=["night", "metric", "core", "value", "alert"])


def build_run(
    path: Path,
    *,
    title: str = "test run",
    trials: int = 8,
    duration_s: float = 1.0,
    hostile: str | None = None,
    tables: bool = True,
) -> Run:
    """A run with everything the report shows; `hostile` is put into ids, names and provenance."""
    rng = np.random.default_rng(5)
    base = rng.uniform(15.0, 40.0, len(neurons()))
    chip_rates = base.copy()
    chip_rates[np.isin(neurons(), FAST)] *= 2.0
    sim, chip = "sim", "chip"
    if hostile is not None:
        chip = f"chip {hostile}"
    run = Run.create(path, title=title if hostile is None else f"{title} {hostile}")
    run.provenance = {"command": "hil campaign --quick", "board": "emu://?seed=3"}
    if hostile is not None:
        run.provenance["note"] = hostile
    sims = [poisson_trial(rng, base, duration_s, provenance("sim", k)) for k in range(trials)]
    chips = [
        poisson_trial(rng, chip_rates, duration_s, provenance("emu", k)) for k in range(trials)
    ]
    if hostile is not None:
        chips[0].provenance["board_id"] = hostile
    for r in sims:
        run.add_recording(sim, r)
    for r in chips:
        run.add_recording(chip, r)
    trials_of = (
        [as_trial(as_recording(r)) for r in sims],
        [as_trial(as_recording(r)) for r in chips],
    )
    result = compare(*trials_of, ["rate", "cv"], labels=(sim, chip), n_perm=500)
    run.add_comparison("rate and CV", result, reference=sim, candidate=chip)
    run.add_check("link losses", value=0, op="<=", limit=0, unit="events")
    run.add_check(
        "conformance suite", passed=True, detail="41 passed" + ("" if hostile is None else hostile)
    )
    run.set_stage("probe", "done", seconds=0.4)
    run.set_stage("characterize", "done", seconds=3.2, artifacts=["tables/fi.parquet"])
    if tables:
        run.add_table("fi", fi_table())
        run.add_table("calibration", calibration_table())
        run.add_table("accuracy", accuracy_table())
        run.add_table("trend", trend_table())
    run.save()
    return run


def fast_neuron_names() -> list[str]:
    return [
        f"{g} (chip {a} core {b} #{c})" for g, (a, b, c) in ((g, neuron_address(g)) for g in FAST)
    ]


assert global_neuron(0, 1, 44) == 300
