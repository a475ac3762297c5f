"""A small, valid example network on one chip: the config `hil config example` prints and the demo
runs. 16 input channels drive 24 excitatory neurons on core 0 (AMPA); 8 inhibitory neurons on the
same core feed back onto them (GABA). Biases are the nominal ones (`hil.chip.params.HighLevel`).
"""

from __future__ import annotations

import numpy as np

from hil.chip.config import ChipConfig, Destination, InputRoute, Neuron, Synapse, mask_bits
from hil.chip.geometry import Dendrite
from hil.chip.params import HighLevel, core_parameters

N_INPUTS = 16
N_EXC = 24
N_INH = 8
EXC_TAG0 = 64  # tags of the excitatory neurons' spikes
INH_TAG0 = 128  # tags of the inhibitory neurons' spikes


def example_config(seed: int = 0) -> ChipConfig:
    """The example network; deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    cfg = ChipConfig(
        inputs=[
            InputRoute(channel=i, chip=0, tag=i, core=(True, False, False, False))
            for i in range(N_INPUTS)
        ]
    )
    core = cfg.core(0, 0)
    core.parameters = core_parameters(HighLevel().currents())
    for n in range(N_EXC):
        sources = rng.choice(N_INPUTS, size=8, replace=False)
        syn = [
            Synapse(tag=int(t), dendrite=Dendrite.AMPA, weight=mask_bits(int(rng.integers(1, 16))))
            for t in sources
        ]
        syn += [
            Synapse(tag=INH_TAG0 + i, dendrite=Dendrite.GABA, weight=mask_bits(2))
            for i in range(N_INH)
        ]
        core.neurons[n] = Neuron(
            synapses=syn,
            destinations=[Destination(tag=EXC_TAG0 + n, core=(True, False, False, False))],
        )
    for i in range(N_INH):
        sources = rng.choice(N_EXC, size=12, replace=False)
        syn = [
            Synapse(tag=EXC_TAG0 + int(s), dendrite=Dendrite.AMPA, weight=mask_bits(4))
            for s in sources
        ]
        core.neurons[N_EXC + i] = Neuron(
            synapses=syn,
            destinations=[Destination(tag=INH_TAG0 + i, core=(True, False, False, False))],
        )
    return cfg.validate()
