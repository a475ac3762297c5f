"""Silicon personality: reproducibility, JSON round trip, truth CSV, drift, bias-generator error."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.chip.config import ChipConfig
from hil.chip.example import example_config
from hil.chip.params import SIM_TO_DEVICE
from hil.emulator.silicon import (
    FAMILIES,
    NOMINAL_CODES,
    PARAMETERS,
    TRUTH_COLUMNS,
    Drift,
    Silicon,
    Spread,
    draw_factors,
)
from hil.errors import ConfigError, HilError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "silicon"


def test_same_seed_same_silicon_and_truth() -> None:
    a, b = Silicon.from_seed(7), Silicon.from_seed(7)
    assert a == b
    ta, tb = a.truth(), b.truth()
    for p in PARAMETERS:
        np.testing.assert_array_equal(ta.currents[p], tb.currents[p])
    np.testing.assert_array_equal(ta.weight_factor, tb.weight_factor)
    np.testing.assert_array_equal(ta.dead, tb.dead)


def test_different_seeds_differ() -> None:
    ta, tb = Silicon.from_seed(1).truth(), Silicon.from_seed(2).truth()
    assert not np.allclose(ta.currents["Itau_mem"], tb.currents["Itau_mem"], rtol=1e-3, atol=0)
    assert not np.allclose(ta.weight_factor, tb.weight_factor)


def test_from_seed_is_realistic() -> None:
    """Total relative spread of each per-neuron current lies in the mission's 10-30 % band."""
    s = Silicon.from_seed(3)
    assert s.silicon_id == "emu-seed-3" and s.n_chips == 1 and s.day == 0
    t = s.truth()
    for p in ("Itau_mem", "Igain_mem", "Ispkthr", "Iref", "Itau_ampa", "Igain_ampa"):
        v = t.currents[p]
        assert v.shape == (1024,)
        assert np.all(v > 0)
        cv = np.std(np.log(v))
        assert 0.08 < cv < 0.3, (p, cv)
    assert 0.08 <= np.std(np.log(t.weight_factor)) <= 0.2
    assert t.dead.mean() <= 0.01 and t.hot.mean() <= 0.01
    assert not np.any(t.dead & t.hot)


def test_truth_is_nominal_times_factors_for_zero_spread() -> None:
    s = Silicon(silicon_id="ideal", seed=0)
    t = s.truth()
    from hil.chip.biasgen import bias_current

    for p in PARAMETERS:
        dev = SIM_TO_DEVICE[p]
        np.testing.assert_allclose(t.currents[p], float(bias_current(dev, *NOMINAL_CODES[dev])))
    assert np.all(t.weight_factor == 1.0)
    assert not t.dead.any() and not t.hot.any() and np.all(t.noise_std == 0)


def test_truth_follows_the_config_biases() -> None:
    s = Silicon.from_seed(4)
    cfg = example_config()
    base = s.truth(cfg).currents["Itau_mem"]
    c, f = cfg.core(0, 0).parameters["SOIF_LEAK_N"]
    cfg.core(0, 0).parameters["SOIF_LEAK_N"] = (c, f * 2)
    doubled = s.truth(cfg).currents["Itau_mem"]
    ratio = doubled[:256] / base[:256]
    assert np.allclose(ratio, ratio[0]) and 1.8 < ratio[0] < 2.1  # same branch, ~2x the current
    np.testing.assert_array_equal(doubled[256:], base[256:])  # other cores untouched


def test_biasgen_error_is_per_core_and_per_coarse_branch() -> None:
    s = Silicon(silicon_id="bg", seed=5, biasgen_sigma=0.05)
    t = s.truth()
    v = t.currents["Itau_mem"].reshape(4, 256)
    # no per-neuron mismatch: constant within a core, different across cores
    assert np.all(v == v[:, :1])
    assert len(np.unique(v[:, 0])) == 4
    # the same nominal current on another coarse branch sees another error
    cfg = ChipConfig()
    c, f = NOMINAL_CODES["SOIF_LEAK_N"]
    assert c == 0
    cfg.core(0, 0).parameters["SOIF_LEAK_N"] = (1, 2)
    from hil.chip.biasgen import bias_current

    r0 = v[0, 0] / float(bias_current("SOIF_LEAK_N", c, f))
    r1 = s.truth(cfg).currents["Itau_mem"][0] / float(bias_current("SOIF_LEAK_N", 1, 2))
    assert r0 != pytest.approx(r1, rel=1e-6)
    assert 0.7 < r0 < 1.4 and 0.7 < r1 < 1.4


