"""Typed records of the simulator: per-neuron parameters, synaptic weights and dynamic state.

Every per-neuron tensor has shape (instances, neurons): one row per mismatch instance. Weights carry
a leading instance dimension of 1 (shared by every instance) or `instances`. State tensors have shape
(instances, batch, neurons). Units are SI: amperes, farads, seconds, volts.

The four synapse (dendrite) types are indexed in the order of `SYNAPSE_TYPES`:
0 AMPA (fast excitatory), 1 NMDA (gated excitatory), 2 GABA (leak-like inhibition),
3 SHUNT (subtractive inhibition).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch

from hil.chip import netlist
from hil.chip.netlist import FIELDS, FLAGS, PARAMETERS
from hil.chip.netlist import SYNAPSE_TYPES as SYNAPSE_TYPES  # re-exported: the dynamics' order
from hil.chip.netlist import TYPE_INDEX as TYPE_INDEX
from hil.chip.params import HighLevel, Physics
from hil.errors import ConfigError

AMPA, NMDA, GABA, SHUNT = range(4)
DTYPE = torch.float32
PHYSICS, NOMINAL = netlist.PHYSICS, netlist.NOMINAL  # nominal device constants and currents


def _check_range(
    name: str, t: torch.Tensor, lo: float, hi: float, strict: bool, allowed: str
) -> None:
    """ConfigError naming the first element of `t` outside lo..hi (lo excluded when `strict`;
    NaN and infinities are outside), else nothing. One min/max pass; the element is located only
    on failure."""
    if t.numel() == 0:
        return
    t = t.detach()
    low, high = torch.aminmax(t)  # NaN anywhere makes both NaN
    if (low > lo if strict else low >= lo) and high <= hi and torch.isfinite(high):
        return
    ok = ((t > lo) if strict else (t >= lo)) & (t <= hi) & torch.isfinite(t)
    i = tuple(int(x) for x in torch.nonzero(~ok)[0])
    raise ConfigError(f"{name}[{', '.join(map(str, i))}]", float(t[i]), allowed)


@dataclass(frozen=True)
class NeuronParams:
    """Per-neuron bias currents [A] and capacitances [F], each of shape (instances, neurons).

    Synapse parameters have shape (instances, 4, neurons) in the order of SYNAPSE_TYPES.
    `dc_enable` (0/1, latch_so_dc) gates Idc; `alive` (0/1, not latch_soif_kill) gates spiking.
    Device constants (Io, Ut, kappa, Vth) are scalars shared by every neuron.
    The fields are hil.chip.netlist.PARAMETERS, then FLAGS (checked at import). Currents must be
    finite and >= 0, capacitances and device constants finite and > 0 (ConfigError otherwise).
    """

    Itau_mem: torch.Tensor
    Igain_mem: torch.Tensor
    Ispkthr: torch.Tensor
    Iref: torch.Tensor
    Idc: torch.Tensor
    Itau_ahp: torch.Tensor
    Igain_ahp: torch.Tensor
    Iw_ahp: torch.Tensor
    Ipulse_ahp: torch.Tensor
    Ipulse: torch.Tensor
    If_nmda: torch.Tensor
    Itau_syn: torch.Tensor  # (instances, 4, neurons)
    Igain_syn: torch.Tensor  # (instances, 4, neurons)
    C_mem: torch.Tensor
    C_ahp: torch.Tensor
    C_ref: torch.Tensor
    C_pulse: torch.Tensor
    C_pulse_ahp: torch.Tensor
    C_syn: torch.Tensor  # (instances, 4, neurons)
    dc_enable: torch.Tensor
    alive: torch.Tensor
    Io: float = Physics.Io
    Ut: float = Physics.Ut
    kappa: float = (Physics.kappa_n + Physics.kappa_p) / 2
    Vth: float = Physics.Vth

    def __post_init__(self) -> None:
        for p in PARAMETERS:
            t = getattr(self, p.name)
            if p.unit == "A":
                _check_range(p.name, t, 0.0, math.inf, False, "finite currents >= 0 [A]")
            else:
                _check_range(p.name, t, 0.0, math.inf, True, "finite capacitances > 0 [F]")
        for name in FLAGS:
            _check_range(name, getattr(self, name), 0.0, 1.0, False, "values in 0..1 (a latch)")
        for name in ("Io", "Ut", "kappa", "Vth"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and 0 < v < math.inf):
                raise ConfigError(name, v, "a finite device constant > 0")

    @property
    def instances(self) -> int:
        return self.Itau_mem.shape[0]

    @property
    def neurons(self) -> int:
        return self.Itau_mem.shape[1]

    def tensors(self) -> dict[str, torch.Tensor]:
        """The tensor fields by name."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }

    def replace(self, **changes: Any) -> NeuronParams:
        """A copy with some fields replaced (dataclasses.replace)."""
        return replace(self, **changes)

    def expand(self, instances: int) -> NeuronParams:
        """The same parameters repeated to `instances` rows (only from 1 row)."""
        if self.instances == instances:
            return self
        if self.instances != 1:
            raise ConfigError(
                "instances", self.instances, f"1 or {instances} to expand to {instances}"
            )
        return self.replace(
            **{k: v.expand(instances, *v.shape[1:]).clone() for k, v in self.tensors().items()},
        )

    def select(self, instance: int) -> NeuronParams:
        """Instance `instance` alone (a 1-row record)."""
        return self.replace(**{k: v[instance : instance + 1] for k, v in self.tensors().items()})

    def to(self, dtype: torch.dtype = DTYPE) -> NeuronParams:
        return self.replace(**{k: v.to(dtype) for k, v in self.tensors().items()})

    @classmethod
    def from_currents(
        cls,
        currents: Mapping[str, object],
        neurons: int,
        instances: int = 1,
        physics: Physics = PHYSICS,
        dc_enable: object = 1.0,
        alive: object = 1.0,
    ) -> NeuronParams:
        """Build from currents by simulation name (HighLevel.currents() keys: Itau_mem, Itau_ampa,
        ...); each value a scalar or anything broadcastable to (instances, neurons)."""

        def t(v: object) -> torch.Tensor:
            x = torch.as_tensor(v, dtype=DTYPE)
            return x.expand(instances, neurons).clone() if x.dim() < 3 else x

        values = {}
        for p in PARAMETERS:  # currents by simulation name, capacitances from `physics`
            rows = [t(currents[e] if p.unit == "A" else getattr(physics, e)) for e in p.elements()]
            values[p.name] = torch.stack(rows, dim=1) if p.per_synapse else rows[0]
        return cls(
            **values,
            dc_enable=t(dc_enable),
            alive=t(alive),
            Io=physics.Io,
            Ut=physics.Ut,
            kappa=physics.kappa,
            Vth=physics.Vth,
        )

    @classmethod
    def nominal(
        cls,
        neurons: int,
        instances: int = 1,
        high_level: HighLevel = NOMINAL,
        physics: Physics = PHYSICS,
        dc_enable: object = 1.0,
    ) -> NeuronParams:
        """Every neuron at the chip's nominal parameters (hil.chip.params.HighLevel)."""
        return cls.from_currents(
            high_level.currents(physics), neurons, instances, physics, dc_enable=dc_enable
        )


