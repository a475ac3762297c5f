"""Robustness to mismatch during training (issue 10 section 2): the prior, noisy instances and
Büchel et al.'s adversarial attack on the parameters (paper_facts.md C.1, C.3).

Prior (used when no fitted model is given): every bias current of every neuron is multiplied by a
factor f = 1 + sigma z, z ~ N(0, 1) (hil.chip.mismatch.draw_factors, family "normal"), sigma = 0.1,
and every synaptic weight likewise with sigma = 0.1: Rockpool's Dynap-SE2 default of 30 % at
3 sigma, ARCANA's default, and the order of magnitude of the DYNAP-SE measurements in Büchel et al.
ICLR 2022 Fig. S1 (paper_facts.md D). Capacitances are not perturbed by the prior. A task may
default to another spread (hil.train.trainer.DEFAULTS; `assumed_prior`).

`noise`: each training step simulates `instances` chips at once (hil.sim instance batching): the
currents of each instance drawn from the prior per neuron; the weights get one fresh multiplicative
draw per step (shared by the step's instances, which keeps the simulator's fused weight-gradient
path; over the steps every weight sees the prior's spread).

`adversarial`: Büchel et al.'s projected-gradient attack on the weights (theta = every effective
weight): theta*_0 = theta + |theta| eps R (eps = 1e-3, R ~ N(0, 1)), then `steps` sign-gradient
ascent steps of size zeta |theta| / steps on KL(p(theta) || p(theta*)), projected onto
theta +- zeta |theta|; loss = CE(theta) + beta KL(p(theta) || p(theta*)), the Jacobian of theta*
taken as the identity. Defaults: 10 steps, zeta 0.025, beta 0.25 (Rockpool's adversarial_jax).
To keep training within budget the attack and its KL term use the first `batch` (8) samples of
each shuffled mini-batch (the cross-entropy uses all of them): 10 attack passes on 8 samples
cost about 1.25 passes on a 64-sample batch.
The currents are not attacked (the attack would need the simulator's slow per-bin gradient path,
~15x the cost, times 10 steps); instead they get the prior's noisy instances, as in Büchel et al.'s
"Forward Noise + Beta" combination (their best column in Table 1).

Fitted model (`hil train --mismatch M.json`, `fitted_prior`): instead of the assumed 10 %, the
instances are drawn from a fitted hil.mismatch/1 model (`MismatchModel.sample`: per-core offset,
per-neuron draw of the fitted family, the fitted median): for the current elements it fitted
(Iref, Itau_mem, Igain_mem, Ispkthr, Igain_<syn>) and for the weights when it has a weight
population. Network neuron i takes the model's neuron i (so its per-core offsets group the
network's neurons by 256). The current elements the fit does not identify, and the weights when the
model has no weight population, keep the prior's spread. Fitted factors are clipped to
FACTOR_RANGE: a Student-t fit with few degrees of freedom (a bad silicon's dead and stuck neurons in
the fit) draws log-factors of hundreds now and then, which overflow float32 and turn the training's
currents into inf; a current 1000x off nominal is a dead or stuck neuron already.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from hil.chip.mismatch import FAMILIES, draw_factors
from hil.chip.netlist import PARAMETERS, element
from hil.errors import ConfigError
from hil.mismatch.model import MismatchModel
from hil.sim import NeuronParams, sample_mismatch

CURRENT_FIELDS = tuple(p.name for p in PARAMETERS if p.unit == "A")
FACTOR_RANGE = (1e-3, 1e3)  # fitted mismatch factors are clipped to this (module docstring)
CURRENT_ELEMENTS = tuple(e for p in PARAMETERS if p.unit == "A" for e in p.elements())


@dataclass(frozen=True)
class Prior:
    """Relative spreads of a mismatch model: per-neuron currents and per-synapse weights."""

    family: str = "normal"
    sigma_currents: float = 0.1
    sigma_weights: float = 0.1
    source: str = "prior: Rockpool/ARCANA 10 % (docs/training.md)"
    fitted: str | None = None  # a fitted hil.mismatch/1 model (path): see the module docstring
    fitted_sha256: str | None = None  # its content, checked when it is read

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError("family", self.family, "one of " + ", ".join(FAMILIES))
        for name in ("sigma_currents", "sigma_weights"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and 0 <= v < 1):
                raise ConfigError(name, v, "a relative spread 0 <= sigma < 1")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Adversary:
    steps: int = 10
    zeta: float = 0.025
    beta: float = 0.25
    initial_std: float = 1e-3
    batch: int = 8  # samples of each mini-batch the attack and its KL term use (cost)

    def __post_init__(self) -> None:
        if not (isinstance(self.steps, int) and 1 <= self.steps <= 100):
            raise ConfigError("attack steps", self.steps, "an integer 1..100")
        if not (0 < self.zeta < 1 and 0 <= self.beta <= 100 and 0 <= self.initial_std < 1):
            raise ConfigError("adversary", (self.zeta, self.beta), "0 < zeta < 1, 0 <= beta <= 100")


def assumed_prior(spread: float) -> Prior:
    """The assumed prior (module docstring) with relative spread `spread` on every current and
    weight: the documented Prior() at its spread, anything else named as such in `source`."""
    if spread == Prior.sigma_currents:
        return Prior()
    return Prior(
        "normal", spread, spread, f"prior: normal {100 * spread:g} % on currents and weights"
    )


def fitted_prior(path: str | Path, base: Prior | None = None) -> Prior:
    """`base` (default: the prior) drawing from the fitted hil.mismatch/1 model at `path`; a file
    that is not one is a ConfigError."""
    path = Path(path).resolve()
    model = _fitted(str(path), _sha256(path))
    base = base or Prior()
    prov = model.provenance
    src = f"fitted: {path.name} ({len(model.parameters)} current elements"
    src += ", weights" if model.weight is not None else ", weights from the prior"
    src += f"; board {prov.get('board_id', '?')})" if isinstance(prov, dict) else ")"
    return Prior(base.family, base.sigma_currents, base.sigma_weights, src, str(path),
                 _sha256(path))  # fmt: skip


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        raise ConfigError("mismatch model", str(path), f"a readable file ({e.strerror})") from None


def _fitted(path: str, sha256: str) -> MismatchModel:
    """The model at `path`, which must still have content `sha256` (a few kB, hashed per step)."""
    if _sha256(Path(path)) != sha256:
        raise ConfigError("mismatch model", path, "the file the training started with (changed)")
    return _load(path, sha256)


@functools.lru_cache(maxsize=4)
def _load(path: str, sha256: str) -> MismatchModel:
    model = MismatchModel.load(path)
    unknown = sorted(set(model.parameters) - set(CURRENT_ELEMENTS))
    if unknown:
        raise ConfigError("mismatch model parameters", unknown, "current elements of the chip")
    return model


def noisy_params(params: NeuronParams, instances: int, prior: Prior, seed: int) -> NeuronParams:
    """`instances` copies of 1-instance `params` with the prior's current mismatch, or the fitted
    model's where `prior.fitted` names one (differentiable in `params`)."""
    if prior.fitted is None:
        return sample_mismatch(
            params, instances, prior.sigma_currents, seed, CURRENT_FIELDS, prior.family
        )
    model = _fitted(prior.fitted, str(prior.fitted_sha256))
    rest = [e for e in CURRENT_ELEMENTS if e not in model.parameters]
    out = sample_mismatch(params, instances, prior.sigma_currents, seed, rest, prior.family)
    n = int(params.Itau_mem.shape[-1])
    factors = model.sample(instances, seed, n)
    changes: dict[str, torch.Tensor] = {}
    for name in model.parameters:
        field, syn = element(name)
        v = changes.get(field, getattr(out, field))
        f = torch.as_tensor(np.clip(factors[name], *FACTOR_RANGE), dtype=v.dtype)  # (inst, n)
        if syn is not None:  # one synapse type: factor 1 on the other rows
            f = torch.ones_like(v).index_copy(1, torch.tensor([syn]), f.unsqueeze(1))
        changes[field] = v * f
    return out.replace(**changes)


