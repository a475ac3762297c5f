"""The campaign's stages: each a small function `fn(ctx) -> dict` (hil.campaign.runner).

Built on what this build has: probe (hil.board), conformance (the shipped suite, hil.validation, run
by pytest in a subprocess), screen (dead and hot neurons from the DC probe network,
hil.campaign.probe), compare (a fixed network on the nominal simulator, the twin when there is one,
and the chip, through hil.compare).

The stages of packages that other work brings (characterize, fit, calibrate, train, quantize,
deploy, evaluate) are thin calls to their commands as issues 9 and 10 specify them (`hil
characterize --board URL --out DIR`, `hil fit DIR --out twin.json --csv twin.csv --model
mismatch.json`, ...), run as `python -m hil ...` subprocesses. A stage whose package is missing is
skipped by the runner as "not available in this build (hil.<pkg> missing)", one whose package is
there but not its command yet as "not available in this build (`hil <command>` missing)"
(NotAvailable); the contracts are in docs/campaign.md.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import hil
from hil.artifacts import write_json
from hil.campaign.probe import HOT_MIN_HZ, PROBE, dead_and_hot, fi_table, measure
from hil.campaign.runner import Context, NotAvailable
from hil.errors import HilError, bounded

# Verdict limits of the screen (docs/campaign.md): at most this fraction of the board's neurons.
MAX_TWIN_RATE_ERROR = 0.05  # issue 9: the twin predicts per-neuron rates within a median 5 %
MAX_DEAD_FRACTION = 0.01
MAX_HOT_FRACTION = 0.01
COMMAND_TIMEOUT_S = 1800.0
# Calibration targets (HighLevel names, SI units; issue 9's example target file).
TARGETS = {"tau_mem": 0.02, "t_ref": 0.002, "tau_ampa": 0.008, "tau_gaba": 0.012}
# details of BoardInfo that change from one connection to the next: not part of the board's identity
VOLATILE = {"boot_id", "ping_ms"}


class StageFailed(HilError):
    """A stage's work did not succeed (a command exited non-zero, a check could not be made)."""


@dataclass(frozen=True)
class Profile:
    """How much each stage does (docs/campaign.md, Profiles)."""

    name: str
    trials: int  # trials per side of the sim-vs-chip comparison
    trial_s: float  # seconds per trial
    input_rate_hz: float = 50.0
    neurons_per_core: int = 256  # characterize: neurons 0..n-1 of every core
    boot: int = 200  # fit: bootstrap resamples of the mismatch model's intervals
    calibrate_cores: tuple[tuple[int, int], ...] | None = None  # (chip, core); None: every core
    task: str = "digits"  # train
    epochs: int | None = None  # train: None = the task's default

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "trials": self.trials,
            "trial_s": self.trial_s,
            "input_rate_hz": self.input_rate_hz,
            "neurons_per_core": self.neurons_per_core,
            "boot": self.boot,
            "calibrate_cores": None
            if self.calibrate_cores is None
            else [list(c) for c in self.calibrate_cores],
            "task": self.task,
            "epochs": self.epochs,
        }


# quick: characterize the 32 neurons per core the compare stage's network uses (0..31 of core 0),
# calibrate core 0 (where it sits), fewer bootstrap resamples, 5 epochs of digits; default: the
# whole chip, every core, the task's default training (docs/campaign.md, Profiles). 3 epochs were
# enough until the fitted model carried the AHP's mismatch too: then emu:// (seed 0) trained to
# 0.828 in float and lost 6.4 points on the board; 5 epochs (+1.5 s) reach 0.875 / 0.889 on seeds
# 0 / 3 and lose at most 0.6 points.
PROFILES = {
    "quick": Profile(
        "quick", 6, 1.0, neurons_per_core=32, boot=20, calibrate_cores=((0, 0),), epochs=5
    ),
    "default": Profile("default", 12, 2.0),
}


def _profile(ctx: Context) -> Profile:
    return PROFILES[str(ctx.params["profile"])]


def _url(ctx: Context) -> str:
    return str(ctx.params["board"])


