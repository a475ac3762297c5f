"""Silicon personality: the hidden, per-chip truth of an emulated Dynap-SE2 board.

A `Silicon` is a small JSON record (schema `hil.silicon/1`, documented in docs/silicon.md): the
chip id, a realization seed, the statistics of every kind of imperfection, and a day counter. The
per-element truth (every neuron's effective currents, every synapse's weight factor, the dead and
hot neurons) is a pure function of that record: `Silicon.truth(config)` draws it from seeded
streams, so a personality file of a few kB stands for ~100k hidden numbers and is reproducible
bit for bit.

Effective current of parameter p (simulation name) at neuron (chip, core, neuron), for a core whose
bias for p is the code (coarse, fine):

    I_eff = I_code(coarse, fine) * B[chip, core, bias, coarse]     bias-generator error (per branch)
                                 * C[chip, core, p]                per-core mismatch
                                 * M[chip, core, neuron, p]        per-neuron mismatch
                                 * D[chip, core, neuron, p](day)   drift

Base weights Iw_0..3 have no per-neuron factor; each CAM slot (chip, core, neuron, slot) has its own
weight factor W instead. Mismatch of subthreshold currents is exponential in threshold-voltage
mismatch (paper_facts.md D: Neckar et al. 2018), hence lognormal factors by default; measured DPI
spreads are roughly Gaussian with std proportional to the mean, about 10 % (paper_facts.md D, ICLR
2022 Fig. S1; Rockpool's default is 10 % relative std per element, rockpool_dynapse.md section 5).

The truth never crosses the wire: only the emulator's engine reads it; `write_truth` exports it for
tests and audits of the mismatch fitting.
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np

from hil.artifacts import parse_json, read_json, write_atomic
from hil.chip.biasgen import bias_current
from hil.chip.config import ChipConfig
from hil.chip.geometry import (
    COARSE_MAX,
    CORES_PER_CHIP,
    MAX_CHIPS,
    NEURONS_PER_CHIP,
    NEURONS_PER_CORE,
    SYNAPSES_PER_NEURON,
    neuron_address,
)
from hil.chip.mismatch import FAMILIES as FAMILIES  # re-exported: the factor families
from hil.chip.mismatch import draw_factors as draw_factors  # re-exported: the shared sampler
from hil.chip.netlist import BASE_WEIGHTS, BIAS_CURRENTS, NEURON_CURRENTS, nominal_codes
from hil.chip.params import SIM_TO_DEVICE
from hil.errors import ConfigError

SCHEMA = "hil.silicon/1"
# Every simulated bias, by simulation name (hil.chip.netlist.BIAS_CURRENTS, Rockpool's order).
PARAMETERS: tuple[str, ...] = BIAS_CURRENTS
# Parameters that have a per-neuron factor (base weights vary per synapse instead).
NEURON_PARAMETERS: tuple[str, ...] = NEURON_CURRENTS
# Extra truth columns after the currents.
EXTRA_COLUMNS: tuple[str, ...] = ("Ihot", "noise_std", "dead", "hot")
TRUTH_COLUMNS: tuple[str, ...] = ("chip", "core", "neuron", *PARAMETERS, *EXTRA_COLUMNS)
# Nominal codes: what a bias that a config leaves unset is at (hil.chip.params.HighLevel defaults).
NOMINAL_CODES: dict[str, tuple[int, int]] = nominal_codes()


def _stream(*parts: int | str) -> np.random.Generator:
    """An independent, reproducible random stream named by `parts` (ints and strings)."""
    key = [p if isinstance(p, int) else zlib.crc32(p.encode()) for p in parts]
    return np.random.default_rng(np.random.SeedSequence(key))


# ---- the record --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """Mismatch of one parameter: factor family and relative spreads per core and per neuron."""

    family: str = "lognormal"
    core_sigma: float = 0.0  # relative std of the per-core factor (shared by 256 neurons)
    neuron_sigma: float = 0.0  # relative std of the per-neuron factor


@dataclass(frozen=True)
class Drift:
    """How the silicon ages, per day of the day counter.

    log D = walk[chip, core, p](day) + rate[chip, core, neuron, p] * day + trend[p] * day, where the
    per-core walk is a Gaussian random walk with step `core_walk_sigma` per day and each neuron's
    rate is drawn once, N(0, neuron_rate_sigma). Dead and hot fractions grow linearly with day.
    """

    core_walk_sigma: float = 0.0  # relative std of one day's step of the per-core walk
    neuron_rate_sigma: float = 0.0  # relative std of a neuron's drift rate [1/day]
    trend: Mapping[str, float] = field(default_factory=dict)  # common rate per parameter [1/day]
    dead_per_day: float = 0.0  # fraction of neurons that die per day
    hot_per_day: float = 0.0  # fraction of neurons that turn hot per day

    def __post_init__(self) -> None:
        object.__setattr__(self, "trend", MappingProxyType(dict(self.trend)))  # read-only


@dataclass(frozen=True)
class Silicon:
    """One chip stack's hidden personality (see module docstring and docs/silicon.md)."""

    silicon_id: str
    seed: int  # realization seed of every per-element draw
    n_chips: int = 1
    day: int = 0
    mismatch: Mapping[str, Spread] = field(default_factory=dict)  # by simulation name
    weight_family: str = "lognormal"
    weight_sigma: float = 0.0  # relative std of the per-synapse (CAM slot) weight factor
    biasgen_sigma: float = 0.0  # relative std (lognormal) of the per (core, bias, coarse) error
    noise_std_A: float = 0.0  # median std [A] of each neuron's membrane noise current
    noise_neuron_sigma: float = 0.0  # relative spread (lognormal) of the noise std across neurons
    noise_tau_s: float = 1e-3  # correlation time [s] of the noise (Ornstein-Uhlenbeck)
    dead_fraction: float = 0.0  # fraction of neurons that never spike (on day 0)
    hot_fraction: float = 0.0  # fraction of neurons with a leak into the membrane (on day 0)
    hot_current_A: float = 0.0  # median extra DC input [A] of a hot neuron
    hot_sigma: float = 0.0  # relative spread (lognormal) of the hot current
    drift: Drift = field(default_factory=Drift)
    notes: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.mismatch, Mapping):
            raise ConfigError("mismatch", self.mismatch, "an object of parameter -> spread")
        object.__setattr__(self, "mismatch", MappingProxyType(dict(self.mismatch)))  # read-only
        _check(self)

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_seed(cls, seed: int, n_chips: int = 1) -> Silicon:
        """A realistic personality drawn from `seed`: 10-30 % total spread per current.

        Per-neuron spreads 8-18 %, per-core 2-8 %, bias-generator error 2-6 % per branch, synaptic
        weight spread 8-20 % (paper_facts.md D: ~10 % measured on DPI circuits; 20 % and 30 %
        appear as simulation assumptions), up to 0.5 % dead and 0.2 % hot neurons (50-150 pA of
        extra DC input, i.e. about 8-15 Hz at nominal biases), 0.5-2 pA
        membrane noise, and slow drift (0.1-0.3 % per day per core, 0.02-0.08 % per day per neuron).
        """
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ConfigError("seed", seed, "an integer >= 0")
        rng = _stream(seed, "from_seed")
        mismatch = {}
        for p in PARAMETERS:
            neuron = 0.0 if p in BASE_WEIGHTS else float(rng.uniform(0.08, 0.18))
            mismatch[p] = Spread("lognormal", float(rng.uniform(0.02, 0.08)), neuron)
        trend = {p: float(rng.normal(0.0, 2e-4)) for p in ("Itau_mem", "Ispkthr", "Igain_mem")}
        return cls(
            silicon_id=f"emu-seed-{seed}",
            seed=seed,
            n_chips=n_chips,
            day=0,
            mismatch=mismatch,
            weight_family="lognormal",
            weight_sigma=float(rng.uniform(0.08, 0.2)),
            biasgen_sigma=float(rng.uniform(0.02, 0.06)),
            noise_std_A=float(rng.uniform(0.5e-12, 2e-12)),
            noise_neuron_sigma=0.3,
            noise_tau_s=1e-3,
            dead_fraction=float(rng.uniform(0.0, 0.005)),
            hot_fraction=float(rng.uniform(0.0, 0.002)),
            hot_current_A=float(rng.uniform(5e-11, 1.5e-10)),
            hot_sigma=0.5,
            drift=Drift(
                core_walk_sigma=float(rng.uniform(1e-3, 3e-3)),
                neuron_rate_sigma=float(rng.uniform(2e-4, 8e-4)),
                trend=trend,
                dead_per_day=float(rng.uniform(0.0, 2e-5)),
                hot_per_day=float(rng.uniform(0.0, 1e-5)),
            ),
            notes=f"drawn by Silicon.from_seed({seed}, n_chips={n_chips})",
        )

    def at_day(self, day: int) -> Silicon:
        """The same silicon on day `day` (>= 0) of its day counter."""
        return replace(self, day=day)

    # -- JSON ----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "silicon_id": self.silicon_id,
            "seed": self.seed,
            "n_chips": self.n_chips,
            "day": self.day,
            "mismatch": {
                p: {"family": s.family, "core_sigma": s.core_sigma, "neuron_sigma": s.neuron_sigma}
                for p, s in self.mismatch.items()
            },
            "weight": {"family": self.weight_family, "sigma": self.weight_sigma},
            "biasgen": {"sigma": self.biasgen_sigma},
            "noise": {
                "std_A": self.noise_std_A,
                "neuron_sigma": self.noise_neuron_sigma,
                "tau_s": self.noise_tau_s,
            },
            "dead": {"fraction": self.dead_fraction},
            "hot": {
                "fraction": self.hot_fraction,
                "current_A": self.hot_current_A,
                "sigma": self.hot_sigma,
            },
            "drift": {
                "core_walk_sigma": self.drift.core_walk_sigma,
                "neuron_rate_sigma": self.drift.neuron_rate_sigma,
                "trend": dict(self.drift.trend),
                "dead_per_day": self.drift.dead_per_day,
                "hot_per_day": self.drift.hot_per_day,
            },
            "notes": self.notes,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: object) -> Silicon:
        """Parse a `hil.silicon/1` record; any problem raises ConfigError naming the field."""
        return _parse(data)

    @classmethod
    def from_json(cls, text: str) -> Silicon:
        return cls.from_dict(parse_json(text, "<silicon json>"))

    @classmethod
    def load(cls, path: str | Path) -> Silicon:
        """Read a silicon personality (JSON) from `path`."""
        return cls.from_dict(read_json(path, "silicon file"))

    def save(self, path: str | Path) -> Path:
        """Write the record as JSON, atomically."""
        return write_atomic(path, self.to_json())

    # -- the truth -----------------------------------------------------------------------------
    @property
    def n_neurons(self) -> int:
        return self.n_chips * NEURONS_PER_CHIP

    def truth(self, config: ChipConfig | None = None) -> Truth:
        """Every hidden per-element value on day `self.day`, for the biases of `config`.

        Biases a config leaves unset (or a config of None) are at their nominal codes
        (`NOMINAL_CODES`, the HighLevel defaults). Chips beyond the config's are nominal too.
        """
        return _truth(self, config)

    def write_truth(self, path: str | Path, config: ChipConfig | None = None) -> Path:
        """Write the per-neuron truth as CSV (columns `TRUTH_COLUMNS`, one row per neuron)."""
        return self.truth(config).write_csv(path)

    def nominal(self, config: ChipConfig | None = None) -> dict[str, np.ndarray]:
        """What `config`'s codes nominally give [A] per simulation name, shape (N,) (no silicon);
        `truth(config).currents[p] / nominal(config)[p]` is the hidden relative factor."""
        out = {}
        for p in PARAMETERS:
            dev = SIM_TO_DEVICE[p]
            per_core = [
                float(bias_current(dev, *_codes(config, ci, k)[dev]))
                for ci in range(self.n_chips)
                for k in range(CORES_PER_CHIP)
            ]
            out[p] = np.repeat(per_core, NEURONS_PER_CORE)
        return out


