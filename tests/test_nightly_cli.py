"""`hil history`, `hil calib diff|use|active` on a store with a history: rollback restores the
previous calibration, and what `calib active -o` writes (what deployments load) is that one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hil.cli import main
from hil.store import Alert, open_store

GOOD = {
    "schema": "hil.calibration/1",
    "cores": [{"chip": 0, "core": 0, "parameters": {"SOIF_LEAK_N": [1, 40]}}],
}
BAD = {
    "schema": "hil.calibration/1",
    "cores": [{"chip": 0, "core": 0, "parameters": {"SOIF_LEAK_N": [1, 200]}}],
}


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'hil.db'}"
    with open_store(url) as store:
        for night, doc in (("2026-11-01", GOOD), ("2026-11-02", BAD)):
            rid = store.start_run("emu-seed-5", night, provenance={"url": "emu://?seed=5"})
            store.complete_run(rid, stats={"rate_1na_hz": np.full(4, 40.0)}, calibration=doc,
                               activate=True, verdict="pass",
                               alerts=[Alert("core_drift", "core 0 moved 6 %", core=0)] if doc is BAD else [])  # fmt: skip
    return url


def test_rollback_makes_the_previous_calibration_active(
    store_url: str, tmp_path: Path, capsys
) -> None:
    with open_store(store_url) as store:
        cals = store.calibrations("emu-seed-5")
        good_id, bad_id = (int(i) for i in cals["id"])
        assert store.active_calibration("emu-seed-5").id == bad_id
    assert main(["calib", "diff", str(good_id), str(bad_id), "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert "cores[0].parameters.SOIF_LEAK_N[1]: 40 -> 200" in out
    assert (
        main(["calib", "use", str(good_id), "--store", store_url, "--reason", "night 2 drifted"])
        == 0
    )
    target = tmp_path / "calibration.json"
    assert (
        main(["calib", "active", "--board", "emu-seed-5", "-o", str(target), "--store", store_url])
        == 0
    )
    assert json.loads(target.read_text()) == GOOD
    with open_store(store_url) as store:
        last = store.activations("emu-seed-5").iloc[-1]
        assert (last["calibration_id"], last["previous_id"], last["reason"]) == (
            good_id, bad_id, "night 2 drifted")  # fmt: skip


def _deployable(leak_fine: int) -> dict:
    """A hil.calibration/1 record deploy can apply: SOIF_LEAK_N of cores 0 and 1 calibrated from
    the nominal code [1, 50] to [1, leak_fine]."""
    return {"schema": "hil.calibration/1",
            "cores": [{"chip": 0, "core": k, "parameters": {"SOIF_LEAK_N": [1, leak_fine]},
                       "nominal": {"SOIF_LEAK_N": [1, 50]}} for k in (0, 1)]}  # fmt: skip


def test_after_a_bad_calibration_rollback_and_a_deployment_uses_the_previous_one(
    tmp_path: Path, capsys
) -> None:
    """Acceptance (issue 12): night 1's calibration is good, night 2's is bad and became active;
    `hil calib use` restores night 1's, `hil calib active -o` writes it, and `hil deploy
    --calibration` then deploys with it: the deployed leak is the model's scaled by the good
    calibration's ratio (1.2), not by the bad one's (4)."""
    from hil.chip.biasgen import bias_current
    from hil.chip.config import ChipConfig
    from hil.chip.params import HighLevel
    from hil.train.model import Model

    good, bad = _deployable(60), _deployable(200)
    url = f"sqlite:///{tmp_path / 'hil.db'}"
    with open_store(url) as store:
        ids = []
        for night, doc in (("2026-11-01", good), ("2026-11-02", bad)):
            rid = store.start_run("emu-seed-5", night)
            ids.append(store.complete_run(rid, stats={"rate_1na_hz": np.full(4, 40.0)},
                                          calibration=doc, activate=True, verdict="pass"))  # fmt: skip
        assert store.active_calibration("emu-seed-5").id == ids[1]
    rng = np.random.default_rng(0)
    cur = {k: v for k, v in HighLevel().currents().items() if not k.startswith("Iw_")}
    Model(w_in=rng.normal(0, 3e-9, (8, 40)) * (rng.random((8, 40)) < 0.5),
          w_rec=rng.normal(0, 2e-9, (40, 40)) * (rng.random((40, 40)) < 0.2),
          core_of=np.arange(40) % 2, currents=[cur, dict(cur)], outputs=[[0, 1], [2, 3]],
          dt=1e-3).save(tmp_path / "model.json")  # fmt: skip

    def deployed_leak(calibration: Path | None, name: str) -> list[float]:
        """The deployed SOIF_LEAK_N current [A] of cores 0 and 1 (`hil deploy`, not applied)."""
        out = tmp_path / f"{name}.json"
        argv = ["deploy", str(tmp_path / "model.json"), "--board", "sim://", "-o", str(out),
                "--no-apply", "--json"]  # fmt: skip
        assert main(argv + (["--calibration", str(calibration)] if calibration else [])) == 0
        cfg = ChipConfig.load(out)
        return [float(bias_current("SOIF_LEAK_N", *cfg.core(0, k).parameters["SOIF_LEAK_N"]))
                for k in (0, 1)]  # fmt: skip

    def active(name: str) -> Path:
        target = tmp_path / f"{name}.json"
        argv = ["calib", "active", "--board", "emu-seed-5", "-o", str(target), "--store", url]
        assert main(argv) == 0
        return target

    nominal = deployed_leak(None, "nominal")
    ratio = {f: float(bias_current("SOIF_LEAK_N", 1, f) / bias_current("SOIF_LEAK_N", 1, 50))
             for f in (60, 200)}  # fmt: skip
    before = deployed_leak(active("before"), "with-bad")  # what a deployment used before
    assert before == pytest.approx([x * ratio[200] for x in nominal], rel=0.03)
    assert main(["calib", "use", str(ids[0]), "--store", url, "--reason", "night 2 bad"]) == 0
    restored = active("restored")
    assert json.loads(restored.read_text()) == good
    after = deployed_leak(restored, "with-good")
    assert after == pytest.approx([x * ratio[60] for x in nominal], rel=0.03)
    assert all(a < 0.5 * b for a, b in zip(after, before, strict=True))
    capsys.readouterr()


def test_history_lists_nights_and_alerts(store_url: str, capsys) -> None:
    assert main(["history", "--board", "emu-seed-5", "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert "2026-11-01" in out and "2026-11-02" in out and "core_drift" in out
    assert main(["history", "--board", "emu-seed-5", "--store", store_url, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in rows] == ["complete", "complete"]


@pytest.mark.parametrize(
    "argv",
    [
        ["calib", "use", "x"],
        ["calib", "use", "999"],
        ["history", "--board", "no-such-board"],
        ["calib", "active", "--board", "no-such-board"],
        ["nightly", "--board", "emu://", "--night", "2026-13-01"],
        ["nightly", "--board", "emu://", "--store", "mysql://x"],
    ],
)
def test_bad_input_is_exit_2(argv: list[str], store_url: str, capsys) -> None:
    if "--store" not in argv:
        argv = [*argv, "--store", store_url]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1


@pytest.mark.parametrize("passes", [True, False])
def test_a_nights_calibration_is_activated_only_when_the_night_passes(
    tmp_path: Path, passes: bool
) -> None:
    """The store stage keeps every calibration, and makes it active only on a passing night: after
    a failed night the previous calibration stays in use."""
    import pandas as pd

    from hil.artifacts import write_atomic, write_json
    from hil.campaign.runner import Stage, run_stages
    from hil.nightly.nightly import NightJob, NightState, store_stage
    from hil.report.rundir import Run

    url = f"sqlite:///{tmp_path / 'hil.db'}"
    with open_store(url) as store:
        before = store.add_calibration("b1", GOOD, activate=True)
        rid = store.start_run("b1", "2026-11-03")
        state = NightState(NightJob(url="emu://", store=url, night="2026-11-03"), store, "b1", rid)

        def measure(ctx):
            frame = pd.DataFrame({"neuron": [0, 1, 256, 257], "rate_1na_hz": np.full(4, 40.0)})
            write_atomic(ctx.path("rates.parquet"), frame.to_parquet(index=False))
            return {}

        def fit(ctx):  # a twin (hil.twin/1): its identified values and their errors are stored
            from hil.mismatch.fit import nominal_currents
            from hil.mismatch.twin import Twin

            cur = nominal_currents(1)
            cur["Itau_mem"] = cur["Itau_mem"].copy()
            cur["Itau_mem"][[0, 1, 256, 257]] = [1e-12, 2e-12, 3e-12, 4e-12]
            se = np.full(1024, np.nan)
            se[[0, 1, 256]] = 0.01  # neuron 257: no error, so not among the identified ones
            z = np.zeros(1024)
            Twin(1, cur, z, z, z.astype(bool), z.astype(bool), se_log={"Itau_mem": se}).save(
                ctx.path("twin.json"))  # fmt: skip
            return {"twin": "stages/fit/twin.json"}

        def calibrate(ctx):
            write_json(ctx.path("calibration.json"), BAD)
            return {"calibration": "stages/calibrate/calibration.json"}

        def validate(ctx):
            ctx.run.add_check("validate", passed=passes)
            return {}

        stages = [Stage("measure", measure), Stage("fit", fit), Stage("calibrate", calibrate), Stage("validate", validate),
                  Stage("drift", lambda ctx: {"alerts": []}),
                  Stage("store", store_stage(state), inputs=("measure",), uses=("drift", "calibrate", "fit"))]  # fmt: skip
        store.begin_stage(rid, "store")
        r = run_stages(Run.create(tmp_path / "run", "t"), stages, {}, render=False)
        assert r.outcomes[-1].status == "done", r.outcomes[-1].message
        cals = store.calibrations("b1")
        assert len(cals) == 2  # kept either way
        assert store.active_calibration("b1").id == (int(cals["id"].iloc[-1]) if passes else before)
        assert store.run(rid).verdict == ("pass" if passes else "fail")
        h = store.stat_history("b1", "twin_itau_mem_a")
        assert list(h.neurons) == [0, 1, 256]  # the neurons the fit identified, no others
        assert np.allclose(h.values[0], [1e-12, 2e-12, 3e-12])
        se = store.stat_history("b1", "twin_itau_mem_se_a")
        assert np.allclose(se.values[0], [1e-14, 2e-14, 3e-14])


def test_a_stage_whose_command_is_missing_is_stored_as_skipped(tmp_path: Path, monkeypatch) -> None:
    """A package that landed without its command yet (hil.calibrate without `hil calibrate`): the
    stage starts, finds no command, and is stored as skipped with the reason; the night completes."""
    from hil.campaign import runner
    from hil.campaign import stages as st
    from hil.nightly.nightly import NightJob, run_night

    monkeypatch.setattr(runner, "available", lambda module: True)
    monkeypatch.setattr(st, "has_command", lambda command: False)
    url = f"sqlite:///{tmp_path / 'hil.db'}"
    job = NightJob(url="emu://?seed=7", store=url, night="2026-11-01", out=str(tmp_path / "runs"),
                   skip=("conformance", "validate"))  # fmt: skip
    summary = run_night(job)
    assert summary["exit_code"] == 0, summary
    status = {s["name"]: (s["status"], s["message"]) for s in summary["stages"]}
    assert status["calibrate"] == (
        "skipped",
        "not available in this build (`hil calibrate` missing)",
    )
    with open_store(url) as store:
        rid = int(store.history("emu-seed-7")["run_id"].iloc[0])
        stages = store.stages(rid).set_index("name")
        assert stages.loc["calibrate", "status"] == "skipped"
        assert stages.loc["characterize", "status"] == "skipped"
        assert store.run(rid).status == "complete"


def test_history_report_has_the_trend_plot(store_url: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "hist"
    assert (
        main(["history", "--board", "emu-seed-5", "--store", store_url, "--report", str(out)]) == 0
    )
    html = (out / "report.html").read_text()
    assert "rate_1na_hz: per-core median over 2 nights" in html and "night 2026-11-02" in html


def _valid_night(text: str) -> bool:
    import datetime as dt

    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    slot=st.sampled_from(["night", "calib", "workers", "campaign-out"]),
    value=st.one_of(st.text(max_size=30), st.floats().map(repr), st.integers().map(str)),
)
def test_hostile_values_are_one_line_and_exit_2(
    slot: str, value: str, capsys, tmp_path: Path
) -> None:
    value = "x" + value.replace("\0", "") if ("\0" in value or value.startswith("-")) else value
    argv = {
        "night": ["nightly", "--board", "emu://", "--night", value],
        "calib": ["calib", "use", value],
        "workers": ["nightly", "--board", "emu://", "--workers", value],
        "campaign-out": ["campaign", "--out", value + "\0"],
    }[slot]
    if slot == "night" and _valid_night(value):
        return
    if slot == "calib" and value.isascii() and value.isdigit() and len(value) <= 18:
        return
    if slot == "workers" and value.isascii() and value.isdigit() and 1 <= int(value) <= 256:
        return
    capsys.readouterr()
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "Traceback" not in err and out == ""
