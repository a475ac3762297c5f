"""Section 4.4's twin table (docs/training.md): per training seed, the board mean naive
(../boards/sS/*-boards.json) and with each board's fitted twin (bNNNN/sS-MODE-twin.json), paired
per board; run from anywhere: python summarize.py"""
import glob
import json
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).resolve().parent


def ci(d) -> str:
    d = np.asarray(d, float)
    h = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    return "%+.1f [%+.1f, %+.1f]" % (100 * d.mean(), 100 * (d.mean() - h), 100 * (d.mean() + h))


boards = sorted(Path(p).name[1:] for p in glob.glob(str(HERE / "b75*")))
rows = {}
for s in range(1, 6):
    for m in ("none", "noise"):
        naive = json.loads((HERE.parent / f"boards/s{s}/frozen-noise-16-{m}-boards.json").read_text())
        nv = {b["url"].split("=")[1]: b["accuracy"] for b in naive["boards"]}
        tw = [json.loads((HERE / f"b{b}/s{s}-{m}-twin.json").read_text()) for b in boards]
        rows[s, m] = (tw[0]["float_sim_accuracy"], np.array([nv[b] for b in boards]),
                      np.array([t["boards"][0]["accuracy"] for t in tw]))
    f, n0, t0 = rows[s, "none"]
    f1, n1, t1 = rows[s, "noise"]
    print(f"| {s} | {100*n0.mean():.1f} / {100*t0.mean():.1f} ({100*t0.min():.1f}) | "
          f"{100*n1.mean():.1f} / {100*t1.mean():.1f} ({100*t1.min():.1f}) | {100*f1:.1f} | {ci(t1 - n1)} |")
for m in ("none", "noise"):
    r = [rows[s, m] for s in range(1, 6)]
    print(m, "over seeds: naive %.1f, twin %.1f, float %.1f; twin - naive %s; float - twin %s" % (
        100 * np.mean([x[1].mean() for x in r]), 100 * np.mean([x[2].mean() for x in r]),
        100 * np.mean([x[0] for x in r]), ci([x[2].mean() - x[1].mean() for x in r]),
        ci([x[0] - x[2].mean() for x in r])))
print("noise - none with the twin, over seeds:",
      ci([rows[s, "noise"][2].mean() - rows[s, "none"][2].mean() for s in range(1, 6)]))
