"""The simulator as a Board: `open_board("sim://?dt=1e-3&seed=0")`.

URL options: dt (bin width [s], default 1e-3), seed (recorded; seeds the membrane noise),
noise (membrane current noise s.d. [A] per bin, default 0; with a twin, default: the twin's
per-neuron Ornstein-Uhlenbeck noise, hil.sim.twin_source; an explicit noise= replaces it with
independent draws per bin),
substep (longest membrane sub-step [s]), twin (a `hil.twin/1` file: its per-neuron currents, weight
factors, dead and hot neurons and membrane noise instead of the nominal ones; hil.sim.twin_source),
instances is always 1. Output spike times are the in-bin
spike times the dynamics resolve, in integer microseconds; state carries over between run() calls
until reset().
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import torch

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
    url_options,
)
from hil.chip.config import ChipConfig
from hil.chip.geometry import MAX_CHIPS
from hil.chip.netlist import board_currents
from hil.errors import BoardError, BoardURLError
from hil.sim.compile import CompiledConfig, compile_config, compile_netlist
from hil.sim.dynamics import DEFAULT_SUBSTEP
from hil.sim.network import simulate
from hil.sim.records import State
from hil.sim.twin_source import NOISE_TAU_S, TwinSource

OPTIONS = {"dt": float, "seed": int, "noise": float, "substep": float, "twin": str}


class Simulator(Board, CountsReadout, BiasWrites):
    """The differentiable simulator behind the Board protocol (one instance, batch 1), with the
    counts readout (its spikes, binned) and bias writes (the changed biases recompiled into the
    applied netlist: the same records as a full apply of the resulting config)."""

    def __init__(
        self,
        dt: float = 1e-3,
        seed: int = 0,
        noise: float | None = None,
        substep: float = DEFAULT_SUBSTEP,
        url: str = "sim://",
        twin: str | None = None,
    ):
        for name, v in (("dt", dt), ("substep", substep)):
            if not (math.isfinite(v) and 1e-7 <= v <= 0.1):
                raise BoardURLError(f"option {name}={v!r}; allowed: seconds in 1e-7..0.1")
        if noise is not None and not (math.isfinite(noise) and noise >= 0):
            raise BoardURLError(f"option noise={noise!r}; allowed: amperes >= 0")
        self.url, self.dt, self.seed, self.substep = url, dt, seed, substep
        self._noise_option = noise
        self.noise = 0.0 if noise is None else noise
        self._compiled: CompiledConfig | None = None
        self._config: ChipConfig | None = None
        self._biases: BiasEditor | None = None
        self._state: State | None = None
        self._closed = False
        self._generator = torch.Generator().manual_seed(seed)
        self._twin = None if twin is None else TwinSource.load(twin)

    def _check_open(self) -> None:
        if self._closed:
            raise BoardError(f"board {self.url} is closed")

    def info(self) -> BoardInfo:
        self._check_open()
        return BoardInfo(
            board_id=f"sim-seed{self.seed}",
            kind="simulator",
            version=f"hil.sim {__version__}",
            n_chips=MAX_CHIPS,
            capabilities=frozenset(
                {
                    Capability.SPIKES.value,
                    Capability.COUNTS.value,
                    Capability.BIASES.value,
                    Capability.GRADIENTS.value,
                }
            ),
            details={
                "dt": self.dt,
                "seed": self.seed,
                "noise": self.noise,
                "substep": self.substep,
            },
        )

    @property
    def config_hash(self) -> str | None:
        return None if self._compiled is None else self._compiled.config_hash

    @property
    def compiled(self) -> CompiledConfig | None:
        """The applied config as simulator records (None before apply)."""
        return self._compiled

    def apply(self, config: ChipConfig) -> str:
        self._check_open()
        if self._twin is None:
            compiled = compile_config(config)  # raises ConfigError; the old config stays
        else:
            compiled = compile_config(
                config,
                currents=self._twin.currents(config),
                weight_factor=self._twin.weights(config),
            )
        self._install(config, compiled)
        return compiled.config_hash

    def set_biases(self, biases: Mapping[BiasKey, tuple[int, int]]) -> str:
        self._check_open()
        if self._config is None or self._biases is None or self._compiled is None:
            raise BoardError("no config applied: call board.apply(config) before set_biases")
        config, digest = self._biases.set(biases)  # ConfigError: nothing changed
        net = self._compiled.netlist
        assert net is not None
        if self._twin is None:
            net = net.with_currents(board_currents(config, net.n_chips))
            compiled = compile_netlist(net, digest)
        else:
            net = net.with_currents(self._twin.currents(config))
            compiled = compile_netlist(net, digest, weight_factor=self._twin.weights(config))
        self._install(config, compiled, self._biases)
        return digest

    def _install(
        self, config: ChipConfig, compiled: CompiledConfig, biases: BiasEditor | None = None
    ) -> None:
        """What apply and set_biases share: the new config in place, the state at rest."""
        if self._twin is not None:
            compiled = replace(
                compiled, params=self._twin.params(compiled.params, compiled.neurons)
            )
        self._compiled, self._config, self._state = compiled, config, None
        self._biases = biases or BiasEditor(config)

    def run_counts(self, stimulus: np.ndarray, duration_s: float, bin_s: float = 1e-3) -> ev.Counts:
        self._check_open()
        check_run(self._config, stimulus, duration_s)
        bin_us = counts_bin_us(bin_s, duration_s)
        assert self._config is not None
        return counts_of_run(self._config, self.run(stimulus, duration_s), duration_s, bin_us)

    def run(self, stimulus: np.ndarray, duration_s: float) -> np.ndarray:
        self._check_open()
        check_run(self._config, stimulus, duration_s)
        c = self._compiled
        assert c is not None
        T = max(1, math.ceil(duration_s / self.dt - 1e-9))
        step_us = self.dt * 1e6
        x = np.zeros((1, T, len(c.channels)), np.float32)
        if stimulus.size:
            rows = np.searchsorted(c.channels, stimulus["channel"])
            bins = np.minimum((stimulus["t_us"] / step_us).astype(np.int64), T - 1)
            np.add.at(x, (0, bins, rows), 1.0)  # type: ignore[arg-type]
        if len(c.neurons) == 0:
            none = np.zeros(0, np.int64)
            return ev.output_events(none, none, none, none)
        noise: float | torch.Tensor = self.noise
        noise_tau = 0.0
        if self._twin is not None and self._noise_option is None:
            sd = self._twin.noise_sd(c.neurons, self.dt)
            noise, noise_tau = (0.0, 0.0) if sd is None else (sd, NOISE_TAU_S)
        with torch.no_grad():
            res = simulate(
                c.params,
                c.weights,
                torch.from_numpy(x),
                self.dt,
                state=self._state,
                substep=self.substep,
                noise=noise,
                noise_tau=noise_tau,
                generator=self._generator,
                times=True,
            )
        self._state = res.state
        counts = res.spikes[0, 0].round().to(torch.int64).numpy()  # (T, N)
        first = res.times[0, 0].numpy()
        t_idx, col = np.nonzero(counts)
        k = counts[t_idx, col]
        t0 = (t_idx * step_us + np.nan_to_num(first[t_idx, col], posinf=0.0) * 1e6).astype(np.int64)
        rep = np.repeat(np.arange(k.size), k)
        offset = np.arange(rep.size) - np.repeat(np.cumsum(k) - k, k)
        t_us = t0[rep] + offset
        g = c.neurons[col[rep]]
        keep = t_us < int(round(duration_s * 1e6))
        t_us, g = t_us[keep], g[keep]
        return ev.output_events_at(t_us, g)

    def reset(self) -> None:
        self._check_open()
        self._state = None

    def close(self) -> None:
        self._closed = True


def open_url(url: str) -> Simulator:
    """Open `sim://[?dt=SECONDS&seed=INT&noise=AMPERES&substep=SECONDS&twin=PATH]`."""
    opts = url_options(url, OPTIONS)
    return Simulator(url=url, **opts)  # type: ignore[arg-type]
