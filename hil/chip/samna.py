"""samna's shape of a Dynap-SE2 configuration <-> ChipConfig.

samna (ecosystem.md section 3.3) holds a configuration densely: `chips` is a list, each chip has
`cores` (a list of 4), each core `parameters` (a map name -> {coarse_value, fine_value, type}) and
`neurons` (a list of 256), each neuron `synapses` (64), `destinations` (4) and the 14 latch flags.
hil's ChipConfig uses the same field names but is sparse: only what is set is present, keyed by
index. This module converts between the two as plain JSON data:

    {"chips": [{"cores": [{"parameters": {...}, "neurons": [{"synapses": [...], ...}, ...]}, ...]}],
     "hil": {"schema": "hil.samna/1", "inputs": [...]}}

samna has no place for hil's input routes (the host addresses input events itself), so they travel
under the top-level key "hil". A dendrite is written as samna's integer (ampa 1024, gaba 512, nmda
256, shunt 128, none 0); names are read too.

What "set" means on the way in: an empty CAM or SRAM slot is one written as samna's zero value,
with JSON types exact (a synapse {tag 0, dendrite 0, weight 4x false, stp/precise_delay/
mismatched_delay false}; a destination {core 4x false, x_hop 0, y_hop 0, tag 0}). A neuron is set when anything in
it differs from those values; trailing empty slots are dropped, slots before a used one are kept
(their position is the CAM/SRAM slot). A core is set when it has parameters or set neurons. Latches
that are off are left out. So import(export(cfg)) equals cfg up to these equivalences, and equals
it exactly when cfg has no empty slots, no off latches and no empty neurons or cores.

Fields of samna's model that hil does not model (sADC enables, monitoring, DVS interface, bioamps,
chip-wide parameter maps, bias generator addresses, parameters hil does not simulate) are skipped on
import, and the returned notes name every one that was skipped. Anything else unknown is an error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Set

from hil.chip.biasgen import PARAMETERS
from hil.chip.config import (
    NO_MASK,
    Chip,
    ChipConfig,
    Core,
    Destination,
    InputRoute,
    Neuron,
    Synapse,
    _field,
)
from hil.chip.geometry import (
    CORES_PER_CHIP,
    DESTINATIONS_PER_NEURON,
    LATCHES,
    MAX_CHIPS,
    NEURONS_PER_CORE,
    SYNAPSES_PER_NEURON,
    Dendrite,
)
from hil.errors import ConfigError

SCHEMA = "hil.samna/1"

EMPTY_SYNAPSE = Synapse(tag=0, dendrite=Dendrite.NONE, weight=NO_MASK)
EMPTY_DESTINATION = Destination(tag=0, core=NO_MASK, x_hop=0, y_hop=0)

# samna fields that hil does not model: skipped on import, each one named in the notes
SKIPPED = {
    "chip": {
        "global_parameters",
        "shared_parameters01",
        "shared_parameters23",
        "sadc_group_parameters01",
        "sadc_group_parameters23",
        "sadc_enables",
        "dvs_if",
        "bioamps",
        "enable_pg0_reference_monitor",
        "enable_pg1_reference_monitor",
        "param_gen0_powerdown",
        "param_gen1_powerdown",
    },
    "core": {
        "neuron_monitoring_on",
        "monitored_neuron",
        "sadc_enables",
        "enable_syaw_stdbuf_an",
        "enable_pulse_extender_monitor1",
        "enable_pulse_extender_monitor2",
        "_id",
        "_cookie",
    },
    "parameter": {"_address", "_cookie", "_initial_type", "_switchable_type"},
}


# ---- export ------------------------------------------------------------------------------------


def to_samna(cfg: ChipConfig) -> dict:
    """`cfg` (validated first) in samna's dense shape, as JSON-ready data."""
    cfg.validate()
    return {
        "chips": [
            {"cores": [_core_out(chip.cores.get(k, Core())) for k in range(CORES_PER_CHIP)]}
            for chip in cfg.chips
        ],
        "hil": {
            "schema": SCHEMA,
            "inputs": [
                {"channel": r.channel, "chip": r.chip, "tag": r.tag, "core": list(r.core)}
                for r in cfg.inputs
            ],
        },
    }


