"""hil.chip.netlist: a config compiled once, checked against readings of the config written here."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from dataclasses import fields

import numpy as np
import pytest
import torch
from configs import configs
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.chip.biasgen import bias_current
from hil.chip.config import ChipConfig, Neuron, Synapse, mask_bits
from hil.chip.geometry import CORES_PER_CHIP, Dendrite, global_neuron
from hil.chip.netlist import (
    BIAS_CURRENTS,
    FIELDS,
    FLAGS,
    SYNAPSE_TYPES,
    TRAINABLE,
    build_netlist,
    derived_constants,
)
from hil.chip.params import SIM_TO_DEVICE, HighLevel, Physics, core_parameters, pulse_of, tau_of
from hil.emulator.silicon import TRUTH_COLUMNS, Silicon
from hil.errors import ConfigError
from hil.sim.mismatch import CURRENTS, sample_mismatch
from hil.sim.network import TRAINABLE_CURRENTS
from hil.sim.records import NeuronParams


def enumerate_synapses(cfg: ChipConfig) -> Counter:
    """Every (from_input, source, target, slot, type, mask) by brute force over all pairs of an
    event source and a CAM entry: the reading of docs/chip.md written out, not the netlist's."""
    out: Counter = Counter()
    order = {d: i for i, d in enumerate(SYNAPSE_TYPES)}
    for c, k, n, nr in cfg.neurons():
        for slot, s in enumerate(nr.synapses):
            mask = sum(1 << i for i in range(4) if s.weight[i])
            if s.dendrite is Dendrite.NONE or not mask:
                continue
            row = (global_neuron(c, k, n), slot, order[s.dendrite], mask)
            for r in cfg.inputs:
                if r.chip == c and r.core[k] and r.tag == s.tag:
                    out[(True, r.channel, *row)] += 1
            for c2, k2, n2, nr2 in cfg.neurons():
                for d in nr2.destinations:
                    if d.y_hop == 0 and c2 + d.x_hop == c and d.core[k] and d.tag == s.tag:
                        out[(False, global_neuron(c2, k2, n2), *row)] += 1
    return out


@settings(max_examples=60, deadline=None)
@given(cfg=configs(tags=3))
def test_synapses_are_every_source_and_cam_entry_that_meet(cfg: ChipConfig) -> None:
    net = build_netlist(cfg)
    got = Counter(
        (bool(r["from_input"]), int(r["source"]), int(r["target"]), int(r["slot"]))
        + (int(r["type"]), int(r["mask"]))
        for r in net.synapses
    )
    assert got == enumerate_synapses(cfg)
    routes = Counter(
        (r.channel, r.chip, k, r.tag) for r in cfg.inputs for k in range(4) if r.core[k]
    )
    fanout = Counter(
        (global_neuron(c, k, n), c + d.x_hop, k2, d.tag)
        for c, k, n, nr in cfg.neurons()
        for d in nr.destinations
        for k2 in range(4)
        if d.core[k2] and d.y_hop == 0 and 0 <= c + d.x_hop < len(cfg.chips)
    )
    assert Counter(map(tuple, net.routes.tolist())) == routes
    assert Counter(map(tuple, net.fanout.tolist())) == fanout
    assert list(net.neurons) == sorted(global_neuron(c, k, n) for c, k, n, _ in cfg.neurons())
    assert list(net.channels) == sorted({r.channel for r in cfg.inputs})


def test_weights_are_the_masked_base_weights_of_the_target_core_times_the_slot_factor() -> None:
    cfg = ChipConfig()
    cfg.core(0, 2).parameters = {"SYAM_W0_P": (2, 100), "SYAM_W2_P": (3, 7), "SYAM_W3_P": (1, 9)}
    cfg.core(0, 2).neurons[5] = Neuron(
        synapses=[Synapse(3, Dendrite.GABA, mask_bits(0b0101)), Synapse(3, Dendrite.AMPA)]
    )
    cfg.core(0, 1).neurons[9] = Neuron(
        synapses=[Synapse(3, Dendrite.SHUNT, mask_bits(0b1001))], destinations=[]
    )
    cfg.inputs = [cfg_route(7, tag=3)]
    net = build_netlist(cfg)
    w0, w2 = bias_current("SYAM_W0_P", 2, 100), bias_current("SYAM_W2_P", 3, 7)
    nominal_w0 = HighLevel().currents()["Iw_0"]
    nominal_w3 = HighLevel().currents()["Iw_3"]
    factor = np.ones((1, 4, 256, 64))
    factor[0, 2, 5, 0] = 1.5
    by_target = dict(zip(net.synapses["target"].tolist(), net.weights(factor), strict=True))
    assert by_target[global_neuron(0, 2, 5)] == pytest.approx(1.5 * (w0 + w2))
    # core 1 sets no base weights: they sit at the nominal codes, within the generator's steps
    assert by_target[global_neuron(0, 1, 9)] == pytest.approx(nominal_w0 + nominal_w3, rel=0.02)
    assert len(net.synapses) == 2  # the AMPA entry has an empty mask


