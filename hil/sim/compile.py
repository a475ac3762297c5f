"""ChipConfig -> simulator records: what a board would run, as per-neuron currents and dense
weight currents in amperes.

What a config means (biases through the bias generator with nominal defaults, weights as the sum
of the target core's base weights selected by each CAM mask, routing across cores and chips,
latches, which neurons exist) is hil.chip.netlist's, which the emulator's engine compiles through
too; this module turns that netlist into NeuronParams and Weights. Only the neurons the config
sets are simulated (a neuron it does not set has no synapses and no DC and stays silent);
`all_neurons=True` simulates every neuron of every chip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from hil.chip.config import ChipConfig
from hil.chip.geometry import global_neuron
from hil.chip.netlist import Netlist, build_netlist
from hil.chip.netlist import core_currents as core_currents  # re-exported (hil.sim API)
from hil.chip.params import HighLevel, Physics
from hil.sim.records import DTYPE, NOMINAL, PHYSICS, NeuronParams, Weights


@dataclass(frozen=True)
class CompiledConfig:
    """A config as the simulator runs it.

    params: (instances, N) currents; weights: w_in (1, 4, channels, N), w_rec (1, 4, N, N) [A];
    neurons: (N,) board-wide index (hil.chip.geometry.global_neuron) of each simulated neuron;
    channels: (channels,) the input channel number of each w_in row; netlist: what it came from.
    """

    params: NeuronParams
    weights: Weights
    neurons: np.ndarray
    channels: np.ndarray
    n_chips: int
    config_hash: str
    netlist: Netlist | None = None

    def column(self, chip: int, core: int, neuron: int) -> int:
        """Simulation column of a neuron; KeyError-free: -1 when it is not simulated."""
        g = global_neuron(chip, core, neuron)
        i = int(np.searchsorted(self.neurons, g))
        return i if i < len(self.neurons) and self.neurons[i] == g else -1


def compile_config(
    config: ChipConfig,
    instances: int = 1,
    physics: Physics = PHYSICS,
    nominal: HighLevel = NOMINAL,
    all_neurons: bool = False,
    currents: Mapping[str, np.ndarray] | None = None,
    weight_factor: np.ndarray | None = None,
) -> CompiledConfig:
    """Validate `config` (ConfigError on any violation) and compile it to simulator records
    through hil.chip.netlist.build_netlist.

    currents: per-neuron effective currents by simulation name over the board-wide index (a twin:
    e.g. a silicon's truth), None for the codes through the bias generator; weight_factor:
    (chips, 4, 256, 64) factor of each CAM slot's weight, None for 1.
    """
    net = build_netlist(config, currents, all_neurons=all_neurons, physics=physics, nominal=nominal)
    return compile_netlist(net, config.content_hash(), instances, physics, weight_factor)


def compile_netlist(
    net: Netlist,
    config_hash: str,
    instances: int = 1,
    physics: Physics = PHYSICS,
    weight_factor: np.ndarray | None = None,
) -> CompiledConfig:
    """A netlist (hil.chip.netlist) as simulator records: NeuronParams from its currents, dense
    Weights from its synapse rows."""
    n = net.neurons.size
    params = NeuronParams.from_currents(
        {e: v[None, :] for e, v in net.currents.items()},
        n,
        instances=1,
        physics=physics,
        dc_enable=net.dc_enable[None, :].astype(np.float64),
        alive=net.alive[None, :].astype(np.float64),
    ).expand(instances)

    s = net.synapses
    w = net.weights(weight_factor)
    post = net.columns(s["target"])
    inp = s["from_input"]
    w_in = np.zeros((4, net.channels.size, n))
    w_rec = np.zeros((4, n, n))
    rows = np.searchsorted(net.channels, s["source"][inp])
    np.add.at(w_in, (s["type"][inp], rows, post[inp]), w[inp])
    rec = ~inp
    np.add.at(w_rec, (s["type"][rec], net.columns(s["source"][rec]), post[rec]), w[rec])
    weights = Weights(
        torch.as_tensor(w_in, dtype=DTYPE).unsqueeze(0),
        torch.as_tensor(w_rec, dtype=DTYPE).unsqueeze(0),
    )
    return CompiledConfig(params, weights, net.neurons, net.channels, net.n_chips, config_hash, net)
