"""ChipConfig: what a board receives. chips > cores > {parameters, neurons > {synapses, destinations,
latches}}, plus the input routes that say where each input channel's events are injected.

Configs are sparse: only what is set is present (cores and neurons are keyed by index). Field names
follow samna's Dynap-SE2 model (ecosystem.md section 3.3): coarse_value, fine_value, type, tag,
dendrite, weight (4 bools), stp, precise_delay, mismatched_delay, core (4 bools), x_hop, y_hop and the
latch_* flags. `validate()` checks every hardware constraint and names the path of what is wrong.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from hil.artifacts import parse_json, read_json, write_atomic
from hil.chip.biasgen import PARAMETERS
from hil.chip.geometry import (
    COARSE_MAX,
    CORES_PER_CHIP,
    DESTINATIONS_PER_NEURON,
    FINE_MAX,
    LATCHES,
    MAX_CHIPS,
    MAX_HOP,
    NEURONS_PER_CORE,
    NUM_BASE_WEIGHTS,
    NUM_INPUT_CHANNELS,
    NUM_TAGS,
    SYNAPSES_PER_NEURON,
    Dendrite,
)
from hil.errors import ConfigError

SCHEMA = "hil.chipconfig/1"
Mask = tuple[bool, bool, bool, bool]
NO_MASK: Mask = (False, False, False, False)


def mask_bits(mask: int) -> Mask:
    """4-bit integer (bit i selects base weight i) -> 4 bools, samna's `weight` list."""
    return tuple(bool(mask >> i & 1) for i in range(NUM_BASE_WEIGHTS))  # type: ignore[return-value]


def mask_int(bits: Mask) -> int:
    """4 bools -> 4-bit integer."""
    return sum(1 << i for i, b in enumerate(bits) if b)


@dataclass
class Synapse:
    """One CAM entry: listens for `tag`, adds the core's base weights selected by `weight`."""

    tag: int
    dendrite: Dendrite = Dendrite.AMPA
    weight: Mask = NO_MASK
    stp: bool = False
    precise_delay: bool = False
    mismatched_delay: bool = False


@dataclass
class Destination:
    """One SRAM entry: sends this neuron's spikes with `tag` to the cores in `core` of the chip
    `x_hop`, `y_hop` away."""

    tag: int
    core: Mask = (True, True, True, True)
    x_hop: int = 0
    y_hop: int = 0


@dataclass
class Neuron:
    synapses: list[Synapse] = field(default_factory=list)
    destinations: list[Destination] = field(default_factory=list)
    latches: dict[str, bool] = field(default_factory=dict)


@dataclass
class Core:
    """Per-core biases {device name: (coarse, fine)} and the neurons that are set, by index."""

    parameters: dict[str, tuple[int, int]] = field(default_factory=dict)
    neurons: dict[int, Neuron] = field(default_factory=dict)


@dataclass
class Chip:
    cores: dict[int, Core] = field(default_factory=dict)


@dataclass
class InputRoute:
    """Input channel `channel` is injected into chip `chip` as tag `tag`, seen by the cores in `core`."""

    channel: int
    chip: int
    tag: int
    core: Mask = (True, True, True, True)


@dataclass
class ChipConfig:
    chips: list[Chip] = field(default_factory=lambda: [Chip()])
    inputs: list[InputRoute] = field(default_factory=list)

    # -- traversal -------------------------------------------------------------------------------
    def neurons(self) -> Iterator[tuple[int, int, int, Neuron]]:
        """(chip, core, neuron index, Neuron) for every neuron that is set, in address order."""
        for ci, chip in enumerate(self.chips):
            for k in sorted(chip.cores):
                for n in sorted(chip.cores[k].neurons):
                    yield ci, k, n, chip.cores[k].neurons[n]

    def core(self, chip: int, core: int) -> Core:
        """The core at (chip, core), created empty when not yet set."""
        return self.chips[chip].cores.setdefault(core, Core())

    # -- validation ------------------------------------------------------------------------------
    def errors(self) -> list[ConfigError]:
        """Every violated hardware constraint, in traversal order (empty when valid)."""
        return list(_errors(self))

    def validate(self) -> ChipConfig:
        """Raise ConfigError for the first violation (its message counts the others); else self."""
        errs = self.errors()
        if errs:
            e = errs[0]
            raise ConfigError(e.path, e.value, e.allowed, more=len(errs) - 1)
        return self

    # -- JSON ------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "chips": [
                {"cores": {str(k): _core_dict(c) for k, c in sorted(chip.cores.items())}}
                for chip in self.chips
            ],
            "inputs": [
                {"channel": r.channel, "chip": r.chip, "tag": r.tag, "core": list(r.core)}
                for r in self.inputs
            ],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    def content_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON: the config's provenance identity."""
        canon = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()

    @classmethod
    def from_dict(cls, data: object) -> ChipConfig:
        """Parse and validate; any problem raises ConfigError naming its path."""
        return _parse_config(data).validate()

    @classmethod
    def from_json(cls, text: str) -> ChipConfig:
        return cls.from_dict(parse_json(text, "<json>"))

    @classmethod
    def load(cls, path: str | Path) -> ChipConfig:
        """Read a config file: ArtifactError when it cannot be read, ConfigError for bad JSON or a
        violated constraint."""
        return cls.from_dict(read_json(path, "config file"))

    def save(self, path: str | Path) -> Path:
        """Validate, then write JSON atomically."""
        self.validate()
        return write_atomic(path, self.to_json() + "\n")


