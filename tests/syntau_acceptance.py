"""The per-neuron synaptic time constants of the twin against the hidden truth, and the twin's
rate prediction, on two personalities none of the development used (issue 9: identifiable
parameters <= 3 % median error; prediction <= 5 % median). Full chip, in process; the same
evaluation as tests/test_mismatch_acceptance.py (its `evaluate`), on other silicon.

    PYTHONPATH=$PWD python tests/syntau_acceptance.py [name ...]     # one JSON line each

Run it on a checkout without the tau_<kind> experiments (the twin's taus nominal) to compare.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from test_mismatch_acceptance import evaluate  # noqa: E402

from hil.emulator.silicon import Drift, Silicon, Spread  # noqa: E402


def personalities() -> dict[str, Silicon]:
    """Two personalities of families, spreads and seeds the development never used (it used
    tests/calibration_acceptance.personality with seeds 9901 and 9902 and the three of
    tests/test_mismatch_acceptance.py)."""
    base = Silicon.from_seed(7310)
    normal = {
        p: Spread("normal", 0.04, 0.0 if p.startswith("Iw_") else 0.16) for p in base.mismatch
    }
    return {
        "normal-16%": Silicon(
            silicon_id="tau-norm", seed=7311, mismatch=normal, biasgen_sigma=0.04,
            weight_family="lognormal", weight_sigma=0.15, noise_std_A=1.5e-12,
            noise_neuron_sigma=0.3, dead_fraction=0.01, hot_fraction=0.01, hot_current_A=1e-10,
            hot_sigma=0.4, drift=Drift(core_walk_sigma=2e-3, neuron_rate_sigma=5e-4),
        ),
        "from_seed(7717)@day20": Silicon.from_seed(7717).at_day(20),
    }  # fmt: skip


KEYS = ("tau_ampa_err", "tau_nmda_err", "tau_gaba_err", "tau_shunt_err", "net31_twin_median_err",
        "net31_nominal_median_err", "net32_twin_median_err", "net32_nominal_median_err",
        "eff_nmda/ampa_err", "eff_gaba/ampa_err", "eff_shunt/ampa_err", "Igain_mem*Idc_err",
        "board_time_s", "characterize_wall_s", "fit_wall_s", "Itau_ampa_neuron_sigma",
        "Itau_nmda_neuron_sigma", "Itau_gaba_neuron_sigma", "Itau_shunt_neuron_sigma")  # fmt: skip

if __name__ == "__main__":
    names = sys.argv[1:] or list(personalities())
    for name in names:
        with tempfile.TemporaryDirectory() as d:
            r = evaluate(personalities()[name], Path(d))
        print(json.dumps({"personality": name, **{k: r[k] for k in KEYS}}), flush=True)