def hil_command(
    args: list[str], what: str, timeout_s: float = COMMAND_TIMEOUT_S, ok: tuple[int, ...] = (0,)
) -> str:
    """Run `python -m hil ARGS` (this interpreter, this hil) and return its stdout; an exit code
    outside `ok` is StageFailed with the command's last line on stderr."""
    env = _env()
    command = [a for a in args[:2] if not a.startswith("-")][: 2 if args[0] == "config" else 1]
    if not has_command(tuple(command)):
        raise NotAvailable(f"not available in this build (`hil {' '.join(command)}` missing)")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "hil", *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise StageFailed(f"{what}: `hil {' '.join(args[:2])}` ran past {timeout_s:g} s") from None
    if done.returncode not in ok:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit code {done.returncode}"
        raise StageFailed(f"{what}: `hil {' '.join(args[:2])}` failed: {bounded(last, 500)}")
    return done.stdout


def _env() -> dict[str, str]:
    """The environment of a `python -m hil` or pytest subprocess: this hil first on the path."""
    root = str(Path(hil.__file__).resolve().parent.parent)
    env = dict(os.environ, HIL_PROGRESS="0")
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


@functools.cache
def has_command(command: tuple[str, ...]) -> bool:
    """Whether this build's `hil` has the (sub)command, e.g. ("calibrate",) or ("config",
    "calibrate"): `hil COMMAND --help` exits 0."""
    done = subprocess.run([sys.executable, "-m", "hil", *command, "--help"], capture_output=True,
                          env=_env(), timeout=120)  # fmt: skip
    return done.returncode == 0


# ---- stages this build has ----------------------------------------------------------------------


def probe(ctx: Context) -> dict:
    """Who answers at the URL: BoardInfo without what changes per connection, and the round trip."""
    from hil.board import open_board

    with open_board(_url(ctx)) as board:
        info = board.info()
        rtt = board.ping() if hasattr(board, "ping") else None
    d = info.to_dict()
    d["details"] = {
        k: v
        for k, v in d["details"].items()
        if k not in VOLATILE and isinstance(v, str | int | float | bool | type(None))
    }
    ctx.run.provenance.update(
        {"board_id": info.board_id, "board_kind": info.kind, "board_version": info.version}
    )
    detail = f"{info.kind} {info.version}, {info.n_chips} chip(s)"
    if rtt is not None:
        detail += f", command round trip {rtt * 1e3:.2f} ms"
    ctx.run.add_check("board answers", passed=True, detail=detail)
    return {"info": d, "message": f"{info.board_id}: {detail}"}


def conformance(ctx: Context) -> dict:
    """The shipped conformance suite (pytest --pyargs hil.validation --board URL) in a subprocess;
    its JUnit XML is kept. Verdict: no failed or erroring test."""
    ctx.dir.mkdir(parents=True, exist_ok=True)
    xml = ctx.path("junit.xml")
    env = _env()
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs",
           "hil.validation", "--board", _url(ctx), f"--junitxml={xml}"]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                              env=env)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise StageFailed(f"the conformance suite ran past {COMMAND_TIMEOUT_S:g} s") from None
    (ctx.dir / "pytest.txt").write_text(done.stdout[-200_000:] + done.stderr[-50_000:])
    if not xml.is_file():
        tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
        raise StageFailed(f"the conformance suite did not run: {bounded(tail[0], 500)}")
    top = ET.parse(xml).getroot()
    suite = top if top.tag == "testsuite" else top.find("testsuite")
    if suite is None:
        raise StageFailed(f"the conformance suite's {xml.name} holds no testsuite")
    n = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    bad = [
        f"{case.get('name')}: {(case[0].get('message') or '').splitlines()[0][:200]}"
        for case in suite.iter("testcase")
        if len(case) and case[0].tag in ("failure", "error")
    ]
    failed = n["failures"] + n["errors"]
    ctx.run.add_check(
        "conformance suite",
        value=failed,
        op="<=",
        limit=0,
        unit="failed tests",
        detail=f"{n['tests']} tests, {n['skipped']} skipped"
        + ("; " + "; ".join(bad[:5]) if bad else ""),
    )
    return {
        "tests": n,
        "failed": bad,
        "message": f"{n['tests'] - failed - n['skipped']} of {n['tests']} passed",
    }


