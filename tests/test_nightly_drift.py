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


def test_the_alert_fires_on_the_night_the_drift_crosses_and_not_before(tmp_path: Path) -> None:
    """3 nights of a leak that grows 8 % a day: the 100 pA rates fall ~3.6 % a night; the oracle
    says night 2 is the first beyond 5 %."""
    silicon = drifting(tmp_path, "drift-8pc", {"Itau_mem": 0.08})
    truth = [long_count_core_change(silicon, k) for k in (1, 2)]
    assert truth[0] < dr.THRESHOLDS.core_rel - 0.005 and truth[1] > dr.THRESHOLDS.core_rel + 0.005
    res = run_nights(tmp_path, silicon, 3)
    assert [r["alerts"] > 0 for r in res] == [False, False, True]
    assert [r["exit_code"] for r in res] == [0, 0, 1]
    from hil.store import open_store

    with open_store(f"sqlite:///{tmp_path / 'hil.db'}") as store:
        alerts = store.alerts("drift-8pc")
        assert set(alerts["kind"]) == {"core_drift"} and set(alerts["night"].astype(str)) == {
            "2026-11-03"
        }
        assert store.check() == []
    html = (tmp_path / "nightly" / "drift-8pc" / "2026-11-03" / "report.html").read_text()
    assert "Trends" in html and "drift alerts" in html


@pytest.mark.slow
def test_five_nights_of_drift_and_ten_stable_nights(tmp_path: Path) -> None:
    silicon = (
        drifting(tmp_path / "a", "drift-4pc", {"Itau_mem": 0.04})
        if (tmp_path / "a").mkdir() is None
        else None
    )
    assert silicon is not None
    truth = [long_count_core_change(silicon, k) for k in range(1, 5)]
    first = next(i + 1 for i, t in enumerate(truth) if t >= dr.THRESHOLDS.core_rel)
    res = run_nights(tmp_path / "a", silicon, 5)
    assert [r["alerts"] > 0 for r in res] == [k >= first for k in range(5)], truth
    (tmp_path / "b").mkdir()
    stable = drifting(tmp_path / "b", "stable", {})
    res = run_nights(tmp_path / "b", stable, 10)
    assert [r["alerts"] for r in res] == [0] * 10
