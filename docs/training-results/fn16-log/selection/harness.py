# One-off selection script as run on 2026-12-06 (outputs went to /tmp/d/h; these *-eval.json are its outputs): python harness.py VARIANT SEED TASK
# Note (docs/training.md 4.5, correction): the log patch below stacked on the trainer's own log once the `logits` setting existed
# (frozen-noise-16 defaulting to log-counts): the runs whose models record logits: log-counts trained on log(1 + log(1 + counts)).
"""Compare training variants: selection on validation split + selection chips (unseen_chips seed=8)."""
import sys, json, numpy as np, torch, dataclasses
from hil.train.trainer import TrainConfig, train
import hil.train.trainer as T
from hil.train.robust import Prior, noisy_params, fitted_prior
FIT='/work/main/docs/training-results/digits-fitted/mismatch-emu6100.json'
from hil.train.model import Model
from hil.train.evaluate import unseen_chips, chip_accuracies, float_accuracy
from hil.tasks import get_task, accuracy
torch.set_num_threads(1)
name, seed = sys.argv[1], int(sys.argv[2])
V = {
 "none": dict(robust="none"),
 "noise": dict(robust="noise"),
 "noise_i8": dict(robust="noise", instances=8),
 "noise_s20": dict(robust="noise", prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "noise_i8_s20": dict(robust="noise", instances=8, prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "noise_i8_s15": dict(robust="noise", instances=8, prior=Prior(sigma_currents=0.15, sigma_weights=0.15)),
 "adv": dict(robust="adversarial"),
 "noise_i32": dict(robust="noise", instances=32),
 "fit_i32": dict(robust="noise", instances=32, prior=fitted_prior(FIT)),
 "noise_i16_e40": dict(robust="noise", instances=16, epochs=40),
 "noise_i32_s20": dict(robust="noise", instances=32, prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "noise_i32_s30": dict(robust="noise", instances=32, prior=Prior(sigma_currents=0.3, sigma_weights=0.3)),
 "noise_i8_s30": dict(robust="noise", instances=8, prior=Prior(sigma_currents=0.3, sigma_weights=0.3)),
 "noise_i8_s20_pc8": dict(robust="noise", instances=8, per_class=8, prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "noise_i8_s20_e40": dict(robust="noise", instances=8, epochs=40, prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "none_pc8": dict(robust="none", per_class=8),
 "fit": dict(robust="noise", prior=fitted_prior(FIT)),
 "fit_i8": dict(robust="noise", instances=8, prior=fitted_prior(FIT)),
 "log4_none": dict(robust="none", logit_scale=4.0),
 "log2_none": dict(robust="none", logit_scale=2.0),
 "log1_noise_i2_s20_pc8": dict(robust="noise", instances=2, logit_scale=1.0, per_class=8, prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "log1_noise_i2_s20_e40": dict(robust="noise", instances=2, logit_scale=1.0, epochs=40, prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "log1_noise_i2_s10": dict(robust="noise", instances=2, logit_scale=1.0, prior=Prior(sigma_currents=0.1, sigma_weights=0.1)),
 "log1_noise_i1_s20": dict(robust="noise", instances=1, logit_scale=1, prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "log1_noise_i4_s20": dict(robust="noise", instances=4, logit_scale=1, prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "log1_noise_i2_s30": dict(robust="noise", instances=2, logit_scale=1, prior=Prior(sigma_currents=0.3, sigma_weights=0.3)),
 "log0.5_noise_i2_s20": dict(robust="noise", instances=2, logit_scale=0.5, prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "log2_noise_i2_s20": dict(robust="noise", instances=2, logit_scale=2, prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "log1_noise_i2_s15": dict(robust="noise", instances=2, logit_scale=1, prior=Prior(sigma_currents=0.15, sigma_weights=0.15)),
 "log1_noise_i2_s25": dict(robust="noise", instances=2, logit_scale=1, prior=Prior(sigma_currents=0.25, sigma_weights=0.25)),
 "log0.5_noise_i8_s20": dict(robust="noise", instances=8, logit_scale=0.5, prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "log0.25_noise_i8_s20": dict(robust="noise", instances=8, logit_scale=0.25, prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "log1_noise_i8_s10": dict(robust="noise", instances=8, logit_scale=1.0, prior=Prior(sigma_currents=0.1, sigma_weights=0.1)),
 "log1_noise_i8_s30": dict(robust="noise", instances=8, logit_scale=1.0, prior=Prior(sigma_currents=0.3, sigma_weights=0.3)),
 "log1_noise_i2_s20": dict(robust="noise", instances=2, logit_scale=1.0, prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "log0.5_none": dict(robust="none", logit_scale=0.5),
 "log1_none": dict(robust="none", logit_scale=1.0),
 "log1_noise_i8_s20": dict(robust="noise", instances=8, logit_scale=1.0, prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "log2_noise_i8_s10": dict(robust="noise", instances=8, logit_scale=2.0, prior=Prior(sigma_currents=0.1, sigma_weights=0.1)),
 "log8_none": dict(robust="none", logit_scale=8.0),
 "log16_none": dict(robust="none", logit_scale=16.0),
 "log4_noise_i2_s10": dict(robust="noise", instances=2, logit_scale=4.0, prior=Prior(sigma_currents=0.1, sigma_weights=0.1)),
 "log8_noise_i8_s20": dict(robust="noise", instances=8, logit_scale=8.0, prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "log4_noise_i8_s20": dict(robust="noise", instances=8, logit_scale=4.0, prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "log2_noise_i8_s20": dict(robust="noise", instances=8, logit_scale=2.0, prior=Prior(sigma_currents=0.2, sigma_weights=0.2)),
 "log4_noise_i8_s10": dict(robust="noise", instances=8, logit_scale=4.0, prior=Prior(sigma_currents=0.1, sigma_weights=0.1)),
}
if name.startswith("log"):
    _oc = T.output_counts
    T.output_counts = lambda *a, **k: torch.log1p(_oc(*a, **k))
robust_sel = name.endswith("_rsel")
base = name[:-5] if robust_sel else name
kw = dict(V[base]); task = sys.argv[3] if len(sys.argv) > 3 else "digits"
cfg = TrainConfig(task=task, seed=seed, **kw)
if robust_sel:
    orig = T.evaluate_split
    def ev(net, split, dt, batch=256):
        if split is not T_task.val: return orig(net, split, dt, batch)
        with torch.no_grad():
            p = noisy_params(net.params(), 8, cfg.prior, 12345)
            w_in, w_rec = net.effective_weights()
            outs = []
            for i in range(0, len(split), batch):
                x = torch.as_tensor(split.x[i:i+batch], dtype=torch.float32)
                outs.append(T.output_counts(net, x, p, w_in, w_rec, dt, 0.0).numpy())
            c = np.concatenate(outs, 1)
            return float(np.mean(accuracy(c, split.y)))
    T.evaluate_split = ev
T_task = get_task(task, seed)
out = f"/tmp/d/h/{task}-{name}-s{seed}.json"
model, summ = train(cfg, out)
m = Model.load(out)
sel = unseen_chips(36, seed=8)
r = {"name": name, "seed": seed, "task": task, "cpu_s": summ["cpu_s"],
     "float_val": float_accuracy(m, T_task.val), "float_test": float_accuracy(m, T_task.test),
     "sel_val": chip_accuracies(m, T_task.val, sel).tolist()}
json.dump(r, open(out.replace(".json", "-eval.json"), "w"))
print(name, seed, "cpu %.0f float_val %.1f sel_val %.1f" % (summ["cpu_s"], 100*r["float_val"], 100*np.mean(r["sel_val"])))
