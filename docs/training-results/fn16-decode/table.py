"""Sections 4.7-4.9's tests, pooled over the training seeds (docs/training.md): per seed the mean over the
36 acceptance chips and over each level's 10 chips, for every mode, and each mode minus `none` (and any
pair named A-B) with a 95 % t-interval over the seeds.
python table.py [DIR [A-B ...]] (DIR holds sS/frozen-noise-16-results.json; default: beside this file, seeds 20-24)"""
import json, sys
from pathlib import Path

import numpy as np
from scipy import stats

root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
seeds = sorted(int(p.parent.name[1:]) for p in root.glob("s*/frozen-noise-16-results.json"))
res = {s: json.loads((root / f"s{s}/frozen-noise-16-results.json").read_text())["modes"] for s in seeds}
modes = list(res[seeds[0]])
pairs = [(m, "none") for m in modes if m != "none"] + [tuple(a.split("-", 1)) for a in sys.argv[2:]]
pairs = [(a.replace("_", "-"), b.replace("_", "-")) for a, b in pairs]  # A-B with dashes in names: noise_warm-none_warm


def ci(d) -> str:
    d = np.asarray(d, float)
    h = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    return "%+.1f [%+.1f, %+.1f]" % (100 * d.mean(), 100 * (d.mean() - h), 100 * (d.mean() + h))


cols = [("float", lambda m: m["float_sim_accuracy"]), ("36 chips", lambda m: np.mean(m["chip_accuracies"]))] + [
    (f"{100 * float(k):g} %", lambda m, k=k: np.mean(m["levels"][k])) for k in res[seeds[0]]["none"]["levels"]
]
print(f"| frozen-noise-16, seeds {seeds[0]}-{seeds[-1]} | " + " | ".join(c for c, _ in cols) + " |")
print("|---" * (len(cols) + 1) + "|")
for mode in modes:
    print(f"| {mode} | " + " | ".join("%.1f" % (100 * np.mean([f(res[s][mode]) for s in seeds])) for _, f in cols) + " |")
for a, b in pairs:
    print(f"| {a} - {b} [95 % CI over seeds] | " + " | ".join(ci([f(res[s][a]) - f(res[s][b]) for s in seeds]) for _, f in cols) + " |")
for mode in modes:
    gaps = [res[s][mode]["float_sim_accuracy"] - np.mean(res[s][mode]["chip_accuracies"]) for s in seeds]
    worst = [np.min(res[s][mode]["chip_accuracies"]) for s in seeds]
    print(f"{mode}: float - 36 chips per seed", " ".join("%.1f" % (100 * g) for g in gaps), "; over seeds", ci(gaps),
          "; worst chip per seed", " ".join("%.1f" % (100 * w) for w in worst))
for a, b in pairs:
    print(f"{a} - {b} per seed:", " ".join("%+.1f" % (100 * (np.mean(res[s][a]["chip_accuracies"]) - np.mean(res[s][b]["chip_accuracies"]))) for s in seeds))
