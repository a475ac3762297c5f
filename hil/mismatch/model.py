"""MismatchModel: a hierarchical population model of each identified parameter, fitted to a twin.

For parameter p, with f = value / nominal per neuron (alive, measured), the model is

    ln f[core, neuron] = mu_p + c[core] + e[core, neuron]

with per-core offsets c (normal on the log scale, std `core_sigma`) and per-neuron spreads e
whose family is chosen by the data (AIC among `lognormal`: e normal on the log scale; `normal`:
exp(e) - 1 normal on the linear scale; `student_t`: e Student-t on the log scale, heavier tails).
Spreads are reported as relative standard deviations (std of the factor). Confidence intervals:
bootstrap over neurons within cores and over cores. Goodness of fit: Kolmogorov-Smirnov of the
chosen family on the per-neuron residuals. Per-synapse weights: the same for ln weight_factor.
Bias-generator error: from the spread of the per-core branch factors the fit separated (SOIF_DC_P).
Membrane noise: the same population model for ln(noise_std / NOISE_REF_A) (it has no nominal).

`sample(instances, seed)` draws factors for new chips from the fitted population: the training
and robustness work samples these instead of an assumed 10 % Gaussian. Saved as `hil.mismatch/1`
JSON (atomic), with the twin's provenance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hil.artifacts import read_json, write_atomic
from hil.chip.geometry import NEURONS_PER_CHIP
from hil.errors import ConfigError
from hil.mismatch.twin import Twin

SCHEMA = "hil.mismatch/1"
FAMILIES = ("lognormal", "normal", "student_t")
NEURONS_PER_CORE = NEURONS_PER_CHIP // 4
# Parameters the fit identifies per neuron (the others stay nominal in the twin).
FITTED = ("Iref", "Itau_mem", "Igain_mem", "Ispkthr",
          *(f"Igain_{s}" for s in ("ampa", "nmda", "gaba", "shunt")),
          *(f"Itau_{s}" for s in ("ampa", "nmda", "gaba", "shunt")),
          "Itau_ahp", "Igain_ahp")  # fmt: skip
# The membrane noise has no nominal value: its population is of noise_std / NOISE_REF_A.
NOISE_REF_A = 1e-12


@dataclass(frozen=True)
class Population:
    """One parameter's fitted population (module docstring); spreads are relative stds."""

    family: str
    median: float  # median factor exp(mu) (relative to nominal)
    core_sigma: float
    neuron_sigma: float
    df: float | None  # Student-t degrees of freedom
    scale: float  # the family's scale parameter (log or linear)
    ci: dict[str, list[float]]  # 95 % bootstrap intervals of core_sigma and neuron_sigma
    ks: float
    ks_p: float
    aic: dict[str, float]
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class MismatchModel:
    parameters: dict[str, Population]
    weight: Population | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    # bias-generator error: relative std of one coarse branch's factor, from the twin's SOIF_DC_P
    # branch factors (ratios of two branches: std / sqrt(2)); None where the twin has none
    biasgen_sigma: float | None = None
    # membrane noise std per neuron, as factors of NOISE_REF_A; None where the twin has none
    noise: Population | None = None

    @classmethod
    def fit(
        cls, twin: Twin, nominal: dict[str, np.ndarray], measured: np.ndarray, *, boot: int = 200,
        seed: int = 0,
    ) -> MismatchModel:  # fmt: skip
        """Fit every parameter in FITTED from `twin` (factors relative to `nominal`, (N,) each)
        over the neurons `measured` (board-wide indices) that are not dead. Where the twin gives a
        parameter per-neuron standard errors (`se_log`), only the neurons with a finite one count:
        the others kept the nominal value, whose factor 1 would read as no mismatch. A parameter
        identified on no neuron (synaptic taus from the counts readout) is left out of the model
        and listed in `provenance["not_fitted"]`: its spread is unknown, not zero."""
        rng = np.random.default_rng(seed)
        idx = measured[~twin.dead[measured]]
        params = {}
        not_fitted = []
        for p in FITTED:
            se = twin.se_log.get(p)
            use = idx if se is None else idx[np.isfinite(se[idx])]
            if use.size == 0:
                not_fitted.append(p)
                continue
            lf = np.log(twin.currents[p][use] / nominal[p][use])
            params[p] = _population(lf, use // NEURONS_PER_CORE, rng, boot)
        core = idx // NEURONS_PER_CORE
        weight = None
        if twin.weight_factor is not None:
            w = np.log(twin.weight_factor.reshape(-1, 64)[idx])  # (n, 64)
            weight = _population(w.ravel(), np.repeat(core, 64), rng, boot, offsets=False)
        ratios = [f for *_, k, f in twin.branch.get("SOIF_DC_P", []) if f != 1.0]
        biasgen = _rel(float(np.std(np.log(ratios))) / np.sqrt(2)) if len(ratios) >= 2 else None
        nz = twin.noise_std[idx]
        noise = (
            _population(np.log(nz[nz > 0] / NOISE_REF_A), core[nz > 0], rng, boot)
            if (nz > 0).sum() >= 8
            else None
        )
        prov = dict(twin.provenance) | ({"not_fitted": not_fitted} if not_fitted else {})
        return cls(params, weight, prov, biasgen, noise)

    def sample(
        self, instances: int, seed: int, n_neurons: int = NEURONS_PER_CHIP
    ) -> dict[str, np.ndarray]:
        """Factors (instances, n_neurons) per parameter for new chips drawn from the population:
        a per-core offset per 256 neurons and a per-neuron draw of the fitted family, times the
        median; 'weight' gives (instances, n_neurons, 64) per-slot factors and 'noise_std' the
        membrane noise std [A] (instances, n_neurons) where the model has a noise population."""
        if isinstance(instances, bool) or not isinstance(instances, int) or instances < 1:
            raise ConfigError("instances", instances, "an integer >= 1")
        rng = np.random.default_rng(seed)
        n_cores = -(-n_neurons // NEURONS_PER_CORE)
        out = {}
        for p, pop in self.parameters.items():
            c = rng.normal(0, _log_sigma(pop.core_sigma), (instances, n_cores))
            c = np.repeat(c, NEURONS_PER_CORE, axis=1)[:, :n_neurons]
            out[p] = pop.median * np.exp(c) * _draw(pop, rng, (instances, n_neurons))
        if self.weight is not None:
            out["weight"] = _draw(self.weight, rng, (instances, n_neurons, 64))
        if self.noise is not None:
            pop = self.noise
            c = rng.normal(0, _log_sigma(pop.core_sigma), (instances, n_cores))
            c = np.repeat(c, NEURONS_PER_CORE, axis=1)[:, :n_neurons]
            draw = _draw(pop, rng, (instances, n_neurons))
            out["noise_std"] = NOISE_REF_A * pop.median * np.exp(c) * draw
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "parameters": {p: v.to_dict() for p, v in self.parameters.items()},
            "weight": None if self.weight is None else self.weight.to_dict(),
            "biasgen_sigma": self.biasgen_sigma,
            "noise": None if self.noise is None else self.noise.to_dict(),
            "noise_ref_a": NOISE_REF_A,
            "provenance": self.provenance,
        }

    def save(self, path: str | Path) -> Path:
        return write_atomic(path, json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> MismatchModel:
        d = read_json(path, "mismatch model")
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise ConfigError("mismatch.schema", str(path), SCHEMA)
        try:
            params = {p: Population(**v) for p, v in d["parameters"].items()}
            w = d.get("weight")
            nz = d.get("noise")
            return cls(
                params,
                None if w is None else Population(**w),
                d.get("provenance", {}),
                d.get("biasgen_sigma"),
                None if nz is None else Population(**nz),
            )
        except (KeyError, TypeError) as e:
            raise ConfigError("mismatch", f"malformed ({e})", f"a {SCHEMA} record") from None


def _log_sigma(rel: float) -> float:
    """Log-scale std whose lognormal factor has relative std `rel`."""
    return float(np.sqrt(np.log1p(rel**2)))


def _rel(log_sigma: float) -> float:
    """Relative std of a lognormal factor with log-scale std `log_sigma`."""
    return float(np.sqrt(np.expm1(log_sigma**2)))


def _draw(pop: Population, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    if pop.family == "normal":
        return np.maximum(1.0 + pop.scale * rng.standard_normal(shape), 0.05)
    if pop.family == "student_t":
        return np.exp(pop.scale * rng.standard_t(pop.df or 5.0, shape))
    return np.exp(pop.scale * rng.standard_normal(shape))


def _choose(e: np.ndarray) -> tuple[str, float, float | None, dict[str, float], Any]:
    """The family of the per-neuron residuals e (log scale) with the smallest AIC."""
    from scipy import stats

    aic: dict[str, float] = {}
    fits: dict[str, tuple[float, float | None, Any]] = {}
    s = float(np.std(e))
    aic["lognormal"] = 2 * 1 - 2 * float(stats.norm.logpdf(e, 0, s).sum())
    fits["lognormal"] = (s, None, stats.norm(0, s))
    lin = np.exp(e) - 1.0
    sl = float(np.std(lin))
    # density of e under a normal linear factor: p(lin) * |d lin / d e| = p(lin) * exp(e)
    aic["normal"] = 2 * 1 - 2 * float((stats.norm.logpdf(lin, 0, sl) + e).sum())
    fits["normal"] = (sl, None, stats.norm(0, sl))
    df, _, sc = stats.t.fit(e, floc=0)
    aic["student_t"] = 2 * 2 - 2 * float(stats.t.logpdf(e, df, 0, sc).sum())
    fits["student_t"] = (float(sc), float(df), stats.t(df, 0, sc))
    best = min(aic, key=lambda k: aic[k])
    scale, dfb, dist = fits[best]
    return best, scale, dfb, aic, dist


def _spreads(lf: np.ndarray, core: np.ndarray, offsets: bool) -> tuple[float, float, np.ndarray]:
    """(median log, log std of core offsets, per-neuron residuals)."""
    mu = float(np.median(lf))
    if not offsets:
        return mu, 0.0, lf - mu
    cores = np.unique(core)
    off = np.array([np.mean(lf[core == c]) - mu for c in cores])
    resid = lf - mu - off[np.searchsorted(cores, core)]
    # the std of core means includes the neurons' spread / sqrt(n): remove it
    n_per = np.array([(core == c).sum() for c in cores])
    var = (
        max(float(np.var(off, ddof=1)) - float(np.mean(np.var(resid) / n_per)), 0.0)
        if cores.size > 1
        else 0.0
    )
    return mu, float(np.sqrt(var)), resid


def _population(
    lf: np.ndarray, core: np.ndarray, rng: np.random.Generator, boot: int, offsets: bool = True
) -> Population:
    from scipy import stats

    ok = np.isfinite(lf)
    lf, core = lf[ok], core[ok]
    mu, cs, e = _spreads(lf, core, offsets)
    family, scale, df, aic, dist = _choose(e)
    rel_neuron = float(np.std(np.exp(e)) / np.mean(np.exp(e)))
    ks = stats.kstest(e if family != "normal" else np.exp(e) - 1.0, dist.cdf)
    cis: dict[str, list[float]] = {"core_sigma": [], "neuron_sigma": []}
    cores = np.unique(core)
    samples_c, samples_n = [], []
    for _ in range(boot):
        pick = rng.choice(cores, cores.size) if offsets else cores
        rows = np.concatenate(
            [rng.choice(np.flatnonzero(core == c), (core == c).sum()) for c in pick]
        )
        _, cb, eb = _spreads(
            lf[rows], np.repeat(np.arange(pick.size), [(core == c).sum() for c in pick]), offsets
        )
        samples_c.append(_rel(cb))
        samples_n.append(float(np.std(np.exp(eb)) / np.mean(np.exp(eb))))
    cis["core_sigma"] = np.percentile(samples_c, [2.5, 97.5]).tolist()
    cis["neuron_sigma"] = np.percentile(samples_n, [2.5, 97.5]).tolist()
    return Population(
        family=family, median=float(np.exp(mu)), core_sigma=_rel(cs), neuron_sigma=rel_neuron,
        df=df, scale=scale, ci=cis, ks=float(ks.statistic), ks_p=float(ks.pvalue), aic=aic,
        n=int(lf.size),
    )  # fmt: skip