@dataclass(frozen=True)
class Truth:
    """The hidden values of one silicon on one day under one config's biases.

    currents: simulation name -> effective current [A], shape (N,) over the board-wide neuron index
    chip*1024 + core*256 + neuron (base weights Iw_k too: per core, repeated over its neurons).
    weight_factor: (n_chips, 4, 256, 64) factor of each CAM slot's weight.
    Ihot [A], noise_std [A]: (N,); dead, hot: (N,) bool; noise_tau_s [s].
    """

    silicon_id: str
    day: int
    currents: dict[str, np.ndarray]
    weight_factor: np.ndarray
    Ihot: np.ndarray
    noise_std: np.ndarray
    noise_tau_s: float
    dead: np.ndarray
    hot: np.ndarray

    def rows(self) -> np.ndarray:
        """(N, 3) integer addresses (chip, core, neuron) in board-wide index order."""
        return np.stack(neuron_address(np.arange(self.dead.size)), axis=1)

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(TRUTH_COLUMNS)
        addr = self.rows()
        cols = [self.currents[p] for p in PARAMETERS] + [self.Ihot, self.noise_std]
        for i in range(addr.shape[0]):
            w.writerow(
                [*addr[i].tolist()]
                + [f"{float(c[i]):.9g}" for c in cols]
                + [int(self.dead[i]), int(self.hot[i])]
            )
        return buf.getvalue()

    def write_csv(self, path: str | Path) -> Path:
        return write_atomic(path, self.to_csv())


