"""Running the dynamics over time: `simulate(params, weights, inputs, dt)` for explicitly given
records, and `DynapNet`, the thin torch module for training from float weights.

Shapes: inputs (batch, T, inputs) shared by all instances, or (instances, batch, T, inputs), spike
counts per bin; outputs (instances, batch, T, neurons) spike counts. A spike emitted in bin t
reaches its targets at the start of bin t + 1; input spikes act at the start of their bin.
"""

from __future__ import annotations

import functools
import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from hil.chip.netlist import TRAINABLE
from hil.errors import ConfigError
from hil.sim.adjoint import adjoint_applies, run_adjoint
from hil.sim.dynamics import DEFAULT_SUBSTEP, Constants, constants, step
from hil.sim.fused import run_fused, sparse_rows
from hil.sim.records import AMPA, DTYPE, GABA, NeuronParams, State, Weights


@dataclass
class Result:
    """spikes: counts (instances, batch, T, neurons); state: the state after the last bin;
    times: first spike time in each bin [s from the bin start], +inf where none (when asked)."""

    spikes: torch.Tensor
    state: State
    times: torch.Tensor | None = None


def active_types(weights: Weights) -> tuple[int, ...]:
    """Synapse types with any non-zero weight; only these carry state in the simulation."""
    with torch.no_grad():
        used = (weights.w_in != 0).flatten(2).any(-1).any(0) | (weights.w_rec != 0).flatten(2).any(
            -1
        ).any(0)
    return tuple(int(i) for i in torch.nonzero(used).flatten())


def _cat(w: torch.Tensor, types: Sequence[int]) -> torch.Tensor:
    """(Iw, 4, pre, post) -> (Iw, pre, K * post) over the simulated types."""
    w = w[:, list(types)]
    # explicit sizes: -1 is ambiguous when there are no rows (a config without input routes)
    return w.permute(0, 2, 1, 3).reshape(w.shape[0], w.shape[2], len(types) * w.shape[3])


@dataclass
class _Prepared:
    """What simulate derives from a Weights before it runs: the simulated types, the weights over
    them, w_in (Iw, Nin, K N) and w_rec (Iw, N, K N) or None (no recurrent synapse), and the fused
    kernels' sparse rows by `sparse` flag (hil.sim.fused.sparse_rows), built when first needed."""

    types: tuple[int, ...]
    w_in: torch.Tensor
    w_rec: torch.Tensor | None
    _rows: dict[bool | None, tuple]

    def rows(self, sparse: bool | None) -> tuple:
        """hil.sim.fused.sparse_rows of these weights for `sparse`, built on first use."""
        if sparse not in self._rows:
            w_in = self.w_in.detach().numpy()
            w_rec = None if self.w_rec is None else self.w_rec.detach().numpy()
            self._rows[sparse] = sparse_rows(w_in, w_rec, sparse)
        return self._rows[sparse]


# simulate's _Prepared of recently run Weights, by id: running the same network again (evaluation
# batches, twin sweeps, benchmarks) skips scanning and copying its weights (64 MB at 2048 neurons).
# An entry is used only while it is the same Weights object with unchanged tensors: torch counts
# every in-place write through torch in `_version`. Weights that can be trained (requires_grad:
# optimizers, fused Adam among them, may write without counting), inference tensors (no count) and
# tensors off the CPU or not float32 (the fused kernels do not run them) are never kept.
_PREPARED: dict[int, tuple[weakref.ref, tuple, _Prepared]] = {}