def screen(ctx: Context) -> dict:
    """The DC probe network on the chip: per-neuron rates (stages/screen/rates.parquet, the
    report's f-I table), and the dead and hot neurons against MAX_DEAD/HOT_FRACTION."""
    from hil.artifacts import write_atomic
    from hil.board import open_board

    with open_board(_url(ctx)) as board:
        frame, recs = measure(board, PROBE)
    ctx.dir.mkdir(parents=True, exist_ok=True)
    write_atomic(ctx.path("rates.parquet"), frame.to_parquet(index=False))
    ctx.run.add_table("fi", fi_table(frame, PROBE))
    dead, hot = dead_and_hot(frame, PROBE)
    n = len(frame)
    lost = sum(int(r.provenance.get("link_lost") or 0) for _, r in recs)
    for what, found, limit in (("dead", dead, MAX_DEAD_FRACTION), ("hot", hot, MAX_HOT_FRACTION)):
        shown = ", ".join(str(int(i)) for i in found[:20]) + (" ..." if found.size > 20 else "")
        how = (
            f"silent at Idc {max(PROBE.levels_A):g} A for {PROBE.duration_s:g} s"
            if what == "dead"
            else f"spiking at >= {HOT_MIN_HZ:g} Hz with no input and no DC ({PROBE.spont_s:g} s)"
        )
        ctx.run.add_check(
            f"{what} neurons",
            value=round(100.0 * found.size / n, 3),
            op="<=",
            limit=100.0 * limit,
            unit="%",
            detail=f"{found.size} of {n} {how}" + (f": {shown}" if found.size else ""),
        )
    return {
        "dead": [int(i) for i in dead],
        "hot": [int(i) for i in hot],
        "link_lost": lost,
        "probe": PROBE.to_dict(),
        "message": f"{dead.size} dead, {hot.size} hot of {n}",
    }


def compare_stage(ctx: Context) -> dict:
    """A fixed network (hil.chip.example, calibrated when the calibrate stage ran) on the chip, the
    nominal simulator and, when the fit stage made one, the twin; paired trials (trial k of every
    side gets the same Poisson input). The twin against the chip is the verdict, the nominal
    simulator is shown beside it; without a twin the nominal comparison is shown and is not a
    verdict (a nominal simulator is not expected to match one chip's neurons: mismatch)."""
    from hil.board import open_board
    from hil.chip.example import N_INPUTS, example_config
    from hil.compare import compare
    from hil.events import poisson_input
    from hil.measure import record

    prof = _profile(ctx)
    cfg = example_config(seed=0)
    ctx.dir.mkdir(parents=True, exist_ok=True)
    cal = ctx.result("calibrate")
    if cal is not None:  # the calibrated biases on every side (hil.calibrate.merge)
        from hil.calibrate import load, merge

        cfg, notes = merge(cfg, load(ctx.run.path / cal["calibration"]))
        cfg.save(ctx.path("network.json"))
    fit = ctx.result("fit")
    sides = [("chip", _url(ctx)), ("sim", "sim://")]
    if fit is not None:
        sides.append(("twin", f"sim://?twin={ctx.run.path / fit['twin']}"))
    stims = [
        poisson_input(prof.input_rate_hz, N_INPUTS, prof.trial_s, seed=1000 + k)
        for k in range(prof.trials)
    ]
    recs: dict[str, list] = {}
    for group, url in sides:
        with open_board(url) as board:
            recs[group] = [
                record(board, s, prof.trial_s, config=cfg, stimulus_seed=1000 + k)
                for k, s in enumerate(ctx.bar(stims, total=len(stims)))
            ]
        for r in recs[group]:
            ctx.run.add_recording(group, r)
    lost = sum(int(r.provenance.get("link_lost") or 0) for r in recs["chip"])
    ctx.run.add_check("link losses", value=lost, op="<=", limit=0, unit="events",
                      detail=f"{len(recs['chip'])} chip trials")  # fmt: skip
    stats = ["rate", "cv"]
    nominal = compare(recs["sim"], recs["chip"], stats, paired=True, labels=("sim", "chip"))
    ctx.run.add_comparison("nominal simulator vs chip", nominal, "sim", "chip",
                           verdict=False)  # fmt: skip
    out: dict[str, Any] = {"nominal_differ": int(nominal.table["differs"].sum()),
           "nominal_rate_error": _median_rate_error(recs["sim"], recs["chip"])}  # fmt: skip
    if "twin" in recs:
        twin = compare(recs["twin"], recs["chip"], stats, paired=True, labels=("twin", "chip"))
        # shown, not judged: paired trials (same input) detect any systematic error (a 3 % rate
        # error gives d_z ~ 3, the default profile's 12 trials flag it), while the quick
        # profile's 6 paired trials cannot reach alpha after Holm at all; the verdict is issue 9's
        # prediction target instead (below)
        ctx.run.add_comparison("twin vs chip", twin, "twin", "chip", verdict=False)
        out["twin_differ"] = int(twin.table["differs"].sum())
        out["twin_rate_error"] = _median_rate_error(recs["twin"], recs["chip"])
        ctx.run.add_check(
            "twin predicts the chip's rates",
            value=round(100 * out["twin_rate_error"], 2),
            op="<=",
            limit=100 * MAX_TWIN_RATE_ERROR,
            unit="% median |rate error|",
            detail="neurons >= 2 Hz on either side (issue 9's prediction target)",
        )
        ctx.run.add_check(
            "twin closer to the chip than the nominal simulator",
            value=round(100 * out["twin_rate_error"], 2),
            op="<=",
            limit=round(100 * out["nominal_rate_error"], 2),
            unit="% median |rate error|",
            detail=f"{out['twin_differ']} vs {out['nominal_differ']} (statistic, neuron) tests "
            "differ",
        )
    else:  # no verdict is made up for the missing twin: the summary says what was not judged
        out["not_judged"] = (
            "no twin in this build (fit not available): nominal simulator vs chip is shown, "
            "not judged"
        )
    out["message"] = (
        f"nominal simulator vs chip: {out['nominal_differ']} tests differ, median |rate error| "
        f"{100 * out['nominal_rate_error']:.1f} %"
    )
    if "twin_differ" in out:
        out["message"] += (
            f"; twin vs chip: {out['twin_differ']} differ, {100 * out['twin_rate_error']:.1f} %"
        )
    else:
        out["message"] += "; " + out["not_judged"]
    write_json(ctx.path("compare.json"), out)
    return out


