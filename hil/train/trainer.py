"""BPTT training through hil.sim under the chip's constraints, with checkpoints and resume.

    cfg = TrainConfig(task="digits", robust="noise")
    model, summary = train(cfg, out="model.json")   # writes model.json + model.npz

Every `epoch` draws the task's training split for that epoch, shuffles it with (seed, epoch) and
steps Adam over mini-batches; the loss is the cross-entropy of the output layer's spike counts
(`class_logits`: `logit_scale` times the counts, log(1 + counts) or log(1 + log(1 + counts)))
plus, for `adversarial`, beta times the attack's KL (hil.train.robust). After each epoch the
validation accuracy is measured at nominal parameters, decoded as the model will be (`decode`,
hil.train.model.class_scores), and the best epoch's weights are kept; a checkpoint
(`<out stem>.ckpt.pt`: network, optimizer, best weights, epoch, elapsed time, configuration) is
written atomically. `resume=True` loads it and continues with the next epoch, so an interrupted
run ends where an uninterrupted one would (tests/test_train.py).
All randomness derives from (seed, epoch, batch): data, shuffles, noise draws, attacks.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from hil import progress
from hil.artifacts import read_bytes, write_atomic
from hil.chip.netlist import PARAMETERS
from hil.errors import ConfigError
from hil.sim import NeuronParams, simulate
from hil.tasks import Split, Task, accuracy, get_task
from hil.train import MODES, check_decode, check_logits
from hil.train.evaluate import model_params, neuron_counts
from hil.train.model import Model, class_scores
from hil.train.network import SCALE, ChipNet, Layout, core_steps, masks_of
from hil.train.robust import (
    Adversary,
    Prior,
    assumed_prior,
    attack,
    kl,
    noisy_params,
    prior_weight_factors,
)

CKPT_SCHEMA = "hil.train.checkpoint/1"

# Per task: layout and training length that fit the 15-minute budget on 2 cores (docs/training.md),
# the loss's logits, the model's decoding, and the robust modes' instances per step and assumed
# prior spread where they differ from ROBUST_DEFAULTS.
DEFAULTS: dict[str, dict] = {
    "frozen-noise": {
        "hidden": 0,
        "recurrent": False,
        "per_class": 1,
        "epochs": 30,
        "batch": 2,
        "lr": 0.05,
        "logits": "counts",
        "logit_scale": 0.5,
        "decode": "sum",
    },
    "frozen-noise-16": {
        "hidden": 0,
        "recurrent": False,
        "per_class": 16,  # with decode, chosen on held-out chips (docs/training.md 4.7)
        "epochs": 20,
        "batch": 32,
        "lr": 0.05,
        "logits": "log-counts",  # these three chosen on held-out chips (docs/training.md 4.5)
        "logit_scale": 1.0,
        "decode": "log-sum",
        "spread": 0.2,
    },
    "digits": {
        "hidden": 0,
        "recurrent": False,
        "per_class": 8,
        "epochs": 20,
        "batch": 64,
        "lr": 0.05,
        "logits": "counts",
        "logit_scale": 0.25,
        "decode": "sum",
    },
}


ROBUST_DEFAULTS = {"instances": 2, "spread": Prior.sigma_currents}  # the documented prior's
# Starting from a trained model (`init`): a short run at a fifth of the learning rate, so that the
# network stays near the model it starts from (docs/training.md section 4.6).
INIT_DEFAULTS = {"epochs": 10, "lr": 0.01}


def task_prior(task: str, spread: float | None = None) -> Prior:
    """The assumed prior of `task`'s robust modes: relative spread `spread`, else the task's."""
    default = DEFAULTS.get(task, {}).get("spread", ROBUST_DEFAULTS["spread"])
    return assumed_prior(default if spread is None else spread)


@dataclass(frozen=True)
class TrainConfig:
    """What to train and how. None means the task's default (DEFAULTS)."""

    task: str = "digits"
    robust: str = "none"
    seed: int = 0
    epochs: int | None = None
    batch: int | None = None
    lr: float | None = None
    hidden: int | None = None
    recurrent: bool | None = None
    per_class: int | None = None
    quantize: bool = False
    train_currents: tuple[str, ...] = ("Itau_mem", "Igain_mem", "Itau_syn")
    currents_every: int = 10
    instances: int | None = None
    logits: str | None = None
    logit_scale: float | None = None
    decode: str | None = None
    rec_grad: float = 1.0
    init: str | None = None  # a hil.model/1 JSON of the same task and layout to start from
    task_options: dict = field(default_factory=dict)  # hil.tasks.get_task options
    prior: Prior | None = None  # None: task_prior(task)
    adversary: Adversary = field(default_factory=Adversary)

    def __post_init__(self) -> None:
        if self.robust not in MODES:
            raise ConfigError("robust", self.robust, "one of " + ", ".join(MODES))
        if self.instances is not None and not (
            isinstance(self.instances, int) and 1 <= self.instances <= 64
        ):
            raise ConfigError("instances", self.instances, "an integer 1..64")
        if self.logits is not None:
            check_logits(self.logits)
        if self.decode is not None:
            check_decode(self.decode)
        if self.logit_scale is not None and not (0 < self.logit_scale < float("inf")):
            raise ConfigError("logit_scale", self.logit_scale, "a finite number > 0")
        if not (isinstance(self.currents_every, int) and self.currents_every >= 1):
            raise ConfigError("currents_every", self.currents_every, "an integer >= 1")

    def resolved(self) -> dict:
        """Every setting with the task defaults filled in (JSON-able)."""
        d = asdict(self)
        defaults = ROBUST_DEFAULTS | DEFAULTS.get(self.task, {})
        if self.init is not None:
            defaults |= INIT_DEFAULTS
        for k, v in defaults.items():
            if k in d and d[k] is None:
                d[k] = v
        d["train_currents"] = list(self.train_currents)
        d["prior"] = self.resolved_prior().to_dict()
        return d

    def resolved_prior(self) -> Prior:
        """The prior the robust modes draw from: `prior`, else the task's (task_prior)."""
        return self.prior if self.prior is not None else task_prior(self.task)


