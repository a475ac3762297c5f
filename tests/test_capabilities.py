"""Capabilities are interfaces: sim:// and the emulator's engine implement what they advertise
(hil.board.CountsReadout, BiasWrites), and a bias write equals a full apply of the same config."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import pytest
from configs import configs
from hypothesis import given, settings
from hypothesis import strategies as st

from hil import events as ev
from hil.board import INTERFACES, BiasEditor, Board, BoardInfo, missing_interfaces, open_board
from hil.chip.biasgen import PARAMETERS
from hil.chip.config import ChipConfig
from hil.chip.example import N_INPUTS, example_config
from hil.chip.geometry import global_neuron
from hil.emulator.engine import SiliconEngine
from hil.emulator.silicon import Silicon
from hil.errors import BoardError, ConfigError

DURATION = 0.4
BACKENDS = ["sim", "engine"]


def make(kind: str) -> Board:
    if kind == "sim":
        return open_board("sim://?dt=5e-4")
    return SiliconEngine(Silicon.from_seed(3))  # mismatch and membrane noise on


@pytest.fixture(params=BACKENDS)
def board(request: pytest.FixtureRequest) -> Iterator[Board]:
    with make(request.param) as b:
        yield b


def stimulus(seed: int = 2) -> np.ndarray:
    return ev.poisson_input(80.0, N_INPUTS, DURATION, seed=seed)


def test_every_advertised_capability_implements_its_interface(board: Board) -> None:
    caps = board.info().capabilities
    assert {"counts", "biases"} <= caps
    assert missing_interfaces(board) == []
    for cap, iface in INTERFACES.items():
        assert (cap.value in caps) == isinstance(board, iface)


def test_missing_interfaces_names_a_capability_advertised_without_methods() -> None:
    class Boastful(Board):
        """Advertises counts and biases with none of their methods."""

        def info(self) -> BoardInfo:
            return BoardInfo("b", "test", "0", 1, frozenset({"spikes", "counts", "biases"}))

        def apply(self, config: ChipConfig) -> str:
            return config.content_hash()

        def run(self, stimulus: np.ndarray, duration_s: float) -> np.ndarray:
            return ev.output_events([], [], [], [])

        def reset(self) -> None:
            pass

        def close(self) -> None:
            pass

    assert missing_interfaces(Boastful()) == ["biases", "counts"]


def with_biases(cfg: ChipConfig, biases: dict) -> ChipConfig:
    """The config a full apply would get: a deep copy with the biases written by hand."""
    out = copy.deepcopy(cfg)
    for (chip, core, name), code in biases.items():
        out.core(chip, core).parameters[name] = code
    return out.validate()


BIASES = {  # nominal: SOIF_LEAK_N (0, 29), SYAM_W0_P (3, 34), SYAM_W1_P (3, 67)
    (0, 0, "SOIF_LEAK_N"): (0, 15),  # half the leak
    (0, 0, "SYAM_W0_P"): (3, 120),
    (0, 0, "SYAM_W1_P"): (3, 20),
    (0, 2, "SOIF_DC_P"): (2, 30),  # a core the config does not set yet
}


@pytest.mark.parametrize("kind", BACKENDS)
def test_set_biases_equals_a_full_apply_of_the_same_config(kind: str) -> None:
    cfg, stim = example_config(), stimulus()
    full = with_biases(cfg, BIASES)
    with make(kind) as a, make(kind) as b:
        a.apply(cfg)
        digest = a.set_biases(BIASES)  # type: ignore[attr-defined]
        assert digest == full.content_hash() != cfg.content_hash()
        assert b.apply(full) == digest
        out_a, out_b = a.run(stim, DURATION), b.run(stim, DURATION)
    assert out_a.size > 50 and np.array_equal(out_a, out_b)
    with make(kind) as c:  # and the change shows
        c.apply(cfg)
        assert abs(c.run(stim, DURATION).size - out_a.size) > 0.1 * out_a.size


def test_bad_bias_writes_raise_and_change_nothing(board: Board) -> None:
    cfg, stim = example_config(), stimulus()
    h = board.apply(cfg)
    before = board.run(stim, DURATION)
    bad = [
        ({(0, 0, "SOIF_BOGUS_N"): (1, 1)}, r"parameters\[SOIF_BOGUS_N\].*known bias name"),
        ({(1, 0, "SOIF_LEAK_N"): (1, 1)}, r"chips\[1\].*chip 0\.\.0"),
        ({(0, 4, "SOIF_LEAK_N"): (1, 1)}, r"core 0\.\.3"),
        ({(0, 0, "SOIF_LEAK_N"): (6, 1)}, r"coarse_value: 6.*0\.\.5"),
        ({(0, 0, "SOIF_LEAK_N"): (1, 256)}, r"fine_value: 256.*0\.\.255"),
        ({(0, 0, "SOIF_LEAK_N"): (1, True)}, r"fine_value"),
        ({(0, "SOIF_LEAK_N"): (1, 1)}, r"keys \(chip, core"),
        ({(0, 0, "SOIF_LEAK_N"): 7}, r"\(coarse, fine\)"),
        # one good write and one bad: neither is applied
        ({(0, 0, "SOIF_LEAK_N"): (5, 255), (0, 0, "SOIF_GAIN_N"): (9, 0)}, "coarse_value"),
    ]
    for biases, match in bad:
        with pytest.raises(ConfigError, match=match):
            board.set_biases(biases)  # type: ignore[attr-defined]
    board.reset()
    assert board.apply(cfg) == h
    after = board.run(stim, DURATION)
    if board.info().kind == "simulator":  # the engine draws fresh noise per run
        assert np.array_equal(before, after)
    assert board.set_biases({}) == h  # type: ignore[attr-defined]


def test_set_biases_before_apply_is_refused(board: Board) -> None:
    with pytest.raises(BoardError, match="apply"):
        board.set_biases({(0, 0, "SOIF_LEAK_N"): (1, 1)})  # type: ignore[attr-defined]


@settings(max_examples=40, deadline=None)
@given(
    cfg=configs(),
    first=st.lists(
        st.tuples(
            st.integers(0, 1),
            st.integers(0, 3),
            st.sampled_from(sorted(PARAMETERS)),
            st.integers(0, 5),
            st.integers(0, 255),
        ),
        max_size=3,
    ),
    writes=st.lists(
        st.tuples(
            st.integers(0, 1),
            st.integers(0, 3),
            st.sampled_from(sorted(PARAMETERS)),
            st.integers(0, 5),
            st.integers(0, 255),
        ),
        max_size=6,
    ),
)
def test_bias_editor_hash_is_the_content_hash(cfg: ChipConfig, first: list, writes: list) -> None:
    """Two writes in a row (the second may touch cores the first did not): each hash is the
    resulting config's content hash."""
    editor, want = BiasEditor(cfg), cfg
    for batch in (first, writes):
        biases = {(c, k, n): (co, f) for c, k, n, co, f in batch if c < len(cfg.chips)}
        new, digest = editor.set(biases)
        want = with_biases(want, biases)
        assert digest == new.content_hash() == want.content_hash()
        assert new.to_dict() == want.to_dict()


