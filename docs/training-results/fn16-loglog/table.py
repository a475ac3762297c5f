"""Section 4.8's test, pooled over the training seeds 25-29 (docs/training.md): per seed the mean over the
36 acceptance chips and over each level's 10 chips, none and noise, and noise - none with a 95 % t-interval
over the seeds. python table.py [DIR] (DIR holds sS/frozen-noise-16-results.json; default: beside this file)"""
import json, sys
from pathlib import Path

import numpy as np
from scipy import stats

root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
seeds = list(range(25, 30))
res = {s: json.loads((root / f"s{s}/frozen-noise-16-results.json").read_text())["modes"] for s in seeds}


def ci(d) -> str:
    d = np.asarray(d, float)
    h = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    return "%+.1f [%+.1f, %+.1f]" % (100 * d.mean(), 100 * (d.mean() - h), 100 * (d.mean() + h))


cols = [("36 chips", lambda m: np.mean(m["chip_accuracies"]))] + [
    (f"{100 * float(k):g} %", lambda m, k=k: np.mean(m["levels"][k])) for k in res[seeds[0]]["none"]["levels"]
]
print("| frozen-noise-16, seeds 25-29 | float | " + " | ".join(c for c, _ in cols) + " |")
print("|---" * (len(cols) + 2) + "|")
for mode in ("none", "noise"):
    fl = np.mean([res[s][mode]["float_sim_accuracy"] for s in seeds])
    print(f"| {mode} | {100 * fl:.1f} | " + " | ".join("%.1f" % (100 * np.mean([f(res[s][mode]) for s in seeds])) for _, f in cols) + " |")
print("| noise - none [95 % CI over seeds] | " + ci([res[s]["noise"]["float_sim_accuracy"] - res[s]["none"]["float_sim_accuracy"] for s in seeds])
      + " | " + " | ".join(ci([f(res[s]["noise"]) - f(res[s]["none"]) for s in seeds]) for _, f in cols) + " |")
for mode in ("none", "noise"):
    gaps = [res[s][mode]["float_sim_accuracy"] - np.mean(res[s][mode]["chip_accuracies"]) for s in seeds]
    worst = [np.min(res[s][mode]["chip_accuracies"]) for s in seeds]
    print(f"{mode}: float - 36 chips per seed", " ".join("%.1f" % (100 * g) for g in gaps), "; over seeds", ci(gaps),
          "; worst chip per seed", " ".join("%.1f" % (100 * w) for w in worst))
