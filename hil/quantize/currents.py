"""Per-core currents [A] -> bias codes, with the error the nearest code leaves.

The codes are hil.chip.params.core_parameters' nearest (coarse, fine) per device bias; the error is
reported, never hidden: rel_error[name] = |I(code) - I| / I for the nominal bias generator.
"""

from __future__ import annotations

from collections.abc import Mapping

from hil.chip.params import SIM_TO_DEVICE, core_parameters, currents_from_codes
from hil.errors import ConfigError


def currents_to_codes(
    currents: Mapping[str, float],
) -> tuple[dict[str, tuple[int, int]], dict[str, float]]:
    """(device name -> (coarse, fine), simulation name -> relative error of the code's current)
    for currents [A] by simulation name (hil.chip.params.SIM_TO_DEVICE keys)."""
    unknown = sorted(set(currents) - set(SIM_TO_DEVICE))
    if unknown:
        raise ConfigError("currents", unknown[0], "simulation names " + ", ".join(SIM_TO_DEVICE))
    codes = core_parameters(dict(currents))
    got = currents_from_codes(codes)
    err = {k: abs(got[k] - v) / v if v > 0 else abs(got[k]) for k, v in currents.items()}
    return codes, err
