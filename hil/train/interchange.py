"""NIR interchange (issue 10 section 6): networks from Rockpool, Norse, snnTorch, Sinabs or Lava as
NIR graphs (the `nir` package) in and out of hil.model/1.

    model, report = from_nir(graph)      # LIF / CubaLIF populations -> Dynap-SE2 parameters
    graph = to_nir(model)                # a hil model as a NIR graph (CubaLIF per logical core)

Graphs: an Input, populations (LIF or CubaLIF nodes), Linear or Affine (zero bias) nodes each
between one source (the Input or a population, itself included: recurrence) and one population,
and an Output fed by one population (its neurons are the classes, in order, unless an exported hil
model's metadata groups several neurons per class; it also records the model's decoding, `sum`
when absent). Each population
becomes one logical core (<= 256 neurons; the chip shares biases per core).

Mapping, per population (one core):
- tau_mem -> Itau_mem = (Ut/kappa) C_mem / tau_mem, tau_syn -> Itau_ampa and Itau_gaba likewise
  (hil.chip.params.tau_current); gains keep the nominal ratios (Igain = r Itau), so the current is
  a single value per core: the geometric mean over the population's neurons; then the nearest
  bias-generator code (hil.chip.biasgen.bias_code) and the current that code gives.
  A LIF has no synaptic current: it gets tau_syn = LIF_TAU_SYN and its weights are divided by it
  (a delta current of charge w equals a current w / tau_syn that decays with tau_syn << tau_mem).
- weights: NIR drives v with r I (threshold v_th, rest v_leak); the DPI neuron's membrane current
  settles at (Igain/Itau_mem) I_syn against the threshold Ispkthr. A weight's efficacy, the fraction
  of the threshold that one spike's synaptic jump would hold the membrane at,
  r w w_in / (v_th - v_leak) in NIR and syn_jump Iw (Igain/Itau_mem) / Ispkthr on the chip
  (hil.chip.netlist.derived_constants), is kept equal; the sign picks AMPA or GABA.
- v_reset != v_leak has no counterpart (the DPI neuron resets to rest): reported, not silent.

`report` gives per parameter the relative RMS error between what the graph asked for and what the
chip's parameters give (`tau_mem`, `tau_syn`: per neuron, the per-core sharing and the bias code
included; `weights`: the RMS change of the efficacies on each core's 4-bit base-weight grid relative to
their RMS; `v_reset`: the
offset from v_leak in units of v_th - v_leak).
Export writes r = 1, v_leak = 0, v_threshold = 1, w_in = 1, so the weights are the efficacies
above. from_nir(to_nir(m)) gives back m's time constants (to the bias codes) and every weight's
efficacy; the currents NIR cannot express (gains, threshold, refractory period, pulse widths) come
back at their nominal values, with the weight currents rescaled to keep the efficacies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hil.chip.biasgen import bias_code, bias_current
from hil.chip.geometry import NEURONS_PER_CORE, SYNAPSES_PER_NEURON
from hil.chip.netlist import NOMINAL, PHYSICS, derived_constants
from hil.chip.params import SIM_TO_DEVICE, tau_current, tau_of
from hil.errors import ConfigError
from hil.train import check_decode
from hil.train.model import Model
from hil.train.network import LEVELS

LIF_TAU_SYN = 1e-3  # [s] the synaptic time constant given to a LIF population (no synapse in NIR)
NEURON_NODES = ("LIF", "CubaLIF")


def _on_code(sim_name: str, amps: float) -> float:
    """The current [A] the bias generator gives at the code nearest to `amps`."""
    dev = SIM_TO_DEVICE[sim_name]
    c, f = bias_code(dev, amps)
    return float(bias_current(dev, c, f))


def _core_currents(tau_mem: float, tau_syn: float) -> dict[str, float]:
    """Nominal currents with the core's time constants, every current on a bias code. The gains
    follow the coded leak currents, and GABA takes the time constant AMPA's code gives, so that
    converting a converted core again changes nothing."""
    cur = {k: _on_code(k, v) for k, v in NOMINAL.currents(PHYSICS).items()}
    nominal = NOMINAL.currents(PHYSICS)
    cur["Itau_mem"] = _on_code("Itau_mem", tau_current(tau_mem, PHYSICS.C_mem, PHYSICS))
    cur["Igain_mem"] = _on_code(
        "Igain_mem", nominal["Igain_mem"] / nominal["Itau_mem"] * cur["Itau_mem"]
    )
    cur["Itau_ampa"] = _on_code("Itau_ampa", tau_current(tau_syn, PHYSICS.C_ampa, PHYSICS))
    coded = tau_of(cur["Itau_ampa"], PHYSICS.C_ampa, PHYSICS)
    cur["Itau_gaba"] = _on_code("Itau_gaba", tau_current(coded, PHYSICS.C_gaba, PHYSICS))
    for s in ("ampa", "gaba"):
        ratio = nominal[f"Igain_{s}"] / nominal[f"Itau_{s}"]
        cur[f"Igain_{s}"] = _on_code(f"Igain_{s}", ratio * cur[f"Itau_{s}"])
    return cur


def efficacy_per_ampere(currents: dict[str, float], dt: float, synapse: str) -> float:
    """syn_jump (Igain_mem/Itau_mem) / Ispkthr of one core for `synapse` (ampa or gaba) [1/A]."""
    fields = {
        "Itau_syn": np.array([currents[f"Itau_{synapse}"]]),
        "Igain_syn": np.array([currents[f"Igain_{synapse}"]]),
        "C_syn": np.array([getattr(PHYSICS, f"C_{synapse}")]),
        "Ipulse": np.array([currents["Ipulse"]]),
        "C_pulse": np.array([PHYSICS.C_pulse]),
        "Itau_mem": np.array([currents["Itau_mem"]]),
        "Igain_mem": np.array([currents["Igain_mem"]]),
        "C_mem": np.array([PHYSICS.C_mem]),
        "Itau_ahp": np.array([currents["Itau_ahp"]]),
        "Igain_ahp": np.array([currents["Igain_ahp"]]),
        "Iw_ahp": np.array([currents["Iw_ahp"]]),
        "C_ahp": np.array([PHYSICS.C_ahp]),
        "Ipulse_ahp": np.array([currents["Ipulse_ahp"]]),
        "C_pulse_ahp": np.array([PHYSICS.C_pulse_ahp]),
        "Idc": np.array([currents["Idc"]]),
        "dc_enable": np.array([1.0]),
        "If_nmda": np.array([currents["If_nmda"]]),
        "Ispkthr": np.array([currents["Ispkthr"]]),
        "Iref": np.array([currents["Iref"]]),
        "C_ref": np.array([PHYSICS.C_ref]),
        "alive": np.array([1.0]),
    }
    k = derived_constants(fields, dt, PHYSICS)
    return float(k["syn_jump"][0] * k["gain"][0] / currents["Ispkthr"])


def _rel_rms(target: np.ndarray, got: np.ndarray) -> float:
    target, got = np.asarray(target, float), np.asarray(got, float)
    keep = target != 0
    if not keep.any():
        return 0.0
    return float(np.sqrt(np.mean(((got[keep] - target[keep]) / target[keep]) ** 2)))


def _grid(e: np.ndarray, core_of: np.ndarray, n_cores: int) -> np.ndarray:
    """Magnitudes on each post core's binary 4-bit grid (max |e| / 15 steps), sign kept."""
    out = np.zeros_like(e)
    for c in range(n_cores):
        cols = core_of == c
        m = np.abs(e[:, cols]).max(initial=0.0)
        if m > 0:
            s = m / LEVELS
            out[:, cols] = np.sign(e[:, cols]) * np.clip(np.rint(np.abs(e[:, cols]) / s), 0, 15) * s
    return out


