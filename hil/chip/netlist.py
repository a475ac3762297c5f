"""A config compiled once: ChipConfig + per-neuron currents -> the network the dynamics run.

`build_netlist(config, currents=None)` resolves everything a backend needs and nothing it does not:

- neurons: the board-wide indices (hil.chip.geometry.global_neuron) of the neurons the config sets
  (or of every neuron on `n_chips` chips with `all_neurons=True`), sorted;
- currents: every bias current [A] by simulation name (`BIAS_CURRENTS`), per neuron, with the
  latches applied (latch_so_adaptation off: Iw_ahp = 0; latch_denm_nmda off: If_nmda = 0, i.e.
  NMDA acts ungated), and the per-neuron latches latch_so_dc (`dc_enable`) and not latch_soif_kill
  (`alive`);
- synapses: one row per (event source, CAM entry that hears it): the type (index into
  `SYNAPSE_TYPES`), the source (an input channel or a board-wide neuron), the target neuron, the CAM
  slot and the 4-bit base-weight mask. The weight current of a row is sum_i mask_i * Iw_i of the
  target's core (`Netlist.weights`);
- routes: every input channel's tag at every (chip, core) it reaches, and every neuron's tag at
  every (chip, core) its SRAM destinations reach.

Routing: chips sit in a row, chip c at (x, y) = (c, 0); a destination reaches chip source + x_hop
when y_hop is 0 and that chip is in the config; events to nowhere are dropped. CAM entries of
dendrite NONE or with an empty mask carry no current and are left out.

`derived_constants(fields, dt, device)` turns per-neuron currents and capacitances into the
quantities the dynamics use (time constants, pulse widths, jumps per spike, thresholds), for numpy
arrays (the emulator's engine) and torch tensors alike (the simulator, differentiably): the one
place these formulas live. Equations: docs/sim.md, shared/reference/rockpool_dynapse.md 1.4-1.8.

The parameter vocabulary lives here too: `PARAMETERS` (the simulator's per-neuron fields, their
units, whether they are per synapse type and trainable), from which NeuronParams, the mismatch
sampler, the silicon's truth table and the trainable set all derive.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from hil.chip.config import ChipConfig
from hil.chip.geometry import (
    CORES_PER_CHIP,
    LATCHES,
    NEURONS_PER_CHIP,
    NUM_BASE_WEIGHTS,
    Dendrite,
    global_neuron,
    neuron_address,
)
from hil.chip.params import (
    SIM_TO_DEVICE,
    HighLevel,
    Physics,
    core_parameters,
    currents_from_codes,
)
from hil.errors import ConfigError

# ---- the vocabulary ------------------------------------------------------------------------------

# Synapse (dendrite) types in the order the dynamics index them: 0 AMPA, 1 NMDA, 2 GABA, 3 SHUNT.
SYNAPSE_TYPES: tuple[Dendrite, ...] = (Dendrite.AMPA, Dendrite.NMDA, Dendrite.GABA, Dendrite.SHUNT)
TYPE_INDEX: dict[Dendrite, int] = {d: i for i, d in enumerate(SYNAPSE_TYPES)}
SYNAPSES: tuple[str, ...] = tuple(d.name.lower() for d in SYNAPSE_TYPES)
BASE_WEIGHTS: tuple[str, ...] = tuple(f"Iw_{i}" for i in range(NUM_BASE_WEIGHTS))


@dataclass(frozen=True)
class Parameter:
    """One per-neuron parameter of the dynamics: a field of hil.sim.NeuronParams."""

    name: str  # field name; per-synapse fields end in "_syn"
    unit: str  # "A" (a bias current) or "F" (a capacitance, hil.chip.params.Physics)
    per_synapse: bool = False  # one value per synapse type (SYNAPSE_TYPES order)
    trainable: bool = False  # hil.sim.DynapNet may train it (through its logarithm)

    def elements(self) -> tuple[str, ...]:
        """Names of its elements: the simulation names of the biases (Itau_ampa, ...) or the
        Physics capacitances (C_ampa, ...) it stacks; itself when not per synapse."""
        if not self.per_synapse:
            return (self.name,)
        stem = self.name.removesuffix("_syn")
        return tuple(f"{stem}_{s}" for s in SYNAPSES)


# The one list. Its order is NeuronParams' field order and the order the mismatch sampler draws in.
PARAMETERS: tuple[Parameter, ...] = (
    Parameter("Itau_mem", "A", trainable=True),
    Parameter("Igain_mem", "A", trainable=True),
    Parameter("Ispkthr", "A", trainable=True),
    Parameter("Iref", "A", trainable=True),
    Parameter("Idc", "A", trainable=True),
    Parameter("Itau_ahp", "A", trainable=True),
    Parameter("Igain_ahp", "A", trainable=True),
    Parameter("Iw_ahp", "A", trainable=True),
    Parameter("Ipulse_ahp", "A"),
    Parameter("Ipulse", "A"),
    Parameter("If_nmda", "A"),
    Parameter("Itau_syn", "A", per_synapse=True, trainable=True),
    Parameter("Igain_syn", "A", per_synapse=True, trainable=True),
    Parameter("C_mem", "F"),
    Parameter("C_ahp", "F"),
    Parameter("C_ref", "F"),
    Parameter("C_pulse", "F"),
    Parameter("C_pulse_ahp", "F"),
    Parameter("C_syn", "F", per_synapse=True),
)
FIELDS: tuple[str, ...] = tuple(p.name for p in PARAMETERS)
TRAINABLE: tuple[str, ...] = tuple(p.name for p in PARAMETERS if p.trainable)
# Per-neuron latches of the simulator's records besides the parameters (0/1 per neuron).
FLAGS: tuple[str, ...] = ("dc_enable", "alive")
# Every element name: per-neuron bias currents and capacitances by simulation name.
ELEMENTS: dict[str, tuple[str, int | None]] = {
    e: (p.name, i if p.per_synapse else None)
    for p in PARAMETERS
    for i, e in enumerate(p.elements())
}
# Every bias current the dynamics use, by simulation name, in hil.chip.params.SIM_TO_DEVICE's
# (Rockpool's) order: the columns of the silicon's truth table and the order its seed draws in.
# Per-neuron currents are PARAMETERS' current elements; the base weights Iw_0..3 go to synapses.
BIAS_CURRENTS: tuple[str, ...] = tuple(SIM_TO_DEVICE)
NEURON_CURRENTS: tuple[str, ...] = tuple(b for b in BIAS_CURRENTS if b not in BASE_WEIGHTS)


def _check_vocabulary() -> None:
    currents = {e for p in PARAMETERS if p.unit == "A" for e in p.elements()}
    capacitances = {e for p in PARAMETERS if p.unit == "F" for e in p.elements()}
    if currents != set(NEURON_CURRENTS) or not set(BASE_WEIGHTS) <= set(BIAS_CURRENTS):
        raise RuntimeError(  # a programming error: the two name lists disagree
            f"hil.chip.netlist.PARAMETERS currents {sorted(currents ^ set(NEURON_CURRENTS))} "
            "disagree with hil.chip.params.SIM_TO_DEVICE"
        )
    missing = capacitances - set(Physics.__dataclass_fields__)
    if missing:
        raise RuntimeError(f"capacitances {sorted(missing)} are not fields of Physics")


_check_vocabulary()


def element(name: str) -> tuple[str, int | None]:
    """(field, synapse index or None) of a field or element name ('Itau_ampa' -> ('Itau_syn', 0),
    'Itau_syn' -> ('Itau_syn', None): every type); KeyError for an unknown name."""
    if name in FIELDS:
        return name, None
    return ELEMENTS[name]


PHYSICS = Physics()  # nominal device constants and capacitances (frozen)
NOMINAL = HighLevel()  # nominal currents for biases a core does not set (frozen)


# ---- currents per core and per neuron ------------------------------------------------------------


def nominal_codes(
    physics: Physics = PHYSICS, nominal: HighLevel = NOMINAL
) -> dict[str, tuple[int, int]]:
    """The code every bias sits at when a config leaves it unset: `nominal`'s currents rounded to
    the nearest (coarse, fine) code, by device name."""
    return core_parameters(nominal.currents(physics))


def core_currents(
    config: ChipConfig, physics: Physics = PHYSICS, nominal: HighLevel = NOMINAL
) -> dict[tuple[int, int], dict[str, float]]:
    """Currents [A] by simulation name for every (chip, core) of `config`: the core's codes through
    the bias generator; biases the core does not set are at their nominal codes (`nominal_codes`,
    as on the emulated silicon)."""
    base = currents_from_codes(nominal_codes(physics, nominal))
    out = {}
    for ci, chip in enumerate(config.chips):
        for k in range(CORES_PER_CHIP):
            cur = dict(base)
            core = chip.cores.get(k)
            if core is not None:
                cur.update(currents_from_codes(core.parameters))
            out[(ci, k)] = cur
    return out


def board_currents(
    config: ChipConfig,
    n_chips: int | None = None,
    physics: Physics = PHYSICS,
    nominal: HighLevel = NOMINAL,
) -> dict[str, np.ndarray]:
    """`core_currents` per neuron: simulation name -> (n_chips * 1024,) [A] over the board-wide
    index; chips beyond the config's are nominal."""
    n_chips = len(config.chips) if n_chips is None else n_chips
    cores = core_currents(config, physics, nominal)
    base = currents_from_codes(nominal_codes(physics, nominal))
    per_core = [cores.get((c, k), base) for c in range(n_chips) for k in range(CORES_PER_CHIP)]
    n_core = NEURONS_PER_CHIP // CORES_PER_CHIP
    return {b: np.repeat([cur[b] for cur in per_core], n_core) for b in BIAS_CURRENTS}


