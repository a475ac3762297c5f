"""What a Dynap-SE2 board is made of: counts and ranges.

Numbers from shared/reference/rockpool_dynapse.md section 0 and paper_facts.md section B.2
(Rockpool `lookup/defaults.py`, samna's data model).
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

import numpy as np

MAX_CHIPS = 4  # chips on a Stack board
CORES_PER_CHIP = 4
NEURONS_PER_CORE = 256
NEURONS_PER_CHIP = CORES_PER_CHIP * NEURONS_PER_CORE
SYNAPSES_PER_NEURON = 64  # CAM entries (fan-in)
DESTINATIONS_PER_NEURON = 4  # SRAM entries (fan-out)
NUM_TAGS = 2048  # 11-bit event tags, 0..2047
MAX_HOP = 7  # x_hop, y_hop in -7..7
NUM_BASE_WEIGHTS = 4  # per-core base weight currents SYAM_W0..W3, selected by a 4-bit mask
NUM_INPUT_CHANNELS = 65536  # input channels 0..65535: the wire carries a channel as u16
COARSE_MAX = 5
FINE_MAX = 255
FPGA_TICK_S = 1e-6  # event timestamps are integer microseconds


class Dendrite(Enum):
    """Dendrite (synapse) types with samna's enum values."""

    NONE = 0
    AMPA = 1024
    GABA = 512
    NMDA = 256
    SHUNT = 128

    @property
    def sign(self) -> int:
        """+1 for excitatory (AMPA, NMDA), -1 for inhibitory (GABA, SHUNT), 0 for NONE."""
        return {"AMPA": 1, "NMDA": 1, "GABA": -1, "SHUNT": -1}.get(self.name, 0)

    @classmethod
    def parse(cls, value: object) -> Dendrite:
        """Accept a name ('ampa', 'AMPA'), samna's integer value, or a Dendrite."""
        if isinstance(value, Dendrite):
            return value
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        if isinstance(value, int) and not isinstance(value, bool):
            for d in cls:
                if d.value == value:
                    return d
        raise ValueError(value)


# Per-neuron latches as samna names them (ecosystem.md section 3.3).
LATCHES = (
    "latch_so_dc",
    "latch_so_adaptation",
    "latch_soif_kill",
    "latch_coho_ca_mem",
    "latch_ho_enable",
    "latch_ho_so_de",
    "latch_deam_ampa",
    "latch_denm_nmda",
    "latch_de_conductance",
    "latch_deam_alpha",
    "latch_denm_alpha",
    "latch_de_mux",
    "latch_soif_type",
    "latch_ho_active",
)


Index = TypeVar("Index", int, np.ndarray)


def global_neuron(chip: Index, core: Index, neuron: Index) -> Index:
    """Board-wide neuron index: chip * 1024 + core * 256 + neuron (ints, or arrays as int64).

    The one place this arithmetic lives; `neuron_address` is its inverse."""
    if (
        isinstance(chip, np.ndarray)
        or isinstance(core, np.ndarray)
        or isinstance(neuron, np.ndarray)
    ):
        chip, core, neuron = (np.asarray(x, dtype=np.int64) for x in (chip, core, neuron))
    return (chip * CORES_PER_CHIP + core) * NEURONS_PER_CORE + neuron


def neuron_address(index: Index) -> tuple[Index, Index, Index]:
    """(chip, core, neuron) of a board-wide neuron index (int, or array as int64)."""
    if isinstance(index, np.ndarray):
        index = index.astype(np.int64, copy=False)
    return (
        index // NEURONS_PER_CHIP,
        index // NEURONS_PER_CORE % CORES_PER_CHIP,
        index % NEURONS_PER_CORE,
    )
