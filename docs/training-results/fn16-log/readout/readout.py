"""Post-hoc: class readout by sum vs median vs trimmed mean vs sum of log(1 + count) of the per-neuron counts. python median.py MODEL SEED [CHIPS_SEED=8] [SPLIT=val]"""
# One-off, as run on 2026-12-06 12:50 UTC; outputs: test.txt (section 4.5 test models fn16log/sS = fn16-log/sS, acceptance chips) and selection.txt (selection models and chips)
import sys, numpy as np, torch
from hil.train.model import Model
from hil.train.evaluate import unseen_chips, model_weights, model_params, chip_instances
from hil.sim import simulate
from hil.tasks import accuracy, get_task
torch.set_num_threads(1)
path, seed = sys.argv[1], int(sys.argv[2]); chips_seed = int(sys.argv[3]) if len(sys.argv) > 3 else 8; split = sys.argv[4] if len(sys.argv) > 4 else "val"
m = Model.load(path); data = getattr(get_task("frozen-noise-16", seed), split)
w_in, w_rec = model_weights(m)
chips = unseen_chips(1, level=0.0) + unseen_chips(36, seed=chips_seed)  # first: nominal (no mismatch)
p, w = chip_instances(model_params(m), w_in, w_rec, m.core_of, chips)
outs = []
with torch.no_grad():
    for i in range(0, len(data), 128):
        x = torch.as_tensor(data.x[i:i+128], dtype=torch.float32)
        s = simulate(p, w, x, m.dt).spikes.sum(2)  # (chips, batch, N)
        outs.append(torch.stack([s[..., c] for c in m.outputs], -2).numpy())  # (chips, batch, classes, k)
c = np.concatenate(outs, 1)
y = data.y
def acc(score):
    return accuracy(score, y)  # hil's rule: a tie is no prediction (wrong)
k = c.shape[-1]
srt = np.sort(c, -1)
t = max(1, k // 4)
for name, sc in [("sum", c.sum(-1)), ("median", np.median(c, -1)), ("trim25", srt[..., t:k - t].mean(-1) if k > 2 else c.mean(-1)),
                 ("logsum", np.log1p(c).sum(-1))]:
    a = acc(sc if name in ("sum", "logsum") else sc + 1e-6 * c.sum(-1))  # median, trimmed: ties broken by the sum
    print(path.split("/")[-1], seed, split, chips_seed, name, "nominal %.1f chips %.1f min %.1f" % (100 * a[0], 100 * a[1:].mean(), 100 * a[1:].min()))