# ---- the netlist ---------------------------------------------------------------------------------

SYNAPSE_DTYPE = np.dtype(
    [
        ("from_input", "?"),  # the source is an input channel (else a neuron)
        ("source", "<i8"),  # input channel, or board-wide neuron index
        ("target", "<i8"),  # board-wide neuron index
        ("slot", "<i2"),  # CAM slot of the target (index into its synapse list)
        ("type", "<i1"),  # index into SYNAPSE_TYPES
        ("mask", "u1"),  # 4-bit base-weight mask (bit i selects Iw_i of the target's core)
    ]
)
ROUTE_DTYPE = np.dtype(
    [
        ("source", "<i8"),  # input channel (Netlist.routes) or board-wide neuron (Netlist.fanout)
        ("chip", "<i2"),
        ("core", "<i2"),
        ("tag", "<i4"),
    ]
)


@dataclass(frozen=True)
class Netlist:
    """A ChipConfig resolved into neurons, per-neuron currents, synapses and routes (module doc).

    neurons: (N,) int64 board-wide indices, sorted; currents: simulation name -> (N,) [A];
    latches: every latch name (hil.chip.geometry.LATCHES) -> (N,) bool; channels: (C,) int64
    routed input channels, sorted; routes, fanout: ROUTE_DTYPE; synapses: SYNAPSE_DTYPE, in config
    order (target neuron, CAM slot, then source).
    """

    n_chips: int
    neurons: np.ndarray
    currents: dict[str, np.ndarray]
    latches: dict[str, np.ndarray]
    channels: np.ndarray
    routes: np.ndarray
    fanout: np.ndarray
    synapses: np.ndarray

    @property
    def dc_enable(self) -> np.ndarray:
        """(N,) bool: latch_so_dc, which gates Idc."""
        return self.latches["latch_so_dc"]

    @property
    def alive(self) -> np.ndarray:
        """(N,) bool: not latch_soif_kill."""
        return ~self.latches["latch_soif_kill"]

    def with_currents(self, currents: Mapping[str, np.ndarray]) -> Netlist:
        """The same network with other board-wide currents (simulation name -> (n_chips * 1024,)
        [A]), e.g. after some biases changed: neurons, latches, synapses and routes are kept."""
        return replace(self, currents=_neuron_currents(currents, self))

    def columns(self, index: np.ndarray | int) -> np.ndarray:
        """Position in `neurons` of board-wide indices (-1 where a neuron is not in the netlist)."""
        g = np.atleast_1d(np.asarray(index, dtype=np.int64))
        i = np.searchsorted(self.neurons, g)
        ok = i < self.neurons.size
        ok[ok] = self.neurons[i[ok]] == g[ok]
        return np.where(ok, i, -1)

    def fields(self, physics: Physics = PHYSICS) -> dict[str, np.ndarray]:
        """The simulator's per-neuron fields (FIELDS, then FLAGS) as float64 arrays: (N,), or
        (4, N) for per-synapse ones; capacitances from `physics`."""
        n = self.neurons.size
        out = {}
        for p in PARAMETERS:
            rows = [
                self.currents[e] if p.unit == "A" else np.full(n, getattr(physics, e))
                for e in p.elements()
            ]
            out[p.name] = np.stack(rows) if p.per_synapse else rows[0]
        out["dc_enable"] = self.dc_enable.astype(np.float64)
        out["alive"] = self.alive.astype(np.float64)
        return out

    def weights(self, factor: np.ndarray | None = None) -> np.ndarray:
        """(S,) weight current [A] of every synapse row: sum_i mask_i Iw_i of the target's core,
        times `factor[chip, core, neuron, slot]` of the target's CAM slot when given."""
        s = self.synapses
        col = self.columns(s["target"])
        w = np.zeros(s.size)
        for i, name in enumerate(BASE_WEIGHTS):
            on = (s["mask"] >> i & 1).astype(bool)
            w[on] += self.currents[name][col[on]]
        if factor is not None:
            chip, core, neuron = neuron_address(s["target"])
            w *= factor[chip, core, neuron, s["slot"]]
        return w


