"""ChipConfig -> simulator records: what a board would run, as per-neuron currents and weight
currents in amperes.

- Biases: each neuron gets its core's (coarse, fine) codes through the bias generator
  (hil.chip.biasgen); biases a core does not set take the nominal value (hil.chip.params.HighLevel).
- Weights: a CAM entry (tag, dendrite, 4-bit mask) of a neuron on core c adds
  sum_i mask_i * Iw_i(c) (the core's SYAM_W0..3 base currents) to the synapse of that dendrite type,
  for every event carrying that tag that reaches the core: input channels routed there
  (InputRoute chip, tag, core mask) and neurons whose SRAM destination sends the tag there.
- Routing: chips sit in a row, chip c at (x, y) = (c, 0); a destination reaches chip
  source + x_hop when y_hop is 0 and that chip exists. Events to nowhere are dropped.
- Latches: latch_so_dc gates Idc; latch_soif_kill silences the neuron; latch_so_adaptation enables the
  AHP (off: Iw_ahp = 0); latch_denm_nmda enables the NMDA voltage gate (off: If_nmda = 0, i.e. NMDA
  acts ungated).
- Neurons: only the neurons the config sets are simulated (a neuron the config does not set has no
  synapses and no DC and stays silent); `all_neurons=True` simulates every neuron of every chip.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from hil.chip.config import ChipConfig
from hil.chip.geometry import (
    CORES_PER_CHIP,
    NEURONS_PER_CHIP,
    NEURONS_PER_CORE,
    NUM_BASE_WEIGHTS,
    Dendrite,
    global_neuron,
)
from hil.chip.params import HighLevel, Physics, currents_from_codes
from hil.sim.records import DTYPE, NOMINAL, PHYSICS, TYPE_INDEX, NeuronParams, Weights


@dataclass(frozen=True)
class CompiledConfig:
    """A config as the simulator runs it.

    params: (instances, N) currents; weights: w_in (1, 4, channels, N), w_rec (1, 4, N, N) [A];
    neurons: (N,) board-wide index (chip * 1024 + core * 256 + neuron) of each simulated neuron;
    channels: (channels,) the input channel number of each w_in row.
    """

    params: NeuronParams
    weights: Weights
    neurons: np.ndarray
    channels: np.ndarray
    n_chips: int
    config_hash: str

    def column(self, chip: int, core: int, neuron: int) -> int:
        """Simulation column of a neuron; KeyError-free: -1 when it is not simulated."""
        g = global_neuron(chip, core, neuron)
        i = int(np.searchsorted(self.neurons, g))
        return i if i < len(self.neurons) and self.neurons[i] == g else -1


def core_currents(
    config: ChipConfig, physics: Physics = PHYSICS, nominal: HighLevel = NOMINAL
) -> dict[tuple[int, int], dict[str, float]]:
    """Currents [A] by simulation name for every (chip, core): the core's codes through the bias
    generator, nominal values for biases the core does not set."""
    base = nominal.currents(physics)
    out = {}
    for ci, chip in enumerate(config.chips):
        for k in range(CORES_PER_CHIP):
            cur = dict(base)
            core = chip.cores.get(k)
            if core is not None:
                cur.update(currents_from_codes(core.parameters))
            out[(ci, k)] = cur
    return out


def compile_config(
    config: ChipConfig,
    instances: int = 1,
    physics: Physics = PHYSICS,
    nominal: HighLevel = NOMINAL,
    all_neurons: bool = False,
) -> CompiledConfig:
    """Validate `config` (ConfigError on any violation) and compile it to simulator records."""
    config.validate()
    n_chips = len(config.chips)
    if all_neurons:
        neurons = np.arange(n_chips * NEURONS_PER_CHIP, dtype=np.int64)
    else:
        neurons = np.array(
            sorted(global_neuron(c, k, n) for c, k, n, _ in config.neurons()), dtype=np.int64
        )
    N = len(neurons)
    col = {int(g): i for i, g in enumerate(neurons)}
    cores = core_currents(config, physics, nominal)
    chip_of = neurons // NEURONS_PER_CHIP
    core_of = neurons // NEURONS_PER_CORE % CORES_PER_CHIP

    # per-neuron currents from the per-core biases
    names = list(next(iter(cores.values())).keys()) if cores else []
    cur = {
        name: np.array(
            [cores[(int(c), int(k))][name] for c, k in zip(chip_of, core_of, strict=True)]
        )
        for name in names
    }
    latch = defaultdict(lambda: np.zeros(N))
    for c, k, n, nr in config.neurons():
        i = col.get(global_neuron(c, k, n))
        if i is None:
            continue
        for name, on in nr.latches.items():
            latch[name][i] = float(on)
    cur["Iw_ahp"] = cur.get("Iw_ahp", np.zeros(N)) * latch["latch_so_adaptation"]
    cur["If_nmda"] = cur.get("If_nmda", np.zeros(N)) * latch["latch_denm_nmda"]
    params = NeuronParams.from_currents(
        {name: v[None, :] for name, v in cur.items()},
        N,
        instances=1,
        physics=physics,
        dc_enable=latch["latch_so_dc"][None, :],
        alive=1.0 - latch["latch_soif_kill"][None, :],
    ).expand(instances)

    # event sources by (chip, core, tag): input channels and neurons
    channels = np.array(sorted({r.channel for r in config.inputs}), dtype=np.int64)
    row = {int(ch): i for i, ch in enumerate(channels)}
    inputs_at: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for r in config.inputs:
        for k in range(CORES_PER_CHIP):
            if r.core[k]:
                inputs_at[(r.chip, k, r.tag)].append(row[r.channel])
    neurons_at: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for c, k, n, nr in config.neurons():
        pre = col.get(global_neuron(c, k, n))
        if pre is None:
            continue
        for d in nr.destinations:
            target = c + d.x_hop
            if d.y_hop != 0 or not 0 <= target < n_chips:
                continue
            for tk in range(CORES_PER_CHIP):
                if d.core[tk]:
                    neurons_at[(target, tk, d.tag)].append(pre)

    w_in = np.zeros((4, len(channels), N), dtype=np.float32)
    w_rec = np.zeros((4, N, N), dtype=np.float32)
    iw = {
        key: np.array([v[f"Iw_{i}"] for i in range(NUM_BASE_WEIGHTS)]) for key, v in cores.items()
    }
    for c, k, n, nr in config.neurons():
        post = col.get(global_neuron(c, k, n))
        if post is None:
            continue
        for s in nr.synapses:
            if s.dendrite is Dendrite.NONE or not any(s.weight):
                continue
            w = float(np.dot(np.array(s.weight, dtype=float), iw[(c, k)]))
            t = TYPE_INDEX[s.dendrite]
            for r in inputs_at.get((c, k, s.tag), ()):
                w_in[t, r, post] += w
            for pre in neurons_at.get((c, k, s.tag), ()):
                w_rec[t, pre, post] += w
    weights = Weights(
        torch.as_tensor(w_in, dtype=DTYPE).unsqueeze(0),
        torch.as_tensor(w_rec, dtype=DTYPE).unsqueeze(0),
    )
    return CompiledConfig(params, weights, neurons, channels, n_chips, config.content_hash())