def prior_weight_factors(
    shapes: tuple[tuple[int, ...], ...], prior: Prior, seed: int
) -> list[torch.Tensor]:
    """One multiplicative factor tensor per shape: from the fitted model's weight population when
    `prior.fitted` has one, else the prior's."""
    model = None if prior.fitted is None else _fitted(prior.fitted, str(prior.fitted_sha256))
    if model is None or model.weight is None:
        return weight_factors(shapes, prior.sigma_weights, prior.family, seed)
    out = []
    for k, shape in enumerate(shapes):
        size = int(np.prod(shape))
        w = model.sample(1, seed + k, -(-size // 64))["weight"].ravel()[:size]
        w = np.clip(w, *FACTOR_RANGE)
        out.append(torch.as_tensor(w.reshape(shape), dtype=torch.float32))
    return out


def weight_factors(
    shapes: tuple[tuple[int, ...], ...], sigma: float, family: str, seed: int
) -> list[torch.Tensor]:
    """One multiplicative factor tensor per shape (float32)."""
    rng = np.random.default_rng(seed)
    return [
        torch.as_tensor(draw_factors(rng, family, sigma, s), dtype=torch.float32) for s in shapes
    ]


def kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """Mean KL(softmax p || softmax q) over the leading dimensions."""
    lp = torch.log_softmax(p_logits, -1)
    lq = torch.log_softmax(q_logits, -1)
    return (lp.exp() * (lp - lq)).sum(-1).mean()


def attack(
    logits_of: Callable[[list[torch.Tensor]], torch.Tensor],
    theta: list[torch.Tensor],
    clean: torch.Tensor,
    adv: Adversary,
    generator: torch.Generator,
) -> list[torch.Tensor]:
    """Projected sign-gradient ascent on KL(clean || logits_of(theta + delta)); returns the final
    delta per tensor (detached), each within +- zeta |theta|."""
    mags = [t.detach().abs() for t in theta]
    delta = [m * adv.initial_std * torch.randn(m.shape, generator=generator) for m in mags]
    clean = clean.detach()
    for _ in range(adv.steps):
        d = [x.clone().requires_grad_(True) for x in delta]
        loss = kl(clean, logits_of([t.detach() + x for t, x in zip(theta, d, strict=True)]))
        grads = torch.autograd.grad(loss, d, allow_unused=True)
        with torch.no_grad():
            new = []
            for x, g, m in zip(d, grads, mags, strict=True):
                g = torch.zeros_like(x) if g is None else g
                x = x + adv.zeta * m / adv.steps * torch.sign(g)
                new.append(torch.maximum(torch.minimum(x, adv.zeta * m), -adv.zeta * m))
            delta = new
    return [x.detach() for x in delta]
