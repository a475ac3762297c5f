"""The Board protocol: the one interface every backend implements (simulator, emulated board over
the wire, real board over the wire), and `open_board(url)` that picks a backend by URL scheme.

    with hil.open_board("sim://?dt=1e-4") as board:
        board.apply(config)                      # ChipConfig -> content hash the board confirmed
        spikes = board.run(stimulus, 1.0)        # INPUT_DTYPE events -> OUTPUT_DTYPE events

Backends register a URL scheme with `register_scheme`; the built-in ones are imported lazily so that
opening a serial board never imports torch. Third-party packages register through the entry-point
group `hil.boards` (name = scheme, value = "module:factory").
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from importlib.metadata import entry_points
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from hil import events as ev
from hil.chip.config import ChipConfig
from hil.errors import BoardError, BoardURLError


class Capability(str, Enum):
    """What a board can do, beyond the protocol every board implements."""

    SPIKES = "spikes"  # every output spike comes back with its timestamp
    COUNTS = "counts"  # per-neuron spike counts per time bin: CountsReadout.run_counts
    BIASES = "biases"  # change some biases in place, without a full re-apply: BiasWrites.set_biases
    GRADIENTS = "gradients"  # differentiable (the simulator)
    HIDDEN_SILICON = "hidden-silicon"  # mismatch that the host cannot see (emulator, real chip)
    FAULT_INJECTION = "fault-injection"


@dataclass(frozen=True)
class BoardInfo:
    """Who answered: board id, backend kind, model/firmware version, chip count, capabilities."""

    board_id: str
    kind: str
    version: str
    n_chips: int
    capabilities: frozenset[str] = frozenset()
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["capabilities"] = sorted(self.capabilities)
        return d


class Board(abc.ABC):
    """A Dynap-SE2-style board. Use as a context manager; `close()` is idempotent."""

    url: str = ""

    @abc.abstractmethod
    def info(self) -> BoardInfo:
        """Identity and capabilities of the board."""

    @abc.abstractmethod
    def apply(self, config: ChipConfig) -> str:
        """Validate and apply `config`; return its content hash as confirmed by the board.

        An invalid config raises ConfigError and leaves the previously applied config in place.
        """

    @abc.abstractmethod
    def run(self, stimulus: np.ndarray, duration_s: float) -> np.ndarray:
        """Inject `stimulus` (INPUT_DTYPE, t_us from 0) for `duration_s` seconds; return the
        output spikes (OUTPUT_DTYPE, time-sorted, 0 <= t_us < duration_s * 1e6)."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Return every neuron and synapse to rest; the applied config stays."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the board; later calls raise BoardError."""

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- capabilities with methods (labgrid style: one small interface per capability) ---------------

BiasKey = tuple[int, int, str]  # (chip, core, device bias name as in hil.chip.biasgen.PARAMETERS)


class CountsReadout(abc.ABC):
    """Capability `counts`: per-neuron spike counts per time bin."""

    @abc.abstractmethod
    def run_counts(self, stimulus: np.ndarray, duration_s: float, bin_s: float = 1e-3) -> ev.Counts:
        """Run like `Board.run` and return spike counts per bin of `bin_s` seconds (a whole number
        of microseconds) for the neurons the applied config sets (hil.events.Counts)."""


class BiasWrites(abc.ABC):
    """Capability `biases`: change some per-core biases of the applied config in place."""

    @abc.abstractmethod
    def set_biases(self, biases: Mapping[BiasKey, tuple[int, int]]) -> str:
        """Set {(chip, core, name): (coarse, fine)} on the applied config; return the content hash
        of the resulting config as the board confirms it. Equivalent to applying that config in
        full: a run after it equals a run after `apply` of the same config. Invalid keys or codes
        raise ConfigError and change nothing."""


# Capabilities that come with methods, and the interface a board advertising them implements.
INTERFACES: dict[Capability, type] = {
    Capability.COUNTS: CountsReadout,
    Capability.BIASES: BiasWrites,
}


def missing_interfaces(board: Board) -> list[str]:
    """Capabilities `board` advertises without implementing their interface (empty when honest)."""
    caps = board.info().capabilities
    return sorted(
        c.value
        for c, iface in INTERFACES.items()
        if c.value in caps and not isinstance(board, iface)
    )


def check_run(config: ChipConfig | None, stimulus: np.ndarray, duration_s: float) -> None:
    """The checks every backend makes before a run: a config is applied, the duration is positive
    and finite, the stimulus is valid, in time, and every channel it uses is routed."""
    if config is None:
        raise BoardError("no config applied: call board.apply(config) before board.run(...)")
    if not (isinstance(duration_s, int | float) and np.isfinite(duration_s) and duration_s > 0):
        raise BoardError(f"duration_s={duration_s!r}; allowed: a finite number of seconds > 0")
    ev.validate(stimulus)
    if stimulus.dtype != ev.INPUT_DTYPE:
        raise BoardError(f"stimulus must have dtype {ev.INPUT_DTYPE}, got {stimulus.dtype}")
    if stimulus.size and stimulus["t_us"][-1] >= duration_s * 1e6:
        raise BoardError(
            f"stimulus event at t_us={int(stimulus['t_us'][-1])} lies beyond the run "
            f"({duration_s} s = {int(duration_s * 1e6)} us)"
        )
    routed = {r.channel for r in config.inputs}
    used = set(np.unique(stimulus["channel"]).tolist())
    if used - routed:
        raise BoardError(
            f"stimulus uses channels {sorted(used - routed)[:8]} that the config does not "
            f"route; routed channels: {sorted(routed)[:16] or 'none'}"
        )


# ---- URL registry ----------------------------------------------------------------------------------

Factory = Callable[[str], Board]
SERIAL_KEY = "serial"  # device paths (/dev/ttyUSB0, COM3) have no scheme
# scheme -> factory, or "module:function" imported on first use
_REGISTRY: dict[str, Factory | str] = {
    "sim": "hil.sim.board:open_url",
    SERIAL_KEY: "hil.link.serial_board:open_url",
    # the wire protocol over pyserial (hil.link.serial_board)
    "socket": "hil.link.serial_board:open_url",
    "rfc2217": "hil.link.serial_board:open_url",
    "hwgrep": "hil.link.serial_board:open_url",
    # the emulator's in-process transports (hil.emulator.transports)
    "emu": "hil.emulator.transports:open_emu",
    "pty": "hil.emulator.transports:open_pty",  # an emulator on a real pty in this process
}


def register_scheme(scheme: str, factory: Factory | str) -> None:
    """Make `open_board` hand URLs of `scheme` to `factory(url) -> Board`."""
    _REGISTRY[scheme] = factory


def known_schemes() -> list[str]:
    """Registered URL schemes, built-in and from the `hil.boards` entry points."""
    for ep in entry_points(group="hil.boards"):
        _REGISTRY.setdefault(ep.name, ep.value)
    return sorted(_REGISTRY)


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else SERIAL_KEY


def open_board(url: str) -> Board:
    """Open the board that `url` names, e.g. 'sim://', 'sim://?dt=1e-4&seed=1', 'emu://?seed=3',
    'socket://127.0.0.1:7777', '/dev/ttyUSB0'."""
    scheme = scheme_of(url)
    known = known_schemes()
    if scheme not in _REGISTRY:
        raise BoardURLError(
            f"unknown board URL scheme {scheme!r} in {url!r}; known: "
            + ", ".join(s + ("" if s == SERIAL_KEY else "://") for s in known)
            + " (a device path such as /dev/ttyUSB0 opens a serial board)"
        )
    factory = _REGISTRY[scheme]
    if isinstance(factory, str):
        module, _, name = factory.partition(":")
        factory = getattr(importlib.import_module(module), name)
        _REGISTRY[scheme] = factory
    return factory(url)


def url_options(url: str, allowed: dict[str, type]) -> dict[str, object]:
    """Query options of `url` converted by `allowed` {name: type}; unknown names or bad values raise
    BoardURLError naming the option and what is allowed."""
    query = urlsplit(url).query
    out: dict[str, object] = {}
    for key, raw in parse_qsl(query, keep_blank_values=True):
        if key not in allowed:
            raise BoardURLError(
                f"unknown option {key!r} in {url!r}; allowed: "
                + (", ".join(sorted(allowed)) or "none")
            )
        kind = allowed[key]
        try:
            out[key] = (raw.lower() in ("1", "true", "yes", "")) if kind is bool else kind(raw)
        except ValueError:
            raise BoardURLError(
                f"option {key}={raw!r} in {url!r}; allowed: a {kind.__name__}"
            ) from None
    return out
