"""hil.experiments: designs run through the Board protocol with set_biases sweeps; analyses
checked against the emulator's hidden truth (hil.emulator.silicon, which shares no code with the
analyses) on silicon personalities drawn here."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hil.board import BiasWrites
from hil.chip.params import Physics
from hil.emulator.engine import SiliconEngine
from hil.emulator.silicon import Silicon, Spread
from hil.errors import HilError
from hil.experiments import (
    FI,
    Adaptation,
    ExperimentResult,
    HotDead,
    Noise,
    Refractory,
    run_experiment,
)
from hil.experiments.base import spike_rates

P = Physics()


def _silicon(seed: int, family: str = "normal", sigma: float = 0.2, **kw: object) -> Silicon:
    base = Silicon.from_seed(seed)
    mm = {p: Spread(family, 0.05, 0.0 if p.startswith("Iw_") else sigma) for p in base.mismatch}
    return Silicon(
        silicon_id=f"t-exp-{seed}",
        seed=seed,
        mismatch=mm,
        biasgen_sigma=0.05,
        noise_std_A=1e-12,
        noise_neuron_sigma=0.3,
        **kw,  # type: ignore[arg-type]
    )


class Counting(SiliconEngine):
    """The engine, counting full applies and bias writes."""

    applies = 0
    writes = 0

    def apply(self, config):  # type: ignore[no-untyped-def]
        self.applies += 1
        return super().apply(config)

    def set_biases(self, biases):  # type: ignore[no-untyped-def]
        self.writes += 1
        return super().set_biases(biases)


@pytest.fixture(scope="module")
def refractory_run() -> tuple[Silicon, ExperimentResult, Counting]:
    s = _silicon(9001, "normal", 0.22)
    with Counting(s) as b:
        return s, run_experiment(b, Refractory(duration_s=0.2), show_progress=False), b


def test_refractory_period_matches_the_hidden_truth(refractory_run):
    s, res, board = refractory_run
    truth = P.Vth * P.C_ref / s.truth().currents["Iref"]
    err = np.abs(res.table["t_ref_s"].to_numpy() / truth - 1)
    assert np.nanmedian(err) < 0.005, np.nanmedian(err)
    assert np.nanpercentile(err, 95) < 0.02
    # one apply, then one bias write per step (no full re-apply)
    assert board.applies == 1 and board.writes == len(res.steps)
    assert isinstance(board, BiasWrites)


def test_table_schema_and_provenance(refractory_run):
    s, res, _ = refractory_run
    t = res.table
    assert list(t.columns[:3]) == ["chip", "core", "neuron"]
    assert len(t) == 1024 and t[["chip", "core", "neuron"]].duplicated().sum() == 0
    for col in ("experiment", "board_id", "silicon_id", "hil_version", "source"):
        assert col in t.columns
    assert (t["silicon_id"] == s.silicon_id).all()
    assert res.board_time_s == pytest.approx(3 * 0.2)


def test_result_round_trips_and_a_failed_save_leaves_nothing(refractory_run, tmp_path):
    _, res, _ = refractory_run
    path = res.save(tmp_path / "refr")
    back = ExperimentResult.load(path)
    assert back.name == "refractory" and len(back.recordings) == 3
    np.testing.assert_allclose(back.table["t_ref_s"], res.table["t_ref_s"], rtol=1e-12)
    n = res.table["chip"].size
    for a, b in zip(back.recordings, res.recordings, strict=True):
        np.testing.assert_array_equal(spike_rates(a, np.arange(n)), spike_rates(b, np.arange(n)))

    broken = ExperimentResult(**{**res.__dict__, "recordings": [*res.recordings[:1], None]})  # type: ignore[list-item]
    with pytest.raises(AttributeError):
        broken.save(tmp_path / "half")
    assert not (tmp_path / "half").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["refr"]
    with pytest.raises(HilError):
        ExperimentResult.load(tmp_path / "nothing")


def test_fi_rheobase_and_saturation_follow_the_truth():
    s = _silicon(9002, "lognormal", 0.2)
    with SiliconEngine(s) as b:
        res = run_experiment(b, FI(duration_s=0.15, low_duration_s=0.8), show_progress=False)
    t = s.truth()
    # the host cannot see Idc: the rheobase in code current is Itau_mem / (Idc factor)
    nom = s.nominal()
    ratio = t.currents["Itau_mem"] / (t.currents["Idc"] / nom["Idc"])
    rheo = res.table["rheobase_a"].to_numpy()
    ok = np.isfinite(rheo) & ~t.dead & ~t.hot
    rho = np.corrcoef(np.log(rheo[ok]), np.log(ratio[ok]))[0, 1]
    assert rho > 0.8, rho  # the 2 Hz crossing also depends on the gain, threshold and noise
    assert np.all(res.table["rate_sat_hz"].to_numpy()[t.dead] == 0)
    gain = res.table["gain_hz_per_a"].to_numpy()
    assert np.nanmedian(gain) > 0
    # rates rise with the drive
    assert np.nanmedian(res.table["rate_sat_hz"]) > 300


def test_hot_and_dead_are_found():
    s = _silicon(
        9003, "lognormal", 0.15, dead_fraction=0.03, hot_fraction=0.02, hot_current_A=8e-11,
        hot_sigma=0.5,
    )  # fmt: skip
    t = s.truth()
    with SiliconEngine(s) as b:
        res = run_experiment(b, HotDead(spont_duration_s=1.0), show_progress=False)
    for what in ("hot", "dead"):
        found = res.table[what].to_numpy().astype(bool)
        true = getattr(t, what)
        tp = (found & true).sum()
        assert true.sum() >= 10
        assert tp / max(found.sum(), 1) >= 0.95 and tp / true.sum() >= 0.95, what


def test_isi_variability_grows_with_membrane_noise():
    cv = {}
    for std in (0.2e-12, 4e-12):
        s = dataclasses.replace(_silicon(9004, "lognormal", 0.1), noise_std_A=std)
        with SiliconEngine(s) as b:
            res = run_experiment(
                b, Noise(codes=((0, 255),), duration_s=1.5, n_per_core=64), show_progress=False
            )
        cv[std] = float(np.nanmedian(res.table["isi_cv"]))
    assert cv[4e-12] > 3 * cv[0.2e-12], cv


def test_counts_readout_gives_the_refractory_period_too(refractory_run):
    s, spikes, _ = refractory_run
    with SiliconEngine(s) as b:
        res = run_experiment(
            b, Refractory(duration_s=0.2), show_progress=False, readout="counts", bin_s=1e-3
        )
    assert all(r.readout == "counts" for r in res.recordings)
    truth = P.Vth * P.C_ref / s.truth().currents["Iref"]
    err = np.abs(res.table["t_ref_s"].to_numpy() / truth - 1)
    assert np.nanmedian(err) < 0.02, np.nanmedian(err)


def test_adaptation_lowers_the_steady_rate_with_the_ahp_weight():
    s = _silicon(9005, "lognormal", 0.15)
    with SiliconEngine(s) as b:
        res = run_experiment(b, Adaptation(n_per_core=32), show_progress=False)
    live = ~s.truth().dead[np.arange(1024) % 256 < 32]
    d1, d2 = (res.table[f"ahp_drop_{i}"].to_numpy()[live] for i in (1, 2))
    assert np.mean((d2 < d1) & (d1 < 1)) >= 0.95, (np.median(d1), np.median(d2))
