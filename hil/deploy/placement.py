"""Mismatch-aware placement: which physical cores and neurons host which logical cores and network
neurons, and per-core bias corrections, from a per-neuron twin of the board.

The twin (`Twin`) is a per-neuron table of the board: each neuron's effective bias currents
relative to what the nominal codes give (factors), which neurons are dead or hot, and each CAM
slot's weight factor when known. `load_twin` reads the fitting work's `hil.twin/1` JSON (`hil
fit`) or a table in the emulator's truth-CSV shape (`hil emulate --dump-truth truth.csv`,
docs/silicon.md "The truth CSV", at nominal biases; a twin's `write_csv` gives the same shape):
columns chip, core, neuron, one per bias current [A] (simulation names), dead, hot. The hidden
truth itself is the best case.

`twin_placement(net, twin)`:
- Each neuron's deviation is the RMS over the currents that shape its response (`KEY_CURRENTS`) of
  log(factor / the core's median factor): what per-core biases cannot correct.
- Logical cores, largest first, take the free physical core with the fewest missing good
  (neither dead nor hot) neurons, then the smallest summed deviation of the good neurons it would
  use.
- Inside a core, network neurons ranked by importance (task outputs first, then by synapse count,
  in + out) take physical neurons ranked good-by-deviation, then hot, then dead. Nothing is
  dropped: when a core has too few good neurons the rest land on hot, then dead ones, and the
  report lists them.

`compensate_masks(net, placement, config, twin)` re-chooses each synapse's mask for the target
neuron's synaptic gain on the twin's silicon (its charge per spike over nominal, from
hil.chip.netlist.derived_constants): the per-neuron gains that per-core biases cannot match.

`corrected_parameters(parameters, cores, twin)` rescales each bias current of a logical core by
1 / (the median factor of the physical core's good neurons) and re-rounds it to a code on the same
coarse branch when it can (`same_coarse_code`), so a core
whose silicon runs hot or cold gets the currents the network was trained for (a twin-based
calibration; the base weights use their per-core factors).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, replace

import numpy as np

from hil.artifacts import parse_json, read_bytes
from hil.board import BoardInfo
from hil.chip.biasgen import bias_code, bias_current
from hil.chip.config import ChipConfig
from hil.chip.geometry import (
    CORES_PER_CHIP,
    FINE_MAX,
    MAX_CHIPS,
    NEURONS_PER_CHIP,
    NEURONS_PER_CORE,
    SYNAPSES_PER_NEURON,
    Dendrite,
    neuron_address,
)
from hil.chip.netlist import (
    BIAS_CURRENTS,
    PHYSICS,
    TYPE_INDEX,
    board_currents,
    build_netlist,
    derived_constants,
    nominal_codes,
)
from hil.chip.params import DEVICE_TO_SIM, currents_from_codes
from hil.deploy.mapping import Placement, QuantizedNetwork, check_capacity
from hil.errors import ConfigError
from hil.quantize.weights import BASE_WEIGHT_BIASES, assign_nonzero, levels_per_core

# Currents that set a neuron's response to its synaptic input (leak, gain, threshold, refractory
# period, the AMPA and GABA synapses).
KEY_CURRENTS = (
    "Itau_mem",
    "Igain_mem",
    "Ispkthr",
    "Iref",
    "Itau_ampa",
    "Igain_ampa",
    "Itau_gaba",
    "Igain_gaba",
)
MAX_TWIN_BYTES = 128 << 20
TWIN_SCHEMA = "hil.twin/1"
TWIN_FORMS = (
    "UTF-8 text: a hil.twin/1 JSON (hil fit) or a truth-CSV table (hil emulate --dump-truth)"
)


class _Device:
    """The nominal device constants (hil.chip.params.Physics) as derived_constants takes them."""

    Io: float = PHYSICS.Io
    Ut: float = PHYSICS.Ut
    kappa: float = PHYSICS.kappa
    Vth: float = PHYSICS.Vth


@dataclass(frozen=True)
class Twin:
    """Per-neuron board model over the board-wide index (n_chips * 1024 rows): factors[name] (N,)
    effective current / nominal-code current; dead, hot (N,) bool; weight_factor: each CAM
    slot's weight factor when the twin has them."""

    n_chips: int
    factors: dict[str, np.ndarray]
    dead: np.ndarray
    hot: np.ndarray
    weight_factor: np.ndarray | None = None  # (n_chips, 4, 256, 64) per CAM slot, or unknown
    provenance: dict = field(default_factory=dict)  # board_id / silicon_id when the twin names them

    @property
    def good(self) -> np.ndarray:
        return ~(self.dead | self.hot)

    def deviation(self) -> np.ndarray:
        """(N,) RMS over KEY_CURRENTS of log(factor / core median over good neurons)."""
        n = self.n_chips * NEURONS_PER_CHIP
        dev = np.zeros(n)
        for name in KEY_CURRENTS:
            lg = np.log(self.factors[name]).reshape(-1, NEURONS_PER_CORE)
            good = self.good.reshape(-1, NEURONS_PER_CORE)
            med = np.array(
                [
                    np.median(r[g]) if g.any() else np.median(r)
                    for r, g in zip(lg, good, strict=True)
                ]
            )
            dev += ((lg - med[:, None]) ** 2).ravel()
        return np.sqrt(dev / len(KEY_CURRENTS))

    def core_factor(self, chip: int, core: int, name: str) -> float:
        """Median factor of `name` over the good neurons of (chip, core) (all if none is good)."""
        sl = slice((chip * CORES_PER_CHIP + core) * NEURONS_PER_CORE, None)
        f = self.factors[name][sl][:NEURONS_PER_CORE]
        g = self.good[sl][:NEURONS_PER_CORE]
        return float(np.median(f[g] if g.any() else f))


