"""Membrane noise and the AHP in the twin against the hidden truth, on personalities none of the
development used (issue 9: identifiable parameters <= 3 % median error), full chip, in process,
with noise on; plus what the noise buys the twin's predictions on held-out stimuli (ISI CV and
rates at DC codes the characterization does not use, a held-out network) against the same twin
with noise=0. Runs tests/test_mismatch_acceptance.evaluate (every other bound) on the same silicon.

    PYTHONPATH=$PWD python tests/ahpnoise_acceptance.py [name ...]     # one JSON line each

Development used Silicon.from_seed(4242), tests/test_ahpnoise.py's 5507 and tests/test_mismatch.py's
424242; none of these.
"""

from __future__ import annotations

import json
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from test_mismatch_acceptance import evaluate  # noqa: E402

from hil.board import BiasEditor, open_board  # noqa: E402
from hil.chip.netlist import PHYSICS  # noqa: E402
from hil.emulator.engine import SiliconEngine  # noqa: E402
from hil.emulator.silicon import Drift, Silicon, Spread  # noqa: E402
from hil.experiments.base import all_neurons_config, spike_rates  # noqa: E402
from hil.experiments.fi import DC  # noqa: E402
from hil.experiments.noise import Noise, _isi_stats  # noqa: E402
from hil.mismatch.fit import nominal_currents  # noqa: E402
from hil.mismatch.heldout import prediction_errors, random_network  # noqa: E402
from hil.mismatch.model import NOISE_REF_A, MismatchModel  # noqa: E402
from hil.mismatch.twin import Twin  # noqa: E402

HELD_OUT = ((2, 2), (2, 3), (2, 25))  # DC codes the noise experiment does not use
AHP_CODE = (5, 128)  # the adaptation experiment's strongest SOAD_W_N


def personalities() -> dict[str, Silicon]:
    base = Silicon.from_seed(6160)
    normal = {
        p: Spread("normal", 0.05, 0.0 if p.startswith("Iw_") else 0.15) for p in base.mismatch
    }
    logn = {
        p: Spread("lognormal", 0.04, 0.0 if p.startswith("Iw_") else 0.12) for p in base.mismatch
    }
    return {
        "normal-15%-noise2.5pA": Silicon(
            silicon_id="ahpn-norm", seed=6262, mismatch=normal, biasgen_sigma=0.04,
            weight_family="lognormal", weight_sigma=0.12, noise_std_A=2.5e-12,
            noise_neuron_sigma=0.5, dead_fraction=0.01, hot_fraction=0.005,
            hot_current_A=1e-10, hot_sigma=0.4, drift=Drift(core_walk_sigma=2e-3),
        ),
        "from_seed(6161)@day10": Silicon.from_seed(6161).at_day(10),
        "lognormal-12%-noise3pA": Silicon(
            silicon_id="ahpn-logn3", seed=6464, mismatch=logn, biasgen_sigma=0.05,
            weight_sigma=0.1, noise_std_A=3e-12, noise_neuron_sigma=0.4, dead_fraction=0.005,
            hot_fraction=0.003, hot_current_A=8e-11, hot_sigma=0.3,
        ),
    }  # fmt: skip


def ahp_charge(c: dict) -> np.ndarray:
    """The AHP's charge per spike [A] (docs/sim.md), written out here."""
    tau = PHYSICS.Ut / PHYSICS.kappa * PHYSICS.C_ahp / c["Itau_ahp"]
    t_pulse = PHYSICS.Vth * PHYSICS.C_pulse_ahp / c["Ipulse_ahp"]
    return c["Igain_ahp"] / c["Itau_ahp"] * c["Iw_ahp"] * (1 - np.exp(-t_pulse / tau))


def _dc_table(board, codes, dur: float) -> dict[str, np.ndarray]:
    exp = Noise(codes=codes, duration_s=dur)
    d = exp.design(1)
    board.apply(d.config)
    out = {}
    for i, st in enumerate(d.steps):
        board.set_biases(st.biases)
        ev = board.run(st.stimulus, st.duration_s)
        rec = types.SimpleNamespace(events=ev, duration_s=st.duration_s, counts=None)
        out[f"cv{i}"] = _isi_stats(rec, np.arange(1024))[0]
        out[f"rate{i}"] = spike_rates(rec, np.arange(1024))  # type: ignore[arg-type]
    return out