def _median_rate_error(ref: list, cand: list) -> float:
    """Median over neurons active on either side (>= 2 Hz) of |cand rate / ref rate - 1|."""

    def rates(recs: list) -> dict[int, float]:
        from hil.events import global_index

        total: dict[int, float] = {}
        for r in recs:
            idx, c = np.unique(global_index(r.events), return_counts=True)
            for i, k in zip(idx, c, strict=True):
                total[int(i)] = total.get(int(i), 0.0) + k / r.duration_s / len(recs)
        return total

    a, b = rates(ref), rates(cand)
    keys = [k for k in set(a) | set(b) if max(a.get(k, 0.0), b.get(k, 0.0)) >= 2.0]
    if not keys:
        return float("nan")
    err = [abs(b.get(k, 0.0) / a[k] - 1) if a.get(k, 0.0) > 0 else 1.0 for k in keys]
    return float(np.median(err))


# ---- stages of other packages: thin calls to their commands (issues 9 and 10) --------------------


def characterize(ctx: Context) -> dict:
    """`hil characterize --board URL --out stages/characterize/data` (issue 9 s1, s4)."""
    out = ctx.path("data")
    n = _profile(ctx).neurons_per_core
    hil_command(["characterize", "--board", _url(ctx), "--out", str(out), "--neurons-per-core",
                 str(n)], "characterize")  # fmt: skip
    return {"dir": ctx.rel(out), "message": f"neurons 0..{n - 1} of every core"}


def fit(ctx: Context) -> dict:
    """`hil fit DIR --out twin.json --csv twin.csv --model mismatch.json` (issue 9 s2, s4)."""
    char = ctx.result("characterize")
    assert char is not None
    twin, model = ctx.path("twin.json"), ctx.path("mismatch.json")
    hil_command(["fit", str(ctx.run.path / char["dir"]), "--out", str(twin), "--csv",
                 str(ctx.path("twin.csv")), "--model", str(model), "--boot",
                 str(_profile(ctx).boot)], "fit")  # fmt: skip
    return {
        "twin": ctx.rel(twin),
        "twin_csv": ctx.rel(ctx.path("twin.csv")),
        "model": ctx.rel(model),
    }


