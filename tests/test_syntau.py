"""Per-neuron synaptic time constants (hil.experiments.syntau): the estimator against the
emulator's hidden truth, the experiment's table, bad input, and that calibration runs the same
code. The fit's use of them is checked in tests/test_mismatch.py; full-chip figures in
tests/syntau_acceptance.py and tests/test_mismatch_acceptance.py."""

from __future__ import annotations

import numpy as np
import pytest

from hil.emulator.engine import SiliconEngine
from hil.emulator.silicon import Silicon, Spread
from hil.errors import ConfigError
from hil.experiments import SynTau, run_experiment

NPC = 24  # neurons per core
# the oracle: tau = (Ut/kappa) C / Itau from the truth's currents, with Physics' constants written
# out here (not through hil.experiments.syntau)
UT_K = 25e-3 / ((0.75 + 0.66) / 2)
CAP = {"ampa": 24.5e-12, "nmda": 25e-12, "gaba": 25e-12, "shunt": 24.5e-12}


def _silicon() -> Silicon:
    base = Silicon.from_seed(6406)
    mm = {p: Spread("lognormal", 0.05, 0.0 if p.startswith("Iw_") else 0.2) for p in base.mismatch}
    return Silicon(
        silicon_id="t-syntau", seed=6407, mismatch=mm, biasgen_sigma=0.04,
        weight_family="lognormal", weight_sigma=0.15, noise_std_A=1.5e-12, noise_neuron_sigma=0.3,
        dead_fraction=0.02,
    )  # fmt: skip


@pytest.fixture(scope="module")
def measured():
    sil = _silicon()
    with SiliconEngine(sil) as b:
        tables = {
            k: run_experiment(b, SynTau(k, n_per_core=NPC), show_progress=False)
            for k in ("ampa", "nmda", "gaba", "shunt")
        }
    return sil, tables


@pytest.mark.parametrize("kind", ["ampa", "nmda", "gaba", "shunt"])
def test_time_constants_match_the_hidden_truth_per_neuron(measured, kind):
    sil, res = measured
    t = sil.truth()
    g = np.arange(1024)
    g = g[g % 256 < NPC]
    truth = UT_K * CAP[kind] / t.currents[f"Itau_{kind}"][g]
    tab = res[kind].table
    alive = ~t.dead[g]
    err = np.abs(tab["tau_s"].to_numpy()[alive] / truth[alive] - 1)
    assert np.isfinite(err).all()
    # measured 0.15-0.5 % on other silicon (docs/characterization.md); the truth spreads 20 %
    assert np.median(err) <= 0.01, np.median(err)
    assert np.percentile(err, 90) <= 0.03, np.percentile(err, 90)
    # the spread of the repeats is an honest uncertainty: the error is of its size
    se = tab["tau_rel_se"].to_numpy()[alive]
    assert np.all(np.isfinite(se)) and 0.2 < np.median(err) / np.median(se) < 5
    # dead neurons give no time constant
    assert (tab["repeats_ok"].to_numpy()[~alive] == 0).all()
    assert np.isnan(tab["tau_s"].to_numpy()[~alive]).all()


def test_table_has_one_row_per_neuron_with_provenance(measured):
    _, res = measured
    r = res["gaba"]
    assert len(r.table) == 4 * NPC and len(r.recordings) == 3
    for col in ("chip", "core", "neuron", "tau_s", "tau_rel_se", "repeats_ok", "tau_s_0",
                "experiment", "source", "silicon_id"):  # fmt: skip
        assert col in r.table.columns, col
    assert set(r.table["experiment"]) == {"tau_gaba"}
    # the budget: a few seconds of board time for all four types
    assert sum(x.board_time_s for x in res.values()) <= 6.0


def test_counts_readout_gives_no_time_constant(tmp_path):
    with SiliconEngine(_silicon()) as b:
        r = run_experiment(b, SynTau("ampa", repeats=1, n_per_core=4), show_progress=False,
                           readout="counts")  # fmt: skip
    assert np.isnan(r.table["tau_s"]).all() and (r.table["repeats_ok"] == 0).all()