def build_netlist(
    config: ChipConfig,
    currents: Mapping[str, np.ndarray] | None = None,
    *,
    n_chips: int | None = None,
    all_neurons: bool = False,
    physics: Physics = PHYSICS,
    nominal: HighLevel = NOMINAL,
    validate: bool = True,
) -> Netlist:
    """Validate `config` (ConfigError on any violation; `validate=False` for a caller that just
    did) and resolve it (module docstring).

    currents: simulation name -> (n_chips * 1024,) effective current [A] of every neuron over the
    board-wide index (e.g. a hidden silicon's truth); None: each neuron gets its core's codes
    through the bias generator, and the nominal codes for biases its core does not set.
    n_chips: chips of the board (default: the config's); `all_neurons`: every neuron of them, not
    only the neurons the config sets.
    """
    if validate:
        config.validate()
    n_chips = len(config.chips) if n_chips is None else n_chips
    if currents is None:
        currents = board_currents(config, n_chips, physics, nominal)
    set_neurons = list(config.neurons())
    if all_neurons:
        neurons = np.arange(n_chips * NEURONS_PER_CHIP, dtype=np.int64)
    else:
        neurons = np.array([global_neuron(c, k, n) for c, k, n, _ in set_neurons], np.int64)
    col = {int(g): i for i, g in enumerate(neurons)}
    latches = {name: np.zeros(neurons.size, bool) for name in LATCHES}
    for c, k, n, nr in set_neurons:
        for name, on in nr.latches.items():
            latches[name][col[global_neuron(c, k, n)]] = on

    # who sends each (chip, core, tag): input channels and neurons
    routes = [
        (r.channel, r.chip, k, r.tag)
        for r in config.inputs
        for k in range(CORES_PER_CHIP)
        if r.core[k]
    ]
    fanout = []
    for c, k, n, nr in set_neurons:
        for d in nr.destinations:
            target = c + d.x_hop
            if d.y_hop == 0 and 0 <= target < len(config.chips):
                g = global_neuron(c, k, n)
                fanout += [(g, target, tk, d.tag) for tk in range(CORES_PER_CHIP) if d.core[tk]]
    heard: dict[tuple[int, int, int], list[tuple[bool, int]]] = defaultdict(list)
    for src, chip, core, tag in routes:
        heard[(chip, core, tag)].append((True, src))
    for src, chip, core, tag in fanout:
        heard[(chip, core, tag)].append((False, src))

    rows = []
    for c, k, n, nr in set_neurons:
        g = global_neuron(c, k, n)
        for slot, s in enumerate(nr.synapses):
            mask = sum(1 << i for i, b in enumerate(s.weight) if b)
            if s.dendrite is Dendrite.NONE or mask == 0:
                continue
            t = TYPE_INDEX[s.dendrite]
            rows += [(inp, src, g, slot, t, mask) for inp, src in heard.get((c, k, s.tag), ())]
    net = Netlist(
        n_chips=n_chips,
        neurons=neurons,
        currents={},
        latches=latches,
        channels=np.array(sorted({r.channel for r in config.inputs}), np.int64),
        routes=np.array(routes, ROUTE_DTYPE),
        fanout=np.array(fanout, ROUTE_DTYPE),
        synapses=np.array(rows, SYNAPSE_DTYPE),
    )
    return net.with_currents(currents)