def _core_dict(core: Core) -> dict:
    return {
        "parameters": {
            name: {"coarse_value": c, "fine_value": f, "type": name[-1]}
            for name, (c, f) in sorted(core.parameters.items())
        },
        "neurons": {str(n): _neuron_dict(nr) for n, nr in sorted(core.neurons.items())},
    }


def _neuron_dict(n: Neuron) -> dict:
    return {
        "synapses": [
            {
                "tag": s.tag,
                "dendrite": s.dendrite.name.lower(),
                "weight": list(s.weight),
                "stp": s.stp,
                "precise_delay": s.precise_delay,
                "mismatched_delay": s.mismatched_delay,
            }
            for s in n.synapses
        ],
        "destinations": [
            {"tag": d.tag, "core": list(d.core), "x_hop": d.x_hop, "y_hop": d.y_hop}
            for d in n.destinations
        ],
        **{k: v for k, v in sorted(n.latches.items())},
    }


# ---- validation of a built config ------------------------------------------------------------------


def _is_int(v: object) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _range(path: str, v: object, lo: int, hi: int) -> Iterator[ConfigError]:
    if not _is_int(v) or not lo <= v <= hi:
        yield ConfigError(path, v, f"integers {lo}..{hi}")


def _mask(path: str, v: object) -> Iterator[ConfigError]:
    if not (isinstance(v, tuple | list) and len(v) == 4 and all(isinstance(b, bool) for b in v)):
        yield ConfigError(path, v, "a list of exactly 4 booleans")


def _flag(path: str, v: object) -> Iterator[ConfigError]:
    if not isinstance(v, bool):
        yield ConfigError(path, v, "true or false")


def _errors(cfg: ChipConfig) -> Iterator[ConfigError]:
    if not 1 <= len(cfg.chips) <= MAX_CHIPS:
        yield ConfigError("chips", f"{len(cfg.chips)} chips", f"1..{MAX_CHIPS} chips per board")
    for ci, chip in enumerate(cfg.chips):
        for k, core in sorted(chip.cores.items(), key=lambda kv: str(kv[0])):
            cp = f"chips[{ci}].cores[{k}]"
            yield from _range(f"chips[{ci}].cores", k, 0, CORES_PER_CHIP - 1)
            yield from _core_errors(cp, core)
    for i, r in enumerate(cfg.inputs):
        p = f"inputs[{i}]"
        yield from _range(f"{p}.channel", r.channel, 0, NUM_INPUT_CHANNELS - 1)
        yield from _range(f"{p}.chip", r.chip, 0, len(cfg.chips) - 1)
        yield from _range(f"{p}.tag", r.tag, 0, NUM_TAGS - 1)
        yield from _mask(f"{p}.core", r.core)


def _core_errors(cp: str, core: Core) -> Iterator[ConfigError]:
    for name, code in sorted(core.parameters.items()):
        pp = f"{cp}.parameters[{name}]"
        if name not in PARAMETERS:
            yield ConfigError(pp, name, "a known bias name (see `hil bias list`)")
            continue
        if not (isinstance(code, tuple | list) and len(code) == 2):
            yield ConfigError(pp, code, "(coarse, fine)")
            continue
        yield from _range(f"{pp}.coarse_value", code[0], 0, COARSE_MAX)
        yield from _range(f"{pp}.fine_value", code[1], 0, FINE_MAX)
    for n, neuron in sorted(core.neurons.items(), key=lambda kv: str(kv[0])):
        yield from _range(f"{cp}.neurons", n, 0, NEURONS_PER_CORE - 1)
        yield from _neuron_errors(f"{cp}.neurons[{n}]", neuron)


