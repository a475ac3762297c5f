"""Render a run directory into one self-contained HTML file (jinja2, autoescaped; plots as PNG data
URIs; no script, no external request).

    html = render(Run.load("reports/nightly"))
    path = write_report("reports/nightly")            # reports/nightly/report.html

Sections, each saying "not run" and why when its data is absent: verdicts (stages that failed,
hil.compare comparisons, assert-style checks), contents, stages, rasters, rate scatter per compared
pair, ISI and CV histograms, f-I curves, calibration, accuracy vs mismatch, provenance.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from hil import __version__
from hil.artifacts import write_atomic
from hil.chip.geometry import neuron_address
from hil.compare.compare import POPULATION
from hil.compare.stats import firing_rate, isi_cv
from hil.compare.trials import Trial, as_trial, neurons_of, spike_times
from hil.errors import bounded
from hil.measure import PROVENANCE_KEYS
from hil.report import figures as fg
from hil.report.rundir import REPORT, Check, ComparisonEntry, Run

MAX_DETAIL_ROWS = 25  # differing rows listed per comparison
MAX_CELL = 300  # characters of one provenance value shown
N_UNTESTED_OUTLIERS = 5  # neurons named on a scatter without a rate test
PASS, FAIL, UNTESTED = "pass", "fail", "not tested"


@dataclass
class Table:
    """A table for the template: caption, header, rows of text; `status` per row (or "")."""

    caption: str
    header: list[str]
    rows: list[list[str]]
    status: list[str] = field(default_factory=list)


@dataclass
class Section:
    """One section: present (`reason` empty) or not run (`reason` says why)."""

    id: str
    title: str
    reason: str = ""
    plots: list[fg.Plot] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Verdict:
    name: str
    result: str  # PASS, FAIL or UNTESTED
    numbers: str
    detail: str = ""


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("hil.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(run: Run, rendered_utc: str | None = None) -> str:
    """The report of `run` as one HTML document (text). `rendered_utc` defaults to now."""
    groups = {g: [as_trial(r) for r in run.load_recordings(g)] for g in run.recordings}
    groups = {g: t for g, t in groups.items() if t}
    verdicts = _verdicts(run)
    sections = [
        _stages(run),
        _rasters(groups),
        _scatters(run, groups),
        _isi_cv(groups),
        _fi(run),
        _calibration(run),
        _accuracy(run),
        _trends(run),
        _provenance(run),
    ]
    details = [_comparison_details(run, c) for c in run.comparisons]
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            run=run,
            overall=_summary(run, verdicts),
            stopped=[s for s in run.stages if s.status == "failed"],
            verdicts=verdicts,
            details=[d for d in details if d.rows],
            sections=sections,
            version=__version__,
            rendered_utc=rendered_utc or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            PASS=PASS,
            FAIL=FAIL,
        )
    )


def write_report(run_dir: str | Path | Run, out: str | Path | None = None) -> Path:
    """Render the run at `run_dir` (a folder or a loaded Run) to `out` (default
    RUN_DIR/report.html), atomically. Returns the path written."""
    run = run_dir if isinstance(run_dir, Run) else Run.load(run_dir)
    path = Path(out) if out is not None else run.path / REPORT
    write_atomic(path, render(run))
    return path


# ---- verdicts -------------------------------------------------------------------------------------


def _verdicts(run: Run) -> list[Verdict]:
    out = [
        Verdict(f"stage {s.name}", FAIL, "failed", s.message)
        for s in run.stages
        if s.status == "failed"
    ]
    for c in run.comparisons:
        if c.verdict:
            out.append(_comparison_verdict(c, run.comparison_table(c)))
    out.extend(_check_verdict(c) for c in run.checks)
    return out


def _comparison_verdict(c: ComparisonEntry, table: pd.DataFrame) -> Verdict:
    tested = int(table["p"].notna().sum())
    differ = int(table["differs"].sum())
    stats = ", ".join(dict.fromkeys(table["stat"])) or "none"
    result = FAIL if differ else (PASS if tested else UNTESTED)
    numbers = (
        f"{differ} of {tested} tests differ; {stats}; alpha {c.alpha:g}, "
        f"{'Holm' if c.correction == 'holm' else 'Benjamini-Hochberg'}, "
        f"{'paired' if c.paired else 'unpaired'}, {c.n_ref} vs {c.n_cand} trials"
    )
    notes = [f"skipped {k}: {v}" for k, v in c.skipped.items()]
    untested = len(table) - tested
    if untested:
        notes.append(f"{untested} rows not tested (too few trials with a value)")
    return Verdict(f"{c.reference} vs {c.candidate}: {c.name}", result, numbers, "; ".join(notes))


def _check_verdict(c: Check) -> Verdict:
    unit = f" {c.unit}" if c.unit else ""
    if c.op and c.value is not None and c.limit is not None:
        numbers = f"{_num(c.value)}{unit} {c.op} {_num(c.limit)}{unit}"
    elif c.value is not None:
        numbers = f"{_num(c.value)}{unit}"
    else:
        numbers = ""
    return Verdict(c.name, PASS if c.passed else FAIL, numbers, c.detail)


def overall(run: Run) -> tuple[str, str]:
    """(result, one line) of the run's overall verdict: result PASS, FAIL or UNTESTED."""
    return _summary(run, _verdicts(run))


