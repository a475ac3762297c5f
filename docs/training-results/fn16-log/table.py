"""Across seeds 1-5 on the 36 acceptance chips: the log-counts models against the counts models of section 4.4
(docs/training-results/fn16-seeds/spread0.2), paired per chip; python table.py"""
import json
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).resolve().parent
def ci(d):
    d = np.asarray(d); h = stats.t.ppf(.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    return "%+.1f [%+.1f, %+.1f]" % (100 * d.mean(), 100 * (d.mean() - h), 100 * (d.mean() + h))
def chip_ci(a, b):
    return ci(np.asarray(a) - np.asarray(b))
R = {}
for s in range(1, 6):
    L = json.loads((HERE / f"s{s}/frozen-noise-16-results.json").read_text())["modes"]
    C = json.loads((HERE.parent / f"fn16-seeds/spread0.2/s{s}/frozen-noise-16-results.json").read_text())["modes"]
    R[s] = {"log none": L["none"], "log noise": L["noise"], "counts none": C["none"], "counts noise (i8)": C["noise"]}
names = list(R[1])
print("| model | float | 36 chips mean (worst) | gap to float |")
for n in names:
    fl = np.mean([R[s][n]["float_sim_accuracy"] for s in R]); ch = np.mean([np.mean(R[s][n]["chip_accuracies"]) for s in R])
    worst = np.mean([np.min(R[s][n]["chip_accuracies"]) for s in R])
    print(f"| {n} | {100*fl:.1f} | {100*ch:.1f} ({100*worst:.1f}) | {100*(fl-ch):.1f} | per seed gap: " + " ".join("%.1f" % (100*(R[s][n]['float_sim_accuracy']-np.mean(R[s][n]['chip_accuracies']))) for s in R))
for a, b in [("log noise", "log none"), ("log noise", "counts none"), ("log noise", "counts noise (i8)"), ("log none", "counts none")]:
    per = [np.mean(np.array(R[s][a]["chip_accuracies"]) - np.array(R[s][b]["chip_accuracies"])) for s in R]
    above = sum(1 for s in R if float(chip_ci(R[s][a]["chip_accuracies"], R[s][b]["chip_accuracies"]).split("[")[1].split(",")[0]) > 0)
    print(f"{a} - {b}: per seed " + " ".join("%+.1f" % (100*p) for p in per) + f"; over seeds {ci(per)}; seeds with chip CI above 0: {above}")