def output_counts(
    net: ChipNet,
    x: torch.Tensor,
    params: NeuronParams,
    w_in: torch.Tensor,
    w_rec: torch.Tensor,
    dt: float,
    rec_grad: float,
) -> torch.Tensor:
    """Spike counts per class (instances, batch, classes) for inputs (batch, T, C): the counts of
    each class's output neurons together."""
    res = simulate(params, net.weights(w_in, w_rec), x, dt, rec_grad=rec_grad)
    lay = net.layout
    out = res.spikes[..., lay.hidden :].sum(2)
    return out.reshape(*out.shape[:-1], lay.n_classes, lay.per_class).sum(-1)


def class_logits(counts: torch.Tensor, logits: str, scale: float) -> torch.Tensor:
    """What the loss's softmax scores, from class spike counts (..., classes): `counts`: `scale` x
    counts, so the difference of two classes' counts decides; `log-counts`: `scale` x log(1 +
    counts), so their ratio does, which a per-neuron gain (mismatch of a neuron's synaptic
    efficacy) moves less; `log-log-counts`: `scale` x log(1 + log(1 + counts)), flatter still at
    high counts (docs/training.md 4.8). Accuracy is the argmax either way."""
    check_logits(logits)
    if logits == "counts":
        return scale * counts
    u = torch.log1p(counts)
    return scale * (torch.log1p(u) if logits == "log-log-counts" else u)