def _prepare(weights: Weights, types: Sequence[int] | None) -> _Prepared:
    """simulate's view of `weights` over `types` (None: the types in use), kept where allowed."""
    asked = None if types is None else tuple(types)

    def build() -> _Prepared:
        parts = weights.signed_parts() if asked is None else None
        if parts is not None:
            signed = _from_signed(parts)
            if signed is not None:
                return signed
        used = active_types(weights) if asked is None else asked
        has_rec = len(used) > 0 and bool((weights.w_rec[:, list(used)] != 0).any())
        w_rec = _cat(weights.w_rec, used) if has_rec else None
        return _Prepared(used, _cat(weights.w_in, used), w_rec, {})

    tensors = (weights.w_in, weights.w_rec)
    keep = not torch.is_inference_mode_enabled() and all(
        not t.requires_grad and not t.is_inference() and t.device.type == "cpu" and t.dtype == DTYPE
        for t in tensors
    )
    if not keep:
        return build()
    stamp = (asked, *((t._version, t.data_ptr(), tuple(t.shape)) for t in tensors))
    key = id(weights)
    hit = _PREPARED.get(key)
    if hit is not None and hit[0]() is weights and hit[1] == stamp:
        return hit[2]
    prep = build()

    def forget(_: weakref.ref, key: int = key) -> None:
        _PREPARED.pop(key, None)

    _PREPARED[key] = (weakref.ref(weights, forget), stamp, prep)
    return prep


def _from_signed(parts: tuple[torch.Tensor, ...]) -> _Prepared | None:
    """_prepare's result from Weights.signed_parts (AMPA and GABA of w_in, then of w_rec): the
    same types, values and gradients as active_types and _cat of the four-type tensors, without
    the autograd path through them. None when no type is in use (the general path handles it)."""
    with torch.no_grad():
        on = [
            (t, wi, wr)
            for t, wi, wr in ((AMPA, parts[0], parts[2]), (GABA, parts[1], parts[3]))
            if bool((wi != 0).any()) or bool((wr != 0).any())
        ]
        has_rec = any(bool((wr != 0).any()) for _, _, wr in on)
    if not on:
        return None
    w_in = torch.cat([wi for _, wi, _ in on], dim=-1)
    w_rec = torch.cat([wr for _, _, wr in on], dim=-1) if has_rec else None
    return _Prepared(tuple(t for t, _, _ in on), w_in, w_rec, {})


def input_drive(inputs: torch.Tensor, w_in: torch.Tensor, types: Sequence[int]) -> torch.Tensor:
    """Weight current [A] per bin and type from input counts: (T, Ix, batch, K, neurons),
    where Ix is 1 when inputs and w_in are shared by every instance."""
    K, N = len(types), w_in.shape[-1]
    W = _cat(w_in, types)  # (Iw, Nin, K*N)
    x = inputs if inputs.dim() == 4 else inputs.unsqueeze(0)  # (Ix, B, T, Nin)
    Ix, B, T, Nin = x.shape
    if Ix == 1 and W.shape[0] == 1:
        flat = x.reshape(B * T, Nin)
        if not flat.requires_grad and flat.numel() and (flat != 0).float().mean() < 0.1:
            d = torch.sparse.mm(flat.to_sparse(), W[0])
        else:
            d = flat @ W[0]
        d = d.reshape(1, B, T, K, N)
    else:
        d = torch.matmul(x.reshape(Ix, B * T, Nin), W).reshape(-1, B, T, K, N)
    return d.permute(2, 0, 1, 3, 4)


def _flush_denormals(fn):
    """Run `fn` with subnormal floats flushed to zero, then restore torch's default (off).

    Decaying synaptic currents reach subnormal floats after long silence, which are ~100x slower
    on x86; flushing them changes nothing physical (they are < 1e-38 A). Scoped to the call so
    that the rest of the process keeps IEEE arithmetic.
    """

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        torch.set_flush_denormal(True)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_flush_denormal(False)

    return wrapped