def from_nir(graph: Any, dt: float = 1e-3) -> tuple[Model, dict]:
    """Convert a NIR graph (module docstring) to a hil model and a conversion report."""
    import nir  # type: ignore[import-untyped]

    if not isinstance(graph, nir.NIRGraph):
        raise ConfigError("graph", type(graph).__name__, "a nir.NIRGraph")
    nodes, edges = dict(graph.nodes), list(graph.edges)
    pops = [k for k, v in nodes.items() if type(v).__name__ in NEURON_NODES]
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in nodes.items() if isinstance(v, nir.Output)]
    if not pops or len(inputs) != 1 or len(outputs) != 1:
        raise ConfigError(
            "graph nodes",
            sorted(type(v).__name__ for v in nodes.values()),
            "one Input, one Output and at least one LIF or CubaLIF population",
        )
    other = [
        k
        for k, v in nodes.items()
        if k not in pops + inputs + outputs and not isinstance(v, nir.Linear | nir.Affine)
    ]
    if other:
        raise ConfigError(
            "graph node",
            f"{other[0]} ({type(nodes[other[0]]).__name__})",
            "Input, Output, Linear, Affine (zero bias), LIF, CubaLIF",
        )
    pre = {k: [a for a, b in edges if b == k] for k in nodes}
    post = {k: [b for a, b in edges if a == k] for k in nodes}
    n_in = int(np.prod(nodes[inputs[0]].input_type["input"]))
    size = {p: int(np.asarray(nodes[p].v_threshold).size) for p in pops}
    for p in pops:
        if size[p] > NEURONS_PER_CORE:
            raise ConfigError(f"population {p}", f"{size[p]} neurons", f"<= {NEURONS_PER_CORE}")
    start = dict(zip(pops, np.cumsum([0] + [size[p] for p in pops])[:-1].tolist(), strict=True))
    n = sum(size.values())
    core_of = np.concatenate([np.full(size[p], i) for i, p in enumerate(pops)])

    def flat(p: str, name: str) -> np.ndarray:
        return np.broadcast_to(np.asarray(getattr(nodes[p], name), float), (size[p],)).copy()

    currents: list[dict[str, float]] = []
    notes: list[str] = []
    report_tau_mem: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    report_tau_syn: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    vreset_err: list[np.ndarray] = []
    scale_in = np.zeros(n)
    for p in pops:
        node = nodes[p]
        cuba = type(node).__name__ == "CubaLIF"
        tm = flat(p, "tau_mem" if cuba else "tau")
        ts = flat(p, "tau_syn") if cuba else np.full(size[p], LIF_TAU_SYN)
        if (tm <= 0).any() or (ts <= 0).any():
            raise ConfigError(f"population {p} time constants", "<= 0", "> 0 s")
        cur = _core_currents(float(np.exp(np.log(tm).mean())), float(np.exp(np.log(ts).mean())))
        currents.append(cur)
        got_m = tau_of(cur["Itau_mem"], PHYSICS.C_mem, PHYSICS)
        got_s = tau_of(cur["Itau_ampa"], PHYSICS.C_ampa, PHYSICS)
        report_tau_mem[0].append(tm)
        report_tau_mem[1].append(np.full(size[p], got_m))
        if cuba:
            report_tau_syn[0].append(ts)
            report_tau_syn[1].append(np.full(size[p], got_s))
        else:
            notes.append(f"{p}: LIF has no synaptic current; tau_syn {LIF_TAU_SYN} s used")
        r, vl, vth = flat(p, "r"), flat(p, "v_leak"), flat(p, "v_threshold")
        if (vth <= vl).any():
            raise ConfigError(f"population {p} v_threshold", "<= v_leak", "v_threshold > v_leak")
        vreset_err.append((flat(p, "v_reset") - vl) / (vth - vl))
        w_in = flat(p, "w_in") if cuba else 1.0 / ts
        scale_in[start[p] : start[p] + size[p]] = r * w_in / (vth - vl)
    # efficacy matrices (pre, post) from the Linear/Affine nodes
    e_in, e_rec = np.zeros((n_in, n)), np.zeros((n, n))
    for k, v in nodes.items():
        if not isinstance(v, nir.Linear | nir.Affine):
            continue
        if isinstance(v, nir.Affine) and np.any(np.asarray(v.bias) != 0):
            raise ConfigError(
                f"{k}.bias", "non-zero", "zero (a bias current has no per-synapse form)"
            )
        if len(pre[k]) != 1 or len(post[k]) != 1 or post[k][0] not in pops:
            raise ConfigError(f"{k} edges", (pre[k], post[k]), "one source and one population")
        src, dst = pre[k][0], post[k][0]
        w = np.asarray(v.weight, float).T  # NIR (out, in) -> (in, out)
        cols = slice(start[dst], start[dst] + size[dst])
        if w.shape[1] != size[dst]:
            raise ConfigError(f"{k}.weight", w.shape[::-1], f"({size[dst]}, ...) for {dst}")
        if src in inputs:
            e_in[:, cols] += w * scale_in[cols]
        elif src in pops:
            e_rec[start[src] : start[src] + size[src], cols] += w * scale_in[cols]
        else:
            raise ConfigError(f"{k} source", src, "the Input or a population")
    fan_in = (e_in != 0).sum(0) + (e_rec != 0).sum(0)
    if fan_in.max(initial=0) > SYNAPSES_PER_NEURON:
        i = int(fan_in.argmax())
        raise ConfigError(f"neuron {i} fan-in", int(fan_in[i]), f"<= {SYNAPSES_PER_NEURON} CAM")
    per_amp = {
        s: np.array([efficacy_per_ampere(currents[c], dt, s) for c in core_of])
        for s in ("ampa", "gaba")
    }

    def amps(e: np.ndarray) -> np.ndarray:
        return np.where(e > 0, e / per_amp["ampa"], e / per_amp["gaba"])

    feed = pre[outputs[0]]
    if len(feed) != 1 or feed[0] not in pops:
        raise ConfigError("Output", feed, "fed by one population")
    o = feed[0]
    e_all = np.concatenate([e_in, e_rec])
    e_q = _grid(e_all, core_of, len(pops))
    report = {
        "tau_mem": _rel_rms(np.concatenate(report_tau_mem[0]), np.concatenate(report_tau_mem[1])),
        "tau_syn": _rel_rms(np.concatenate(report_tau_syn[0]), np.concatenate(report_tau_syn[1]))
        if report_tau_syn[0]
        else None,
        "weights": float(np.linalg.norm(e_q - e_all)) / max(float(np.linalg.norm(e_all)), 1e-300),
        "v_reset": float(np.sqrt(np.mean(np.concatenate(vreset_err) ** 2))),
        "notes": notes,
        "populations": {p: {"core": i, "neurons": size[p]} for i, p in enumerate(pops)},
    }
    try:
        decode = check_decode(_hil_metadata(graph).get("decode", "sum"))
    except ConfigError as e:
        raise ConfigError("NIR metadata hil.decode", e.value, e.allowed) from None
    model = Model(
        w_in=amps(e_in),
        w_rec=amps(e_rec),
        core_of=core_of,
        currents=currents,
        outputs=[[start[o] + i for i in cls] for cls in _classes(graph, size[o])],
        dt=dt,
        training={"from": "nir", "conversion": report},
        decode=decode,
    )
    return model, report


