"""Re-score section 4.7's test models on the 36 acceptance chips with the shipped code (log-sum ties rounded,
hil.train.model.LOG_SUM_DECIMALS) and compare with the experiment's results files (scored before that
rounding existed); also count the samples whose log-sum top score was a tie only after rounding. python recheck.py DIR"""
import json, sys
from pathlib import Path
import numpy as np, torch
from hil.tasks import get_task
from hil.train.evaluate import chip_instances, model_params, model_weights, neuron_counts, unseen_chips
from hil.train.model import Model, class_scores
from hil.tasks import accuracy
torch.set_num_threads(1)
root = Path(sys.argv[1])
for s in range(20, 25):
    res = json.loads((root / f"s{s}/frozen-noise-16-results.json").read_text())
    data = get_task("frozen-noise-16", s).test
    for mode in ("none", "noise"):
        m = Model.load(root / f"s{s}/frozen-noise-16-{mode}.json")
        w_in, w_rec = model_weights(m)
        p, w = chip_instances(model_params(m), w_in, w_rec, m.core_of, unseen_chips(36, seed=7))
        n = neuron_counts(m, p, w, data)
        now = np.asarray(accuracy(class_scores(n, m.outputs, m.decode), data.y))
        raw = np.stack([np.log1p(n[..., c].astype(float)).sum(-1) for c in m.outputs], -1)  # unrounded
        before = np.asarray(accuracy(raw, data.y))
        was = np.asarray(res["modes"][mode]["chip_accuracies"])
        print(s, mode, "results file %.4f, unrounded %.4f, shipped %.4f, max |diff| per chip vs file %.4f" % (
            was.mean(), before.mean(), now.mean(), np.abs(now - was).max()), flush=True)