def load_twin(path: str) -> Twin:
    """Read a twin: a `hil.twin/1` JSON (the fitting work's artifact: per-neuron columns, and
    per-CAM-slot weight factors when it has them) or a table in the truth-CSV shape (module
    docstring); ConfigError naming the column or row that is wrong."""
    raw = read_bytes(path, "twin", limit=MAX_TWIN_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"twin {path}", "bytes that are not UTF-8", TWIN_FORMS) from None
    weight_factor = None
    provenance: dict = {}
    if text.lstrip()[:1] == "{":
        doc = parse_json(text, f"twin {path}")
        if not isinstance(doc, dict) or doc.get("schema") != TWIN_SCHEMA:
            got = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
            raise ConfigError(f"{path} schema", got, repr(TWIN_SCHEMA))
        cols = doc.get("columns")
        if not isinstance(cols, dict):
            raise ConfigError(f"{path} columns", type(cols).__name__, "an object of columns")
        table = _table(path, cols)
        if doc.get("weight_factor") is not None:
            weight_factor = _weight_factor(path, doc["weight_factor"], table["chip"].size)
        prov = doc.get("provenance")
        if isinstance(prov, dict):
            provenance = {
                k: str(prov[k])[:200] for k in ("board_id", "silicon_id") if prov.get(k) is not None
            }
    else:
        try:
            rows = list(csv.DictReader(io.StringIO(text)))
        except csv.Error as e:
            raise ConfigError(f"twin {path}", f"not a CSV table ({e})", TWIN_FORMS) from None
        if not rows:
            raise ConfigError(f"{path}", "no rows", "a truth-CSV table (hil emulate --dump-truth)")
        table = _table(path, {c: [r.get(c) for r in rows] for c in rows[0]})
    n = table["chip"].size
    nominal = currents_from_codes(nominal_codes())
    factors = {}
    for name in BIAS_CURRENTS:
        v = table[name]
        if not (np.isfinite(v).all() and (v > 0).all()):
            raise ConfigError(f"{path} column {name}", "a value <= 0 or not finite", "amperes > 0")
        factors[name] = v / nominal[name]
    return Twin(
        n_chips=n // NEURONS_PER_CHIP,
        factors=factors,
        dead=table["dead"] > 0,
        hot=table["hot"] > 0,
        weight_factor=weight_factor,
        provenance=provenance,
    )


