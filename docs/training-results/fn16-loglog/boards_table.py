"""Sections 4.8-4.9's boards: per seed the mean over the ten emu:// boards 7501-7510 (hil evaluate --json, naive) of every
mode evaluated, float minus boards, and each mode minus `none` with a 95 % t-interval over the seeds' means.
python boards_table.py [DIR [A_B-C_D ...]] (DIR holds boards/sS/frozen-noise-16-MODE-boards.json; default: beside this
file; A_B-C_D: also mode a-b minus mode c-d)"""
import json, sys
from pathlib import Path

import numpy as np
from scipy import stats

root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
files = sorted(root.glob("boards/s*/frozen-noise-16-*-boards.json"))
seeds = sorted({int(p.parent.name[1:]) for p in files})
modes = sorted({p.name[len("frozen-noise-16-"):-len("-boards.json")] for p in files}, key=lambda m: (m != "none", m))


def load(s: int, mode: str) -> tuple[float, np.ndarray]:
    r = json.loads((root / f"boards/s{s}/frozen-noise-16-{mode}-boards.json").read_text())
    assert r["decode"] == "log-sum" and len(r["boards"]) == 10
    return r["float_sim_accuracy"], np.array([b["accuracy"] for b in r["boards"]])


def ci(d) -> str:
    d = np.asarray(d, float)
    h = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    return "%+.1f [%+.1f, %+.1f]" % (100 * d.mean(), 100 * (d.mean() - h), 100 * (d.mean() + h))


r = {(s, m): load(s, m) for s in seeds for m in modes}
others = [m for m in modes if m != "none"]
print("| seed | float " + " / ".join(modes) + " | " + " | ".join(f"boards {m} (worst)" for m in modes)
      + " | " + " | ".join(f"{m} - none | {m}: float - boards" for m in others) + " |")
print("|---" * (2 + len(modes) + 2 * len(others)) + "|")
for s in seeds:
    print(f"| {s} | " + " / ".join("%.1f" % (100 * r[s, m][0]) for m in modes) + " | "
          + " | ".join("%.1f (%.1f)" % (100 * r[s, m][1].mean(), 100 * r[s, m][1].min()) for m in modes) + " | "
          + " | ".join("%+.1f | %.1f" % (100 * (r[s, m][1].mean() - r[s, "none"][1].mean()), 100 * (r[s, m][0] - r[s, m][1].mean()))
                       for m in others) + " |")
for m in modes:
    print(f"{m}: boards {100 * np.mean([r[s, m][1].mean() for s in seeds]):.1f} %, float - boards",
          ci([r[s, m][0] - r[s, m][1].mean() for s in seeds]))
pairs = [(m, "none") for m in others] + [tuple(x.replace("_", "-") for x in a.split("-", 1)) for a in sys.argv[2:]]
for a, b in pairs:
    print(f"{a} - {b} on the boards:", ci([r[s, a][1].mean() - r[s, b][1].mean() for s in seeds]))
