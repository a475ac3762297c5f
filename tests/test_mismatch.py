"""hil.mismatch: the closed-form f-I against scipy's ODE solver, the twin artifact and the
simulator's twin option, and a short end-to-end identification on a silicon personality drawn
here (normal family, 20 % spread), judged against the emulator's hidden truth
(hil.emulator.silicon) and on a held-out random network. The full-chip acceptance is
tests/test_mismatch_acceptance.py (slow)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import solve_ivp

from hil.board import BiasEditor, open_board
from hil.chip.netlist import PHYSICS
from hil.chip.params import HighLevel
from hil.cli import main
from hil.emulator.engine import SiliconEngine
from hil.emulator.silicon import TRUTH_COLUMNS, Silicon, Spread
from hil.errors import HilError
from hil.experiments.base import all_neurons_config
from hil.experiments.fi import DC, FI, HotDead, Refractory, code_current
from hil.experiments.noise import Noise
from hil.experiments.suite import characterize, default_experiments
from hil.experiments.synapse import SlotScan, SynapseType
from hil.mismatch.fit import fit_twin, load_results, nominal_currents
from hil.mismatch.heldout import prediction_errors, random_network
from hil.mismatch.membrane import rate
from hil.mismatch.model import MismatchModel
from hil.mismatch.twin import COLUMNS, Twin

NPC = 16  # neurons per core measured in the short run
NOM = HighLevel().currents()


def _ode_rate(iin: float, itau: float, ig: float, ith: float, t_ref: float) -> float:
    """Rate from the membrane ODE in I (docs/sim.md), integrated by scipy from reset to threshold."""
    io, k = PHYSICS.Io, PHYSICS.kappa
    g = k / (k + 1)
    tau = PHYSICS.Ut / k * PHYSICS.C_mem / itau

    def f(t: float, y: np.ndarray) -> list[float]:
        i = y[0]
        ia = io * (i / io) ** g
        return [((ig / itau) * (iin - itau) - i + (ia / itau) * (i + ig)) / (tau * (1 + ig / i))]

    hit = lambda t, y: y[0] - ith  # noqa: E731
    hit.terminal = True  # type: ignore[attr-defined]
    sol = solve_ivp(f, (0, 10.0), [io], events=hit, rtol=1e-10, atol=1e-22, method="LSODA")
    return 1.0 / (sol.t_events[0][0] + t_ref) if sol.t_events[0].size else 0.0


@pytest.mark.parametrize(
    ("iin", "itau", "ig", "ith"),
    [(2e-11, 5.3e-12, 2.1e-11, 1e-7), (1e-9, 4e-12, 3e-11, 6e-8), (3e-7, 7e-12, 1.5e-11, 1.4e-7)],
)
def test_closed_form_f_i_matches_an_ode_solution(iin, itau, ig, ith):
    want = _ode_rate(iin, itau, ig, ith, 1e-3)
    got = float(rate(np.array(iin), np.array(itau), np.array(ig), np.array(ith), np.array(1e-3)))
    assert got == pytest.approx(want, rel=1e-4)


def test_closed_form_is_silent_below_the_rheobase():
    assert float(rate(np.array(2e-12), np.array(5.3e-12), np.array(2.1e-11), np.array(1e-7), np.array(1e-3))) == 0  # fmt: skip


def _silicon(seed: int) -> Silicon:
    base = Silicon.from_seed(seed)
    mm = {p: Spread("normal", 0.05, 0.0 if p.startswith("Iw_") else 0.2) for p in base.mismatch}
    return Silicon(
        silicon_id=f"t-mm-{seed}", seed=seed, mismatch=mm, biasgen_sigma=0.05,
        weight_family="normal", weight_sigma=0.15, noise_std_A=1e-12, noise_neuron_sigma=0.3,
    )  # fmt: skip


def _short(npc: int) -> list:
    exps = [dataclasses.replace(e, n_per_core=npc) for e in default_experiments()]
    out = []
    for e in exps:
        if isinstance(e, FI):
            e = dataclasses.replace(e, duration_s=0.25, low_duration_s=0.3)
        elif isinstance(e, SlotScan):
            e = dataclasses.replace(e, duration_s=0.12)
        elif isinstance(e, SynapseType):
            e = dataclasses.replace(e, durations_s=(0.3, 0.3))
        elif isinstance(e, HotDead):
            e = dataclasses.replace(e, spont_duration_s=0.3)
        elif isinstance(e, Refractory):
            e = dataclasses.replace(e, duration_s=0.15)
        elif isinstance(e, Noise):
            e = dataclasses.replace(e, duration_s=4.0)
        out.append(e)
    return out


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    s = _silicon(424242)
    d = tmp_path_factory.mktemp("char")
    with SiliconEngine(s) as b:
        summary = characterize(b, d, _short(NPC), show_progress=False)
    twin, diag = fit_twin(load_results(d), show_progress=False)
    path = d / "twin.json"
    twin.save(path)
    return s, twin, diag, summary, d, path


def test_summary_reports_board_and_wall_time(fitted):
    _, _, _, summary, d, _ = fitted
    on_disk = json.loads((d / "summary.json").read_text())
    assert on_disk["board_time_s"] == pytest.approx(summary["board_time_s"])
    assert summary["board_time_s"] > 0 and summary["wall_s"] > 0
    assert [r["experiment"] for r in summary["experiments"]][:3] == ["hotdead", "refractory", "fi"]


def test_identifiable_parameters_match_the_hidden_truth(fitted):
    s, twin, _, _, _, _ = fitted
    t = s.truth()
    g = np.arange(1024)
    g = g[(g % 256 < NPC) & ~t.dead]
    iref = np.abs(twin.currents["Iref"][g] / t.currents["Iref"][g] - 1)
    assert np.median(iref) <= 0.03, np.median(iref)
    # efficacy of each type relative to AMPA's (the conventions cancel)
    for k in ("nmda", "gaba", "shunt"):
        err = np.abs(np.exp(_eff(twin.currents, k, g) - _eff(t.currents, k, g)) - 1)
        assert np.median(err) <= 0.03, (k, np.median(err))
    # per-core base-weight ratios Iw_k / Iw_0 (16 neurons per core here; the full-chip
    # acceptance holds their median to 3 %)
    r = np.array(
        [
            (twin.currents[f"Iw_{k}"] / twin.currents["Iw_0"])[::256]
            / (t.currents[f"Iw_{k}"] / t.currents["Iw_0"])[::256]
            for k in (1, 2, 3)
        ]
    )
    print("Iw_k/Iw_0 against the truth", r)
    assert np.median(np.abs(r - 1)) <= 0.03 and np.max(np.abs(r - 1)) <= 0.08, r
    # per-slot weight factors relative to the neuron's geometric mean
    lw = np.log(t.weight_factor.reshape(-1, 64)[g])
    lw -= lw.mean(1, keepdims=True)
    lf = np.log(twin.weight_factor.reshape(-1, 64)[g])
    assert np.median(np.abs(np.exp(lf - lw) - 1)) <= 0.03
    assert np.median(np.abs(np.exp(lf - lw)[:, 1:16] - 1)) <= 0.05  # slots of Iw_0..Iw_3


def test_synaptic_time_constants_are_identified_per_neuron(fitted):
    """The twin's Itau of each type from the tau_<type> experiments: per-neuron time constants
    against the truth (nominal capacitances on both sides), listed under `identifiable` with an
    uncertainty of the size of the error."""
    s, twin, diag, _, _, _ = fitted
    t = s.truth()
    g = np.arange(1024)
    g = g[(g % 256 < NPC) & ~t.dead]
    entries = {e["name"]: e for e in twin.identifiable}
    for k in ("ampa", "nmda", "gaba", "shunt"):
        err = np.abs(t.currents[f"Itau_{k}"][g] / twin.currents[f"Itau_{k}"][g] - 1)
        assert np.median(err) <= 0.01, (k, np.median(err))
        se = entries[f"Itau_{k}"]["median_rel_se"]
        assert se is not None and 0.2 < np.median(err) / se < 5, (k, np.median(err), se)
        assert diag["syn_tau"][k]["nominal_kept"] == 0


def _dc_factor(s: Silicon) -> np.ndarray:
    """Each neuron's true SOIF_DC_P factor on the reference branch (coarse 2): the unit the Idc
    convention fixes to 1."""
    cfg = all_neurons_config(s.n_chips)
    c2, _ = BiasEditor(cfg).set({(0, k, DC): (2, 255) for k in range(4)})
    return s.truth(c2).currents["Idc"] / code_current(DC, (2, 255))


def test_noise_std_is_identified_per_neuron(fitted):
    """noise_std from the ISI variance under DC: per neuron against the truth in the Idc
    convention's units (noise_std / Idc factor), with an uncertainty of the size of the error."""
    s, twin, diag, _, _, _ = fitted
    t = s.truth()
    g = np.arange(1024)
    g = g[(g % 256 < NPC) & ~t.dead & ~t.hot]
    err = np.abs(twin.noise_std[g] / (t.noise_std[g] / _dc_factor(s)[g]) - 1)
    se = {e["name"]: e for e in twin.identifiable}["noise_std/Idc"]["median_rel_se"]
    # ~240 ISIs per neuron: relative SE 1/sqrt(2 n) ~ 4.6 %, median |error| ~ 0.67 of it
    assert np.median(err) <= 0.06, np.median(err)
    assert 0.2 < np.median(err) / se < 3, (np.median(err), se)
    assert diag["noise"]["median_kept"] == 0
    # the hidden spread of noise across neurons (30 %) shows
    assert np.corrcoef(np.log(twin.noise_std[g]), np.log(t.noise_std[g]))[0, 1] > 0.8


