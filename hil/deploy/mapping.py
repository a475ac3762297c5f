"""Map a quantized network onto chips, cores, neurons, CAM slots, tags and routes, and back.

Forward (`to_config`): logical core k of the network goes to the physical (chip, core)
`placement.cores[k]`; network neuron i to the board-wide neuron `placement.neurons[i]`
(hil.chip.geometry.global_neuron), which must lie in its logical core's physical core. Nothing is
dropped: every neuron gets a physical neuron, every synapse with a non-zero mask a CAM entry.

- Tags are allocated per chip: every source whose events reach a chip (an input channel, or a
  neuron with a target there) gets its own tag on that chip, inputs first (by task channel), then
  neurons (by board-wide index), from 0 up. A CAM entry listens for its source's tag on its chip,
  so two sources never share a tag where either is heard.
- Routes: input channel c is injected into every chip that has a target of c, seen by the cores
  there that have one (`InputRoute`); a neuron gets one SRAM destination per chip that has a target
  of it (x_hop = target chip - own chip, y_hop = 0: chips sit in a row, hil.chip.netlist), core mask
  = the cores there with a target.
- CAM slots of a neuron: its input synapses first (by task channel), then its recurrent ones (by
  network index). Sign > 0 is AMPA, < 0 GABA (the sign decides the synapse type).
- Per-core biases: the logical core's codes (`QuantizedNetwork.parameters`), base weights included.
  latch_so_dc is set where `dc_enable` says.
- Input map: task channel i -> board channel `channels[i]` (default i). Output map: board neuron ->
  task output (the classes' neurons through `placement.neurons`).

Refused with a ConfigError naming the constraint: more logical cores than a board has (4 chips x
4 cores), more than 256 neurons in a logical core, a fan-in above 64 CAM entries, more than 2048
tags on a chip, board channels outside 0..65535 or repeated.

Reverse (`from_config`): the config is compiled through hil.chip.netlist (the path every backend
runs), and each synapse row (source, target, type, mask) becomes a mask and a sign again; with the
map, neurons and channels get their network indices back, so a network round-trips exactly (the
tests check this with hypothesis).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from hil.chip.config import (
    Chip,
    ChipConfig,
    Core,
    Destination,
    InputRoute,
    Neuron,
    Synapse,
    mask_bits,
)
from hil.chip.geometry import (
    CORES_PER_CHIP,
    MAX_CHIPS,
    NEURONS_PER_CORE,
    NUM_INPUT_CHANNELS,
    NUM_TAGS,
    SYNAPSES_PER_NEURON,
    Dendrite,
    global_neuron,
    neuron_address,
)
from hil.chip.netlist import SYNAPSE_TYPES, build_netlist
from hil.errors import ConfigError
from hil.train import check_decode

MAX_CORES = MAX_CHIPS * CORES_PER_CHIP


@dataclass
class QuantizedNetwork:
    """What a chip can hold of a network, as plain arrays (indexed [pre, post]).

    masks_in (n_inputs, N), masks_rec (N, N): uint8 4-bit base-weight masks (0: no synapse);
    sign_in, sign_rec: int8, +1 AMPA, -1 GABA, 0 where the mask is 0; core_of (N,): logical core of
    each neuron; parameters: per logical core, device bias name -> (coarse, fine), the base weights
    SYAM_W0_P..SYAM_W3_P included; dc_enable (N,) bool: latch_so_dc; outputs: neuron indices per
    task output (class); decode: how their counts make class scores (hil.train.model.class_scores)."""

    masks_in: np.ndarray
    masks_rec: np.ndarray
    sign_in: np.ndarray
    sign_rec: np.ndarray
    core_of: np.ndarray
    parameters: list[dict[str, tuple[int, int]]]
    dc_enable: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    outputs: list[list[int]] = field(default_factory=list)
    decode: str = "sum"

    def __post_init__(self) -> None:
        self.masks_in = np.asarray(self.masks_in, dtype=np.uint8)
        self.masks_rec = np.asarray(self.masks_rec, dtype=np.uint8)
        self.sign_in = np.asarray(self.sign_in, dtype=np.int8)
        self.sign_rec = np.asarray(self.sign_rec, dtype=np.int8)
        self.core_of = np.asarray(self.core_of, dtype=np.int64)
        check_decode(self.decode)
        n = self.core_of.size
        self.dc_enable = np.asarray(self.dc_enable, dtype=bool)
        if self.dc_enable.size == 0:
            self.dc_enable = np.zeros(n, bool)
        shapes_ok = (
            self.masks_in.ndim == 2
            and self.masks_in.shape[1] == n
            and self.sign_in.shape == self.masks_in.shape
            and self.masks_rec.shape == (n, n)
            and self.sign_rec.shape == (n, n)
            and self.dc_enable.shape == (n,)
        )
        if not shapes_ok:
            raise ConfigError(
                "network arrays",
                f"masks_in {self.masks_in.shape}, masks_rec {self.masks_rec.shape}, "
                f"core_of {self.core_of.shape}",
                "masks/sign_in (n_inputs, N), masks/sign_rec (N, N), core_of and dc_enable (N,)",
            )
        for name in ("in", "rec"):
            m, s = getattr(self, f"masks_{name}"), getattr(self, f"sign_{name}")
            if m.max(initial=0) > 15:
                raise ConfigError(f"masks_{name}", int(m.max()), "4-bit masks 0..15")
            if np.any((s != 0) != (m != 0)) or np.any(np.abs(s) > 1):
                raise ConfigError(
                    f"sign_{name}",
                    "a sign without a mask or a mask without one",
                    "+1 or -1 exactly where the mask is non-zero, 0 elsewhere",
                )
        if n and self.core_of.min() < 0:
            raise ConfigError("core_of", int(self.core_of.min()), "logical core indices >= 0")
        if len(self.parameters) != self.n_cores:
            raise ConfigError(
                "parameters",
                len(self.parameters),
                f"one dict of bias codes per logical core ({self.n_cores})",
            )

    @property
    def n_inputs(self) -> int:
        return int(self.masks_in.shape[0])

    @property
    def n_neurons(self) -> int:
        return int(self.core_of.size)

    @property
    def n_cores(self) -> int:
        return int(self.core_of.max()) + 1 if self.core_of.size else 0


@dataclass
class Placement:
    """Where a network sits: cores (n_cores, 2) physical (chip, core) per logical core; neurons
    (N,) board-wide neuron index per network neuron; channels (n_inputs,) board input channel per
    task channel."""

    cores: np.ndarray
    neurons: np.ndarray
    channels: np.ndarray

    def __post_init__(self) -> None:
        self.cores = np.asarray(self.cores, dtype=np.int64).reshape(-1, 2)
        self.neurons = np.asarray(self.neurons, dtype=np.int64)
        self.channels = np.asarray(self.channels, dtype=np.int64)

    @property
    def n_chips(self) -> int:
        """Chips the placement uses (1 + the highest chip index)."""
        return int(self.cores[:, 0].max()) + 1 if self.cores.size else 1


def check_capacity(net: QuantizedNetwork) -> None:
    """Refuse what no placement can fit (ConfigError naming the constraint)."""
    if net.n_cores > MAX_CORES:
        raise ConfigError(
            "cores",
            f"{net.n_cores} logical cores",
            f"at most {MAX_CORES} ({MAX_CHIPS} chips x {CORES_PER_CHIP} cores per board)",
        )
    sizes = np.bincount(net.core_of, minlength=net.n_cores)
    if sizes.max(initial=0) > NEURONS_PER_CORE:
        k = int(sizes.argmax())
        raise ConfigError(
            f"core_of (logical core {k})",
            f"{int(sizes[k])} neurons",
            f"at most {NEURONS_PER_CORE} neurons per core",
        )
    fan_in = np.count_nonzero(net.masks_in, axis=0) + np.count_nonzero(net.masks_rec, axis=0)
    if fan_in.max(initial=0) > SYNAPSES_PER_NEURON:
        i = int(fan_in.argmax())
        raise ConfigError(
            f"fan-in of neuron {i}",
            f"{int(fan_in[i])} synapses",
            f"at most {SYNAPSES_PER_NEURON} CAM entries per neuron (inputs and recurrent "
            f"together; {int(np.count_nonzero(fan_in > SYNAPSES_PER_NEURON))} neurons exceed it)",
        )


def block_cores(n_neurons: int) -> np.ndarray:
    """core_of for a network without one: consecutive blocks of 256 neurons, ceil(N / 256) cores
    (Rockpool's mapper uses N // 256 + 1 and splits 256 neurons over 2 cores)."""
    return np.arange(n_neurons, dtype=np.int64) // NEURONS_PER_CORE


def naive_placement(net: QuantizedNetwork) -> Placement:
    """Logical core k on physical core k (chip k // 4, core k % 4), its neurons on the core's
    neurons 0, 1, ... in network order; task channel i on board channel i."""
    check_capacity(net)
    cores = np.array([[k // CORES_PER_CHIP, k % CORES_PER_CHIP] for k in range(net.n_cores)])
    neurons = np.zeros(net.n_neurons, np.int64)
    for k in range(net.n_cores):
        members = np.flatnonzero(net.core_of == k)
        neurons[members] = global_neuron(cores[k, 0], cores[k, 1], np.arange(members.size))
    return Placement(cores=cores.reshape(-1, 2), neurons=neurons, channels=np.arange(net.n_inputs))


def check_placement(net: QuantizedNetwork, placement: Placement) -> None:
    """ConfigError unless `placement` places every neuron of `net` once, in its core's place."""
    p = placement
    if p.cores.shape != (net.n_cores, 2) or p.neurons.shape != (net.n_neurons,):
        raise ConfigError(
            "placement",
            f"cores {p.cores.shape}, neurons {p.neurons.shape}",
            f"cores ({net.n_cores}, 2) and neurons ({net.n_neurons},)",
        )
    if p.channels.shape != (net.n_inputs,):
        raise ConfigError("placement.channels", p.channels.shape, f"({net.n_inputs},)")
    chips, cores = p.cores[:, 0], p.cores[:, 1]
    if np.any((chips < 0) | (chips >= MAX_CHIPS) | (cores < 0) | (cores >= CORES_PER_CHIP)):
        raise ConfigError(
            "placement.cores",
            p.cores.tolist(),
            f"(chip 0..{MAX_CHIPS - 1}, core 0..{CORES_PER_CHIP - 1}) pairs",
        )
    if len({(int(a), int(b)) for a, b in p.cores}) != net.n_cores:
        raise ConfigError("placement.cores", p.cores.tolist(), "one physical core per logical core")
    if np.unique(p.neurons).size != net.n_neurons:
        raise ConfigError("placement.neurons", "a physical neuron used twice", "distinct neurons")
    chip, core, _ = neuron_address(p.neurons)
    want = p.cores[net.core_of]
    if np.any(chip != want[:, 0]) or np.any(core != want[:, 1]) or np.any(p.neurons < 0):
        raise ConfigError(
            "placement.neurons",
            "a neuron outside its logical core's core",
            "neurons on the physical core of their logical core",
        )
    ch = p.channels
    if np.any((ch < 0) | (ch >= NUM_INPUT_CHANNELS)) or np.unique(ch).size != ch.size:
        raise ConfigError(
            "placement.channels",
            "out of range or repeated",
            f"distinct board channels 0..{NUM_INPUT_CHANNELS - 1}",
        )


def to_config(net: QuantizedNetwork, placement: Placement | None = None) -> ChipConfig:
    """The ChipConfig that runs `net` where `placement` says (default `naive_placement`)."""
    check_capacity(net)
    p = naive_placement(net) if placement is None else placement
    check_placement(net, p)
    cfg = ChipConfig(chips=[Chip() for _ in range(p.n_chips)])
    for k in range(net.n_cores):
        cfg.core(int(p.cores[k, 0]), int(p.cores[k, 1])).parameters = dict(net.parameters[k])
    chip_of, core_of, slot_of = neuron_address(p.neurons)

    # sources heard on each chip: ("in", task channel) or ("n", network neuron)
    heard: dict[int, set[tuple[int, int]]] = defaultdict(set)
    pre_in, post_in = np.nonzero(net.masks_in)
    pre_rec, post_rec = np.nonzero(net.masks_rec)
    for a, b in zip(pre_in, post_in, strict=True):
        heard[int(chip_of[b])].add((0, int(a)))
    for a, b in zip(pre_rec, post_rec, strict=True):
        heard[int(chip_of[b])].add((1, int(p.neurons[a])))
    tag: dict[tuple[int, int, int], int] = {}
    for chip, sources in heard.items():
        if len(sources) > NUM_TAGS:
            raise ConfigError(
                f"tags on chip {chip}",
                f"{len(sources)} sources heard there",
                f"at most {NUM_TAGS} tags per chip (inputs and neurons together)",
            )
        for t, (kind, src) in enumerate(sorted(sources)):
            tag[(chip, kind, src)] = t

    # input routes: channel -> chips -> core masks
    in_cores: dict[tuple[int, int], set[int]] = defaultdict(set)
    for a, b in zip(pre_in, post_in, strict=True):
        in_cores[(int(a), int(chip_of[b]))].add(int(core_of[b]))
    for (src, dst), ks in sorted(in_cores.items()):
        cfg.inputs.append(
            InputRoute(
                channel=int(p.channels[src]), chip=dst, tag=tag[(dst, 0, src)], core=_core_mask(ks)
            )
        )

    # neurons: CAM entries (inputs first, then recurrent), SRAM destinations, latches
    neurons = {}
    for i in range(net.n_neurons):
        nr = Neuron()
        c = int(chip_of[i])
        for a in np.flatnonzero(net.masks_in[:, i]):
            nr.synapses.append(_synapse(tag[(c, 0, int(a))], net.masks_in[a, i], net.sign_in[a, i]))
        for a in np.flatnonzero(net.masks_rec[:, i]):
            t = tag[(c, 1, int(p.neurons[a]))]
            nr.synapses.append(_synapse(t, net.masks_rec[a, i], net.sign_rec[a, i]))
        if net.dc_enable[i]:
            nr.latches["latch_so_dc"] = True
        neurons[i] = nr
    out_cores: dict[tuple[int, int], set[int]] = defaultdict(set)
    for a, b in zip(pre_rec, post_rec, strict=True):
        out_cores[(int(a), int(chip_of[b]))].add(int(core_of[b]))
    for (pre, dst), ks in sorted(out_cores.items()):
        own = int(chip_of[pre])
        neurons[pre].destinations.append(
            Destination(
                tag=tag[(dst, 1, int(p.neurons[pre]))],
                core=_core_mask(ks),
                x_hop=dst - own,
                y_hop=0,
            )
        )
    for i, nr in neurons.items():
        cfg.core(int(chip_of[i]), int(core_of[i])).neurons[int(slot_of[i])] = nr
    return cfg.validate()


def _synapse(tag: int, mask: int, sign: int) -> Synapse:
    return Synapse(
        tag=tag, dendrite=Dendrite.AMPA if sign > 0 else Dendrite.GABA, weight=mask_bits(int(mask))
    )


def _core_mask(cores: set[int]) -> tuple[bool, bool, bool, bool]:
    return tuple(k in cores for k in range(CORES_PER_CHIP))  # type: ignore[return-value]


def from_config(
    config: ChipConfig, placement: Placement | None = None
) -> tuple[QuantizedNetwork, Placement]:
    """The network a config runs (module docstring, "Reverse"), and where it sits.

    With `placement` (the map written at deployment), neurons, logical cores and input channels get
    their network indices back; without it, neurons are numbered in board order, logical cores in
    (chip, core) order and inputs in board-channel order. A config a network cannot have produced
    (a CAM entry that hears two sources, two entries for one source, a synapse type other than
    AMPA or GABA) is a ConfigError."""
    net = build_netlist(config)
    if placement is None:
        cores = sorted({neuron_address(int(g))[:2] for g in net.neurons})
        core_index = {c: k for k, c in enumerate(cores)}
        neurons, channels = net.neurons, net.channels
        placement = Placement(
            cores=np.array(cores).reshape(-1, 2), neurons=neurons, channels=channels
        )
    else:
        core_index = {(int(a), int(b)): k for k, (a, b) in enumerate(placement.cores)}
        neurons, channels = placement.neurons, placement.channels
    index = {int(g): i for i, g in enumerate(neurons)}
    chan = {int(c): i for i, c in enumerate(channels)}
    n, n_in = neurons.size, channels.size
    if set(index) != {int(g) for g in net.neurons}:
        raise ConfigError(
            "placement.neurons",
            "neurons the config does not set, or misses",
            "exactly the neurons the config sets",
        )
    masks_in = np.zeros((n_in, n), np.uint8)
    masks_rec = np.zeros((n, n), np.uint8)
    sign_in = np.zeros((n_in, n), np.int8)
    sign_rec = np.zeros((n, n), np.int8)
    slots = set()
    for s in net.synapses:
        post = index[int(s["target"])]
        key = (int(s["target"]), int(s["slot"]))
        if key in slots:
            raise ConfigError(
                f"CAM slot {key[1]} of neuron {key[0]}",
                "hears several sources",
                "one source per CAM entry (distinct tags on a chip)",
            )
        slots.add(key)
        dend = SYNAPSE_TYPES[int(s["type"])]
        if dend not in (Dendrite.AMPA, Dendrite.GABA):
            raise ConfigError(
                f"CAM slot {key[1]} of neuron {key[0]}",
                dend.name.lower(),
                "ampa or gaba (a network's sign picks one of them)",
            )
        if s["from_input"]:
            if int(s["source"]) not in chan:
                raise ConfigError("inputs", int(s["source"]), "a channel of the input map")
            m, sg, pre = masks_in, sign_in, chan[int(s["source"])]
        else:
            m, sg, pre = masks_rec, sign_rec, index[int(s["source"])]
        if m[pre, post]:
            raise ConfigError(
                f"neuron {key[0]}",
                "two CAM entries for one source",
                "one synapse per (source, target) pair",
            )
        m[pre, post] = s["mask"]
        sg[pre, post] = dend.sign
    chip, core, _ = neuron_address(np.asarray(neurons, dtype=np.int64))
    core_of = np.array(
        [core_index[(int(a), int(b))] for a, b in zip(chip, core, strict=True)], dtype=np.int64
    )
    parameters = [
        dict(config.chips[int(a)].cores.get(int(b), Core()).parameters)
        for a, b in placement.cores.reshape(-1, 2)
    ]
    dc = net.dc_enable[net.columns(neurons)] if n else np.zeros(0, bool)
    return (
        QuantizedNetwork(
            masks_in=masks_in,
            masks_rec=masks_rec,
            sign_in=sign_in,
            sign_rec=sign_rec,
            core_of=core_of,
            parameters=parameters,
            dc_enable=dc,
        ),
        placement,
    )
