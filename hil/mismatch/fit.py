"""`fit_twin(DIR)`: a characterization folder (hil.experiments.suite) -> the per-neuron Twin.

Order: hot and dead neurons; the refractory period (exact); the membrane (closed-form f-I,
hil.mismatch.identify); hot neurons' extra input (inverting their spontaneous rate); each synapse
type's time constant from spike times (SynTau, hil.experiments.syntau: the estimator calibration
uses); then through the simulator (hil.mismatch.simfit): per-slot weight factors and per-core
base-weight ratios (SlotScan), and each synapse type's gain (SynapseType). What the host cannot see
is fixed by the conventions listed in the twin (CONVENTIONS). Neurons the characterization did not
measure keep their nominal values and are listed in the diagnostics.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hil import progress
from hil.board import BiasEditor
from hil.chip.config import Chip, ChipConfig
from hil.chip.geometry import CORES_PER_CHIP, NEURONS_PER_CHIP
from hil.chip.netlist import BIAS_CURRENTS, PHYSICS, board_currents
from hil.errors import ConfigError
from hil.experiments.adaptation import Adaptation
from hil.experiments.base import (
    NEURONS_PER_CORE,
    ExperimentResult,
    Step,
    rebuild,
    recording_hash,
    spike_rates,
    step_neurons,
)
from hil.experiments.fi import DC, rate_matrix
from hil.experiments.synapse import SLOT_MASKS, SlotScan, SynapseType
from hil.experiments.syntau import METHOD, current_of_tau
from hil.mismatch.ahpfit import fit_ahp, recording_times
from hil.mismatch.identify import MembraneFit, fit_membrane, invert_rate
from hil.mismatch.noisefit import NOISE_TAU_S, isi_variance
from hil.mismatch.simfit import simulate_rates
from hil.mismatch.twin import SLOTS, Twin, provenance
from hil.sim.twin_source import TwinSource

SYNAPSE_KINDS = ("ampa", "nmda", "gaba", "shunt")
EXPERIMENTS = ("hotdead", "refractory", "fi", "slots", *(f"syn_{k}" for k in SYNAPSE_KINDS),
               *(f"tau_{k}" for k in SYNAPSE_KINDS), "noise", "adaptation")  # fmt: skip
CONVENTIONS = [
    "Idc: the host never sees a neuron's own DC current; every neuron's SOIF_DC_P factor on coarse "
    "branch 2 is 1 (its Idc is the code's nominal current). Itau_mem, Igain_mem, Ispkthr and every "
    "synaptic gain are identified in the units this fixes; only Iref, Igain_mem*Idc and the "
    "ratios listed as identifiable do not depend on it.",
    "Ispkthr against Itau_mem: one direction of the membrane fit (about Ispkthr ~ Itau_mem^2) is "
    "sloppy; the fit's value along it is kept, it does not change the f-I curve.",
    "Iw_0: the per-core base weight 0 is its nominal code current; Iw_1..Iw_3 are identified "
    "relative to it per core; the synaptic gains Igain_<type> absorb the core's absolute scale.",
    "weight_factor: the geometric mean of a neuron's 64 slot factors is 1; Igain_<type> absorbs it.",
    "Itau_<type> is identified per neuron from spike times (the tau_<type> experiments, "
    "hil.experiments.syntau) as (Ut/kappa) C_<type> / tau with the nominal capacitance (the "
    "capacitance is not separable from the current: only tau matters); a neuron that gave no time "
    "constant (dead, or a counts readout: no spike times) keeps the nominal Itau, counted in the "
    "fit's diagnostics (syn_tau.nominal_kept).",
    "Ipulse, If_nmda and the capacitances stay nominal: they are confounded with the gains or "
    "were not measured (NMDA's time constant is measured with its gate latch off, where If_nmda "
    "does not act).",
    "AHP: Itau_ahp is identified per neuron (tau_ahp, C_ahp nominal) and Igain_ahp carries the "
    "AHP's charge per spike; Iw_ahp (per-neuron factor 1) and Ipulse_ahp stay nominal: only "
    "Igain_ahp Iw_ahp / Ipulse_ahp enters the charge (hil.mismatch.ahpfit). A neuron without "
    "spike times (dead, counts readout) keeps the nominal AHP, counted in diagnostics (ahp).",
    f"noise_std: the membrane noise is an Ornstein-Uhlenbeck current of correlation time "
    f"{NOISE_TAU_S * 1e3:g} ms (not identified: ISIs see the noise's low-frequency power, "
    "sigma^2 tau_c); noise_std is identified per neuron from the ISI variance under DC "
    "(hil.mismatch.noisefit) in the Idc convention's units (noise_std / Idc factor). A neuron "
    "without an estimate (dead, or a counts readout) gets its core's median (none: 0), counted "
    "in the fit's diagnostics (noise.median_kept).",
]


def load_results(path: str | Path) -> dict[str, ExperimentResult]:
    """Every experiment the fit needs from a characterization folder; ConfigError naming the
    first one missing."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError("DIR", str(path), "a folder written by hil characterize")
    out = {}
    for name in EXPERIMENTS:
        if not (path / name / "design.json").is_file():
            raise ConfigError(str(path), f"no {name}/ experiment", "a folder of hil characterize")
        out[name] = ExperimentResult.load(path / name)
    return out


