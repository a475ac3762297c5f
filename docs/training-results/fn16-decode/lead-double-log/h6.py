# One-off selection for a lead (2026-12-06 15:2x UTC; outputs in /tmp/d/h6): frozen-noise-16 trained on
# log(1 + log(1 + counts)) -- the double log section 4.5's harness used by accident -- decoded by log-sum.
# python h6.py 'per_class=16,robust=noise' SEED
"""Validation split + selection chips unseen_chips(36, seed=8); accuracy under both decodings."""
import sys, json, dataclasses, numpy as np, torch
import hil.train.trainer as T
from hil.train.trainer import TrainConfig, train
from hil.train.model import Model
from hil.train.evaluate import unseen_chips, chip_accuracies, float_accuracy
from hil.tasks import get_task
torch.set_num_threads(1)
_oc = T.output_counts
T.output_counts = lambda *a, **k: torch.log1p(_oc(*a, **k))  # the loss's log-counts logits then add the second log
name, seed, task = sys.argv[1], int(sys.argv[2]), "frozen-noise-16"
kw = {"decode": "log-sum"}
for item in name.split(","):
    k, v = item.split("=")
    kw[k] = v if k in ("robust",) else int(v)
cfg = TrainConfig(task=task, seed=seed, **kw)
T_task = get_task(task, seed)
out = f"/tmp/d/h6/{task}-{name}-s{seed}.json"
model, summ = train(cfg, out)
m = Model.load(out)
sel = unseen_chips(36, seed=8)
r = {"name": name, "seed": seed, "task": task, "loss": "log(1 + log(1 + counts))", "cpu_s": summ["cpu_s"]}
for d in ("sum", "log-sum"):
    md = dataclasses.replace(m, decode=d)
    r[d] = {"float_val": float_accuracy(md, T_task.val), "sel_val": chip_accuracies(md, T_task.val, sel).tolist()}
json.dump(r, open(out.replace(".json", "-eval.json"), "w"))
print(name, seed, "cpu %.0f" % summ["cpu_s"], " ".join("%s float %.1f sel %.1f min %.1f" % (d, 100*r[d]["float_val"], 100*np.mean(r[d]["sel_val"]), 100*np.min(r[d]["sel_val"])) for d in ("sum", "log-sum")), flush=True)
