"""SiliconEngine: an in-process Board that integrates a `Silicon`'s hidden dynamics.

The emulator's firmware (hil.emulator.firmware / server) wraps it behind the wire protocol; tests
can also use it directly. It integrates at `dt` = 100 us by default (10x finer than the simulator's
default 1 ms; silicon is continuous), with the simulator's equations (hil.emulator.kernel), every
neuron's own effective currents and every synapse's own weight (Silicon.truth), membrane noise, dead
and hot neurons. Accuracy of the default resolution: see docs/silicon.md ("Engine").

Routing follows ChipConfig: an input channel's routes inject tag `tag` into the cores of `core` on
chip `chip`; a neuron's spike goes out with each destination's tag to the cores in its core mask on
chip (chip + x_hop) (chips of a board sit in a row: y_hop must be 0, other targets are dropped).
Every CAM entry of a neuron in a reached core that listens to that tag adds its weight (the sum of
its core's base weights selected by its mask, times the synapse's own factor) to its dendrite.
Spikes reach recurrent targets one step (dt) later; inputs act in the step that holds their time.
Latches as in the simulator (hil.sim.compile): latch_so_dc gates Idc, latch_soif_kill silences
the neuron, latch_so_adaptation enables the AHP, latch_denm_nmda the NMDA voltage gate.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict

import numpy as np

from hil import __version__
from hil import events as ev
from hil.board import Board, BoardInfo, Capability, check_run
from hil.chip.config import ChipConfig, mask_int
from hil.chip.geometry import CORES_PER_CHIP, NEURONS_PER_CORE, Dendrite
from hil.chip.params import Physics
from hil.emulator import kernel as K
from hil.emulator.silicon import Silicon, Truth
from hil.errors import BoardError, ConfigError

DEFAULT_DT = 100e-6  # [s] integration step of the emulator (docs/silicon.md, "Engine")
PHYSICS = Physics()  # device constants and capacitances (Rockpool 3.1.0 defaults)
# Dendrite -> kernel synapse row (the simulator's order: AMPA, NMDA, GABA, SHUNT).
TYPE_ROW = {Dendrite.AMPA: 0, Dendrite.NMDA: 1, Dendrite.GABA: 2, Dendrite.SHUNT: 3}
_OUT_CAPACITY = 1 << 20  # spikes buffered per kernel call


class SiliconEngine(Board):
    """In-process emulated board: `SiliconEngine(silicon, dt=100e-6, noise_seed=None)`.

    dt [s] must be a whole number of microseconds between 1 us and 1 ms. `noise_seed` (int) seeds
    the membrane noise; None uses the silicon's seed. The noise of a run is a function of what
    identifies the run and nothing else (`noise_key`): the silicon (id, day, noise_seed), the applied
    config's content hash, the number of runs since that config was applied, and `run_seed` (set by
    `seed_runs`; the wire protocol's RUN carries it). So identical runs differ only by noise, and a
    run repeated after a re-apply (a reconnect) is the same bit for bit (docs/protocol.md 5.1).
    """

    def __init__(
        self,
        silicon: Silicon,
        dt: float = DEFAULT_DT,
        noise_seed: int | None = None,
        physics: Physics = PHYSICS,
    ) -> None:
        if not isinstance(silicon, Silicon):
            raise ConfigError("silicon", type(silicon).__name__, "a hil.emulator.Silicon")
        dt_us = dt * 1e6
        if not (
            isinstance(dt, int | float) and 1 <= dt_us <= 1000 and abs(dt_us - round(dt_us)) < 1e-6
        ):
            raise ConfigError("dt", dt, "a whole number of microseconds from 1e-6 to 1e-3 s")
        self._silicon = silicon
        self.dt_us = int(round(dt_us))
        self.dt = self.dt_us / 1e6
        self.physics = physics
        self.noise_seed = silicon.seed if noise_seed is None else int(noise_seed)
        self.url = f"silicon://{silicon.silicon_id}"
        self._config: ChipConfig | None = None
        self._compiled: _Compiled | None = None
        self._state: np.ndarray | None = None
        self._pending: np.ndarray | None = None
        self._config_hash = ""
        self._runs = 0  # runs since the config was applied (part of the noise key)
        self.run_seed = 0  # the host's seed for the runs that follow (seed_runs)
        self._closed = False

    # -- identity --------------------------------------------------------------------------------
    @property
    def silicon(self) -> Silicon:
        return self._silicon

    def set_day(self, day: int) -> None:
        """Age the silicon to day `day` of its day counter; the applied config is recompiled and
        the state reset (as after a power cycle)."""
        self._live()
        self._silicon = self._silicon.at_day(day)
        if self._config is not None:
            self._compiled = _compile(self._config, self._silicon, self.dt, self.physics)
            self.reset()

    def info(self) -> BoardInfo:
        return BoardInfo(
            board_id=self._silicon.silicon_id,
            kind="emulator",
            version=f"hil-emulator {__version__}",
            n_chips=self._silicon.n_chips,
            capabilities=frozenset(
                {Capability.SPIKES.value, Capability.COUNTS.value, Capability.HIDDEN_SILICON.value}
            ),
            details={"dt_s": self.dt, "day": self._silicon.day, "engine": "numba"},
        )

    # -- protocol --------------------------------------------------------------------------------
    def apply(self, config: ChipConfig) -> str:
        self._live()
        config.validate()
        if len(config.chips) > self._silicon.n_chips:
            raise ConfigError(
                "chips",
                f"{len(config.chips)} chips",
                f"at most {self._silicon.n_chips} on this board",
            )
        compiled = _compile(config, self._silicon, self.dt, self.physics)
        self._config, self._compiled = config, compiled
        self._config_hash = config.content_hash()
        self._runs = 0
        self.reset()
        return self._config_hash

    def reset(self) -> None:
        self._live()
        n = self._silicon.n_neurons
        self._state = np.zeros((K.N_SROWS, n), K.DTYPE)
        self._pending = np.zeros((K.N_JROWS, n), K.DTYPE)

    def run(self, stimulus: np.ndarray, duration_s: float) -> np.ndarray:
        self._live()
        check_run(self._config, stimulus, duration_s)
        c = self._compiled
        assert c is not None and self._state is not None and self._pending is not None
        n_steps = int(math.ceil(duration_s * 1e6 / self.dt_us - 1e-9))
        in_src = np.empty(stimulus.size, np.int64)
        in_step = (stimulus["t_us"] // self.dt_us).astype(np.int64)
        in_src[:] = c.channel_source(stimulus["channel"])
        keep = in_src >= 0
        in_step, in_src = in_step[keep], in_src[keep]
        seed = self.noise_key()
        self._runs += 1
        steps, neurons, times = [], [], []
        out_step = np.empty(_OUT_CAPACITY, np.int64)
        out_neuron = np.empty(_OUT_CAPACITY, np.int64)
        out_t = np.empty(_OUT_CAPACITY, K.DTYPE)
        k, pos = 0, 0
        while k < n_steps:
            k, pos, nout = K.integrate(
                self._state,
                c.P,
                self._pending,
                c.indptr,
                c.target,
                c.charge,
                in_step,
                in_src,
                pos,
                k,
                n_steps,
                K.DTYPE(self.physics.Io),
                K.DTYPE(c.gamma),
                K.DTYPE(self.dt),
                c.noise_on,
                c.used,
                seed,
                out_step,
                out_neuron,
                out_t,
            )
            steps.append(out_step[:nout].copy())
            neurons.append(out_neuron[:nout].copy())
            times.append(out_t[:nout].copy())
        step = np.concatenate(steps) if steps else np.empty(0, np.int64)
        g = np.concatenate(neurons) if neurons else np.empty(0, np.int64)
        t_in = np.concatenate(times).astype(np.float64) if times else np.empty(0)
        # spike time: the step's start plus its place inside the step, floored to the 1 us clock
        t_us = step * self.dt_us + np.minimum(np.floor(t_in * 1e6), self.dt_us - 1).astype(np.int64)
        keep = t_us < duration_s * 1e6
        t_us, g = t_us[keep], g[keep]
        return ev.output_events_at(t_us, g)

    def seed_runs(self, seed: int) -> None:
        """Seed the membrane noise of the runs that follow (u32; the wire protocol's RUN seed)."""
        if not (isinstance(seed, int) and 0 <= seed < 2**32):
            raise ConfigError("run_seed", seed, "an integer 0..4294967295")
        self.run_seed = seed

    def noise_key(self) -> np.uint64:
        """Seed of the next run's noise stream: SHA-256 of (silicon id, day, noise_seed, config
        hash, runs since apply, run_seed), first 8 bytes little-endian, top bit cleared."""
        key = (
            f"{self._silicon.silicon_id}|{self._silicon.day}|{self.noise_seed}|"
            f"{self._config_hash}|{self._runs}|{self.run_seed}"
        )
        return np.uint64(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little") >> 1)

    def close(self) -> None:
        self._closed = True
        self._state = self._pending = None

    def _live(self) -> None:
        if self._closed:
            raise BoardError(f"board {self._silicon.silicon_id} is closed")

    # -- hidden (for tests and audits; never sent over the wire) ----------------------------------
    def truth(self) -> Truth:
        """The hidden truth under the applied config (nominal biases before any apply)."""
        return self._silicon.truth(self._config)


class _Compiled:
    """A config compiled against a silicon: kernel parameters and CSR connectivity."""

    def __init__(
        self,
        P: np.ndarray,
        indptr: np.ndarray,
        target: np.ndarray,
        charge: np.ndarray,
        channel_base: dict[int, int],
        gamma: float,
        noise_on: bool,
        used: np.ndarray,
    ) -> None:
        self.P = P.astype(K.DTYPE)
        self.indptr, self.target, self.charge = indptr, target, charge.astype(K.DTYPE)
        self.channel_base = channel_base  # input channel -> source id
        self.gamma, self.noise_on = gamma, noise_on
        self.used = used  # (5,) bool: AMPA, NMDA, GABA, SHUNT, AHP can carry current

    def channel_source(self, channels: np.ndarray) -> np.ndarray:
        """Source ids of input channels (-1 for a channel without routes)."""
        out = np.full(channels.shape, -1, np.int64)
        for ch, src in self.channel_base.items():
            out[channels == ch] = src
        return out


def _neuron_params(t: Truth, cfg: ChipConfig, dt: float, phys: Physics) -> np.ndarray:
    """Kernel parameter matrix (N_PROWS, N) from the truth's effective currents and the latches.

    Currents below the dark current Io act as Io (as in the simulator)."""
    cur = {k: np.maximum(v, phys.Io) for k, v in t.currents.items()}
    n = t.dead.size
    ut_k = phys.Ut / phys.kappa
    P = np.zeros((K.N_PROWS, n))
    for dec, mean, syn in (
        (K.P_DEC_AMPA, K.P_MEAN_AMPA, "ampa"),
        (K.P_DEC_NMDA, K.P_MEAN_NMDA, "nmda"),
        (K.P_DEC_GABA, K.P_MEAN_GABA, "gaba"),
        (K.P_DEC_SHUNT, K.P_MEAN_SHUNT, "shunt"),
    ):
        tau = ut_k * getattr(phys, f"C_{syn}") / cur[f"Itau_{syn}"]
        P[dec] = np.exp(-dt / tau)
        P[mean] = -np.expm1(-dt / tau) * tau / dt
    tau_ahp = ut_k * phys.C_ahp / cur["Itau_ahp"]
    P[K.P_DEC_AHP] = np.exp(-dt / tau_ahp)
    P[K.P_MEAN_AHP] = -np.expm1(-dt / tau_ahp) * tau_ahp / dt
    dc_enable = np.zeros(n, bool)
    adapt = np.zeros(n, bool)
    kill = np.zeros(n, bool)
    nmda_gate = np.zeros(n, bool)
    for ci, k, nn, neuron in cfg.neurons():
        g = (ci * CORES_PER_CHIP + k) * NEURONS_PER_CORE + nn
        dc_enable[g] = neuron.latches.get("latch_so_dc", False)
        adapt[g] = neuron.latches.get("latch_so_adaptation", False)
        kill[g] = neuron.latches.get("latch_soif_kill", False)
        nmda_gate[g] = neuron.latches.get("latch_denm_nmda", False)
    off = t.dead | kill
    itau = cur["Itau_mem"]
    P[K.P_INV_TAU] = np.where(off, 0.0, itau / (ut_k * phys.C_mem))
    P[K.P_ITAU] = itau
    P[K.P_INV_ITAU] = 1.0 / itau
    P[K.P_IGAIN] = cur["Igain_mem"]
    P[K.P_GAIN] = cur["Igain_mem"] / itau
    P[K.P_FB] = phys.Io / itau
    P[K.P_IDC] = np.where(dc_enable, t.currents["Idc"], 0.0) + t.Ihot
    P[K.P_IF_NMDA] = np.where(nmda_gate, t.currents["If_nmda"], 0.0)  # off: NMDA acts ungated
    P[K.P_UTHR] = np.where(off, np.inf, np.log(cur["Ispkthr"] / phys.Io))
    P[K.P_TREF] = phys.Vth * phys.C_ref / cur["Iref"]
    t_pulse_ahp = phys.Vth * phys.C_pulse_ahp / cur["Ipulse_ahp"]
    ahp_jump = (
        -np.expm1(-t_pulse_ahp / tau_ahp)
        * cur["Igain_ahp"]
        / cur["Itau_ahp"]
        * t.currents["Iw_ahp"]
    )
    P[K.P_AHP_JUMP] = np.where(adapt, ahp_jump, 0.0)
    a = np.exp(-dt / t.noise_tau_s)
    P[K.P_NOISE_A] = a
    P[K.P_NOISE_B] = t.noise_std * np.sqrt(1.0 - a * a)
    return P


def _compile(cfg: ChipConfig, silicon: Silicon, dt: float, phys: Physics) -> _Compiled:
    t = silicon.truth(cfg)
    n = silicon.n_neurons
    P = _neuron_params(t, cfg, dt, phys)
    cur = t.currents
    ut_k = phys.Ut / phys.kappa
    # charge per unit weight current, per (type row, neuron): (1 - e^(-t_pulse/tau)) Igain/Itau
    t_pulse = phys.Vth * phys.C_pulse / np.maximum(cur["Ipulse"], phys.Io)
    per_amp = np.zeros((K.N_TYPES, n))
    for syn, row in (("ampa", 0), ("nmda", 1), ("gaba", 2), ("shunt", 3)):
        itau_s = np.maximum(cur[f"Itau_{syn}"], phys.Io)
        tau = ut_k * getattr(phys, f"C_{syn}") / itau_s
        per_amp[row] = -np.expm1(-t_pulse / tau) * np.maximum(cur[f"Igain_{syn}"], phys.Io)
        per_amp[row] /= itau_s
    iw = np.stack([cur[f"Iw_{b}"] for b in range(4)])  # (4, N) per-core base weights
    # listeners: (chip, core, tag) -> list of (target flat index, charge [A])
    listen: dict[tuple[int, int, int], list[tuple[int, float]]] = defaultdict(list)
    for ci, k, nn, neuron in cfg.neurons():
        g = (ci * CORES_PER_CHIP + k) * NEURONS_PER_CORE + nn
        for slot, syn in enumerate(neuron.synapses):
            if syn.dendrite not in TYPE_ROW:
                continue
            m = mask_int(syn.weight)
            w = sum(iw[b, g] for b in range(4) if m >> b & 1)
            if w <= 0:
                continue
            row = TYPE_ROW[syn.dendrite]
            q = w * t.weight_factor[ci, k, nn, slot] * per_amp[row, g]
            listen[(ci, k, syn.tag)].append((row * n + g, q))
    n_chips = silicon.n_chips
    sources: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for ci, k, nn, neuron in cfg.neurons():
        g = (ci * CORES_PER_CHIP + k) * NEURONS_PER_CORE + nn
        for d in neuron.destinations:
            tc = ci + d.x_hop
            if d.y_hop != 0 or not 0 <= tc < n_chips:
                continue
            for core in range(CORES_PER_CHIP):
                if d.core[core]:
                    sources[g].extend(listen.get((tc, core, d.tag), ()))
    channel_base: dict[int, int] = {}
    for r in cfg.inputs:
        if r.channel not in channel_base:
            channel_base[r.channel] = n + len(channel_base)
            sources.append([])
        src = channel_base[r.channel]
        if r.chip >= n_chips:
            continue
        for core in range(CORES_PER_CHIP):
            if r.core[core]:
                sources[src].extend(listen.get((r.chip, core, r.tag), ()))
    counts = np.array([len(s) for s in sources], np.int64)
    indptr = np.zeros(len(sources) + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    target = np.empty(int(indptr[-1]), np.int64)
    charge = np.empty(int(indptr[-1]))
    for s, lst in enumerate(sources):
        if lst:
            a, b = indptr[s], indptr[s + 1]
            target[a:b] = [x[0] for x in lst]
            charge[a:b] = [x[1] for x in lst]
    gamma = phys.kappa / (phys.kappa + 1.0)
    used = np.zeros(K.N_JROWS, bool)
    used[np.unique(target // n)] = True  # synapse types some connection reaches
    used[K.N_TYPES] = bool(np.any(P[K.P_AHP_JUMP] > 0))
    noise_on = bool(np.any(t.noise_std > 0))
    return _Compiled(P, indptr, target, charge, channel_base, gamma, noise_on, used)
