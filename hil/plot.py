"""Raster and rate plots of a board's output spikes, for notebooks (matplotlib, imported on first use).

    import hil.plot
    spikes = board.run(stimulus, 1.0)
    fig = hil.plot.raster_and_rates(spikes, duration_s=1.0)     # two panels, shared neuron axis
    ax = hil.plot.raster(spikes)                                # or one panel into your own axes

Neurons are shown by their board-wide index (chip * 1024 + core * 256 + neuron), time in seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hil import events as ev
from hil.errors import EventError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _spikes(events: np.ndarray) -> np.ndarray:
    if not isinstance(events, np.ndarray) or events.dtype != ev.OUTPUT_DTYPE:
        raise EventError(
            f"plots take output spikes of dtype {ev.OUTPUT_DTYPE}, "
            f"got {getattr(events, 'dtype', type(events).__name__)}"
        )
    return events


def rates_hz(events: np.ndarray, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(neurons, rates): the board-wide indices that spiked, sorted, and their mean rates [Hz]."""
    if not (np.isfinite(duration_s) and duration_s > 0):
        raise EventError(f"duration_s={duration_s!r}; allowed: a finite number of seconds > 0")
    neurons, counts = np.unique(ev.global_index(_spikes(events)), return_counts=True)
    return neurons, counts / duration_s


def raster(events: np.ndarray, ax: Axes | None = None, markersize: float = 2.0) -> Axes:
    """Spike raster: one dot per spike at (t [s], board-wide neuron index). Returns the axes."""
    import matplotlib.pyplot as plt

    spikes = _spikes(events)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    ax.plot(
        spikes["t_us"] * 1e-6,
        ev.global_index(spikes),
        linestyle="none",
        marker="|",
        markersize=markersize * 3,
        color="k",
    )
    ax.set_xlabel("time [s]")
    ax.set_ylabel("neuron (board-wide index)")
    return ax


def rates(events: np.ndarray, duration_s: float, ax: Axes | None = None) -> Axes:
    """Mean rate [Hz] per neuron that spiked, as horizontal bars at its board-wide index."""
    import matplotlib.pyplot as plt

    neurons, hz = rates_hz(events, duration_s)
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 4))
    ax.barh(neurons, hz, height=0.8, color="C0")
    ax.set_xlabel("rate [Hz]")
    ax.set_ylabel("neuron (board-wide index)")
    return ax


def raster_and_rates(events: np.ndarray, duration_s: float) -> Figure:
    """A figure with the raster (left) and the per-neuron rates (right) on one neuron axis."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(
        1, 2, figsize=(10, 4), sharey=True, gridspec_kw={"width_ratios": [4, 1]}
    )
    raster(events, ax=left)
    rates(events, duration_s, ax=right)
    right.set_ylabel("")
    left.set_xlim(0, duration_s)
    fig.tight_layout()
    return fig
