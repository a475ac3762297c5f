"""Compare two sets of trials (reference, e.g. the simulator; candidate, e.g. the chip) statistic by
statistic and neuron by neuron, with a known false-alarm rate.

    result = compare(sim_trials, chip_trials, stats=["rate", "cv", "fano@100ms"])
    result.passed, result.table, print(result.message())

Design (see docs/compare.md):
- The unit of replication is the trial. Every statistic is computed per trial and per neuron; a
  neuron's sample is its values over the trials. Never spikes or windows inside one trial.
- Scalar statistics are tested per neuron with `test`: "mannwhitney" (default when unpaired),
  "ks", "energy", or "permutation" (default when paired: trial k of each side got the same
  stimulus, so the paired differences are tested by sign flips). Distance statistics (psth,
  van_rossum) are always tested with the energy permutation test on the distances between trials.
- All (statistic, neuron) tests of one call form one family, corrected with Holm (default) or
  Benjamini-Hochberg; a test differs when its adjusted p <= alpha. Holm is the default because it
  bounds the chance that ANY named neuron is a false alarm by alpha under arbitrary dependence
  between neurons (neurons of a recurrent network are dependent), which is what a pass/fail verdict
  and a list of "neurons that differ" promise. BH ("bh") bounds only the expected fraction of false
  names, needs positive dependence, and has more power when many neurons differ a little.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hil.chip.geometry import neuron_address
from hil.compare import stats as st
from hil.compare import twosample as ts
from hil.compare.trials import Trial, as_trials, binned, neurons_of, spike_times
from hil.errors import ConfigError

POPULATION = -1  # the `neuron` of a population statistic's row
TESTS = ("mannwhitney", "ks", "energy", "permutation")
DEFAULT_STATS = ("rate", "cv")


@dataclass(frozen=True)
class Kind:
    """What a statistic is: its unit, whether it needs spike times, its default parameter [s]
    (window, bin or time constant), whether it is one value per population and trial, and whether
    it is compared through distances between trials (then `unit` is the distance's)."""

    doc: str
    unit: str
    needs_times: bool
    default_s: float | None = None
    population: bool = False
    distance: bool = False


KINDS: dict[str, Kind] = {
    "rate": Kind("firing rate", "Hz", False),
    "cv": Kind("ISI coefficient of variation", "", True),
    "lv": Kind("ISI local variation", "", True),
    "fano": Kind("Fano factor of counts in windows of @", "", False, 0.1),
    "corr": Kind("mean count correlation with the other neurons, bins of @", "", False, 0.01),
    "latency": Kind("first-spike latency", "s", True),
    "pop_rate": Kind("mean firing rate of the population", "Hz", False, population=True),
    "pop_corr": Kind("mean pairwise count correlation, bins of @", "", False, 0.01, True),
    "psth": Kind(
        "PSTH, Euclidean distance of binned counts, bins of @", "", False, 0.05, False, True
    ),
    "van_rossum": Kind("van Rossum distance, tau @", "", True, 0.01, False, True),
}
_SCALE = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


@dataclass(frozen=True)
class Statistic:
    """A statistic with its parameter: parse("fano@20ms"), parse("van_rossum@5ms"), parse("cv")."""

    kind: str
    param_s: float | None = None

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]

    @property
    def window_s(self) -> float:
        """The parameter [s] (window, bin or tau) of a statistic that takes one."""
        if self.param_s is None:
            raise ConfigError("stats", self.kind, f"{self.kind}@<number>s|ms|us (a parameter)")
        return self.param_s

    @property
    def name(self) -> str:
        return self.kind if self.param_s is None else f"{self.kind}@{self.param_s * 1e3:g}ms"

    @classmethod
    def parse(cls, text: str | Statistic) -> Statistic:
        if isinstance(text, Statistic):
            return text
        m = re.fullmatch(r"([a-z_]+)(?:@([0-9.eE+-]+)(s|ms|us))?", str(text).strip())
        if not m or m.group(1) not in KINDS:
            raise ConfigError(
                "stats", text, f"one of {', '.join(KINDS)}, optionally @<number>s|ms|us"
            )
        kind = KINDS[m.group(1)]
        if m.group(2) is None:
            return cls(m.group(1), kind.default_s)
        if kind.default_s is None:
            raise ConfigError("stats", text, f"{m.group(1)} without a parameter")
        value = float(m.group(2)) * _SCALE[m.group(3)]
        if not (math.isfinite(value) and value >= 1e-6):
            raise ConfigError("stats", text, "a parameter >= 1 us")
        return cls(m.group(1), value)

    def values(self, trial: Trial, neurons: np.ndarray) -> np.ndarray:
        """This statistic of one trial: (n_neurons,), or (1,) for a population statistic."""
        k = self.kind
        per_neuron: dict[str, Callable[[], np.ndarray]] = {
            "rate": lambda: st.firing_rate(trial, neurons),
            "cv": lambda: st.isi_cv(trial, neurons),
            "lv": lambda: st.local_variation(trial, neurons),
            "fano": lambda: st.fano_factor(trial, self.window_s, neurons),
            "corr": lambda: st.mean_correlation(
                st.count_correlation(trial, self.window_s, neurons)
            ),
            "latency": lambda: st.first_spike_latency(trial, 0.0, neurons),
            "pop_rate": lambda: np.array([st.firing_rate(trial, neurons).mean()]),
            "pop_corr": lambda: np.array(
                [_mean_off_diagonal(st.count_correlation(trial, self.window_s, neurons))]
            ),
        }
        return per_neuron[k]()

    def distances(self, trials: Sequence[Trial], neurons: np.ndarray) -> np.ndarray:
        """(n_neurons, n_trials, n_trials) distances between the trials, per neuron."""
        if self.kind == "van_rossum":
            trains = [spike_times(t, neurons, self.name) for t in trials]
            return np.stack(
                [
                    st.van_rossum_matrix([tr[i] for tr in trains], self.window_s)
                    for i in range(len(neurons))
                ]
            )
        c = np.stack([binned(t, neurons, self.window_s) for t in trials]).astype(float)
        gram = np.einsum("ibu,jbu->uij", c, c)  # (neurons, n, n)
        sq = np.einsum("uii->ui", gram)
        return np.sqrt(np.maximum(sq[:, :, None] + sq[:, None, :] - 2 * gram, 0.0))