def test_mismatch_model_carries_the_noise_and_the_ahp(fitted, tmp_path):
    _, twin, _, _, _, _ = fitted
    g = np.arange(1024)
    g = g[g % 256 < NPC]
    model = MismatchModel.fit(twin, nominal_currents(1), g, boot=20)
    assert {"Itau_ahp", "Igain_ahp"} <= set(model.parameters)
    assert model.noise is not None
    alive = g[~twin.dead[g]]
    assert model.noise.median * 1e-12 == pytest.approx(np.median(twin.noise_std[alive]), rel=0.05)
    back = MismatchModel.load(model.save(tmp_path / "m.json"))
    assert back.noise == model.noise
    draw = back.sample(3, seed=1)["noise_std"]
    assert draw.shape == (3, 1024) and np.all(draw > 0)
    assert np.median(draw) == pytest.approx(model.noise.median * 1e-12, rel=0.15)


def _ahp_charge(c: dict) -> np.ndarray:
    """The AHP's charge per spike [A], written from docs/sim.md (not imported)."""
    ut_k = PHYSICS.Ut / PHYSICS.kappa
    tau = ut_k * PHYSICS.C_ahp / c["Itau_ahp"]
    t_pulse = PHYSICS.Vth * PHYSICS.C_pulse_ahp / c["Ipulse_ahp"]
    return c["Igain_ahp"] / c["Itau_ahp"] * c["Iw_ahp"] * (1 - np.exp(-t_pulse / tau))