def _neuron_currents(currents: Mapping[str, np.ndarray], net: Netlist) -> dict[str, np.ndarray]:
    """The netlist's neurons' rows of board-wide `currents`, with the latches applied."""
    cur = {b: _board_array(currents, b, net.n_chips)[net.neurons] for b in BIAS_CURRENTS}
    cur["Iw_ahp"] = np.where(net.latches["latch_so_adaptation"], cur["Iw_ahp"], 0.0)
    cur["If_nmda"] = np.where(net.latches["latch_denm_nmda"], cur["If_nmda"], 0.0)
    return cur


def _board_array(currents: Mapping[str, np.ndarray], name: str, n_chips: int) -> np.ndarray:
    want = (n_chips * NEURONS_PER_CHIP,)
    if name not in currents:
        raise ConfigError(f"currents[{name}]", "missing", "every bias current by simulation name")
    v = np.asarray(currents[name], dtype=np.float64)
    if v.shape != want:
        raise ConfigError(f"currents[{name}]", f"shape {v.shape}", f"shape {want} (board-wide)")
    return v


# ---- derived constants ---------------------------------------------------------------------------


class Device(Protocol):
    """Device constants: dark current Io [A], thermal voltage Ut [V], subthreshold slope kappa,
    threshold voltage Vth [V] (hil.chip.params.Physics and hil.sim.NeuronParams have them).
    Read-only properties here, so frozen dataclasses match."""

    @property
    def Io(self) -> float: ...
    @property
    def Ut(self) -> float: ...
    @property
    def kappa(self) -> float: ...
    @property
    def Vth(self) -> float: ...