def _neuron_errors(np_: str, n: Neuron) -> Iterator[ConfigError]:
    if len(n.synapses) > SYNAPSES_PER_NEURON:
        yield ConfigError(
            f"{np_}.synapses[{SYNAPSES_PER_NEURON}]",
            f"{len(n.synapses)} synapses",
            f"at most {SYNAPSES_PER_NEURON} CAM entries per neuron",
        )
    for i, s in enumerate(n.synapses[:SYNAPSES_PER_NEURON]):
        sp = f"{np_}.synapses[{i}]"
        yield from _range(f"{sp}.tag", s.tag, 0, NUM_TAGS - 1)
        if not isinstance(s.dendrite, Dendrite):
            yield ConfigError(f"{sp}.dendrite", s.dendrite, "one of none, ampa, gaba, nmda, shunt")
        yield from _mask(f"{sp}.weight", s.weight)
        for flag in ("stp", "precise_delay", "mismatched_delay"):
            yield from _flag(f"{sp}.{flag}", getattr(s, flag))
    if len(n.destinations) > DESTINATIONS_PER_NEURON:
        yield ConfigError(
            f"{np_}.destinations[{DESTINATIONS_PER_NEURON}]",
            f"{len(n.destinations)} destinations",
            f"at most {DESTINATIONS_PER_NEURON} SRAM entries per neuron",
        )
    for i, d in enumerate(n.destinations[:DESTINATIONS_PER_NEURON]):
        dp = f"{np_}.destinations[{i}]"
        yield from _range(f"{dp}.tag", d.tag, 0, NUM_TAGS - 1)
        yield from _mask(f"{dp}.core", d.core)
        yield from _range(f"{dp}.x_hop", d.x_hop, -MAX_HOP, MAX_HOP)
        yield from _range(f"{dp}.y_hop", d.y_hop, -MAX_HOP, MAX_HOP)
    for name, v in sorted(n.latches.items()):
        if name not in LATCHES:
            yield ConfigError(f"{np_}.{name}", name, "one of the latches " + ", ".join(LATCHES))
        else:
            yield from _flag(f"{np_}.{name}", v)


# ---- parsing JSON data (types only; constraints are left to validate) ------------------------------


def _obj(path: str, v: object) -> dict:
    if not isinstance(v, dict):
        raise ConfigError(path, v, "a JSON object")
    return v


SAMNA_HINT = "a samna-shaped config (lists) converts with `hil config import-samna IN -o OUT`"


def _field(d: dict, key: str) -> Any:
    """`d[key]`, or None where it is missing: an unchecked JSON value, which `validate` checks
    (a missing one is reported as None with what is allowed)."""
    return d.get(key)


def _keyed(path: str, v: object, what: str) -> dict:
    """An object keyed by index; a list here is samna's dense shape, which has its own reader."""
    if isinstance(v, list):
        raise ConfigError(
            path,
            f"a list of {len(v)} {what}",
            f"an object keyed by {what[:-1]} index; {SAMNA_HINT}",
        )
    return _obj(path, v)


def _list(path: str, v: object) -> list:
    if not isinstance(v, list):
        raise ConfigError(path, v, "a JSON list")
    return v


def _key_index(path: str, key: str, hi: int) -> int:
    """A core or neuron key: canonical decimal only ("40", never " 40", "4_0", "040" or "+40"),
    so that two keys never name one index."""
    if not (key.isascii() and key.isdigit() and len(key) <= 4 and (key == "0" or key[0] != "0")):
        raise ConfigError(
            path, key, f"an index 0..{hi} as a decimal string key without leading zeros"
        )
    return int(key)


def _known(path: str, d: dict, allowed: set[str]) -> None:
    for k in d:
        if k not in allowed:
            raise ConfigError(f"{path}.{k}", k, "fields " + ", ".join(sorted(allowed)))


