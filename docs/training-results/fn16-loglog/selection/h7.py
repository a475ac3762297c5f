# Selection for section 4.8 (2026-12-06 16:1x UTC): frozen-noise-16 with the log-log-counts setting (no patching), decoded by log-sum.
# python h7.py 'per_class=8,robust=noise' SEED   -> validation split, selection chips unseen_chips(36, seed=8)
import sys, json, dataclasses, numpy as np, torch
from hil.train.trainer import TrainConfig, train, task_prior
from hil.train.model import Model
from hil.train.evaluate import unseen_chips, chip_accuracies, float_accuracy
from hil.tasks import get_task
torch.set_num_threads(1)
name, seed, task = sys.argv[1], int(sys.argv[2]), "frozen-noise-16"
kw = {"decode": "log-sum", "logits": "log-log-counts"}
for item in name.split(","):
    k, v = item.split("=")
    if k == "spread":
        kw["prior"] = task_prior(task, float(v))
    else:
        kw[k] = v if k in ("robust", "logits") else int(v)
cfg = TrainConfig(task=task, seed=seed, **kw)
T_task = get_task(task, seed)
out = f"/tmp/d/h7/{task}-{name}-s{seed}.json"
model, summ = train(cfg, out)
m = Model.load(out)
sel = unseen_chips(36, seed=8)
r = {"name": name, "seed": seed, "task": task, "logits": kw["logits"], "cpu_s": summ["cpu_s"],
     "float_val": float_accuracy(m, T_task.val), "sel_val": chip_accuracies(m, T_task.val, sel).tolist()}
json.dump(r, open(out.replace(".json", "-eval.json"), "w"))
print(name, seed, "cpu %.0f" % summ["cpu_s"], "float %.1f sel %.1f min %.1f" % (100*r["float_val"], 100*np.mean(r["sel_val"]), 100*np.min(r["sel_val"])), flush=True)
