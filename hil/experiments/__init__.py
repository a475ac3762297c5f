"""hil.experiments: characterization through spikes alone (docs/characterization.md).

Each experiment is a design (biases, latches, routes, stimuli; every neuron of every core in
parallel), a run (`hil.measure` Recordings, one per step, `set_biases` between steps) and an
analysis (a tidy pandas DataFrame, one row per neuron, with provenance).
"""

from hil.experiments.adaptation import Adaptation
from hil.experiments.base import (
    Design,
    Experiment,
    ExperimentResult,
    Step,
    recording_hash,
    run_experiment,
)
from hil.experiments.fi import FI, HotDead, Refractory
from hil.experiments.noise import Noise
from hil.experiments.suite import characterize, default_experiments
from hil.experiments.synapse import SlotScan, SynapseType
from hil.experiments.syntau import SynTau

__all__ = [
    "Adaptation",
    "FI",
    "Design",
    "Experiment",
    "ExperimentResult",
    "HotDead",
    "Noise",
    "Refractory",
    "SlotScan",
    "Step",
    "SynTau",
    "SynapseType",
    "characterize",
    "default_experiments",
    "recording_hash",
    "run_experiment",
]