def check_twin_board(twin: Twin, info: BoardInfo, force: bool = False) -> dict:
    """Whether `twin` describes the board `info` answers for: its chip count, and its silicon id
    (else board id) when the twin names one (a `hil.twin/1` JSON's provenance; a truth-CSV table
    names none and is reported as unchecked). ConfigError on a mismatch unless `force`; returns
    what was checked, for the deployment report."""
    board_ids = {"board_id": info.board_id, "silicon_id": info.details.get("silicon_id")}
    key = "silicon_id" if twin.provenance.get("silicon_id") and board_ids["silicon_id"] else None
    key = key or ("board_id" if twin.provenance.get("board_id") else None)
    problems = []
    if twin.n_chips != info.n_chips:
        problems.append(f"{twin.n_chips} chip(s) in the twin, {info.n_chips} on the board")
    if key is not None and str(twin.provenance[key]) != str(board_ids[key]):
        problems.append(f"twin {key} {twin.provenance[key]!r}, board's {board_ids[key]!r}")
    if problems and not force:
        raise ConfigError(
            "twin",
            "; ".join(problems),
            "a twin of this board (or --force-twin to use another board's twin)",
        )
    return {
        "checked": key or "chip count only (the twin names no board)",
        "twin": dict(twin.provenance),
        "board": {k: v for k, v in board_ids.items() if v is not None},
        "mismatch_forced": problems,
    }


def _table(path: str, cols: dict) -> dict[str, np.ndarray]:
    need = ("chip", "core", "neuron", "dead", "hot", *BIAS_CURRENTS)
    missing = [c for c in need if c not in cols]
    if missing:
        raise ConfigError(
            f"{path}",
            f"missing columns {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""),
            "columns " + ", ".join(need),
        )
    try:
        table = {c: np.array([float(v) for v in cols[c]]) for c in need}
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}", str(e)[:80], "numbers in every column") from None
    n = table["chip"].size
    if any(v.size != n for v in table.values()):
        raise ConfigError(f"{path} columns", "of different lengths", "one value per neuron")
    if n % NEURONS_PER_CHIP or not 1 <= n // NEURONS_PER_CHIP <= MAX_CHIPS:
        raise ConfigError(f"{path}", f"{n} rows", f"1024 rows per chip, 1..{MAX_CHIPS} chips")
    idx = (table["chip"] * CORES_PER_CHIP + table["core"]) * NEURONS_PER_CORE + table["neuron"]
    if not np.array_equal(idx, np.arange(n)):
        raise ConfigError(f"{path} rows", "out of board order", "one row per neuron, in order")
    return table


