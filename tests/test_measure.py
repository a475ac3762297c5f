"""hil.measure: Recordings with provenance from any board, tidy frames, lossless Parquet + JSON."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hil import __version__
from hil import events as ev
from hil.board import Board, BoardInfo, open_board
from hil.chip.config import ChipConfig
from hil.chip.example import N_INPUTS, example_config
from hil.chip.geometry import global_neuron
from hil.emulator.engine import SiliconEngine
from hil.emulator.silicon import Silicon
from hil.errors import BoardError, ConfigError
from hil.measure import PROVENANCE_KEYS, Recording, record
from hil.measure import recording as recording_module

DURATION = 0.3


@pytest.fixture(params=["sim", "engine"])
def board(request: pytest.FixtureRequest) -> Iterator[Board]:
    b = (
        open_board("sim://?seed=4")
        if request.param == "sim"
        else SiliconEngine(Silicon.from_seed(2))
    )
    with b:
        yield b


def stim(seed: int = 1) -> np.ndarray:
    return ev.poisson_input(80.0, N_INPUTS, DURATION, seed=seed)


def test_spikes_recording_names_where_it_came_from(board: Board) -> None:
    cfg, s = example_config(), stim()
    rec = record(board, s, DURATION, config=cfg, stimulus_seed=1)
    p = rec.provenance
    assert set(PROVENANCE_KEYS) <= set(p)
    info = board.info()
    assert p["config_hash"] == cfg.content_hash() and p["board_id"] == info.board_id
    assert p["board_kind"] == info.kind and p["board_url"] == board.url
    assert p["stimulus_hash"] == hashlib.sha256(s.tobytes()).hexdigest()
    assert p["stimulus_seed"] == 1 and p["hil_version"] == __version__ and p["host"]
    assert p["utc"].endswith("+00:00") and p["link_lost"] is None  # no link in process
    if info.kind == "emulator":  # its seeds draw the hidden truth: not reported
        assert p["silicon_id"] == "emu-seed-2" and p["seed"] is None
    else:
        assert p["silicon_id"] is None and p["seed"] == 4
    assert rec.readout == "spikes" and rec.resolution_us == 1 and rec.events is not None
    assert rec.events.size > 50
    frame = rec.to_frame()
    assert list(frame.columns[:4]) == ["chip", "core", "neuron", "t_us"]
    assert set(PROVENANCE_KEYS) | {"readout", "resolution_us"} <= set(frame.columns)
    assert len(frame) == rec.events.size and (frame["config_hash"] == cfg.content_hash()).all()
    assert np.array_equal(frame["t_us"].to_numpy(), rec.events["t_us"])
    set_neurons = [global_neuron(c, k, n) for c, k, n, _ in cfg.neurons()]
    rates = rec.rates()
    assert len(rates) == len(set_neurons)  # silent neurons are rows too
    assert rates["count"].sum() == rec.events.size
    assert rates["rate_hz"].to_numpy() == pytest.approx(rates["count"].to_numpy() / DURATION)
    # without config= the board's applied config is named
    assert record(board, s, DURATION).provenance["config_hash"] == cfg.content_hash()


def test_counts_recording_holds_counts_with_their_bin(board: Board) -> None:
    cfg = example_config()
    rec = record(board, stim(), DURATION, "counts", bin_s=0.02, config=cfg)
    assert rec.readout == "counts" and rec.resolution_us == 20_000 and rec.events is None
    assert rec.counts is not None and rec.counts.counts.shape == (15, len(rec.neurons))
    frame = rec.to_frame()
    assert list(frame.columns[:5]) == ["chip", "core", "neuron", "bin", "count"]
    assert len(frame) == 15 * len(rec.neurons) and frame["count"].sum() == rec.counts.counts.sum()
    assert (frame["readout"] == "counts").all() and (frame["resolution_us"] == 20_000).all()
    assert rec.rates()["count"].sum() == rec.counts.counts.sum() > 50


def test_recording_over_the_wire_carries_the_link_report() -> None:
    with open_board("emu://?seed=3") as b:
        rec = record(b, stim(), DURATION, config=example_config())
    p = rec.provenance
    assert p["link_lost"] == 0 and p["link_restarted"] is False
    assert isinstance(p["link_retransmits"], int) and p["link_readout"] == "spikes"
    assert p["silicon_id"] == "emu-seed-3" and p["board_url"] == "emu://?seed=3"


@dataclass
class _Report:
    readout: str
    bin_us: int

    def to_dict(self) -> dict:
        return {"readout": self.readout, "bin_us": self.bin_us, "lost": 0, "retransmits": 2}


class _BinningBoard(Board):
    """A board whose run answers with its counts readout (as SerialBoard does on a slow line):
    spike times are bin starts."""

    url = "test://binning"

    def __init__(self) -> None:
        self.last_run: _Report | None = None

    def info(self) -> BoardInfo:
        return BoardInfo("binner", "test", "0", 1, frozenset({"spikes"}))

    def apply(self, config: ChipConfig) -> str:
        return config.content_hash()

    def run(self, stimulus: np.ndarray, duration_s: float) -> np.ndarray:
        self.last_run = _Report("counts", 1000)
        return ev.output_events([0, 1, 5000, 5001, 5002], [0] * 5, [0] * 5, [3, 3, 3, 3, 7])

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_board_that_binned_gives_a_counts_recording_not_coarse_spikes() -> None:
    cfg = example_config()
    rec = record(_BinningBoard(), stim(), 0.01, config=cfg)
    assert rec.readout == "counts" and rec.resolution_us == 1000 and rec.events is None
    assert rec.counts is not None and rec.counts.counts.sum() == 5
    assert rec.counts.counts[5, list(rec.neurons).index(3)] == 2
    assert rec.provenance["link_retransmits"] == 2 and rec.provenance["link_readout"] == "counts"


def test_record_refuses_what_it_cannot_record_honestly(board: Board) -> None:
    with pytest.raises(BoardError, match="config="):
        record(board, stim(), DURATION)  # nothing applied: no config to name
    board.apply(example_config())
    with pytest.raises(ConfigError, match="readout"):
        record(board, stim(), DURATION, readout="raster")
    with pytest.raises(ConfigError, match="bin_s"):
        record(board, stim(), DURATION, bin_s=1e-3)
    from hil.errors import CapabilityError

    with pytest.raises(CapabilityError, match="no counts readout"):
        record(_BinningBoard(), stim(), DURATION, "counts", config=example_config())


# ---- files ----------------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**62), 2**62),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
provenances = st.dictionaries(
    st.text(min_size=1, max_size=12).filter(
        lambda k: (
            k not in ("chip", "core", "neuron", "t_us", "bin", "count", "readout")
            and k != "resolution_us"
        )
    ),
    scalars,
    max_size=6,
)


@st.composite
def recordings(draw: st.DrawFn) -> Recording:
    duration_us = draw(st.integers(1, 50_000))
    neurons = np.array(
        sorted(draw(st.sets(st.integers(0, 4 * 1024 - 1), min_size=1, max_size=12))), np.int64
    )
    prov = draw(provenances)
    if draw(st.booleans()):
        n = draw(st.integers(0, 40))
        t = np.sort(
            np.array(
                draw(st.lists(st.integers(0, duration_us - 1), min_size=n, max_size=n)), np.int64
            )
        )
        g = neurons[
            np.array(
                draw(st.lists(st.integers(0, neurons.size - 1), min_size=n, max_size=n)), np.int64
            )
        ]
        return Recording("spikes", duration_us, 1, neurons, prov, events=ev.output_events_at(t, g))
    bin_us = draw(st.integers(1, duration_us))
    n_bins = -(-duration_us // bin_us)
    if n_bins * neurons.size > 2000:
        bin_us, n_bins = duration_us, 1
    values = draw(
        st.lists(
            st.integers(0, 2**31 - 1),
            min_size=n_bins * neurons.size,
            max_size=n_bins * neurons.size,
        )
    )
    c = ev.Counts(
        np.array(values, np.int32).reshape(n_bins, neurons.size), neurons, bin_us, duration_us
    )
    return Recording("counts", duration_us, bin_us, neurons, prov, counts=c)


def same(a: Recording, b: Recording) -> bool:
    fields_equal = (a.readout, a.duration_us, a.resolution_us) == (
        b.readout,
        b.duration_us,
        b.resolution_us,
    )
    prov = json.dumps(a.provenance, sort_keys=True) == json.dumps(b.provenance, sort_keys=True)
    types = [type(v) for v in a.provenance.values()] == [
        type(b.provenance[k]) for k in a.provenance
    ]
    data = (
        a.events.dtype == b.events.dtype and np.array_equal(a.events, b.events)
        if a.events is not None and b.events is not None
        else a.counts is not None
        and b.counts is not None
        and a.counts.counts.dtype == b.counts.counts.dtype
        and np.array_equal(a.counts.counts, b.counts.counts)
        and (a.counts.bin_us, a.counts.duration_us) == (b.counts.bin_us, b.counts.duration_us)
    )
    return fields_equal and prov and types and data and np.array_equal(a.neurons, b.neurons)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rec=recordings())
def test_save_and_load_round_trip_losslessly(rec: Recording, tmp_path: Path) -> None:
    path = tmp_path / "rec"
    rec.save(path)
    back = Recording.load(path)
    assert same(rec, back)
    assert sorted(p.name for p in path.iterdir()) == ["recording.json", "table.parquet"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_save_replaces_an_earlier_recording_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    neurons = np.array([1, 2], np.int64)
    first = Recording("spikes", 10, 1, neurons, {"run": 1}, events=ev.output_events_at([3], [2]))
    second = Recording("spikes", 10, 1, neurons, {"run": 2}, events=ev.output_events_at([4], [1]))
    path = first.save(tmp_path / "r")
    second.save(path)
    assert Recording.load(path).provenance == {"run": 2}

    def broken(rec: Recording) -> bytes:
        raise OSError("disk full")

    monkeypatch.setattr(recording_module, "_parquet_bytes", broken)
    with pytest.raises(OSError, match="disk full"):
        first.save(path)
    assert same(Recording.load(path), second)  # the earlier one is intact
    assert [p.name for p in tmp_path.iterdir()] == ["r"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="earlier recording folder"):
        second.save(tmp_path / "file")


def test_load_turns_every_problem_into_a_config_error(tmp_path: Path) -> None:
    rec = Recording(
        "spikes", 10, 1, np.array([5], np.int64), {}, events=ev.output_events_at([1], [5])
    )
    path = rec.save(tmp_path / "r")
    with pytest.raises(ConfigError, match="written by Recording.save"):
        Recording.load(tmp_path / "missing")
    head = json.loads((path / "recording.json").read_text())
    for change, match in (
        ({"schema": "other/1"}, "schema"),
        ({"readout": "raster"}, "readout"),
        ({"duration_us": -1}, "duration_us"),
        ({"neurons": ["a"]}, "neurons"),
        ({"provenance": {"x": [1]}}, r"provenance\[x\]"),
        ({"neurons": [6]}, "events"),
    ):
        (path / "recording.json").write_text(json.dumps({**head, **change}))
        with pytest.raises(ConfigError, match=match):
            Recording.load(path)
    (path / "recording.json").write_text("{not json")
    with pytest.raises(ConfigError, match="valid JSON"):
        Recording.load(path)