def test_ahp_time_constant_and_charge_are_identified_per_neuron(fitted, tmp_path):
    """Itau_ahp (tau_ahp) and the AHP's charge per spike at the experiment's strongest weight,
    per neuron against the truth; the twin board runs them."""
    s, twin, diag, _, _, path = fitted
    t = s.truth()
    g = np.arange(1024)
    g = g[(g % 256 < NPC) & ~t.dead & ~t.hot]
    err = np.abs(twin.currents["Itau_ahp"][g] / t.currents["Itau_ahp"][g] - 1)
    assert np.median(err) <= 0.03, np.median(err)
    assert np.mean(err > 0.05) <= 0.05, np.sort(err)[-8:]  # no tail of failed fits
    cfg = all_neurons_config(s.n_chips, {"latch_so_adaptation": True})
    ca, _ = BiasEditor(cfg).set({(0, k, "SOAD_W_N"): (5, 128) for k in range(4)})
    with open_board(f"sim://?twin={path}") as b:
        b.apply(ca)
        mine = b.compiled.netlist.currents  # the twin board's currents under that weight
    j_err = np.abs(_ahp_charge(mine)[g] / _ahp_charge(s.truth(ca).currents)[g] - 1)
    assert np.median(j_err) <= 0.03, np.median(j_err)
    names = {e["name"] for e in twin.identifiable}
    assert "Itau_ahp" in names and any(n.startswith("(Igain_ahp/Itau_ahp)") for n in names)
    assert diag["ahp"]["nominal_kept"] == 0
    assert np.all(np.isfinite(twin.se_log["Itau_ahp"][g]))