def _summary(run: Run, verdicts: Sequence[Verdict]) -> tuple[str, str]:
    """(class, text) of the run's overall verdict."""
    if any(v.result == FAIL for v in verdicts):
        n = sum(v.result == FAIL for v in verdicts)
        return FAIL, f"FAIL: {n} of {len(verdicts)} verdicts failed"
    unfinished = [s.name for s in run.stages if s.status in ("running", "not run")]
    if unfinished:
        return UNTESTED, f"INCOMPLETE: stages not finished: {', '.join(unfinished)}"
    if not verdicts:
        return UNTESTED, "NO VERDICTS: this run holds no check"
    if any(v.result == UNTESTED for v in verdicts):
        return UNTESTED, "INCOMPLETE: some comparisons tested nothing"
    return PASS, f"PASS: all {len(verdicts)} verdicts passed"


def _comparison_details(run: Run, c: ComparisonEntry) -> Table:
    fails = run.comparison_table(c)
    fails = fails[fails["differs"]].sort_values(["p_adj", "p"])
    rows = [
        [
            r.stat,
            _neuron(r.neuron),
            _num(r.ref),
            _num(r.cand),
            _pct(r.rel),
            f"{_num(r.effect)} ({r.effect_name})",
            f"{r.test} {_num(r.p)}",
            _num(r.p_adj),
        ]
        for r in fails.head(MAX_DETAIL_ROWS).itertuples()
    ]
    more = (
        f"; {len(fails) - MAX_DETAIL_ROWS} more in {c.table}"
        if len(fails) > MAX_DETAIL_ROWS
        else ""
    )
    shown = "" if c.verdict else " (shown for comparison, not a verdict)"
    return Table(
        f"{c.reference} vs {c.candidate}: {c.name}{shown}: what differs, most significant first"
        f"{more}",
        [
            "statistic",
            "neuron",
            c.reference,
            c.candidate,
            "change",
            "effect size",
            "test, p",
            "adjusted p",
        ],
        rows,
        [FAIL if c.verdict else UNTESTED] * len(rows),
    )


# ---- sections -------------------------------------------------------------------------------------


def _stages(run: Run) -> Section:
    sec = Section("stages", "Stages")
    if not run.stages:
        sec.reason = "this run records no stages"
        return sec
    rows, status = [], []
    for s in run.stages:
        secs = "" if s.seconds is None else f"{s.seconds:.1f}"
        rows.append([s.name, s.status, secs, s.message, ", ".join(s.artifacts)])
        status.append({"done": PASS, "failed": FAIL}.get(s.status, UNTESTED))
    sec.tables.append(
        Table(
            "stages in the order they ran",
            ["stage", "status", "time [s]", "message", "artifacts"],
            rows,
            status,
        )
    )
    return sec