@_flush_denormals
def simulate(
    params: NeuronParams,
    weights: Weights,
    inputs: torch.Tensor,
    dt: float = 1e-3,
    state: State | None = None,
    substep: float = DEFAULT_SUBSTEP,
    noise: float | torch.Tensor = 0.0,
    generator: torch.Generator | None = None,
    times: bool = False,
    noise_tau: float = 0.0,
    types: Sequence[int] | None = None,
    compiled: bool = False,
    rec_grad: float = 0.0,
    fused: bool | None = None,
    feedback_grad: float = 0.0,
    sparse: bool | None = None,
) -> Result:
    """Simulate `inputs` (counts, (batch, T, inputs) or (instances, batch, T, inputs)) through the
    network given by `params` (instances, neurons) and `weights` (amperes) with bin width dt [s].

    `state` continues a previous run (default: rest). `noise` is the standard deviation [A] of a
    Gaussian membrane input current drawn independently per bin and neuron from `generator`: a
    float, or a tensor broadcastable to (instances, 1, neurons) for per-neuron values.
    `noise_tau` [s] > 0 makes it an Ornstein-Uhlenbeck current instead (the emulated silicon's):
    per bin z <- a z + sqrt(1 - a^2) e, a = exp(-dt / noise_tau), from a stationary start at each
    call, times `noise` (the per-bin std); 0 (default): independent per bin.
    `substep` is the longest membrane sub-step [s]. Differentiable in params, weights and inputs.
    `rec_grad` scales the gradient that flows back through the spikes that recurrent synapses
    deliver: 0 (default) stops it there, so recurrent weights still get their gradient but credit is
    not propagated through other neurons (like e-prop); 1 is full backpropagation through time.
    `feedback_grad` scales the gradient through the membrane's positive-feedback term: 0 (default)
    holds it constant in the backward pass, which keeps full BPTT finite on large recurrent networks
    (docs/sim.md "Gradients"); 1 is the exact derivative of the forward, which grows without bound
    near threshold (x1e9 in 300 bins on the benchmark network).
    `compiled` runs each bin (recurrent product, synapses, membrane) through torch.compile: the same
    code and equations, 2-3x faster per bin once built; building takes seconds and happens again for
    every new tensor shape (instances, batch, neurons), never for new parameter values.
    `fused` runs the whole time loop in one numba kernel (hil.sim.fused: the same equations and
    float32 operations, sparse input and recurrent rows, parallel over instances x batch); it needs
    no gradient. None (default): fused whenever no gradient is needed and `compiled` is False;
    False: always the torch path; True: fused, ConfigError if a gradient is needed.
    `sparse` (fused kernels): add only the non-zero synapses of each input event and spike instead
    of dense weight rows (hil.sim.sparse; identical spikes and gradients); None (default): for the
    input and the recurrent weights each, when at most 1/8 of them are non-zero, as on the chip (64
    CAM entries per neuron); the torch path ignores it.
    """
    n_inst, N = params.instances, params.neurons
    if weights.neurons != N:
        raise ConfigError("weights", f"{weights.neurons} neurons", f"{N} neurons, as params")
    inputs = inputs.to(DTYPE)
    B, T = inputs.shape[-3], inputs.shape[-2]
    if inputs.shape[-1] != weights.inputs:
        raise ConfigError(
            "inputs", f"{inputs.shape[-1]} channels", f"{weights.inputs}, the rows of w_in"
        )
    prep = _prepare(weights, types)
    types, W = prep.types, prep.w_rec
    k: Constants = constants(params, dt, types, substep)
    K = len(types)
    if state is None:
        state = State.rest(n_inst, B, N, K)
    has_noise = bool(torch.as_tensor(noise).detach().abs().max() > 0)
    if not (math.isfinite(noise_tau) and noise_tau >= 0):
        raise ConfigError("noise_tau", noise_tau, "a correlation time [s] >= 0")
    ou = math.exp(-dt / noise_tau) if noise_tau > 0 else 0.0
    noise_grad = isinstance(noise, torch.Tensor) and noise.requires_grad
    state_grad = any(t.requires_grad for t in (state.u, state.timer, state.isyn, state.iahp))
    params_grad = any(t.requires_grad for t in params.tensors().values())
    grad = torch.is_grad_enabled() and (
        _needs_grad(params, weights) or inputs.requires_grad or state_grad or noise_grad
    )
    x = inputs if inputs.dim() == 4 else inputs.unsqueeze(0)
    # the numba kernels compute in float32 on the CPU: other dtypes and devices take the torch path
    kernel_ok = all(
        t.dtype == DTYPE and t.device.type == "cpu"
        for t in (weights.w_in, weights.w_rec, *params.tensors().values())
    )
    adjoint = (
        grad
        and kernel_ok
        and fused is not False
        and (fused or not compiled)
        and adjoint_applies(k, weights.w_in.shape[0] == 1 and x.shape[0] == 1, times)
        and (W is None or W.shape[0] == 1)
        and not (inputs.requires_grad or params_grad or state_grad or noise_grad)
    )
    if adjoint:  # fused forward + hand-written backward (hil.sim.adjoint)
        z = _noise_draws(noise, n_inst, B, N, T, generator, ou) if has_noise else None
        w_rec = None if W is None else W[0]
        state, spikes = run_adjoint(
            k, state, x, prep.w_in[0], w_rec, z, rec_grad, feedback_grad, sparse
        )
        return Result(spikes, state, None)
    if fused and (grad or not kernel_ok):
        raise ConfigError(
            "fused", True, "False or None for this gradient, dtype or device (docs/sim.md)"
        )
    if (not compiled and not grad and kernel_ok) if fused is None else fused:
        z = _noise_draws(noise, n_inst, B, N, T, generator, ou) if has_noise else None
        state, spikes, tf, _ = run_fused(
            k, state, x, prep.w_in, W, z, times, sparse=sparse, csr=prep.rows(sparse)
        )
        return Result(spikes, state, tf)
    drive = input_drive(inputs, weights.w_in, types) if K else None
    out: list[torch.Tensor] = []
    first: list[torch.Tensor] = []
    drives = None if drive is None else drive.unbind(0)  # one backward node, not T
    # spikes are sparse; a sparse product is 2-8x cheaper, but only when no gradient flows back
    sparse_rec = (
        W is not None
        and not compiled
        and not (torch.is_grad_enabled() and _needs_grad(params, weights))
    )
    stepper = _compiled_step() if compiled else step
    e: torch.Tensor | None = None
    for t in range(T):
        d = None if drives is None else drives[t]
        z = None
        if has_noise:
            e = _ou_step(e, torch.randn(n_inst, B, N, generator=generator, dtype=DTYPE), ou)
            z = noise * e
        state, count, tf = stepper(
            state, d, k, noise=z, times=times, w_rec=W, rec_grad=rec_grad, sparse=sparse_rec,
            feedback_grad=feedback_grad,
        )  # fmt: skip
        out.append(count)
        if tf is not None:
            first.append(tf)
    spikes = torch.stack(out, dim=2) if out else torch.zeros(n_inst, B, 0, N)
    return Result(spikes, state, torch.stack(first, dim=2) if times and first else None)