def calibrate(ctx: Context) -> dict:
    """`hil calibrate --board URL --target targets.json --out calibration.json` (issue 9 s3); the
    result (hil.calibration/1) becomes the report's calibration table."""
    import pandas as pd

    target = ctx.path("targets.json")
    spec: dict[str, Any] = {"schema": "hil.calibration-target/1", "targets": TARGETS}
    if _profile(ctx).calibrate_cores is not None:
        spec["cores"] = [list(c) for c in _profile(ctx).calibrate_cores or ()]
    write_json(target, spec)
    out = ctx.path("calibration.json")
    # exit 1: some core missed a target; the record is written and the check below says which.
    # --no-cache: the campaign measures the board (its own resume decides what is reused)
    hil_command(["calibrate", "--board", _url(ctx), "--target", str(target), "--out", str(out),
                 "--no-cache"], "calibrate", ok=(0, 1))  # fmt: skip
    from hil.artifacts import read_json

    doc = read_json(out, "calibration")
    rows = []
    for core in doc.get("cores", []) if isinstance(doc, dict) else []:
        for p, target_v in TARGETS.items():
            achieved = core.get("achieved", {}).get(p)
            rows.append({"chip": core["chip"], "core": core["core"], "parameter": p,
                         "target": target_v, "achieved": float("nan") if achieved is None else achieved,
                         "success": bool(core.get("success", {}).get(p, False))})  # fmt: skip
    if rows:
        ctx.run.add_table("calibration", pd.DataFrame(rows))
        failed = [
            f"core {r['chip']}.{r['core']} {r['parameter']}" for r in rows if not r["success"]
        ]
        ctx.run.add_check("calibration succeeded", value=len(failed), op="<=", limit=0,
                          unit="searches failed", detail=", ".join(failed[:10]))  # fmt: skip
    return {"calibration": ctx.rel(out)}


def train(ctx: Context) -> dict:
    """`hil train --task TASK --robust noise [--mismatch M.json] [--epochs E] --out model.json`
    (issue 10 s5), against the fitted mismatch model when the fit stage made one."""
    prof = _profile(ctx)
    out = ctx.path("model.json")
    args = ["train", "--task", prof.task, "--robust", "noise", "--out", str(out), "--json"]
    if prof.epochs is not None:
        args += ["--epochs", str(prof.epochs)]
    fitted = ctx.result("fit")
    if fitted is not None:
        args += ["--mismatch", str(ctx.run.path / fitted["model"])]
    summary = json.loads(hil_command(args, "train"))
    against = "the fitted mismatch model" if fitted is not None else "the documented prior"
    return {
        "model": ctx.rel(out),
        "test_accuracy": summary.get("test_accuracy"),
        "message": f"{prof.task}, noise against {against}: float test accuracy "
        f"{summary.get('test_accuracy', float('nan')):.3f}, {summary.get('epochs_done')} epochs",
    }


def quantize(ctx: Context) -> dict:
    """The trained model's weights -> per-core base weights and 4-bit masks
    (hil.quantize.weights.quantize_model; there is no `hil quantize` command, its API is the
    contract): writes quantized.json (hil.model/1 with its quantized form), which the deploy stage
    deploys; the relative RMS weight error is recorded (no verdict: the issue's targets are for its
    fixed weight sets, `hil bench quantize`). A model trained quantization-aware keeps its own."""
    import numpy as np

    from hil.quantize.weights import levels_per_core, quantize_model, relative_rms_error
    from hil.train.model import Model

    trained = ctx.result("train")
    assert trained is not None
    model = Model.load(ctx.run.path / trained["model"])
    done = model if model.quantized else quantize_model(model)
    q = done.quantized or {}
    lv = levels_per_core(np.asarray(q["iw"], dtype=np.float64))[done.core_of]
    cols = np.arange(done.n_neurons)[None, :]
    q_in = np.sign(done.w_in) * lv[cols, np.asarray(q["masks_in"])]
    q_rec = np.sign(done.w_rec) * lv[cols, np.asarray(q["masks_rec"])]
    err = relative_rms_error(done.w_in, done.w_rec, q_in, q_rec)
    out = ctx.path("quantized.json")
    done.save(out)
    how = "its own (quantization-aware)" if model.quantized else "hil.quantize"
    return {
        "model": ctx.rel(out),
        "relative_rms_weight_error": err,
        "message": f"{how}: relative RMS weight error {100 * err:.2f} % over "
        f"{done.n_cores} core(s)",
    }


