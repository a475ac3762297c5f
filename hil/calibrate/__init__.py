"""Per-core bias calibration (issue 9 section 3; docs/calibration.md).

    from hil.calibrate import Target, calibrate, merge
    record = calibrate(board, Target({"tau_mem": 0.02, "t_ref": 0.002}))   # hil.calibration/1
    config, changes = merge(config, record)

Quantities: tau_mem, t_ref, tau_ampa, tau_gaba (per-core medians, seconds). A measurement says
what to set and what to measure (hil.calibrate.measure: one per quantity, every core in every
run; the models it fits: hil.experiments.models, the synaptic time constants
hil.experiments.syntau, shared with the characterization); an Algorithm says how to search
(hil.calibrate.algorithms: binary, noisy binary, predictive). Targets: hil.calibrate.target; codes
ordered by current: hil.calibrate.grid; the record and merging: hil.calibrate.result; the
commands: hil.calibrate.cli.
"""

from hil.calibrate.algorithms import (
    ALGORITHMS,
    Algorithm,
    BinarySearch,
    NoisyBinarySearch,
    PredictiveModel,
)
from hil.calibrate.calibrate import calibrate, default_cache_dir
from hil.calibrate.result import load, merge, save
from hil.calibrate.target import QUANTITIES, Target, load_target

__all__ = [
    "ALGORITHMS",
    "QUANTITIES",
    "Algorithm",
    "BinarySearch",
    "NoisyBinarySearch",
    "PredictiveModel",
    "Target",
    "calibrate",
    "default_cache_dir",
    "load",
    "load_target",
    "merge",
    "save",
]