def _hil_metadata(graph: Any) -> dict:
    """What an exported hil model recorded in the graph (metadata["hil"]), else {}."""
    meta = graph.metadata.get("hil") if isinstance(graph.metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def _classes(graph: Any, n: int) -> list[list[int]]:
    """The output population's neurons of each class: one neuron per class, or the grouping an
    exported hil model recorded (metadata["hil"]["classes"], when it covers exactly 0..n-1)."""
    groups = _hil_metadata(graph).get("classes")
    try:
        flat = sorted(int(i) for g in groups for i in g)  # type: ignore[union-attr]
        if flat == list(range(n)):
            return [[int(i) for i in g] for g in groups]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        pass
    return [[i] for i in range(n)]


def to_nir(model: Model) -> Any:
    """A hil model as a NIR graph: one CubaLIF population per logical core (module docstring)."""
    import nir

    core_of = model.core_of
    cores = list(range(model.n_cores))
    nodes: dict[str, Any] = {"input": nir.Input({"input": np.array([model.n_inputs])})}
    edges: list[tuple[str, str]] = []
    cols = {c: np.flatnonzero(core_of == c) for c in cores}
    per_amp = {
        s: np.array([efficacy_per_ampere(model.currents[c], model.dt, s) for c in core_of])
        for s in ("ampa", "gaba")
    }

    def efficacy(w: np.ndarray) -> np.ndarray:
        return np.where(w > 0, w * per_amp["ampa"], w * per_amp["gaba"])

    e_in, e_rec = efficacy(model.w_in.astype(float)), efficacy(model.w_rec.astype(float))
    for c in cores:
        cur, k = model.currents[c], cols[c].size
        nodes[f"core{c}"] = nir.CubaLIF(
            tau_syn=np.full(k, tau_of(cur["Itau_ampa"], PHYSICS.C_ampa, PHYSICS)),
            tau_mem=np.full(k, tau_of(cur["Itau_mem"], PHYSICS.C_mem, PHYSICS)),
            r=np.ones(k),
            v_leak=np.zeros(k),
            v_threshold=np.ones(k),
            w_in=np.ones(k),
        )
        block = e_in[:, cols[c]]
        if np.any(block):
            nodes[f"input_to_core{c}"] = nir.Linear(weight=block.T.copy())
            edges += [("input", f"input_to_core{c}"), (f"input_to_core{c}", f"core{c}")]
        for a in cores:
            block = e_rec[np.ix_(cols[a], cols[c])]
            if np.any(block):
                nodes[f"core{a}_to_core{c}"] = nir.Linear(weight=block.T.copy())
                edges += [(f"core{a}", f"core{a}_to_core{c}"), (f"core{a}_to_core{c}", f"core{c}")]
    out_neurons = [i for cls in model.outputs for i in cls]
    out_core = {int(core_of[i]) for i in out_neurons}
    if len(out_core) != 1 or list(cols[out_core.pop()]) != out_neurons:
        raise ConfigError("outputs", out_neurons, "every neuron of one core, in order, for NIR")
    o = int(core_of[out_neurons[0]])
    nodes["output"] = nir.Output({"output": np.array([len(out_neurons)])})
    edges.append((f"core{o}", "output"))
    groups = [[out_neurons.index(i) for i in cls] for cls in model.outputs]
    meta = {"hil": {"dt": model.dt, "classes": groups, "decode": model.decode}}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)