def _core_out(core: Core) -> dict:
    return {
        "parameters": {
            name: {"coarse_value": c, "fine_value": f, "type": name[-1]}
            for name, (c, f) in sorted(core.parameters.items())
        },
        "neurons": [_neuron_out(core.neurons.get(n, Neuron())) for n in range(NEURONS_PER_CORE)],
    }


def _neuron_out(n: Neuron) -> dict:
    syns = n.synapses + [EMPTY_SYNAPSE] * (SYNAPSES_PER_NEURON - len(n.synapses))
    dests = n.destinations + [EMPTY_DESTINATION] * (DESTINATIONS_PER_NEURON - len(n.destinations))
    return {
        "synapses": [
            {
                "tag": s.tag,
                "dendrite": s.dendrite.value,
                "weight": list(s.weight),
                "stp": s.stp,
                "precise_delay": s.precise_delay,
                "mismatched_delay": s.mismatched_delay,
            }
            for s in syns
        ],
        "destinations": [
            {"core": list(d.core), "x_hop": d.x_hop, "y_hop": d.y_hop, "tag": d.tag} for d in dests
        ],
        **{name: bool(n.latches.get(name, False)) for name in LATCHES},
    }


# ---- import ------------------------------------------------------------------------------------


class _Reader:
    """Walks samna-shaped data; collects the names of skipped fields for the notes."""

    def __init__(self) -> None:
        self.skipped: Counter[str] = Counter()

    def fields(self, path: str, v: object, allowed: Set[str], skip: Set[str] = frozenset()) -> dict:
        d = _obj(path, v)
        for k in d:
            if k in skip:
                self.skipped[k] += 1
            elif k not in allowed:
                raise ConfigError(
                    f"{path}.{k}", k, "samna's fields " + ", ".join(sorted(allowed | skip))
                )
        return d

    def items(self, path: str, v: object, most: int) -> list:
        if not isinstance(v, list):
            raise ConfigError(path, v, f"a JSON list of at most {most}")
        if len(v) > most:
            raise ConfigError(f"{path}[{most}]", f"{len(v)} entries", f"at most {most}")
        return v

    def config(self, data: object) -> ChipConfig:
        d = self.fields("<samna config>", data, {"chips", "hil"})
        chips = []
        for ci, chip in enumerate(self.items("chips", d.get("chips", []), MAX_CHIPS)):
            cd = self.fields(f"chips[{ci}]", chip, {"cores"}, SKIPPED["chip"])
            cores = {}
            for k, core in enumerate(self.items(f"chips[{ci}].cores", cd.get("cores", []), 4)):
                parsed = self.core(f"chips[{ci}].cores[{k}]", core)
                if parsed.parameters or parsed.neurons:
                    cores[k] = parsed
            chips.append(Chip(cores=cores))
        return ChipConfig(chips=chips, inputs=self.inputs(d.get("hil", {"schema": SCHEMA})))

    def inputs(self, data: object) -> list[InputRoute]:
        h = self.fields("hil", data, {"schema", "inputs"})
        if h.get("schema") != SCHEMA:
            raise ConfigError("hil.schema", h.get("schema"), repr(SCHEMA))
        routes = []
        for i, r in enumerate(self.items("hil.inputs", h.get("inputs", []), 2**16)):
            rd = self.fields(f"hil.inputs[{i}]", r, {"channel", "chip", "tag", "core"})
            core = rd.get("core", [True] * 4)
            routes.append(
                InputRoute(
                    channel=_field(rd, "channel"),
                    chip=rd.get("chip", 0),
                    tag=_field(rd, "tag"),
                    core=tuple(core) if isinstance(core, list) else core,
                )
            )
        return routes

    def core(self, cp: str, data: object) -> Core:
        d = self.fields(cp, data, {"parameters", "neurons"}, SKIPPED["core"])
        params = {}
        for name, p in _obj(f"{cp}.parameters", d.get("parameters", {})).items():
            pp = f"{cp}.parameters[{name}]"
            pd = self.fields(pp, p, {"coarse_value", "fine_value", "type"}, SKIPPED["parameter"])
            if name not in PARAMETERS:
                self.skipped[f"parameter {name}"] += 1
                continue
            kind = pd.get("type", name[-1])
            if kind not in (name[-1], ord(name[-1])):  # samna's own JSON writes the char code
                raise ConfigError(f"{pp}.type", kind, f"{name[-1]!r} (the name's transistor type)")
            params[name] = (_field(pd, "coarse_value"), _field(pd, "fine_value"))
        neurons = {}
        for n, neuron in enumerate(self.items(f"{cp}.neurons", d.get("neurons", []), 256)):
            parsed = self.neuron(f"{cp}.neurons[{n}]", neuron)
            if parsed.synapses or parsed.destinations or parsed.latches:
                neurons[n] = parsed
        return Core(parameters=params, neurons=neurons)

    def neuron(self, np_: str, data: object) -> Neuron:
        d = self.fields(np_, data, {"synapses", "destinations", *LATCHES})
        syns = [
            EMPTY_SYNAPSE
            if _same(s, _EMPTY_SYNAPSE_OUT)
            else self.synapse(f"{np_}.synapses[{i}]", s)
            for i, s in enumerate(self.items(f"{np_}.synapses", d.get("synapses", []), 64))
        ]
        dests = [
            EMPTY_DESTINATION
            if _same(t, _EMPTY_DESTINATION_OUT)
            else self.destination(f"{np_}.destinations[{i}]", t)
            for i, t in enumerate(self.items(f"{np_}.destinations", d.get("destinations", []), 4))
        ]
        return Neuron(
            synapses=_trim(syns, EMPTY_SYNAPSE),
            destinations=_trim(dests, EMPTY_DESTINATION),
            latches={k: d[k] for k in LATCHES if d.get(k, False) is not False},
        )

    def synapse(self, sp: str, data: object) -> Synapse:
        keys = {"tag", "dendrite", "weight", "stp", "precise_delay", "mismatched_delay"}
        d = self.fields(sp, data, keys)
        try:
            dendrite = Dendrite.parse(d.get("dendrite", 0))
        except ValueError:
            raise ConfigError(
                f"{sp}.dendrite", d.get("dendrite"), "samna's 0, 1024, 512, 256, 128 (or a name)"
            ) from None
        weight = d.get("weight", list(NO_MASK))
        return Synapse(
            tag=d.get("tag", 0),
            dendrite=dendrite,
            weight=tuple(weight) if isinstance(weight, list) else weight,
            stp=d.get("stp", False),
            precise_delay=d.get("precise_delay", False),
            mismatched_delay=d.get("mismatched_delay", False),
        )

    def destination(self, dp: str, data: object) -> Destination:
        d = self.fields(dp, data, {"tag", "core", "x_hop", "y_hop"})
        core = d.get("core", list(NO_MASK))
        return Destination(
            tag=d.get("tag", 0),
            core=tuple(core) if isinstance(core, list) else core,
            x_hop=d.get("x_hop", 0),
            y_hop=d.get("y_hop", 0),
        )