def _drift_log(s: Silicon, p: str) -> np.ndarray:
    """log drift factor of parameter p on day s.day, shape (n_chips, 4, 256)."""
    d = s.drift
    out = np.zeros((s.n_chips, CORES_PER_CHIP, NEURONS_PER_CORE))
    if s.day == 0:
        return out
    if d.core_walk_sigma > 0:
        steps = _stream(s.seed, "drift-walk", p).standard_normal((s.day, s.n_chips, CORES_PER_CHIP))
        out += d.core_walk_sigma * steps.sum(axis=0)[:, :, None]
    if d.neuron_rate_sigma > 0 and p not in BASE_WEIGHTS:
        rate = d.neuron_rate_sigma * _stream(s.seed, "drift-rate", p).standard_normal(out.shape)
        out += rate * s.day
    out += d.trend.get(p, 0.0) * s.day
    return out


def _codes(config: ChipConfig | None, chip: int, core: int) -> dict[str, tuple[int, int]]:
    codes = dict(NOMINAL_CODES)
    if config is not None and chip < len(config.chips):
        c = config.chips[chip].cores.get(core)
        if c is not None:
            codes.update(c.parameters)
    return codes


def _truth(s: Silicon, config: ChipConfig | None) -> Truth:
    nc, N = s.n_chips, s.n_neurons
    shape = (nc, CORES_PER_CHIP, NEURONS_PER_CORE)
    # bias-generator error: one factor per (chip, core, device bias, coarse branch)
    bg = {}
    for p in PARAMETERS:
        dev = SIM_TO_DEVICE[p]
        bg[p] = (
            draw_factors(
                _stream(s.seed, "biasgen", dev), "lognormal", s.biasgen_sigma, (*shape[:2], 6)
            )
            if s.biasgen_sigma > 0
            else np.ones((*shape[:2], COARSE_MAX + 1))
        )
    currents: dict[str, np.ndarray] = {}
    for p in PARAMETERS:
        dev = SIM_TO_DEVICE[p]
        nominal = np.empty(shape[:2])
        coarse = np.empty(shape[:2], np.int64)
        for ci in range(nc):
            for k in range(CORES_PER_CHIP):
                c, f = _codes(config, ci, k)[dev]
                nominal[ci, k] = float(bias_current(dev, c, f))
                coarse[ci, k] = c
        bgf = np.take_along_axis(bg[p], coarse[:, :, None], axis=2)[:, :, 0]
        sp = s.mismatch.get(p, Spread())
        core_f = (
            draw_factors(_stream(s.seed, "core", p), sp.family, sp.core_sigma, shape[:2])
            if sp.core_sigma > 0
            else np.ones(shape[:2])
        )
        neuron_f = (
            draw_factors(_stream(s.seed, "neuron", p), sp.family, sp.neuron_sigma, shape)
            if sp.neuron_sigma > 0 and p not in BASE_WEIGHTS
            else np.ones(shape)
        )
        eff = (nominal * bgf * core_f)[:, :, None] * neuron_f * np.exp(_drift_log(s, p))
        currents[p] = eff.reshape(N)
    weight_factor = (
        draw_factors(
            _stream(s.seed, "weight"),
            s.weight_family,
            s.weight_sigma,
            (*shape, SYNAPSES_PER_NEURON),
        )
        if s.weight_sigma > 0
        else np.ones((*shape, SYNAPSES_PER_NEURON))
    )
    u_dead = _stream(s.seed, "dead").random(N)
    u_hot = _stream(s.seed, "hot").random(N)
    dead = u_dead < s.dead_fraction + s.drift.dead_per_day * s.day
    hot = (u_hot < s.hot_fraction + s.drift.hot_per_day * s.day) & ~dead
    Ihot = np.where(
        hot,
        s.hot_current_A * draw_factors(_stream(s.seed, "Ihot"), "lognormal", s.hot_sigma, (N,)),
        0.0,
    )
    noise = s.noise_std_A * draw_factors(
        _stream(s.seed, "noise"), "lognormal", s.noise_neuron_sigma, (N,)
    )
    return Truth(
        silicon_id=s.silicon_id,
        day=s.day,
        currents=currents,
        weight_factor=weight_factor,
        Ihot=Ihot,
        noise_std=noise,
        noise_tau_s=s.noise_tau_s,
        dead=dead,
        hot=hot,
    )


