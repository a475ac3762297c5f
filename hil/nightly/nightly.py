"""One board's night: the campaign's stages, a drift check against the board's history, the store.

    summary = run_night(NightJob(url="emu://?seed=3", store="sqlite:///reports/hil.db",
                                 night="2026-11-28", out="reports/nightly"))

Stages (hil.campaign.runner, into the run directory OUT/<board id>/<night>/): probe, conformance,
characterize, fit, calibrate (skipped while their packages are missing), measure (the DC probe
network: per-neuron rates and their standard errors, dead and hot neurons), validate (the compare
stage: sim and twin vs chip), drift (hil.nightly.drift against the store's history), store (one
transaction: statistics, alerts, the night's calibration, verdict), report (with trend plots from
the store). Every stage is recorded in the store as it starts and ends.

A night that fails (a stage raises) is stored as failed with its cause, and its calibration is not
activated; a killed process leaves its attempt `running` until the next attempt of the same night
takes over (hil.store). A night that is already complete is not run again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hil.campaign import stages as st
from hil.campaign.campaign import CAMPAIGN
from hil.campaign.probe import PROBE, level_column
from hil.campaign.runner import Context, Outcome, Stage, run_stages
from hil.errors import ConfigError, StoreError
from hil.nightly import SKIPPABLE
from hil.nightly import drift as dr

TREND_NIGHTS = 90  # nights the report's trend plots show
# the store's name of a stage's status
_STORE_STATUS = {"done": "ok", "reused": "ok", "failed": "failed", "skipped": "skipped"}


@dataclass(frozen=True)
class NightJob:
    """One board's nightly job, as plain data (it travels to a Dask worker).

    url: the board URL; store: the store URL (each process opens its own); night: YYYY-MM-DD;
    out: the folder of run directories (OUT/<board id>/<night>/); skip: stages left out
    (SKIPPABLE); profile: the compare stage's profile (hil.campaign.stages.PROFILES);
    name: the board's name in the farm (its Dask resource), default the URL."""

    url: str
    store: str
    night: str
    out: str = "reports/nightly"
    skip: tuple[str, ...] = ()
    profile: str = "quick"
    name: str = ""

    def __post_init__(self) -> None:
        try:
            dt.date.fromisoformat(self.night)
        except (TypeError, ValueError):
            raise ConfigError("night", self.night, "a date YYYY-MM-DD") from None
        bad = [s for s in self.skip if s not in SKIPPABLE]
        if bad:
            raise ConfigError("skip", bad, f"stages among {', '.join(SKIPPABLE)}")
        if self.profile not in st.PROFILES:
            raise ConfigError("profile", self.profile, f"one of {', '.join(st.PROFILES)}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class NightState:
    """What the stages of one night share besides the run directory: the store and the run."""

    job: NightJob
    store: Any  # hil.store.Store (imported in run_night)
    board: str = ""
    run_id: int | None = None
    notes: list[str] = field(default_factory=list)


def _metrics(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The per-neuron statistics stored each night: every rate column of the probe's frame."""
    return {c: frame[c].to_numpy(float) for c in frame.columns if c.endswith("_hz")}


def twin_metrics(path: Path, neurons: np.ndarray) -> dict[str, np.ndarray]:
    """The twin's identified per-neuron values (hil.twin/1 JSON: `hil fit --out`) as store metrics,
    aligned with `neurons` (board-wide): every current column of its truth-CSV view as
    `twin_<column>_a` [A] and, where the fit gave the column a per-neuron standard error (se_log),
    `twin_<column>_se_a` = value * se_log [A] (first order). Only the neurons the fit identified
    (some finite se_log) get values, NaN elsewhere (not stored): the others hold nominal values.
    A twin without se_log (an older `hil fit`) gives values for every neuron and no errors."""
    from hil.mismatch.twin import Twin

    twin = Twin.load(path)
    frame = twin.frame()
    n = len(frame)
    at = np.asarray(neurons, np.int64)
    if at.size and (at.min() < 0 or at.max() >= n):
        raise ConfigError("neurons", f"{at.min()}..{at.max()}", f"board-wide indices < {n}")
    se = {b: np.asarray(v, float) for b, v in twin.se_log.items()}
    known = np.ones(n, bool)
    if se:
        known = np.any([np.isfinite(v) for v in se.values()], axis=0)
    out = {}
    for col in frame.columns:
        name = "twin_" + "".join(ch if ch.isalnum() else "_" for ch in col.lower()) + "_a"
        if col in ("chip", "core", "neuron", "dead", "hot") or frame[col].dtype.kind not in "if":
            continue
        if not dr.METRIC.fullmatch(name):
            raise ConfigError("twin column", col, "a name that makes a store metric")
        v = np.where(known, frame[col].to_numpy(float), np.nan)
        out[name] = v[at]
        if col in se:
            out[dr.se_metric(name)] = (v * se[col])[at]
    return out


def param_metrics(names: set[str] | list[str]) -> list[str]:
    """The identified-parameter metrics among `names` that the drift test judges: twin_*_a with
    their standard-error partner present."""
    return sorted(
        m
        for m in names
        if m.startswith("twin_") and m.endswith("_a") and "_se_" not in m
        and dr.se_metric(m) in names
    )  # fmt: skip


def _drift_metrics() -> list[str]:
    return [level_column(a) for a in PROBE.levels_A]


def drift_stage(state: NightState) -> Any:
    def fn(ctx: Context) -> dict:
        measured = ctx.result("measure")
        assert measured is not None
        frame = pd.read_parquet(ctx.input_path("measure", "stages/measure/rates.parquet"))
        neurons = frame["neuron"].to_numpy(np.int64)
        values = _metrics(frame)
        fitted = ctx.result("fit")
        if fitted is not None and "twin" in fitted:  # the identified per-neuron values
            values.update(twin_metrics(ctx.run.path / fitted["twin"], neurons))
        tonight = dr.Night(neurons, values)
        params = param_metrics(set(values))
        store = state.store
        known = store.boards()
        if state.board not in known or not len(
            store.history(state.board).query("status == 'complete'")
        ):
            ctx.run.add_table("trend", _trend([(state.job.night, tonight)], set()))
            ctx.run.add_check("drift", passed=True, detail="first night of this board: it is the "
                              "reference of the nights that follow")  # fmt: skip
            return {"alerts": [], "reference": None, "message": "first night: the reference"}
        stored = set(store.metrics())
        wanted = set(_metrics(frame)) | set(params) | {dr.se_metric(p) for p in params}
        metrics = sorted(m for m in wanted if m in stored)
        hist = {m: store.stat_history(state.board, m, neurons=neurons) for m in metrics}
        ref_hist = hist[metrics[0]]  # every history has the same complete nights
        # per metric, the first complete night that has it (a night whose fit was skipped has none)
        first = {m: _first_night(h.values) for m, h in hist.items()}
        reference = dr.Night(
            neurons, {m: h.values[first[m]] for m, h in hist.items() if first[m] is not None}
        )
        recent = max(0, len(ref_hist.nights) - dr.HISTORY_NIGHTS)
        history = [
            dr.Night(neurons, {m: h.values[i] for m, h in hist.items()})
            for i in range(recent, len(ref_hist.nights))
        ]
        strongest = level_column(max(PROBE.levels_A))
        params = [p for p in params if first.get(p) is not None and first.get(dr.se_metric(p))
                  is not None]  # fmt: skip
        found, numbers = dr.check(
            reference, tonight, history, _drift_metrics(), strongest, params=params
        )
        ctx.dir.mkdir(parents=True, exist_ok=True)
        doc = {
            "reference_night": ref_hist.nights[0].isoformat(),
            "reference_nights": {
                m: ref_hist.nights[i].isoformat() for m, i in first.items() if i is not None
            },
            "params": params,
            "history_nights": len(history),
            "thresholds": dataclasses.asdict(dr.THRESHOLDS),
            "cores": {m: {str(c): v for c, v in n.items()} for m, n in numbers.items()},
            "alerts": [dataclasses.asdict(f) for f in found],
        }
        from hil.artifacts import write_json

        write_json(ctx.path("drift.json"), _finite(doc))
        shown = max(0, len(ref_hist.nights) - TREND_NIGHTS)
        past = [
            (
                ref_hist.nights[i].isoformat(),
                dr.Night(neurons, {m: h.values[i] for m, h in hist.items()}),
            )
            for i in range(shown, len(ref_hist.nights))
        ]
        old = store.alerts(state.board)
        old = old[old["kind"] == "core_drift"]
        hits: set[tuple[str, object, object]] = {
            (str(r.night), r.metric, int(r.core)) for r in old.itertuples()
        }
        hits |= {(state.job.night, f.metric, f.core) for f in found if f.kind == "core_drift"}
        ctx.run.add_table("trend", _trend(past + [(state.job.night, tonight)], hits))
        kinds: dict[str, int] = {}
        for f in found:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
        ctx.run.add_check(
            "drift alerts",
            value=len(found),
            op="<=",
            limit=0,
            unit="alerts",
            detail=f"against the reference night {doc['reference_night']}, "
            f"{len(history)} nights of history; "
            + ("; ".join(f"{n} {k}" for k, n in kinds.items()) or "none")
            + ("; " + "; ".join(f.message for f in found[:5]) if found else ""),
        )
        return {
            "alerts": doc["alerts"],
            "reference": doc["reference_night"],
            "message": f"{len(found)} alerts against {doc['reference_night']}",
        }

    return fn


def _first_night(values: np.ndarray) -> int | None:
    """The first row (night) of a (nights x neurons) history with a finite value, or None."""
    rows = np.flatnonzero(np.isfinite(values).any(axis=1))
    return int(rows[0]) if rows.size else None


def _trend(nights: list[tuple[str, dr.Night]], alerts: set) -> pd.DataFrame:
    """hil.report's trend table: per night, drift metric and board-wide core the median; `alerts`
    holds the (night, metric, core) of core drift alerts."""
    from hil.chip.geometry import CORES_PER_CHIP, neuron_address

    rows = []
    for night, n in nights:
        chip, core, _ = neuron_address(n.neurons)
        cores = chip * CORES_PER_CHIP + core
        for metric in [m for m in _drift_metrics() if m in n.values]:
            v = n.get(metric)
            for c in np.unique(cores):
                x = v[(cores == c) & np.isfinite(v)]
                rows.append({"night": night, "metric": metric, "core": int(c),
                             "value": float(np.median(x)) if x.size else float("nan"),
                             "alert": (night, metric, int(c)) in alerts})  # fmt: skip
    return pd.DataFrame(rows)


def history_report(store: Any, board: str, out: str | Path, last: int = TREND_NIGHTS) -> Path:
    """Render a report of `board`'s history from the store alone (no board): the trend plots of
    its last `last` complete nights, core drift alerts ringed, and the history table's verdicts
    as checks. Returns the report's path."""
    from hil.report.document import write_report
    from hil.report.rundir import Run

    stored = set(store.metrics())
    metrics = [m for m in _drift_metrics() if m in stored]
    if not metrics:
        raise StoreError(f"store {store.url} holds none of {', '.join(_drift_metrics())}")
    hist = {m: store.stat_history(board, m, last=last) for m in metrics}
    first = next(iter(hist.values()))
    nights = [
        (first.nights[i].isoformat(),
         dr.Night(first.neurons, {m: h.values[i] for m, h in hist.items()}))
        for i in range(len(first.nights))
    ]  # fmt: skip
    old = store.alerts(board)
    old = old[old["kind"] == "core_drift"]
    hits = {(str(r.night), r.metric, int(r.core)) for r in old.itertuples()}
    run = Run.create(
        out, title=f"history: {board}", provenance={"store": store.url, "board": board}
    )
    run.add_table("trend", _trend(nights, hits))
    table = store.history(board)
    for r in table.itertuples():
        if r.status == "complete":
            run.add_check(f"night {r.night} (run {r.run_id})", passed=r.verdict == "pass",
                          detail=f"{r.n_alerts} alerts")  # fmt: skip
    run.save()
    return write_report(run)


def _finite(obj: Any) -> Any:
    """`obj` with every non-finite float as None (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def store_stage(state: NightState) -> Any:
    def fn(ctx: Context) -> dict:
        from hil.report.document import FAIL, overall
        from hil.store import Alert

        frame = pd.read_parquet(ctx.input_path("measure", "stages/measure/rates.parquet"))
        drift = ctx.result("drift") or {"alerts": []}
        alerts = [
            Alert(
                a["kind"],
                a["message"],
                metric=a["metric"],
                neuron=a["neuron"],
                core=a["core"],
                value=a["value"],
                threshold=a["threshold"],
            )  # fmt: skip
            for a in drift["alerts"]
        ]
        verdict = "fail" if overall(ctx.run)[0] == FAIL else "pass"
        calibration = None
        cal = ctx.result("calibrate")
        if cal is not None:
            from hil.artifacts import read_json

            calibration = read_json(ctx.run.path / cal["calibration"], "calibration")
        # the store stage's own row ends as it enters the one transaction that completes the run
        # (a run completes only with no stage running); if that transaction fails, the run fails
        state.store.end_stage(state.run_id, "store", "ok", detail={"verdict": verdict})
        stats = _metrics(frame)
        fitted = ctx.result("fit")
        if fitted is not None and "twin" in fitted:  # the identified per-neuron values
            stats.update(twin_metrics(ctx.run.path / fitted["twin"], frame["neuron"].to_numpy()))
        cal_id = state.store.complete_run(
            state.run_id,
            stats=stats,
            neurons=frame["neuron"].to_numpy(np.int64),
            calibration=calibration,
            activate=calibration is not None and verdict == "pass",
            calibration_note=f"nightly {state.job.night}",
            verdict=verdict,
            alerts=alerts,
        )
        return {
            "run_id": state.run_id,
            "verdict": verdict,
            "calibration_id": cal_id,
            "message": f"run {state.run_id} complete, verdict {verdict}, {len(alerts)} alerts"
            + ("" if cal_id is None else f", calibration {cal_id}"),
        }

    return fn


def stages_for(state: NightState) -> list[Stage]:
    """The night's stages (module docstring), without those in `job.skip`."""
    c = {s.name: s for s in CAMPAIGN}
    out = [
        c["probe"],
        c["conformance"],
        c["characterize"],
        c["fit"],
        c["calibrate"],
        Stage("measure", st.screen, inputs=("probe",), title="DC probe network"),
        Stage(
            "validate",
            st.compare_stage,
            inputs=("probe",),
            uses=("calibrate", "fit"),
            title="sim and twin vs chip",
        ),  # fmt: skip
        Stage("drift", drift_stage(state), inputs=("measure",), uses=("fit",), always=True),
        Stage(
            "store",
            store_stage(state),
            inputs=("measure",),
            uses=("drift", "calibrate", "fit"),
            always=True,
        ),  # fmt: skip
    ]
    return [s for s in out if s.name not in state.job.skip]


def run_night(job: NightJob) -> dict:
    """Run `job` (one board, one night) and return its summary (JSON-able): board, night, run_id,
    exit_code (0 pass, 1 a verdict, a stage or a drift alert failed), verdict, alerts, stages."""
    from hil.board import open_board
    from hil.report.rundir import Run
    from hil.store import open_store

    with open_board(job.url) as board:  # who the board is decides where its history lives
        board_id = board.info().board_id
    with open_store(job.store) as store:
        state = NightState(job, store, board_id)
        try:
            run_id = store.start_run(
                board_id, job.night, provenance={"url": job.url, "name": job.name or job.url}
            )
        except StoreError as e:
            if "already has a complete run" in str(e):
                return {"board": board_id, "night": job.night, "exit_code": 0, "verdict": "done",
                        "message": str(e), "stages": []}  # fmt: skip
            raise
        state.run_id = run_id
        out = Path(job.out) / _slug(board_id) / job.night
        run = Run.create(
            out,
            title=f"nightly {job.night}: {board_id}",
            provenance={
                "command": "hil nightly",
                "board_url": job.url,
                "night": job.night,
                "store": store.url,
                "run_id": state.run_id,
            },  # fmt: skip
        )
        params = {"board": job.url, "night": job.night, "profile": job.profile,
                  "profile_settings": st.PROFILES[job.profile].to_dict()}  # fmt: skip

        begun: set[str] = set()

        def started(name: str) -> None:
            store.begin_stage(run_id, name)
            begun.add(name)

        def ended(o: Outcome) -> None:
            status = _STORE_STATUS.get(o.status)
            if status is None or o.name == "store":  # not run; the store stage records itself
                return
            if o.name not in begun:  # reused, or skipped before it ran: no start recorded yet
                store.begin_stage(run_id, o.name)
            store.end_stage(
                run_id, o.name, status, error=o.message if status == "failed" else None,
                detail={"seconds": round(o.seconds, 3), "message": o.message[:2000],
                        "reused": o.status == "reused"},
            )  # fmt: skip

        try:
            result = run_stages(run, stages_for(state), params, on_stage=ended, on_start=started)
        except BaseException as e:
            store.fail_run(state.run_id, f"{type(e).__name__}: {e}"[:2000] or type(e).__name__)
            raise
        failed = [o for o in result.outcomes if o.status == "failed" and o.name != "report"]
        if failed:
            store.fail_run(state.run_id, f"stage {failed[0].name}: {failed[0].message}"[:9000])
        if result.report is not None and not failed:  # a failed run takes no more rows
            store.attach(state.run_id, "report.html", result.report)
            store.attach(state.run_id, "run.json", run.path / "run.json")
        drift = next((o.result for o in result.outcomes if o.name == "drift"), {})
        return {
            "board": board_id,
            "night": job.night,
            "run_id": state.run_id,
            "exit_code": result.exit_code,
            "verdict": result.verdict,
            "alerts": len(drift.get("alerts", [])),
            "run_dir": str(run.path),
            "stages": result.summary()["stages"],
        }


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "board"