# the empty slots as written, recognized without parsing (a dense chip has 65536 synapse slots)
_EMPTY_SYNAPSE_OUT = _neuron_out(Neuron())["synapses"][0]
_EMPTY_DESTINATION_OUT = _neuron_out(Neuron())["destinations"][0]


def _same(value: object, empty: dict) -> bool:
    """`value == empty` with equal types too (so `0.0` or `0` for false is still checked)."""
    if not isinstance(value, dict) or value != empty:
        return False
    for k, v in value.items():
        if type(v) is list:  # the empties' lists are masks: booleans only
            if any(type(b) is not bool for b in v):
                return False
        elif type(v) is not type(empty[k]):
            return False
    return True


def _obj(path: str, v: object) -> dict:
    if not isinstance(v, dict):
        raise ConfigError(path, v, "a JSON object")
    return v


def _trim(slots: list, empty: object) -> list:
    """`slots` without its trailing empty entries (the very object `empty`, as `neuron` reads an
    empty slot: a slot that only compares equal, such as tag `false`, is kept for validation)."""
    end = len(slots)
    while end and slots[end - 1] is empty:
        end -= 1
    return slots[:end]


def from_samna(data: object) -> tuple[ChipConfig, list[str]]:
    """A validated ChipConfig from samna-shaped data, and notes naming every skipped field.

    Problems raise ConfigError naming the path (`chips[0].cores[1].neurons[17].synapses[3].tag`).
    """
    reader = _Reader()
    cfg = reader.config(data).validate()
    notes = [
        f"skipped {name} ({count}x): hil does not model it"
        for name, count in sorted(reader.skipped.items())
    ]
    return cfg, notes