def _eff(c: dict, k: str, g: np.ndarray) -> np.ndarray:
    """ln of synapse type k's efficacy (Igain/Itau) relative to AMPA's, at neurons g."""
    return np.log(c[f"Igain_{k}"] / c[f"Itau_{k}"] * c["Itau_ampa"] / c["Igain_ampa"])[g]


def test_twin_predicts_a_held_out_network_and_nominal_does_not(fitted):
    s, _, _, _, _, path = fitted
    cfg, stim = random_network(99, 1, 1.5, n_per_core=NPC)
    g = np.arange(1024)
    g = g[g % 256 < NPC]
    with SiliconEngine(s) as b:
        b.apply(cfg)
        chip = _rates(b.run(stim, 1.5), g, 1.5)
    errs = {}
    for name, url in (("twin", f"sim://?dt=1e-4&twin={path}"), ("nominal", "sim://?dt=1e-4")):
        with open_board(url) as b:
            b.apply(cfg)
            errs[name] = np.median(prediction_errors(chip, _rates(b.run(stim, 1.5), g, 1.5), ~s.truth().dead[g]))  # fmt: skip
    assert errs["twin"] <= 0.05, errs
    assert errs["nominal"] >= 4 * errs["twin"], errs


def _rates(sp: np.ndarray, g: np.ndarray, dur: float) -> np.ndarray:
    idx = sp["chip"].astype(int) * 1024 + sp["core"].astype(int) * 256 + sp["neuron"]
    return np.bincount(idx, minlength=1024)[g] / dur


def test_twin_artifact_round_trips_with_truth_columns(fitted, tmp_path):
    s, twin, _, _, _, path = fitted
    assert COLUMNS == TRUTH_COLUMNS
    back = Twin.load(path)
    for b in twin.currents:
        np.testing.assert_array_equal(back.currents[b], twin.currents[b])
    np.testing.assert_array_equal(back.weight_factor, twin.weight_factor)
    csv = twin.write_csv(tmp_path / "twin.csv")
    s.write_truth(tmp_path / "truth.csv")
    assert list(pd.read_csv(csv).columns) == list(pd.read_csv(tmp_path / "truth.csv").columns)
    d = json.loads(path.read_text())
    assert d["schema"] == "hil.twin/1" and d["provenance"]["silicon_id"] == s.silicon_id
    assert len(d["provenance"]["sources"]) > 50 and d["identifiable"] and d["conventions"]


