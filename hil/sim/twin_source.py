"""A fitted twin (`hil.twin/1`, written by hil.mismatch) as the simulator's per-neuron currents:
`sim://?twin=twin.json`.

The twin holds every neuron's identified currents at the nominal codes. Under a config's biases a
neuron's current is the code's nominal current times the neuron's factor (twin / nominal at the
nominal codes), so the twin follows bias changes (`set_biases`) as the silicon would, up to the
bias generator's per-branch error where the twin has not measured it. Weight factors per CAM slot,
dead neurons (never spike) and hot neurons (their extra DC input, always on) come along, and each
neuron's membrane noise: the twin's noise_std is the std of an Ornstein-Uhlenbeck current of
correlation time NOISE_TAU_S, which the simulator draws per bin of width dt as an OU sequence
(`simulate(noise_tau=NOISE_TAU_S)`) whose per-bin std `noise_sd` gives the continuous OU's
low-frequency power: noise_std sqrt((2 tau / dt)(1 - a) / (1 + a)), a = exp(-dt / tau) (noise_std
itself for dt << tau; 0.96 noise_std at dt = tau = 1 ms). This module reads the JSON itself:
hil.sim sits below hil.mismatch and does not import it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hil.artifacts import read_json
from hil.chip.config import Chip, ChipConfig
from hil.chip.geometry import NEURONS_PER_CHIP
from hil.chip.netlist import BIAS_CURRENTS, board_currents
from hil.errors import BoardURLError
from hil.sim.records import NeuronParams

SCHEMA = "hil.twin/1"
NOISE_TAU_S = 1e-3  # the twin's convention for the noise's correlation time [s] (hil.mismatch)


@dataclass(frozen=True)
class TwinSource:
    """factors: simulation name -> (n_chips * 1024,); weight_factor (n_chips, 4, 256, 64) or None;
    alive, ihot, noise_std: (n_chips * 1024,) (noise_std [A]: None, no noise)."""

    n_chips: int
    factors: dict[str, np.ndarray]
    weight_factor: np.ndarray | None
    alive: np.ndarray
    ihot: np.ndarray
    noise_std: np.ndarray | None = None

    @classmethod
    def load(cls, path: str) -> TwinSource:
        d = read_json(path, "twin file")
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise BoardURLError(f"twin={path!r} is not a {SCHEMA} file")
        try:
            n_chips = int(d["n_chips"])
            cols = d["columns"]
            nominal = board_currents(ChipConfig(chips=[Chip() for _ in range(n_chips)]), n_chips)
            n = n_chips * NEURONS_PER_CHIP
            factors = {}
            for b in BIAS_CURRENTS:
                v = np.asarray(cols[b], np.float64)
                if v.shape != (n,) or not np.all(np.isfinite(v)) or np.any(v < 0):
                    raise ValueError(f"column {b}")
                factors[b] = v / nominal[b]
            wf = d.get("weight_factor")
            wf = None if wf is None else np.asarray(wf, np.float64)
            alive = 1.0 - np.asarray(cols["dead"], np.float64)
            ihot = np.asarray(cols["Ihot"], np.float64)
            noise = np.asarray(cols["noise_std"], np.float64)
            if alive.shape != (n,) or ihot.shape != (n,) or noise.shape != (n,):
                raise ValueError("dead, Ihot or noise_std")
            if not np.all(np.isfinite(noise)) or np.any(noise < 0):
                raise ValueError("noise_std: amperes >= 0")
        except (KeyError, TypeError, ValueError) as e:
            raise BoardURLError(f"twin={path!r}: malformed {SCHEMA} file ({e})") from None
        return cls(n_chips, factors, wf, alive, ihot, noise if np.any(noise > 0) else None)

    def noise_sd(self, neurons: np.ndarray, dt: float) -> torch.Tensor | None:
        """Per-bin std [A] (neurons,) of the simulated `neurons`' OU noise (correlation time
        NOISE_TAU_S) at bin width `dt` [s] (module docstring); None when the twin has no noise."""
        if self.noise_std is None:
            return None
        a = np.exp(-dt / NOISE_TAU_S)
        sd = self.noise_std[neurons] * np.sqrt(2.0 * NOISE_TAU_S / dt * (1.0 - a) / (1.0 + a))
        return torch.as_tensor(sd, dtype=torch.float32)

    def currents(self, config: ChipConfig) -> dict[str, np.ndarray]:
        """Board-wide currents of `config`'s chips under its biases."""
        n = len(config.chips)
        if n > self.n_chips:
            raise BoardURLError(f"the config has {n} chips; the twin has {self.n_chips}")
        nominal = board_currents(config, n)
        m = n * NEURONS_PER_CHIP
        return {b: nominal[b] * self.factors[b][:m] for b in BIAS_CURRENTS}

    def weights(self, config: ChipConfig) -> np.ndarray | None:
        return None if self.weight_factor is None else self.weight_factor[: len(config.chips)]

    def params(self, params: NeuronParams, neurons: np.ndarray) -> NeuronParams:
        """`params` of the simulated board-wide `neurons` with dead ones silenced and hot ones
        given their extra input (always on, whatever latch_so_dc says)."""
        alive = torch.as_tensor(self.alive[neurons], dtype=params.alive.dtype)
        ihot = torch.as_tensor(self.ihot[neurons], dtype=params.Idc.dtype)
        if not bool((ihot > 0).any()):
            return params.replace(alive=params.alive * alive)
        return params.replace(
            alive=params.alive * alive,
            Idc=params.Idc * params.dc_enable + ihot,
            dc_enable=torch.ones_like(params.dc_enable),
        )
