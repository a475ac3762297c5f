"""A trained model's accuracy on a board: deploy it, run the task's test stimuli, read the outputs
through the deployment map (issue 10 section 5, `hil evaluate --board URL`).

Each test sample is one board run: the board is reset (every neuron and synapse at rest, the config
stays), the sample's (T, channels) count raster becomes input events (a count k in a bin gives k
events, `hil.events.raster_to_input_events`) on the board channels the map gives the task's
channels, the board runs for T * dt, and each class's count is the number of spikes of the board
neurons the map assigns to it. A task channel the deployment does not route (its synapses all
quantized to zero, so it drives nothing) gets no events: the board refuses events on unrouted
channels, and they would change nothing. The predicted class and the accuracy are `hil.tasks.accuracy`'s, the
function the float simulator's accuracy uses too.
"""

from __future__ import annotations

import numpy as np

from hil import progress
from hil.board import Board
from hil.deploy.deploy import Deployment
from hil.events import global_index, raster_to_input_events
from hil.tasks import Split, accuracy


def board_counts(board: Board, dep: Deployment, split: Split, dt: float) -> np.ndarray:
    """(samples, classes) spike counts of each class's output neurons on `board`, one board run of
    T * dt seconds per sample (`dt` [s]: the task's bin)."""
    board.apply(dep.config)
    out_map = dep.output_map()
    lut = np.full(max(out_map) + 1, -1, dtype=np.int64)
    for neuron, cls in out_map.items():
        lut[neuron] = cls
    n_classes = len(dep.network.outputs)
    duration_s = split.x.shape[1] * dt
    channels = np.asarray(dep.placement.channels, dtype=np.int64)
    routed = np.isin(channels, [r.channel for r in dep.config.inputs])
    counts = np.zeros((len(split), n_classes), dtype=np.int64)
    for i in progress.bar(range(len(split)), desc="evaluate on the board"):
        board.reset()
        stim = raster_to_input_events(split.x[i], dt)
        stim = stim[routed[stim["channel"]]]
        stim["channel"] = channels[stim["channel"]]
        idx = global_index(board.run(stim, duration_s))
        cls = lut[idx[idx < lut.size]]
        counts[i] = np.bincount(cls[cls >= 0], minlength=n_classes)
    return counts


def board_accuracy(board: Board, dep: Deployment, split: Split, dt: float) -> float:
    """Fraction of `split`'s samples the deployment classifies correctly on `board`."""
    return float(accuracy(board_counts(board, dep, split, dt), split.y))
