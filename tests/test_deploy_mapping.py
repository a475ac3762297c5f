"""hil.deploy.mapping: network -> ChipConfig -> network, exactly; spill over cores and chips;
refusals that name the constraint (issue 10 section 4)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.chip.config import ChipConfig
from hil.chip.geometry import neuron_address
from hil.chip.netlist import build_netlist
from hil.deploy.mapping import (
    Placement,
    QuantizedNetwork,
    block_cores,
    from_config,
    naive_placement,
    to_config,
)
from hil.errors import ConfigError

CODES = {"SOIF_LEAK_N": (0, 29), "SYAM_W0_P": (4, 40), "SYAM_W3_P": (5, 30)}


def random_network(rng, n, n_in, fan_in, core_of=None, n_cores=None) -> QuantizedNetwork:
    core_of = block_cores(n) if core_of is None else core_of
    n_cores = int(core_of.max()) + 1
    m_in = np.zeros((n_in, n), np.uint8)
    m_rec = np.zeros((n, n), np.uint8)
    for post in range(n):
        k = int(rng.integers(0, fan_in + 1))
        src = rng.choice(n_in + n, min(k, n_in + n), replace=False)
        for s in src:
            if s < n_in:
                m_in[s, post] = rng.integers(1, 16)
            else:
                m_rec[s - n_in, post] = rng.integers(1, 16)
    sign = lambda m: (np.where(rng.random(m.shape) < 0.7, 1, -1) * (m > 0)).astype(np.int8)  # noqa: E731
    params = [
        {k: (int(c), int(rng.integers(0, 256))) for k, (c, _) in CODES.items()}
        for _ in range(n_cores)
    ]
    return QuantizedNetwork(
        masks_in=m_in,
        masks_rec=m_rec,
        sign_in=sign(m_in),
        sign_rec=sign(m_rec),
        core_of=core_of,
        parameters=params,
        dc_enable=rng.random(n) < 0.3,
    )


def assert_same(a: QuantizedNetwork, b: QuantizedNetwork) -> None:
    for f in ("masks_in", "masks_rec", "sign_in", "sign_rec", "core_of", "dc_enable"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    assert a.parameters == b.parameters


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    n_in=st.integers(0, 12),
    fan_in=st.integers(0, 20),
    n_cores=st.integers(1, 12),
    shuffle=st.booleans(),
)
def test_round_trip_is_exact(seed, n, n_in, fan_in, n_cores, shuffle) -> None:
    rng = np.random.default_rng(seed)
    core_of = rng.integers(0, n_cores, n)
    core_of = np.unique(core_of, return_inverse=True)[1]  # logical cores 0..k-1, all used
    net = random_network(rng, n, n_in, fan_in, core_of)
    place = naive_placement(net)
    if shuffle:  # any physical cores (over chips) and neurons, and board channels
        n_log = net.n_cores
        phys = rng.choice(16, n_log, replace=False)
        cores = np.stack([phys // 4, phys % 4], 1)
        neurons = np.zeros(n, np.int64)
        for k in range(n_log):
            members = np.flatnonzero(core_of == k)
            slots = rng.choice(256, members.size, replace=False)
            neurons[members] = (cores[k, 0] * 4 + cores[k, 1]) * 256 + slots
        place = Placement(cores, neurons, rng.choice(65536, n_in, replace=False))
    cfg = to_config(net, place)
    back, _ = from_config(ChipConfig.from_json(cfg.to_json()), place)
    assert_same(net, back)
    # the compiled netlist has exactly one row per synapse: no tag heard twice
    rows = build_netlist(cfg).synapses
    assert rows.size == np.count_nonzero(net.masks_in) + np.count_nonzero(net.masks_rec)


def test_round_trip_without_the_map_recovers_board_order() -> None:
    net = random_network(np.random.default_rng(5), 30, 6, 10)
    cfg = to_config(net)
    back, place = from_config(cfg)
    # naive placement keeps network order, so the map-less reverse is the identity here
    assert_same(net, back)
    np.testing.assert_array_equal(place.neurons, naive_placement(net).neurons)


def test_1024_neurons_take_exactly_4_cores_of_one_chip() -> None:
    net = random_network(np.random.default_rng(1), 1024, 16, 8)
    cfg = to_config(net)
    assert len(cfg.chips) == 1
    assert sorted(cfg.chips[0].cores) == [0, 1, 2, 3]
    assert all(len(c.neurons) == 256 for c in cfg.chips[0].cores.values())


def test_2000_neurons_span_two_chips_and_nothing_is_dropped() -> None:
    net = random_network(np.random.default_rng(2), 2000, 16, 6)
    cfg = to_config(net)
    assert len(cfg.chips) == 2
    assert sum(len(c.neurons) for ch in cfg.chips for c in ch.cores.values()) == 2000
    used = {(a, b) for a, b, _, _ in cfg.neurons()}
    assert used == {(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)}
    # cross-chip synapses exist and arrive: the netlist finds every one of them
    rows = build_netlist(cfg).synapses
    assert rows.size == np.count_nonzero(net.masks_in) + np.count_nonzero(net.masks_rec)
    src_chip = neuron_address(rows["source"][~rows["from_input"]])[0]
    dst_chip = neuron_address(rows["target"][~rows["from_input"]])[0]
    assert np.any(src_chip != dst_chip)
    # inputs reach every core that has a target (not only the last core, as Rockpool's mapper)
    assert {(r.chip, k) for r in cfg.inputs for k in range(4) if r.core[k]} == used


def test_refusals_name_the_constraint() -> None:
    rng = np.random.default_rng(3)
    net = random_network(rng, 20, 80, 0)
    net.masks_in[:65, 0] = 1
    net.sign_in[:65, 0] = 1
    with pytest.raises(ConfigError, match="fan-in of neuron 0.*at most 64 CAM"):
        to_config(net)
    big = random_network(rng, 17 * 256, 0, 0)
    with pytest.raises(ConfigError, match="17 logical cores.*at most 16"):
        to_config(big)
    crowded = random_network(rng, 10, 0, 0, core_of=np.zeros(10, np.int64))
    crowded.core_of[:] = 0
    ok = naive_placement(crowded)
    bad = Placement(ok.cores, ok.neurons + 256, ok.channels)  # neurons on the wrong core
    with pytest.raises(ConfigError, match="outside its logical core"):
        to_config(crowded, bad)


def test_too_many_tags_on_a_chip_are_refused() -> None:
    # 2100 inputs, each to one of 64 neurons' ... spread so that fan-in stays <= 64
    n, n_in = 40, 2100
    m_in = np.zeros((n_in, n), np.uint8)
    for c in range(n_in):
        m_in[c, c % n] = 1
    m_in[:, :] = m_in  # fan-in 53 per neuron
    net = QuantizedNetwork(
        m_in, np.zeros((n, n)), m_in.astype(np.int8), np.zeros((n, n)), np.zeros(n, np.int64), [{}]
    )
    with pytest.raises(ConfigError, match="tags on chip 0.*2100 sources.*at most 2048"):
        to_config(net)


def test_reverse_refuses_a_cam_entry_that_hears_two_sources() -> None:
    net = random_network(np.random.default_rng(4), 4, 3, 3)
    net.masks_in[:, 0] = [1, 2, 0]
    net.sign_in[:, 0] = [1, 1, 0]
    cfg = to_config(net)
    cfg.inputs[1].tag = cfg.inputs[0].tag  # two channels on one tag
    with pytest.raises(ConfigError, match="several sources|two CAM entries"):
        from_config(cfg)