def class_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The task loss training minimizes: mean cross-entropy of `logits` (..., batch, classes)
    (class_logits) against the labels y (batch,) (every leading index, e.g. each chip instance,
    against the same labels)."""
    target = y.expand(logits.shape[:-1])
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.flatten())


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def step_loss(
    net: ChipNet,
    cfg: dict,
    prior: Prior,
    adv: Adversary,
    x: torch.Tensor,
    y: torch.Tensor,
    dt: float,
    seed: int,
    train_currents: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of one mini-batch and the natural logits (instances, batch, classes)."""
    mode = cfg["robust"]
    params = net.params()
    if not train_currents:
        params = params.replace(**{k: v.detach() for k, v in params.tensors().items()})
    w_in, w_rec = net.effective_weights()
    if mode != "none":
        params = noisy_params(params, cfg["instances"], prior, seed)
    if mode == "noise":
        f_in, f_rec = prior_weight_factors((tuple(w_in.shape), tuple(w_rec.shape)), prior, seed + 1)
        w_in, w_rec = w_in * f_in, w_rec * f_rec

    def logits_of(theta: list[torch.Tensor], inputs: torch.Tensor = x) -> torch.Tensor:
        out = output_counts(net, inputs, params, theta[0], theta[1], dt, cfg["rec_grad"])
        return class_logits(out, cfg["logits"], cfg["logit_scale"])

    logits = logits_of([w_in, w_rec])
    loss = class_loss(logits, y)
    if mode == "adversarial":  # the attack and its KL term on the first attack_batch samples
        gen = torch.Generator().manual_seed(seed + 2)
        xa = x[: adv.batch]

        def attacked(theta: list[torch.Tensor]) -> torch.Tensor:
            return logits_of(theta, xa)

        clean = logits[:, : adv.batch]
        delta = attack(attacked, [w_in, w_rec], clean, adv, gen)
        loss = loss + adv.beta * kl(clean, attacked([w_in + delta[0], w_rec + delta[1]]))
    return loss, logits


def evaluate_split(net: ChipNet, split: Split, dt: float, decode: str, batch: int = 256) -> float:
    """Accuracy at nominal parameters (no mismatch) of the effective weights, the class scores
    decoded by `decode` (hil.train.model.class_scores)."""
    with torch.no_grad():
        w = net.weights(*net.effective_weights())
        counts = neuron_counts(net.params(), w, split, dt, batch)[0]
    return float(accuracy(class_scores(counts, net.layout.outputs, decode), split.y))


def build_net(cfg: dict, task: Task) -> ChipNet:
    """The network of `cfg`: random weights and nominal currents, or, with `cfg["init"]`, that
    model's weights and currents (start_model)."""
    layout = Layout(
        task.n_inputs,
        task.n_classes,
        int(cfg["hidden"]),
        bool(cfg["recurrent"]),
        int(cfg["per_class"]),
    )
    if cfg["init"] is None:
        return ChipNet(layout, cfg["train_currents"], cfg["quantize"], cfg["seed"])
    model = start_model(cfg["init"], task, layout)
    net = ChipNet(
        layout, cfg["train_currents"], cfg["quantize"], cfg["seed"], params=model_params(model)
    )
    with torch.no_grad():
        net.w_in.copy_(torch.as_tensor(model.w_in / SCALE, dtype=net.w_in.dtype))
        net.w_rec.copy_(torch.as_tensor(model.w_rec / SCALE, dtype=net.w_rec.dtype))
    return net


def _init_sha256(init: str, out: str | Path) -> str:
    """SHA-256 of the model training starts from (its JSON records its NPZ's hash): what a resume
    checks, so the same model under another path text resumes and another file does not."""
    if Path(init).resolve() == Path(out).resolve():
        raise ConfigError("init", init, "a model other than the one this training writes (--out)")
    return hashlib.sha256(read_bytes(init, "model")).hexdigest()


def task_record(task: Task) -> dict:
    """What a model records of the task it was trained on (Model.task)."""
    return task.spec | {"T": task.T, "n_classes": task.n_classes}


