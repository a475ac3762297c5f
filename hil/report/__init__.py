"""hil.report: one self-contained HTML report per run, re-rendered from its run directory.

    from hil.compare import compare
    from hil.report import Run, write_report
    run = Run.create("reports/nightly", title="emu:// seed 3")
    for r in sim_recs: run.add_recording("sim", r)           # hil.measure Recordings, per trial
    for r in chip_recs: run.add_recording("chip", r)
    run.add_comparison("rates", compare(sim_recs, chip_recs, labels=("sim", "chip")),
                       reference="sim", candidate="chip")
    run.save(); write_report(run)            # reports/nightly/report.html
    # later, without the board:  hil report reports/nightly

rundir.py      Run: the run directory (run.json, recordings/, tables/), writer and loader
recordings.py  load_recording / save_recording: the one place that touches
               Recordings (hil.measure folders)
tables.py      the f-I, calibration and accuracy table contracts
figures.py     the plots, checked for axis labels with units and legends, as PNG data URIs
document.py    render(run) -> HTML (jinja2 templates in templates/), write_report
browser.py     open a report in headless Chromium and check it (tests, campaigns)
cli.py         `hil report RUN_DIR [-o FILE]` (add_report_parser, run_report)

The names below are imported on first use, so `hil --help` does not load matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Check": "hil.report.rundir",
    "ComparisonEntry": "hil.report.rundir",
    "Run": "hil.report.rundir",
    "Stage": "hil.report.rundir",
    "load_recording": "hil.report.recordings",
    "save_recording": "hil.report.recordings",
    "render": "hil.report.document",
    "write_report": "hil.report.document",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'hil.report' has no attribute {name!r}")
