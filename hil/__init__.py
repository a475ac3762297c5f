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
from hil.numba_target import use_full_vectors

use_full_vectors()  # before any numba compilation (hil/numba_target.py)

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
