"""What the chip is: geometry, the bias generator, parameters and ChipConfig."""

from hil.chip.biasgen import PARAMETERS, bias_code, bias_current, current_range
from hil.chip.config import (
    Chip,
    ChipConfig,
    Core,
    Destination,
    InputRoute,
    Neuron,
    Synapse,
    mask_bits,
    mask_int,
)
from hil.chip.geometry import Dendrite

__all__ = [
    "PARAMETERS",
    "bias_code",
    "bias_current",
    "current_range",
    "ChipConfig",
    "Chip",
    "Core",
    "Destination",
    "InputRoute",
    "Neuron",
    "Synapse",
    "mask_bits",
    "mask_int",
    "Dendrite",
]