@pytest.mark.parametrize(
    ("kw", "what"),
    [({"kind": "ahp"}, "kind"), ({"repeats": 0}, "repeats"), ({"margin": 0.5}, "margin")],
)
def test_bad_options_are_config_errors(kw, what):
    with pytest.raises(ConfigError, match=what):
        SynTau(**kw).design(1)


def test_calibration_runs_the_characterization_estimator(monkeypatch):
    """hil.calibrate's tau_ampa and tau_gaba measurements call hil.experiments.syntau (not a copy):
    replacing the shared estimators changes what calibration measures."""
    from hil.calibrate.measure import AmpaMeasurement, BadNeurons, GabaMeasurement
    from hil.calibrate.session import Session
    from hil.experiments import syntau

    monkeypatch.setattr(syntau, "silence_tau", lambda s, i, r: np.full(i.shape, 0.0123))
    monkeypatch.setattr(syntau, "train_tau", lambda s, i, st, d: np.full(i.shape, 0.0456))
    no = np.zeros((1, 256), bool)
    with SiliconEngine(_silicon()) as b:
        for cls, want in ((GabaMeasurement, 0.0123), (AmpaMeasurement, 0.0456)):
            m = cls(Session(b), [(0, 0)], 0.01, BadNeurons(no, no))
            code = (3, 60)
            m.prepare([code])
            assert np.all(m.probe([code]).values == want)


def test_fit_takes_each_measured_tau_and_keeps_nominal_where_there_is_none():
    """hil.mismatch.fit._fit_taus: Itau = (Ut/kappa) C / tau where a neuron gave a time constant,
    Igain scaled alike (the efficacy Igain/Itau the gain fit starts from is unchanged); nominal
    where it gave none (a counts readout, say), counted in the diagnostics; `identifiable` lists
    only what was measured."""
    from types import SimpleNamespace

    import pandas as pd

    from hil.mismatch.fit import _fit_taus, nominal_currents
    from hil.mismatch.twin import Twin

    n = 1024
    nominal = nominal_currents(1)
    twin = Twin(
        1, {k: v.copy() for k, v in nominal.items()}, np.zeros(n), np.zeros(n),
        np.zeros(n, bool), np.zeros(n, bool),
    )  # fmt: skip
    rng = np.random.default_rng(1)
    tau = rng.uniform(0.005, 0.02, n)
    tau[:10] = np.nan
    tables = {
        f"tau_{k}": SimpleNamespace(
            table=pd.DataFrame(
                {
                    "tau_s": tau if k != "shunt" else np.full(n, np.nan),
                    "tau_rel_se": np.full(n, 0.004),
                }
            )  # fmt: skip
        )
        for k in CAP
    }
    diag: dict = {}
    ids = _fit_taus(twin, tables, np.arange(n), diag)  # type: ignore[arg-type]
    for k in ("ampa", "nmda", "gaba"):
        itau = twin.currents[f"Itau_{k}"]
        np.testing.assert_allclose(itau[10:], UT_K * CAP[k] / tau[10:], rtol=1e-12)
        np.testing.assert_array_equal(itau[:10], nominal[f"Itau_{k}"][:10])
        eff = twin.currents[f"Igain_{k}"] / itau
        np.testing.assert_allclose(eff, nominal[f"Igain_{k}"] / nominal[f"Itau_{k}"], rtol=1e-12)
        assert diag["syn_tau"][k]["nominal_kept"] == 10
    np.testing.assert_array_equal(twin.currents["Itau_shunt"], nominal["Itau_shunt"])
    assert diag["syn_tau"]["shunt"]["measured"] == 0
    assert [e["name"] for e in ids] == ["Itau_ampa", "Itau_nmda", "Itau_gaba"]
    assert all(e["median_rel_se"] == pytest.approx(0.004) for e in ids)
