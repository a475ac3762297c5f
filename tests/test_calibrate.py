"""hil.calibrate: targets, grids, search algorithms, the bias calibration on emulated silicon made
here (checked against the hidden truth), merging, the cache and the commands.

The full-chip acceptance on four personalities is `tests/calibration_acceptance.py` (slow test
below; numbers in docs/calibration.md)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hil.calibrate import (
    BinarySearch,
    NoisyBinarySearch,
    PredictiveModel,
    Target,
    calibrate,
    load_target,
    merge,
)
from hil.calibrate.grid import grid
from hil.calibrate.target import QUANTITIES
from hil.chip.biasgen import bias_current
from hil.chip.config import ChipConfig, Neuron
from hil.emulator.engine import SiliconEngine
from hil.errors import CapabilityError, ConfigError

sys.path.insert(0, str(Path(__file__).parent))
import calibration_acceptance as acceptance  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# ---- targets -------------------------------------------------------------------------------------

GOOD = {"schema": "hil.calibration-target/1", "targets": {"tau_mem": 0.02, "t_ref": 0.002}}


def test_target_file_reads(tmp_path: Path) -> None:
    p = tmp_path / "t.json"
    p.write_text(json.dumps({**GOOD, "cores": [[0, 1], [1, 3]]}))
    t = load_target(p)
    assert t.targets == {"tau_mem": 0.02, "t_ref": 0.002}
    assert t.cores_on(2) == [(0, 1), (1, 3)]
    assert Target({"t_ref": 1e-3}).cores_on(2) == [(c, k) for c in range(2) for k in range(4)]


@pytest.mark.parametrize(
    "change, where",
    [
        ({"targets": {"tau_membrane": 0.02}}, "targets.tau_membrane"),
        ({"targets": {"tau_ahp": 0.05}}, "targets.tau_ahp"),  # a HighLevel name, not calibrated
        ({"targets": {"tau_nmda": 0.008}}, "targets.tau_nmda"),  # not yet (docs/calibration.md)
        ({"targets": {"tau_mem": -0.02}}, "targets.tau_mem"),
        ({"targets": {"tau_mem": 0}}, "targets.tau_mem"),
        ({"targets": {"tau_mem": math.nan}}, "targets.tau_mem"),
        ({"targets": {"tau_mem": math.inf}}, "targets.tau_mem"),
        ({"targets": {"tau_mem": True}}, "targets.tau_mem"),
        ({"targets": {"tau_mem": 1e3}}, "targets.tau_mem"),  # beyond what the bias reaches
        # reachable, but outside what the measurement is checked for (false successes there:
        # tau_mem 1 ms +5.9 %, tau_ampa 0.3 ms -33 % and 1 s -11 % against the truth, seed 7)
        ({"targets": {"tau_mem": 1e-3}}, "targets.tau_mem"),
        ({"targets": {"tau_ampa": 3e-4}}, "targets.tau_ampa"),
        ({"targets": {"tau_ampa": 1.0}}, "targets.tau_ampa"),
        ({"targets": {"tau_gaba": 1.0}}, "targets.tau_gaba"),
        ({"targets": {"t_ref": 1e-5}}, "targets.t_ref"),
        ({"targets": {}}, "targets"),
        ({"cores": [[0, 4]]}, "cores[0]"),
        ({"cores": [[4, 0]]}, "cores[0]"),
        ({"cores": [[0, 1], [0, 1]]}, "cores[1]"),
        ({"cores": [[0]]}, "cores[0]"),
        ({"schema": "hil.calibration-target/2"}, "schema"),
        ({"extra": 1}, "extra"),
        ({"targets": {"a\nb": 1e-3}}, "targets.'a\\nb'"),  # the error stays one line
        ({"x\ny": 1}, "'x\\ny'"),
    ],
)
def test_target_refuses_with_the_field_named(change: dict, where: str) -> None:
    with pytest.raises(ConfigError) as e:
        Target.from_dict({**GOOD, **change})
    assert e.value.path == where
    assert "\n" not in str(e.value)


def test_target_cores_beyond_the_board() -> None:
    with pytest.raises(ConfigError, match=r"cores\[0\]"):
        Target({"t_ref": 1e-3}, ((1, 0),)).cores_on(1)


# ---- grid and algorithms (a synthetic core: no board) --------------------------------------------


def test_grid_is_strictly_increasing_and_fine() -> None:
    for name in ("SOIF_LEAK_N", "SOIF_REFR_N", "DEAM_ETAU_P"):
        g = grid(name)
        assert np.all(np.diff(g.current) > 0)
        assert g.code(0) == (0, 0) and g.code(len(g) - 1) == (5, 255)
        steps = g.current[1:] / g.current[:-1] - 1
        assert steps[100:].max() < 0.035  # past the bottom of coarse 0: at most ~3 % per code
        assert g.nearest(float(g.current[500]) * 1.0001) == 500


def _synthetic(factor: np.ndarray, branch: np.ndarray, noise: float = 0.0, seed: int = 0):
    """A probe for quantity tau_mem whose true per-core value is K / (I_code * factor * branch
    error of the code's coarse value): what the silicon does, without a board."""
    q = QUANTITIES["tau_mem"]
    g = grid(q.bias)
    rng = np.random.default_rng(seed)
    calls = []

    def truth(codes: np.ndarray) -> np.ndarray:
        cur = bias_current(q.bias, codes[:, 0], codes[:, 1]) * factor
        cur = cur * branch[np.arange(len(codes)), codes[:, 0]]
        return np.array([q.value_of(float(c)) for c in cur])

    def probe(codes: np.ndarray) -> np.ndarray:
        calls.append(codes.copy())
        v = truth(codes)
        return v * (1 + noise * rng.standard_normal(v.size))

    return probe, truth, calls, g


def _start(g, target: float, n: int) -> np.ndarray:
    return np.array([g.code(g.nearest(QUANTITIES["tau_mem"].current_for(target)))] * n)


def _best_on_grid(truth, g, n: int, target: float) -> np.ndarray:
    """Per core, the smallest |log error| any code of the monotone grid gives (exhaustive)."""
    errs = np.stack(
        [np.abs(np.log(truth(np.array([g.code(i)] * n)) / target)) for i in range(len(g))]
    )
    return errs.min(axis=0)


@pytest.mark.parametrize("algorithm", [BinarySearch(), PredictiveModel(), NoisyBinarySearch()])
def test_algorithms_find_the_code_nearest_the_target(algorithm) -> None:
    rng = np.random.default_rng(1)
    factor = np.exp(rng.normal(0, 0.15, 6))
    branch = np.exp(rng.normal(0, 0.04, (6, 6)))
    probe, truth, calls, g = _synthetic(factor, branch)
    target = 0.01
    found = algorithm.search(probe, g, target, _start(g, target, 6))
    err = np.abs(np.log(truth(found.code) / target))
    # no worse than the best code of the grid (a noiseless probe), and within 3 %
    assert np.all(err <= _best_on_grid(truth, g, 6, target) + 1e-12)
    assert np.all(err < 0.03)
    assert found.monotonic.all()
    assert found.runs == len(calls)


def test_predictive_crosses_a_branch_gap_that_binary_search_cannot() -> None:
    """Coarse 1 of this core gives 8 % more than nominal, coarse 0 nominal: the effective currents
    just above coarse 0's top are on no grid code. The predictive model reaches them on coarse 1
    below its grid start; binary search on the grid cannot."""
    q = QUANTITIES["tau_mem"]
    g = grid(q.bias)
    top0 = float(bias_current(q.bias, 0, 255))
    target = q.value_of(top0 * 1.04)
    branch = np.ones((1, 6))
    branch[0, 1:] = 1.08
    got = {}
    for alg in (BinarySearch(), PredictiveModel()):
        probe, truth, _, _ = _synthetic(np.ones(1), branch)
        found = alg.search(probe, g, target, _start(g, target, 1))
        got[alg.name] = abs(float(truth(found.code)[0]) / target - 1)
    assert got["binary"] > 0.03  # the gap: ~3.8 % from either side
    assert got["predictive"] < 0.017  # half a code step at coarse 1, fine ~30


def test_predictive_uses_fewer_runs_than_binary_search() -> None:
    factor = np.array([0.8, 1.0, 1.25, 1.1])
    branch = np.ones((4, 6))
    runs = {}
    for alg in (BinarySearch(), PredictiveModel()):
        probe, _, calls, g = _synthetic(factor, branch)
        alg.search(probe, g, 0.01, _start(g, 0.01, 4))
        runs[alg.name] = len(calls)
    assert runs["predictive"] <= 3 < 10 <= runs["binary"]


def test_predictive_needs_few_runs_off_its_own_model() -> None:
    """The core's value is not the predictive model's K / (F I) form: it goes as I^-0.85 (a
    current law off weak inversion), with per-branch generator errors and 0.3 % measurement noise.
    Predictive still needs at most 5 runs, fewer than binary search, and lands within half a
    percent of the best code on the grid."""
    q = QUANTITIES["tau_mem"]
    g = grid(q.bias)
    rng = np.random.default_rng(4)
    factor = np.exp(rng.normal(0, 0.15, 6))
    branch = np.exp(rng.normal(0, 0.04, (6, 6)))
    i0 = q.current_for(0.01)

    def truth(codes: np.ndarray) -> np.ndarray:
        cur = bias_current(q.bias, codes[:, 0], codes[:, 1]) * factor
        return 0.01 * (i0 / (cur * branch[np.arange(len(codes)), codes[:, 0]])) ** 0.85

    best = np.stack([np.abs(truth(np.array([g.code(i)] * 6)) / 0.01 - 1) for i in range(len(g))])
    runs = {}
    for alg in (BinarySearch(), PredictiveModel()):
        calls: list[np.ndarray] = []

        def probe(codes: np.ndarray, calls: list = calls) -> np.ndarray:
            calls.append(codes)
            v = truth(codes)
            return v * (1 + 0.003 * rng.standard_normal(v.size))

        found = alg.search(probe, g, 0.01, _start(g, 0.01, 6))
        runs[alg.name] = len(calls)
        assert np.all(np.abs(truth(found.code) / 0.01 - 1) <= best.min(axis=0) + 0.005)
    assert runs["predictive"] <= 5 < runs["binary"]


def test_non_monotone_history_is_flagged() -> None:
    q = QUANTITIES["tau_mem"]
    g = grid(q.bias)

    def probe(codes: np.ndarray) -> np.ndarray:  # on every branch the value rises with the fine
        v = np.array([q.value_of(float(bias_current(q.bias, c, f))) for c, f in codes])
        return v * np.exp(0.05 * codes[:, 1])

    found = BinarySearch().search(probe, g, 1e-3, np.zeros((1, 2), np.int64))
    assert not found.monotonic[0]
    sane = BinarySearch().search(
        _synthetic(np.ones(1), np.ones((1, 6)))[0], g, 1e-3, np.zeros((1, 2), np.int64)
    )
    assert sane.monotonic[0]


def test_noisy_binary_search_tolerates_noise() -> None:
    factor, branch = np.array([1.1, 0.9]), np.ones((2, 6))
    probe, truth, calls, g = _synthetic(factor, branch, noise=0.01, seed=3)
    found = NoisyBinarySearch(repeats=5).search(probe, g, 0.01, _start(g, 0.01, 2))
    assert np.all(np.abs(truth(found.code) / 0.01 - 1) < 0.03)
    assert found.runs == len(calls) == 5 * len(found.history)  # 5 runs per step


# ---- on emulated silicon, against the hidden truth -----------------------------------------------


def test_calibration_meets_the_targets_on_the_hidden_truth(tmp_path: Path) -> None:
    """Two cores of a 'normal'-family personality (none used in development); the medians of the
    effective tau_mem, t_ref, tau_gaba and tau_ampa under the calibrated biases, from the truth,
    within 3 %."""
    sil = acceptance.personality(5150, "normal", 0.18, 0.07, 0.05, noise_A=1.5e-12)
    target = Target(
        {"tau_mem": 0.012, "t_ref": 0.0008, "tau_gaba": 0.007, "tau_ampa": 0.006},
        ((0, 1), (0, 3)),
    )
    with SiliconEngine(sil) as board:
        rec = calibrate(board, target, PredictiveModel(), cache_dir=tmp_path)
    cal, _ = merge(ChipConfig(), rec)
    nom = acceptance.nominal_config(rec)
    for name, value in target.targets.items():
        got = acceptance.truth_medians(sil, cal, name)[[1, 3]] / value - 1
        nominal = acceptance.truth_medians(sil, nom, name)[[1, 3]] / value - 1
        assert np.all(np.abs(got) <= 0.03), (name, got)
        assert np.max(np.abs(nominal)) > np.max(np.abs(got))  # the nominal conversion is worse
    assert all(all(c["success"].values()) for c in rec["cores"])
    assert rec["runs"] <= 22
    truth = sil.truth()
    dead = {tuple(x) for x in rec["bad_neurons"]["dead"]}
    want = {(0, k, n) for k in (1, 3) for n in np.flatnonzero(truth.dead.reshape(4, 256)[k])}
    assert dead == want
    hot = {tuple(x) for x in rec["bad_neurons"]["hot"]}
    want = {(0, k, n) for k in (1, 3) for n in np.flatnonzero(truth.hot.reshape(4, 256)[k])}
    assert hot == want

    class Counting(SiliconEngine):
        def run(self, stimulus, duration_s):
            raise AssertionError("a cached calibration must not run the board")

    with Counting(sil) as board:  # same board id, silicon, day, targets: from the cache
        again = calibrate(board, target, PredictiveModel(), cache_dir=tmp_path)
    assert again["cores"] == rec["cores"] and again["cached"] and "cached" not in rec
    with SiliconEngine(sil.at_day(1)) as board:  # another day is another key
        from hil.calibrate.calibrate import board_identity, cache_key

        k1 = cache_key(board_identity(board), target, PredictiveModel(), 0.03)
    assert k1 != rec["cache_key"]


def test_cache_key_of_a_board_without_day_changes_every_utc_day(monkeypatch) -> None:
    """A board that reports neither silicon nor day (a real chip) is never served last week's
    calibration: its key holds today's UTC date. One that reports its day keys on that."""
    import importlib

    cal_mod = importlib.import_module("hil.calibrate.calibrate")  # the module, not the function
    target = Target({"t_ref": 1e-3})
    bare = {"board_id": "usb-1", "silicon_id": None, "day": None}
    emu = {"board_id": "emu-seed-1", "silicon_id": "emu-seed-1", "day": 0}
    keys = {}
    for day in ("2026-12-05", "2026-12-06"):
        monkeypatch.setattr(cal_mod, "utc_date", lambda day=day: day)
        keys[day] = [cal_mod.cache_key(i, target, PredictiveModel(), 0.03) for i in (bare, emu)]
    assert keys["2026-12-05"][0] != keys["2026-12-06"][0]
    assert keys["2026-12-05"][1] == keys["2026-12-06"][1]


def _cli(*args: str) -> tuple[int, str, str]:
    """hil.cli.main in this process: (exit code, stdout, stderr)."""
    import contextlib
    import io

    from hil.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(list(args))
        except SystemExit as e:
            code = e.code
    return int(code or 0), out.getvalue(), err.getvalue()


def test_cli_cache_damaged_unwritable_and_cached(tmp_path: Path, monkeypatch) -> None:
    """Over the wire: a cached run says so with the date; a damaged entry is recomputed and
    overwritten (one warning line); a cache that cannot be written costs a warning, not --out."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.json").write_text(
        json.dumps({**GOOD, "targets": {"t_ref": 0.001}, "cores": [[0, 2]]})
    )
    run = ("calibrate", "--board", "emu://?seed=12", "--target", "t.json", "--cache", "cc")
    code, out, err = _cli(*run, "--out", "a.json")
    assert code == 0 and err == "", err
    (entry,) = (tmp_path / "cc").iterdir()
    first = json.loads(entry.read_text())
    code, out, err = _cli(*run, "--out", "b.json")
    assert code == 0 and err == ""
    assert f"cached (from {first['created_utc']}" in out

    entry.write_text('{"garbage": 1')  # damaged: a miss, recomputed and overwritten
    code, out, err = _cli(*run, "--out", "c.json")
    assert code == 0 and "cached" not in out, (out, err)
    assert err.count("\n") == 1 and "warning" in err and "damaged" in err
    assert json.loads(entry.read_text())["cache_key"] == first["cache_key"]
    assert json.loads((tmp_path / "c.json").read_text())["cores"][0]["parameters"]

    entry.unlink()
    entry.mkdir()  # the entry can be neither read nor written: --out still is, exit 0
    code, out, err = _cli(*run, "--out", "d.json")
    assert code == 0 and (tmp_path / "d.json").exists(), err
    lines = err.splitlines()
    assert all(x.startswith("hil calibrate: warning: ") for x in lines)
    assert "cache not written" in lines[-1] and len(lines) == 2, lines


@pytest.mark.parametrize("cache", ["/dev/null/x", "/dev/null", "t.json", "", "/proc/none/x"])
def test_cli_refuses_a_bad_cache_folder_before_running(
    tmp_path: Path, cache: str, monkeypatch
) -> None:
    import hil.board

    def no_board(url: str):
        raise AssertionError("the board must not be opened for a bad --cache")

    monkeypatch.setattr(hil.board, "open_board", no_board)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.json").write_text(json.dumps(GOOD))
    code, _, err = _cli(
        "calibrate", "--board", "emu://", "--target", "t.json", "--out", "c.json", "--cache", cache
    )
    assert code == 2 and err.count("\n") == 1 and "--cache" in err, err
    assert not (tmp_path / "c.json").exists()


def test_board_without_bias_writes_is_refused() -> None:
    from hil.board import Board, BoardInfo

    class NoBiases(Board):
        def info(self):
            return BoardInfo("x", "fake", "0", 1, frozenset({"spikes"}))

        def apply(self, config):
            return ""

        def run(self, stimulus, duration_s):
            raise AssertionError

        def reset(self):
            pass

        def close(self):
            pass

    with pytest.raises(CapabilityError, match="biases"):
        calibrate(NoBiases(), Target({"t_ref": 1e-3}))
    with pytest.raises(ConfigError, match="checked for"):  # the library checks targets too
        calibrate(NoBiases(), Target({"tau_ampa": 1.0}))


# ---- merging and the commands --------------------------------------------------------------------

RECORD = {
    "schema": "hil.calibration/1",
    "cores": [
        {"chip": 0, "core": 0, "parameters": {"SOIF_LEAK_N": [0, 31], "SOIF_REFR_N": [1, 200]}},
        {"chip": 1, "core": 2, "parameters": {"SOIF_LEAK_N": [0, 40]}},
    ],
}


def test_merge_writes_the_calibrated_biases() -> None:
    cfg = ChipConfig()
    core = cfg.core(0, 0)
    core.parameters = {"SOIF_LEAK_N": (0, 29), "SOIF_DC_P": (1, 3)}
    core.neurons[5] = Neuron()
    merged, notes = merge(cfg, RECORD)
    assert merged.chips[0].cores[0].parameters == {
        "SOIF_LEAK_N": (0, 31),
        "SOIF_REFR_N": (1, 200),
        "SOIF_DC_P": (1, 3),
    }
    assert cfg.chips[0].cores[0].parameters["SOIF_LEAK_N"] == (0, 29)  # input untouched
    assert any("skipped" in n for n in notes)  # chip 1 is not in the config
    assert any("SOIF_LEAK_N [0, 29] -> [0, 31]" in n for n in notes)


@pytest.mark.parametrize(
    "bad",
    [
        {"schema": "x", "cores": []},
        {"schema": "hil.calibration/1", "cores": [{"chip": 0, "core": 9, "parameters": {}}]},
        {
            "schema": "hil.calibration/1",
            "cores": [{"chip": 0, "core": 0, "parameters": {"X": [0, 1]}}],
        },
        {
            "schema": "hil.calibration/1",
            "cores": [{"chip": 0, "core": 0, "parameters": {"SOIF_LEAK_N": [6, 1]}}],
        },
    ],
)
def test_merge_refuses_bad_records(bad: dict) -> None:
    with pytest.raises(ConfigError):
        merge(ChipConfig(), bad)


def _hil(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hil", *args],
        cwd=cwd,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(cwd)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_bad_target_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text(json.dumps({**GOOD, "targets": {"tau_mem": "fast"}}))
    r = _hil(
        "calibrate",
        "--board",
        "emu://?seed=1",
        "--target",
        "t.json",
        "--out",
        "c.json",
        cwd=tmp_path,
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "targets.tau_mem" in r.stderr
    assert not (tmp_path / "c.json").exists()


def test_cli_calibrates_over_the_wire_and_merges(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text(
        json.dumps({**GOOD, "targets": {"t_ref": 0.001}, "cores": [[0, 2]]})
    )
    r = _hil(
        "calibrate",
        "--board",
        "emu://?seed=12",
        "--target",
        "t.json",
        "--out",
        "c.json",
        "--cache",
        "cache",
        "--json",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["success"] and summary["runs"] >= 3
    rec = json.loads((tmp_path / "c.json").read_text())
    assert rec["schema"] == "hil.calibration/1" and rec["cores"][0]["core"] == 2
    # the function the lead wires under `hil config calibrate`
    import argparse

    from hil.calibrate.cli import add_config_calibrate_parser

    ChipConfig().save(tmp_path / "net.json")
    parser = argparse.ArgumentParser()
    add_config_calibrate_parser(parser.add_subparsers())
    args = parser.parse_args(
        [
            "calibrate",
            str(tmp_path / "net.json"),
            str(tmp_path / "c.json"),
            "-o",
            str(tmp_path / "out.json"),
        ]
    )
    assert args.func(args) == 0
    out = ChipConfig.load(tmp_path / "out.json")
    assert (
        list(out.chips[0].cores[2].parameters["SOIF_REFR_N"])
        == rec["cores"][0]["parameters"]["SOIF_REFR_N"]
    )


@pytest.mark.slow
def test_full_chip_acceptance() -> None:
    """Four personalities x two target sets x two algorithms, every core of the chip."""
    assert acceptance.main() == 0


# ---- the measurement models against an independent ODE solution (scipy) ------------------------


def _ode_charge_time(drive, L: float, t_start: float = 0.0, t_max: float = 1.0) -> float:
    """Time from rest (u = 0) to u = L of K du/dt = drive(t) + Io exp(gamma u), the subthreshold
    DPI membrane with its feedback current (docs/sim.md), solved by scipy's LSODA."""
    from scipy.integrate import solve_ivp

    from hil.chip.params import Physics

    ph = Physics()
    kappa = (ph.kappa_n + ph.kappa_p) / 2
    K, gamma = ph.Ut / kappa * ph.C_mem, kappa / (kappa + 1)  # docs/sim.md

    def f(t, u):
        return [(drive(t) + ph.Io * math.exp(gamma * u[0])) / K]

    def hit(t, u):
        return u[0] - L

    hit.terminal = True
    sol = solve_ivp(f, (t_start, t_max), [0.0], events=hit, method="LSODA", rtol=1e-10, atol=1e-12)
    return float(sol.t_events[0][0]) - t_start


@pytest.mark.parametrize("a", [3e-12, 2e-11, 1e-10, 1e-9])
def test_interval_closed_form_matches_the_ode(a: float) -> None:
    from hil.experiments.models import interval, invert_interval

    L = 12.0
    T = _ode_charge_time(lambda t: a, L, t_max=10.0)
    assert float(interval(np.array(a), L)) == pytest.approx(T, rel=1e-6)
    assert float(invert_interval(np.array(T), L)) == pytest.approx(a, rel=1e-6)


def test_ampa_train_fit_recovers_tau_from_an_ode_train() -> None:
    """A spike train computed here by scipy (kick A exp(-t/tau), rest for R after each spike,
    the feedback current included) gives back tau within 0.3 %."""
    from hil.experiments.models import fit_train

    L = math.log(10e-9 / 0.5e-12)  # a 10 nA threshold

    rows = []
    for tau, R, A in ((8e-3, 0.8e-3, 3e-9), (5e-3, 0.5e-3, 5e-9), (11e-3, 1.1e-3, 2e-9)):
        t, train = 0.0, []
        while len(train) < 40:
            try:
                kick = lambda s, A=A, tau=tau: A * math.exp(-s / tau)  # noqa: E731
                dt_ = _ode_charge_time(kick, L, t, t + 0.2)
            except IndexError:  # no more threshold crossings: the kick's charge ran out
                break
            t += dt_
            train.append(t)
            t += R
        rows.append((tau, np.array(train)))
    times = np.full((3, 64), np.nan)
    n = np.zeros(3, np.int64)
    for i, (_, tr) in enumerate(rows):
        times[i, : tr.size] = tr
        n[i] = tr.size
    got = fit_train(times, n, 0.0, 8e-3, 0.8e-3, L)
    for (tau, _), g in zip(rows, got, strict=True):
        assert g == pytest.approx(tau, rel=3e-3)


def test_target_parser_raises_only_config_errors() -> None:
    """Any JSON value as a target record: a Target or a ConfigError, never another exception."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    values = st.recursive(
        scalars,
        lambda kids: (
            st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
        ),
        max_leaves=12,
    )
    names = st.sampled_from(["tau_mem", "t_ref", "tau_ampa", "tau_gaba", "tau_ahp", "x"])
    records = st.fixed_dictionaries(
        {
            "schema": st.just("hil.calibration-target/1"),
            "targets": st.dictionaries(names, values, max_size=3) | values,
        },
        optional={"cores": values, "other": values},
    )

    @settings(max_examples=150, deadline=None)
    @given(records | values)
    def check(data: object) -> None:
        try:
            Target.from_dict(data)
        except ConfigError as e:
            assert "\n" not in str(e)

    check()


@pytest.mark.parametrize(
    "out", [".", "/", "/proc/x.json", "/proc/none/x.json", "/dev/null", "nodir/c.json"]
)
def test_cli_refuses_outputs_before_running(tmp_path: Path, out: str, monkeypatch) -> None:
    import contextlib
    import io

    import hil.board
    from hil.cli import main

    def no_board(url: str):
        raise AssertionError("the board must not be opened for a bad output")

    monkeypatch.setattr(hil.board, "open_board", no_board)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.json").write_text(json.dumps(GOOD))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(["calibrate", "--board", "emu://", "--target", "t.json", "--out", out])
        except SystemExit as e:
            code = e.code
    assert code == 2 and err.getvalue().count("\n") == 1, err.getvalue()


@pytest.mark.parametrize(
    "raw", [b'{"targets": NaN}', b"[" * 60_000, b"", b'{"schema": 1, "schema": 2}', b"\xe9"]
)
def test_cli_refuses_bad_target_files(tmp_path: Path, raw: bytes) -> None:
    import contextlib
    import io

    from hil.cli import main

    (tmp_path / "t.json").write_bytes(raw)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(
            [
                "calibrate",
                "--board",
                "emu://",
                "--target",
                str(tmp_path / "t.json"),
                "--out",
                str(tmp_path / "c.json"),
            ]
        )
    assert code == 2 and err.getvalue().count("\n") == 1, err.getvalue()


def test_least_squares_helper_reaches_scipys_minimum() -> None:
    """The vectorized Levenberg-Marquardt (one routine for both fits) ends every row at a cost no
    higher than scipy.optimize.least_squares (trust region reflective, same bounds) reaches on the
    tau_mem interval model, rows of varied leak, drive scale and threshold."""
    from scipy.optimize import least_squares
    from scipy.sparse import block_diag

    from hil.experiments.models import PHYS, interval, levenberg_marquardt

    rng = np.random.default_rng(11)
    n, leak = 48, 5e-11
    x = np.array([3.0, 6.0, 12.0, 24.0]) * leak
    L0 = math.log(100e-9 / PHYS.Io)
    true = np.stack(
        [np.log(leak) + rng.normal(0, 0.2, n), rng.normal(0, 0.15, n), L0 + rng.normal(0, 0.3, n)],
        axis=1,
    )

    def model(p: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.log(interval(np.exp(p[:, 1:2]) * x - np.exp(p[:, 0:1]), p[:, 2:3]))

    logT = model(true) + rng.normal(0, 0.003, (n, 4))

    def resid(p: np.ndarray) -> np.ndarray:
        r = model(p) - logT
        return np.where(np.isfinite(r), r, 10.0)

    lo, hi = np.array([-40.0, -3.0, L0 - 3]), np.array([-10.0, 3.0, L0 + 3])
    p0 = np.tile([math.log(leak), 0.0, L0], (n, 1))
    _, cost = levenberg_marquardt(resid, p0, lo, hi, 60)
    ref = least_squares(
        lambda v: resid(v.reshape(n, 3)).ravel(),
        p0.ravel(),
        jac_sparsity=block_diag([np.ones((4, 3))] * n),
        bounds=(np.tile(lo, n), np.tile(hi, n)),
        x_scale="jac",
    )
    ref_cost = (resid(ref.x.reshape(n, 3)) ** 2).sum(axis=1)
    assert np.all(cost <= ref_cost * 1.01 + 1e-12), np.max(cost / ref_cost)
    assert np.median(cost) < 1e-4  # the noise level: 4 x 0.003**2


def test_leak_fit_finds_each_neurons_threshold_from_ode_intervals() -> None:
    """LeakMeasurement's prelude fit on intervals computed here by scipy (per neuron: leak, DC
    scale and spike threshold all off nominal): tau_mem = K / Itau back within 0.5 %. Freezing
    the fitted threshold at its nominal value cannot do this (the claimed gain of the L term)."""
    from hil.calibrate.measure import LeakMeasurement
    from hil.experiments.models import K_MEM, PHYS, invert_interval

    rng = np.random.default_rng(5)
    m = LeakMeasurement.__new__(LeakMeasurement)  # the fit only: no board
    m.target = 0.02
    leak = m.quantity.current_for(m.target)
    m.x = np.array(LeakMeasurement.LEVELS) * leak
    m.i_thr = 100e-9
    L0 = math.log(m.i_thr / PHYS.Io)
    n = 6
    itau = leak * np.exp(rng.normal(0, 0.2, n))
    s = np.exp(rng.normal(0, 0.15, n))
    L = L0 + np.log(np.exp(rng.normal(0, 0.25, n)))  # threshold current off by ~25 %
    T = np.array(
        [
            [
                _ode_charge_time(lambda t, a=s[j] * xv - itau[j]: a, L[j], t_max=20.0)
                for j in range(n)
            ]
            for xv in m.x
        ]
    )
    got_s, got_L = m._fit_scale(T)
    step = LeakMeasurement.STEP_LEVEL
    a = invert_interval(T[step], got_L)
    tau = K_MEM / (got_s * m.x[step] - a)
    assert np.all(np.abs(tau / (K_MEM / itau) - 1) <= 0.005), tau / (K_MEM / itau) - 1
    assert np.all(np.abs(got_L - L) <= 0.05), got_L - L


def test_every_board_run_is_a_recording_named_in_the_record(monkeypatch) -> None:
    """Calibration measures through hil.measure.record (the survey through hil.experiments'
    HotDead): every board run is a Recording, and the record's `source` is the SHA-256 of their
    content hashes in order; `runs` counts exactly the board's runs."""
    import hashlib

    import hil.calibrate.session
    import hil.experiments.base
    from hil.experiments import recording_hash
    from hil.measure import record

    seen = []

    def recording(*args, **kw):
        rec = record(*args, **kw)
        seen.append(rec)
        return rec

    monkeypatch.setattr(hil.calibrate.session, "record", recording)
    monkeypatch.setattr(hil.experiments.base, "record", recording)
    runs = []

    class Counting(SiliconEngine):
        def run(self, stimulus, duration_s):
            runs.append(duration_s)
            return super().run(stimulus, duration_s)

    sil = acceptance.personality(6161, "uniform", 0.12, 0.05, 0.04, dead=0.02, hot=0.02)
    with Counting(sil) as board:
        rec = calibrate(board, Target({"t_ref": 1e-3}, ((0, 2),)))
    assert rec["runs"] == len(runs) == len(seen) >= 4
    assert rec["board_s"] == pytest.approx(sum(runs))
    want = hashlib.sha256("".join(recording_hash(r) for r in seen).encode()).hexdigest()
    assert rec["source"] == want
    # one definition of dead and hot: the same neurons as hil.experiments' HotDead table
    from hil.experiments import HotDead, run_experiment

    with SiliconEngine(sil) as board:
        t = run_experiment(board, HotDead(), show_progress=False).table
    t = t[(t["chip"] == 0) & (t["core"] == 2)]
    for kind in ("dead", "hot"):
        assert {n for _, _, n in rec["bad_neurons"][kind]} == set(t["neuron"][t[kind]]), kind
    assert rec["bad_neurons"]["dead"] and rec["bad_neurons"]["hot"]


