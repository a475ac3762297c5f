"""Conformance of a Board to the protocol in hil.board. Every backend must pass all of these."""

from __future__ import annotations

import numpy as np
import pytest

from hil import events as ev
from hil.board import Board, BoardInfo, Capability
from hil.chip.config import ChipConfig
from hil.chip.example import N_EXC, N_INH, N_INPUTS, example_config
from hil.errors import BoardError, ConfigError, EventError

DURATION = 0.5


@pytest.fixture
def configured(board: Board) -> Board:
    board.apply(example_config())
    return board


def stimulus(rate: float = 80.0, seed: int = 1) -> np.ndarray:
    return ev.poisson_input(rate, N_INPUTS, DURATION, seed=seed)


def test_info_is_complete(board: Board) -> None:
    info = board.info()
    assert isinstance(info, BoardInfo)
    assert info.board_id and info.kind and info.version
    assert 1 <= info.n_chips <= 4
    assert set(info.capabilities) <= {c.value for c in Capability}
    assert info.to_dict()["capabilities"] == sorted(info.capabilities)


def test_run_before_apply_is_refused(board: Board) -> None:
    with pytest.raises(BoardError, match="apply"):
        board.run(stimulus(), DURATION)


def test_apply_confirms_the_content_hash(board: Board) -> None:
    cfg = example_config()
    assert board.apply(cfg) == cfg.content_hash()


def test_invalid_config_is_refused_and_the_old_one_kept(configured: Board) -> None:
    bad = example_config()
    bad.core(0, 0).parameters["SOIF_LEAK_N"] = (6, 0)
    with pytest.raises(ConfigError, match=r"chips\[0\]\.cores\[0\]\.parameters\[SOIF_LEAK_N\]"):
        configured.apply(bad)
    out = configured.run(stimulus(), DURATION)  # still runs the example network
    assert out.size > 0


def test_run_returns_sorted_output_events_in_range(configured: Board) -> None:
    out = configured.run(stimulus(), DURATION)
    assert out.dtype == ev.OUTPUT_DTYPE
    ev.validate(out, n_chips=configured.info().n_chips)
    assert out.size == 0 or (out["t_us"][0] >= 0 and out["t_us"][-1] < DURATION * 1e6)


def test_driven_network_spikes_and_silence_stays_quiet(configured: Board) -> None:
    driven = configured.run(stimulus(rate=100.0), DURATION)
    configured.reset()
    quiet = configured.run(ev.input_events([], []), DURATION)
    idx = ev.global_index(driven)
    assert np.isin(np.arange(N_EXC), idx).sum() >= N_EXC // 2, "most driven neurons must spike"
    assert driven.size > 5 * quiet.size


def test_stronger_input_gives_more_spikes(configured: Board) -> None:
    low = configured.run(stimulus(rate=20.0), DURATION).size
    configured.reset()
    high = configured.run(stimulus(rate=150.0), DURATION).size
    assert high > low


def test_unsorted_stimulus_is_refused(configured: Board) -> None:
    stim = stimulus()[::-1].copy()
    with pytest.raises(EventError, match="must not decrease"):
        configured.run(stim, DURATION)


def test_unrouted_channel_is_refused(configured: Board) -> None:
    stim = ev.input_events([1000], [N_INPUTS + 5])
    with pytest.raises(BoardError, match="does not route"):
        configured.run(stim, DURATION)


@pytest.mark.parametrize("duration", [0.0, -1.0, float("nan")])
def test_bad_duration_is_refused(configured: Board, duration: float) -> None:
    with pytest.raises(BoardError, match="duration_s"):
        configured.run(ev.input_events([], []), duration)


def test_stimulus_beyond_the_run_is_refused(configured: Board) -> None:
    with pytest.raises(BoardError, match="beyond the run"):
        configured.run(ev.input_events([int(DURATION * 1e6)], [0]), DURATION)


def test_only_configured_neurons_are_driven(configured: Board) -> None:
    out = configured.run(stimulus(rate=100.0), DURATION)
    idx = ev.global_index(out)
    n_net = N_EXC + N_INH
    # unconfigured neurons may fire only if the silicon has hot neurons; never in bulk
    assert np.isin(idx, np.arange(n_net)).mean() > 0.9


def test_empty_config_gives_no_network_activity(board: Board) -> None:
    cfg = ChipConfig()
    assert board.apply(cfg) == cfg.content_hash()
    out = board.run(ev.input_events([], []), DURATION)
    assert out.size < 50  # at most the odd hot neuron of real silicon


def test_close_is_idempotent_and_final(board: Board) -> None:
    board.close()
    board.close()
    with pytest.raises(BoardError):
        board.apply(example_config())
