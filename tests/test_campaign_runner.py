"""The stage runner (hil.campaign.runner): resume by fingerprint, failures that keep what came
before, honest skips, exit codes. Toy stages that count their calls; no board."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.artifacts import write_atomic
from hil.campaign import runner
from hil.campaign.runner import Stage, run_stages
from hil.errors import BoardURLError
from hil.report.rundir import Run


class Calls:
    def __init__(self) -> None:
        self.n: dict[str, int] = {}

    def hit(self, name: str) -> None:
        self.n[name] = self.n.get(name, 0) + 1


def toy(calls: Calls, source: dict, fail: set[str] | None = None) -> list[Stage]:
    fail = fail if fail is not None else set()

    def first(ctx):
        calls.hit("first")
        return {"value": source["value"]}

    def second(ctx):
        calls.hit("second")
        write_atomic(ctx.path("double.txt"), str(2 * ctx.result("first")["value"]))
        ctx.run.add_check("double is even", value=2 * ctx.result("first")["value"] % 2, op="==",
                          limit=0)  # fmt: skip
        if "second" in fail:  # after it added a check: a failed stage leaves none
            raise RuntimeError("the board caught fire")
        return {"double": 2 * ctx.result("first")["value"]}

    def third(ctx):
        calls.hit("third")
        if "third" in fail:
            raise RuntimeError("the board caught fire")
        ok = ctx.result("second")["double"] < 100
        ctx.run.add_check("double below 100", passed=ok)
        return {}

    return [
        Stage("first", first, always=True),
        Stage("second", second, inputs=("first",)),
        Stage("missing", third, inputs=("second",), requires="hil.no_such_package"),
        Stage("third", third, inputs=("second",)),
    ]


def go(path: Path, stages: list[Stage], params: dict | None = None):
    return run_stages(Run.create(path, "toy"), stages, params or {"p": 1}, render=False)


def test_a_stage_whose_inputs_did_not_change_is_reused(tmp_path: Path) -> None:
    calls, src = Calls(), {"value": 3}
    r1 = go(tmp_path, toy(calls, src))
    assert r1.exit_code == 0 and calls.n == {"first": 1, "second": 1, "third": 1}
    r2 = go(tmp_path, toy(calls, src))
    assert [o.status for o in r2.outcomes] == ["done", "reused", "skipped", "reused"]
    assert calls.n == {"first": 2, "second": 1, "third": 1}  # `always` reruns, the rest do not
    assert [c.name for c in r2.run.checks] == ["double is even", "double below 100"]  # replayed
    loaded = Run.load(tmp_path)
    assert [s.status for s in loaded.stages] == ["done", "done", "skipped", "done"]
    # the upstream result changes: everything after it is redone
    src["value"] = 60
    r3 = go(tmp_path, toy(calls, src))
    assert calls.n == {"first": 3, "second": 2, "third": 2}
    assert r3.exit_code == 1  # 120 is not below 100
    # reuse=False redoes every stage
    run_stages(Run.create(tmp_path, "toy"), toy(calls, src), {"p": 1}, render=False, reuse=False)
    assert calls.n == {"first": 4, "second": 3, "third": 3}
    # a different run parameter redoes every stage
    go(tmp_path, toy(calls, src), {"p": 2})
    assert calls.n == {"first": 5, "second": 4, "third": 4}


def test_other_code_redoes_every_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Results of an older (or edited) hil are not reused: the code digest is in the fingerprint."""
    calls, src = Calls(), {"value": 3}
    go(tmp_path, toy(calls, src))
    go(tmp_path, toy(calls, src))
    assert calls.n == {"first": 2, "second": 1, "third": 1}
    monkeypatch.setattr(runner, "code_digest", lambda: "0" * 64)
    go(tmp_path, toy(calls, src))
    assert calls.n == {"first": 3, "second": 2, "third": 2}


def test_a_damaged_artifact_is_redone(tmp_path: Path) -> None:
    calls, src = Calls(), {"value": 3}
    go(tmp_path, toy(calls, src))
    (tmp_path / "stages" / "second" / "double.txt").write_text("7")
    go(tmp_path, toy(calls, src))
    assert calls.n["second"] == 2
    assert (tmp_path / "stages" / "second" / "double.txt").read_text() == "6"