def _mean_off_diagonal(corr: np.ndarray) -> float:
    return float(st.nanmean(corr[~np.eye(corr.shape[0], dtype=bool)]))


@dataclass
class Comparison:
    """The outcome of `compare`. `table` has one row per (statistic, neuron) with columns:
    stat, neuron (board-wide; -1 for population), n_ref, n_cand (trials with a value), ref, cand
    (means of the per-trial values; for distance statistics the mean distance between reference
    trials and the mean distance from reference to candidate trials), rel (cand / ref - 1), effect,
    effect_name, test, p, p_adj, differs, note (why a row was not tested)."""

    table: pd.DataFrame
    skipped: dict[str, str]
    alpha: float
    correction: str
    paired: bool
    n_ref: int
    n_cand: int
    n_perm: int
    seed: int
    labels: tuple[str, str] = ("reference", "candidate")

    @property
    def n_tests(self) -> int:
        return int(self.table["p"].notna().sum())

    @property
    def passed(self) -> bool:
        """True when no tested (statistic, neuron) differs."""
        return not bool(self.table["differs"].any())

    def failures(self) -> pd.DataFrame:
        """The rows that differ, most significant first."""
        return self.table[self.table["differs"]].sort_values(["p_adj", "p"])

    def message(self, max_rows: int = 12) -> str:
        """A bounded human-readable summary: the verdict, the differing rows (at most max_rows,
        most significant first), and the skipped statistics."""
        ref, cand = self.labels
        fails = self.failures()
        head = (
            f"{len(fails)} of {self.n_tests} (statistic, neuron) tests differ "
            f"between {ref} ({self.n_ref} trials) and {cand} ({self.n_cand} trials); "
            f"alpha {self.alpha:g}, {_CORRECTION_NAMES[self.correction]} over {self.n_tests}, "
            f"{'paired' if self.paired else 'unpaired'}"
        )
        lines = [head]
        for row in fails.head(max_rows).itertuples():
            kind = KINDS[row.stat.split("@")[0]]
            a, b = (f"distance within {ref}", f"{ref} to {cand}") if kind.distance else (ref, cand)
            lines.append(
                f"  {row.stat:<12} {_neuron_name(row.neuron)}: {a} {_fmt(row.ref, kind.unit)}, "
                f"{b} {_fmt(row.cand, kind.unit)} ({row.rel:+.1%}), {row.effect_name} "
                f"{row.effect:+.3g}, {row.test} p={row.p:.2g}, adjusted p={row.p_adj:.2g}"
            )
        if len(fails) > max_rows:
            lines.append(f"  ... and {len(fails) - max_rows} more (Comparison.table has all)")
        for name, why in list(self.skipped.items())[:max_rows]:
            lines.append(f"  skipped {name}: {why}")
        untested = self.table[self.table["p"].isna()]
        if len(untested):
            lines.append(f"  not tested: {len(untested)} rows (too few trials with a value)")
        return "\n".join(lines)


_CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg"}


def _neuron_name(g: int) -> str:
    if g == POPULATION:
        return "population"
    chip, core, n = neuron_address(int(g))
    return f"neuron {g} (chip {chip} core {core} #{n})"


def _fmt(v: float, unit: str) -> str:
    return f"{v:.4g}{' ' + unit if unit else ''}"


def _test_scalar(
    x: np.ndarray, y: np.ndarray, test: str, paired: bool, n_perm: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, str, list[str]]:
    """p (U,), effect (U,), effect name, notes (U,) for per-trial values x (n_x, U), y (n_y, U)."""
    U = x.shape[1]
    p, eff = np.full(U, np.nan), np.full(U, np.nan)
    notes = [""] * U
    if paired:
        both = np.isfinite(x) & np.isfinite(y)
        x, y = np.where(both, x, np.nan), np.where(both, y, np.nan)
    nx, ny = np.isfinite(x).sum(axis=0), np.isfinite(y).sum(axis=0)
    ok = (nx >= 2) & (ny >= 2)
    for u in np.flatnonzero(~ok):
        notes[u] = f"too few trials with a value ({nx[u]} vs {ny[u]}; need 2 each)"
    if test == "permutation" and paired:
        d = (y - x)[:, ok]
        p[ok] = ts.sign_flip_test(d, n_perm, rng)
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.nanstd(d, axis=0, ddof=1)
            eff[ok] = np.where(sd > 0, np.nanmean(d, axis=0) / sd, 0.0)
        return p, eff, "d_z", notes
    if test == "permutation":
        p[ok] = ts.label_permutation_test(x[:, ok], y[:, ok], n_perm, rng)
        with np.errstate(invalid="ignore", divide="ignore"):
            pooled = np.sqrt(
                (np.nanvar(x[:, ok], axis=0, ddof=1) + np.nanvar(y[:, ok], axis=0, ddof=1)) / 2
            )
            delta = np.nanmean(y[:, ok], axis=0) - np.nanmean(x[:, ok], axis=0)
            eff[ok] = np.where(pooled > 0, delta / pooled, 0.0)
        return p, eff, "Cohen's d", notes
    name = {"mannwhitney": "Cliff's delta", "ks": "KS D", "energy": "energy distance"}[test]
    if test in ("mannwhitney", "ks"):
        fn = ts.mann_whitney if test == "mannwhitney" else ts.kolmogorov_smirnov
        full = ok & np.isfinite(x).all(axis=0) & np.isfinite(y).all(axis=0)
        if full.any():  # one vectorised call for the columns without gaps
            p[full], eff[full] = fn(x[:, full], y[:, full])
        for u in np.flatnonzero(ok & ~full):
            a, b = x[:, u][np.isfinite(x[:, u])], y[:, u][np.isfinite(y[:, u])]
            p[u], eff[u] = fn(a, b)
        return p, eff, name, notes
    for u in np.flatnonzero(ok):
        if paired:
            keep = np.isfinite(x[:, u])
            a, b = x[keep, u], y[keep, u]
        else:
            a, b = x[:, u][np.isfinite(x[:, u])], y[:, u][np.isfinite(y[:, u])]
        v = np.concatenate([a, b])
        pu, e = ts.energy_test(np.abs(v[:, None] - v[None, :]), a.size, n_perm, rng, paired)
        p[u], eff[u] = pu[0], e[0]
    return p, eff, name, notes