def deploy(ctx: Context) -> dict:
    """`hil deploy MODEL --board URL [--calibration C.json] [--twin twin.json] -o config.json`
    (hil.deploy maps and places; the twin is the fit's hil.twin/1, which hil.deploy.placement's
    load_twin reads with its per-slot weight factors). MODEL: the quantize stage's model when it
    ran, else the trained one (hil deploy then quantizes it itself)."""
    model = ctx.result("quantize") or ctx.result("train")
    assert model is not None
    out = ctx.path("config.json")
    args = ["deploy", str(ctx.run.path / model["model"]), "--board", _url(ctx), "-o", str(out)]
    cal, fitted = ctx.result("calibrate"), ctx.result("fit")
    if cal is not None:
        args += ["--calibration", str(ctx.run.path / cal["calibration"])]
    if fitted is not None:
        args += ["--twin", str(ctx.run.path / fitted["twin"])]
    summary = json.loads(hil_command(args + ["--json"], "deploy"))
    return {
        "config": ctx.rel(out),
        "model": model["model"],
        "message": f"cores {summary.get('cores_used')}, placement {summary.get('placement')}, "
        f"relative RMS weight error {100 * summary.get('relative_rms_weight_error', 0):.2f} %",
    }


def evaluate(ctx: Context) -> dict:
    """`hil evaluate MODEL --board URL [--calibration C.json] [--twin twin.json] --chips 0 --json`
    (issue 10 s5): the model deployed as the deploy stage did it, its test split on the board, the
    accuracy against the float simulator's, within MAX_ACCURACY_DROP."""
    dep = ctx.result("deploy")
    assert dep is not None
    args = ["evaluate", str(ctx.run.path / dep["model"]), "--board", _url(ctx), "--chips", "0",
            "--json"]  # fmt: skip
    cal, fitted = ctx.result("calibrate"), ctx.result("fit")
    if cal is not None:
        args += ["--calibration", str(ctx.run.path / cal["calibration"])]
    if fitted is not None:
        args += ["--twin", str(ctx.run.path / fitted["twin"])]
    doc = json.loads(hil_command(args, "evaluate"))
    ctx.dir.mkdir(parents=True, exist_ok=True)
    write_json(ctx.path("evaluate.json"), doc)
    ref = float(doc["float_sim_accuracy"])
    acc = float(doc["boards"][0]["accuracy"])
    n = int(doc["boards"][0].get("samples", 0))
    ctx.run.add_check("the trained model learned the task", value=round(ref, 3), op=">=",
                      limit=MIN_FLOAT_ACCURACY, unit="float simulator accuracy",
                      detail=f"{n} test samples; the board's accuracy is judged against it "
                      "only when it means something")  # fmt: skip
    ctx.run.add_check("accuracy on the board", value=round(100 * (ref - acc), 2), op="<=",
                      limit=100 * MAX_ACCURACY_DROP, unit="points below the float simulator",
                      detail=f"board {acc:.3f}, float simulator {ref:.3f}, {n} test samples")  # fmt: skip
    return {
        "float_sim_accuracy": ref,
        "accuracy": acc,
        "message": f"board {acc:.3f} vs float simulator {ref:.3f} ({n} test samples)",
    }


MAX_ACCURACY_DROP = 0.05  # a deployed network may lose at most 5 points of accuracy on the board
# The board-vs-float verdict means nothing for a model at chance (a 0.5 vs 0.5 "pass"): the float
# accuracy must reach this first. digits: chance 0.1; the quick profile's 5 epochs reach 0.87-0.89, the
# full training >= 0.90 (issue 10's acceptance).
MIN_FLOAT_ACCURACY = 0.8