def test_per_core_spread_is_shared_by_the_core() -> None:
    s = Silicon(silicon_id="core", seed=6, mismatch={"Ispkthr": Spread("lognormal", 0.2, 0.0)})
    v = s.truth().currents["Ispkthr"].reshape(4, 256)
    assert np.all(v == v[:, :1]) and len(np.unique(v[:, 0])) == 4


def test_drift_changes_truth_with_day_smoothly() -> None:
    s = Silicon.from_seed(8)
    t0, t1, t2, t100 = (s.at_day(d).truth() for d in (0, 1, 2, 100))
    assert s.at_day(5).day == 5 and s.day == 0
    d1 = np.abs(np.log(t1.currents["Itau_mem"] / t0.currents["Itau_mem"]))
    d100 = np.abs(np.log(t100.currents["Itau_mem"] / t0.currents["Itau_mem"]))
    assert 0 < d1.mean() < 0.01  # a day moves a little
    assert d100.mean() > 5 * d1.mean()  # a hundred days move much more
    # the random walk is consistent: day 2 = day 1 plus one more step (per core)
    step1 = np.log(t1.currents["Iw_0"] / t0.currents["Iw_0"])
    step2 = np.log(t2.currents["Iw_0"] / t0.currents["Iw_0"])
    assert not np.allclose(step1, step2)
    assert np.abs(step2 - step1).max() < 0.02
    # reproducible: the truth is a pure function of (silicon, day)
    np.testing.assert_array_equal(
        s.at_day(100).truth().currents["Ispkthr"], t100.currents["Ispkthr"]
    )


def test_dead_and_hot_sets_grow_with_day() -> None:
    s = Silicon(
        silicon_id="aging",
        seed=9,
        dead_fraction=0.01,
        hot_fraction=0.01,
        hot_current_A=1e-10,
        drift=Drift(dead_per_day=1e-3, hot_per_day=1e-3),
    )
    t0, t100 = s.truth(), s.at_day(100).truth()
    assert np.all(t100.dead[t0.dead])  # nobody comes back to life
    assert t100.dead.sum() > t0.dead.sum() + 40
    assert t100.hot.sum() > t0.hot.sum()
    assert np.all(t0.Ihot[t0.hot] > 0) and np.all(t0.Ihot[~t0.hot] == 0)


def test_json_round_trip_and_atomic_save(tmp_path: Path) -> None:
    s = Silicon.from_seed(11, n_chips=2).at_day(3)
    p = s.save(tmp_path / "chip.json")
    assert Silicon.load(p) == s
    assert json.loads(p.read_text())["schema"] == "hil.silicon/1"
    assert [f.name for f in tmp_path.iterdir()] == ["chip.json"]  # no temp files left


# No subnormals: another module's code may switch the process to flush-to-zero
# (torch.set_flush_denormal), and hypothesis then refuses subnormal strategies.
_sigma = st.floats(0.0, 2.0, allow_nan=False, allow_subnormal=False)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**63),
    n_chips=st.integers(1, 4),
    day=st.integers(0, 1000),
    family=st.sampled_from(FAMILIES),
    core=_sigma,
    neuron=_sigma,
    frac=st.floats(0.0, 1.0, allow_subnormal=False),
    trend=st.floats(-0.5, 0.5, allow_subnormal=False),
    notes=st.text(max_size=20),
)
def test_json_round_trip_property(
    seed: int,
    n_chips: int,
    day: int,
    family: str,
    core: float,
    neuron: float,
    frac: float,
    trend: float,
    notes: str,
) -> None:
    s = Silicon(
        silicon_id="prop",
        seed=seed,
        n_chips=n_chips,
        day=day,
        mismatch={"Itau_mem": Spread(family, core, neuron)},
        weight_family=family,
        weight_sigma=neuron,
        biasgen_sigma=core,
        dead_fraction=frac,
        hot_fraction=frac,
        drift=Drift(trend={"Ispkthr": trend}, dead_per_day=frac),
        notes=notes,
    )
    assert Silicon.from_json(s.to_json()) == s
    assert Silicon.from_dict(json.loads(json.dumps(s.to_dict()))).to_dict() == s.to_dict()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(schema="hil.silicon/0"), "schema"),
        (lambda d: d.update(n_chips=5), "n_chips"),
        (lambda d: d.update(day=-1), "day"),
        (lambda d: d.update(seed="x"), "seed"),
        (lambda d: d["mismatch"]["Itau_mem"].update(family="cauchy"), "mismatch.Itau_mem.family"),
        (lambda d: d["mismatch"]["Itau_mem"].update(neuron_sigma=-0.1), "neuron_sigma"),
        (lambda d: d["mismatch"].update(Ibogus={}), "mismatch.Ibogus"),
        (lambda d: d["dead"].update(fraction=1.5), "dead.fraction"),
        (lambda d: d["noise"].update(tau_s=0), "noise.tau_s"),
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d["drift"]["trend"].update(Itau_mem="fast"), "drift.trend.Itau_mem"),
        (lambda d: d.pop("silicon_id"), "silicon_id"),
    ],
)
def test_bad_json_names_field_value_and_allowed(mutate, field: str) -> None:
    d = Silicon.from_seed(1).to_dict()
    mutate(d)
    with pytest.raises(ConfigError, match="allowed") as e:
        Silicon.from_dict(d)
    assert field in str(e.value)