def _rasters(groups: dict[str, list[Trial]]) -> Section:
    sec = Section("rasters", "Rasters")
    if not groups:
        sec.reason = "this run holds no recordings"
        return sec
    for i, (g, trials) in enumerate(groups.items()):
        t = trials[0]
        fig, note = fg.raster(t.events, t.counts, t.duration_s, f"{g}, trial 1 of {len(trials)}")
        what = "spike raster" if t.has_times else "spike counts per bin (counts readout)"
        n = len(t.events) if t.events is not None else int(np.asarray(t.counts.counts).sum())  # type: ignore[union-attr]
        alt = f"{what} of {g}, trial 1 of {len(trials)}: {n} spikes from {len(t.neurons())} neurons over {t.duration_s:g} s"
        sec.plots.append(fg.embed(fig, f"raster-{i}", f"{g}", alt, note))
    return sec


def _scatters(run: Run, groups: dict[str, list[Trial]]) -> Section:
    sec = Section("rates", "Per-neuron rates")
    pairs = list(dict.fromkeys((c.reference, c.candidate) for c in run.comparisons))
    pairs = [p for p in pairs if p[0] in groups and p[1] in groups]
    if not pairs:
        sec.reason = "no comparison in this run names two recording groups it holds"
        return sec
    for i, (a, b) in enumerate(pairs):
        neurons = neurons_of(groups[a] + groups[b])
        ra = np.mean([firing_rate(t, neurons) for t in groups[a]], axis=0)
        rb = np.mean([firing_rate(t, neurons) for t in groups[b]], axis=0)
        outliers, how = _outliers(run, a, b, neurons, ra, rb)
        fig = fg.rate_scatter(neurons, ra, rb, (a, b), outliers, how)
        named = ", ".join(_neuron(o) for o in outliers[:12]) or "none"
        alt = (
            f"scatter of the mean rate of {len(neurons)} neurons, {a} on x and {b} on y, with the "
            f"identity line; {how}: {named}"
        )
        sec.plots.append(fg.embed(fig, f"scatter-{i}", f"{a} vs {b}", alt))
        rows = [
            [_neuron(o), _num(ra[neurons == o][0]), _num(rb[neurons == o][0])]
            for o in outliers[:MAX_DETAIL_ROWS]
        ]
        sec.tables.append(Table(f"{a} vs {b}: {how}", ["neuron", f"{a} [Hz]", f"{b} [Hz]"], rows))
    return sec


def _outliers(
    run: Run, a: str, b: str, neurons: np.ndarray, ra: np.ndarray, rb: np.ndarray
) -> tuple[list[int], str]:
    """Neurons whose rate test differs in a comparison of (a, b); without a rate test, the
    N_UNTESTED_OUTLIERS largest absolute differences, said to be untested."""
    tested = False
    named: list[int] = []
    for c in run.comparisons:
        if (c.reference, c.candidate) != (a, b):
            continue
        t = run.comparison_table(c)
        rate = t[(t["stat"] == "rate") & (t["neuron"] != POPULATION)]
        if len(rate):
            tested = True
            named += [int(n) for n in rate.loc[rate["differs"]].sort_values("p_adj")["neuron"]]
    if tested:
        named = list(dict.fromkeys(named))
        return named, f"rate differs (hil.compare){'' if named else ': none'}"
    order = np.argsort(-np.abs(rb - ra), kind="stable")[:N_UNTESTED_OUTLIERS]
    return [int(neurons[i]) for i in order], f"largest {len(order)} differences (no rate test)"


