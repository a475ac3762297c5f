"""Section 4.5's board table (docs/training.md): per training seed, the log-counts models' board
mean naive (boards/sS/frozen-noise-16-MODE-boards.json) and with each board's fitted twin
(boards/sS/MODE-twin-NNNN.json), paired per board; python boards_sum.py"""
import json
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).resolve().parent
BOARDS = [str(b) for b in range(7501, 7511)]


def ci(d) -> str:
    d = np.asarray(d, float)
    h = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    return "%+.1f [%+.1f, %+.1f]" % (100 * d.mean(), 100 * (d.mean() - h), 100 * (d.mean() + h))


rows = {}
seeds = [s for s in range(1, 6) if all((HERE / f"boards/s{s}/{m}-twin-7510.json").exists() for m in ("none", "noise"))]
for s in seeds:
    for m in ("none", "noise"):
        naive = json.loads((HERE / f"boards/s{s}/frozen-noise-16-{m}-boards.json").read_text())
        nv = {b["url"].split("=")[1]: b["accuracy"] for b in naive["boards"]}
        tw = [json.loads((HERE / f"boards/s{s}/{m}-twin-{b}.json").read_text())["boards"][0]["accuracy"] for b in BOARDS]
        rows[s, m] = (naive["float_sim_accuracy"], np.array([nv[b] for b in BOARDS]), np.array(tw))
    f0, n0, t0 = rows[s, "none"]
    f1, n1, t1 = rows[s, "noise"]
    print(f"| {s} | {100*f0:.1f} / {100*f1:.1f} | {100*n0.mean():.1f} ({100*n0.min():.1f}) / {100*t0.mean():.1f} ({100*t0.min():.1f}) | "
          f"{100*n1.mean():.1f} ({100*n1.min():.1f}) / {100*t1.mean():.1f} ({100*t1.min():.1f}) | "
          f"{ci(n1 - n0)} | {ci(t1 - t0)} | {ci(t1 - n1)} | {100*(f1 - n1.mean()):.1f} / {100*(f1 - t1.mean()):.1f} |")
for m in ("none", "noise"):
    r = [rows[s, m] for s in seeds]
    print(m, "over seeds: float %.1f, naive %.1f, twin %.1f; float - naive %s; float - twin %s; twin - naive %s" % (
        100 * np.mean([x[0] for x in r]), 100 * np.mean([x[1].mean() for x in r]), 100 * np.mean([x[2].mean() for x in r]),
        ci([x[0] - x[1].mean() for x in r]), ci([x[0] - x[2].mean() for x in r]), ci([x[2].mean() - x[1].mean() for x in r])))
for arm, i in (("naive", 1), ("twin", 2)):
    print(f"noise - none, {arm}, over seeds:", ci([rows[s, "noise"][i].mean() - rows[s, "none"][i].mean() for s in seeds]))