def _steps(res: ExperimentResult) -> list[Step]:
    return [Step(params=d["params"], duration_s=d["duration_s"]) for d in res.steps]


def nominal_currents(n_chips: int) -> dict[str, np.ndarray]:
    """Every bias current at the nominal codes, board-wide (N,)."""
    return board_currents(ChipConfig(chips=[Chip() for _ in range(n_chips)]), n_chips)


def fit_twin(
    results: dict[str, ExperimentResult], *, show_progress: bool = True
) -> tuple[Twin, dict[str, Any]]:
    """Fit the twin of the characterized board; returns it and fit diagnostics (per-parameter
    SEs, residuals, base-weight ratios, which neurons were measured)."""
    fi = results["fi"]
    steps = _steps(fi)
    n_chips = int(steps[0].params["n_chips"])
    idx = step_neurons(steps)  # measured neurons (board-wide, sorted)
    N = n_chips * NEURONS_PER_CHIP
    core = idx // NEURONS_PER_CORE  # board-wide (chip, core) index of each measured neuron
    nominal = nominal_currents(n_chips)
    cur = {b: nominal[b].copy() for b in BIAS_CURRENTS}
    diag: dict[str, Any] = {"measured": int(idx.size), "neurons": N}
    bar = progress.bar(range(4), desc="fit", total=4) if show_progress else range(4)
    it = iter(bar)

    next(it, None)
    hd = results["hotdead"].table
    dead_m = hd["dead"].to_numpy().astype(bool)
    hot_m = hd["hot"].to_numpy().astype(bool)

    t_ref = results["refractory"].table["t_ref_s"].to_numpy()
    ok_ref = np.isfinite(t_ref) & ~dead_m
    iref = PHYSICS.Vth * PHYSICS.C_ref / np.where(ok_ref, t_ref, np.nan)
    cur["Iref"][idx] = np.where(ok_ref, iref, cur["Iref"][idx])

    next(it, None)
    R = rate_matrix(steps, fi.recordings)
    x = np.array([s.params["dc_a"] for s in steps])
    coarse = np.array([s.params["dc_coarse"] for s in steps])
    sel = coarse >= 2
    cores_local = np.unique(core, return_inverse=True)[1]
    dur = np.array([s.duration_s for s in steps])
    mf = fit_membrane(
        x[sel], coarse[sel], R[sel], np.where(ok_ref, t_ref, np.nan), cores_local,
        durations=dur[sel],
    )  # fmt: skip
    good = mf.ok & ~dead_m
    for b, v in (("Itau_mem", mf.itau), ("Igain_mem", mf.igain), ("Ispkthr", mf.ispkthr)):
        cur[b][idx] = np.where(good, v, cur[b][idx])
    diag["membrane"] = _membrane_diag(mf, good, dead_m)

    # hot neurons: the constant input that gives their spontaneous rate, minus the floor DC code
    floor_cfg = ChipConfig(chips=[Chip() for _ in range(n_chips)])
    for c in range(n_chips):
        for k in range(CORES_PER_CHIP):
            floor_cfg.core(c, k).parameters = {DC: (0, 0)}
    floor = board_currents(floor_cfg, n_chips)["Idc"][idx]
    ihot = np.zeros(N)
    dead = np.zeros(N, bool)
    hot = np.zeros(N, bool)
    dead[idx], hot[idx] = dead_m, hot_m
    if hot_m.any():
        g = idx[hot_m]
        iin = invert_rate(
            hd["spont_rate_hz"].to_numpy()[hot_m],
            cur["Itau_mem"][g], cur["Igain_mem"][g], cur["Ispkthr"][g],
            PHYSICS.Vth * PHYSICS.C_ref / cur["Iref"][g],
        )  # fmt: skip
        ihot[g] = np.nan_to_num(np.maximum(iin - floor[hot_m], 0.0))

    twin = Twin(
        n_chips=n_chips, currents=cur, Ihot=ihot, noise_std=np.zeros(N), dead=dead, hot=hot,
        branch={DC: [[int(c) // CORES_PER_CHIP, int(c) % CORES_PER_CHIP, k, float(mf.branch[i, k])]
                     for i, c in enumerate(np.unique(core)) for k in range(6)]},
    )  # fmt: skip
    tau_id = _fit_taus(twin, results, idx, diag)
    noise_id = _fit_noise(twin, results["noise"], idx, mf.branch[cores_local], diag)
    next(it, None)
    g_ampa = _fit_slots(twin, results["slots"], idx, diag)
    next(it, None)
    for kind in SYNAPSE_KINDS:
        _fit_type(twin, results[f"syn_{kind}"], kind, idx, g_ampa)
    ahp_id = _fit_adaptation(twin, results["adaptation"], idx, diag)
    sources = sorted({recording_hash(r) for res in results.values() for r in res.recordings})
    prov0 = fi.recordings[0].provenance
    day = fi.board.get("details", {}).get("day")
    twin.provenance = provenance(fi.board, sources, prov0.get("silicon_id"), day)
    twin.conventions = list(CONVENTIONS)
    rse = results["refractory"].table.get("iref_rel_se")
    iref_se = float(np.nanmedian(rse)) if rse is not None and np.isfinite(rse).any() else None
    twin.identifiable = identifiable(mf, good, iref_se) + tau_id + noise_id + ahp_id
    # per-neuron standard errors of the identified membrane and refractory currents (log): the LM
    # fit's asymptotic ones (residual variance x (J^T J)^-1) and the refractory regression's
    twin.se_log.update(
        {b: np.full(N, np.nan) for b in ("Iref", "Itau_mem", "Igain_mem", "Ispkthr")}
    )
    twin.se_log.update(diag.pop("_ahp_se_log", {}))
    for j, b in enumerate(("Itau_mem", "Igain_mem", "Ispkthr")):
        twin.se_log[b][idx] = np.where(good, mf.se[:, j], np.nan)
    if rse is not None:
        twin.se_log["Iref"][idx] = np.where(ok_ref, rse.to_numpy(float), np.nan)
    return twin, diag


def _membrane_diag(mf: MembraneFit, good: np.ndarray, dead: np.ndarray) -> dict[str, Any]:
    names = ("Itau_mem", "Igain_mem", "Ispkthr")
    se = np.median(mf.se[good], 0) if good.any() else np.full(3, np.nan)
    return {
        "rms_log_rate": float(np.median(mf.rms[good])) if good.any() else None,
        "median_se_log": dict(zip(names, se.tolist(), strict=True)),
        "not_fitted": int((~good & ~dead).sum()),
        "dc_branch": mf.branch.tolist(),
    }


def _source(twin: Twin) -> TwinSource:
    nominal = nominal_currents(twin.n_chips)
    factors = {b: twin.currents[b] / nominal[b] for b in BIAS_CURRENTS}
    return TwinSource(twin.n_chips, factors, twin.weight_factor, 1.0 - twin.dead, twin.Ihot)


def _fit_taus(
    twin: Twin, results: dict[str, ExperimentResult], idx: np.ndarray, diag: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each synapse type's Itau per measured neuron from its `tau_<kind>` table (into `twin`),
    with Igain scaled alike so the efficacy Igain/Itau the later gain fits start from stays
    nominal. Returns the `identifiable` entries of the types that were measured."""
    out: list[dict[str, Any]] = []
    diag["syn_tau"] = {}
    for kind in SYNAPSE_KINDS:
        t = results[f"tau_{kind}"].table
        if len(t) != idx.size:
            raise ConfigError(f"tau_{kind}", f"{len(t)} neurons", f"the {idx.size} neurons of fi")
        tau = t["tau_s"].to_numpy(np.float64)
        use = np.isfinite(tau) & (tau > 0) & ~twin.dead[idx]
        itau = f"Itau_{kind}"
        old = twin.currents[itau][idx]
        new = np.where(use, current_of_tau(kind, np.where(use, tau, 1.0)), old)
        twin.currents[itau][idx] = new
        twin.currents[f"Igain_{kind}"][idx] *= new / old
        # Itau ~ 1/tau: the relative error of tau is the error of ln Itau (nightly drift uses it);
        # NaN where the nominal value was kept: not identified (MismatchModel.fit skips those)
        twin.se_log[itau] = np.full(twin.dead.size, np.nan)
        twin.se_log[itau][idx] = np.where(use, t["tau_rel_se"].to_numpy(np.float64), np.nan)
        se = t["tau_rel_se"].to_numpy(np.float64)[use]
        med_se = float(np.median(se[np.isfinite(se)])) if np.isfinite(se).any() else None
        diag["syn_tau"][kind] = {
            "measured": int(use.sum()),
            "nominal_kept": int((~use & ~twin.dead[idx]).sum()),
            "median_rel_se": med_se,
        }
        if use.any():
            out.append(
                {"name": itau, "what": f"{kind.upper()} time constant per neuron, tau = "
                 f"(Ut/kappa) C_{kind} / {itau}, from spike times (tau_{kind}: "
                 + ("silence after an inhibitory kick of 1 and of 16 spikes"
                    if METHOD[kind] == "silence" else "the spike train after one kick")
                 + f"); {int(use.sum())} neurons", "median_rel_se": med_se}
            )  # fmt: skip
    return out


def _fit_adaptation(
    twin: Twin, res: ExperimentResult, idx: np.ndarray, diag: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each measured neuron's Itau_ahp and Igain_ahp (into `twin`) from the spike times of the
    adaptation steps (hil.mismatch.ahpfit), under the membrane fitted before. The first step
    (the floor weight: no adaptation) is the reference; the others carry the AHP. A counts
    readout has no spike times: the AHP stays nominal, said in diagnostics. Returns the
    `identifiable` entries."""
    exp = rebuild(Adaptation, res.options)
    d = exp.design(twin.n_chips)
    got = [recording_times(r, idx) for r in res.recordings]
    times = [t for t in got if t is not None]
    alive = ~twin.dead[idx]
    if len(times) < len(got) or len(times) < 2:
        diag["ahp"] = {"measured": 0, "nominal_kept": int(alive.sum()),
                       "why": "no spike times (counts readout)"}  # fmt: skip
        return []
    editor = BiasEditor(d.config)
    cfgs = [editor.set(st.biases)[0] for st in d.steps]
    th, se, rms = fit_ahp(
        _source(twin), cfgs[0], cfgs[1:], exp.duration_s, times[0], times[1:], idx, alive
    )
    ok = np.isfinite(rms) & alive
    for j, b in enumerate(("Itau_ahp", "Igain_ahp")):
        twin.currents[b][idx] = np.where(
            ok, twin.currents[b][idx] * np.exp(th[j]), twin.currents[b][idx]
        )
    N = twin.n_chips * NEURONS_PER_CHIP
    se_log = {b: np.full(N, np.nan) for b in ("Itau_ahp", "Igain_ahp")}
    se_log["Itau_ahp"][idx] = np.where(ok, se[0], np.nan)
    se_log["Igain_ahp"][idx] = np.where(ok, se[1], np.nan)
    diag["_ahp_se_log"] = se_log
    med = [float(np.median(se[j][ok])) if ok.any() else None for j in range(2)]
    diag["ahp"] = {
        "measured": int(ok.sum()),
        "nominal_kept": int((~ok & alive).sum()),
        "median_rms_log_isi": float(np.median(rms[ok])) if ok.any() else None,
        "median_se_log": {"Itau_ahp": med[0], "Igain_ahp": med[1]},
    }
    if not ok.any():
        return []
    return [
        {"name": "Itau_ahp", "what": "AHP time constant per neuron, tau_ahp = (Ut/kappa) C_ahp / "
         "Itau_ahp (C_ahp nominal), from how fast the ISIs lengthen under a DC step "
         f"(adaptation); {int(ok.sum())} neurons", "median_rel_se": med[0]},
        {"name": "(Igain_ahp/Itau_ahp)*Iw_ahp*(1-exp(-t_pulse_ahp/tau_ahp))", "what": "the AHP's "
         "charge per spike [A] at a given SOAD_W_N code (Igain_ahp carries it: Iw_ahp and "
         "Ipulse_ahp nominal), from how far the ISIs lengthen; in the Idc convention's units",
         "median_rel_se": med[1]},
    ]  # fmt: skip


def _fit_noise(
    twin: Twin, res: ExperimentResult, idx: np.ndarray, branch: np.ndarray, diag: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each measured neuron's noise_std [A] (into `twin`) from the ISI variances of the `noise`
    steps under the twin's membrane (hil.mismatch.noisefit): per step the variance over
    Var(ISI)/sigma^2, pooled over steps by their ISI counts (the maximum-likelihood sigma^2 of
    Gaussian ISIs). branch: (n, 6) each measured neuron's core's SOIF_DC_P branch factors.
    Returns the `identifiable` entry (none when no neuron gave an estimate)."""
    t = res.table
    if len(t) != idx.size:
        raise ConfigError("noise", f"{len(t)} neurons", f"the {idx.size} neurons of fi")
    steps = _steps(res)
    num = np.zeros(idx.size)
    den = np.zeros(idx.size)
    cur = twin.currents
    for i, st in enumerate(steps):
        col = f"isi_var_{i}"
        if col not in t:
            raise ConfigError("noise", f"no {col} column", "a noise table of this hil version")
        var = t[col].to_numpy(np.float64)
        n = t[f"n_isi_{i}"].to_numpy(np.float64)
        c = int(st.params["dc_coarse"])
        iin = float(st.params["dc_a"]) * branch[:, c] + twin.Ihot[idx]
        with np.errstate(invalid="ignore"):
            v1 = isi_variance(iin, cur["Itau_mem"][idx], cur["Igain_mem"][idx], cur["Ispkthr"][idx])
        use = np.isfinite(var) & np.isfinite(v1) & (v1 > 0) & (n >= 5)
        w = np.where(use, n - 1, 0.0)
        num += w * np.where(use, var / np.where(use, v1, 1.0), 0.0)
        den += w
    alive = ~twin.dead[idx]
    got = (den > 0) & alive
    sigma = np.sqrt(num / np.maximum(den, 1.0))
    core = idx // NEURONS_PER_CORE
    fill = np.zeros(idx.size)
    for k in np.unique(core):
        m = got & (core == k)
        fill[core == k] = float(np.median(sigma[m])) if m.any() else 0.0
    twin.noise_std[idx] = np.where(got, sigma, np.where(alive, fill, 0.0))
    # relative SE of sigma from the pooled variance (Gaussian ISIs): 1 / sqrt(2 (n - 1))
    rse = 1.0 / np.sqrt(2.0 * den[got]) if got.any() else np.zeros(0)
    med_se = float(np.median(rse)) if rse.size else None
    diag["noise"] = {
        "measured": int(got.sum()),
        "median_kept": int((~got & alive).sum()),
        "median_rel_se": med_se,
        "median_noise_std_a": float(np.median(sigma[got])) if got.any() else None,
    }
    if not got.any():
        return []
    return [
        {"name": "noise_std/Idc", "what": "membrane noise std per neuron relative to its DC "
         f"factor (the Idc convention's units), for a correlation time of {NOISE_TAU_S * 1e3:g} "
         f"ms, from the ISI variance under {len(steps)} DC codes; {int(got.sum())} neurons",
         "median_rel_se": med_se}
    ]  # fmt: skip


def _fit_slots(
    twin: Twin, res: ExperimentResult, idx: np.ndarray, diag: dict[str, Any]
) -> np.ndarray:
    """Per-slot weight factors and per-core Iw_k / Iw_0 (into `twin`); returns each measured
    neuron's AMPA drive relative to the nominal (the geometric mean over its slots)."""
    n_chips = twin.n_chips
    scan = rebuild(SlotScan, res.options)
    des = scan.design(n_chips)
    meas = np.stack([spike_rates(r, idx) for r in res.recordings])  # (64, n)
    one = rebuild(SynapseType, {"kind": "ampa", "n_per_core": scan.n_per_core})
    cfg0 = one.design(n_chips).config  # slot 0 alone, AMPA, mask Iw_0
    grid = np.exp(np.linspace(np.log(0.3), np.log(16.0), 18))
    sim = simulate_rates(
        _source(twin),
        cfg0,
        [(des.steps[0].stimulus, scan.duration_s)],
        {"Igain_ampa": np.repeat(grid[:, None], idx.size, 1)},
        instances=grid.size,
    )[:, 0, :]  # fmt: skip  (G, n)
    lnm = _interp_log(meas, sim, np.log(grid))  # (64, n): ln(drive / nominal drive)
    masks = np.array(SLOT_MASKS)
    core = idx // NEURONS_PER_CORE
    alive = ~twin.dead[idx]
    nominal_ratio = np.array(
        [[twin.currents[f"Iw_{k}"][c * NEURONS_PER_CORE] / twin.currents["Iw_0"][c * NEURONS_PER_CORE]
          for k in range(4)] for c in range(n_chips * CORES_PER_CHIP)]
    )  # fmt: skip
    ratio = nominal_ratio.copy()  # Iw_k / Iw_0 per core
    for c in np.unique(core):
        cols = (core == c) & alive
        with warnings.catch_warnings():  # a neuron none of whose slots resolved: NaN, no warning
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = np.nanmean(lnm[np.ix_(masks == 1, cols)], axis=0)
        for k in (1, 2, 3):
            d = (lnm[np.ix_(masks == 1 << k, cols)] - ref).ravel()
            if np.isfinite(d).any():
                ratio[c, k] = float(np.exp(np.median(d[np.isfinite(d)])))
    kidx = np.log2(masks).astype(int)
    lnw = lnm - np.log(ratio[core][:, kidx].T)
    fin = np.isfinite(lnw)
    centre = np.where(
        fin.any(0), np.where(fin, lnw, 0.0).sum(0) / np.maximum(fin.sum(0), 1), np.nan
    )
    lnw = lnw - centre
    wf = np.ones((n_chips * NEURONS_PER_CHIP, SLOTS))
    wf[idx] = np.clip(np.exp(np.nan_to_num(lnw, nan=0.0)).T, 0.05, 20.0)
    twin.weight_factor = wf.reshape(n_chips, CORES_PER_CHIP, NEURONS_PER_CORE, SLOTS)
    for c in np.unique(core):
        rows = slice(c * NEURONS_PER_CORE, (c + 1) * NEURONS_PER_CORE)
        for k in (1, 2, 3):
            twin.currents[f"Iw_{k}"][rows] = twin.currents["Iw_0"][rows] * ratio[c, k]
    diag["slots"] = {
        "iw_ratio_to_nominal": (ratio / nominal_ratio).tolist(),
        "unresolved": int((~np.isfinite(lnm[:, alive])).sum()),
    }
    return np.where(np.isfinite(centre), np.exp(centre), 1.0)


def _fit_type(
    twin: Twin, res: ExperimentResult, kind: str, idx: np.ndarray, g_ampa: np.ndarray
) -> None:
    """The gain of synapse type `kind` of every measured neuron (into `twin`), under the time
    constant `_fit_taus` put there."""
    exp = rebuild(SynapseType, res.options)
    d = exp.design(twin.n_chips)
    # the gain from the high-rate train (nearly constant current: its mean carries the efficacy)
    # and, for inhibition, the DC baseline; the low-rate train is left out
    top = max(float(s.params["rate_hz"]) for s in d.steps)
    use = [i for i, s in enumerate(d.steps) if float(s.params["rate_hz"]) in (0.0, top)]
    meas = np.stack([spike_rates(res.recordings[i], idx) for i in use])  # (S, n)
    stimuli = [(d.steps[i].stimulus, d.steps[i].duration_s) for i in use]
    gain = f"Igain_{kind}"
    twin.currents[gain][idx] = twin.currents[gain][idx] * g_ampa
    src = _source(twin)

    def run(scales: dict[str, np.ndarray]) -> np.ndarray:
        return simulate_rates(src, d.config, stimuli, scales, instances=2)

    lg = _gauss_newton(run, meas, kind, ~twin.dead[idx])
    twin.currents[gain][idx] = twin.currents[gain][idx] * np.exp(lg)


def _interp_log(meas: np.ndarray, sim: np.ndarray, lng: np.ndarray) -> np.ndarray:
    """Per neuron n, the ln-multiplier at which the simulated rate curve sim[:, n] (increasing in
    lng) reaches each meas[s, n]; NaN outside the curve or for a silent neuron."""
    S, N = meas.shape
    out = np.full((S, N), np.nan)
    for n in range(N):
        curve = np.maximum.accumulate(sim[:, n])
        if curve[-1] <= 0:
            continue
        out[:, n] = np.interp(meas[:, n], curve, lng, left=np.nan, right=np.nan)
    return out


def _gauss_newton(
    run: Callable[[dict[str, np.ndarray]], np.ndarray],
    meas: np.ndarray,
    kind: str,
    alive: np.ndarray,
    iters: int = 4,
    h: float = 0.05,
) -> np.ndarray:
    """Gauss-Newton on the ln gain multiplier of synapse `kind`, per neuron, against the measured
    rates (S, n) in log(rate + 1), with the finite difference as a second simulator instance."""
    lg = np.zeros(meas.shape[1])
    y = np.log(meas + 1.0)
    for _ in range(iters):
        sim = np.log(run({f"Igain_{kind}": np.exp(np.stack([lg, lg + h]))}) + 1.0)  # (2, S, n)
        r = sim[0] - y
        J = (sim[1] - sim[0]) / h  # (S, n)
        step = -(J * r).sum(0) / np.maximum((J * J).sum(0), 1e-9)
        lg = np.where(alive, lg + np.clip(np.nan_to_num(step), -0.7, 0.7), 0.0)
    return lg


def identifiable(
    mf: MembraneFit, good: np.ndarray, iref_se: float | None = None
) -> list[dict[str, Any]]:
    """The identifiable parameters and combinations (the twin's `identifiable` list), with the
    median relative standard error where the fit gives one."""
    se = np.median(mf.se[good], 0) if good.any() else np.full(3, np.nan)
    return [
        {"name": "Iref", "what": "refractory current (t_ref = Vth C_ref / Iref): exact inversion "
         "of the rates at three Iref codes", "median_rel_se": iref_se},
        {"name": "Igain_mem*Idc", "what": "membrane gain times the neuron's DC factor on branch 2 "
         "(the strong-drive slope of the f-I curve)", "median_rel_se": float(se[1])},
        {"name": "(Igain_x/Itau_x)/(Igain_ampa/Itau_ampa)", "what": "each synapse type's "
         "efficacy relative to AMPA's, per neuron (x = nmda, gaba, shunt)", "median_rel_se": None},
        {"name": "Iw_k/Iw_0", "what": "per-core base-weight ratios, k = 1..3 (256 neurons each)",
         "median_rel_se": None},
        {"name": "weight_factor/geomean", "what": "each CAM slot's weight factor relative to the "
         "geometric mean of its neuron's 64 slots", "median_rel_se": None},
        {"name": "dead", "what": "no spike under the strongest DC", "median_rel_se": None},
        {"name": "hot", "what": "spontaneous firing without input", "median_rel_se": None},
    ]  # fmt: skip
