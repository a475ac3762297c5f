"""The campaign's seams: every command a stage calls exists in this build's `hil` (review F1), a
board URL that cannot be opened as written is exit 2 with no run directory (F11), and the
train -> quantize -> deploy -> evaluate chain runs as stages on a real (tiny) model, the deploy and
evaluate stages reading the fit stage's twin (F26)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from hil.campaign import stages as st
from hil.campaign.runner import Stage, run_stages
from hil.report.rundir import Run

ROOT = Path(__file__).resolve().parent.parent
TYPICAL = ROOT / "fixtures" / "silicon" / "typical.json"


def _called_commands() -> set[str]:
    """First words of the `hil ...` argument lists built in the stage functions that call
    hil_command (read from stages.py's source, not from a list kept beside it)."""
    tree = ast.parse(Path(st.__file__).read_text())
    out = set()
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        calls = [c for c in ast.walk(fn) if isinstance(c, ast.Call)
                 and getattr(c.func, "id", None) == "hil_command"]  # fmt: skip
        if not calls:
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.List) and node.elts and isinstance(node.elts[0], ast.Constant):
                if isinstance(node.elts[0].value, str) and not node.elts[0].value.startswith("-"):
                    out.add(node.elts[0].value)
    return out


def test_every_command_a_stage_calls_exists() -> None:
    import argparse

    from hil.cli import build_parser

    called = _called_commands()
    assert called == {"characterize", "fit", "calibrate", "train", "deploy", "evaluate"}
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert called <= set(sub.choices), called - set(sub.choices)


@pytest.mark.parametrize("url", ["emu://?seed=abc", "emu://?silicon=/nonexistent.json",
                                 "nope://x"])  # fmt: skip
def test_a_board_url_that_cannot_be_opened_is_exit_2(tmp_path: Path, capsys, url: str) -> None:
    from hil.cli import main

    out = tmp_path / "run"
    assert main(["campaign", "--board", url, "--out", str(out), "--quick", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and url.split("?")[0] in err[0]
    assert not out.exists()


@pytest.mark.slow
def test_characterize_fit_train_quantize_deploy_evaluate_chain(tmp_path: Path, monkeypatch) -> None:
    """The stages as the campaign wires them (real commands, subprocesses), on a profile smaller
    than quick: 4 neurons per core characterized, 10 bootstrap resamples, 1 epoch of digits."""
    from dataclasses import replace

    tiny = replace(st.PROFILES["quick"], neurons_per_core=4, boot=10, epochs=1)
    monkeypatch.setitem(st.PROFILES, "tiny", tiny)
    stages = [
        Stage("probe", st.probe, always=True),
        Stage("characterize", st.characterize, inputs=("probe",)),
        Stage("fit", st.fit, inputs=("characterize",)),
        Stage("calibrate", lambda ctx: {}, requires="hil.no_such_package"),  # not in this test
        Stage("train", st.train, uses=("fit",)),
        Stage("quantize", st.quantize, inputs=("train",)),
        Stage("deploy", st.deploy, inputs=("train",), uses=("quantize", "calibrate", "fit")),
        Stage("evaluate", st.evaluate, inputs=("deploy",), uses=("calibrate", "fit")),
    ]
    params = {"board": f"emu://?silicon={TYPICAL}", "profile": "tiny"}
    r = run_stages(Run.create(tmp_path / "run", "chain"), stages, params, render=False)
    status = {o.name: (o.status, o.message) for o in r.outcomes}
    assert status.pop("calibrate")[0] == "skipped"
    assert all(s == "done" for s, _ in status.values()), status
    res = {o.name: o.result for o in r.outcomes}
    assert "the fitted mismatch model" in res["train"]["message"]
    assert 0 < res["quantize"]["relative_rms_weight_error"] < 0.2
    assert "placement twin" in res["deploy"]["message"]
    assert 0 <= res["evaluate"]["accuracy"] <= 1 and res["evaluate"]["float_sim_accuracy"] > 0.3
    checks = {c.name for c in r.run.checks}
    assert {"accuracy on the board", "the trained model learned the task"} <= checks


def test_a_missed_calibration_target_is_a_failed_verdict_not_a_stop(
    tmp_path: Path, monkeypatch
) -> None:
    """Review F20: `hil calibrate` exits 1 when a core misses a target; the stage records the
    table and a failed verdict, and the stages after it still run."""
    monkeypatch.setattr(st, "TARGETS", {"tau_mem": 0.05})  # core 0 of typical.json misses it
    stages = [
        Stage("probe", st.probe, always=True),
        Stage("calibrate", st.calibrate, inputs=("probe",)),
        Stage("after", lambda ctx: {"message": "ran"}, inputs=("probe",)),
    ]
    params = {"board": f"emu://?silicon={TYPICAL}", "profile": "quick"}
    r = run_stages(Run.create(tmp_path / "run", "cal"), stages, params, render=False)
    assert [o.status for o in r.outcomes] == ["done", "done", "done"], r.summary()
    check = next(c for c in r.run.checks if c.name == "calibration succeeded")
    assert not check.passed and "core 0.0 tau_mem" in check.detail
    assert r.exit_code == 1
