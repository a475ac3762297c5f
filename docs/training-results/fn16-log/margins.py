# output: margins.txt (models from exp.sh and ../fn16-seeds/twin/train.sh; not kept)
# As run on the code of 2026-12-06 10:xx; hil.train.evaluate.output_counts has since become
# neuron_counts + hil.train.model.class_scores (section 4.7), so today it needs that change to run.
"""Nominal class counts on the test split: the right class's count, the strongest wrong class's, their ratio."""
import numpy as np
from hil.tasks import get_task
from hil.train.model import Model
import torch
from hil.sim import Weights
from hil.train.evaluate import output_counts, model_params
import sys
for path in sys.argv[1:]:
    m = Model.load(path); cfg = m.training["config"]
    t = get_task(cfg["task"], cfg["seed"], **(cfg.get("task_options") or {}))
    w = Weights.from_signed(torch.as_tensor(m.w_in), torch.as_tensor(m.w_rec), scale=1.0)
    c = output_counts(m, model_params(m), w, t.test)[0]
    y = t.test.y
    right = c[np.arange(len(y)), y]
    wrong = c.copy(); wrong[np.arange(len(y)), y] = -1; top_wrong = wrong.max(1)
    mean_wrong = (c.sum(1) - right) / (c.shape[1] - 1)
    print(f"{path.split('/')[-3:]}: right {right.mean():.1f}, strongest wrong {top_wrong.mean():.1f}, mean wrong {mean_wrong.mean():.2f}, median ratio (1+right)/(1+strongest wrong) {np.median((1+right)/(1+top_wrong)):.1f}")
