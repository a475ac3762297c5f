"""Measured error rates of hil.compare: the false-alarm rate (the simulator against itself, other
noise seeds) and the power at documented effect sizes, on the example network with Poisson input.

    python -m hil.compare.error_rates                 # >= 200 repetitions per condition
    python -m hil.compare.error_rates --reps 30 --conditions null,rate-10%

One repetition = one comparison of `n_trials` reference trials with `n_trials` candidate trials,
exactly as assert_spiking_equivalent makes it; the verdict is "differs" when any (statistic, neuron)
test rejects after Holm's correction. The false-alarm rate is the fraction of null repetitions with
that verdict; the power the fraction under an effect. Rates come with Clopper-Pearson 95 % CIs.

The simulator is hil.sim.simulate on example_config(0) (the network `hil.open_board("sim://")`
runs; `trials_from_board` checks the equivalence), batched over trials and repetitions. A trial:
`duration_s` of Poisson input at `input_rate_hz` on every input channel (its own stimulus seed) and
Gaussian membrane noise of `noise_A` per bin (its own noise draws). Unpaired conditions give the
two sides different stimuli; paired ones give trial k of both sides the same stimulus, so only the
noise differs within a pair.

Effects, applied to the candidate side (docs/compare.md):
- rate-10%: every spike of the candidate deleted independently with probability 0.1 (every
  neuron's rate -10 % in expectation; the realised change is printed);
- cv-20%: every candidate spike train moved 20 % of the way towards the evenly spaced train with
  the same first and last spike (count and mean ISI unchanged, every ISI CV x 0.8 exactly);
- weight+5%: every synaptic weight onto the neurons of core 0 (chip 0) x 1.05 in the simulator.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from hil import events as ev
from hil.compare.compare import compare
from hil.compare.trials import Trial
from hil.errors import ConfigError

ALL_STATS = (
    "rate",
    "cv",
    "lv",
    "fano@100ms",
    "corr@10ms",
    "latency",
    "pop_rate",
    "pop_corr@10ms",
    "psth@50ms",
    "van_rossum@10ms",
)


@dataclass(frozen=True)
class Design:
    """One comparison: trials per side, trial length [s], input rate [Hz], membrane noise [A] per
    bin, bin width [s], the example network's seed, the statistics, pairing and test."""

    n_trials: int = 20
    duration_s: float = 1.0
    input_rate_hz: float = 20.0
    noise_A: float = 1e-11  # noqa: N815
    dt: float = 1e-3
    config_seed: int = 0
    stats: tuple[str, ...] = ("rate", "cv")
    paired: bool = False
    alpha: float = 0.05


@dataclass(frozen=True)
class Condition:
    """A design, an effect on the candidate side (None: the null) and the statistic whose
    realised change (candidate / reference) is reported."""

    design: Design
    effect: str | None = None
    target: str = "rate"


CONDITIONS: dict[str, Condition] = {
    "null": Condition(Design()),
    "null-paired": Condition(Design(paired=True)),
    "null-all-stats": Condition(Design(stats=ALL_STATS)),
    "rate-10%": Condition(Design(), "rate-10%"),
    "cv-20%": Condition(Design(), "cv-20%", "cv"),
    "weight+5%": Condition(Design(), "weight+5%"),
    "weight+5%-paired": Condition(Design(paired=True), "weight+5%"),
}


@functools.lru_cache(maxsize=4)
def _network(config_seed: int):  # noqa: ANN202
    from hil.chip.example import example_config
    from hil.sim.compile import compile_config

    return compile_config(example_config(config_seed))


def stimulus(design: Design, seed: int) -> np.ndarray:
    """The Poisson input events of one trial (INPUT_DTYPE)."""
    from hil.chip.example import N_INPUTS

    return ev.poisson_input(design.input_rate_hz, N_INPUTS, design.duration_s, seed, design.dt)


