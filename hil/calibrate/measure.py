"""What calibration sets and measures: one measurement per quantity, all cores at once.

Each measurement builds its own setup (a config where every neuron of every calibrated core takes
part, with the biases that make the quantity visible in spike times), then measures the per-neuron
value at the codes a search asks for: one board run per step, every core in that run. A core's
statistic is the median over its neurons, bad neurons (dead, hot) left out.

- t_ref (SOIF_REFR_N): strong DC drive, high membrane gain, low threshold: the membrane reaches
  threshold in about a microsecond, so the inter-spike interval is the refractory period
  (t_ref = mean ISI minus the charge time, which the same model gives).
- tau_mem (SOIF_LEAK_N): with the membrane gain far above the threshold (Igain ~ 2.4 uA, Ispkthr
  ~ 100 nA) the DPI neuron stays in its subthreshold regime up to the spike, where
  Itau tau d ln(I)/dt = Iin - Itau + Ia(I), Ia = Io (I/Io)^gamma (docs/sim.md), and Itau tau =
  (Ut/kappa) C_mem = K does not depend on the leak. The interval at DC input Iin is then
      T(a) = (K/a) [L - ln((a + Io e^(gamma L)) / (a + Io)) / gamma],  a = Iin - Itau,
  L = ln(Ispkthr/Io): a closed form in which the leak current enters in amperes. A prelude fits,
  per neuron, Itau, the unknown scale s of its DC input (Iin = s x, x the code's nominal current)
  and its own L to the intervals at four DC levels on one coarse branch; each search step then
  needs one run at one level and inverts T for a, Itau = s x - a, tau_mem = K / Itau.
  Refractory period: the shortest the generator gives (sub-nanosecond), so it does not count.
- tau_gaba (DEGA_ITAU_P) and tau_ampa (DEAM_ETAU_P): GabaMeasurement and AmpaMeasurement below,
  the setups, runs and estimators of hil.experiments.syntau (one estimator for calibration and
  the characterization's per-neuron time constants; docs/calibration.md).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass

import numpy as np

from hil import events as ev
from hil.calibrate.session import Session
from hil.calibrate.target import QUANTITIES, Quantity
from hil.chip.biasgen import bias_code, bias_current
from hil.chip.config import Chip, ChipConfig, InputRoute, Neuron, Synapse, mask_bits
from hil.chip.geometry import (
    COARSE_MAX,
    CORES_PER_CHIP,
    FINE_MAX,
    NEURONS_PER_CORE,
    Dendrite,
    global_neuron,
)
from hil.experiments import syntau
from hil.experiments.models import (
    K_MEM,
    PHYS,
    interval,
    invert_interval,
    levenberg_marquardt,
)

MAX_CODE = (COARSE_MAX, FINE_MAX)
THRESHOLD_A = 10e-9  # spike threshold of the survey and t_ref setups [A]
# tau_mem setup: a high threshold, so the positive feedback, not the threshold, ends the interval
# (T hardly depends on the threshold: its per-core error falls out), still << Igain (~2.4 uA)
LEAK_THRESHOLD_A = 100e-9
MIN_SPIKES = 3  # a neuron needs this many spikes in a run for an interval


def _code(bias: str, amps: float) -> tuple[int, int]:
    c, f = bias_code(bias, amps)
    return int(c), int(f)


Cores = list[tuple[int, int]]


KICK_CHANNEL = 0  # input channel of the synaptic kicks
KICK_TAG = 1  # its tag on every chip


def setup_config(
    cores: Cores,
    biases: dict[str, tuple[int, int]],
    dc: bool = True,
    synapse: Dendrite | None = None,
) -> ChipConfig:
    """A config with every neuron of `cores` set (latch_so_dc = `dc`) and `biases` on each core;
    with `synapse`, every neuron listens to input channel KICK_CHANNEL on one CAM slot of that
    type (base weight Iw_0)."""
    n_chips = max(c for c, _ in cores) + 1
    cfg = ChipConfig(chips=[Chip() for _ in range(n_chips)])
    syn = [] if synapse is None else [Synapse(KICK_TAG, synapse, mask_bits(1))]
    for chip, k in cores:
        core = cfg.core(chip, k)
        core.parameters = dict(biases)
        core.neurons = {
            n: Neuron(synapses=list(syn), latches={"latch_so_dc": dc})
            for n in range(NEURONS_PER_CORE)
        }
    if synapse is not None:
        for chip in range(n_chips):
            on = [(chip, k) in cores for k in range(CORES_PER_CHIP)]
            if any(on):
                cfg.inputs.append(
                    InputRoute(KICK_CHANNEL, chip, KICK_TAG, (on[0], on[1], on[2], on[3]))
                )
    return cfg.validate()


def neuron_index(cores: Cores) -> np.ndarray:
    """(n_cores, 256) board-wide indices of the neurons of `cores`."""
    return np.array(
        [[global_neuron(c, k, n) for n in range(NEURONS_PER_CORE)] for c, k in cores], np.int64
    )


def periods(spikes: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per neuron of `index` (any shape): (mean inter-spike interval [s] from the first spike to
    the last, NaN with fewer than MIN_SPIKES spikes; spike count)."""
    g = ev.global_index(spikes)
    order = np.lexsort((spikes["t_us"], g))
    g, t = g[order], spikes["t_us"][order].astype(np.float64)
    flat = index.ravel()
    n = np.zeros(flat.size, np.int64)
    first = np.full(flat.size, np.nan)
    last = np.full(flat.size, np.nan)
    if g.size:
        lo = np.searchsorted(g, flat, "left")
        hi = np.searchsorted(g, flat, "right")
        n = hi - lo
        has = n > 0
        first[has] = t[lo[has]]
        last[has] = t[hi[has] - 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(n >= MIN_SPIKES, (last - first) / np.maximum(n - 1, 1) * 1e-6, np.nan)
    return per.reshape(index.shape), n.reshape(index.shape)


@dataclass
class BadNeurons:
    """(n_cores, 256) bool maps: dead (silent under the strongest drive) and hot (firing with no
    input at all)."""

    dead: np.ndarray
    hot: np.ndarray

    @property
    def bad(self) -> np.ndarray:
        return self.dead | self.hot


def survey(session: Session, cores: Cores) -> BadNeurons:
    """Dead and hot neurons of `cores` by `hil.experiments.HotDead` (its design, durations and
    thresholds: one definition for calibration, characterization and the campaign's screen), run
    on the whole board through `run_experiment` and counted in `session`."""
    from hil.experiments import HotDead, run_experiment

    result = run_experiment(session.board, HotDead(), show_progress=False)
    session.add_experiment(result)
    t = result.table
    size = session.board.info().n_chips * NEURONS_PER_CORE * CORES_PER_CHIP
    where = np.array(
        [global_neuron(c, k, n) for c, k, n in zip(t["chip"], t["core"], t["neuron"], strict=True)],
        np.int64,
    )
    dead, hot = np.zeros(size, bool), np.zeros(size, bool)
    dead[where], hot[where] = t["dead"].to_numpy(bool), t["hot"].to_numpy(bool)
    idx = neuron_index(cores)
    return BadNeurons(dead=dead[idx], hot=hot[idx])


@dataclass
class Probe:
    """One board run's answer: per-neuron values (n_cores, 256) [s] and per-core medians."""

    values: np.ndarray
    medians: np.ndarray


class Measurement(abc.ABC):
    """What to set (a setup and the bias under search) and what to measure (per-neuron values of
    one quantity, per-core medians). Subclasses: one per quantity."""

    quantity: Quantity

    def __init__(self, session: Session, cores: Cores, target: float, bad: BadNeurons):
        self.session, self.cores, self.target, self.bad = session, cores, target, bad
        self.index = neuron_index(cores)

    @abc.abstractmethod
    def prepare(self, start: list[tuple[int, int]]) -> None:
        """Apply the setup with the searched bias at `start` (one code per core); any prelude."""

    @abc.abstractmethod
    def values(self, codes: list[tuple[int, int]]) -> np.ndarray:
        """(n_cores, 256) per-neuron values [s] after one run at `codes`; NaN where unknown,
        0 / inf where the neuron shows the value is below / above anything measurable."""

    def probe(self, codes: list[tuple[int, int]]) -> Probe:
        self.session.set_biases(
            {
                (c, k, self.quantity.bias): code
                for (c, k), code in zip(self.cores, codes, strict=True)
            }
        )
        v = self.values(codes)
        v = np.where(self.bad.bad, np.nan, v)
        med = np.array([np.median(r[~np.isnan(r)]) if (~np.isnan(r)).any() else np.nan for r in v])
        return Probe(v, med)


class RefractoryMeasurement(Measurement):
    quantity = QUANTITIES["t_ref"]

    def prepare(self, start: list[tuple[int, int]]) -> None:
        biases = {
            "SOIF_DC_P": MAX_CODE,
            "SOIF_GAIN_N": MAX_CODE,
            "SOIF_SPKTHR_P": _code("SOIF_SPKTHR_P", THRESHOLD_A),
            "SOIF_REFR_N": start[0],
        }
        self.session.apply(setup_config(self.cores, biases))
        i_dc = float(bias_current("SOIF_DC_P", *MAX_CODE))
        i_thr = float(bias_current("SOIF_SPKTHR_P", *biases["SOIF_SPKTHR_P"]))
        self.charge_s = interval(
            np.array(i_dc), math.log(i_thr / PHYS.Io)
        )  # ~1 us: what is left of the ISI

    def values(self, codes: list[tuple[int, int]]) -> np.ndarray:
        q = self.quantity
        expect = max(q.value_of(float(bias_current(q.bias, *c))) for c in codes)
        duration = float(np.clip(8 * expect, 0.02, 2.0))
        per, n = periods(self.session.run(duration), self.index)
        v = per - self.charge_s
        return np.where(n < MIN_SPIKES, np.inf, v)  # fewer spikes: longer than the run can show


class LeakMeasurement(Measurement):
    """tau_mem from DC intervals in the subthreshold regime (module docstring)."""

    quantity = QUANTITIES["tau_mem"]
    LEVELS = (3.0, 6.0, 12.0, 24.0)  # DC levels as multiples of the target's nominal leak
    STEP_LEVEL = 1  # the level each search step runs at (6x: a well above the noise)

    def prepare(self, start: list[tuple[int, int]]) -> None:
        q = self.quantity
        leak = q.current_for(self.target)
        top = max(self.LEVELS) * leak
        coarse = next(
            (c for c in range(COARSE_MAX + 1) if bias_current("SOIF_DC_P", c, FINE_MAX) >= top),
            COARSE_MAX,
        )
        fines = [
            int(np.clip(round(float(np.interp(m * leak, *self._branch(coarse)))), 1, FINE_MAX))
            for m in self.LEVELS
        ]
        self.levels = [(coarse, f) for f in fines]
        self.x = np.array([float(bias_current("SOIF_DC_P", *c)) for c in self.levels])
        self.thr_code = _code("SOIF_SPKTHR_P", LEAK_THRESHOLD_A)
        self.i_thr = float(bias_current("SOIF_SPKTHR_P", *self.thr_code))
        biases = {
            "SOIF_DC_P": self.levels[0],
            "SOIF_GAIN_N": MAX_CODE,
            "SOIF_SPKTHR_P": self.thr_code,
            "SOIF_REFR_N": MAX_CODE,
            "SOIF_LEAK_N": start[0],
        }
        self.session.apply(setup_config(self.cores, biases))
        self.session.set_biases(
            {(c, k, q.bias): code for (c, k), code in zip(self.cores, start, strict=True)}
        )
        T = []
        for lv in self.levels:
            self.session.set_biases({(c, k, "SOIF_DC_P"): lv for c, k in self.cores})
            T.append(periods(self.session.run(self._duration(lv)), self.index)[0])
        self.scale, self.L = self._fit_scale(np.array(T))
        lv = self.levels[self.STEP_LEVEL]
        self.session.set_biases({(c, k, "SOIF_DC_P"): lv for c, k in self.cores})

    @staticmethod
    def _branch(coarse: int) -> tuple[np.ndarray, np.ndarray]:
        f = np.arange(FINE_MAX + 1)
        return bias_current("SOIF_DC_P", coarse, f), f.astype(np.float64)

    def _duration(self, level: tuple[int, int]) -> float:
        """Long enough for ~10 intervals at the target leak and the nominal DC scale."""
        leak = self.quantity.current_for(self.target)
        a = float(bias_current("SOIF_DC_P", *level)) - leak
        L = math.log(self.i_thr / PHYS.Io)
        return float(np.clip(10 * interval(np.array(max(a, 0.3 * leak)), L), 0.05, 3.0))

    def _fit_scale(self, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per neuron, least squares in log T over p = (log Itau, log s, L): the threshold's own
        error (L = ln(Ispkthr / Io)) shows at the high levels, the leak at the low ones.
        Levenberg-Marquardt vectorized over the neurons. Returns (s, L), NaN where a level gave
        no interval."""
        shape = T.shape[1:]
        logT = np.log(T.reshape(T.shape[0], -1).T)  # (n, levels)
        ok = np.all(np.isfinite(logT), axis=1)
        logT = logT[ok]
        L0 = math.log(self.i_thr / PHYS.Io)
        lo = np.array([-40.0, -3.0, L0 - 3])
        hi = np.array([-10.0, 3.0, L0 + 3])
        p = np.tile([math.log(self.quantity.current_for(self.target)), 0.0, L0], (len(logT), 1))

        def resid(p: np.ndarray) -> np.ndarray:
            a = np.exp(p[:, 1:2]) * self.x[None, :] - np.exp(p[:, 0:1])
            with np.errstate(all="ignore"):
                r = np.log(interval(a, p[:, 2:3])) - logT
            return np.where(np.isfinite(r), r, 10.0)

        p, _ = levenberg_marquardt(resid, p, lo, hi, 60)
        s = np.full(ok.size, np.nan)
        L = np.full(ok.size, np.nan)
        s[ok], L[ok] = np.exp(p[:, 1]), p[:, 2]
        return s.reshape(shape), L.reshape(shape)

    def values(self, codes: list[tuple[int, int]]) -> np.ndarray:
        lv = self.levels[self.STEP_LEVEL]
        per, n = periods(self.session.run(self._duration(lv)), self.index)
        a = invert_interval(per, np.where(np.isfinite(self.L), self.L, 0.0))
        leak = self.scale * self.x[self.STEP_LEVEL] - a
        with np.errstate(all="ignore"):
            tau = np.where(leak > 0, K_MEM / leak, np.inf)
        # silent: the leak outweighs the drive, tau is short (below what this level shows)
        tau = np.where(n < MIN_SPIKES, 0.0, tau)
        return np.where(np.isfinite(self.scale), tau, np.nan)


class GabaMeasurement(Measurement):
    """tau_gaba from how long a GABA kick silences a DC-driven neuron: the silence design and
    estimator of hil.experiments.syntau (shared with the characterization's `tau_gaba`)."""

    quantity = QUANTITIES["tau_gaba"]

    def prepare(self, start: list[tuple[int, int]]) -> None:
        biases = {**syntau.silence_biases("gaba"), self.quantity.bias: start[0]}
        self.session.apply(setup_config(self.cores, biases, synapse=Dendrite.GABA))

    def values(self, codes: list[tuple[int, int]]) -> np.ndarray:
        q = self.quantity
        tau = max(q.value_of(float(bias_current(q.bias, *c))) for c in codes) * 1.5
        run = syntau.silence_run(tau, [KICK_CHANNEL])
        spikes = self.session.run(run.end_us * 1e-6, run.stimulus)
        return syntau.silence_tau(spikes, self.index, run)


class AmpaMeasurement(Measurement):
    """tau_ampa from the slowing spike train after one AMPA kick: the train design and estimator
    of hil.experiments.syntau (shared with the characterization's `tau_ampa`); tau in seconds,
    whatever the neuron's weight, gain, threshold or refractory period."""

    quantity = QUANTITIES["tau_ampa"]

    def prepare(self, start: list[tuple[int, int]]) -> None:
        self.setup = syntau.train_setup("ampa", self.target)
        biases = {**self.setup.biases, self.quantity.bias: start[0]}
        self.session.apply(setup_config(self.cores, biases, dc=False, synapse=Dendrite.AMPA))

    def values(self, codes: list[tuple[int, int]]) -> np.ndarray:
        q = self.quantity
        tau = max(q.value_of(float(bias_current(q.bias, *c))) for c in codes)
        stim, end = syntau.train_run(max(tau, self.target), [KICK_CHANNEL])
        spikes = self.session.run(end, stim)
        return syntau.train_tau(spikes, self.index, self.setup, end)


MEASUREMENTS: dict[str, type[Measurement]] = {
    "t_ref": RefractoryMeasurement,
    "tau_mem": LeakMeasurement,
    "tau_gaba": GabaMeasurement,
    "tau_ampa": AmpaMeasurement,
}
