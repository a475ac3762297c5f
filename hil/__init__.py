"""hil: hardware-in-the-loop validation and calibration for Dynap-SE2-style neuromorphic chips."""

from hil.board import Board, BoardInfo, Capability, open_board, register_scheme
from hil.errors import (
    BoardError,
    BoardTimeout,
    BoardURLError,
    CapabilityError,
    ConfigError,
    EventError,
    HilError,
    LinkError,
)

__version__ = "0.1.0"

__all__ = [
    "Board",
    "BoardInfo",
    "Capability",
    "open_board",
    "register_scheme",
    "BoardError",
    "BoardTimeout",
    "BoardURLError",
    "CapabilityError",
    "ConfigError",
    "EventError",
    "HilError",
    "LinkError",
    "__version__",
]
