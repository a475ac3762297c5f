# One-off selection script as run on 2026-12-06 (outputs were in /tmp/d/h2; the *-eval.json here are its outputs)
"""One-off selection: python h2.py 'hidden=64,robust=noise,instances=8,spread=0.2' SEED TASK
Validation split + selection chips unseen_chips(36, seed=8)."""
import sys, json, numpy as np, torch
from hil.train.trainer import TrainConfig, train
from hil.train.robust import Prior
from hil.train.model import Model
from hil.train.evaluate import unseen_chips, chip_accuracies, float_accuracy
from hil.tasks import get_task
torch.set_num_threads(1)
name, seed, task = sys.argv[1], int(sys.argv[2]), sys.argv[3]
kw = {}
for item in name.split(","):
    k, v = item.split("=")
    if k == "spread":
        kw["prior"] = Prior(sigma_currents=float(v), sigma_weights=float(v))
    elif k in ("robust", "logits"):
        kw[k] = v
    elif k == "recurrent":
        kw[k] = v == "1"
    elif k in ("logit_scale", "lr"):
        kw[k] = float(v)
    else:
        kw[k] = int(v)
cfg = TrainConfig(task=task, seed=seed, **kw)
T_task = get_task(task, seed)
out = f"/tmp/d/h2/{task}-{name}-s{seed}.json"
model, summ = train(cfg, out)
m = Model.load(out)
sel = unseen_chips(36, seed=8)
r = {"name": name, "seed": seed, "task": task, "cpu_s": summ["cpu_s"],
     "float_val": float_accuracy(m, T_task.val), "float_test": float_accuracy(m, T_task.test),
     "sel_val": chip_accuracies(m, T_task.val, sel).tolist()}
json.dump(r, open(out.replace(".json", "-eval.json"), "w"))
print(name, seed, task, "cpu %.0f float_val %.1f sel_val %.1f min %.1f" % (summ["cpu_s"], 100*r["float_val"], 100*np.mean(r["sel_val"]), 100*np.min(r["sel_val"])), flush=True)
