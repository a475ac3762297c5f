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
import hashlib
import importlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from importlib.metadata import entry_points
from typing import TypeVar
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from hil import events as ev
from hil.chip.biasgen import PARAMETERS
from hil.chip.config import Chip, ChipConfig, Core
from hil.chip.geometry import COARSE_MAX, CORES_PER_CHIP, FINE_MAX, global_neuron
from hil.errors import SHORT_QUOTE, BoardError, BoardURLError, ConfigError, quote


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


_B = TypeVar("_B", bound="Board")


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

    @property
    def config_hash(self) -> str | None:
        """Content hash of the applied config as the board confirmed it (by `apply` or
        `set_biases`); None before any apply, or where a backend does not keep it."""
        return None

    def __enter__(self: _B) -> _B:
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


def counts_bin_us(bin_s: float, duration_s: float) -> int:
    """The bin width of a counts readout in whole microseconds; BoardError unless `bin_s` is a
    finite whole number of microseconds from 1 us to the run's duration."""
    ok = isinstance(bin_s, int | float) and not isinstance(bin_s, bool) and math.isfinite(bin_s)
    us = round(bin_s * 1e6) if ok else 0
    if not (ok and 1 <= us <= max(1, round(duration_s * 1e6)) and abs(bin_s * 1e6 - us) < 1e-6):
        raise BoardError(
            f"bin_s={bin_s!r}; allowed: a whole number of microseconds from 1e-6 s to the "
            f"duration ({duration_s!r} s)"
        )
    return us


def counts_of_run(
    config: ChipConfig, spikes: np.ndarray, duration_s: float, bin_us: int
) -> ev.Counts:
    """The counts readout of a run's output spikes: per bin, for the neurons `config` sets (spikes
    of other neurons, such as a hot neuron the config does not set, are not counted)."""
    neurons = np.array([global_neuron(c, k, n) for c, k, n, _ in config.neurons()], np.int64)
    return ev.Counts.from_events(spikes, neurons, bin_us, round(duration_s * 1e6))


def check_biases(
    config: ChipConfig, biases: Mapping[BiasKey, tuple[int, int]]
) -> dict[tuple[int, int], dict[str, tuple[int, int]]]:
    """Validate bias writes against `config`: {(chip, core): {name: (coarse, fine)}}, or ConfigError
    naming the first bad key or code and what is allowed."""
    if not isinstance(biases, Mapping):
        raise ConfigError("biases", type(biases).__name__, "a mapping {(chip, core, name): (c, f)}")
    out: dict[tuple[int, int], dict[str, tuple[int, int]]] = {}
    for key, code in biases.items():
        if not (isinstance(key, tuple) and len(key) == 3):
            raise ConfigError("biases", key, "keys (chip, core, device bias name)")
        chip, core, name = key
        path = f"chips[{chip}].cores[{core}].parameters[{name}]"
        if not (_is_index(chip, len(config.chips)) and _is_index(core, CORES_PER_CHIP)):
            raise ConfigError(
                path, (chip, core), f"chip 0..{len(config.chips) - 1}, core 0..{CORES_PER_CHIP - 1}"
            )
        if name not in PARAMETERS:
            raise ConfigError(path, name, "a known bias name (see `hil bias list`)")
        if not (isinstance(code, tuple | list) and len(code) == 2):
            raise ConfigError(path, code, "(coarse, fine)")
        for what, v, hi in (
            ("coarse_value", code[0], COARSE_MAX),
            ("fine_value", code[1], FINE_MAX),
        ):
            if not _is_index(v, hi + 1):
                raise ConfigError(f"{path}.{what}", v, f"integers 0..{hi}")
        out.setdefault((chip, core), {})[name] = (int(code[0]), int(code[1]))
    return out


