# One-off selection script as run on 2026-12-06 (outputs were in /tmp/d/h2; the *-eval.json here are its outputs)
"""One-off: warm-start from the seed's standard model (h2 'epochs=20'), then train MODE for E epochs.
python h3.py SEED MODE E LR INSTANCES SPREAD"""
import sys, json, numpy as np, torch
import hil.train.trainer as T
from hil.train.trainer import TrainConfig, train
from hil.train.robust import Prior
from hil.train.model import Model
from hil.train.evaluate import unseen_chips, chip_accuracies, float_accuracy
from hil.tasks import get_task
torch.set_num_threads(1)
seed, mode, E, lr, inst, spread = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
task = sys.argv[7] if len(sys.argv) > 7 else "digits"
import os; B = os.environ.get("BASE", "epochs=20"); base = f"/tmp/d/h2/{task}-{B}-s{seed}.ckpt.pt"
state = torch.load(base, weights_only=True)["best"]
_build = T.build_net
def build(cfg, t):
    net = _build(cfg, t); net.load_state_dict(state); return net
T.build_net = build
extra = {k: int(v) for k, v in (it.split("=") for it in B.split(",")) if k != "epochs"}
cfg = TrainConfig(task=task, seed=seed, **extra, robust=mode, epochs=E, lr=lr, instances=inst, prior=Prior(sigma_currents=spread, sigma_weights=spread))
name = f"warm{B}-{mode}-e{E}-lr{lr}-i{inst}-s{spread}"
out = f"/tmp/d/h2/{task}-{name}-s{seed}.json"
model, summ = train(cfg, out)
m = Model.load(out); tk = get_task(task, seed)
sel = unseen_chips(36, seed=8)
r = {"name": name, "seed": seed, "cpu_s": summ["cpu_s"], "float_val": float_accuracy(m, tk.val),
     "float_test": float_accuracy(m, tk.test), "sel_val": chip_accuracies(m, tk.val, sel).tolist()}
json.dump(r, open(out.replace(".json", "-eval.json"), "w"))
print(name, seed, "cpu %.0f float_val %.1f sel_val %.1f min %.1f" % (summ["cpu_s"], 100*r["float_val"], 100*np.mean(r["sel_val"]), 100*np.min(r["sel_val"])), flush=True)