def _parse_config(data: object) -> ChipConfig:
    d = _obj("<config>", data)
    if "hil" in d:  # the key `hil config export-samna` writes
        raise ConfigError("<config>.hil", "samna's shape", f"hil's shape; {SAMNA_HINT}")
    _known("<config>", d, {"schema", "chips", "inputs"})
    if d.get("schema", SCHEMA) != SCHEMA:
        raise ConfigError("schema", d["schema"], repr(SCHEMA))
    chips = []
    for ci, chip in enumerate(_list("chips", d.get("chips", [{}]))):
        cd = _obj(f"chips[{ci}]", chip)
        _known(f"chips[{ci}]", cd, {"cores"})
        cores = {}
        for key, core in _keyed(f"chips[{ci}].cores", cd.get("cores", {}), "cores").items():
            k = _key_index(f"chips[{ci}].cores", key, CORES_PER_CHIP - 1)
            cores[k] = _parse_core(f"chips[{ci}].cores[{k}]", core)
        chips.append(Chip(cores))
    inputs = []
    for i, r in enumerate(_list("inputs", d.get("inputs", []))):
        rd = _obj(f"inputs[{i}]", r)
        _known(f"inputs[{i}]", rd, {"channel", "chip", "tag", "core"})
        inputs.append(
            InputRoute(
                channel=_field(rd, "channel"),
                chip=rd.get("chip", 0),
                tag=_field(rd, "tag"),
                core=_as_mask(rd.get("core", [True] * 4)),
            )
        )
    return ChipConfig(chips=chips, inputs=inputs)


def _as_mask(v: object) -> Any:
    """A JSON list as a tuple; unchecked (`validate` checks it is 4 booleans)."""
    return tuple(v) if isinstance(v, list) else v


def _parse_core(cp: str, data: object) -> Core:
    d = _obj(cp, data)
    _known(cp, d, {"parameters", "neurons"})
    params = {}
    for name, p in _obj(f"{cp}.parameters", d.get("parameters", {})).items():
        pp = f"{cp}.parameters[{name}]"
        pd = _obj(pp, p)
        _known(pp, pd, {"coarse_value", "fine_value", "type"})
        if name in PARAMETERS and pd.get("type", name[-1]) != name[-1]:
            raise ConfigError(
                f"{pp}.type", pd["type"], f"{name[-1]!r} (the name's transistor type)"
            )
        params[name] = (_field(pd, "coarse_value"), _field(pd, "fine_value"))
    neurons = {}
    for key, n in _keyed(f"{cp}.neurons", d.get("neurons", {}), "neurons").items():
        k = _key_index(f"{cp}.neurons", key, NEURONS_PER_CORE - 1)
        neurons[k] = _parse_neuron(f"{cp}.neurons[{k}]", n)
    return Core(parameters=params, neurons=neurons)


def _parse_neuron(np_: str, data: object) -> Neuron:
    d = _obj(np_, data)
    _known(np_, d, {"synapses", "destinations", *LATCHES})
    syns = []
    for i, s in enumerate(_list(f"{np_}.synapses", d.get("synapses", []))):
        sp = f"{np_}.synapses[{i}]"
        sd = _obj(sp, s)
        _known(sp, sd, {"tag", "dendrite", "weight", "stp", "precise_delay", "mismatched_delay"})
        try:
            dendrite = Dendrite.parse(sd.get("dendrite", "ampa"))
        except ValueError:
            raise ConfigError(
                f"{sp}.dendrite",
                sd.get("dendrite"),
                "one of none, ampa, gaba, nmda, shunt (or samna's 0/1024/512/256/128)",
            ) from None
        syns.append(
            Synapse(
                tag=_field(sd, "tag"),
                dendrite=dendrite,
                weight=_as_mask(sd.get("weight", list(NO_MASK))),
                stp=sd.get("stp", False),
                precise_delay=sd.get("precise_delay", False),
                mismatched_delay=sd.get("mismatched_delay", False),
            )
        )
    dests = []
    for i, t in enumerate(_list(f"{np_}.destinations", d.get("destinations", []))):
        dp = f"{np_}.destinations[{i}]"
        td = _obj(dp, t)
        _known(dp, td, {"tag", "core", "x_hop", "y_hop"})
        dests.append(
            Destination(
                tag=_field(td, "tag"),
                core=_as_mask(td.get("core", [True] * 4)),
                x_hop=td.get("x_hop", 0),
                y_hop=td.get("y_hop", 0),
            )
        )
    latches = {k: v for k, v in d.items() if k in LATCHES}
    return Neuron(synapses=syns, destinations=dests, latches=latches)