def start_model(path: str | Path, task: Task, layout: Layout) -> Model:
    """The model at `path` if it was trained on `task` (the same split seed: another seed's
    training data holds this seed's test samples) with `layout`; else a ConfigError."""
    name = Path(path).name
    try:
        model = Model.load(path)
    except ConfigError as e:
        raise ConfigError("init", f"{name}: {e}", "a hil.model/1 model (hil train --out)") from None
    wanted = task_record(task)
    differ = sorted(
        k for k in wanted.keys() | model.task.keys() if wanted.get(k) != model.task.get(k)
    )
    if differ:  # name what tells tasks apart first
        differ = [k for k in ("name", "k", "seed") if k in differ] or differ[:3]
        theirs = ", ".join(f"{k} {model.task.get(k)}" for k in differ)
        ours = ", ".join(f"{k} {wanted.get(k)}" for k in differ)
        raise ConfigError("init", f"{name} ({theirs})", f"a model of task {task.name} ({ours})")
    m_in, m_rec = (m.numpy() == 0 for m in layout.masks())  # where the layout has no synapse
    same = (
        model.w_in.shape == m_in.shape
        and model.w_rec.shape == m_rec.shape
        and np.array_equal(model.core_of, layout.core_of())
        and model.outputs == layout.outputs
        and not model.w_in[m_in].any()
        and not model.w_rec[m_rec].any()  # e.g. a recurrent model into a feed-forward layout
    )
    if not same:
        raise ConfigError(
            "init",
            f"{name} ({model.n_neurons} neurons)",
            f"a model of this layout ({layout.n_neurons} neurons: hidden {layout.hidden}, "
            f"{layout.per_class} a class, recurrent {layout.recurrent})",
        )
    return model


def checkpoint_path(out: str | Path) -> Path:
    return Path(out).with_suffix(".ckpt.pt")