def test_a_failed_stage_keeps_earlier_artifacts_and_says_where(tmp_path: Path) -> None:
    calls, src = Calls(), {"value": 3}
    go(tmp_path, toy(calls, src))
    r = go(tmp_path, toy(calls, src, fail={"second"}), {"p": 2})  # new parameters: all redone
    assert r.exit_code == 1
    assert [o.status for o in r.outcomes] == ["done", "failed", "not run", "not run"]
    assert "RuntimeError: the board caught fire" in r.outcomes[1].message
    assert r.outcomes[3].message == "the run stopped at stage second"
    loaded = Run.load(tmp_path)
    failed = [s for s in loaded.stages if s.status == "failed"]
    assert [s.name for s in failed] == ["second"] and "caught fire" in failed[0].message
    assert loaded.checks == []  # what the failed stage added is not kept


def test_a_failure_leaves_what_came_before_and_the_rerun_resumes(tmp_path: Path) -> None:
    calls, src = Calls(), {"value": 3}
    r = go(tmp_path, toy(calls, src, fail={"third"}))
    assert [o.status for o in r.outcomes] == ["done", "done", "skipped", "failed"]
    assert r.exit_code == 1
    record = (tmp_path / "stages" / "second" / "stage.json").read_bytes()
    artifact = (tmp_path / "stages" / "second" / "double.txt").read_bytes()
    r = go(tmp_path, toy(calls, src))
    assert [o.status for o in r.outcomes] == ["done", "reused", "skipped", "done"]
    assert calls.n == {"first": 2, "second": 1, "third": 2}
    assert (tmp_path / "stages" / "second" / "stage.json").read_bytes() == record
    assert (tmp_path / "stages" / "second" / "double.txt").read_bytes() == artifact
    assert r.exit_code == 0


def test_a_missing_package_is_reported_not_faked(tmp_path: Path) -> None:
    r = go(tmp_path, toy(Calls(), {"value": 3}))
    missing = r.outcomes[2]
    assert missing.status == "skipped"
    assert missing.message == "not available in this build (hil.no_such_package missing)"
    # and what needs a skipped stage is skipped, saying why
    calls = Calls()
    stages = toy(calls, {"value": 3})
    stages.append(Stage("after", lambda ctx: {}, inputs=("missing",)))
    r = go(tmp_path / "b", stages)
    assert r.outcomes[-1].status == "skipped" and "missing" in r.outcomes[-1].message


def test_bad_input_is_raised_for_exit_2(tmp_path: Path) -> None:
    def bad(ctx):
        raise BoardURLError("scheme 'nope' unknown")

    with pytest.raises(BoardURLError):
        go(tmp_path, [Stage("probe", bad)])
    assert Run.load(tmp_path).stages[0].status == "failed"


def test_the_report_is_rendered_and_gates_the_exit_code(tmp_path: Path) -> None:
    calls = Calls()
    r = run_stages(Run.create(tmp_path, "toy"), toy(calls, {"value": 70}), {}, render=True)
    assert r.exit_code == 1 and r.report is not None and r.report.is_file()
    html = r.report.read_text()
    assert "double below 100" in html and "hil.no_such_package missing" in html
    assert r.outcomes[-1].name == "report"


def test_a_stage_that_finds_its_command_missing_is_skipped_not_failed(tmp_path: Path) -> None:
    from hil.campaign.runner import NotAvailable

    def missing(ctx):
        ctx.run.add_check("half done", passed=False)
        raise NotAvailable("not available in this build (`hil fit` missing)")

    r = go(tmp_path, [Stage("fit", missing), Stage("after", lambda ctx: {}, uses=("fit",))])
    assert [(o.status, o.message) for o in r.outcomes] == [
        ("skipped", "not available in this build (`hil fit` missing)"), ("done", "")]  # fmt: skip
    assert r.run.checks == [] and r.exit_code == 0
