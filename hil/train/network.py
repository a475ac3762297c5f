"""The network being trained, under the chip's constraints (issue 10 section 2).

Layout: inputs -> [hidden layer, logical core 0] -> output layer (next logical core), with optional
recurrence inside the output layer (the paper's 2-neuron network has self-excitation and mutual
inhibition). The hidden-to-output and recurrent weights are `w_rec`; `mask_in` / `mask_rec` say
which entries may be non-zero.

Constraints, applied in `effective_weights` on every forward pass:
- fan-in: each neuron keeps at most SYNAPSES_PER_NEURON (64) non-zero incoming weights (inputs and
  neurons together); where the layout allows more, the 64 largest |w| win (re-chosen every step);
- sign -> synapse type: hil.sim.Weights.from_signed (> 0 AMPA, < 0 GABA);
- quantization-aware (`quantize=True`): |w| is rounded to the binary grid of the target neuron's
  core, k * s_c for k in 0..15 with s_c = max |w| into core c / 15, i.e. a sum of the core's four
  base weights (s_c, 2 s_c, 4 s_c, 8 s_c) selected by a 4-bit mask; straight-through gradient;
- currents per core: hil.sim.DynapNet with `groups` = the logical core of each neuron, so each
  trained current has one value per core, as the chip's per-core biases;
- size: at most 256 neurons per logical core (hil.train.model checks it again on save).
Weights are in units of SCALE amperes (10 nA, Rockpool's Iscale).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from hil.chip.geometry import CORES_PER_CHIP, MAX_CHIPS, NEURONS_PER_CORE, SYNAPSES_PER_NEURON
from hil.errors import ConfigError
from hil.sim import DynapNet, NeuronParams, Weights

SCALE = 1e-8  # amperes per weight unit
LEVELS = 15  # largest 4-bit mask value


@dataclass(frozen=True)
class Layout:
    """n_inputs -> hidden -> output layer of n_classes x per_class neurons; `recurrent`: all-to-all
    weights inside the output layer. A class's score is the spike count of its `per_class`
    neurons together (population coding: more spikes, fewer ties, mismatch averaged)."""

    n_inputs: int
    n_classes: int
    hidden: int = 0
    recurrent: bool = False
    per_class: int = 1

    def __post_init__(self) -> None:
        for name in ("n_inputs", "n_classes", "hidden", "per_class"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < (0 if name == "hidden" else 1):
                raise ConfigError(name, v, "a positive integer (hidden: >= 0)")
        for name, n in (("hidden", self.hidden), ("output layer", self.n_outputs)):
            if n > NEURONS_PER_CORE:
                raise ConfigError(name, n, f"<= {NEURONS_PER_CORE} neurons (one core per layer)")

    @property
    def n_outputs(self) -> int:
        return self.n_classes * self.per_class

    @property
    def n_neurons(self) -> int:
        return self.hidden + self.n_outputs

    @property
    def outputs(self) -> list[list[int]]:
        """Output neurons of each class."""
        h, k = self.hidden, self.per_class
        return [list(range(h + c * k, h + (c + 1) * k)) for c in range(self.n_classes)]

    def core_of(self) -> np.ndarray:
        """Logical core of each neuron: hidden layer core 0, output layer the next."""
        core = np.zeros(self.n_neurons, dtype=np.int64)
        core[self.hidden :] = 1 if self.hidden else 0
        if int(core.max()) + 1 > CORES_PER_CHIP * MAX_CHIPS:
            raise ConfigError("layout", "too many cores", f"<= {CORES_PER_CHIP * MAX_CHIPS}")
        return core

    def masks(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Which entries of w_in (n_inputs, N) and w_rec (N, N) may be non-zero."""
        n, h = self.n_neurons, self.hidden
        m_in = torch.zeros(self.n_inputs, n)
        m_rec = torch.zeros(n, n)
        if h:
            m_in[:, :h] = 1
            m_rec[:h, h:] = 1
        else:
            m_in[:, :] = 1
        if self.recurrent:
            m_rec[h:, h:] = 1
        return m_in, m_rec

    def to_dict(self) -> dict:
        return {
            "n_inputs": self.n_inputs,
            "n_classes": self.n_classes,
            "per_class": self.per_class,
            "hidden": self.hidden,
            "recurrent": self.recurrent,
        }


def fan_in_mask(
    w_in: torch.Tensor, w_rec: torch.Tensor, limit: int = SYNAPSES_PER_NEURON
) -> tuple[torch.Tensor, torch.Tensor]:
    """0/1 masks keeping the `limit` largest |w| into each neuron (columns), inputs and neurons
    together; all entries where a column has no more than `limit` candidates (ties: lower rows)."""
    w = torch.cat([w_in, w_rec], 0).detach().abs()
    if w.shape[0] <= limit:
        keep = torch.ones_like(w)
    else:
        idx = torch.topk(w, limit, dim=0).indices
        keep = torch.zeros_like(w).scatter_(0, idx, 1.0)
    return keep[: w_in.shape[0]], keep[w_in.shape[0] :]


