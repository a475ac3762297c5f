"""SiliconEngine: an in-process Board that integrates a `Silicon`'s hidden dynamics.

The emulator's firmware (hil.emulator.firmware / server) wraps it behind the wire protocol; tests
can also use it directly. It integrates at `dt` = 100 us by default (10x finer than the simulator's
default 1 ms; silicon is continuous), with the simulator's equations (hil.emulator.kernel), every
neuron's own effective currents and every synapse's own weight (Silicon.truth), membrane noise, dead
and hot neurons. Accuracy of the default resolution: see docs/silicon.md ("Engine").

The config is compiled through hil.chip.netlist, as in the simulator (routing across cores and
chips, CAM masks over the core's base weights, latches), with the silicon's truth for currents and
each CAM slot's weight factor. Spikes reach recurrent targets one step (dt) later; inputs act in
the step that holds their time.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Mapping

import numpy as np

from hil import __version__
from hil import events as ev
from hil.board import (
    BiasEditor,
    BiasKey,
    BiasWrites,
    Board,
    BoardInfo,
    Capability,
    CountsReadout,
    check_run,
    counts_bin_us,
    counts_of_run,
)
from hil.chip.config import ChipConfig
from hil.chip.netlist import Netlist, build_netlist, derived_constants
from hil.chip.params import Physics
from hil.emulator import kernel as K
from hil.emulator.silicon import Silicon, Truth
from hil.errors import BoardError, ConfigError

DEFAULT_DT = 100e-6  # [s] integration step of the emulator (docs/silicon.md, "Engine")
PHYSICS = Physics()  # device constants and capacitances (Rockpool 3.1.0 defaults)
_OUT_CAPACITY = 1 << 20  # spikes buffered per kernel call (all threads together)
_AUTO_CHUNK = 1000  # steps per kernel call when the engine picks the thread count as it runs
_AUTO_EXPLORE = 16  # with the faster count known, every 16th call times the other one again,
_AUTO_EXPLORE_MAX = 256  # and every 32nd, 64th, .. 256th while each such call confirms the choice
# (the same number of steps: a shorter call's fixed costs, such as the threads' start, would count
# against it); the first call of each count warms it up and is not timed
_AUTO_WEIGHT = 0.3  # weight of a call's time in the running mean of its thread count's pace


def default_threads() -> int:
    """Threads a run uses by default: one per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class SiliconEngine(Board, CountsReadout, BiasWrites):
    """In-process emulated board: `SiliconEngine(silicon, dt=100e-6, noise_seed=None,
    threads=None)`.

    dt [s] must be a whole number of microseconds between 1 us and 1 ms. `threads`: how many
    threads integrate a run; the result is bit for bit the same for every thread count. None
    (`adaptive`): one per core (`default_threads`) or one, whichever runs faster, measured as the
    run goes (calls of _AUTO_CHUNK steps, each count's first call untimed; the slower count is timed
    again after _AUTO_EXPLORE calls, less often while it stays slower: `_timed`): on a machine
    whose cores other work keeps busy, the threads' wait for each other every step can make them
    slower than one thread. `noise_seed`
    (int) seeds the membrane noise; None uses the silicon's seed. The noise of a run is a function of what
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
        threads: int | None = None,
    ) -> None:
        if not isinstance(silicon, Silicon):
            raise ConfigError("silicon", type(silicon).__name__, "a hil.emulator.Silicon")
        if threads is not None and not (
            isinstance(threads, int) and not isinstance(threads, bool) and 1 <= threads <= 256
        ):
            raise ConfigError(
                "threads", threads, "an integer from 1 to 256, or None (one per core)"
            )
        self.threads = default_threads() if threads is None else threads
        self.adaptive = threads is None and self.threads > 1
        self._pace: dict[int, float] = {}  # wall seconds per step by thread count (adaptive)
        self._warm: set[int] = set()  # thread counts that have run a call (adaptive)
        self._calls = 0  # calls since the slower count was last timed (adaptive)
        self._explore_every = _AUTO_EXPLORE
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
        self._biases: BiasEditor | None = None
        self._hash: str | None = None
        self._compiled: _Compiled | None = None
        self._state: np.ndarray | None = None
        self._pending: np.ndarray | None = None
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
        if self._config is not None and self._compiled is not None:
            net = self._compiled.netlist
            self._compiled = _compile(self._config, self._silicon, self.dt, self.physics, net)
            self.reset()

    def info(self) -> BoardInfo:
        return BoardInfo(
            board_id=self._silicon.silicon_id,
            kind="emulator",
            version=f"hil-emulator {__version__}",
            n_chips=self._silicon.n_chips,
            capabilities=frozenset(
                {
                    Capability.SPIKES.value,
                    Capability.COUNTS.value,
                    Capability.BIASES.value,
                    Capability.HIDDEN_SILICON.value,
                }
            ),
            details={
                "dt_s": self.dt,
                "day": self._silicon.day,
                "engine": "numba",
                "silicon_id": self._silicon.silicon_id,  # not its seed: that draws the truth
            },
        )

    @property
    def config_hash(self) -> str | None:
        return self._hash

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
        self._biases, self._hash = BiasEditor(config), config.content_hash()
        self._runs = 0
        self.reset()
        return self._hash

    def set_biases(self, biases: Mapping[BiasKey, tuple[int, int]]) -> str:
        """Biases written in place: the silicon's truth under the new codes, recompiled into the
        applied netlist; the state at rest and the run count at 0, as after `apply` of the
        resulting config (so the next run equals a run after that apply, noise included)."""
        self._live()
        if self._config is None or self._compiled is None or self._biases is None:
            raise BoardError("no config applied: call board.apply(config) before set_biases")
        config, digest = self._biases.set(biases)  # ConfigError: nothing changed
        net = self._compiled.netlist
        self._compiled = _compile(config, self._silicon, self.dt, self.physics, net)
        self._config, self._hash = config, digest
        self._runs = 0
        self.reset()
        return digest

    def run_counts(self, stimulus: np.ndarray, duration_s: float, bin_s: float = 1e-3) -> ev.Counts:
        """Spikes of the neurons the config sets, counted per bin (hil.board.CountsReadout)."""
        self._live()
        check_run(self._config, stimulus, duration_s)
        bin_us = counts_bin_us(bin_s, duration_s)
        assert self._config is not None
        return counts_of_run(self._config, self.run(stimulus, duration_s), duration_s, bin_us)

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
        buffers: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        io = K.DTYPE(self.physics.Io)
        n = self._state.shape[1]
        work = K.work_array(self._state, c.P, self._pending, io)  # the state during the run
        k, pos = 0, 0
        while k < n_steps:
            threads = self._pick_threads()
            plan = c.plan(threads)
            if threads not in buffers:
                cap = max(_OUT_CAPACITY // plan.threads, int((plan.col_hi - plan.col_lo).max()) + 1)
                buffers[threads] = (
                    np.empty((plan.threads, cap), np.int64),
                    np.empty((plan.threads, cap), np.int64),
                    np.empty((plan.threads, cap), K.DTYPE),
                )
            out_step, out_neuron, out_t = buffers[threads]
            k_end = min(n_steps, k + _AUTO_CHUNK) if self.adaptive else n_steps
            t0 = time.perf_counter()
            k_next, pos, nout = K.run_work(
                work,
                n,
                plan,
                in_step,
                in_src,
                pos,
                k,
                k_end,
                io,
                K.DTYPE(c.gamma),
                K.DTYPE(self.dt),
                c.noise_on,
                c.used,
                seed,
                out_step,
                out_neuron,
                out_t,
            )
            # only whole calls are timed: a run's last call or one cut short by a full output
            # buffer has the same fixed costs over fewer steps
            if self.adaptive and k_next - k == _AUTO_CHUNK and threads in self._warm:
                self._timed(threads, (time.perf_counter() - t0) / (k_next - k))
            self._warm.add(threads)
            k = k_next
            for t, m in enumerate(nout):
                steps.append(out_step[t, :m].copy())
                neurons.append(out_neuron[t, :m].copy())
                times.append(out_t[t, :m].copy())
        K.store_state(work, self._state, self._pending)
        step = np.concatenate(steps) if steps else np.empty(0, np.int64)
        g = np.concatenate(neurons) if neurons else np.empty(0, np.int64)
        t_in = np.concatenate(times).astype(np.float64) if times else np.empty(0)
        # step, then neuron: the same order for every thread count. Each thread's spikes are in
        # that order already (one spike per neuron and step, so the keys are unique), and a
        # stable sort (timsort) merges the threads' runs in linear time
        order = np.argsort(step * n + g, kind="stable")
        step, g, t_in = step[order], g[order], t_in[order]
        # spike time: the step's start plus its place inside the step, floored to the 1 us clock
        t_us = step * self.dt_us + np.minimum(np.floor(t_in * 1e6), self.dt_us - 1).astype(np.int64)
        keep = t_us < duration_s * 1e6
        t_us, g = t_us[keep], g[keep]
        return ev.output_events_at(t_us, g)

    def _pick_threads(self) -> int:
        """The thread count of the next kernel call: `threads`, or when adaptive, a count not yet
        timed, else the faster one (the other once every `_explore_every` calls)."""
        if not self.adaptive:
            return self.threads
        self._calls += 1
        counts = (self.threads, 1)
        for t in counts:
            if t not in self._pace:
                return t
        fast, slow = sorted(counts, key=lambda t: self._pace[t])
        if self._calls >= self._explore_every:
            self._calls = 0
            return slow
        return fast

    def _timed(self, threads: int, pace: float) -> None:
        """Record a whole call's wall seconds per step on `threads` threads (adaptive): a running
        mean per count (one call's time is noisy under load). When a call of the slower count
        finds it still slower, the calls between two such calls double (up to
        _AUTO_EXPLORE_MAX); when the other count becomes the faster, they are _AUTO_EXPLORE
        again (each such call costs the difference between the two counts)."""
        before = min(self._pace, key=self._pace.__getitem__) if len(self._pace) == 2 else None
        last = self._pace.get(threads, pace)
        self._pace[threads] = last + _AUTO_WEIGHT * (pace - last)
        if len(self._pace) < 2:
            return
        after = min(self._pace, key=self._pace.__getitem__)
        if after != before:
            self._explore_every = _AUTO_EXPLORE
        elif threads != after:
            self._explore_every = min(2 * self._explore_every, _AUTO_EXPLORE_MAX)

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
            f"{self._hash or ''}|{self._runs}|{self.run_seed}"
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
        netlist: Netlist,
    ) -> None:
        self.P = P.astype(K.DTYPE)
        self.indptr, self.target, self.charge = indptr, target, charge.astype(K.DTYPE)
        # input channel -> source id, as a table over channels 0..max (-1: no routes)
        self._channel_lut = np.full(max(channel_base, default=-1) + 1, -1, np.int64)
        self._channel_lut[list(channel_base)] = list(channel_base.values())
        self.gamma, self.noise_on = gamma, noise_on
        self.used = used  # (5,) bool: AMPA, NMDA, GABA, SHUNT, AHP can carry current
        self.netlist = netlist  # what it was compiled from (set_biases keeps its structure)
        self._plans: dict[int, K.Plan] = {}

    def plan(self, threads: int) -> K.Plan:
        """The connections split among `threads` threads (K.Plan; built once per thread count)."""
        if threads not in self._plans:
            n = self.P.shape[1]
            self._plans[threads] = K.Plan(self.indptr, self.target, self.charge, n, threads)
        return self._plans[threads]

    def channel_source(self, channels: np.ndarray) -> np.ndarray:
        """Source ids of input channels (-1 for a channel without routes)."""
        lut = self._channel_lut
        ch = np.asarray(channels, np.int64)
        inside = (ch >= 0) & (ch < lut.size)
        return np.where(inside, lut[np.where(inside, ch, 0)], -1)


def _neuron_params(net: Netlist, d: dict[str, np.ndarray], t: Truth, dt: float) -> np.ndarray:
    """Kernel parameter matrix (N_PROWS, N) over every neuron of the silicon: the netlist's
    derived constants `d`, plus what only silicon has (dead and hot neurons, membrane noise)."""
    P = np.zeros((K.N_PROWS, net.neurons.size))
    for s, (dec, mean) in enumerate(
        (
            (K.P_DEC_AMPA, K.P_MEAN_AMPA),
            (K.P_DEC_NMDA, K.P_MEAN_NMDA),
            (K.P_DEC_GABA, K.P_MEAN_GABA),
            (K.P_DEC_SHUNT, K.P_MEAN_SHUNT),
        )
    ):
        P[dec], P[mean] = d["syn_decay"][s], d["syn_mean"][s]
    P[K.P_DEC_AHP], P[K.P_MEAN_AHP] = d["ahp_decay"], d["ahp_mean"]
    off = t.dead | ~net.alive
    P[K.P_INV_TAU] = np.where(off, 0.0, d["inv_tau"])
    P[K.P_ITAU] = d["Itau"]
    P[K.P_INV_ITAU] = 1.0 / d["Itau"]
    P[K.P_IGAIN] = d["Ig"]
    P[K.P_GAIN] = d["gain"]
    P[K.P_FB] = d["fb"]
    P[K.P_IDC] = d["dc"] + t.Ihot
    P[K.P_IF_NMDA] = d["If_nmda"]
    P[K.P_UTHR] = np.where(off, np.inf, d["u_th"])
    P[K.P_TREF] = d["t_ref"]
    P[K.P_AHP_JUMP] = d["ahp_jump"]
    a = np.exp(-dt / t.noise_tau_s)
    P[K.P_NOISE_A] = a
    P[K.P_NOISE_B] = t.noise_std * np.sqrt(1.0 - a * a)
    return P


def _compile(
    cfg: ChipConfig, silicon: Silicon, dt: float, phys: Physics, structure: Netlist | None = None
) -> _Compiled:
    """The (validated) config on this silicon: every neuron of the board (an unset hot neuron fires
    too), its truth's currents, each CAM slot's weight times its truth factor; CSR by source
    (neurons by board-wide index, then input channels in sorted order). `structure`: the netlist
    of a config that differs from `cfg` in biases only (its neurons and synapses are reused)."""
    t = silicon.truth(cfg)
    n = silicon.n_neurons
    if structure is None:
        net = build_netlist(
            cfg, t.currents, n_chips=silicon.n_chips, all_neurons=True, physics=phys, validate=False
        )
    else:
        net = structure.with_currents(t.currents)
    d = derived_constants(net.fields(phys), dt, phys)
    P = _neuron_params(net, d, t, dt)
    s = net.synapses  # charge per spike: weight current times the target's syn_jump (4, N)
    q = net.weights(t.weight_factor) * d["syn_jump"][s["type"], s["target"]]
    keep = q > 0
    s, q = s[keep], q[keep]
    channel_base = {int(ch): n + i for i, ch in enumerate(net.channels)}
    src = np.where(s["from_input"], n + np.searchsorted(net.channels, s["source"]), s["source"])
    order = np.argsort(src, kind="stable")
    indptr = np.zeros(n + net.channels.size + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n + net.channels.size), out=indptr[1:])
    target = (s["type"].astype(np.int64) * n + s["target"])[order]
    used = np.zeros(K.N_JROWS, bool)
    used[np.unique(s["type"])] = True  # synapse types some connection reaches
    used[K.N_TYPES] = bool(np.any(P[K.P_AHP_JUMP] > 0))
    noise_on = bool(np.any(t.noise_std > 0))
    gamma = phys.kappa / (phys.kappa + 1.0)
    return _Compiled(P, indptr, target, q[order], channel_base, gamma, noise_on, used, net)
