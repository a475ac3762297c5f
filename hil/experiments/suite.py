"""`characterize(board, out)`: the characterization suite, one result folder per experiment under
`out` and `summary.json` (board time and wall time, per experiment and in total)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hil import __version__
from hil.artifacts import write_json
from hil.board import Board
from hil.experiments.base import Experiment, ExperimentResult, run_experiment
from hil.experiments.fi import FI, HotDead, Refractory

SUMMARY = "summary.json"
SUMMARY_SCHEMA = "hil.characterization/1"


def default_experiments() -> list[Experiment]:
    """The suite `hil characterize` runs, in order."""
    from hil.experiments.adaptation import Adaptation
    from hil.experiments.noise import Noise
    from hil.experiments.synapse import KINDS, SlotScan, SynapseType
    from hil.experiments.syntau import SynTau

    return [
        HotDead(),
        Refractory(),
        FI(),
        SlotScan(),
        *(SynapseType(kind) for kind in KINDS),
        *(SynTau(kind) for kind in KINDS),
        Noise(),
        Adaptation(),
    ]


def characterize(
    board: Board,
    out: str | Path,
    experiments: Sequence[Experiment] | None = None,
    *,
    show_progress: bool = True,
    readout: str | None = None,
    bin_s: float = 1e-3,
) -> dict[str, Any]:
    """Run `experiments` (default: `default_experiments()`) on `board`; write each result to
    out/<name>/ as it finishes and out/summary.json last. Returns the summary. `readout`
    ("counts" with bins of `bin_s`) overrides every step's readout."""
    out = Path(out)
    exps = list(default_experiments() if experiments is None else experiments)
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    info = board.info()
    for exp in exps:
        res: ExperimentResult = run_experiment(
            board, exp, show_progress=show_progress, readout=readout, bin_s=bin_s
        )
        res.save(out / exp.name)
        rows.append(
            {
                "experiment": exp.name,
                "board_time_s": res.board_time_s,
                "wall_s": res.wall_s,
                "steps": len(res.steps),
                "neurons": int(len(res.table)),
            }
        )
    summary = {
        "schema": SUMMARY_SCHEMA,
        "board": info.to_dict(),
        "hil_version": __version__,
        "experiments": rows,
        "readout": readout or "spikes",
        "board_time_s": sum(r["board_time_s"] for r in rows),
        "wall_s": time.perf_counter() - t0,
    }
    write_json(out / SUMMARY, summary)
    return summary