@dataclass(frozen=True)
class Weights:
    """Synaptic weight currents [A] per synapse type, indexed [pre, post].

    `w_in`: (instances or 1, 4, inputs, neurons); `w_rec`: (instances or 1, 4, neurons, neurons).
    The value is the weight current Iw a spike injects into the post neuron's DPI synapse of that
    type during its pulse (on the chip: the sum of the core's base weights selected by the CAM mask).
    Types with no non-zero weight cost nothing in the simulation. Weight currents must be finite
    and >= 0 (ConfigError otherwise): the synapse type carries the sign.
    """

    w_in: torch.Tensor
    w_rec: torch.Tensor
    # set by from_signed only: its AMPA and GABA parts of w_in and w_rec and the tensors' versions
    # then (see `signed_parts`); not an __init__ argument, so that `replace` does not carry it over
    _signed: tuple | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("w_in", "w_rec"):
            t = getattr(self, name)
            _check_range(name, t, 0.0, math.inf, False, "finite weight currents >= 0 [A]")

    def signed_parts(self) -> tuple[torch.Tensor, ...] | None:
        """For weights made by `from_signed`: (AMPA of w_in, GABA of w_in, AMPA of w_rec, GABA of
        w_rec), each (instances or 1, pre, post) [A], the tensors w_in[:, AMPA] etc. hold, with
        their autograd history from the signed weights but not through the four-type tensors
        (a cheaper path for simulate). None for other weights, or when any of these tensors or
        the four-type ones was written in place since (their values may differ then)."""
        if self._signed is None:
            return None
        parts, versions = self._signed
        now = tuple(t._version for t in (self.w_in, self.w_rec, *parts))
        return parts if now == versions else None

    @property
    def inputs(self) -> int:
        return self.w_in.shape[2]

    @property
    def neurons(self) -> int:
        return self.w_rec.shape[-1]

    @classmethod
    def zeros(cls, inputs: int, neurons: int) -> Weights:
        return cls(torch.zeros(1, 4, inputs, neurons), torch.zeros(1, 4, neurons, neurons))

    @classmethod
    def from_signed(
        cls, w_in: torch.Tensor, w_rec: torch.Tensor | None, scale: float = 1e-8
    ) -> Weights:
        """From signed float weights in units of `scale` amperes (Rockpool's Iscale = 10 nA):
        positive entries become AMPA, negative ones GABA. `w_in` (inputs, neurons) or
        (instances, inputs, neurons); `w_rec` likewise (neurons, neurons), None for none.
        Differentiable with respect to both."""
        w_in = w_in if w_in.dim() == 3 else w_in.unsqueeze(0)
        if w_rec is None:
            w_rec = torch.zeros(1, w_in.shape[-1], w_in.shape[-1], dtype=w_in.dtype)
        w_rec = w_rec if w_rec.dim() == 3 else w_rec.unsqueeze(0)

        p_in, n_in = torch.relu(w_in) * scale, torch.relu(-w_in) * scale
        p_rec, n_rec = torch.relu(w_rec) * scale, torch.relu(-w_rec) * scale

        def stack(p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
            z = torch.zeros_like(p)
            return torch.stack([p, z, n, z], dim=1)

        parts = (p_in, n_in, p_rec, n_rec)
        s_in, s_rec = stack(p_in, n_in), stack(p_rec, n_rec)
        versions = tuple(t._version for t in (s_in, s_rec, *parts))
        weights = cls(s_in, s_rec)
        object.__setattr__(weights, "_signed", (parts, versions))  # frozen: set once, here
        return weights


@dataclass
class State:
    """Dynamic state, each (instances, batch, neurons).

    u: log membrane current ln(Imem / Io) (>= 0); timer: refractory time left [s];
    isyn: synaptic currents [A] of the simulated synapse types, (instances, batch, K, neurons);
    iahp: adaptation current [A];
    spikes: spike counts of the last bin (they reach their targets in the next bin).
    """

    u: torch.Tensor
    timer: torch.Tensor
    isyn: torch.Tensor
    iahp: torch.Tensor
    spikes: torch.Tensor

    @classmethod
    def rest(cls, instances: int, batch: int, neurons: int, n_types: int = 4) -> State:
        """Every neuron at rest: Imem = Io, no synaptic or adaptation current, not refractory."""
        z = torch.zeros(instances, batch, neurons, dtype=DTYPE)
        return cls(
            u=z.clone(),
            timer=z.clone(),
            isyn=torch.zeros(instances, batch, n_types, neurons, dtype=DTYPE),
            iahp=z.clone(),
            spikes=z.clone(),
        )

    def detach(self) -> State:
        return State(*(getattr(self, f.name).detach() for f in fields(self)))

    def imem(self, params: NeuronParams) -> torch.Tensor:
        """Membrane current [A]."""
        return params.Io * torch.exp(self.u)


def _check_fields() -> None:
    names = tuple(f.name for f in fields(NeuronParams) if f.type in ("torch.Tensor",))
    if names != FIELDS + FLAGS:  # a programming error: NeuronParams and the vocabulary disagree
        raise RuntimeError(
            f"NeuronParams fields {names} differ from hil.chip.netlist {FIELDS + FLAGS}"
        )


_check_fields()
