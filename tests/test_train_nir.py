"""hil.train.interchange: NIR graphs in and out (issue 10 section 6)."""

from __future__ import annotations

import nir
import numpy as np
import pytest

from hil.chip.netlist import PHYSICS
from hil.errors import ConfigError
from hil.tasks import get_task
from hil.train.interchange import LIF_TAU_SYN, efficacy_per_ampere, from_nir, to_nir
from hil.train.network import ChipNet, Layout
from hil.train.trainer import to_model


def _cuba(n: int, tau_mem: object = 0.02, tau_syn: object = 5e-3, **kw: object) -> nir.CubaLIF:
    def full(v: object) -> np.ndarray:
        return np.broadcast_to(np.asarray(v, float), (n,)).copy()

    return nir.CubaLIF(
        tau_syn=full(tau_syn),
        tau_mem=full(tau_mem),
        r=full(kw.get("r", 1.0)),
        v_leak=full(kw.get("v_leak", 0.0)),
        v_threshold=full(kw.get("v_threshold", 1.0)),
        w_in=full(kw.get("w_in", 1.0)),
    )


def _graph(w: np.ndarray, neuron: nir.NIRNode) -> nir.NIRGraph:
    return nir.NIRGraph.from_list(
        nir.Input({"input": np.array([w.shape[1]])}),
        nir.Linear(weight=w),
        neuron,
        nir.Output({"output": np.array([w.shape[0]])}),
    )


def _tau(current: float, c: float) -> float:  # oracle: the DPI relation, written out here
    return PHYSICS.Ut / PHYSICS.kappa * c / current


def test_import_a_graph_built_with_nirs_api() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.5, (3, 5))  # NIR: (out, in)
    tau_mem = np.array([0.01, 0.02, 0.04])
    model, report = from_nir(_graph(w, _cuba(3, tau_mem=tau_mem)))
    assert model.w_in.shape == (5, 3) and model.n_cores == 1 and model.outputs == [[0], [1], [2]]
    assert np.array_equal(np.sign(model.w_in), np.sign(w.T))  # sign -> AMPA / GABA
    # one shared leak current per core: the error the report states is the per-neuron one
    got = _tau(model.currents[0]["Itau_mem"], PHYSICS.C_mem)
    assert np.isclose(got, np.exp(np.log(tau_mem).mean()), rtol=0.02)  # geometric mean, coded
    want = np.sqrt(np.mean(((got - tau_mem) / tau_mem) ** 2))
    assert np.isclose(report["tau_mem"], want, rtol=1e-9) and report["tau_mem"] > 0.3
    assert report["tau_syn"] < 0.02 and report["v_reset"] == 0.0
    # efficacy kept: NIR weight / (v_th - v_leak) = chip weight x jump x gain / threshold
    per_amp_ampa = efficacy_per_ampere(model.currents[0], model.dt, "ampa")
    per_amp_gaba = efficacy_per_ampere(model.currents[0], model.dt, "gaba")
    e = np.where(model.w_in > 0, model.w_in * per_amp_ampa, model.w_in * per_amp_gaba)
    assert np.allclose(e, w.T, rtol=1e-5)
    # the neuron parameters that scale the drive are absorbed into the weights
    m2, _ = from_nir(_graph(w, _cuba(3, tau_mem=tau_mem, r=2.0, v_threshold=3.0, v_leak=1.0)))
    assert np.allclose(m2.w_in, model.w_in, rtol=1e-6)


def test_lif_is_a_cuba_lif_with_a_short_synapse() -> None:
    w = np.array([[0.2, -0.1], [0.05, 0.3]])
    lif = nir.LIF(tau=np.full(2, 0.02), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2))
    m_lif, rep = from_nir(_graph(w, lif))
    m_cuba, _ = from_nir(_graph(w, _cuba(2, tau_syn=LIF_TAU_SYN, w_in=1 / LIF_TAU_SYN)))
    assert np.allclose(m_lif.w_in, m_cuba.w_in, rtol=1e-9) and rep["tau_syn"] is None
    assert any("LIF" in n for n in rep["notes"])


def test_round_trip_through_a_nir_file(tmp_path) -> None:
    net = ChipNet(Layout(6, 3, hidden=4, per_class=2), seed=2)
    with __import__("torch").no_grad():
        net.w_rec[:4, 4:] *= 3.0
    model = to_model(net, get_task("frozen-noise"), {"config": {"decode": "log-sum"}})
    nir.write(tmp_path / "net.nir", to_nir(model))
    m1, rep1 = from_nir(nir.read(tmp_path / "net.nir"))
    assert m1.outputs == model.outputs and list(m1.core_of) == list(model.core_of)
    assert m1.decode == "log-sum"  # the decoding travels in the graph's hil metadata
    # efficacies (what the dynamics see) are kept exactly; time constants to the bias codes
    for c in range(2):
        for cur, name, cap in (("Itau_mem", "mem", PHYSICS.C_mem), ("Itau_ampa", "a", 24.5e-12)):
            a = _tau(model.currents[c][cur], cap)
            b = _tau(m1.currents[c][cur], cap)
            # 20 ms is ~5.4 pA, fine step 0.17 pA at coarse 0: the code is within ~1.6 %
            assert abs(b / a - 1) < 0.02, (c, name)

    def eff(m):  # noqa: ANN001, ANN202
        amp = np.array([efficacy_per_ampere(m.currents[c], m.dt, "ampa") for c in m.core_of])
        gab = np.array([efficacy_per_ampere(m.currents[c], m.dt, "gaba") for c in m.core_of])
        return [np.where(w > 0, w * amp, w * gab) for w in (m.w_in, m.w_rec)]

    for x, y in zip(eff(model), eff(m1), strict=True):
        assert np.allclose(x, y, rtol=1e-5, atol=1e-12)
    # a second trip changes nothing at all
    m2, rep2 = from_nir(to_nir(m1))
    assert np.array_equal(m2.w_in, m1.w_in) and np.array_equal(m2.w_rec, m1.w_rec)
    assert m2.currents == m1.currents and rep2["tau_mem"] == 0.0


def test_what_cannot_map_is_refused() -> None:
    w = np.ones((2, 70))
    with pytest.raises(ConfigError, match="fan-in"):
        from_nir(_graph(w, _cuba(2)))
    g = nir.NIRGraph.from_list(
        nir.Input({"input": np.array([3])}),
        nir.Affine(weight=np.ones((2, 3)), bias=np.ones(2)),
        _cuba(2),
        nir.Output({"output": np.array([2])}),
    )
    with pytest.raises(ConfigError, match="bias"):
        from_nir(g)
    with pytest.raises(ConfigError, match="256"):
        from_nir(_graph(np.ones((300, 2)), _cuba(300)))
    g = nir.NIRGraph.from_list(
        nir.Input({"input": np.array([2])}),
        nir.Linear(weight=np.ones((2, 2))),
        nir.Threshold(threshold=np.ones(2)),
        nir.Output({"output": np.array([2])}),
    )
    with pytest.raises(ConfigError, match="LIF"):
        from_nir(g)
    _, rep = from_nir(_graph(np.ones((2, 2)), _cuba(2, v_leak=0.0, v_threshold=1.0)))
    assert rep["v_reset"] == 0.0
