"""Section 4.8's boards: per seed the mean over the ten emu:// boards 7501-7510 (hil evaluate --json, naive),
none and noise, float minus boards, and noise - none with a 95 % t-interval over the seeds' means.
python boards_table.py [DIR] (DIR holds boards/sS/frozen-noise-16-MODE-boards.json; default: beside this file)"""
import json, sys
from pathlib import Path

import numpy as np
from scipy import stats

root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
seeds = list(range(25, 30))


def load(s: int, mode: str) -> tuple[float, np.ndarray]:
    r = json.loads((root / f"boards/s{s}/frozen-noise-16-{mode}-boards.json").read_text())
    assert r["decode"] == "log-sum" and len(r["boards"]) == 10
    return r["float_sim_accuracy"], np.array([b["accuracy"] for b in r["boards"]])


def ci(d) -> str:
    d = np.asarray(d, float)
    h = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    return "%+.1f [%+.1f, %+.1f]" % (100 * d.mean(), 100 * (d.mean() - h), 100 * (d.mean() + h))


r = {(s, m): load(s, m) for s in seeds for m in ("none", "noise")}
print("| seed | float none / noise | boards none (worst) | boards noise (worst) | noise - none | noise: float - boards |")
print("|---|---|---|---|---|---|")
for s in seeds:
    (fn, bn), (fr, br) = r[s, "none"], r[s, "noise"]
    print(f"| {s} | {100 * fn:.1f} / {100 * fr:.1f} | {100 * bn.mean():.1f} ({100 * bn.min():.1f}) | "
          f"{100 * br.mean():.1f} ({100 * br.min():.1f}) | {100 * (br.mean() - bn.mean()):+.1f} | {100 * (fr - br.mean()):.1f} |")
for m in ("none", "noise"):
    print(f"{m}: boards {100 * np.mean([r[s, m][1].mean() for s in seeds]):.1f} %, float - boards",
          ci([r[s, m][0] - r[s, m][1].mean() for s in seeds]))
print("noise - none on the boards:", ci([r[s, "noise"][1].mean() - r[s, "none"][1].mean() for s in seeds]))