def noise_ahp(s: Silicon, work: Path) -> dict:
    twin = Twin.load(work / "twin.json")
    t = s.truth()
    ok = ~t.dead & ~t.hot
    out: dict = {}
    c2, _ = BiasEditor(all_neurons_config(1)).set({(0, k, DC): (2, 255) for k in range(4)})
    a = s.truth(c2).currents["Idc"] / s.nominal(c2)["Idc"]
    rel = twin.noise_std / (t.noise_std / a)
    out["noise_std/Idc_err"] = float(np.median(np.abs(rel[ok] - 1)))
    out["noise_std/Idc_bias"] = float(np.median(rel[ok]) - 1)
    out["noise_std_raw_err"] = float(np.median(np.abs(twin.noise_std[ok] / t.noise_std[ok] - 1)))
    out["Itau_ahp_err"] = float(
        np.median(np.abs(twin.currents["Itau_ahp"][ok] / t.currents["Itau_ahp"][ok] - 1))
    )
    ca, _ = BiasEditor(all_neurons_config(1, {"latch_so_adaptation": True})).set(
        {(0, k, "SOAD_W_N"): AHP_CODE for k in range(4)}
    )
    with open_board(f"sim://?twin={work / 'twin.json'}") as b:
        b.apply(ca)
        mine = b.compiled.netlist.currents  # type: ignore[union-attr]
    j = ahp_charge(mine) / ahp_charge(s.truth(ca).currents)
    out["ahp_charge_err"] = float(np.median(np.abs(j[ok] - 1)))
    out["ahp_charge/Idc_err"] = float(np.median(np.abs((j * a)[ok] - 1)))
    # population spread of the noise (within cores) against the truth's, in the same units
    model = MismatchModel.fit(twin, nominal_currents(1), np.arange(1024), boot=30)
    core = np.arange(1024) // 256
    f = np.log(t.noise_std / a)[~t.dead]
    cc = core[~t.dead]
    r = f - np.array([f[cc == c].mean() for c in range(4)])[cc]
    assert model.noise is not None
    out["noise_neuron_sigma"] = (
        model.noise.neuron_sigma,
        float(np.std(np.exp(r)) / np.mean(np.exp(r))),
    )
    out["noise_median_a"] = (
        model.noise.median * NOISE_REF_A,
        float(np.median((t.noise_std / a)[ok])),
    )
    # held-out DC codes: ISI CV and rates, twin (its noise) and twin with noise=0
    with SiliconEngine(s) as b:
        chip = _dc_table(b, HELD_OUT, 4.0)
    for name, opt in (("twin", ""), ("twin_noise0", "&noise=0")):
        with open_board(f"sim://?dt=1e-4&seed=5{opt}&twin={work / 'twin.json'}") as b:
            sim = _dc_table(b, HELD_OUT, 4.0)
        for i, c in enumerate(HELD_OUT):
            m = ok & (chip[f"rate{i}"] >= 2) & np.isfinite(chip[f"cv{i}"])
            out[f"dc{c[1]}_{name}_rate_err"] = float(
                np.median(np.abs(sim[f"rate{i}"][m] / chip[f"rate{i}"][m] - 1))
            )
            cv = sim[f"cv{i}"][m] / chip[f"cv{i}"][m]
            out[f"dc{c[1]}_{name}_cv_ratio"] = float(np.nanmedian(cv))
            out[f"dc{c[1]}_{name}_cv_err"] = float(np.nanmedian(np.abs(cv - 1)))
    for i, c in enumerate(HELD_OUT):
        out[f"dc{c[1]}_chip_rate_hz"] = float(np.median(chip[f"rate{i}"][ok]))
    # a held-out network, twin with and without its noise
    cfg, stim = random_network(41, 1, 2.0, (20.0, 60.0))
    with SiliconEngine(s) as b:
        b.apply(cfg)
        ev = b.run(stim, 2.0)
    rc = _net_rates(ev)
    for name, opt in (("twin", ""), ("twin_noise0", "&noise=0")):
        with open_board(f"sim://?dt=1e-4&seed=5{opt}&twin={work / 'twin.json'}") as b:
            b.apply(cfg)
            e = prediction_errors(rc, _net_rates(b.run(stim, 2.0)), ~t.dead)
        out[f"net41_{name}_median_err"] = float(np.median(e))
    return out


def _net_rates(ev: np.ndarray) -> np.ndarray:
    idx = ev["chip"].astype(int) * 1024 + ev["core"].astype(int) * 256 + ev["neuron"]
    return np.bincount(idx, minlength=1024)[:1024] / 2.0


KEYS = ("board_time_s", "characterize_wall_s", "fit_wall_s", "net31_twin_median_err",
        "net31_nominal_median_err", "net32_twin_median_err", "net32_nominal_median_err",
        "Iref_err", "Igain_mem*Idc_err", "tau_ampa_err", "eff_gaba/ampa_err")  # fmt: skip

if __name__ == "__main__":
    names = sys.argv[1:] or list(personalities())
    for name in names:
        with tempfile.TemporaryDirectory() as d:
            s = personalities()[name]
            r = evaluate(s, Path(d))
            extra = noise_ahp(s, Path(d))
        print(json.dumps({"personality": name, **{k: r[k] for k in KEYS}, **extra}), flush=True)
