"""Drift detection (hil.nightly.drift) on synthetic nights whose truth the test sets, and on an
emulated silicon that drifts (emu://?silicon=F&day=k) against an independent long measurement."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hil.nightly import drift as dr

N = 1024
METRICS = ["rate_100pa_hz", "rate_1na_hz"]


def night(rng: np.random.Generator, base: dict[str, np.ndarray], se_rel: float, extra_rel: float,
          shift: dict[int, float] | None = None) -> dr.Night:  # fmt: skip
    """Tonight's values: base * (1 + core shift) + within-night noise (se) + night-to-night noise
    (extra, not in se)."""
    cores = np.arange(N) // 256
    vals: dict[str, np.ndarray] = {}
    for m, b in base.items():
        true = b * (1 + np.array([(shift or {}).get(int(c), 0.0) for c in cores]))
        x = true * (1 + rng.normal(0, se_rel, N) + rng.normal(0, extra_rel, N))
        vals[m] = x
        vals[dr.se_metric(m)] = np.abs(true) * se_rel
    vals["spont_hz"] = np.zeros(N)
    return dr.Night(np.arange(N), vals)


def base_rates(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"rate_100pa_hz": rng.uniform(5, 25, N), "rate_1na_hz": rng.uniform(30, 55, N)}


@pytest.mark.parametrize("extra", [0.0, 0.02])
def test_a_stable_chip_raises_nothing_even_when_nights_are_noisier_than_one_night_says(
    extra: float,
) -> None:
    """extra: night-to-night noise twice the within-night se; the history's noise scale k absorbs
    it (without k, z would be ~2.2x too large and neurons would alert)."""
    rng = np.random.default_rng(1)
    base = base_rates(rng)
    nights = [night(rng, base, 0.01, extra) for _ in range(30)]
    alerts = []
    for t in range(1, 30):
        history = nights[max(0, t - dr.HISTORY_NIGHTS) : t]
        found, numbers = dr.check(nights[0], nights[t], history, METRICS, "rate_1na_hz")
        alerts += found
        if t >= 3 and extra:
            k = numbers["rate_1na_hz"][0]["k"]
            assert 1.8 < k < 3.0  # sqrt(0.01^2 + 0.02^2) / 0.01 = 2.24
    assert alerts == []


def test_the_noise_scale_is_what_stops_false_alarms() -> None:
    """The same noisy nights with the scale forced to 1 alarm: the test above would not be
    passing by accident."""
    rng = np.random.default_rng(1)
    base = base_rates(rng)
    nights = [night(rng, base, 0.002, 0.06) for _ in range(8)]
    found, _ = dr.check(nights[0], nights[7], [], METRICS, "rate_1na_hz")  # no history: k = 1
    assert any(f.kind == "neuron_drift" for f in found)
    found, _ = dr.check(nights[0], nights[7], nights[:7], METRICS, "rate_1na_hz")
    assert not any(f.kind == "neuron_drift" for f in found)


@pytest.mark.parametrize(
    "shift,alerts", [(0.04, False), (-0.04, False), (0.06, True), (-0.065, True)]
)
def test_a_core_alerts_when_its_drift_crosses_5_percent(shift: float, alerts: bool) -> None:
    rng = np.random.default_rng(2)
    base = base_rates(rng)
    nights = [night(rng, base, 0.01, 0.0) for _ in range(5)]
    tonight = night(rng, base, 0.01, 0.0, shift={2: shift})
    found, numbers = dr.check(nights[0], tonight, nights, METRICS, "rate_1na_hz")
    cores = {f.core for f in found if f.kind == "core_drift"}
    assert cores == ({2} if alerts else set())
    assert abs(numbers["rate_100pa_hz"][2]["median_rel"] - shift) < 0.005


def test_newly_dead_and_hot_neurons_are_named() -> None:
    rng = np.random.default_rng(3)
    base = base_rates(rng)
    ref = night(rng, base, 0.01, 0.0)
    now = night(rng, base, 0.01, 0.0)
    values = dict(now.values)
    values["rate_1na_hz"] = values["rate_1na_hz"].copy()
    values["rate_1na_hz"][[17, 600]] = 0.0
    values["spont_hz"] = values["spont_hz"].copy()
    values["spont_hz"][900] = 12.0
    values["spont_hz"][901] = 1.0  # a noise spike now and then is not hot
    found, _ = dr.check(ref, dr.Night(now.neurons, values), [ref], METRICS, "rate_1na_hz")
    assert sorted((f.kind, f.neuron) for f in found) == [
        ("newly_dead", 17), ("newly_dead", 600), ("newly_hot", 900)]  # fmt: skip
    # already dead on the reference night: not new
    ref_values = dict(ref.values)
    ref_values["rate_1na_hz"] = values["rate_1na_hz"]
    found, _ = dr.check(dr.Night(ref.neurons, ref_values), dr.Night(now.neurons, values), [],
                        METRICS, "rate_1na_hz")  # fmt: skip
    assert [f.neuron for f in found if f.kind == "newly_dead"] == []


# ---- identified parameters (twin_<current>_a with their standard errors) -------------------------

PARAMS = ["twin_iref_a", "twin_itau_mem_a"]


def param_night(rng: np.random.Generator, base: dict[str, np.ndarray], se_log: float,
                extra_log: float, shift: dict[int, float] | None = None,
                neuron_shift: dict[int, float] | None = None) -> dr.Night:  # fmt: skip
    """Identified currents: base * exp(core shift + neuron shift) with a fit error of se_log (the
    stored se) and night-to-night noise extra_log (not in the se); the probe rates of a healthy
    chip beside them (no neuron dead or hot)."""
    cores = np.arange(N) // 256
    drift = np.array([(shift or {}).get(int(c), 0.0) for c in cores])
    for i, d in (neuron_shift or {}).items():
        drift[i] += d
    vals: dict[str, np.ndarray] = {}
    for m, b in base.items():
        true = b * np.exp(drift)
        vals[m] = true * np.exp(rng.normal(0, se_log, N) + rng.normal(0, extra_log, N))
        vals[dr.se_metric(m)] = vals[m] * se_log
    vals["rate_1na_hz"] = np.full(N, 40.0)
    vals["spont_hz"] = np.zeros(N)
    return dr.Night(np.arange(N), vals)


def param_base(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"twin_iref_a": rng.lognormal(np.log(3e-10), 0.2, N),
            "twin_itau_mem_a": rng.lognormal(np.log(5e-12), 0.2, N)}  # fmt: skip


def test_parameters_of_a_stable_chip_raise_nothing_even_with_extra_night_to_night_noise() -> None:
    """30 nights, night-to-night noise 2x the fit's se: the history's k absorbs it; with k forced
    to 1 (no history) the same last night alarms on single neurons."""
    rng = np.random.default_rng(11)
    base = param_base(rng)
    nights = [param_night(rng, base, 0.005, 0.01) for _ in range(30)]
    alerts = []
    for t in range(1, 30):
        history = nights[max(0, t - dr.HISTORY_NIGHTS) : t]
        found, numbers = dr.check(nights[0], nights[t], history, [], "rate_1na_hz", params=PARAMS)
        alerts += found
        if t >= 3:
            assert 1.6 < numbers["twin_itau_mem_a"][1]["k"] < 3.0  # truth sqrt(5) = 2.24
    assert alerts == []
    noisy = [param_night(rng, base, 0.002, 0.06) for _ in range(8)]
    found, _ = dr.check(noisy[0], noisy[7], [], [], "rate_1na_hz", params=PARAMS)
    assert any(f.kind == "neuron_drift" for f in found)
    found, _ = dr.check(noisy[0], noisy[7], noisy[:7], [], "rate_1na_hz", params=PARAMS)
    assert found == []


@pytest.mark.parametrize("shift,alerts", [(0.04, False), (-0.04, False), (0.06, True),
                                          (-0.065, True)])  # fmt: skip
def test_a_cores_parameter_alerts_when_its_median_crosses_5_percent(
    shift: float, alerts: bool
) -> None:
    rng = np.random.default_rng(12)
    base = param_base(rng)
    nights = [param_night(rng, base, 0.005, 0.0) for _ in range(5)]
    tonight = param_night(rng, base, 0.005, 0.0, shift={1: np.log1p(shift)})
    found, numbers = dr.check(nights[0], tonight, nights, [], "rate_1na_hz", params=PARAMS)
    hits = {(f.metric, f.core) for f in found if f.kind == "core_drift"}
    assert hits == ({(m, 1) for m in PARAMS} if alerts else set())
    assert [f for f in found if f.kind != "core_drift"] == []
    assert abs(numbers["twin_iref_a"][1]["median_rel"] - shift) < 0.003


def test_a_neuron_parameter_alerts_beyond_20_percent_and_only_with_its_standard_error() -> None:
    rng = np.random.default_rng(13)
    base = param_base(rng)
    nights = [param_night(rng, base, 0.005, 0.0) for _ in range(5)]
    moved = {40: np.log(1.25), 300: np.log(0.75), 700: np.log(1.15)}  # 700: below 20 %
    tonight = param_night(rng, base, 0.005, 0.0, neuron_shift=moved)
    found, _ = dr.check(nights[0], tonight, nights, [], "rate_1na_hz", params=PARAMS)
    assert sorted((f.metric, f.neuron) for f in found) == [
        (m, i) for m in PARAMS for i in (40, 300)]  # fmt: skip
    # neuron 40 without a standard error tonight (the fit identified it without one): not judged
    vals = dict(tonight.values)
    for m in PARAMS:
        vals[dr.se_metric(m)] = vals[dr.se_metric(m)].copy()
        vals[dr.se_metric(m)][40] = np.nan
    found, _ = dr.check(nights[0], dr.Night(tonight.neurons, vals), nights, [], "rate_1na_hz",
                        params=PARAMS)  # fmt: skip
    assert sorted({f.neuron for f in found}) == [300]


# ---- on an emulated silicon that drifts ------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def drifting(tmp_path: Path, name: str, trend: dict[str, float]) -> Path:
    from hil.emulator.silicon import Drift, Silicon

    s = Silicon.load(ROOT / "fixtures" / "silicon" / "typical.json")
    path = tmp_path / f"{name}.json"
    replace(s, silicon_id=name, drift=Drift(trend=trend)).save(path)
    return path


def long_count_core_change(path: Path, day: int, seconds: float = 4.0) -> float:
    """The oracle: the largest |core median relative change| of the 100 pA rate from day 0 to `day`,
    from plain spike counts over `seconds` (not the nightly's ISI rates, not hil.nightly.drift)."""
    from hil import events as ev
    from hil.board import open_board
    from hil.campaign.probe import dc_config
    from hil.measure import record

    def rates(d: int) -> np.ndarray:
        with open_board(f"emu://?silicon={path}&day={d}") as b:
            r = record(b, np.zeros(0, ev.INPUT_DTYPE), seconds, config=dc_config(1, 1e-10))
        return np.bincount(ev.global_index(r.events), minlength=N)[:N] / seconds

    r0, rk = rates(0), rates(day)
    ok = r0 >= 2.0
    cores = np.arange(N) // 256
    return max(
        abs(float(np.median(rk[ok & (cores == c)] / r0[ok & (cores == c)] - 1))) for c in range(4)
    )


def run_nights(tmp_path: Path, silicon: Path, nights: int) -> list[dict]:
    from hil.nightly.nightly import NightJob, run_night

    store = f"sqlite:///{tmp_path / 'hil.db'}"
    out = []
    for k in range(nights):
        day = (dt.date(2026, 11, 1) + dt.timedelta(days=k)).isoformat()
        job = NightJob(url=f"emu://?silicon={silicon}&day={k}", store=store, night=day,
                       out=str(tmp_path / "nightly"), skip=("conformance", "validate"))  # fmt: skip
        out.append(run_night(job))
    return out


def truth_core_change(path: Path, param: str, day: int) -> float:
    """The oracle for an identified parameter: the largest |core median relative change| of the
    silicon's hidden current `param` from day 0 to `day`, over the neurons the nightly's quick
    profile characterizes (0..31 of every core); the emulator's truth, not the fit."""
    from hil.campaign.stages import PROFILES
    from hil.emulator.silicon import Silicon

    s = Silicon.load(path)
    rel = s.at_day(day).truth().currents[param] / s.truth().currents[param] - 1
    npc = PROFILES["quick"].neurons_per_core
    return max(abs(float(np.median(rel[c * 256 : c * 256 + npc]))) for c in range(4))


def test_the_alert_fires_on_the_night_the_drift_crosses_and_not_before(tmp_path: Path) -> None:
    """3 nights of a silicon whose leak grows 8 % a day and whose refractory current grows 3 % a
    day. Rates: the 100 pA rates fall ~3.6 % a night; the oracle (long count) says night 2 is the
    first beyond 5 %. Identified parameters (hidden truth): Iref +3.0 % on night 1 and +6.2 % on
    night 2, so twin_iref_a alerts on night 2 only; Itau_mem +8.3 % already on night 1, so
    twin_itau_mem_a alerts on nights 1 and 2; Igain_mem and Ispkthr do not move: never."""
    silicon = drifting(tmp_path, "drift-8pc", {"Itau_mem": 0.08, "Iref": 0.03})
    th = dr.THRESHOLDS
    truth = [long_count_core_change(silicon, k) for k in (1, 2)]
    assert truth[0] < th.core_rel - 0.005 and truth[1] > th.core_rel + 0.005
    iref = [truth_core_change(silicon, "Iref", k) for k in (1, 2)]
    assert iref[0] < th.param_core_rel - 0.01 and iref[1] > th.param_core_rel + 0.01
    assert truth_core_change(silicon, "Itau_mem", 1) > th.param_core_rel + 0.02
    res = run_nights(tmp_path, silicon, 3)
    assert [r["exit_code"] for r in res] == [0, 1, 1]
    from hil.store import open_store

    with open_store(f"sqlite:///{tmp_path / 'hil.db'}") as store:
        alerts = store.alerts("drift-8pc")
        assert store.check() == []
        assert {"twin_igain_mem_a", "twin_ispkthr_a", "twin_iref_se_a"} <= set(store.metrics())
    nights: dict[tuple[str, str], set[str]] = {}
    for a in alerts.itertuples():
        nights.setdefault((a.kind, a.metric), set()).add(str(a.night))
    n1, n2 = "2026-11-02", "2026-11-03"
    rates = {k: v for k, v in nights.items() if k[1].startswith("rate_")}
    assert rates and set(rates) <= {("core_drift", m) for m in METRICS}
    assert all(v == {n2} for v in rates.values()), rates
    assert nights[("core_drift", "twin_iref_a")] == {n2}
    assert nights[("core_drift", "twin_itau_mem_a")] == {n1, n2}
    others = set(nights) - set(rates) - {("core_drift", "twin_iref_a"),
                                         ("core_drift", "twin_itau_mem_a")}  # fmt: skip
    # single neurons: the identified leak is +17 % on night 2 for every neuron, the fit's error
    # (~2 % at the 99th percentile) takes a few past 20 %; nothing else moves
    assert others <= {("neuron_drift", "twin_itau_mem_a")}, nights
    assert nights.get(("neuron_drift", "twin_itau_mem_a"), {n2}) == {n2}
    html = (tmp_path / "nightly" / "drift-8pc" / "2026-11-03" / "report.html").read_text()
    assert "Trends" in html and "drift alerts" in html


def fitted_nights(tmp_path: Path, silicon: Path, days: int) -> list[dr.Night]:
    """The real characterization and fit of each day (`hil characterize`, `hil fit`, the quick
    profile's neurons 0..31 of every core), as the nightly stores them (twin_metrics)."""
    from hil.campaign.stages import PROFILES
    from hil.cli import main
    from hil.nightly.nightly import twin_metrics

    out = []
    for k in range(days):
        d = tmp_path / f"char{k}"
        npc = str(PROFILES["quick"].neurons_per_core)
        assert main(["characterize", "--board", f"emu://?silicon={silicon}&day={k}", "--out",
                     str(d), "--neurons-per-core", npc, "--json"]) == 0  # fmt: skip
        assert main(["fit", str(d), "--out", str(d / "twin.json"), "--json"]) == 0
        out.append(dr.Night(np.arange(N), twin_metrics(d / "twin.json", np.arange(N))))
    return out


def test_single_neurons_parameter_alerts_follow_the_hidden_truth(tmp_path: Path, capsys) -> None:
    """Each neuron drifts at its own rate (N(0, 12 %) per day in log, every parameter). On nights
    1 and 2 the neurons whose identified Iref, Igain_mem or synaptic Itau_<type> alert are those
    whose hidden value moved past 20 %: none that moved less than 15 % (no false alarm, and so no
    alert before the night it crosses), every one that moved more than 25 % (none missed). The
    hidden value is the one the fit identifies (hil.mismatch.fit CONVENTIONS): Iref and Itau_<type>
    themselves (the capacitances do not drift), and Igain_mem * Idc (the neuron's own DC factor is
    fixed to 1). Itau_mem and Ispkthr are identified in the units that convention
    fixes, which a drifting Idc changes, so they have no per-neuron truth here; their core drift
    is checked against the truth where Idc does not drift (the test above)."""
    from hil.emulator.silicon import Drift, Silicon
    from hil.nightly.nightly import param_metrics

    s = Silicon.load(ROOT / "fixtures" / "silicon" / "typical.json")
    path = tmp_path / "walk.json"
    replace(s, silicon_id="walk", drift=Drift(neuron_rate_sigma=0.12)).save(path)
    nights = fitted_nights(tmp_path, path, 3)
    capsys.readouterr()
    params = param_metrics(set(nights[0].values))
    assert params == sorted(["twin_igain_mem_a", "twin_iref_a", "twin_ispkthr_a", "twin_itau_mem_a",
                             "twin_igain_ahp_a", "twin_itau_ahp_a",
                             *(f"twin_itau_{k}_a" for k in ("ampa", "nmda", "gaba", "shunt"))])  # fmt: skip
    s = Silicon.load(path)

    def hidden(day: int) -> dict[str, np.ndarray]:
        c = s.at_day(day).truth().currents
        return {"twin_iref_a": c["Iref"], "twin_igain_mem_a": c["Igain_mem"] * c["Idc"],
                **{f"twin_itau_{k}_a": c[f"Itau_{k}"] for k in ("ampa", "nmda", "gaba", "shunt")}}  # fmt: skip

    th = dr.THRESHOLDS.param_neuron_rel
    crossed = 0
    for k in (1, 2):
        found, _ = dr.check(nights[0], nights[k], nights[:k], [], "rate_1na_hz", params=params)
        hits = {(f.metric, f.neuron) for f in found if f.kind == "neuron_drift"}
        for p, now in hidden(k).items():
            truth = now / hidden(0)[p] - 1
            judged = np.isfinite(nights[0].get(dr.se_metric(p))) & np.isfinite(
                nights[k].get(dr.se_metric(p))
            )
            alerted = np.array([(p, i) in hits for i in range(N)])
            false = alerted & (np.abs(truth) < th - 0.05)
            assert not false.any(), (p, k, np.flatnonzero(false), truth[false])
            missed = judged & ~alerted & (np.abs(truth) > th + 0.05)
            assert not missed.any(), (p, k, np.flatnonzero(missed), truth[missed])
            crossed += int((judged & (np.abs(truth) > th + 0.05)).sum())
    assert crossed >= 40  # the test has neurons to find


@pytest.mark.slow
def test_five_nights_of_drift_and_ten_stable_nights(tmp_path: Path) -> None:
    """A leak that grows 4 % a day and a refractory current that grows 1.4 % a day over 5 nights:
    the rate alert fires from the night the long-count oracle crosses 5 %, twin_iref_a's from the
    night the hidden Iref crosses 5 % (night 4: 4.3 % on night 3, 5.8 % on night 4), never before;
    twin_itau_mem_a alerts on every night its hidden value is beyond 5 % + 1.5 % and on none below
    5 % - 1.5 % (the band: the fit's core-shared error, about 1 %). A stable silicon over 10 nights:
    no alert of any kind, rates or identified parameters."""
    (tmp_path / "a").mkdir()
    silicon = drifting(tmp_path / "a", "drift-4pc", {"Itau_mem": 0.04, "Iref": 0.014})
    truth = [long_count_core_change(silicon, k) for k in range(1, 5)]
    first = next(i + 1 for i, t in enumerate(truth) if t >= dr.THRESHOLDS.core_rel)
    iref = [0.0, *(truth_core_change(silicon, "Iref", k) for k in range(1, 5))]
    iref_first = next(k for k, t in enumerate(iref) if t >= dr.THRESHOLDS.param_core_rel)
    assert all(abs(t - dr.THRESHOLDS.param_core_rel) > 0.005 for t in iref), iref
    itau = [0.0, *(truth_core_change(silicon, "Itau_mem", k) for k in range(1, 5))]
    res = run_nights(tmp_path / "a", silicon, 5)
    from hil.store import open_store

    with open_store(f"sqlite:///{tmp_path / 'a' / 'hil.db'}") as store:
        alerts = store.alerts("drift-4pc")
    days = {(dt.date(2026, 11, 1) + dt.timedelta(days=k)).isoformat(): k for k in range(5)}
    on = {}
    for a in alerts.itertuples():
        key = "rates" if a.metric.startswith("rate_") else a.metric
        on.setdefault(key, set()).add(days[str(a.night)])
    assert on.get("rates", set()) == set(range(first, 5)), (truth, on)
    assert on.get("twin_iref_a", set()) == set(range(iref_first, 5)), (iref, on)
    th = dr.THRESHOLDS.param_core_rel
    assert {k for k in range(5) if itau[k] > th + 0.015} <= on.get("twin_itau_mem_a", set())
    assert not {k for k in range(5) if itau[k] < th - 0.015} & on.get("twin_itau_mem_a", set())
    assert set(on) <= {"rates", "twin_iref_a", "twin_itau_mem_a"}, on
    assert [r["exit_code"] for r in res] == [int(bool(r["alerts"])) for r in res]
    (tmp_path / "b").mkdir()
    stable = drifting(tmp_path / "b", "stable", {})
    res = run_nights(tmp_path / "b", stable, 10)
    assert [r["alerts"] for r in res] == [0] * 10
    with open_store(f"sqlite:///{tmp_path / 'b' / 'hil.db'}") as store:
        assert len(store.stat_history("stable", "twin_iref_se_a").nights) == 10
