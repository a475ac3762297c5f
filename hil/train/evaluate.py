"""A trained model across many emulated chips, in simulation (issue 10 acceptance "many chips").

    params, weights = model_network(model)               # what the chip would hold, nominal
    chips = unseen_chips(12, seed=7)                        # ChipSpec list, unlike the prior
    acc = chip_accuracies(model, task.test, chips)        # (chips,) accuracy per chip
    paired_ci(acc_robust, acc_standard)                   # mean difference and its 95 % t-interval

A chip here is one draw of frozen mismatch: every bias current of every neuron times a per-core
factor (lognormal, `sigma_core`) times a per-neuron factor (`family`, `sigma_currents`), and every
synaptic weight times its own factor (`family`, `sigma_weights`); hil.chip.mismatch.draw_factors
draws them. `unseen_chips` spreads families (lognormal, uniform, normal) and levels (5-20 %) and adds
the per-core factor, none of which the training prior (normal 10 %, no core factor) has; its seeds
are disjoint from training's. Weights come from the quantized form (base weights x masks) when the
model has one, else the float weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from hil.chip.mismatch import FAMILIES, draw_factors
from hil.chip.netlist import PARAMETERS
from hil.errors import ConfigError
from hil.sim import NeuronParams, Weights, simulate
from hil.tasks import Split, accuracy
from hil.train.model import Model, class_scores


@dataclass(frozen=True)
class ChipSpec:
    """One emulated chip's mismatch (module docstring); `seed` fixes the draw."""

    family: str
    sigma_currents: float
    sigma_weights: float
    sigma_core: float
    seed: int

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError("family", self.family, "one of " + ", ".join(FAMILIES))

    def to_dict(self) -> dict:
        return asdict(self)


def unseen_chips(n: int = 12, seed: int = 7, level: float | None = None) -> list[ChipSpec]:
    """`n` chips the training never saw: families cycle lognormal/uniform/normal; current and
    weight spreads uniform in 5..20 % (or exactly `level` for both), per-core factor 5 %."""
    rng = np.random.default_rng([seed, 99])
    out = []
    for i in range(n):
        fam = ("lognormal", "uniform", "normal")[i % 3]
        sc, sw = (level, level) if level is not None else rng.uniform(0.05, 0.2, 2)
        core = 0.05 if level is None else level / 2
        out.append(ChipSpec(fam, float(sc), float(sw), float(core), 10_000 + 100 * seed + i))
    return out


def model_weights(model: Model) -> tuple[np.ndarray, np.ndarray]:
    """Signed weight currents [A] (w_in, w_rec) as the chip holds them: from the base weights and
    4-bit masks when the model is quantized (sign from the float weights), else the float ones."""
    q = model.quantized
    if not q or not {"iw", "masks_in", "masks_rec"} <= set(q):
        return model.w_in.astype(np.float64), model.w_rec.astype(np.float64)
    bits = 1 << np.arange(4)
    iw = np.asarray(q["iw"], dtype=np.float64)[model.core_of]  # (N, 4) per post neuron

    def decode(masks: np.ndarray, w: np.ndarray) -> np.ndarray:
        on = (masks[..., None].astype(np.int64) & bits) > 0  # (pre, N, 4)
        return np.sign(w) * (on * iw[None]).sum(-1)

    return decode(q["masks_in"], model.w_in), decode(q["masks_rec"], model.w_rec)


def model_params(model: Model) -> NeuronParams:
    """Nominal per-neuron parameters (1 instance) from the model's per-core currents."""
    names = {e for p in PARAMETERS if p.unit == "A" for e in p.elements()}
    missing = sorted(names - set(model.currents[0])) if model.currents else []
    if missing:
        raise ConfigError("model currents", missing[:3], "every bias current by simulation name")
    per_neuron: dict[str, object] = {
        e: np.array([model.currents[c][e] for c in model.core_of])[None, :] for e in names
    }
    return NeuronParams.from_currents(per_neuron, model.n_neurons)


def chip_instances(
    params: NeuronParams,
    w_in: np.ndarray,
    w_rec: np.ndarray,
    core_of: np.ndarray,
    chips: list[ChipSpec],
) -> tuple[NeuronParams, Weights]:
    """Params (chips, N) and Weights (chips, ...) of every chip in `chips`."""
    base = params.expand(len(chips))
    fields = {p.name: getattr(base, p.name).clone() for p in PARAMETERS if p.unit == "A"}
    fw_in, fw_rec = [], []
    n_cores = int(core_of.max()) + 1
    for i, chip in enumerate(chips):
        rng = np.random.default_rng(chip.seed)
        for t in fields.values():
            shape = tuple(t[i].shape)  # (N,) or (4, N)
            f_core = np.exp(chip.sigma_core * rng.standard_normal((*shape[:-1], n_cores)))
            f = draw_factors(rng, chip.family, chip.sigma_currents, shape) * f_core[..., core_of]
            t[i] = t[i] * torch.as_tensor(f, dtype=t.dtype)
        fw_in.append(draw_factors(rng, chip.family, chip.sigma_weights, w_in.shape))
        fw_rec.append(draw_factors(rng, chip.family, chip.sigma_weights, w_rec.shape))
    p = base.replace(**fields)
    w = Weights.from_signed(
        torch.as_tensor(np.stack(fw_in) * w_in, dtype=torch.float32),
        torch.as_tensor(np.stack(fw_rec) * w_rec, dtype=torch.float32),
        scale=1.0,
    )
    return p, w


def neuron_counts(
    params: NeuronParams, weights: Weights, split: Split, dt: float, batch: int = 128
) -> np.ndarray:
    """Spike counts of every network neuron (instances, samples, N) over `split`, `dt` [s] the
    task's bin (no gradient, fused kernel)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(split), batch):
            x = torch.as_tensor(split.x[i : i + batch], dtype=torch.float32)
            out.append(simulate(params, weights, x, dt).spikes.sum(2).numpy())
    return np.concatenate(out, axis=1)


def accuracies(model: Model, params: NeuronParams, weights: Weights, split: Split) -> np.ndarray:
    """Accuracy on `split` of every instance (instances,), the class scores decoded as the model
    says (hil.train.model.class_scores)."""
    counts = neuron_counts(params, weights, split, model.dt)
    scores = class_scores(counts, model.outputs, model.decode)
    return np.asarray(accuracy(scores, split.y), dtype=np.float64)


def float_accuracy(model: Model, split: Split) -> float:
    """Accuracy at nominal parameters with the float weights (no mismatch, no quantization)."""
    w = Weights.from_signed(torch.as_tensor(model.w_in), torch.as_tensor(model.w_rec), scale=1.0)
    return float(accuracies(model, model_params(model), w, split)[0])


def chip_accuracies(model: Model, split: Split, chips: list[ChipSpec]) -> np.ndarray:
    """Accuracy on every chip (chips,), the chip's weights from `model_weights`."""
    w_in, w_rec = model_weights(model)
    p, w = chip_instances(model_params(model), w_in, w_rec, model.core_of, chips)
    return accuracies(model, p, w, split)


def paired_ci(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> dict:
    """Mean of a - b over paired chips and its two-sided t confidence interval."""
    from scipy import stats

    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = d.size
    if n < 2:
        raise ConfigError("chips", n, "at least 2 paired chips")
    m, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(n))
    h = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
    return {"mean_diff": m, "ci_low": m - h, "ci_high": m + h, "n": n, "level": level}