def compare(
    reference: object,
    candidate: object,
    stats: Sequence[str | Statistic] = DEFAULT_STATS,
    *,
    alpha: float = 0.05,
    paired: bool = False,
    test: str | None = None,
    correction: str = "holm",
    neurons: np.ndarray | None = None,
    trial_s: float | None = None,
    n_perm: int | None = None,
    seed: int = 0,
    labels: tuple[str, str] = ("reference", "candidate"),
) -> Comparison:
    """Test, per statistic and neuron, whether `candidate` trials differ from `reference` trials.

    reference, candidate: a sequence of trials (Recordings, events.Counts or Trials; each one
    trial), or one recording cut into windows of `trial_s` [s]. stats: names from KINDS, with an
    optional parameter ("fano@20ms"). paired: trial k of both sides got the same stimulus (equal
    trial counts). test: for scalar statistics, one of TESTS (default "permutation" when paired,
    else "mannwhitney"). neurons: board-wide indices to compare (default: every neuron either side
    covers, so a neuron silent on one side still counts). n_perm: permutations per test (default
    max(2000, 4 * tests / alpha), so that Holm can reject at all). seed: of the permutations.
    Statistics that need spike times are skipped, with the reason, when a trial holds counts.
    """
    if not (0 < alpha < 1):
        raise ConfigError("alpha", alpha, "a probability in (0, 1)")
    if correction not in ts.CORRECTIONS:
        raise ConfigError("correction", correction, f"one of {', '.join(ts.CORRECTIONS)}")
    test = test or ("permutation" if paired else "mannwhitney")
    if test not in TESTS:
        raise ConfigError("test", test, f"one of {', '.join(TESTS)}")
    specs = [Statistic.parse(s) for s in stats]
    if not specs:
        raise ConfigError("stats", "[]", "at least one statistic")
    ref, cand = as_trials(reference, trial_s), as_trials(candidate, trial_s)
    if paired and len(ref) != len(cand):
        raise ConfigError("trials", f"{len(ref)} vs {len(cand)}", "equal trial counts when paired")
    units = neurons_of(ref + cand) if neurons is None else np.unique(np.asarray(neurons, np.int64))
    skipped: dict[str, str] = {}
    todo = []
    for s in specs:
        lacking = [
            lab
            for lab, tr in zip(labels, (ref, cand), strict=True)
            if not all(t.has_times for t in tr)
        ]
        if s.spec.needs_times and lacking:
            skipped[s.name] = (
                f"needs spike times; the {' and '.join(lacking)} recording(s) hold counts"
            )
        else:
            todo.append(s)
    m = sum(1 if s.spec.population else len(units) for s in todo)
    n_perm = n_perm or max(2000, math.ceil(4 * max(m, 1) / alpha))
    rng = np.random.default_rng(seed)
    rows = []
    for s in todo:
        labels_u = np.array([POPULATION]) if s.spec.population else units
        if s.spec.distance:
            d = s.distances(ref + cand, units)
            p, eff = ts.energy_test(d, len(ref), n_perm, rng, paired)
            nr = len(ref)
            within = d[:, :nr, :nr].sum(axis=(1, 2)) / max(nr * (nr - 1), 1)
            between = d[:, :nr, nr:].mean(axis=(1, 2))
            block = dict(ref=within, cand=between, effect=eff, p=p, n_ref=nr, n_cand=len(cand))
            block.update(effect_name="energy distance", test="energy", note="")
        else:
            x = np.stack([s.values(t, units) for t in ref])
            y = np.stack([s.values(t, units) for t in cand])
            p, eff, ename, notes = _test_scalar(x, y, test, paired, n_perm, rng)
            block = dict(ref=st.nanmean(x, axis=0), cand=st.nanmean(y, axis=0))
            block.update(effect=eff, p=p, effect_name=ename, test=test, note=notes)
            block.update(n_ref=np.isfinite(x).sum(axis=0), n_cand=np.isfinite(y).sum(axis=0))
        frame = pd.DataFrame({"stat": s.name, "neuron": labels_u, **block})
        rows.append(frame)
    cols = ["stat", "neuron", "n_ref", "n_cand", "ref", "cand", "rel", "effect", "effect_name"]
    cols += ["test", "p", "p_adj", "differs", "note"]
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["rel"] = (table["cand"] - table["ref"]) / table["ref"].abs()
    table["p_adj"] = ts.adjust(table["p"].to_numpy(float), correction)
    table["differs"] = (table["p_adj"] <= alpha).astype(bool)
    return Comparison(
        table=table[cols],
        skipped=skipped,
        alpha=alpha,
        correction=correction,
        paired=paired,
        n_ref=len(ref),
        n_cand=len(cand),
        n_perm=n_perm,
        seed=seed,
        labels=labels,
    )
