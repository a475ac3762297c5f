"""One-off: train frozen-noise-16 with the class score = sum over the class's neurons of log(1 + count)
# One-off, as run on 2026-12-06 ~13:20 UTC; outputs: train_logsum.txt and fn16-logsum-*-eval.json here
(monkeypatched trainer.output_counts; logits 'counts' x SCALE), then score the selection chips with
that readout. python h4.py PER_CLASS SCALE SEED"""
import sys, json, numpy as np, torch
import hil.train.trainer as T
from hil.train.trainer import TrainConfig, train
from hil.train.model import Model
from hil.train.evaluate import unseen_chips, model_weights, model_params, chip_instances
from hil.sim import simulate
from hil.tasks import accuracy, get_task
torch.set_num_threads(1)
pc, scale, seed = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])

def output_counts(net, x, params, w_in, w_rec, dt, rec_grad):
    res = simulate(params, net.weights(w_in, w_rec), x, dt, rec_grad=rec_grad)
    lay = net.layout
    out = res.spikes[..., lay.hidden:].sum(2)
    return torch.log1p(out.reshape(*out.shape[:-1], lay.n_classes, lay.per_class)).sum(-1)
T.output_counts = output_counts
cfg = TrainConfig(task="frozen-noise-16", robust="noise", seed=seed, per_class=pc, logits="counts", logit_scale=scale)
out = f"/tmp/d/h2/fn16-logsum-pc{pc}-a{scale}-s{seed}.json"
model, summ = train(cfg, out)
m = Model.load(out); data = get_task("frozen-noise-16", seed).val
w_in, w_rec = model_weights(m)
chips = unseen_chips(1, level=0.0) + unseen_chips(36, seed=8)
p, w = chip_instances(model_params(m), w_in, w_rec, m.core_of, chips)
outs = []
with torch.no_grad():
    for i in range(0, len(data), 128):
        x = torch.as_tensor(data.x[i:i+128], dtype=torch.float32)
        s = simulate(p, w, x, m.dt).spikes.sum(2)
        outs.append(torch.stack([torch.log1p(s[..., c]).sum(-1) for c in m.outputs], -1).numpy())
a = accuracy(np.concatenate(outs, 1), data.y)
r = {"per_class": pc, "scale": scale, "seed": seed, "cpu_s": summ["cpu_s"], "nominal_val": float(a[0]), "sel_val": a[1:].tolist()}
json.dump(r, open(out.replace(".json", "-eval.json"), "w"))
print(f"logsum pc{pc} a{scale} s{seed} cpu {summ['cpu_s']:.0f} nominal {100*a[0]:.1f} chips {100*a[1:].mean():.1f} min {100*a[1:].min():.1f}", flush=True)
