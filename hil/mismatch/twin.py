"""The per-neuron digital twin: identified currents per neuron (and weight factors per CAM slot),
as a versioned JSON artifact `hil.twin/1` and as the emulator's truth-CSV columns.

    twin = Twin.load("twin.json"); twin.frame(); twin.write_csv("twin.csv")
    open_board("sim://?twin=twin.json")        # the simulator runs the twin (hil.sim.board)

JSON (`hil.twin/1`): schema, n_chips, columns (the truth CSV's names, docs/silicon.md:
chip, core, neuron, every bias current by simulation name at the nominal codes, Ihot, noise_std,
dead, hot) holding one list per column over the board-wide index; weight_factor (n_chips, 4, 256,
64) nested lists or null; branch (per-core bias-generator factors by device bias: [[chip, core,
coarse, factor], ...], relative to the reference branch); identifiable (list of {name, what,
median_rel_se}); conventions (text of each convention fixing a confounded parameter); provenance
(board_id, silicon_id, day, hil_version, created_utc, sources: SHA-256 of every source Recording);
se_log (optional: simulation name -> one value per neuron, the standard error of the natural log of
that identified current as the fit estimated it, null where the fit gave none).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hil import __version__
from hil.artifacts import read_json, write_atomic
from hil.chip.geometry import CORES_PER_CHIP, NEURONS_PER_CHIP, neuron_address
from hil.chip.netlist import BIAS_CURRENTS
from hil.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

SCHEMA = "hil.twin/1"
EXTRA = ("Ihot", "noise_std", "dead", "hot")
COLUMNS = ("chip", "core", "neuron", *BIAS_CURRENTS, *EXTRA)  # the truth CSV's columns
SLOTS = 64


@dataclass
class Twin:
    """Per-neuron identified values over the board-wide index (module docstring).

    currents: simulation name -> (N,) [A] at the nominal codes; Ihot, noise_std: (N,) [A];
    dead, hot: (N,) bool; weight_factor: (n_chips, 4, 256, 64) or None (all 1); se_log: simulation
    name -> (N,) standard error of ln(current) from the fit (dimensionless, ~ relative error), NaN
    for neurons the fit did not identify (not measured, dead); names without an entry have none."""

    n_chips: int
    currents: dict[str, np.ndarray]
    Ihot: np.ndarray
    noise_std: np.ndarray
    dead: np.ndarray
    hot: np.ndarray
    weight_factor: np.ndarray | None = None
    branch: dict[str, list[list[float]]] = field(default_factory=dict)
    identifiable: list[dict[str, Any]] = field(default_factory=list)
    conventions: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    se_log: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.n_chips * NEURONS_PER_CHIP
        missing = sorted(set(BIAS_CURRENTS) - set(self.currents))
        if missing:
            raise ConfigError("twin.currents", missing, "every bias current by simulation name")
        for name, v in [*self.currents.items(), ("Ihot", self.Ihot), ("noise_std", self.noise_std)]:
            a = np.asarray(v, np.float64)
            if a.shape != (n,) or not np.all(np.isfinite(a)) or np.any(a < 0):
                raise ConfigError(f"twin.{name}", f"shape {a.shape}", f"({n},) finite >= 0 [A]")
        wf = self.weight_factor
        if wf is not None:
            want = (self.n_chips, CORES_PER_CHIP, NEURONS_PER_CHIP // CORES_PER_CHIP, SLOTS)
            if wf.shape != want or not np.all(np.isfinite(wf)) or np.any(wf <= 0):
                raise ConfigError("twin.weight_factor", f"shape {wf.shape}", f"{want}, finite > 0")
        for name, v in self.se_log.items():
            a = np.asarray(v, np.float64)
            if name not in BIAS_CURRENTS or a.shape != (n,) or np.any(a[np.isfinite(a)] < 0):
                raise ConfigError(f"twin.se_log.{name}", f"shape {a.shape}",
                                  f"a bias current's ({n},) standard errors >= 0 or NaN")  # fmt: skip

    # -- views -----------------------------------------------------------------------------------
    def frame(self) -> pd.DataFrame:
        """One row per neuron with the truth CSV's columns (COLUMNS)."""
        import pandas as pd

        n = self.n_chips * NEURONS_PER_CHIP
        chip, core, neuron = neuron_address(np.arange(n))
        data: dict[str, Any] = {"chip": chip, "core": core, "neuron": neuron}
        data.update({b: self.currents[b] for b in BIAS_CURRENTS})
        data.update(
            Ihot=self.Ihot,
            noise_std=self.noise_std,
            dead=self.dead.astype(int),
            hot=self.hot.astype(int),
        )
        return pd.DataFrame(data, columns=list(COLUMNS))

    def write_csv(self, path: str | Path) -> Path:
        """The truth-CSV view, written atomically (floats with 17 significant digits)."""
        return write_atomic(path, self.frame().to_csv(index=False, float_format="%.17g"))

    # -- JSON ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        df = self.frame()
        return {
            "schema": SCHEMA,
            "n_chips": self.n_chips,
            "columns": {c: df[c].tolist() for c in COLUMNS},
            "weight_factor": None if self.weight_factor is None else self.weight_factor.tolist(),
            "branch": self.branch,
            "identifiable": self.identifiable,
            "conventions": self.conventions,
            "provenance": self.provenance,
            "se_log": {
                k: [float(x) if np.isfinite(x) else None for x in np.asarray(v, np.float64)]
                for k, v in self.se_log.items()
            },
        }

    def save(self, path: str | Path) -> Path:
        """Write `hil.twin/1` JSON atomically."""
        return write_atomic(path, json.dumps(self.to_dict(), sort_keys=True) + "\n")

    @classmethod
    def from_dict(cls, d: object) -> Twin:
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise ConfigError("twin.schema", getattr(d, "get", lambda _: None)("schema"), SCHEMA)
        try:
            cols = d["columns"]
            n_chips = int(d["n_chips"])
            cur = {b: np.asarray(cols[b], np.float64) for b in BIAS_CURRENTS}
            wf = d.get("weight_factor")
            return cls(
                n_chips=n_chips,
                currents=cur,
                Ihot=np.asarray(cols["Ihot"], np.float64),
                noise_std=np.asarray(cols["noise_std"], np.float64),
                dead=np.asarray(cols["dead"]).astype(bool),
                hot=np.asarray(cols["hot"]).astype(bool),
                weight_factor=None if wf is None else np.asarray(wf, np.float64),
                branch=dict(d.get("branch", {})),
                identifiable=list(d.get("identifiable", [])),
                conventions=list(d.get("conventions", [])),
                provenance=dict(d.get("provenance", {})),
                se_log={
                    str(k): np.array([np.nan if x is None else x for x in v], np.float64)
                    for k, v in dict(d.get("se_log") or {}).items()
                },
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError("twin", f"malformed ({e})", f"a {SCHEMA} record") from None

    @classmethod
    def load(cls, path: str | Path) -> Twin:
        return cls.from_dict(read_json(path, "twin file"))


def provenance(board: dict, sources: list[str], silicon_id: object, day: object) -> dict:
    """The provenance block of a twin or a mismatch model."""
    return {
        "board_id": board.get("board_id"),
        "board_kind": board.get("kind"),
        "silicon_id": silicon_id,
        "day": day,
        "hil_version": __version__,
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "sources": sources,
    }
