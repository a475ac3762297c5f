"""Raster and rate plots (hil.plot): what is drawn is the spikes, matplotlib loads only on use."""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import numpy as np
import pytest

from hil import events as ev
from hil import plot
from hil.errors import EventError

matplotlib.use("Agg")


def spikes() -> np.ndarray:
    rng = np.random.default_rng(0)
    n = 300
    return ev.output_events(
        np.sort(rng.integers(0, 500_000, n)),
        rng.integers(0, 2, n),
        rng.integers(0, 4, n),
        rng.integers(0, 40, n),
    )


def test_raster_draws_one_mark_per_spike_at_its_time_and_neuron() -> None:
    s = spikes()
    ax = plot.raster(s)
    x, y = ax.lines[0].get_data()
    np.testing.assert_allclose(x, s["t_us"] / 1e6, rtol=1e-12)
    np.testing.assert_array_equal(
        y, s["chip"].astype(int) * 1024 + s["core"].astype(int) * 256 + s["neuron"]
    )


def test_rates_are_counts_over_duration() -> None:
    s = spikes()
    fig = plot.raster_and_rates(s, duration_s=0.5)
    bars = fig.axes[1].patches
    index = s["chip"].astype(int) * 1024 + s["core"].astype(int) * 256 + s["neuron"]
    want = {int(i): np.sum(index == i) / 0.5 for i in np.unique(index)}
    got = {int(round(b.get_y() + b.get_height() / 2)): b.get_width() for b in bars}
    assert got == pytest.approx(want)


def test_bad_input_is_an_event_error() -> None:
    with pytest.raises(EventError, match="output spikes"):
        plot.raster(np.zeros(3))
    with pytest.raises(EventError, match="duration_s"):
        plot.rates(spikes(), duration_s=float("nan"))


def test_importing_hil_plot_does_not_import_matplotlib() -> None:
    code = "import sys, hil.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
