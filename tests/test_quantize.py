"""hil.quantize: weights -> base weights + masks (issue 10 section 3), and the quantize benchmark."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from hil.chip.biasgen import bias_code, bias_current
from hil.chip.params import HighLevel
from hil.quantize import weightsets
from hil.quantize.currents import currents_to_codes
from hil.quantize.weights import (
    BASE_WEIGHT_BIASES,
    GAIN_BIASES,
    binary_grid,
    optimal_levels_error,
    quantize,
    quantize_core,
    quantize_model,
    relative_rms_error,
)


def _realized(w_in, w_rec, core_of):
    q = quantize(w_in, w_rec, core_of)
    return q, *q.weights()


def _bits(masks):
    """(..., 4) 0/1 of each mask's bits, written out here (not the quantizer's tables)."""
    m = np.asarray(masks, dtype=np.int64)
    return np.stack([(m >> i) & 1 for i in range(4)], axis=-1).astype(np.float64)


@pytest.mark.parametrize("seed", range(6))
def test_planted_solution_is_found(seed: int) -> None:
    """Excitatory magnitudes that are exact subset sums of realizable base weights, inhibitory
    ones the same sums times a realizable GABA gain over the reference, quantize with (almost) no
    error: the weights are built from the answer, an oracle that shares nothing with the search.
    ALS is a local search from many starts; it finds most planted answers exactly (the worst seed
    here, seed 3, to 1.8 %, where the binary grid leaves 3.3 %)."""
    rng = np.random.default_rng(seed)
    codes = [(4, int(f)) for f in rng.integers(20, 250, 4)]
    iw = np.array(
        [bias_current(b, c, f) for b, (c, f) in zip(BASE_WEIGHT_BIASES, codes, strict=True)]
    )
    ref = np.array([bias_current(GAIN_BIASES[0], 3, 92), bias_current(GAIN_BIASES[1], 3, 94)])
    f_gaba = float(bias_current(GAIN_BIASES[1], 3, int(rng.integers(70, 130)))) / ref[1]
    masks = rng.integers(1, 16, 300)
    sign = rng.choice([-1, 1], 300)
    x = (_bits(masks) @ iw) * np.where(sign > 0, 1.0, f_gaba) * sign
    q = quantize_core(x, ref)
    realized = np.sign(x) * np.where(x > 0, q.gain[0], q.gain[1]) * (_bits(q.masks) @ q.iw)
    err = np.sqrt(np.sum((realized - x) ** 2) / np.sum(x**2))
    assert err == pytest.approx(np.sqrt(q.sq_error / np.sum(x**2)), rel=1e-9, abs=1e-12)
    assert err < (0.02 if seed == 3 else 1e-9)
    if seed != 3:  # the GABA gain is found exactly: one scale for both signs could not do this
        assert q.gain == pytest.approx([1.0, f_gaba], rel=1e-12)
    assert err < binary_grid(x[None, :], np.zeros((300, 300)))[0]


def test_base_weights_and_gains_are_realizable_codes() -> None:
    w_in, w_rec = weightsets.tutorial(3)
    q = quantize(w_in, w_rec, np.zeros(2, int))
    for k, b in enumerate(BASE_WEIGHT_BIASES):
        c, f = q.codes[0, k]
        assert bias_current(b, c, f) == pytest.approx(q.iw[0, k], rel=1e-12)
        assert tuple(int(v) for v in bias_code(b, q.iw[0, k])) == (c, f)
    for k, b in enumerate(GAIN_BIASES):
        c, f = q.gain_codes[0, k]
        assert bias_current(b, c, f) == pytest.approx(q.gain[0, k] * q.reference[0, k], rel=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda s: weightsets.tutorial(s),
        lambda s: weightsets.random_256(s, n_neurons=64, n_inputs=32, fan_in_rec=40),
        # another family: uniform magnitudes, few inputs, two logical cores
        lambda s: (
            np.random.default_rng(s).uniform(-3e-8, 3e-8, (10, 40)),
            np.random.default_rng(s + 9).uniform(-1e-8, 2e-8, (40, 40)),
        ),
    ],
)
@pytest.mark.parametrize("seed", [11, 12])
def test_beats_the_binary_grid_and_keeps_signs(make, seed: int) -> None:
    w_in, w_rec = make(seed)
    n = w_rec.shape[0]
    core_of = np.arange(n) % 2
    q, q_in, q_rec = _realized(w_in, w_rec, core_of)
    err = relative_rms_error(w_in, w_rec, q_in, q_rec)
    grid = binary_grid(w_in, w_rec)[0]  # one scale for the whole network, unsnapped
    assert err <= grid * 1.01, (err, grid)
    # signs: AMPA where w > 0, GABA where w < 0, nothing where w == 0
    assert np.all(np.sign(q_in[q.masks_in > 0]) == np.sign(w_in[q.masks_in > 0]))
    assert np.all(q.masks_rec[w_rec == 0] == 0) and np.all(q.masks_in[w_in == 0] == 0)
    # each core's weights use that core's base weights, times the gain of the weight's sign
    for i in range(n):
        k = core_of[i]
        f = np.where(w_rec[:, i] > 0, q.gain[k, 0], q.gain[k, 1])
        assert np.allclose(np.abs(q_rec[:, i]), f * (_bits(q.masks_rec[:, i]) @ q.iw[k]))


@pytest.mark.parametrize("seed", [21, 22])
def test_issue_weight_sets_between_the_bound_and_the_baselines(seed: int) -> None:
    """On the issue's two weight sets (seeds the development did not use): per-sign gains never
    lose to one scale, both are at or below the binary grid, and nothing beats the exact
    per-sign 15-level bound (an independent check of the search and of the bound). The issue's
    targets (3 % / 4.5 %) lie below that bound on these sets: docs/training.md."""
    for make in (weightsets.tutorial, weightsets.random_256):
        w_in, w_rec = make(seed)
        core_of = np.zeros(w_rec.shape[0], int)
        split = relative_rms_error(w_in, w_rec, *quantize(w_in, w_rec, core_of).weights())
        one = relative_rms_error(
            w_in, w_rec, *quantize(w_in, w_rec, core_of, split=False).weights()
        )
        w = np.concatenate([w_in.ravel(), w_rec.ravel()])
        bound = np.sqrt(
            (optimal_levels_error(w[w > 0]) + optimal_levels_error(w[w < 0])) / np.sum(w**2)
        )
        assert bound < split <= one * 1.001
        assert one <= binary_grid(w_in, w_rec)[0] * 1.001


def test_optimal_levels_error_against_brute_force() -> None:
    """The dynamic programme against every split of a small sorted set into contiguous groups."""
    from itertools import combinations

    rng = np.random.default_rng(5)
    for n_levels in (1, 2, 3):
        x = np.abs(rng.normal(0, 1, 9))
        xs = np.sort(x)
        best = np.inf
        # groups: x[:c0] -> 0, then n_levels contiguous groups at their means (some may be empty)
        for cuts in combinations(range(10), n_levels):
            edges = [0, *cuts, 9]
            sq = float(np.sum(xs[: edges[1]] ** 2))
            for lo, hi in zip(edges[1:-1], edges[2:], strict=True):
                g = xs[lo:hi]
                sq += float(np.sum((g - g.mean()) ** 2)) if g.size else 0.0
            best = min(best, sq)
        assert optimal_levels_error(x, n_levels) == pytest.approx(best, rel=1e-9, abs=1e-15)


def test_relative_rms_error_definition() -> None:
    w = np.array([[3.0, -4.0]])
    assert relative_rms_error(w, np.zeros((2, 2)), w * 1.1, np.zeros((2, 2))) == pytest.approx(0.1)
    assert relative_rms_error(w, np.zeros((2, 2)), np.zeros_like(w), np.zeros((2, 2))) == 1.0


def test_bad_input_is_refused() -> None:
    with pytest.raises(Exception, match="w_in"):
        quantize(np.zeros((3, 2)), np.zeros((3, 3)), np.zeros(3, int))
    with pytest.raises(Exception, match="finite"):
        quantize_core(np.array([1.0, np.nan]))


def test_currents_to_codes_reports_the_rounding() -> None:
    cur = HighLevel().currents()
    codes, err = currents_to_codes(cur)
    assert set(codes) >= {"SOIF_LEAK_N", "SYAM_W0_P"}
    for sim, amps in cur.items():
        dev = {"Itau_mem": "SOIF_LEAK_N", "Iw_0": "SYAM_W0_P", "Ispkthr": "SOIF_SPKTHR_P"}.get(sim)
        if dev:
            assert err[sim] == pytest.approx(abs(bias_current(dev, *codes[dev]) - amps) / amps)
    with pytest.raises(Exception, match="simulation names"):
        currents_to_codes({"Ifoo": 1e-9})


def test_bench_quantize_keys_without_peer() -> None:
    from hil.bench import quantize as bench

    p = argparse.ArgumentParser()
    bench.add_arguments(p)
    out = bench.run(p.parse_args(["--no-peer", "--repeats", "1"]))
    for key in ("rms_error_tutorial", "rms_error_256"):
        assert 0 < out[key] < 0.07
    assert out["rockpool_rms_error_tutorial"] is None and out["speedup_vs_rockpool"] is None
    assert "skipped" in out["rockpool"]


@pytest.mark.slow
def test_bench_quantize_with_rockpool_in_the_same_run() -> None:
    """The full benchmark (about a minute: Rockpool's quantizer takes most of it)."""
    pytest.importorskip("rockpool")
    from hil.bench import quantize as bench

    p = argparse.ArgumentParser()
    bench.add_arguments(p)
    out = bench.run(p.parse_args(["--repeats", "1"]))
    for name in ("tutorial", "256"):
        assert out[f"rms_error_{name}"] < out[f"rockpool_rms_error_{name}"] / 2
    assert out["speedup_vs_rockpool"] > 1


def test_quantize_model_round_trips_through_the_model_files(tmp_path) -> None:
    from hil.quantize.weights import quantize_model
    from hil.train.model import Model

    w_in, w_rec = weightsets.random_256(4, n_neurons=30, n_inputs=10, fan_in_rec=8, fan_in_in=4)
    m = Model(
        w_in=w_in,
        w_rec=w_rec,
        core_of=np.arange(30) // 16,
        currents=[{}, {}],
        outputs=[[0]],
        dt=1e-3,
    )
    qm = quantize_model(m)
    qm.save(tmp_path / "m.json")
    back = Model.load(tmp_path / "m.json")
    assert back.quantized is not None and m.quantized is None
    np.testing.assert_array_equal(back.quantized["masks_rec"], qm.quantized["masks_rec"])
    assert back.quantized["iw"].shape == (2, 4)


def test_assign_nonzero_never_drops_a_synapse() -> None:
    from hil.quantize.weights import assign_nonzero, levels

    iw = np.array([1e-9, 2e-9, 4e-9, 8e-9])
    x = np.array([0.0, 1e-12, 1.4e-9, 2.6e-9, 100e-9])
    m = assign_nonzero(x, iw)
    assert m.min() >= 1
    np.testing.assert_allclose(levels(iw)[m], [1e-9, 1e-9, 1e-9, 3e-9, 15e-9], rtol=1e-12)


def _tutorial_model(seed: int, currents: dict):
    from hil.train.model import Model

    w_in, w_rec = weightsets.tutorial(seed)
    return Model(
        w_in=w_in,
        w_rec=w_rec,
        core_of=np.zeros(2, int),
        currents=[currents],
        outputs=[[0], [1]],
        dt=1e-3,
    )


def _config_weights(dep, reference):
    """(w_in, w_rec) [A at the reference gains] read back from the deployed config alone, through
    the chip's netlist: sum of the target core's Iw over the mask's bits, times the synapse
    type's Igain over the reference (AMPA +, GABA -). Shares nothing with the quantizer."""
    from hil.chip.geometry import Dendrite
    from hil.chip.netlist import SYNAPSE_TYPES, build_netlist

    net = build_netlist(dep.config)
    s = net.synapses
    col = net.columns(s["target"])
    iw = np.stack([net.currents[f"Iw_{i}"][col] for i in range(4)], axis=1)  # (S, 4)
    mag = np.sum(_bits(s["mask"]) * iw, axis=1)
    types = [SYNAPSE_TYPES[t] for t in s["type"]]
    assert set(types) <= {Dendrite.AMPA, Dendrite.GABA}
    ampa = np.array([t == Dendrite.AMPA for t in types])
    gain = np.where(
        ampa,
        net.currents["Igain_ampa"][col] / reference[0],
        net.currents["Igain_gaba"][col] / reference[1],
    )
    w = np.where(ampa, 1.0, -1.0) * gain * mag
    post = {int(b): i for i, b in enumerate(dep.placement.neurons)}
    chan = {int(b): i for i, b in enumerate(dep.placement.channels)}
    n, k = dep.placement.neurons.size, dep.placement.channels.size
    w_in, w_rec = np.zeros((k, n)), np.zeros((n, n))
    for row, val in zip(s, w, strict=True):
        j = post[int(row["target"])]
        if row["from_input"]:
            w_in[chan[int(row["source"])], j] += val
        else:
            w_rec[post[int(row["source"])], j] += val
    return w_in, w_rec


@pytest.mark.parametrize("seed", [31, 32])
def test_deployed_config_realizes_the_quantized_weights(seed: int) -> None:
    """Round trip through the real config: the weights the config's codes realize (read back by
    the netlist) are the quantizer's, and their error, computed here from the config alone, is
    the one deploy reports and the benchmark's path gives."""
    from hil.deploy.deploy import deploy

    cur = HighLevel().currents()
    model = _tutorial_model(seed, cur)
    dep = deploy(model)
    ref = np.array([cur["Igain_ampa"], cur["Igain_gaba"]])
    c_in, c_rec = _config_weights(dep, ref)
    q = quantize(model.w_in, model.w_rec, model.core_of, ref[None, :])
    q_in, q_rec = q.weights()
    np.testing.assert_allclose(c_in, q_in, rtol=1e-12, atol=1e-22)
    np.testing.assert_allclose(c_rec, q_rec, rtol=1e-12, atol=1e-22)
    w = np.concatenate([model.w_in.ravel(), model.w_rec.ravel()]).astype(np.float64)
    c = np.concatenate([c_in.ravel(), c_rec.ravel()])
    err = np.sqrt(np.sum((c - w) ** 2) / np.sum(w**2))
    assert err == pytest.approx(dep.report["weights"]["relative_rms_error"], rel=1e-9)
    assert err == pytest.approx(relative_rms_error(model.w_in, model.w_rec, q_in, q_rec), rel=1e-9)
    assert q.gain[0, 1] != pytest.approx(q.gain[0, 0], rel=1e-3)  # the split is in the config


def test_quantize_model_keeps_the_float_network_and_deploys_the_same() -> None:
    """quantize_model moves the gains into the currents and divides the float weights by the
    factors: Igain_s * w per synapse is unchanged (the float network), and deploying it gives the
    same gain codes, masks and realized weights as deploying the plain model."""
    from hil.deploy.deploy import deploy

    cur = HighLevel().currents()
    model = _tutorial_model(33, cur)
    qm = quantize_model(model)
    for w0, w1 in ((model.w_in, qm.w_in), (model.w_rec, qm.w_rec)):
        g0 = np.where(w0 > 0, cur["Igain_ampa"], cur["Igain_gaba"])
        g1 = np.where(w1 > 0, qm.currents[0]["Igain_ampa"], qm.currents[0]["Igain_gaba"])
        np.testing.assert_allclose(w1 * g1, w0 * g0, rtol=1e-6)
    a, b = deploy(model), deploy(qm)
    for name in GAIN_BIASES + BASE_WEIGHT_BIASES:
        assert a.config.core(0, 0).parameters[name] == b.config.core(0, 0).parameters[name]
    np.testing.assert_array_equal(a.network.masks_in, b.network.masks_in)
    ref = np.array([cur["Igain_ampa"], cur["Igain_gaba"]])
    np.testing.assert_allclose(_config_weights(a, ref)[0], _config_weights(b, ref)[0], rtol=1e-12)


def test_als_fits_the_gaba_ratio() -> None:
    """The alternating least squares moves the GABA/AMPA ratio itself (not only the snapping
    descent over gain codes): from the planted base weights and ratio 0.8, it reaches the planted
    ratio 0.77 and no error, where the fixed ratio 0.8 cannot. (From 1.0 it stops in a local
    optimum at 0.97: ALS is local, hence its many starts.)"""
    from hil.quantize.weights import _als, _Signed

    rng = np.random.default_rng(8)
    iw = np.array([1.1e-9, 2.3e-9, 3.9e-9, 8.4e-9])
    masks = rng.integers(1, 16, 400)
    sign = rng.choice([-1, 1], 400)
    x = (_bits(masks) @ iw) * np.where(sign > 0, 1.0, 0.77) * sign
    xs = _Signed(x)
    _, rho, err = _als(xs, iw, 0.8, True)
    assert rho == pytest.approx(0.77, rel=1e-6) and err < 1e-12 * np.sum(x**2)
    assert _als(xs, iw, 0.8, False)[2] > 1e-4 * np.sum(x**2)
