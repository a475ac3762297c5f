"""The run directory: Recordings and tables round-trip exactly, a hostile run.json is refused with
a message naming what is wrong, and `hil report RUN_DIR` re-renders without the board."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_run import FakeRecording, build_run, counts_trial, poisson_trial

from hil import events as ev
from hil.errors import ArtifactError, ConfigError, HilError
from hil.measure import Recording
from hil.report.recordings import as_recording, load_recording, save_recording
from hil.report.rundir import MANIFEST, Run


def _same_recording(a: object, b: object) -> None:
    assert isinstance(b, Recording)
    a = as_recording(a)
    assert b.readout == a.readout
    assert b.duration_us == a.duration_us
    assert b.provenance == a.provenance
    if a.readout == "spikes":
        assert b.events.dtype == ev.OUTPUT_DTYPE
        np.testing.assert_array_equal(b.events, a.events)
    else:
        np.testing.assert_array_equal(b.counts.counts, a.counts.counts)
        np.testing.assert_array_equal(b.counts.neurons, a.counts.neurons)
        assert (b.counts.bin_us, b.counts.duration_us) == (a.counts.bin_us, a.counts.duration_us)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rate=st.floats(0.0, 80.0),
    duration_s=st.sampled_from([0.05, 0.2, 1.0]),
    counts=st.booleans(),
)
def test_recordings_round_trip_exactly(
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    rate: float,
    duration_s: float,
    counts: bool,
) -> None:
    rng = np.random.default_rng(seed)
    if counts:
        rec = counts_trial(rng, duration_s, bin_us=int(rng.choice([1000, 5000, 50_000])))
    else:
        rec = poisson_trial(rng, np.full(24, rate), duration_s, {"seed": seed, "link_lost": 0})
    path = save_recording(rec, tmp_path_factory.mktemp("rec") / "r")
    _same_recording(rec, load_recording(path))


def test_a_recording_is_stored_as_it_is_and_bad_ones_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rec = as_recording(poisson_trial(rng, np.full(24, 30.0), 0.2, {"seed": 1}))
    assert as_recording(rec) is rec
    _same_recording(poisson_trial(np.random.default_rng(0), np.full(24, 30.0), 0.2, {"seed": 1}),
                    load_recording(save_recording(rec, tmp_path / "r")))  # fmt: skip
    with pytest.raises(ConfigError, match="readout.*'volts'"):
        as_recording(FakeRecording("volts", 1.0))
    with pytest.raises(ConfigError, match="duration_s"):
        as_recording(FakeRecording("spikes", float("nan"), events=rec.events))
    with pytest.raises(ConfigError, match="provenance"):  # hil.measure: flat JSON scalars only
        as_recording(FakeRecording("spikes", 1.0, {"link": {"lost": 0}}, events=rec.events))
    with pytest.raises(ArtifactError, match="not a folder"):
        load_recording(tmp_path / "missing")
    (tmp_path / "r" / "recording.json").write_text("{}")
    with pytest.raises(ConfigError, match="schema"):
        load_recording(tmp_path / "r")


def test_tables_and_comparisons_come_back_as_they_went_in(tmp_path: Path) -> None:
    run = build_run(tmp_path / "run", trials=3)
    loaded = Run.load(run.path)
    for kind in ("fi", "calibration", "accuracy"):
        assert loaded.table(kind).equals(run.table(kind)), kind
    a, b = run.comparison_table(run.comparisons[0]), loaded.comparison_table(loaded.comparisons[0])
    assert a.equals(b)
    assert loaded.comparisons == run.comparisons
    assert loaded.checks == run.checks and loaded.stages == run.stages
    assert list(loaded.recordings) == ["sim", "chip"]  # the order groups were added in
    for g in run.recordings:
        for x, y in zip(run.load_recordings(g), loaded.load_recordings(g), strict=True):
            _same_recording(x, y)


def test_csv_tables_are_read_against_the_contract(tmp_path: Path) -> None:
    from report_run import calibration_table

    from hil.report import tables as tb

    frame = calibration_table()
    frame.loc[1, "unit"] = ""
    frame["target"] = np.random.default_rng(0).uniform(0, 1, len(frame)) / 3
    tb.write_table(frame, tmp_path / "cal.csv")
    back = tb.read_table(tmp_path / "cal.csv", "calibration", "table calibration")
    assert back["unit"].tolist() == ["s", "", "s", "s"]
    assert np.isnan(back["achieved"][2]) and back["success"].dtype == bool
    np.testing.assert_array_equal(back["target"], frame["target"])  # exact floats
    (tmp_path / "bad.csv").write_text("chip,core\n0,0\n")
    with pytest.raises(
        ConfigError, match=r"bad.csv: table calibration: column parameter: 'missing'"
    ):
        tb.read_table(tmp_path / "bad.csv", "calibration", "table calibration")


def _manifest(run: Run) -> dict:
    return json.loads((run.path / MANIFEST).read_text())


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: m.update(schema="hil.run/0"), "schema.*hil.run/1"),
        (lambda m: m.update(stages="x"), "stages.*a JSON list"),
        (lambda m: m["stages"][0].update(status="great"), "status.*'great'.*done, failed"),
        (lambda m: m["stages"][0].update(artifacts=["../../etc/passwd"]), "inside the run"),
        (lambda m: m["recordings"][0].update(paths=["/etc"]), "relative path inside"),
        (lambda m: m["recordings"].append(m["recordings"][0]), "each group once"),
        (lambda m: m["tables"].update(fi="../fi.csv"), "no '..'"),
        (lambda m: m["tables"].update(weights="w.csv"), "weights.*fi, calibration, accuracy"),
        (lambda m: m["checks"][0].update(passed=False), "passed.*what 0 <= 0 says"),
        (lambda m: m["checks"][0].update(value="0"), "value.*float"),
        (lambda m: m["checks"][0].update(extra=1), "unknown keys.*extra"),
        (lambda m: m["comparisons"][0].update(alpha=True), "alpha.*float"),
        (lambda m: m["comparisons"][0].pop("table"), "table.*missing"),
        (lambda m: m.update(title="x" * 20_000), "title.*at most 10000"),
    ],
)
def test_a_bad_manifest_is_refused_naming_the_field(tmp_path: Path, change, match: str) -> None:
    run = build_run(tmp_path / "run", trials=2, tables=True)
    m = _manifest(run)
    change(m)
    (run.path / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(ConfigError, match=match):
        Run.load(run.path)


def test_a_link_out_of_the_run_directory_is_refused(tmp_path: Path) -> None:
    run = build_run(tmp_path / "run", trials=2)
    outside = tmp_path / "elsewhere.parquet"
    (run.path / "tables" / "fi.parquet").rename(outside)
    (run.path / "tables" / "fi.parquet").symlink_to(outside)
    with pytest.raises(ConfigError, match="stays inside the run directory"):
        Run.load(run.path)


def test_missing_run_directory_and_manifest(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not a folder"):
        Run.load(tmp_path / "nope")
    with pytest.raises(ArtifactError, match="run.json"):
        Run.load(tmp_path)
    (tmp_path / MANIFEST).write_text("[1, 2")
    with pytest.raises(ConfigError, match="valid JSON"):
        Run.load(tmp_path)


def test_writer_refuses_what_would_not_load_back(tmp_path: Path) -> None:
    run = Run.create(tmp_path / "run", title="t")
    with pytest.raises(ConfigError, match="status"):
        run.set_stage("probe", "ok")
    with pytest.raises(ConfigError, match="inside the run"):
        run.set_stage("probe", "done", artifacts=["../x"])
    with pytest.raises(ConfigError, match="passed"):
        run.add_check("losses", True, value=3, op="<=", limit=0)
    with pytest.raises(ConfigError, match="op"):
        run.add_check("losses", True, value=3, op="<", limit=0)
    with pytest.raises(ConfigError, match="readout"):
        run.add_recording("sim", FakeRecording("volts", 1.0))
    assert run.add_check("losses", value=3, op="<=", limit=0).passed is False
    run.set_stage("probe", "running")
    run.set_stage("probe", "done", seconds=1.0)
    assert [(s.name, s.status) for s in run.stages] == [("probe", "done")]
    with pytest.raises(HilError):
        Run.create("/proc/hil-report-no", title="t")


# ---- the command ------------------------------------------------------------------------------


@pytest.fixture
def hil_main():
    from hil import cli

    return cli.main


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return build_run(tmp_path_factory.mktemp("cli") / "run", trials=3, tables=False)


def test_command_rerenders_the_report_without_the_board(
    hil_main, small_run: Run, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from hil.report.document import render

    out = tmp_path / "r.html"
    assert hil_main(["report", str(small_run.path), "-o", str(out)]) == 0
    # 3 trials a side cannot reach Holm's threshold: the comparison passes for want of power
    assert capsys.readouterr().out == f"wrote '{out}': 'PASS: all 3 verdicts passed'\n"
    first = render(small_run, rendered_utc="T")  # from the objects in memory
    again = re.sub(r'(<span id="rendered-utc">)[^<]*', r"\1T", out.read_text())
    assert again == first
    assert hil_main(["report", str(small_run.path)]) == 0
    assert (small_run.path / "report.html").is_file()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["/nonexistent/run"], "hil: error: cannot read run directory /nonexistent/run"),
        ([], "the following arguments are required: RUN_DIR"),
        (["{run}", "-o", "/"], "hil: error: argument -o/--output: cannot write / (a directory)"),
        (["{run}", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_command_bad_input_is_one_line_and_exit_2(
    hil_main, small_run: Run, args: list[str], match: str, capsys: pytest.CaptureFixture
) -> None:
    code = hil_main(["report", *[a.replace("{run}", str(small_run.path)) for a in args]])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert match in err and "Traceback" not in err


def test_command_on_a_damaged_run_is_one_line(
    hil_main, tmp_path: Path, small_run: Run, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / MANIFEST).write_text(json.dumps({"schema": "hil.run/1", "stages": [{"name": 1}]}))
    assert hil_main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "stages[0].name" in err
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(small_run.path, broken)
    (broken / small_run.recordings["chip"][1] / "table.parquet").write_bytes(b"PAR1 no")
    assert hil_main(["report", str(broken)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "chip-001" in err, err
