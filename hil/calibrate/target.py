"""Calibration targets: what each core should achieve, as population medians in SI units.

A target file (schema `hil.calibration-target/1`):

    {"schema": "hil.calibration-target/1",
     "targets": {"tau_mem": 0.02, "t_ref": 0.002},
     "cores": [[0, 0], [0, 1]]}                    # optional: default every core of the board

Names are `hil.chip.params.HighLevel` fields that hil can calibrate (`QUANTITIES`); values are
seconds. Each target must lie inside what its bias can nominally reach (`reachable`), else no code
could give it. Anything else in the file is refused with one ConfigError naming it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from hil.artifacts import read_json
from hil.chip.biasgen import current_range
from hil.chip.geometry import CORES_PER_CHIP, MAX_CHIPS
from hil.chip.params import (
    SIM_TO_DEVICE,
    HighLevel,
    Physics,
    pulse_current,
    pulse_of,
    tau_current,
    tau_of,
)
from hil.errors import ConfigError, bounded, quote

SCHEMA = "hil.calibration-target/1"
PHYSICS = Physics()  # nominal device constants and capacitances


@dataclass(frozen=True)
class Quantity:
    """A calibratable HighLevel quantity: its bias (simulation and device name) and capacitance.

    value = K / I with K = (Ut / kappa) C for a DPI time constant, Vth C for a pulse width
    (hil.chip.params.tau_of / pulse_of): every quantity here falls as its bias current rises.
    """

    name: str
    current: str  # simulation name of the bias current (hil.chip.params.SIM_TO_DEVICE key)
    capacitance: str  # Physics field
    kind: str  # "tau" or "pulse"
    # [s] the targets hil.calibrate.measure is checked for against the hidden truth (within 3 %,
    # docs/calibration.md "Limits"): narrower than what the bias reaches (`reachable`)
    measurable: tuple[float, float] = (0.0, math.inf)

    @property
    def bias(self) -> str:
        """Device name of the bias (hil.chip.biasgen.PARAMETERS key)."""
        return SIM_TO_DEVICE[self.current]

    def value_of(self, current: float, phys: Physics = PHYSICS) -> float:
        """The quantity [s] that current [A] gives (currents below Io act as Io, as in the
        dynamics: hil.chip.netlist.derived_constants)."""
        f = tau_of if self.kind == "tau" else pulse_of
        return f(max(current, phys.Io), getattr(phys, self.capacitance), phys)

    def current_for(self, value: float, phys: Physics = PHYSICS) -> float:
        """The current [A] that gives `value` [s] (the inverse of value_of above Io)."""
        f = tau_current if self.kind == "tau" else pulse_current
        return f(value, getattr(phys, self.capacitance), phys)

    def reachable(self, phys: Physics = PHYSICS) -> tuple[float, float]:
        """(smallest, largest) value [s] the bias range gives nominally."""
        lo, hi = current_range(self.bias)
        return self.value_of(hi, phys), self.value_of(lo, phys)


# What hil.calibrate.measure has a measurement for (NMDA, SHUNT, AHP: not yet, docs/calibration.md).
QUANTITIES: dict[str, Quantity] = {
    q.name: q
    for q in (
        Quantity("tau_mem", "Itau_mem", "C_mem", "tau", (3e-3, 50e-3)),
        Quantity("t_ref", "Iref", "C_ref", "pulse", (0.2e-3, 0.2)),
        Quantity("tau_gaba", "Itau_gaba", "C_gaba", "tau", (2e-3, 0.15)),
        Quantity("tau_ampa", "Itau_ampa", "C_ampa", "tau", (1e-3, 0.3)),
    )
}
_HIGHLEVEL = set(HighLevel.__dataclass_fields__)


@dataclass(frozen=True)
class Target:
    """Per-core median targets [s] by quantity name, and the cores (None: every core)."""

    targets: dict[str, float]
    cores: tuple[tuple[int, int], ...] | None = None

    def to_dict(self) -> dict:
        out: dict = {"schema": SCHEMA, "targets": dict(sorted(self.targets.items()))}
        if self.cores is not None:
            out["cores"] = [list(c) for c in self.cores]
        return out

    def cores_on(self, n_chips: int) -> list[tuple[int, int]]:
        """The cores to calibrate on a board of `n_chips` chips; ConfigError for a core the board
        does not have."""
        if self.cores is None:
            return [(c, k) for c in range(n_chips) for k in range(CORES_PER_CHIP)]
        for i, (chip, _) in enumerate(self.cores):
            if chip >= n_chips:
                raise ConfigError(
                    f"cores[{i}]", list(self.cores[i]), f"chip 0..{n_chips - 1} on this board"
                )
        return list(self.cores)

    @classmethod
    def from_dict(cls, data: object) -> Target:
        """Parse and check a target record; the first problem is a ConfigError naming it."""
        if not isinstance(data, dict):
            raise ConfigError("target", type(data).__name__, f"a JSON object with schema {SCHEMA}")
        extra = set(data) - {"schema", "targets", "cores"}
        if extra:
            raise ConfigError(
                _field(sorted(extra)[0]), "an unknown field", "schema, targets, cores"
            )
        if data.get("schema") != SCHEMA:
            raise ConfigError("schema", data.get("schema"), repr(SCHEMA))
        raw = data.get("targets")
        if not isinstance(raw, dict) or not raw:
            raise ConfigError("targets", raw, "a non-empty object {quantity: seconds}")
        targets = {}
        for name, value in raw.items():
            where = _field(name, "targets.")
            if name not in QUANTITIES:
                why = "a HighLevel name hil cannot calibrate" if name in _HIGHLEVEL else "unknown"
                raise ConfigError(where, name, f"one of {', '.join(QUANTITIES)} ({why})")
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not (ok and math.isfinite(value) and value > 0):
                raise ConfigError(where, value, "a finite number of seconds > 0")
            check_value(name, value, where)
            targets[name] = float(value)
        return cls(targets, _cores(data["cores"]) if "cores" in data else None)


def _cores(raw: object) -> tuple[tuple[int, int], ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("cores", raw, "a non-empty list of [chip, core]")
    out: list[tuple[int, int]] = []
    for i, item in enumerate(raw):
        ok = (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in item)
            and 0 <= item[0] < MAX_CHIPS
            and 0 <= item[1] < CORES_PER_CHIP
        )
        if not ok:
            raise ConfigError(
                f"cores[{i}]", item, f"[chip 0..{MAX_CHIPS - 1}, core 0..{CORES_PER_CHIP - 1}]"
            )
        if tuple(item) in out:
            raise ConfigError(f"cores[{i}]", item, "each core once")
        out.append((item[0], item[1]))
    return tuple(out)


def check_value(name: str, value: float, where: str = "") -> None:
    """ConfigError unless `value` [s] is a target of quantity `name` the bias reaches and the
    measurement is checked for (Quantity.measurable)."""
    if name not in QUANTITIES:
        raise ConfigError(where or "targets", name, "one of " + ", ".join(QUANTITIES))
    q = QUANTITIES[name]
    lo, hi = q.reachable()
    mlo, mhi = max(lo, q.measurable[0]), min(hi, q.measurable[1])
    if not mlo <= value <= mhi:
        raise ConfigError(
            where or f"targets.{name}",
            value,
            f"{mlo:.3g} to {mhi:.3g} s (what the {name} measurement is checked for against the "
            f"hidden truth; {q.bias} reaches {lo:.3g} to {hi:.3g} s)",
        )


def load_target(path: str | Path) -> Target:
    """Read and check a target file (JSON); errors name the file."""
    data = read_json(path, "calibration target file")
    try:
        return Target.from_dict(data)
    except ConfigError as e:
        where = f"calibration target file {bounded(str(path))}: {e.path}"
        raise ConfigError(where, e.value, e.allowed) from None


def _field(name: str, prefix: str = "") -> str:
    """A field's path for an error: `targets.tau_mem`, or a quoted name (`targets.'a\\nb'`) when
    the name is not a plain identifier, so an error stays one line whatever the file holds."""
    return prefix + (name if name.isidentifier() else quote(name))
