# Selection for hardening frozen-noise-16 (2026-12-06 16:4x UTC): today's defaults (16 a class, log-counts, log-sum);
# `none` trained first, then noise training from it (init; 10 epochs at lr 0.01 by default) and a none-warm control.
# python h8.py NAME SEED, NAME "none" | "warm:robust=noise,instances=8,spread=0.3" -> validation split, selection chips unseen_chips(36, seed=8)
import sys, json, numpy as np, torch
from pathlib import Path
from hil.train.trainer import TrainConfig, train, task_prior
from hil.train.evaluate import unseen_chips, chip_accuracies, float_accuracy
from hil.tasks import get_task
torch.set_num_threads(1)
name, seed, task = sys.argv[1], int(sys.argv[2]), "frozen-noise-16"
base = Path(f"/tmp/d/h8/{task}-none-s{seed}.json")
kw: dict = {}
if name != "none":
    kw["init"] = str(base)
    for item in name.split(":", 1)[1].split(","):
        k, v = item.split("=")
        if k == "spread":
            kw["prior"] = task_prior(task, float(v))
        elif k == "lr":
            kw[k] = float(v)
        else:
            kw[k] = v if k == "robust" else int(v)
out = base if name == "none" else Path(f"/tmp/d/h8/{task}-{name.replace(':', '_')}-s{seed}.json")
model, summ = train(TrainConfig(task=task, seed=seed, **kw), out)
data, sel = get_task(task, seed), unseen_chips(36, seed=8)
r = {"name": name, "seed": seed, "task": task, "cpu_s": summ["cpu_s"],
     "float_val": float_accuracy(model, data.val), "sel_val": chip_accuracies(model, data.val, sel).tolist()}
out.with_name(out.stem + "-eval.json").write_text(json.dumps(r))
print(name, seed, "cpu %.0f" % summ["cpu_s"], "float %.1f sel %.1f min %.1f" % (100*r["float_val"], 100*np.mean(r["sel_val"]), 100*np.min(r["sel_val"])), flush=True)