def _isi_cv(groups: dict[str, list[Trial]]) -> Section:
    sec = Section("isi", "ISI and CV")
    timed = {g: ts for g, ts in groups.items() if all(t.has_times for t in ts)}
    counts_only = [g for g in groups if g not in timed]
    if counts_only:
        sec.notes.append(f"left out (counts readout, no spike times): {', '.join(counts_only)}")
    if not timed:
        sec.reason = "ISI and CV need spike times; " + (
            "every recording holds counts" if groups else "this run holds no recordings"
        )
        return sec
    isis, cvs = {}, {}
    for g, ts in timed.items():
        per = []
        for t in ts:
            for train in spike_times(t, t.neurons(), "ISI"):
                per.append(np.diff(train))
        isis[g] = np.concatenate(per or [np.zeros(0)]) * 1e3
        n = neurons_of(ts)
        with np.errstate(all="ignore"):
            stack = np.stack([isi_cv(t, n) for t in ts])
            keep = np.isfinite(stack).any(axis=0)
            cvs[g] = np.nanmean(stack[:, keep], axis=0) if keep.any() else np.zeros(0)
    summary = "; ".join(
        f"{g}: {v.size} intervals, median {_num(np.median(v)) if v.size else '-'} ms"
        for g, v in isis.items()
    )
    sec.plots.append(
        fg.embed(
            fg.histograms(isis, "inter-spike interval [ms]", "ISI distribution", log_x=True),
            "isi",
            "ISI",
            f"histogram of inter-spike intervals, log-spaced bins; {summary}",
        )
    )
    summary = "; ".join(
        f"{g}: {v.size} neurons, median CV {_num(np.median(v)) if v.size else '-'}"
        for g, v in cvs.items()
    )
    sec.plots.append(
        fg.embed(
            fg.histograms(
                cvs,
                "ISI CV per neuron [dimensionless]",
                "CV of the ISI, per neuron (mean over trials)",
            ),
            "cv",
            "CV",
            f"histogram of per-neuron ISI coefficient of variation; {summary}",
        )
    )
    return sec


def _fi(run: Run) -> Section:
    sec = Section("fi", "f-I curves")
    frame = run.table("fi")
    if frame is None or frame.empty:
        sec.reason = "this run holds no f-I table (tables: fi)"
        return sec
    rows = []
    for (chip, core), sub in frame.groupby(["chip", "core"], sort=True):
        top = sub.groupby("neuron")["rate_hz"].max()
        rows.append(
            [
                f"{chip}.{core}",
                str(sub["neuron"].nunique()),
                str(sub["idc_A"].nunique()),
                f"{_num(sub['idc_A'].min() * 1e12)} .. {_num(sub['idc_A'].max() * 1e12)}",
                _num(top.median()),
                str(int((top == 0).sum())),
            ]
        )
    alt = (
        f"f-I curves of {frame['neuron'].size} measurements on {len(rows)} cores: rate in Hz "
        f"against DC input current in pA, per-core median bold"
    )
    sec.plots.append(
        fg.embed(
            fg.fi_curves(frame),
            "fi-plot",
            "f-I",
            alt,
            f"at most {fg.MAX_FI_NEURONS} single neurons drawn per core; the medians use all",
        )
    )
    sec.tables.append(
        Table(
            "per core",
            [
                "core [chip.core]",
                "neurons",
                "DC levels",
                "DC range [pA]",
                "median max rate [Hz]",
                "silent neurons",
            ],
            rows,
        )
    )
    return sec


def _calibration(run: Run) -> Section:
    sec = Section("calibration", "Calibration")
    frame = run.table("calibration")
    if frame is None or frame.empty:
        sec.reason = "this run holds no calibration table (tables: calibration)"
        return sec
    unit = frame["unit"] if "unit" in frame.columns else pd.Series([""] * len(frame))
    rows, status = [], []
    for r, u in zip(frame.itertuples(), unit, strict=True):
        err = r.achieved / r.target - 1 if r.target else math.nan
        rows.append(
            [
                f"{r.chip}.{r.core}",
                r.parameter,
                _qty(r.target, u),
                _qty(r.achieved, u),
                _pct(err),
                "yes" if r.success else "no",
            ]
        )
        status.append(PASS if r.success else FAIL)
    ok = int(frame["success"].sum())
    alt = (
        f"bars of the relative error of the achieved value per core, {frame['parameter'].nunique()} "
        f"parameters; {ok} of {len(frame)} searches succeeded"
    )
    sec.plots.append(fg.embed(fg.calibration(frame), "calibration-plot", "calibration", alt))
    sec.tables.append(
        Table(
            f"{ok} of {len(frame)} (core, parameter) searches succeeded",
            ["core [chip.core]", "parameter", "target", "achieved", "error", "success"],
            rows,
            status,
        )
    )
    return sec