def _noise_draws(
    noise: float | torch.Tensor,
    n_inst: int,
    B: int,  # noqa: N803
    N: int,  # noqa: N803
    T: int,  # noqa: N803
    generator: torch.Generator | None,
    ou: float = 0.0,
) -> torch.Tensor:
    """(T, I, B, N) membrane noise [A]: the same draws, in the same order, as the per-bin path
    (`ou`: the OU factor per bin, 0 for independent bins)."""
    out = []
    e: torch.Tensor | None = None
    for _ in range(T):
        e = _ou_step(e, torch.randn(n_inst, B, N, generator=generator, dtype=DTYPE), ou)
        out.append(noise * e)
    return torch.stack(out)


def _ou_step(prev: torch.Tensor | None, draw: torch.Tensor, ou: float) -> torch.Tensor:
    """The next unit-variance noise value: the draw itself at the start or with independent bins
    (ou = 0), else ou prev + sqrt(1 - ou^2) draw."""
    if prev is None or ou == 0.0:
        return draw
    return ou * prev + math.sqrt(1.0 - ou * ou) * draw


_COMPILED: list = []


def _compiled_step():  # noqa: ANN202
    """`step` fused by torch.compile, built on first use (shapes are specialised)."""
    if not _COMPILED:
        import torch._dynamo

        # one build per shape, grad mode and flag combination: allow more than dynamo's default 8
        cfg = torch._dynamo.config
        cfg.recompile_limit = max(cfg.recompile_limit, 64)
        cfg.accumulated_recompile_limit = max(cfg.accumulated_recompile_limit, 256)
        _COMPILED.append(torch.compile(step, dynamic=False))
    return _COMPILED[0]