def _ops(x: Any, floor: float) -> tuple[Callable, Callable, Callable, Callable]:
    """exp, expm1, log and max(x, floor) for numpy arrays or torch tensors (torch is imported only
    when a tensor is given, so hil.chip stays importable without it)."""
    if type(x).__module__.split(".")[0] == "torch":
        import torch

        return torch.exp, torch.expm1, torch.log, lambda v: v.clamp(min=floor)
    return np.exp, np.expm1, np.log, lambda v: np.maximum(v, floor)


def derived_constants(fields: Mapping[str, Any], dt: float, device: Device) -> dict[str, Any]:
    """What the dynamics compute from currents and capacitances, for a time step `dt` [s].

    fields: FIELDS and FLAGS by name (numpy arrays or torch tensors). Per-synapse ones have a
    synapse axis at -2 ((..., K, N), K the simulated types); the others must broadcast against
    them (e.g. (..., 1, N), or (N,) against (K, N)). Currents below the dark current Io act as Io.
    Returns, with the shapes of the inputs (per synapse: tau_syn, syn_jump, syn_decay, syn_mean):
        tau_syn [s]     DPI time constant (Ut/kappa) C_syn / Itau_syn
        t_pulse [s]     pulse width Vth C_pulse / Ipulse
        syn_jump        synaptic current [A] per weight current [A] of one spike:
                        (Igain/Itau) (1 - exp(-t_pulse / tau_syn))
        syn_decay       exp(-dt / tau_syn); syn_mean: the mean of exp(-t/tau) over the step
        tau_ahp, t_pulse_ahp, ahp_jump [A per spike, Iw_ahp included], ahp_decay, ahp_mean
        tau_mem [s], inv_tau [1/s] (0 where not alive), Itau, Ig [A] (Itau_mem, Igain_mem),
        gain = Ig / Itau, fb = Io / Itau, dc = Idc * dc_enable [A], If_nmda [A],
        u_th = ln(Ispkthr / Io), t_ref = Vth C_ref / Iref [s], gamma = kappa / (kappa + 1)
    Differentiable in every torch input; the simulator and the emulator's engine both use it.
    """
    p, Io = fields, device.Io
    exp, expm1, log, lo = _ops(p["Itau_mem"], Io)
    ut_k = device.Ut / device.kappa
    tau_syn = ut_k * p["C_syn"] / lo(p["Itau_syn"])
    t_pulse = device.Vth * p["C_pulse"] / lo(p["Ipulse"])
    syn_jump = lo(p["Igain_syn"]) / lo(p["Itau_syn"]) * -expm1(-t_pulse / tau_syn)
    tau_ahp = ut_k * p["C_ahp"] / lo(p["Itau_ahp"])
    t_pulse_ahp = device.Vth * p["C_pulse_ahp"] / lo(p["Ipulse_ahp"])
    ahp_jump = lo(p["Igain_ahp"]) / lo(p["Itau_ahp"]) * p["Iw_ahp"] * -expm1(-t_pulse_ahp / tau_ahp)
    Itau = lo(p["Itau_mem"])
    tau_mem = ut_k * p["C_mem"] / Itau
    Ig = lo(p["Igain_mem"])
    return {
        "tau_syn": tau_syn,
        "t_pulse": t_pulse,
        "syn_jump": syn_jump,
        "syn_decay": exp(-dt / tau_syn),
        "syn_mean": -expm1(-dt / tau_syn) * tau_syn / dt,
        "tau_ahp": tau_ahp,
        "t_pulse_ahp": t_pulse_ahp,
        "ahp_jump": ahp_jump,
        "ahp_decay": exp(-dt / tau_ahp),
        "ahp_mean": -expm1(-dt / tau_ahp) * tau_ahp / dt,
        "tau_mem": tau_mem,
        "inv_tau": p["alive"] / tau_mem,
        "Itau": Itau,
        "Ig": Ig,
        "gain": Ig / Itau,
        "fb": Io / Itau,
        "dc": p["Idc"] * p["dc_enable"],
        "If_nmda": p["If_nmda"],
        "u_th": log(lo(p["Ispkthr"]) / Io),
        "t_ref": device.Vth * p["C_ref"] / lo(p["Iref"]),
        "gamma": device.kappa / (device.kappa + 1.0),
    }