def _accuracy(run: Run) -> Section:
    sec = Section("accuracy", "Accuracy vs mismatch")
    frame = run.table("accuracy")
    if frame is None or frame.empty:
        sec.reason = "this run holds no accuracy table (tables: accuracy)"
        return sec
    has_ci = {"accuracy_lo", "accuracy_hi"} <= set(frame.columns)
    rows = []
    for r in frame.sort_values(["mode", "mismatch"], kind="stable").itertuples():
        ci = f"{r.accuracy_lo * 100:.1f} .. {r.accuracy_hi * 100:.1f}" if has_ci else ""
        rows.append(
            [
                _num(r.mismatch * 100),
                str(r.mode),
                f"{r.accuracy * 100:.1f}",
                ci,
                str(getattr(r, "n", "")),
            ]
        )
    modes = ", ".join(dict.fromkeys(frame["mode"]))
    alt = f"accuracy in percent against mismatch level in percent, one line per training mode ({modes})"
    sec.plots.append(fg.embed(fg.accuracy(frame), "accuracy-plot", "accuracy", alt))
    sec.tables.append(
        Table(
            "accuracy per mismatch level and mode",
            ["mismatch [%]", "mode", "accuracy [%]", "interval [%]", "chips"],
            rows,
        )
    )
    return sec


def _trends(run: Run) -> Section:
    sec = Section("trends", "Trends")
    frame = run.table("trend")
    if frame is None or frame.empty:
        sec.reason = "this run holds no trend table (tables: trend; nightly runs have one)"
        return sec
    for metric in dict.fromkeys(frame["metric"]):
        sub = frame[frame["metric"] == metric]
        nights = sorted(set(sub["night"]))
        alerts = int(sub["alert"].sum()) if "alert" in sub.columns else 0
        alt = (
            f"{metric}: per-core median over {len(nights)} nights from {nights[0]} to "
            f"{nights[-1]}, one line per core; {alerts} alert points marked"
        )
        sec.plots.append(fg.embed(fg.trend(frame, metric), f"trend-{metric}", metric, alt))
    return sec


def _provenance(run: Run) -> Section:
    sec = Section("provenance", "Provenance")
    columns: dict[str, dict[str, list[str]]] = {}
    if run.provenance:
        columns["run"] = {k: [v] for k, v in _flat(run.provenance).items()}
    for g in run.recordings:
        merged: dict[str, list[str]] = {}
        for rec in run.load_recordings(g):
            for k, v in _flat(getattr(rec, "provenance", None) or {}).items():
                merged.setdefault(k, []).append(v)
        columns[g] = merged
    keys = sorted({k for c in columns.values() for k in c}, key=_provenance_order)
    if not keys:
        sec.reason = "neither the run nor its recordings carry provenance"
        return sec
    rows = []
    for k in keys:
        row = [k]
        for vals in columns.values():
            distinct = list(dict.fromkeys(vals.get(k, [])))
            if not distinct:
                row.append("")
            elif len(distinct) == 1:
                row.append(distinct[0])
            else:
                row.append(bounded(f"{len(distinct)} values: " + ", ".join(distinct), MAX_CELL))
        rows.append(row)
    sec.tables.append(
        Table(
            "per recording group (a value that differs between trials lists each one)",
            ["key", *columns],
            rows,
        )
    )
    return sec


def _provenance_order(key: str) -> tuple[int, str]:
    """hil.measure's provenance keys first, in its order; then the others by name."""
    if key in PROVENANCE_KEYS:
        return PROVENANCE_KEYS.index(key), ""
    return len(PROVENANCE_KEYS), key


def _flat(d: dict[str, Any], prefix: str = "", depth: int = 0) -> dict[str, str]:
    """Nested dicts as dotted keys; values as bounded text."""
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and depth < 4:
            out.update(_flat(v, key + ".", depth + 1))
        else:
            out[key] = "none" if v is None else bounded(str(v), MAX_CELL)
    return out


# ---- formatting -----------------------------------------------------------------------------------


def _num(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "-"
    return f"{v:.4g}"


def _qty(x: Any, unit: str) -> str:
    text = _num(x)
    return text if text == "-" or not unit else f"{text} {unit}"


def _pct(x: Any) -> str:
    v = float(x)
    if math.isinf(v):
        return "+inf" if v > 0 else "-inf"
    return "-" if math.isnan(v) else f"{v:+.1%}"


def _neuron(g: Any) -> str:
    g = int(g)
    if g == POPULATION:
        return "population"
    chip, core, n = neuron_address(g)
    return f"{g} (chip {chip} core {core} #{n})"