def test_run_counts_bins_the_spikes_of_the_set_neurons(board: Board) -> None:
    cfg, stim = example_config(), stimulus()
    board.apply(cfg)
    counts = board.run_counts(stim, DURATION, bin_s=0.03)  # type: ignore[attr-defined]
    board.reset()
    spikes = board.run(stim, DURATION)
    neurons = [global_neuron(c, k, n) for c, k, n, _ in cfg.neurons()]
    assert counts.bin_us == 30_000 and counts.duration_us == 400_000
    assert counts.counts.shape == (14, len(neurons)) and list(counts.neurons) == neurons
    if board.info().kind == "simulator":  # deterministic: the same run, binned independently
        raster = ev.events_to_raster(spikes, 0.01, 0.42, n_columns=1024)[:, neurons]
        want = np.add.reduceat(raster, np.arange(0, 42, 3), axis=0)
        assert np.array_equal(counts.counts, want) and counts.counts.sum() > 50
    else:  # fresh noise per run: the same statistics
        assert abs(counts.counts.sum() / spikes.size - 1) < 0.1


@pytest.mark.parametrize("bin_s", [0.0, -1e-3, float("nan"), float("inf"), 1.5e-6, 1.0, True])
def test_run_counts_refuses_bad_bins(board: Board, bin_s: float) -> None:
    board.apply(example_config())
    with pytest.raises(BoardError, match=r"bin_s=.*whole number of microseconds"):
        board.run_counts(stimulus(), DURATION, bin_s=bin_s)  # type: ignore[attr-defined]