# ---- validation and parsing ----------------------------------------------------------------------


def _num(path: str, v: object, lo: float, hi: float, what: str = "a number") -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not (lo <= v <= hi):
        raise ConfigError(path, v, f"{what} in [{lo:g}, {hi:g}]")
    return float(v)


def _int(path: str, v: object, lo: int, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        raise ConfigError(
            path, v, f"an integer >= {lo}" + (f" and <= {hi}" if hi is not None else "")
        )
    return v


def _family(path: str, v: object) -> str:
    if v not in FAMILIES:
        raise ConfigError(path, v, "one of " + ", ".join(FAMILIES))
    return str(v)


def _check(s: Silicon) -> None:
    if not isinstance(s.silicon_id, str) or not s.silicon_id or len(s.silicon_id) > 64:
        raise ConfigError("silicon_id", s.silicon_id, "a non-empty string of at most 64 characters")
    _int("seed", s.seed, 0)
    _int("n_chips", s.n_chips, 1, MAX_CHIPS)
    _int("day", s.day, 0, 100_000)
    for p, sp in s.mismatch.items():
        if p not in PARAMETERS:
            raise ConfigError(f"mismatch.{p}", p, "a simulation name: " + ", ".join(PARAMETERS))
        if not isinstance(sp, Spread):
            raise ConfigError(f"mismatch.{p}", sp, "a Spread")
        _family(f"mismatch.{p}.family", sp.family)
        _num(f"mismatch.{p}.core_sigma", sp.core_sigma, 0.0, 2.0)
        _num(f"mismatch.{p}.neuron_sigma", sp.neuron_sigma, 0.0, 2.0)
    _family("weight.family", s.weight_family)
    _num("weight.sigma", s.weight_sigma, 0.0, 2.0)
    _num("biasgen.sigma", s.biasgen_sigma, 0.0, 2.0)
    _num("noise.std_A", s.noise_std_A, 0.0, 1e-6, "a current [A]")
    _num("noise.neuron_sigma", s.noise_neuron_sigma, 0.0, 2.0)
    _num("noise.tau_s", s.noise_tau_s, 1e-6, 10.0, "a time [s]")
    _num("dead.fraction", s.dead_fraction, 0.0, 1.0)
    _num("hot.fraction", s.hot_fraction, 0.0, 1.0)
    _num("hot.current_A", s.hot_current_A, 0.0, 1e-6, "a current [A]")
    _num("hot.sigma", s.hot_sigma, 0.0, 2.0)
    d = s.drift
    _num("drift.core_walk_sigma", d.core_walk_sigma, 0.0, 0.5)
    _num("drift.neuron_rate_sigma", d.neuron_rate_sigma, 0.0, 0.5)
    _num("drift.dead_per_day", d.dead_per_day, 0.0, 1.0)
    _num("drift.hot_per_day", d.hot_per_day, 0.0, 1.0)
    for p, r in d.trend.items():
        if p not in PARAMETERS:
            raise ConfigError(f"drift.trend.{p}", p, "a simulation name: " + ", ".join(PARAMETERS))
        _num(f"drift.trend.{p}", r, -0.5, 0.5, "a rate [1/day]")


def _obj(path: str, v: object, allowed: set[str]) -> dict:
    if not isinstance(v, dict):
        raise ConfigError(path, v, "a JSON object")
    for k in v:
        if k not in allowed:
            raise ConfigError(
                f"{path}.{k}" if path else k, k, "fields " + ", ".join(sorted(allowed))
            )
    return v


def _parse(data: object) -> Silicon:
    top = {"schema", "silicon_id", "seed", "n_chips", "day", "mismatch", "weight", "biasgen"}
    top |= {"noise", "dead", "hot", "drift", "notes"}
    d = _obj("", data, top)
    if d.get("schema") != SCHEMA:
        raise ConfigError("schema", d.get("schema"), repr(SCHEMA))
    for req in ("silicon_id", "seed"):
        if req not in d:
            raise ConfigError(req, None, "a required field")
    mm = {}
    for p, v in _obj("mismatch", d.get("mismatch", {}), set(PARAMETERS)).items():
        sd = _obj(f"mismatch.{p}", v, {"family", "core_sigma", "neuron_sigma"})
        mm[p] = Spread(
            sd.get("family", "lognormal"), sd.get("core_sigma", 0.0), sd.get("neuron_sigma", 0.0)
        )
    w = _obj("weight", d.get("weight", {}), {"family", "sigma"})
    bg = _obj("biasgen", d.get("biasgen", {}), {"sigma"})
    nz = _obj("noise", d.get("noise", {}), {"std_A", "neuron_sigma", "tau_s"})
    dead = _obj("dead", d.get("dead", {}), {"fraction"})
    hot = _obj("hot", d.get("hot", {}), {"fraction", "current_A", "sigma"})
    dr = _obj(
        "drift",
        d.get("drift", {}),
        {"core_walk_sigma", "neuron_rate_sigma", "trend", "dead_per_day", "hot_per_day"},
    )
    trend = _obj("drift.trend", dr.get("trend", {}), set(PARAMETERS))
    notes = d.get("notes", "")
    if not isinstance(notes, str):
        raise ConfigError("notes", notes, "a string")
    return Silicon(
        silicon_id=d["silicon_id"],
        seed=d["seed"],
        n_chips=d.get("n_chips", 1),
        day=d.get("day", 0),
        mismatch=mm,
        weight_family=w.get("family", "lognormal"),
        weight_sigma=w.get("sigma", 0.0),
        biasgen_sigma=bg.get("sigma", 0.0),
        noise_std_A=nz.get("std_A", 0.0),
        noise_neuron_sigma=nz.get("neuron_sigma", 0.0),
        noise_tau_s=nz.get("tau_s", 1e-3),
        dead_fraction=dead.get("fraction", 0.0),
        hot_fraction=hot.get("fraction", 0.0),
        hot_current_A=hot.get("current_A", 0.0),
        hot_sigma=hot.get("sigma", 0.0),
        drift=Drift(
            core_walk_sigma=dr.get("core_walk_sigma", 0.0),
            neuron_rate_sigma=dr.get("neuron_rate_sigma", 0.0),
            trend=dict(trend),
            dead_per_day=dr.get("dead_per_day", 0.0),
            hot_per_day=dr.get("hot_per_day", 0.0),
        ),
        notes=notes,
    )
