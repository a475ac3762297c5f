"""ChipConfig -> simulator: the config and the float weights it encodes give the same spikes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hil import events as ev
from hil.board import open_board
from hil.chip.config import ChipConfig, Destination, InputRoute, Neuron, Synapse, mask_bits
from hil.chip.geometry import Dendrite, global_neuron
from hil.chip.params import HighLevel, core_parameters, currents_from_codes
from hil.errors import BoardURLError, ConfigError
from hil.sim import NeuronParams, Weights, compile_config, simulate

N_IN, N_PER_CORE, DT, DUR = 6, 10, 1e-3, 0.4


def two_core_config(seed: int = 0) -> ChipConfig:
    """Two cores with different base weights; inputs and recurrent AMPA/GABA synapses."""
    rng = np.random.default_rng(seed)
    cfg = ChipConfig(
        inputs=[
            InputRoute(channel=c, chip=0, tag=c, core=(True, True, False, False))
            for c in range(N_IN)
        ]
    )
    for k, iw in ((0, (1e-9, 2e-9, 4e-9, 8e-9)), (1, (2e-9, 3e-9, 5e-9, 9e-9))):
        cfg.core(0, k).parameters = core_parameters(HighLevel(Iw=iw).currents())
    for k in (0, 1):
        for n in range(N_PER_CORE):
            syn = [
                Synapse(
                    tag=int(c), dendrite=Dendrite.AMPA, weight=mask_bits(int(rng.integers(4, 16)))
                )
                for c in rng.choice(N_IN, 3, replace=False)
            ]
            for pre in rng.choice(2 * N_PER_CORE, 4, replace=False):
                d = Dendrite.GABA if pre % 3 == 0 else Dendrite.AMPA
                syn.append(
                    Synapse(
                        tag=100 + int(pre), dendrite=d, weight=mask_bits(int(rng.integers(1, 16)))
                    )
                )
            cfg.core(0, k).neurons[n] = Neuron(
                synapses=syn,
                destinations=[
                    Destination(tag=100 + k * N_PER_CORE + n, core=(True, True, False, False))
                ],
            )
    return cfg.validate()


def float_way(
    cfg: ChipConfig, scale: float = 1e-8
) -> tuple[NeuronParams, torch.Tensor, torch.Tensor]:
    """Signed float weights [scale] and currents read back from the config, independently of
    hil.sim.compile: weight = sign(dendrite) * sum(mask * core Iw)."""
    n = 2 * N_PER_CORE
    w_in, w_rec = np.zeros((N_IN, n)), np.zeros((n, n))
    currents = {}
    for _, k, i, nr in cfg.neurons():
        cur = dict(HighLevel().currents())
        cur.update(currents_from_codes(cfg.core(0, k).parameters))
        currents.setdefault(k, cur)
        post = k * N_PER_CORE + i
        iw = np.array([cur[f"Iw_{b}"] for b in range(4)])
        for s in nr.synapses:
            w = s.dendrite.sign * float(np.dot(s.weight, iw)) / scale
            if s.tag < 100:
                w_in[s.tag, post] += w
            else:
                w_rec[s.tag - 100, post] += w
    per_neuron = {
        name: torch.tensor([[currents[k][name] for k in (0, 1) for _ in range(N_PER_CORE)]])
        for name in currents[0]
    }
    params = NeuronParams.from_currents(per_neuron, n, dc_enable=0.0)
    return params, torch.tensor(w_in, dtype=torch.float32), torch.tensor(w_rec, dtype=torch.float32)


def test_config_and_its_float_weights_give_the_same_spikes() -> None:
    cfg = two_core_config()
    stim = ev.poisson_input(60.0, N_IN, DUR, seed=4)
    with open_board(f"sim://?dt={DT}") as board:
        board.apply(cfg)
        out = board.run(stim, DUR)
    cols = [global_neuron(0, k, n) for k in (0, 1) for n in range(N_PER_CORE)]
    board_raster = ev.events_to_raster(out, DT, DUR, n_columns=1024)[:, cols]
    params, w_in, w_rec = float_way(cfg)
    x = torch.tensor(ev.events_to_raster(stim, DT, DUR, n_columns=N_IN), dtype=torch.float32)
    with torch.no_grad():
        spikes = simulate(params, Weights.from_signed(w_in, w_rec), x[None], DT).spikes[0, 0]
    assert board_raster[:, N_PER_CORE:].sum() > 20 and board_raster[:, :N_PER_CORE].sum() > 20
    assert np.array_equal(board_raster, spikes.numpy().astype(np.int32))


def test_compiled_weights_follow_masks_signs_and_routing() -> None:
    cfg = two_core_config()
    c = compile_config(cfg)
    _, w_in, w_rec = float_way(cfg)
    signed_in = (c.weights.w_in[0, 0] + c.weights.w_in[0, 1] - c.weights.w_in[0, 2]) / 1e-8
    signed_rec = (c.weights.w_rec[0, 0] + c.weights.w_rec[0, 1] - c.weights.w_rec[0, 2]) / 1e-8
    assert torch.allclose(signed_in, w_in, rtol=1e-5, atol=1e-6)
    assert torch.allclose(signed_rec, w_rec, rtol=1e-5, atol=1e-6)
    assert list(c.neurons) == [global_neuron(0, k, n) for k in (0, 1) for n in range(N_PER_CORE)]


def test_routing_across_chips_latches_and_dropped_events() -> None:
    cfg = ChipConfig(chips=[ChipConfigChip() for _ in range(2)])
    src = Neuron(
        destinations=[
            Destination(tag=7, core=(False, False, True, False), x_hop=1),
            Destination(tag=8, core=(True, True, True, True), y_hop=1),  # no chip there: dropped
        ],
        latches={"latch_so_dc": True},
    )
    cfg.core(0, 0).neurons[3] = src
    cfg.core(1, 2).neurons[5] = Neuron(synapses=[Synapse(7, Dendrite.NMDA, mask_bits(1))])
    cfg.core(1, 1).neurons[5] = Neuron(synapses=[Synapse(7, Dendrite.AMPA, mask_bits(1))])
    cfg.core(1, 2).neurons[6] = Neuron(
        synapses=[Synapse(8, Dendrite.AMPA, mask_bits(1)), Synapse(7, Dendrite.NONE, mask_bits(1))],
        latches={"latch_soif_kill": True},
    )
    c = compile_config(cfg.validate())
    pre = c.column(0, 0, 3)
    assert c.weights.w_rec[0, 1, pre, c.column(1, 2, 5)] == pytest.approx(1e-9, rel=0.05)
    assert c.weights.w_rec[0, :, pre, c.column(1, 1, 5)].sum() == 0  # core 1 not in the mask
    assert c.weights.w_rec[0, :, :, c.column(1, 2, 6)].sum() == 0
    assert c.params.dc_enable[0, pre] == 1 and c.params.alive[0, c.column(1, 2, 6)] == 0
    assert c.column(0, 0, 4) == -1


def ChipConfigChip():  # noqa: N802
    from hil.chip.config import Chip

    return Chip()


def test_invalid_config_keeps_the_old_one_and_url_options_are_checked() -> None:
    with open_board("sim://?dt=5e-4&seed=3") as b:
        info = b.info()
        assert info.details["dt"] == 5e-4 and info.details["seed"] == 3
        assert {"spikes", "counts", "gradients"} <= set(info.capabilities)
        h = b.apply(two_core_config())
        bad = two_core_config()
        bad.core(0, 1).neurons[0].synapses[0].tag = 5000
        with pytest.raises(ConfigError, match=r"synapses\[0\]\.tag"):
            b.apply(bad)
        assert b.compiled is not None and b.compiled.config_hash == h
    for url in ("sim://?dt=0", "sim://?dt=abc", "sim://?speed=2", "sim://?noise=-1"):
        with pytest.raises(BoardURLError):
            open_board(url)


def test_misuse_raises_hil_errors_that_name_the_field() -> None:
    from hil.sim import DynapNet, sample_mismatch

    p = NeuronParams.nominal(4)
    with pytest.raises(ConfigError, match="inputs"):
        simulate(p, Weights.zeros(3, 4), torch.zeros(1, 10, 5))
    with pytest.raises(ConfigError, match="weights"):
        simulate(p, Weights.zeros(3, 5), torch.zeros(1, 10, 3))
    with pytest.raises(ConfigError, match="train_currents"):
        DynapNet(3, 4, train_currents=("Ibogus",))
    with pytest.raises(ConfigError, match="names"):
        sample_mismatch(p, 2, names=("Ibogus",))
