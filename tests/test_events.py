"""Spike events: construction, rasters, merge, slicing and validation (hil.events)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hil import events as ev
from hil.errors import EventError


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.int32, st.tuples(st.integers(1, 40), st.integers(1, 6)), elements=st.integers(0, 4))
)
def test_input_raster_round_trip(raster: np.ndarray) -> None:
    events = ev.raster_to_input_events(raster, dt=1e-3)
    ev.validate(events)
    assert events.size == raster.sum()
    back = ev.events_to_raster(events, 1e-3, raster.shape[0] * 1e-3, n_columns=raster.shape[1])
    np.testing.assert_array_equal(back, raster)


@settings(max_examples=30, deadline=None)
@given(arrays(np.int32, st.tuples(st.integers(1, 20), st.just(2048)), elements=st.integers(0, 2)))
def test_output_raster_round_trip_over_two_chips(raster: np.ndarray) -> None:
    events = ev.raster_to_output_events(raster, dt=1e-4)
    ev.validate(events, n_chips=2)
    back = ev.events_to_raster(events, 1e-4, raster.shape[0] * 1e-4, n_columns=2048)
    np.testing.assert_array_equal(back, raster)


def test_output_addresses() -> None:
    raster = np.zeros((2, 2048), np.int32)
    raster[1, 1024 + 2 * 256 + 7] = 1
    (e,) = ev.raster_to_output_events(raster, dt=1e-3)
    assert (e["t_us"], e["chip"], e["core"], e["neuron"]) == (1000, 1, 2, 7)
    assert ev.global_index(np.array([e]))[0] == 1024 + 512 + 7


def test_repeated_spikes_in_a_bin_get_distinct_microseconds() -> None:
    events = ev.raster_to_input_events(np.array([[3, 1]]), dt=1e-3)
    assert sorted(events["t_us"].tolist()) == [0, 0, 1, 2]


def test_merge_sorts_and_keeps_everything() -> None:
    a = ev.input_events([5, 10, 30], [0, 0, 0])
    b = ev.input_events([1, 10, 20], [1, 1, 1])
    m = ev.merge(a, b)
    assert m["t_us"].tolist() == [1, 5, 10, 10, 20, 30]
    assert m[m["t_us"] == 10]["channel"].tolist() == [0, 1]  # stable: a before b


def test_merge_refuses_mixed_dtypes() -> None:
    with pytest.raises(EventError, match="different dtypes"):
        ev.merge(ev.input_events([1], [0]), ev.output_events([1], [0], [0], [0]))


def test_time_slice() -> None:
    e = ev.input_events(np.arange(0, 100, 10), np.zeros(10))
    s = ev.time_slice(e, 20, 50)
    assert s["t_us"].tolist() == [20, 30, 40]
    assert ev.time_slice(e, 20, 50, rebase=True)["t_us"].tolist() == [0, 10, 20]
    assert e["t_us"][2] == 20  # the original is untouched


@pytest.mark.parametrize(
    "events,match",
    [
        (np.zeros(3), "dtype"),
        (ev.input_events([-1], [0]), ">= 0 us"),
        (np.array([(5, 0), (3, 0)], dtype=ev.INPUT_DTYPE), "must not decrease"),
        (ev.input_events([1], [-2]), "channel=-2"),
        (ev.output_events([1], [0], [4], [0]), "core=4"),
        (ev.output_events([1], [0], [0], [256]), "neuron=256"),
    ],
)
def test_validate_names_the_problem(events: np.ndarray, match: str) -> None:
    with pytest.raises(EventError, match=match):
        ev.validate(events)


def test_validate_checks_chip_count_and_channels() -> None:
    with pytest.raises(EventError, match="chip=1"):
        ev.validate(ev.output_events([1], [1], [0], [0]), n_chips=1)
    with pytest.raises(EventError, match="channel=4"):
        ev.validate(ev.input_events([1], [4]), n_channels=4)


def test_poisson_input_rate_and_seed() -> None:
    e = ev.poisson_input(50.0, 20, 2.0, seed=3)
    assert abs(e.size / (20 * 2.0) - 50.0) < 5.0
    np.testing.assert_array_equal(e, ev.poisson_input(50.0, 20, 2.0, seed=3))
    assert not np.array_equal(e, ev.poisson_input(50.0, 20, 2.0, seed=4))


def test_input_channels_stop_at_the_wire_s_u16() -> None:
    # channel 2**40 used to wrap silently in the int32 field; the wire carries 0..65535
    with pytest.raises(EventError, match="0..65535"):
        ev.input_events([0], [2**40])
    with pytest.raises(EventError, match="channel=65536; allowed 0..65535"):
        ev.validate(ev.input_events([0], [65536]))
    assert ev.validate(ev.input_events([0], [65535])).size == 1
