"""Section 4.6's board rows (docs/training.md): per training seed, the none and noise-warm models'
accuracy on the ten emu:// boards 7501-7510 (sS/digits-MODE-boards.json, `boards.sh`), paired per
board, and over the seeds; python boards_sum.py"""
import json
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).resolve().parent
BOARDS = [f"emu://?seed={b}" for b in range(7501, 7511)]


def interval(d) -> tuple[float, float, float]:
    """Mean and 95 % t-interval of `d`, in points."""
    d = 100 * np.asarray(d, float)
    h = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    return d.mean(), d.mean() - h, d.mean() + h


def ci(d) -> str:
    return "{:+.1f} [{:+.1f}, {:+.1f}]".format(*interval(d))


def load(seed: int, mode: str) -> tuple[float, np.ndarray]:
    res = json.loads((HERE / f"s{seed}/digits-{mode}-boards.json").read_text())
    acc = {b["url"]: b["accuracy"] for b in res["boards"]}
    return res["float_sim_accuracy"], np.array([acc[u] for u in BOARDS])


seeds = [s for s in range(10, 20) if (HERE / f"s{s}/digits-noise-warm-boards.json").exists()]
rows = {(s, m): load(s, m) for s in seeds for m in ("none", "noise-warm")}
print("| seed | none: float / boards (min) | noise-warm: float / boards (min) | noise-warm - none [95 % CI over boards] |")
print("|---|---|---|---|")
for s in seeds:
    (f0, b0), (f1, b1) = rows[s, "none"], rows[s, "noise-warm"]
    print(f"| {s} | {100 * f0:.1f} / {100 * b0.mean():.1f} ({100 * b0.min():.1f}) | "
          f"{100 * f1:.1f} / {100 * b1.mean():.1f} ({100 * b1.min():.1f}) | {ci(b1 - b0)} |")
for m in ("none", "noise-warm"):
    r = [rows[s, m] for s in seeds]
    print(f"{m} over {len(seeds)} seeds: float {100 * np.mean([f for f, _ in r]):.1f}, boards "
          f"{100 * np.mean([b.mean() for _, b in r]):.1f}; float - boards {ci([f - b.mean() for f, b in r])}")
d = [rows[s, "noise-warm"][1].mean() - rows[s, "none"][1].mean() for s in seeds]
above = sum(interval(rows[s, "noise-warm"][1] - rows[s, "none"][1])[1] > 0 for s in seeds)
below = sum(interval(rows[s, "noise-warm"][1] - rows[s, "none"][1])[2] < 0 for s in seeds)
print(f"noise-warm - none over seeds: {ci(d)}; seeds whose board interval is above / below zero: "
      f"{above} / {below}")