def test_sim_twin_silences_dead_neurons(fitted, tmp_path):
    _, twin, _, _, _, _ = fitted
    t2 = dataclasses.replace(twin, dead=twin.dead.copy())
    t2.dead[3] = True
    p = t2.save(tmp_path / "t.json")
    cfg, stim = random_network(5, 1, 0.5, n_per_core=NPC)
    with open_board(f"sim://?dt=1e-4&twin={p}") as b:
        b.apply(cfg)
        sp = b.run(stim, 0.5)
    idx = sp["chip"].astype(int) * 1024 + sp["core"].astype(int) * 256 + sp["neuron"]
    assert 3 not in idx and idx.size > 0
    with pytest.raises(HilError):
        open_board(f"sim://?twin={tmp_path / 'missing.json'}")


def test_mismatch_model_fits_samples_and_round_trips(fitted, tmp_path):
    s, twin, _, _, _, _ = fitted
    g = np.arange(1024)
    g = g[g % 256 < NPC]
    m = MismatchModel.fit(twin, nominal_currents(1), g, boot=30)
    pop = m.parameters["Iref"]
    assert pop.family in ("lognormal", "normal", "student_t")
    assert pop.ci["neuron_sigma"][0] <= pop.neuron_sigma <= pop.ci["neuron_sigma"][1]
    draw = m.sample(4, seed=1)
    assert draw["Iref"].shape == (4, 1024) and np.all(draw["Iref"] > 0)
    again = m.sample(4, seed=1)
    np.testing.assert_array_equal(draw["Iref"], again["Iref"])
    back = MismatchModel.load(m.save(tmp_path / "mm.json"))
    assert back.parameters["Iref"] == pop


def test_mismatch_model_counts_only_identified_neurons(fitted):
    """A neuron that kept the nominal value (NaN standard error) says nothing about the spread; a
    parameter identified nowhere (taus from the counts readout) is left out, not fitted as 0."""
    import copy

    _, twin, _, _, _, _ = fitted
    g = np.arange(1024)
    g = g[g % 256 < NPC]
    t = copy.deepcopy(twin)
    half = g[::2]
    t.currents["Itau_ampa"][half] = nominal_currents(1)["Itau_ampa"][half]  # as if kept nominal
    t.se_log["Itau_ampa"][half] = np.nan
    t.se_log["Itau_gaba"][:] = np.nan
    m = MismatchModel.fit(t, nominal_currents(1), g, boot=10)
    ref = MismatchModel.fit(twin, nominal_currents(1), g[1::2], boot=10)
    assert m.parameters["Itau_ampa"].neuron_sigma == ref.parameters["Itau_ampa"].neuron_sigma
    assert "Itau_gaba" not in m.parameters and m.provenance["not_fitted"] == ["Itau_gaba"]
    assert "Itau_gaba" not in m.sample(2, seed=0)


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "none"), "--out", str(tmp_path / "t.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "hil characterize" in err[0]
    assert main(["characterize", "--board", "nope://", "--out", str(tmp_path / "c")]) == 2
    assert not (tmp_path / "c").exists()
    assert main(["characterize", "--board", "sim://", "--out", str(tmp_path / "c"), "--neurons-per-core", "0"]) == 2  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_cli_interrupted_characterize_leaves_no_folder(tmp_path, monkeypatch):
    import hil.experiments.suite as suite

    calls = {"n": 0}
    real = suite.run_experiment

    def flaky(*a, **kw):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(suite, "run_experiment", flaky)
    out = tmp_path / "c"
    assert main(["characterize", "--board", "sim://", "--out", str(out), "--neurons-per-core", "1"]) == 130  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_cli_fit_writes_twin_csv_and_model(fitted, tmp_path, capsys):
    _, _, _, _, d, _ = fitted
    out = tmp_path / "twin.json"
    code = main(["fit", str(d), "--out", str(out), "--csv", str(tmp_path / "t.csv"),
                 "--model", str(tmp_path / "m.json"), "--boot", "10", "--json"])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["measured"] == 4 * NPC and "Iref" in summary["identifiable"]
    assert Twin.load(out).n_chips == 1
    assert json.loads((tmp_path / "m.json").read_text())["schema"] == "hil.mismatch/1"
