"""Conformance of the capabilities with methods (hil.board): `biases` (BiasWrites.set_biases) and
`counts` (CountsReadout.run_counts), for any board that advertises them. A board that does not
skips these (pytest's `requires` marker)."""

from __future__ import annotations

import numpy as np
import pytest

from hil import events as ev
from hil.board import Board, missing_interfaces
from hil.chip.config import ChipConfig
from hil.chip.example import N_INPUTS, example_config
from hil.errors import ConfigError, HilError

DURATION = 0.3
STIM = ev.poisson_input(100.0, N_INPUTS, DURATION, seed=1)
# a lower spike threshold and a weaker base weight on core 0 (both change the example network's
# output), and a bias on core 1, which no neuron of the example uses
CHANGES = {
    (0, 0, "SOIF_SPKTHR_P"): (4, 121),
    (0, 0, "SYAM_W1_P"): (3, 33),
    (0, 1, "SOIF_GAIN_N"): (2, 50),
}


def edited() -> ChipConfig:
    cfg = example_config()
    for (chip, core, name), code in CHANGES.items():
        cfg.core(chip, core).parameters[name] = code
    return cfg


def test_advertised_capabilities_come_with_their_methods(board: Board) -> None:
    assert missing_interfaces(board) == []


@pytest.mark.requires("biases")
def test_set_biases_then_a_run_equals_a_full_apply(board: Board) -> None:
    cfg = edited()
    board.apply(cfg)
    want = board.run(STIM, DURATION)
    board.apply(example_config())
    before = board.run(STIM, DURATION)
    h = board.set_biases(CHANGES)  # type: ignore[attr-defined]
    assert h == cfg.content_hash()
    got = board.run(STIM, DURATION)
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(before, want)  # the writes matter: a write that did nothing shows


@pytest.mark.requires("biases")
def test_invalid_bias_writes_change_nothing(board: Board) -> None:
    board.apply(example_config())
    want = board.run(STIM, DURATION)
    board.apply(example_config())
    for bad in (
        {(0, 0, "SOIF_DC_P"): (9, 0)},  # coarse 0..5
        {(0, 0, "SOIF_DC_P"): (2, 300)},  # fine 0..255
        {(0, 0, "NOT_A_BIAS"): (2, 3)},
        {(0, 7, "SOIF_DC_P"): (2, 3)},  # core 0..3
        {(0, 0, "SOIF_SPKTHR_P"): (4, 121), (0, 0, "SOIF_LEAK_N"): (6, 0)},  # all or none
    ):
        with pytest.raises(ConfigError):
            board.set_biases(bad)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(board.run(STIM, DURATION), want)


def binned(spikes: np.ndarray, neurons: np.ndarray, bin_us: int, duration_us: int) -> np.ndarray:
    """Spike counts per (bin, neuron), counted here one spike at a time (not by hil's helpers)."""
    n_bins = -(-duration_us // bin_us)
    col = {int(g): i for i, g in enumerate(neurons)}
    out = np.zeros((n_bins, len(neurons)), np.int64)
    for t, chip, core, neuron in zip(
        spikes["t_us"].tolist(),
        spikes["chip"].tolist(),
        spikes["core"].tolist(),
        spikes["neuron"].tolist(),
        strict=True,
    ):
        g = chip * 1024 + core * 256 + neuron
        if g in col:
            out[t // bin_us, col[g]] += 1
    return out


@pytest.mark.requires("counts")
@pytest.mark.parametrize("bin_s", [0.01, 0.03])
def test_counts_are_the_binned_spikes_of_the_same_run(board: Board, bin_s: float) -> None:
    cfg = example_config()
    board.apply(cfg)
    spikes = board.run(STIM, DURATION)
    board.apply(cfg)  # the same run again: first after apply, same stimulus
    c = board.run_counts(STIM, DURATION, bin_s=bin_s)  # type: ignore[attr-defined]
    assert isinstance(c, ev.Counts)
    want_neurons = sorted(chip * 1024 + core * 256 + n for chip, core, n, _ in cfg.neurons())
    assert c.neurons.tolist() == want_neurons
    assert (c.bin_us, c.duration_us) == (round(bin_s * 1e6), round(DURATION * 1e6))
    want = binned(spikes, c.neurons, c.bin_us, c.duration_us)
    assert c.counts.shape == want.shape and want.sum() > 50
    np.testing.assert_array_equal(c.counts, want)


@pytest.mark.requires("counts")
@pytest.mark.parametrize("bin_s", [0.0, -1e-3, float("nan")])
def test_a_bad_counts_bin_is_refused(board: Board, bin_s: float) -> None:
    board.apply(example_config())
    with pytest.raises(HilError, match="bin"):
        board.run_counts(STIM, DURATION, bin_s=bin_s)  # type: ignore[attr-defined]