def test_unreadable_or_broken_file_is_a_hil_error(tmp_path: Path) -> None:
    with pytest.raises(HilError, match="readable"):
        Silicon.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="valid JSON"):
        Silicon.load(bad)


def test_truth_csv_columns_and_values(tmp_path: Path) -> None:
    s = Silicon.from_seed(12, n_chips=2)
    path = s.write_truth(tmp_path / "truth.csv")
    with open(path) as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == TRUTH_COLUMNS
    assert rows[0][:3] == ["chip", "core", "neuron"]
    assert {"Itau_mem", "Igain_mem", "Ispkthr", "Iref", "dead", "hot"} <= set(rows[0])
    assert len(rows) == 1 + 2048
    last = dict(zip(rows[0], rows[-1], strict=True))
    assert (last["chip"], last["core"], last["neuron"]) == ("1", "3", "255")
    t = s.truth()
    col = rows[0].index("Ispkthr")
    got = np.array([float(r[col]) for r in rows[1:]])
    np.testing.assert_allclose(got, t.currents["Ispkthr"], rtol=1e-8)
    dead = np.array([int(r[rows[0].index("dead")]) for r in rows[1:]], bool)
    np.testing.assert_array_equal(dead, t.dead)


def test_draw_factors_families() -> None:
    rng = np.random.default_rng(0)
    for fam in FAMILIES:
        f = draw_factors(rng, fam, 0.1, (20000,))
        assert np.all(f > 0)
        assert abs(np.std(f) - 0.1) < 0.01, fam
        assert abs(np.median(f) - 1.0) < 0.01, fam
    with pytest.raises(ConfigError, match="family"):
        draw_factors(rng, "cauchy", 0.1, (3,))


@pytest.mark.parametrize("name", ["typical.json", "bad.json"])
def test_fixtures_load(name: str) -> None:
    s = Silicon.load(FIXTURES / name)
    assert s.silicon_id and s.n_chips >= 1
    t = s.truth()
    assert t.dead.size == 1024 * s.n_chips


def test_bad_fixture_is_worse_than_typical() -> None:
    typ = Silicon.load(FIXTURES / "typical.json").truth()
    bad = Silicon.load(FIXTURES / "bad.json").truth()
    assert bad.dead.sum() > 3 * max(typ.dead.sum(), 1)
    assert bad.hot.sum() > 3 * max(typ.hot.sum(), 1)
    spread = lambda t: np.std(np.log(t.currents["Itau_mem"]))  # noqa: E731
    assert spread(bad) > spread(typ)


def test_the_record_is_read_only() -> None:
    import dataclasses

    s = Silicon.from_seed(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.day = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.mismatch["Itau_mem"] = Spread()  # type: ignore[index]
    with pytest.raises(TypeError):
        s.drift.trend["Itau_mem"] = 0.1  # type: ignore[index]


def test_relative_factors_are_truth_over_nominal() -> None:
    s = Silicon.from_seed(13)
    cfg = example_config()
    t, nom = s.truth(cfg), s.nominal(cfg)
    from hil.chip.biasgen import bias_current

    c, f = cfg.core(0, 0).parameters["SOIF_LEAK_N"]
    assert nom["Itau_mem"][0] == float(bias_current("SOIF_LEAK_N", c, f))
    rel = t.currents["Itau_mem"] / nom["Itau_mem"]
    assert 0.05 < np.std(np.log(rel)) < 0.35 and 0.7 < np.median(rel) < 1.4