def cfg_route(channel: int, tag: int):  # noqa: ANN201
    from hil.chip.config import InputRoute

    return InputRoute(channel=channel, chip=0, tag=tag)


def test_latches_gate_currents_and_spiking() -> None:
    cfg = ChipConfig()
    lat = {"latch_so_dc": True, "latch_so_adaptation": True, "latch_denm_nmda": True}
    cfg.core(0, 0).neurons[0] = Neuron(latches=lat)
    cfg.core(0, 0).neurons[1] = Neuron(latches={"latch_soif_kill": True})
    net = build_netlist(cfg)
    assert net.dc_enable.tolist() == [True, False] and net.alive.tolist() == [True, False]
    assert net.currents["Iw_ahp"][1] == 0 < net.currents["Iw_ahp"][0]
    assert net.currents["If_nmda"][1] == 0 < net.currents["If_nmda"][0]


def test_unset_biases_sit_at_the_nominal_codes_for_the_simulator_and_the_silicon() -> None:
    cfg = ChipConfig()
    cfg.core(0, 1).parameters = {"SOIF_LEAK_N": (1, 40)}
    cfg.core(0, 1).neurons[3] = Neuron()
    truth = Silicon("ideal", 0).truth(cfg)
    net = build_netlist(cfg)
    g = global_neuron(0, 1, 3)
    for name in BIAS_CURRENTS:
        assert net.currents[name][0] == pytest.approx(truth.currents[name][g], rel=1e-12), name
    assert net.currents["Itau_mem"][0] == pytest.approx(bias_current("SOIF_LEAK_N", 1, 40))


def test_all_neurons_and_given_currents() -> None:
    cfg = ChipConfig()
    cfg.core(0, 3).neurons[255] = Neuron(latches={"latch_so_dc": True})
    cur = {b: np.arange(2048, dtype=float) * 1e-12 + 1e-12 for b in BIAS_CURRENTS}
    net = build_netlist(cfg, cur, n_chips=2, all_neurons=True)
    assert net.neurons.size == 2048 and net.dc_enable.sum() == 1
    assert net.dc_enable[global_neuron(0, 3, 255)]
    assert net.currents["Itau_mem"][1023] == pytest.approx(1024e-12)
    with pytest.raises(ConfigError, match=r"currents\[Itau_mem\].*shape \(2048,\)"):
        build_netlist(cfg, {**cur, "Itau_mem": np.ones(1024)}, n_chips=2)
    with pytest.raises(ConfigError, match="Ispkthr"):
        build_netlist(cfg, {k: v for k, v in cur.items() if k != "Ispkthr"}, n_chips=2)
    assert list(net.columns(np.array([5, 4096]))) == [5, -1]


def closed_forms(cur: dict[str, float], phys: Physics, dt: float) -> dict[str, float]:
    """The constants of one neuron from hil.chip.params' formulas and the dynamics' docstring."""
    tau = tau_of(cur["Itau_ampa"], phys.C_ampa, phys)
    t_pulse = pulse_of(cur["Ipulse"], phys.C_pulse, phys)
    return {
        "tau_syn": tau,
        "t_pulse": t_pulse,
        "syn_jump": cur["Igain_ampa"] / cur["Itau_ampa"] * (1 - np.exp(-t_pulse / tau)),
        "syn_decay": np.exp(-dt / tau),
        "tau_mem": tau_of(cur["Itau_mem"], phys.C_mem, phys),
        "t_ref": pulse_of(cur["Iref"], phys.C_ref, phys),
        "u_th": np.log(cur["Ispkthr"] / phys.Io),
        "gain": cur["Igain_mem"] / cur["Itau_mem"],
    }