def core_steps(
    w_in: torch.Tensor, w_rec: torch.Tensor, core_of: torch.Tensor, n_cores: int
) -> torch.Tensor:
    """s_c per logical core: max |w| into the core's neurons / 15 (the smallest base weight of a
    binary grid whose largest sum covers the core's largest weight); 1 for an empty core."""
    col = torch.cat([w_in, w_rec], 0).detach().abs().amax(0)  # (N,)
    s = torch.zeros(n_cores).scatter_reduce(0, core_of, col, reduce="amax", include_self=True)
    return torch.where(s > 0, s / LEVELS, torch.ones_like(s))


def quantize_ste(w: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """|w| rounded to multiples 0..15 of `step` (per column), sign kept; straight-through."""
    q = torch.sign(w) * torch.clamp(torch.round(w.abs() / step), 0, LEVELS) * step
    return w + (q - w).detach()


def masks_of(w: torch.Tensor, step: torch.Tensor) -> np.ndarray:
    """4-bit base-weight masks (uint8) of |w| on the grid `step` (per column): bit i selects the
    core's base weight Iw_i = 2**i * step."""
    k = torch.clamp(torch.round(w.detach().abs() / step), 0, LEVELS)
    return k.to(torch.uint8).numpy()


class ChipNet(torch.nn.Module):
    """Trainable weights and per-core currents of a Layout (module docstring)."""

    mask_in: torch.Tensor
    mask_rec: torch.Tensor
    core_of: torch.Tensor

    def __init__(
        self,
        layout: Layout,
        train_currents: Sequence[str] = (),
        quantize: bool = False,
        seed: int = 0,
        init_gain: float = 3.0,
        params: NeuronParams | None = None,
    ):
        super().__init__()
        self.layout, self.quantize = layout, quantize
        m_in, m_rec = layout.masks()
        self.register_buffer("mask_in", m_in)
        self.register_buffer("mask_rec", m_rec)
        self.register_buffer("core_of", torch.as_tensor(layout.core_of()))
        self.n_cores = int(self.core_of.max()) + 1
        g = torch.Generator().manual_seed(seed)
        n = layout.n_neurons
        fan = m_in.sum(0) + m_rec.sum(0)
        w_in = init_gain * torch.randn(layout.n_inputs, n, generator=g) / fan.clamp(min=1).sqrt()
        w_rec = init_gain * torch.randn(n, n, generator=g) / fan.clamp(min=1).sqrt()
        self.net = DynapNet(
            layout.n_inputs,
            n,
            params=params,
            w_in=w_in * m_in,
            w_rec=w_rec * m_rec,
            scale=SCALE,
            train_currents=tuple(train_currents),
            groups=self.core_of if train_currents else None,
            seed=seed,
        )

    @property
    def w_in(self) -> torch.nn.Parameter:
        return self.net.w_in

    @property
    def w_rec(self) -> torch.nn.Parameter:
        return self.net.w_rec

    def params(self) -> NeuronParams:
        return self.net.params()

    def steps(self) -> torch.Tensor:
        """Grid step per post neuron (N,) for the quantizer, in weight units."""
        w_in, w_rec = self.masked()
        return core_steps(w_in, w_rec, self.core_of, self.n_cores)[self.core_of]

    def masked(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Weights with the layout's masks and the fan-in limit applied (weight units)."""
        w_in, w_rec = self.w_in * self.mask_in, self.w_rec * self.mask_rec
        k_in, k_rec = fan_in_mask(w_in, w_rec)
        return w_in * k_in, w_rec * k_rec

    def effective_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The weights the chip would hold (weight units): masked, fan-in limited and, with
        `quantize`, on the per-core 4-bit grid."""
        w_in, w_rec = self.masked()
        if self.quantize:
            s = core_steps(w_in, w_rec, self.core_of, self.n_cores)[self.core_of]
            w_in, w_rec = quantize_ste(w_in, s), quantize_ste(w_rec, s)
        return w_in, w_rec

    def weights(
        self, w_in: torch.Tensor | None = None, w_rec: torch.Tensor | None = None
    ) -> Weights:
        """hil.sim.Weights in amperes from weight-unit tensors (default: effective_weights)."""
        if w_in is None or w_rec is None:
            w_in, w_rec = self.effective_weights()
        return Weights.from_signed(w_in, w_rec, SCALE)
