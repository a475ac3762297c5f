"""Section 4.7's board rows (docs/training.md): per training seed 20-24 and mode, the ten boards' accuracy under
each decoding (boards/sS-MODE.json, written by boards_counts.py's counts), noise - none paired per board, gaps to
float, t-intervals over the seeds; and the check against `hil evaluate`'s own outputs (boards/hil-evaluate/).
python boards_sum.py"""
import json
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).resolve().parent / "boards"
SEEDS = range(20, 25)


def ci(d) -> str:
    d = np.asarray(d, float)
    h = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    return "%+.1f [%+.1f, %+.1f]" % (100 * d.mean(), 100 * (d.mean() - h), 100 * (d.mean() + h))


r = {(s, m): json.loads((HERE / f"s{s}-{m}.json").read_text()) for s in SEEDS for m in ("none", "noise")}
print("| seed | float none / noise | none: log-sum (worst) / sum | noise: log-sum (worst) / sum | noise - none, log-sum | noise: float - boards |")
print("|---|---|---|---|---|---|")
for s in SEEDS:
    a, b = r[s, "none"], r[s, "noise"]
    n0, n1 = np.array(a["acc_log_sum"]), np.array(b["acc_log_sum"])
    print(f"| {s} | {100*a['float']:.1f} / {100*b['float']:.1f} | {100*n0.mean():.1f} ({100*n0.min():.1f}) / {100*np.mean(a['acc_sum']):.1f} | "
          f"{100*n1.mean():.1f} ({100*n1.min():.1f}) / {100*np.mean(b['acc_sum']):.1f} | {ci(n1 - n0)} | {100*(b['float'] - n1.mean()):.1f} |")
for m in ("none", "noise"):
    x = [r[s, m] for s in SEEDS]
    print(f"{m} over seeds: float %.1f, boards log-sum %.1f, sum %.1f; float - boards (log-sum) %s; log-sum - sum %s" % (
        100 * np.mean([v["float"] for v in x]), 100 * np.mean([np.mean(v["acc_log_sum"]) for v in x]),
        100 * np.mean([np.mean(v["acc_sum"]) for v in x]), ci([v["float"] - np.mean(v["acc_log_sum"]) for v in x]),
        ci([np.mean(v["acc_log_sum"]) - np.mean(v["acc_sum"]) for v in x])))
print("noise - none over seeds, log-sum:", ci([np.mean(r[s, "noise"]["acc_log_sum"]) - np.mean(r[s, "none"]["acc_log_sum"]) for s in SEEDS]))
for s in SEEDS:  # hil evaluate's outputs (scored before the tie rounding) against these counts
    for m in ("none", "noise"):
        f = HERE / f"hil-evaluate/s{s}/frozen-noise-16-{m}-boards.json"
        if f.exists():
            ev = [bd["accuracy"] for bd in json.loads(f.read_text())["boards"]]
            d = np.abs(np.array(ev) - np.array(r[s, m]["acc_log_sum"])).max()
            print(f"hil evaluate s{s} {m}: max |difference| per board {d:.4f}")