def _needs_grad(params: NeuronParams, weights: Weights) -> bool:
    tensors = [weights.w_in, weights.w_rec, *params.tensors().values()]
    return any(t.requires_grad for t in tensors)


TRAINABLE_CURRENTS = TRAINABLE  # hil.chip.netlist.PARAMETERS marks what may be trained


class DynapNet(nn.Module):
    """A recurrent layer of Dynap-SE2 neurons with float weights, for training.

    w_in (inputs, neurons) and w_rec (neurons, neurons) are signed weights in units of `scale`
    amperes (positive -> AMPA, negative -> GABA). Currents named in `train_currents` are trainable
    through their logarithm, per neuron or, with `groups` (a group id per neuron, e.g. its core),
    one value per group. forward(inputs) -> spike counts (instances, batch, T, neurons).
    """

    def __init__(
        self,
        n_inputs: int,
        n_neurons: int,
        params: NeuronParams | None = None,
        w_in: torch.Tensor | None = None,
        w_rec: torch.Tensor | None = None,
        dt: float = 1e-3,
        scale: float = 1e-8,
        train_currents: Sequence[str] = (),
        groups: torch.Tensor | None = None,
        substep: float = DEFAULT_SUBSTEP,
        seed: int = 0,
        compiled: bool = False,
        rec_grad: float = 0.0,
        feedback_grad: float = 0.0,
    ):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.dt, self.scale, self.substep, self.compiled = dt, scale, substep, compiled
        self.rec_grad, self.feedback_grad = rec_grad, feedback_grad
        if w_in is None:
            w_in = torch.randn(n_inputs, n_neurons, generator=g) / n_inputs**0.5
        if w_rec is None:
            w_rec = torch.zeros(n_neurons, n_neurons)
        self.w_in = nn.Parameter(torch.as_tensor(w_in, dtype=DTYPE).clone())
        self.w_rec = nn.Parameter(torch.as_tensor(w_rec, dtype=DTYPE).clone())
        self.base = params if params is not None else NeuronParams.nominal(n_neurons)
        unknown = set(train_currents) - set(TRAINABLE_CURRENTS)
        if unknown:
            raise ConfigError(
                "train_currents", sorted(unknown), "any of " + ", ".join(TRAINABLE_CURRENTS)
            )
        group_ids = None if groups is None else torch.as_tensor(groups).long()
        self.register_buffer("groups", group_ids)
        n_groups = None if group_ids is None else int(group_ids.max()) + 1
        self.log_currents = nn.ParameterDict()
        for name in train_currents:
            v = getattr(self.base, name).clamp(min=self.base.Io)
            if group_ids is not None and n_groups is not None:  # mean of the log over each group
                idx = group_ids.expand_as(v)
                s = torch.zeros(*v.shape[:-1], n_groups).scatter_add(-1, idx, v.log())
                c = torch.zeros(n_groups).scatter_add(0, group_ids, torch.ones(n_neurons))
                v = (s / c).exp()
            self.log_currents[name] = nn.Parameter(v.log())

    def params(self) -> NeuronParams:
        """The neuron parameters with the trained currents in place."""
        changes = {}
        for name, logv in self.log_currents.items():
            v = logv.exp()
            if self.groups is not None:
                v = v[..., self.groups]
            changes[name] = v
        return self.base.replace(**changes) if changes else self.base

    def weights(self) -> Weights:
        return Weights.from_signed(self.w_in, self.w_rec, self.scale)

    def forward(self, inputs: torch.Tensor, state: State | None = None) -> torch.Tensor:
        return self.run(inputs, state).spikes

    def run(self, inputs: torch.Tensor, state: State | None = None, **kw: object) -> Result:
        """Like forward, returning the full Result (spikes, final state)."""
        kw.setdefault("compiled", self.compiled)
        kw.setdefault("rec_grad", self.rec_grad)
        kw.setdefault("feedback_grad", self.feedback_grad)
        return simulate(self.params(), self.weights(), inputs, self.dt, state, self.substep, **kw)
