"""Paired comparison: new (task-accuracy) selection vs old (rate-error) selection vs forced masks vs
naive, on the 14 study boards (old results in /tmp/k16results/fn16) and fresh boards."""
import json, sys
from pathlib import Path
import numpy as np
from scipy import stats

F = Path("/tmp/k16results/fn16"); R = Path("/tmp/tasksel")

def ci(d):
    d = np.asarray(d) * 100
    if len(d) < 2: return f"{d.mean():+.1f} (n={len(d)})"
    h = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return f"{d.mean():+.1f} [{d.mean()-h:+.1f}, {d.mean()+h:+.1f}] (n={len(d)})"

def forced(pre):
    out = {}
    for line in (F / ("s1-candidates.out" if pre == "s1" else "candidates.out")).read_text().splitlines():
        if line.strip():
            s, doc = line.split(" ", 1); out[int(s)] = json.loads(doc)
    return out

rows = []
for pre in ("s0", "s1"):
    fc = forced(pre)
    for S in range(7401, 7415):
        for m in ("none", "noise"):
            new_p = R / f"b{S}" / f"{pre}-{m}-twin.json"
            if not new_p.exists() or new_p.stat().st_size == 0: continue
            new = json.loads(new_p.read_text())["boards"][0]
            old_name = f"{m}-twin.json" if pre == "s0" else f"s1-{m}-twin.json"
            naive_name = f"{m}-naive.json" if pre == "s0" else f"s1-{m}-naive.json"
            old = json.loads((F / f"b{S}" / old_name).read_text())["boards"][0]
            naive = json.loads((F / f"b{S}" / naive_name).read_text())["boards"][0]["accuracy"]
            f = fc[S][m]
            acc_of = {"twin": f["fitted: twin (masks), forced"], "twin, no mask compensation": f["fitted: twin, no masks, forced"], "naive": naive}
            sel = new["selection"]
            # consistency: the new board accuracy equals the forced run of the candidate it chose
            rows.append(dict(set=pre, board=S, model=m, new=new["accuracy"], old=old["accuracy"], masks=acc_of["twin"],
                             nomask=acc_of["twin, no mask compensation"], naive=naive, new_chosen=sel["chosen"], old_chosen=old["selection"]["chosen"],
                             pred_acc=sel["predicted_accuracy"], wall=sel["wall_s"], consistent=abs(acc_of[sel["chosen"]] - new["accuracy"]) < 1e-9,
                             best=max(acc_of.values())))
for S in (7451, 7452, 7453):
    for mm in ("fn16-none", "fn16-noise", "fn16s1-none", "fn16s1-noise"):
        p = R / f"fresh{S}" / f"{mm}.json"
        if not p.exists() or p.stat().st_size == 0: continue
        d = json.loads(p.read_text()); sel = d["selection"]; a = d["accuracy"]
        old_c = min(sel["predicted_rate_error"], key=sel["predicted_rate_error"].get)
        rows.append(dict(set="fresh", board=S, model=mm, new=a[sel["chosen"]], old=a[old_c], masks=a["twin"], nomask=a["twin, no mask compensation"],
                         naive=a["naive"], new_chosen=sel["chosen"], old_chosen=old_c, pred_acc=sel["predicted_accuracy"], wall=sel["wall_s"],
                         consistent=d["new_chosen_hash_matches"], best=max(a.values())))
json.dump(rows, open(R / "rows.json", "w"), indent=1)
short = {"twin": "masks", "twin, no mask compensation": "no masks", "naive": "naive"}
for r in rows:
    print(r["set"], r["board"], r["model"], f"new {r['new']*100:.1f} ({short[r['new_chosen']]}) old {r['old']*100:.1f} ({short[r['old_chosen']]}) masks {r['masks']*100:.1f} nomask {r['nomask']*100:.1f} naive {r['naive']*100:.1f} best {r['best']*100:.1f} pred {[round(v*100,1) for v in r['pred_acc'].values()]} wall {r['wall']} ok {r['consistent']}")
groups = {"seed 0 (study boards)": [r for r in rows if r["set"] == "s0"], "seed 1 (study boards)": [r for r in rows if r["set"] == "s1"],
          "fresh boards 7451-7453, 4 models": [r for r in rows if r["set"] == "fresh"]}
for g, rs in groups.items():
    if not rs: continue
    print(f"\n## {g}")
    for m in sorted({r["model"] for r in rs}):
        sub = [r for r in rs if r["model"] == m]
        print(m, "new-old", ci([r["new"] - r["old"] for r in sub]), "new-masks", ci([r["new"] - r["masks"] for r in sub]), "new-naive", ci([r["new"] - r["naive"] for r in sub]), "old-naive", ci([r["old"]-r["naive"] for r in sub]), "masks-naive", ci([r["masks"]-r["naive"] for r in sub]))
    print("all: new-old", ci([r["new"] - r["old"] for r in rs]), "new-masks", ci([r["new"] - r["masks"] for r in rs]), "best-new", ci([r["best"] - r["new"] for r in rs]))
    print("changed choices", sum(r["new_chosen"] != r["old_chosen"] for r in rs), "of", len(rs), "; new picks best", sum(abs(r["new"]-r["best"])<1e-9 for r in rs), "; old picks best", sum(abs(r["old"]-r["best"])<1e-9 for r in rs),
          "; new chose", {k: sum(r["new_chosen"] == k for r in rs) for k in short}, "; consistent", all(r["consistent"] for r in rs))
    w = [r["wall"] for r in rs]; print("selection wall_s median", np.median(w), "max", max(w))
