"""`calibration.json` (schema `hil.calibration/1`) and merging it into a network's config.

{"schema": "hil.calibration/1", "hil_version": "...", "board": {...}, "targets": {...},
 "algorithm": {"name": "predictive", ...}, "tolerance": 0.03, "runs": 9, "board_s": 3.1,
 "cache_key": "...",
 "cores": [{"chip": 0, "core": 0,
            "parameters": {"SOIF_LEAK_N": [0, 31], ...},   calibrated codes
            "nominal": {"SOIF_LEAK_N": [0, 29], ...},      the nominal conversion's codes
            "achieved": {"tau_mem": 0.0201, ...},          board-measured median [s]
            "success": {"tau_mem": true, ...},             within tolerance and monotone
            "monotonic": {"tau_mem": true, ...}}, ...],
 "bad_neurons": {"dead": [[chip, core, neuron], ...], "hot": [...],
                 "outliers": {"tau_mem": [[chip, core, neuron], ...]}}}
"""

from __future__ import annotations

import copy
from pathlib import Path

from hil.artifacts import read_json, write_json
from hil.chip.biasgen import PARAMETERS
from hil.chip.config import ChipConfig, Core
from hil.chip.geometry import COARSE_MAX, CORES_PER_CHIP, FINE_MAX, MAX_CHIPS
from hil.errors import ConfigError

SCHEMA = "hil.calibration/1"


def save(path: str | Path, calibration: dict) -> Path:
    """Write a calibration record atomically (after checking it)."""
    check(calibration)
    return write_json(path, calibration)


def load(path: str | Path) -> dict:
    """Read and check a calibration record."""
    data = read_json(path, "calibration file")
    check(data)
    assert isinstance(data, dict)
    return data


def check(data: object) -> None:
    """ConfigError naming the first thing a calibration record gets wrong (what merging needs)."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ConfigError("schema", got, repr(SCHEMA))
    cores = data.get("cores")
    if not isinstance(cores, list):
        raise ConfigError("cores", cores, "a list of per-core results")
    seen = set()
    for i, c in enumerate(cores):
        where = f"cores[{i}]"
        if not isinstance(c, dict):
            raise ConfigError(where, c, "an object with chip, core, parameters")
        chip, core = c.get("chip"), c.get("core")
        if not (_int(chip, MAX_CHIPS) and _int(core, CORES_PER_CHIP)):
            raise ConfigError(
                where, [chip, core], f"chip 0..{MAX_CHIPS - 1}, core 0..{CORES_PER_CHIP - 1}"
            )
        if (chip, core) in seen:
            raise ConfigError(where, [chip, core], "each core once")
        seen.add((chip, core))
        params = c.get("parameters")
        if not isinstance(params, dict):
            raise ConfigError(f"{where}.parameters", params, "an object {bias: [coarse, fine]}")
        for name, code in params.items():
            if name not in PARAMETERS:
                raise ConfigError(f"{where}.parameters.{name}", name, "a device bias name")
            ok = (
                isinstance(code, list)
                and len(code) == 2
                and _int(code[0], COARSE_MAX + 1)
                and _int(code[1], FINE_MAX + 1)
            )
            if not ok:
                raise ConfigError(
                    f"{where}.parameters.{name}",
                    code,
                    f"[coarse 0..{COARSE_MAX}, fine 0..{FINE_MAX}]",
                )


def _int(v: object, n: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < n


def merge(config: ChipConfig, calibration: dict) -> tuple[ChipConfig, list[str]]:
    """`config` with every calibrated bias of every calibrated core it has written in; returns
    (the new config, one line per change). Cores of the calibration on chips the config does not
    have are skipped and said so; a calibrated core the config leaves empty gets the biases (an
    unset bias would otherwise sit at its nominal code). The input config is not modified."""
    check(calibration)
    out = copy.deepcopy(config)
    notes = []
    for c in calibration["cores"]:
        chip, k = c["chip"], c["core"]
        if chip >= len(out.chips):
            notes.append(f"chip {chip} core {k}: skipped (the config has {len(out.chips)} chips)")
            continue
        core = out.chips[chip].cores.setdefault(k, Core())
        for name, (coarse, fine) in sorted(c["parameters"].items()):
            old = core.parameters.get(name)
            core.parameters[name] = (coarse, fine)
            was = "unset (nominal)" if old is None else f"{list(old)}"
            notes.append(f"chip {chip} core {k}: {name} {was} -> {[coarse, fine]}")
    out.validate()
    return out, notes


__all__ = ["SCHEMA", "check", "load", "merge", "save"]