def simulate_trials(
    design: Design, stim_seeds: np.ndarray, noise_seed: int, weight_scale: float = 1.0
) -> list[Trial]:
    """One trial per stimulus seed, all in one batched hil.sim.simulate call with one noise
    generator (seeded `noise_seed`; every trial gets its own draws). `weight_scale` multiplies
    every weight onto the neurons of core 0 of chip 0."""
    import torch

    from hil.sim.network import simulate
    from hil.sim.records import Weights

    c = _network(design.config_seed)
    x = np.stack(
        [
            ev.events_to_raster(stimulus(design, int(s)), design.dt, design.duration_s)
            for s in stim_seeds
        ]
    )[:, :, c.channels].astype(np.float32)
    w = c.weights
    if weight_scale != 1.0:
        scale = torch.ones(len(c.neurons), dtype=w.w_in.dtype)
        scale[torch.from_numpy(c.neurons // 256 == 0)] = weight_scale
        w = Weights(w.w_in * scale, w.w_rec * scale)
    with torch.no_grad():
        res = simulate(
            c.params,
            w,
            torch.from_numpy(x),
            design.dt,
            noise=design.noise_A,
            generator=torch.Generator().manual_seed(int(noise_seed)),
            times=True,
        )
    counts = res.spikes[0].round().to(torch.int64).numpy()  # (B, T, N)
    first = np.nan_to_num(res.times[0].numpy(), posinf=0.0)  # (B, T, N) s from the bin start
    return [_events(counts[b], first[b], c.neurons, design) for b in range(len(stim_seeds))]


def _events(counts: np.ndarray, first: np.ndarray, neurons: np.ndarray, design: Design) -> Trial:
    """Output events of one trial as the sim board makes them: the first spike of a bin at its
    resolved time, any further ones 1 us apart after it."""
    step = design.dt * 1e6
    t_idx, col = np.nonzero(counts)
    k = counts[t_idx, col]
    rep = np.repeat(np.arange(k.size), k)
    nth = np.arange(rep.size) - np.repeat(np.cumsum(k) - k, k)
    t_us = (t_idx * step + first[t_idx, col] * 1e6).astype(np.int64)[rep] + nth
    keep = t_us < int(round(design.duration_s * 1e6))
    return Trial(design.duration_s, events=ev.output_events_at(t_us[keep], neurons[col[rep]][keep]))


def trials_from_board(design: Design, stim_seeds: np.ndarray, seed: int = 0) -> list[Trial]:
    """The same trials through the public board, `hil.open_board("sim://?noise=..&seed=..")`, one
    run per trial (slow; used to check that simulate_trials runs what the board runs)."""
    import hil
    from hil.chip.example import example_config

    out = []
    with hil.open_board(f"sim://?dt={design.dt}&noise={design.noise_A}&seed={seed}") as board:
        board.apply(example_config(design.config_seed))
        for s in stim_seeds:
            board.reset()
            out.append(
                Trial(design.duration_s, board.run(stimulus(design, int(s)), design.duration_s))
            )
    return out


# ---- effects on the candidate side ----------------------------------------------------------------


def thin(trial: Trial, keep: float, rng: np.random.Generator) -> Trial:
    """Keep each spike independently with probability `keep`."""
    assert trial.events is not None
    return Trial(trial.duration_s, events=trial.events[rng.random(trial.events.size) < keep])


def regularize(trial: Trial, a: float) -> Trial:
    """Move every neuron's spike times a fraction `a` towards the evenly spaced train with the same
    first and last spike: each ISI becomes (1 - a) ISI + a mean(ISI), so the count and the mean
    ISI stay and the ISI CV becomes (1 - a) CV exactly. Spike order is kept."""
    e = trial.events
    assert e is not None
    g = ev.global_index(e)
    order = np.lexsort((e["t_us"], g))
    t = e["t_us"][order].astype(float)
    gs = g[order]
    out = t.copy()
    starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
    for lo, hi in zip(starts, np.r_[starts[1:], gs.size], strict=True):
        if hi - lo >= 3:
            grid = np.linspace(t[lo], t[hi - 1], hi - lo)
            out[lo:hi] = (1 - a) * t[lo:hi] + a * grid
    return Trial(trial.duration_s, events=ev.output_events_at(np.round(out).astype(np.int64), gs))


# ---- measuring ------------------------------------------------------------------------------------


@dataclass
class Rate:
    """k verdicts "differs" out of n repetitions, with the Clopper-Pearson 95 % CI."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n

    @property
    def ci(self) -> tuple[float, float]:
        c = sps.binomtest(self.k, self.n).proportion_ci(0.95, method="exact")
        return float(c.low), float(c.high)

    def __str__(self) -> str:
        lo, hi = self.ci
        return f"{self.value:.1%} ({self.k}/{self.n}, {lo:.1%}-{hi:.1%})"


@dataclass
class Measurement:
    """A condition's verdict rate; the fraction of single (statistic, neuron) tests with p <= alpha
    before correction (`raw_rejections`) and of those named as differing after it (`named`); the
    realised effect (mean candidate / mean reference of the first statistic, averaged over reps);
    the seconds it took; `raw_by_stat`: the uncorrected rate per statistic."""

    name: str
    verdict: Rate
    raw_rejections: Rate
    named: Rate
    realised: float
    seconds: float
    raw_by_stat: dict[str, Rate]


def measure(name: str, reps: int, seed: int = 0, chunk: int = 10) -> Measurement:
    """Run `reps` repetitions of condition `name` (a key of CONDITIONS)."""
    if name not in CONDITIONS:
        raise ConfigError("condition", name, f"one of {', '.join(CONDITIONS)}")
    cond = CONDITIONS[name]
    d = cond.design
    n = d.n_trials
    t0 = time.perf_counter()
    fails = raw = raw_n = named = 0
    by_stat: dict[str, list[int]] = {}
    ratios = []
    rng = np.random.default_rng([seed, 7])
    for start in range(0, reps, chunk):
        r = np.arange(start, min(reps, start + chunk))
        base = (seed * 100_000 + r[:, None]) * 2 * n
        ref_seeds = (base + np.arange(n)).ravel()
        cand_seeds = ref_seeds if d.paired else ref_seeds + n
        ws = 1.05 if cond.effect == "weight+5%" else 1.0
        ref = simulate_trials(d, ref_seeds, noise_seed=(seed * 1_000_003 + start) * 2)
        cand = simulate_trials(
            d, cand_seeds, noise_seed=(seed * 1_000_003 + start) * 2 + 1, weight_scale=ws
        )
        if cond.effect == "rate-10%":
            cand = [thin(t, 0.9, rng) for t in cand]
        elif cond.effect == "cv-20%":
            cand = [regularize(t, 0.2) for t in cand]
        for i in range(len(r)):
            res = compare(
                ref[i * n : (i + 1) * n],
                cand[i * n : (i + 1) * n],
                d.stats,
                alpha=d.alpha,
                paired=d.paired,
                seed=int(seed * 100_000 + r[i]),
            )
            fails += not res.passed
            p = res.table["p"].to_numpy(float)
            raw += int(np.sum(p[np.isfinite(p)] <= d.alpha))
            raw_n += int(np.isfinite(p).sum())
            named += int(res.table["differs"].sum())
            for stat, rows in res.table.groupby("stat", sort=False):
                q = rows["p"].to_numpy(float)
                k_n = by_stat.setdefault(str(stat), [0, 0])
                k_n[0] += int(np.sum(q[np.isfinite(q)] <= d.alpha))
                k_n[1] += int(np.isfinite(q).sum())
            target = res.table[res.table["stat"] == cond.target]
            ratios.append(float(np.nanmean(target["cand"]) / np.nanmean(target["ref"])))
    return Measurement(
        name,
        Rate(fails, reps),
        Rate(raw, max(raw_n, 1)),
        Rate(named, max(raw_n, 1)),
        float(np.mean(ratios)),
        time.perf_counter() - t0,
        {k: Rate(v[0], max(v[1], 1)) for k, v in by_stat.items()},
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m hil.compare.error_rates", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--reps", type=int, default=200, help="repetitions per condition (default 200)")
    ap.add_argument(
        "--conditions", default=",".join(CONDITIONS), help="comma-separated; default all"
    )
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    names = [s for s in a.conditions.split(",") if s]
    for s in names:
        if s not in CONDITIONS:
            print(f"error: condition {s!r}; allowed: {', '.join(CONDITIONS)}", file=sys.stderr)
            return 2
    d0 = Design()
    print(
        f"example_config({d0.config_seed}), {d0.n_trials} trials per side of {d0.duration_s:g} s, "
        f"Poisson input {d0.input_rate_hz:g} Hz x 16 channels, membrane noise {d0.noise_A:g} A, "
        f"dt {d0.dt:g} s, alpha {d0.alpha:g}, Holm; {a.reps} repetitions, seed {a.seed}\n"
    )
    print(
        "| condition | stats | design | verdict 'differs' (95% CI) | single tests p <= alpha "
        "| (stat, neuron) named | realised effect | s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    by_stat = []
    for s in names:
        m = measure(s, a.reps, a.seed)
        d = CONDITIONS[s].design
        stats = ", ".join(d.stats) if len(d.stats) < 4 else f"all {len(d.stats)}"
        print(
            f"| {s} | {stats} | {'paired' if d.paired else 'unpaired'} | {m.verdict} "
            f"| {m.raw_rejections.value:.1%} | {m.named.value:.1%} "
            f"| {CONDITIONS[s].target} x{m.realised:.3f} | {m.seconds:.0f} |",
            flush=True,
        )
        rates = ", ".join(f"{k} {r.value:.1%}" for k, r in m.raw_by_stat.items())
        by_stat.append(f"- {s}: {rates}")
    print("\nsingle tests with p <= alpha, by statistic:\n" + "\n".join(by_stat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