def test_derived_constants_match_the_closed_forms_in_numpy_and_torch() -> None:
    cfg = ChipConfig()
    cfg.core(0, 0).parameters = core_parameters(HighLevel(tau_mem=0.03, t_ref=2e-3).currents())
    cfg.core(0, 0).neurons[0] = Neuron()
    phys, dt = Physics(), 1e-4
    net = build_netlist(cfg, physics=phys)
    f = net.fields(phys)
    d_np = derived_constants(f, dt, phys)
    d_t = derived_constants({k: torch.as_tensor(v) for k, v in f.items()}, dt, phys)
    want = closed_forms({k: float(v[0]) for k, v in net.currents.items()}, phys, dt)
    for name, value in want.items():
        got_np, got_t = np.asarray(d_np[name]), d_t[name].numpy()
        if got_np.ndim == 2:  # per synapse type: row 0 is AMPA
            got_np, got_t = got_np[0], got_t[0]
        assert got_np[0] == pytest.approx(value, rel=1e-12), name
        assert got_t[0] == pytest.approx(value, rel=1e-12), name


def test_derived_constants_are_differentiable_in_the_currents() -> None:
    f = {
        k: torch.as_tensor(v, dtype=torch.float64)
        for k, v in build_netlist(one_neuron()).fields().items()
    }
    ispk = f["Ispkthr"].clone().requires_grad_(True)
    itau = f["Itau_syn"].clone().requires_grad_(True)
    d = derived_constants({**f, "Ispkthr": ispk, "Itau_syn": itau}, 1e-3, Physics())
    (d["u_th"].sum() + d["syn_decay"].sum()).backward()
    assert ispk.grad is not None and ispk.grad[0] == pytest.approx(1 / float(ispk[0].detach()))
    assert itau.grad is not None and (itau.grad < 0).all()  # more leak: faster decay


def one_neuron() -> ChipConfig:
    cfg = ChipConfig()
    cfg.core(0, 0).neurons[0] = Neuron()
    return cfg


def test_one_vocabulary_of_parameter_names() -> None:
    tensor_fields = tuple(f.name for f in fields(NeuronParams) if f.type == "torch.Tensor")
    assert tensor_fields == FIELDS + FLAGS
    assert CURRENTS == FIELDS and TRAINABLE_CURRENTS == TRAINABLE
    n = len(BIAS_CURRENTS)
    assert TRUTH_COLUMNS[3 : 3 + n] == BIAS_CURRENTS and set(BIAS_CURRENTS) == set(SIM_TO_DEVICE)
    assert len(TRUTH_COLUMNS) == 3 + n + 4
    assert [d.name.lower() for d in SYNAPSE_TYPES] == ["ampa", "nmda", "gaba", "shunt"]


def test_hil_chip_imports_no_torch() -> None:
    code = "import sys, hil.chip.netlist, hil.chip.mismatch; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@given(name=st.sampled_from(["Itau_ampa", "C_nmda", "Igain_shunt"]))
@settings(max_examples=3, deadline=None)
def test_mismatch_takes_element_names(name: str) -> None:
    from hil.chip.netlist import element

    base = NeuronParams.nominal(8)
    inst = sample_mismatch(base, 3, sigma=0.2, seed=1, names=[name])
    field, syn = element(name)
    changed = (getattr(inst, field) != getattr(base, field)).any(dim=-1)  # (3, 4)
    assert changed[:, syn].all() and changed.sum() == 3
    untouched = [f for f in FIELDS if f != field]
    assert all(
        torch.equal(getattr(inst, f), getattr(base, f).expand(3, *getattr(base, f).shape[1:]))
        for f in untouched
    )


def test_cores_beyond_the_config_are_nominal() -> None:
    net = build_netlist(one_neuron(), n_chips=2, all_neurons=True)
    assert net.currents["Itau_mem"][1024 + 5] == net.currents["Itau_mem"][5]
    assert net.currents["Itau_mem"].shape == (2048,) and CORES_PER_CHIP == 4