def test_the_survey_takes_its_thresholds_from_hotdead(monkeypatch) -> None:
    """Raise HotDead's hot threshold out of reach: calibration then finds no hot neuron (its
    survey has no threshold of its own), though this silicon has some."""
    import dataclasses

    import hil.experiments
    from hil.experiments import HotDead

    @dataclasses.dataclass(frozen=True)
    class NeverHot(HotDead):
        hot_rate_hz: float = 1e9

    monkeypatch.setattr(hil.experiments, "HotDead", NeverHot)
    sil = acceptance.personality(6161, "uniform", 0.12, 0.05, 0.04, dead=0.02, hot=0.02)
    assert sil.truth().hot.reshape(4, 256)[2].any()
    with SiliconEngine(sil) as board:
        rec = calibrate(board, Target({"t_ref": 1e-3}, ((0, 2),)))
    assert rec["bad_neurons"]["hot"] == [] and rec["bad_neurons"]["dead"]


def test_gaba_probe_of_a_long_time_constant_stays_inside_its_run() -> None:
    """A search may probe a code whose nominal tau_gaba (~1 s) needs a longer run than the 5 s
    cap: the big kick must still fall inside the run (it used to be placed beyond it: BoardError),
    and a neuron that shows no recovery reads as longer than measurable (inf), never finite."""
    from hil.calibrate.grid import grid
    from hil.calibrate.measure import BadNeurons, GabaMeasurement
    from hil.calibrate.session import Session

    q = QUANTITIES["tau_gaba"]
    g = grid(q.bias)
    long_code = g.code(g.nearest(q.current_for(1.0)))
    start = g.code(g.nearest(q.current_for(0.1)))
    sil = acceptance.personality(7272, "normal", 0.1, 0.04, 0.03)
    no = np.zeros((1, 256), bool)
    with SiliconEngine(sil) as board:
        m = GabaMeasurement(Session(board), [(0, 1)], 0.1, BadNeurons(no, no))
        m.prepare([start])
        values = m.probe([long_code]).values
    assert not np.any(np.isfinite(values) & (values > 0.5)), np.nanmax(values)