def _is_index(v: object, n: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < n


class BiasEditor:
    """An applied config whose per-core biases change often (BiasWrites.set_biases): each change
    costs time in the number of biases, not in the size of the config. The new config shares the
    neurons of the old one; its content hash equals ChipConfig.content_hash, from the neurons'
    canonical JSON serialized once."""

    def __init__(self, config: ChipConfig) -> None:
        self.config = config
        self._neurons_json: dict[tuple[int, int], str] = {}

    def set(self, biases: Mapping[BiasKey, tuple[int, int]]) -> tuple[ChipConfig, str]:
        """(the config with `biases` written, its content hash); ConfigError changes nothing."""
        changes = check_biases(self.config, biases)
        chips = []
        for ci, chip in enumerate(self.config.chips):
            cores = dict(chip.cores)
            for k in range(CORES_PER_CHIP):
                if (ci, k) in changes:
                    old = cores.get(k, Core())
                    cores[k] = Core({**old.parameters, **changes[(ci, k)]}, old.neurons)
            chips.append(Chip(cores))
        new = ChipConfig(chips=chips, inputs=self.config.inputs)
        digest = self._hash(new)
        self.config = new
        return new, digest

    def _hash(self, cfg: ChipConfig) -> str:
        skeleton = ChipConfig(
            chips=[
                Chip({k: Core(c.parameters, {}) for k, c in ch.cores.items()}) for ch in cfg.chips
            ],
            inputs=cfg.inputs,
        ).to_dict()
        for ci, chip in enumerate(skeleton["chips"]):
            for k, core in chip["cores"].items():
                core["neurons"] = f"@neurons:{ci}:{k}@"  # no config string looks like this
        text = _canonical(skeleton)
        for ci, chip in enumerate(cfg.chips):
            for k, core in chip.cores.items():
                text = text.replace(f'"@neurons:{ci}:{k}@"', self._neurons(ci, k, core), 1)
        return hashlib.sha256(text.encode()).hexdigest()

    def _neurons(self, chip: int, k: int, core: Core) -> str:
        """A core's neurons as ChipConfig.to_dict writes them, serialized once per core."""
        if (chip, k) not in self._neurons_json:
            one = ChipConfig(chips=[Chip({k: Core({}, core.neurons)})]).to_dict()
            self._neurons_json[(chip, k)] = _canonical(one["chips"][0]["cores"][str(k)]["neurons"])
        return self._neurons_json[(chip, k)]


def _canonical(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


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
            f"unknown board URL scheme {quote(scheme, SHORT_QUOTE)} in {quote(url, SHORT_QUOTE)}; "
            "known: "
            + ", ".join(s + ("" if s == SERIAL_KEY else "://") for s in known)
            + " (a device path such as /dev/ttyUSB0 opens a serial board)"
        )
    factory = _REGISTRY[scheme]
    if isinstance(factory, str):
        module, _, name = factory.partition(":")
        factory = getattr(importlib.import_module(module), name)
        _REGISTRY[scheme] = factory
    return factory(url)


def kind_text(kind: type) -> str:
    """How the type of a URL option reads in a message ("an integer", "a number")."""
    return {int: "an integer", float: "a number"}.get(kind, f"a {kind.__name__}")


def url_options(url: str, allowed: dict[str, type]) -> dict[str, object]:
    """Query options of `url` converted by `allowed` {name: type}; unknown names or bad values raise
    BoardURLError naming the option and what is allowed."""
    query = urlsplit(url).query
    out: dict[str, object] = {}
    for key, raw in parse_qsl(query, keep_blank_values=True):
        if key not in allowed:
            raise BoardURLError(
                f"unknown option {quote(key, SHORT_QUOTE)} in {quote(url, SHORT_QUOTE)}; allowed: "
                + (", ".join(sorted(allowed)) or "none")
            )
        kind = allowed[key]
        try:
            out[key] = (raw.lower() in ("1", "true", "yes", "")) if kind is bool else kind(raw)
        except ValueError:
            raise BoardURLError(
                f"option {key}={quote(raw, SHORT_QUOTE)} in {quote(url, SHORT_QUOTE)}; "
                f"allowed: {kind_text(kind)}"
            ) from None
    return out
