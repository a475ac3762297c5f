"""Table of the fn16 twin experiment: per-board accuracies, means, paired t-CIs; writes
docs/training-results/fn16-twin/summary.json and prints markdown."""
import json
import os
import sys
from pathlib import Path

import numpy as np

from hil.train.evaluate import paired_ci

args = sys.argv[1:]
prefix = ""  # "s1-": the training-seed-1 outputs (no candidate rows)
if args[:1] == ["--prefix"]:
    prefix, args = args[1], args[2:]
seeds = [int(s) for s in args]
R = Path("results/fn16")
acc: dict = {}
sel: dict = {}
cand: dict = {}
cost = {"char_wall_s": 0.0, "char_board_s": 0.0, "fit_wall_s": 0.0, "eval_wall_s": 0.0, "cpu_s": 0.0}
for s in seeds:
    d = R / f"b{s}"
    for m in ("none", "noise"):
        for arm in ("naive", "twin"):
            doc = json.loads((d / f"{prefix}{m}-{arm}.json").read_text())
            b = doc["boards"][0]
            acc.setdefault(f"{m}-{arm}", []).append(b["accuracy"])
            if arm == "twin":
                sel.setdefault(m, []).append(b["placement"])
            t = (d / f"{prefix}{m}-{arm}.time").read_text().split("_")
            cost["eval_wall_s"] += float(t[0]); cost["cpu_s"] += float(t[2]) + float(t[4])
    for step in ("char", "fit") if not prefix else ():
        t = (d / f"{step}.time").read_text().split("_")
        cost[f"{step}_wall_s"] += float(t[0]); cost["cpu_s"] += float(t[2]) + float(t[4])
    cost["char_board_s"] += 0 if prefix else json.loads((d / "char.json").read_text())["board_time_s"]
    if (d / f"{prefix}candidates.json").exists():
        c = json.loads((d / f"{prefix}candidates.json").read_text())
        for m in ("none", "noise"):
            for k, v in c[m].items():
                cand.setdefault(f"{m}: {k}", []).append(v["accuracy"])
float_acc = {m: json.loads((R / f"b{seeds[0]}" / f"{prefix}{m}-naive.json").read_text())["float_sim_accuracy"]
             for m in ("none", "noise")}
pct = lambda x: 100 * np.asarray(x)
diffs = {
    "none: twin - naive": paired_ci(pct(acc["none-twin"]), pct(acc["none-naive"])),
    "noise: twin - naive": paired_ci(pct(acc["noise-twin"]), pct(acc["noise-naive"])),
    "naive: noise - none": paired_ci(pct(acc["noise-naive"]), pct(acc["none-naive"])),
    "twin: noise - none": paired_ci(pct(acc["noise-twin"]), pct(acc["none-twin"])),
}
if cand and all(len(v) == len(seeds) for v in cand.values()):
    for m in ("none", "noise"):
        diffs[f"{m}: truth-twin selected - naive"] = paired_ci(
            pct(cand[f"{m}: truth: selected"]), pct(acc[f"{m}-naive"]))
        diffs[f"{m}: fitted twin (masks, forced) - naive"] = paired_ci(
            pct(cand[f"{m}: fitted: twin (masks), forced"]), pct(acc[f"{m}-naive"]))
        diffs[f"{m}: fitted twin, no masks (forced) - naive"] = paired_ci(
            pct(cand[f"{m}: fitted: twin, no masks, forced"]), pct(acc[f"{m}-naive"]))
if "none: truth: selected" in cand:
    diffs["truth twin: noise - none"] = paired_ci(pct(cand["noise: truth: selected"]),
                                                  pct(cand["none: truth: selected"]))
    for m in ("none", "noise"):
        diffs[f"{m}: fitted, masks - no masks (forced)"] = paired_ci(
            pct(cand[f"{m}: fitted: twin (masks), forced"]),
            pct(cand[f"{m}: fitted: twin, no masks, forced"]))
        diffs[f"{m}: truth twin - fitted twin (selected)"] = paired_ci(
            pct(cand[f"{m}: truth: selected"]), pct(acc[f"{m}-twin"]))
hdr = "| arm | float sim | " + " | ".join(f"seed={s}" for s in seeds) + " | mean (min) |"
print(hdr); print("|" + "---|" * (len(seeds) + 3))
rows = {**acc, **cand}
for k, v in rows.items():
    m = k.split("-")[0].split(":")[0]
    print(f"| {k} | {100*float_acc[m]:.1f} | " + " | ".join(f"{100*a:.1f}" for a in v)
          + f" | {100*np.mean(v):.1f} ({100*np.min(v):.1f}) |")
print()
for k in sel:
    print(f"twin selected ({k}):", " / ".join(sel[k]))
print()
print("| paired difference [points] | mean [95 % CI] |"); print("|---|---|")
for k, c in diffs.items():
    print(f"| {k} | {c['mean_diff']:+.1f} [{c['ci_low']:+.1f}, {c['ci_high']:+.1f}] |")
print(); print("cost:", json.dumps({k: round(v, 1) for k, v in cost.items()}))
out = Path("docs/training-results/fn16-twin"); out.mkdir(parents=True, exist_ok=True)
doc = {"seeds": seeds, "float_sim_accuracy": float_acc, "accuracy": acc, "twin_selected": sel,
       "candidates": cand, "paired_diffs_points": diffs, "cost": cost}
tmp = out / "summary.json.tmp"; tmp.write_text(json.dumps(doc, indent=1)); os.replace(tmp, out / (f"summary-{prefix.rstrip('-')}.json" if prefix else "summary.json"))