def _weight_factor(path: str, value: object, n: int) -> np.ndarray:
    want = (n // NEURONS_PER_CHIP, CORES_PER_CHIP, NEURONS_PER_CORE, SYNAPSES_PER_NEURON)
    try:
        wf = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        wf = np.zeros(0)
    if wf.shape != want or not (np.isfinite(wf).all() and (wf > 0).all()):
        raise ConfigError(f"{path} weight_factor", f"shape {wf.shape}", f"{want}, finite > 0")
    return wf


def _importance(net: QuantizedNetwork) -> np.ndarray:
    deg = (
        np.count_nonzero(net.masks_in, axis=0)
        + np.count_nonzero(net.masks_rec, axis=0)
        + np.count_nonzero(net.masks_rec, axis=1)
    ).astype(np.float64)
    out = np.zeros(net.n_neurons, bool)
    for cls in net.outputs:
        out[list(cls)] = True
    return deg + out * 1e6


def twin_placement(
    net: QuantizedNetwork, twin: Twin, n_chips: int | None = None
) -> tuple[Placement, dict]:
    """(placement, report) for `net` on a board described by `twin` (module docstring)."""
    check_capacity(net)
    n_chips = twin.n_chips if n_chips is None else min(n_chips, twin.n_chips)
    n_phys = n_chips * CORES_PER_CHIP
    if net.n_cores > n_phys:
        raise ConfigError(
            "cores", f"{net.n_cores} logical cores", f"at most {n_phys} on this board"
        )
    dev = twin.deviation()
    good = twin.good
    sizes = np.bincount(net.core_of, minlength=net.n_cores)
    free = set(range(n_phys))
    cores = np.zeros((net.n_cores, 2), np.int64)
    neurons = np.zeros(net.n_neurons, np.int64)
    imp = _importance(net)
    on_hot, on_dead = [], []
    for k in np.argsort(-sizes, kind="stable"):
        size = int(sizes[k])

        def score(q: int, size: int = size) -> tuple[int, float]:
            sl = slice(q * NEURONS_PER_CORE, (q + 1) * NEURONS_PER_CORE)
            g = np.sort(dev[sl][good[sl]])
            return max(0, size - g.size), float(g[:size].sum())

        q = min(sorted(free), key=score)
        free.remove(q)
        cores[k] = (q // CORES_PER_CHIP, q % CORES_PER_CHIP)
        base = q * NEURONS_PER_CORE
        phys = base + np.arange(NEURONS_PER_CORE)
        rank = np.lexsort((dev[phys], twin.dead[phys], twin.hot[phys] & ~twin.dead[phys]))
        members = np.flatnonzero(net.core_of == k)
        members = members[np.argsort(-imp[members], kind="stable")]
        chosen = phys[rank[: members.size]]
        neurons[members] = chosen
        on_hot += [int(i) for i, p in zip(members, chosen, strict=True) if twin.hot[p]]
        on_dead += [int(i) for i, p in zip(members, chosen, strict=True) if twin.dead[p]]
    report = {
        "method": "twin",
        "network_neurons_on_hot": sorted(on_hot),
        "network_neurons_on_dead": sorted(on_dead),
        "mean_deviation": float(dev[neurons].mean()) if neurons.size else 0.0,
    }
    return Placement(cores=cores, neurons=neurons, channels=np.arange(net.n_inputs)), report


def placement_report(net: QuantizedNetwork, placement: Placement, twin: Twin) -> dict:
    """What a placement puts on dead or hot neurons, and its mean deviation (for any placement)."""
    dev = twin.deviation()
    p = placement.neurons
    return {
        "network_neurons_on_hot": [int(i) for i in np.flatnonzero(twin.hot[p])],
        "network_neurons_on_dead": [int(i) for i in np.flatnonzero(twin.dead[p])],
        "mean_deviation": float(dev[p].mean()) if p.size else 0.0,
    }


def same_coarse_code(name: str, coarse: int, amps: float) -> tuple[int, int]:
    """The code for `amps` [A] on coarse branch `coarse` when that branch reaches it, else the
    nearest code on any branch. A twin's factors were measured on the nominal code's branch, and
    every branch has its own generator error (docs/silicon.md, B per coarse value), so a
    correction stays on the branch it was measured on when it can."""
    lo, hi = (float(bias_current(name, coarse, f)) for f in (0, FINE_MAX))
    fine = round((amps - lo) / (hi - lo) * FINE_MAX)
    if 0 <= fine <= FINE_MAX:
        return coarse, int(fine)
    c, f = bias_code(name, amps)
    return int(c), int(f)


def corrected_parameters(
    parameters: list[dict[str, tuple[int, int]]],
    cores: np.ndarray,
    twin: Twin,
    keep: tuple[str, ...] = (),
) -> tuple[list[dict[str, tuple[int, int]]], list[str]]:
    """Per logical core, its codes with each current divided by its physical core's median factor
    and re-rounded (module docstring); and one line per changed code. Device biases in `keep`
    stay as they are (a fine-tuned model's base weights are corrected already)."""
    out, notes = [], []
    for k, params in enumerate(parameters):
        chip, core = int(cores[k][0]), int(cores[k][1])
        new = {}
        for dev_name, (c, f) in params.items():
            sim = DEVICE_TO_SIM.get(dev_name)
            if sim is None or sim not in twin.factors or dev_name in keep:
                new[dev_name] = (c, f)
                continue
            want = float(bias_current(dev_name, c, f)) / twin.core_factor(chip, core, sim)
            nc, nf = same_coarse_code(dev_name, c, want)
            new[dev_name] = (nc, nf)
            if (nc, nf) != (c, f):
                notes.append(f"chip {chip} core {core}: {dev_name} {[c, f]} -> {[nc, nf]}")
        out.append(new)
    return out, notes


__all__ = [
    "KEY_CURRENTS",
    "Twin",
    "base_weights",
    "check_twin_board",
    "compensate_masks",
    "corrected_parameters",
    "load_twin",
    "placement_report",
    "synaptic_gains",
    "twin_placement",
]


def base_weights(config: ChipConfig, cores: np.ndarray) -> np.ndarray:
    """(n_cores, 4) base weights [A] the config's codes give on each (chip, core) of `cores`."""
    return np.array(
        [
            [
                float(bias_current(b, *config.chips[int(c)].cores[int(k)].parameters[b]))
                for b in BASE_WEIGHT_BIASES
            ]
            for c, k in np.asarray(cores).reshape(-1, 2)
        ]
    )


def synaptic_gains(config: ChipConfig, twin: Twin) -> dict[int, np.ndarray]:
    """Board-wide neuron -> (4,) factor of its charge per spike per synapse type (SYNAPSE_TYPES
    order) on the twin's silicon over the nominal chip, for `config`'s biases: syn_jump from
    hil.chip.netlist.derived_constants with the twin's per-neuron currents, over the same without.
    (Per-CAM-slot weight factors are not in a truth-CSV twin and are left out.)"""
    nominal = build_netlist(config, n_chips=twin.n_chips)
    board = board_currents(config, twin.n_chips)
    eff = {name: board[name] * twin.factors[name] for name in BIAS_CURRENTS}
    actual = nominal.with_currents(eff)
    jump = [derived_constants(n.fields(), 1e-3, _Device())["syn_jump"] for n in (nominal, actual)]
    ratio = jump[1] / jump[0]  # (4, N) over nominal.neurons
    return {int(g): ratio[:, i] for i, g in enumerate(nominal.neurons)}


def compensate_masks(
    net: QuantizedNetwork, placement: Placement, config: ChipConfig, twin: Twin
) -> tuple[QuantizedNetwork, int]:
    """`net` with each synapse's mask re-chosen for the charge the network wants on the twin's
    silicon: target magnitude = the level of its mask / the target neuron's synaptic gain for the
    synapse's type (AMPA for sign > 0, GABA for < 0), times its CAM slot's weight factor when the
    twin has them, nearest level of the core's base weights as `config` sets them; a synapse never
    drops to mask 0. Returns (network, masks changed)."""
    gains = synaptic_gains(config, twin)
    iw = base_weights(config, placement.cores)
    lv = levels_per_core(iw)
    ampa, gaba = TYPE_INDEX[Dendrite.AMPA], TYPE_INDEX[Dendrite.GABA]
    chip, core, index = neuron_address(placement.neurons)
    first = np.count_nonzero(net.masks_in, axis=0)  # recurrent CAM slots follow the inputs'
    out = {}
    changed = 0
    for part in ("in", "rec"):
        masks = getattr(net, f"masks_{part}").copy()
        sign = getattr(net, f"sign_{part}")
        for post in range(net.n_neurons):
            rows = np.flatnonzero(masks[:, post])
            if rows.size == 0:
                continue
            g = gains[int(placement.neurons[post])]
            levels = lv[net.core_of[post]]
            gain = np.where(sign[rows, post] > 0, g[ampa], g[gaba])
            if twin.weight_factor is not None:  # CAM slots in hil.deploy.mapping's order
                slots = np.arange(rows.size) + (first[post] if part == "rec" else 0)
                gain = gain * twin.weight_factor[chip[post], core[post], index[post], slots]
            new = assign_nonzero(levels[masks[rows, post]] / gain, iw[net.core_of[post]])
            changed += int(np.count_nonzero(new != masks[rows, post]))
            masks[rows, post] = new
        out[part] = masks
    return replace(net, masks_in=out["in"], masks_rec=out["rec"]), changed