def _save_checkpoint(path: Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    write_atomic(path, buf.getvalue())


def _load_checkpoint(path: Path, cfg: dict) -> dict:
    blob = read_bytes(path, "checkpoint", limit=1 << 30)
    try:
        state = torch.load(io.BytesIO(blob), weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad checkpoint
        raise ConfigError("checkpoint", path.name, f"a {CKPT_SCHEMA} file ({e})") from None
    if not isinstance(state, dict) or state.get("schema") != CKPT_SCHEMA:
        raise ConfigError("checkpoint", path.name, f"a {CKPT_SCHEMA} file")
    # a checkpoint written before `logits`, `init` and `decode` were settings was trained on counts,
    # from random weights, and kept the best epoch by summed counts
    old = {"logits": "counts", "init": None, "init_sha256": None, "decode": "sum"}
    stored = old | (state.get("config") or {})
    # the model a run started from is its hash; its path is only how this run named it
    diff = sorted(k for k in cfg.keys() - {"init"} if stored.get(k) != cfg[k])
    if diff:
        was = ", ".join(f"{k} {stored.get(k)!r}" for k in diff)
        raise ConfigError(
            "checkpoint",
            f"settings differ: {diff}",
            f"the checkpoint's settings to resume ({was}; docs/training.md section 4 says how to "
            "set an earlier default)",
        )
    return state


def to_model(net: ChipNet, task: Task, training: dict) -> Model:
    """The trained network as a hil.model/1 artifact (weights in amperes, currents per core),
    decoded as training's configuration says (training["config"]["decode"], else "sum")."""
    with torch.no_grad():
        w_in, w_rec = net.effective_weights()
        params = net.params()
        core_of = net.core_of.numpy()
        first = [int(np.flatnonzero(core_of == c)[0]) for c in range(net.n_cores)]
        currents = []
        for n in first:
            cur = {}
            for p in PARAMETERS:
                if p.unit != "A":
                    continue
                t = getattr(params, p.name)[0]
                for i, e in enumerate(p.elements()):
                    cur[e] = float(t[i, n] if p.per_synapse else t[n])
            currents.append(cur)
        quantized = None
        if net.quantize:
            s = core_steps(w_in, w_rec, net.core_of, net.n_cores)
            iw = (s[:, None] * torch.tensor([1.0, 2.0, 4.0, 8.0]) * SCALE).numpy()
            sn = s[net.core_of]
            quantized = {"iw": iw, "masks_in": masks_of(w_in, sn), "masks_rec": masks_of(w_rec, sn)}
        outputs = net.layout.outputs
        return Model(
            w_in=w_in.numpy() * SCALE,
            w_rec=w_rec.numpy() * SCALE,
            core_of=core_of,
            currents=currents,
            outputs=outputs,
            dt=task.dt,
            task=task_record(task),
            training=training,
            quantized=quantized,
            decode=(training.get("config") or {}).get("decode", "sum"),
        )


def train(
    config: TrainConfig,
    out: str | Path,
    resume: bool = False,
    max_epochs_now: int | None = None,
) -> tuple[Model, dict]:
    """Train `config`, write the model to `out` (+ NPZ) and a checkpoint beside it; return the
    model and a summary. `resume`: continue from the checkpoint when there is one.
    `max_epochs_now`: stop after that many epochs in this call (the checkpoint stays; a later
    resume goes on), for interruption tests and time-sliced runs."""
    cfg = config.resolved()
    cfg["init_sha256"] = None if config.init is None else _init_sha256(config.init, out)
    prior = config.resolved_prior()
    task = get_task(config.task, config.seed, **config.task_options)
    torch.manual_seed(config.seed)
    net = build_net(cfg, task)
    opt = torch.optim.Adam(net.parameters(), lr=float(cfg["lr"]))
    ckpt = checkpoint_path(out)
    start, elapsed, cpu, best_val, best_state, history = 0, 0.0, 0.0, -1.0, None, []
    if resume and ckpt.exists():
        state = _load_checkpoint(ckpt, cfg)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        start, elapsed = int(state["epoch"]) + 1, float(state["elapsed_s"])
        cpu = float(state.get("cpu_s", 0.0))
        best_val, best_state = float(state["best_val"]), state["best"]
        history = [list(map(float, h)) for h in state["history"]]
    epochs = int(cfg["epochs"])
    stop = epochs if max_epochs_now is None else min(epochs, start + max_epochs_now)
    for epoch in progress.bar(range(start, stop), desc=f"train {config.task} ({config.robust})"):
        t0, c0 = time.perf_counter(), time.process_time()
        for group in opt.param_groups:  # cosine decay to 5 %, a function of the epoch alone
            group["lr"] = float(cfg["lr"]) * float(
                0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * epoch / epochs))
            )
        split = task.train(epoch)
        order = np.random.default_rng([config.seed, epoch]).permutation(len(split))
        batch, losses = int(cfg["batch"]), []
        for b, i in enumerate(range(0, len(order), batch)):
            idx = np.sort(order[i : i + batch])
            x = torch.as_tensor(split.x[idx], dtype=torch.float32)
            y = torch.as_tensor(split.y[idx])
            step = epoch * -(-len(order) // batch) + b  # global step number
            loss, _ = step_loss(
                net,
                cfg,
                prior,
                config.adversary,
                x,
                y,
                task.dt,
                _seed(config.seed, epoch, b),
                bool(cfg["train_currents"]) and step % config.currents_every == 0,
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        val = evaluate_split(net, task.val, task.dt, cfg["decode"])
        if val > best_val:
            best_val = val
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        elapsed += time.perf_counter() - t0
        cpu += time.process_time() - c0
        history.append([epoch, float(np.mean(losses)), val])
        _save_checkpoint(
            ckpt,
            {
                "schema": CKPT_SCHEMA,
                "config": cfg,
                "epoch": epoch,
                "elapsed_s": elapsed,
                "cpu_s": cpu,
                "net": net.state_dict(),
                "opt": opt.state_dict(),
                "best_val": best_val,
                "best": best_state,
                "history": history,
            },
        )
    done = len(history) > 0 and int(history[-1][0]) + 1 >= epochs
    if best_state is not None:
        net.load_state_dict(best_state)
    test = evaluate_split(net, task.test, task.dt, cfg["decode"])
    training = {
        "config": cfg,
        "prior": prior.to_dict(),
        "epochs_done": int(history[-1][0]) + 1 if history else 0,
        "complete": done,
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "best_val_accuracy": best_val,
        "test_accuracy": test,
        "history": history,
    }
    model = to_model(net, task, training)
    model.save(out)
    return model, {
        "task": config.task,
        "robust": config.robust,
        "val_accuracy": best_val,
        "test_accuracy": test,
        "epochs_done": training["epochs_done"],
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "complete": done,
    }
