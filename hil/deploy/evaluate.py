"""A trained model's accuracy on a board: deploy it, run the task's test stimuli, read the outputs
through the deployment map (issue 10 section 5, `hil evaluate --board URL`).

Each test sample is one board run: the board is reset (every neuron and synapse at rest, the config
stays), the sample's (T, channels) count raster becomes input events (a count k in a bin gives k
events, `hil.events.raster_to_input_events`) on the board channels the map gives the task's
channels, the board runs for T * dt, and each network neuron's count is the number of spikes of
the board neuron the map places it on. A class's score is its output neurons' counts decoded as
the model says (`decode`: their sum, or the sum of log(1 + count); hil.train.model.class_scores,
which the simulator's accuracy uses too). A task channel the deployment does not route (its
synapses all quantized to zero, so it drives nothing) gets no events: the board refuses events on
unrouted channels, and they would change nothing. The predicted class and the accuracy are
`hil.tasks.accuracy`'s.
"""

from __future__ import annotations

import numpy as np

from hil import progress
from hil.board import Board
from hil.deploy.deploy import Deployment
from hil.events import global_index, raster_to_input_events
from hil.tasks import Split, accuracy
from hil.train.model import class_scores


def board_neuron_counts(board: Board, dep: Deployment, split: Split, dt: float) -> np.ndarray:
    """(samples, N) spike counts of every network neuron on `board` (the board neuron the map
    places it on), one board run of T * dt seconds per sample (`dt` [s]: the task's bin)."""
    board.apply(dep.config)
    neurons = np.asarray(dep.placement.neurons, dtype=np.int64)
    lut = np.full(int(neurons.max(initial=-1)) + 1, -1, dtype=np.int64)
    lut[neurons] = np.arange(neurons.size)
    duration_s = split.x.shape[1] * dt
    channels = np.asarray(dep.placement.channels, dtype=np.int64)
    routed = np.isin(channels, [r.channel for r in dep.config.inputs])
    counts = np.zeros((len(split), neurons.size), dtype=np.int64)
    for i in progress.bar(range(len(split)), desc="evaluate on the board"):
        board.reset()
        stim = raster_to_input_events(split.x[i], dt)
        stim = stim[routed[stim["channel"]]]
        stim["channel"] = channels[stim["channel"]]
        idx = global_index(board.run(stim, duration_s))
        net = lut[idx[idx < lut.size]]
        counts[i] = np.bincount(net[net >= 0], minlength=neurons.size)
    return counts


def board_accuracy(board: Board, dep: Deployment, split: Split, dt: float) -> float:
    """Fraction of `split`'s samples the deployment classifies correctly on `board`: the output
    neurons' counts (board_neuron_counts) decoded as the model says
    (hil.train.model.class_scores)."""
    counts = board_neuron_counts(board, dep, split, dt)
    scores = class_scores(counts, dep.network.outputs, dep.network.decode)
    return float(accuracy(scores, split.y))
