"""`hil bench sim`: hil.sim against Rockpool 3.1.0's jit-compiled DynapSim, in one process.

Workload (shared/reference/rockpool_dynapse.md section 9): N = 256 neurons, dense random recurrent
weights N(0, (2/sqrt(N))^2), one Poisson input channel per neuron at 20 Hz with weight 4 (input
weights 4 * identity), weights in units of Iscale = 1e-8 A, 1 s of model time at dt = 1 ms; batch 1
and 32, forward and forward + backward (gradient of the mean spike count with respect to every
weight); 100 mismatch instances (10 % relative s.d. on every current and capacitance, Rockpool's
default 30 % / 3-sigma), batch 1. Rockpool runs as Sequential(LinearJax, DynapSim) under jax.jit
(steady state, compilation excluded). Its 100 mismatch instances run two ways: the fair peer,
`jax.jit(jax.vmap(...))` over the 100 drawn parameter sets, compiled once and timed after a warm-up
(`speedup_mismatch_100_vmap`, the headline); and, secondary, the loop Rockpool's API suggests
(draw, set, re-jit per instance: the cost the reference measured), on a few instances scaled to
100 (`speedup_mismatch_100`); `speedup_mismatch_100_vmap_sharedw` is the same jit(vmap) mapping
only the parameters the mismatch deviates, so the (not deviated) weights enter once and the
recurrent product is one (100, N) x (N, N) product per bin rather than 100 (1, N) x (N, N) ones
(`mismatch_100_vmap_sharedw_equals_single`: instance 1 spikes as when run alone; `..._equals_vmap`:
bit-identical to the all-parameter vmap, true at N = 256 but not at 1024, where the product adds in
another order and a flipped spike changes the rest of the run). Times are medians over repeats.
`--neurons 256,1024` runs the same workload at more sizes (recurrent s.d. 2/sqrt(N), input
weights 4 * identity): N = 256 as described here, with unsuffixed keys (their names and meaning
predate the option); any other N only hil.sim's default path (`hil_fused_n1024`: forward and full
BPTT forward + backward at batch 1 and 32, 100 mismatch instances) and Rockpool (`rockpool_n1024`:
jit, and both jit(vmap) mismatch peers; not the re-jit loop or the dt = 0.1 ms rate), with keys
ending `_n1024` (`speedup_fwd_b32_n1024`, `speedup_fwdbwd_b32_n1024`,
`speedup_mismatch_100_vmap_n1024`, ...). `--no-full-vmap` skips the all-parameter vmap at sizes
other than 256 (about 4 min at N = 1024 on 2 cores); its speedup key is then null, with
`<key>_null_reason`.
The floor is the bare matrix multiplications of the same workload (torch, float32): the input
projection plus one (batch, N) x (N, N) product per bin, and (floor_matmul_2types) the recurrent
product hil.sim itself needs, with one matrix per simulated synapse type, (N, 2N) for AMPA + GABA.
hil.sim runs three ways: `hil_fused`, simulate's default path (the whole forward in one numba
kernel, hil.sim.fused, and for forward + backward that forward plus a hand-written backward,
hil.sim.adjoint; numba's first-call compile or cache load reported as first_call); `hil`, the
per-bin torch path, eager (fused=False); `hil_compiled`, the per-bin torch path with each bin fused
by torch.compile (build time reported as first_call, excluded like Rockpool's jit compile). The
speedup_* keys use hil_fused, speedup_*_torch the compiled torch run (eager when compile is
unavailable), speedup_*_eager the eager one. Both peers get the same cores: torch and numba run
with torch's default thread count (the machine's cores, as XLA's CPU client) unless --threads.
Forward + backward backpropagates through recurrent spikes (rec_grad = 1) as Rockpool does, with
hil.sim's default gradient treatment (unit-area surrogate, membrane feedback term held constant in
the backward pass: docs/sim.md "Gradients"); `*_grad_finite` says whether each gradient (hil.sim's
and Rockpool's) is finite, and a speedup_fwdbwd_* key is null, with `speedup_fwdbwd_*_null_reason`,
unless both are. fwdbwd_recgrad0 is hil.sim with the gradient stopped at recurrent spikes.
`dt_rate_error` = |rate(dt = 1 ms) - rate(dt = 10 us)| / rate(dt = 10 us) for hil.sim (default
path) on the same network and the same input spike times (drawn on a 10 us grid).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from hil import argtypes as at

if TYPE_CHECKING:
    import torch

N = 256
RATE_HZ = 20.0
W_IN = 4.0
DURATION_S = 1.0
DT = 1e-3
FINE_DT = 1e-5
MISMATCH_INSTANCES = 100
MISMATCH_SIGMA = 0.1


NEURONS_MAX = 2048  # Rockpool's jit(vmap) peer holds 100 copies of both (N, N) weight matrices


def _neurons(text: str) -> list[int]:
    """`--neurons`: 1 to 4 distinct network sizes, comma-separated, each 16..NEURONS_MAX."""
    size = at.integer(16, NEURONS_MAX)
    parts = text.split(",")
    if not 1 <= len(parts) <= 4 or len(set(parts)) != len(parts):
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not allowed; allowed: 1 to 4 distinct comma-separated sizes "
            f"16..{NEURONS_MAX}, e.g. 256,1024"
        )
    sizes = [size(p) for p in parts]
    if len(set(sizes)) != len(sizes):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not allowed; a size appears twice")
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--neurons",
        type=_neurons,
        default=str(N),
        metavar="N[,N...]",
        help=f"network sizes, e.g. {N},1024. N = {N}: every hil.sim path, the "
        "floor, the dt check and Rockpool, unsuffixed keys; any other N: hil.sim's default "
        "path and Rockpool (jit, jit(vmap) for the mismatch instances), keys ending _n<N>",
    )
    parser.add_argument(
        "--repeats", type=at.integer(1, 1000), default=3, help="timed repeats per workload"
    )
    parser.add_argument(
        "--peer-instances",
        type=at.integer(1, 100),
        default=3,
        help="Rockpool mismatch instances actually run, scaled to 100",
    )
    parser.add_argument("--no-peer", action="store_true", help="skip Rockpool even if installed")
    parser.add_argument(
        "--no-full-vmap",
        action="store_true",
        help=f"at sizes other than {N}: skip Rockpool's jit(vmap) mapping every parameter "
        "(~4 min at N = 1024 on 2 cores); speedup_mismatch_100_vmap_n<N> is then null, "
        "with the reason",
    )
    parser.add_argument("--no-dt", action="store_true", help="skip the dt = 10 us run")
    parser.add_argument(
        "--no-compile", action="store_true", help="skip the torch.compile'd variant of hil.sim"
    )
    parser.add_argument(
        "--threads",
        type=at.integer(0, 1024),
        default=0,
        help="torch and numba threads (0: torch's default, the machine's cores, which "
        "XLA uses too, so both peers get the same cores)",
    )
    parser.add_argument("--seed", type=at.seed, default=0, help="network and input seed")


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def _network(seed: int, n: int = N) -> tuple[np.ndarray, np.ndarray]:
    """(input weights 4 * eye(n), recurrent weights N(0, (2/sqrt(n))^2)), float32, (n, n) each."""
    rng = np.random.default_rng(seed)
    w_rec = rng.normal(0.0, 2.0 / np.sqrt(n), (n, n)).astype(np.float32)
    return W_IN * np.eye(n, dtype=np.float32), w_rec


def _inputs(batch: int, seed: int, n: int = N) -> np.ndarray:
    """Poisson input counts per bin, (batch, T, n) float32."""
    rng = np.random.default_rng(seed + 1 + batch)
    T = int(round(DURATION_S / DT))
    return rng.poisson(RATE_HZ * DT, (batch, T, n)).astype(np.float32)


def _ours(
    args: argparse.Namespace,
    w_in: np.ndarray,
    w_rec: np.ndarray,
    compiled: bool,
    fused: bool = False,
    recgrad0: bool = True,
) -> dict:
    """hil.sim timings on the (n, n) network `w_in`, `w_rec`; forward + backward with full BPTT
    through recurrent spikes (rec_grad=1), the work Rockpool does, and (`recgrad0`) with the
    default rec_grad=0 for reference. `fused`: through the fused numba kernels (forward:
    hil.sim.fused; forward + backward: hil.sim.adjoint), else through the per-bin torch path
    (fused=False)."""
    path = None if fused else False
    import torch

    from hil.sim import DynapNet, NeuronParams, Weights, sample_mismatch, simulate

    n = w_rec.shape[0]
    params = NeuronParams.nominal(n)
    weights = Weights.from_signed(torch.from_numpy(w_in), torch.from_numpy(w_rec))
    out: dict = {}
    for B in (1, 32):
        x = torch.from_numpy(_inputs(B, args.seed, n))

        def fwd(x: torch.Tensor = x) -> torch.Tensor:
            with torch.no_grad():
                return simulate(params, weights, x, compiled=compiled, fused=path).spikes

        t = time.perf_counter()
        fwd()  # warm-up (builds the compiled kernel for this shape)
        out[f"fwd_b{B}_first_call_s"] = time.perf_counter() - t
        out[f"fwd_b{B}_s"] = _median_time(fwd, args.repeats)
        out[f"rate_b{B}_hz"] = float(fwd().mean()) / DT
        for rec_grad, key in ((1.0, "fwdbwd"), (0.0, "fwdbwd_recgrad0"))[: 2 if recgrad0 else 1]:
            net = DynapNet(
                n,
                n,
                w_in=torch.from_numpy(w_in),
                w_rec=torch.from_numpy(w_rec),
                compiled=compiled,
                rec_grad=rec_grad,
            )

            def fwdbwd(x: torch.Tensor = x, net: DynapNet = net) -> None:
                net.zero_grad()
                net.run(x, fused=path).spikes.mean().backward()

            fwdbwd()
            out[f"{key}_b{B}_s"] = _median_time(fwdbwd, args.repeats)
            grads = [g for g in (net.w_in.grad, net.w_rec.grad) if g is not None]
            out[f"{key}_b{B}_grad_finite"] = all(bool(torch.isfinite(g).all()) for g in grads)
    x1 = torch.from_numpy(_inputs(1, args.seed, n))
    draws = iter(range(10**6))

    def mismatch() -> torch.Tensor:
        inst = sample_mismatch(
            params, MISMATCH_INSTANCES, sigma=MISMATCH_SIGMA, seed=args.seed + next(draws)
        )
        with torch.no_grad():
            return simulate(inst, weights, x1, compiled=compiled, fused=path).spikes

    mismatch()  # warm-up; every timed call draws new instances (nothing is rebuilt)
    out["mismatch_100_s"] = _median_time(mismatch, args.repeats)
    return out


def _floor(args: argparse.Namespace, w_in: np.ndarray, w_rec: np.ndarray) -> dict:
    """Bare matmuls of the workload: the input projection and one recurrent product per bin."""
    import torch

    out = {}
    Win, Wrec = torch.from_numpy(w_in), torch.from_numpy(w_rec)
    both = torch.cat([Wrec.clamp(min=0), (-Wrec).clamp(min=0)], dim=1)  # AMPA | GABA, (N, 2N)
    for B in (1, 32):
        x = torch.from_numpy(_inputs(B, args.seed))
        s = (torch.rand(B, N, generator=torch.Generator().manual_seed(args.seed)) < 0.05).float()

        def mm(x: torch.Tensor = x, s: torch.Tensor = s, W: torch.Tensor = Wrec) -> None:
            x.reshape(-1, N) @ Win
            for _ in range(x.shape[1]):
                s @ W

        out[f"floor_matmul_b{B}_s"] = _median_time(mm, args.repeats)

        # hil.sim's own recurrent product: one matrix per simulated synapse type (AMPA and GABA)
        def mm2(x: torch.Tensor = x, s: torch.Tensor = s) -> None:
            for _ in range(x.shape[1]):
                s @ both

        out[f"floor_matmul_2types_b{B}_s"] = _median_time(mm2, args.repeats)
    return out


def _dt_error(args: argparse.Namespace, w_in: np.ndarray, w_rec: np.ndarray) -> dict:
    import torch

    from hil.sim import NeuronParams, Weights, simulate

    rng = np.random.default_rng(args.seed + 100)
    fine_T = int(round(DURATION_S / FINE_DT))
    fine = rng.poisson(RATE_HZ * FINE_DT, (fine_T, N)).astype(np.float32)
    coarse = fine.reshape(-1, int(round(DT / FINE_DT)), N).sum(1)
    params = NeuronParams.nominal(N)
    weights = Weights.from_signed(torch.from_numpy(w_in), torch.from_numpy(w_rec))
    rates = {}
    t0 = time.perf_counter()
    with torch.no_grad():
        for name, x, dt in (("1ms", coarse, DT), ("10us", fine, FINE_DT)):
            s = simulate(params, weights, torch.from_numpy(x)[None], dt=dt).spikes
            rates[name] = float(s.sum()) / (N * DURATION_S)
    return {
        "rate_dt_1ms_hz": rates["1ms"],
        "rate_dt_10us_hz": rates["10us"],
        "dt_rate_error": abs(rates["1ms"] - rates["10us"]) / rates["10us"],
        "dt_check_s": time.perf_counter() - t0,
    }


def _finite(tree: object) -> bool:
    """Whether every leaf of a jax pytree (a gradient) is finite."""
    import jax
    import jax.numpy as jnp

    return all(bool(jnp.isfinite(leaf).all()) for leaf in jax.tree_util.tree_leaves(tree))


def _rockpool(
    args: argparse.Namespace,
    w_in: np.ndarray,
    w_rec: np.ndarray,
    full: bool = True,
    full_vmap: bool = True,
) -> dict:
    """Rockpool's timings on the (n, n) network `w_in`, `w_rec`. `full`: also the per-instance
    re-jit mismatch loop and the dt = 0.1 ms rate (run at N = 256 only); `full_vmap`: also the
    jit(vmap) mapping every parameter (else mismatch_100_vmap_s is None, with the reason)."""
    import logging

    logging.getLogger().setLevel(logging.ERROR)  # rockpool warns about samna on import
    import jax
    import jax.numpy as jnp
    import rockpool
    from rockpool.devices.dynapse import (
        DynapSim,
        frozen_mismatch_prototype,
    )
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LinearJax
    from rockpool.transform.mismatch import mismatch_generator

    from hil import progress

    n = w_rec.shape[0]

    def build(dt: float = DT) -> Any:  # a rockpool Sequential
        return Sequential(
            LinearJax((n, n), weight=w_in, has_bias=False),
            DynapSim(n, has_rec=True, w_rec=w_rec, dt=dt, rng_key=jax.random.PRNGKey(args.seed)),
        )

    net = build()

    def evolve(p: dict, x: jax.Array) -> jax.Array:
        return net.set_attributes(p)(x)[0]

    fwd = jax.jit(evolve)
    fwdbwd = jax.jit(jax.value_and_grad(lambda p, x: jnp.mean(evolve(p, x))))
    p = net.parameters()
    out: dict = {
        "version": rockpool.__version__,
        "jax": jax.__version__,
        "jax_devices": [str(d) for d in jax.devices()],
        # XLA's CPU client runs its thread pool over every core unless XLA_FLAGS says otherwise
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "cpus_available_to_xla": len(os.sched_getaffinity(0)),
    }
    for B in (1, 32):
        progress.stage(f"rockpool N = {n}, batch {B}")
        x = jnp.asarray(_inputs(B, args.seed, n))
        for name, f in (("fwd", fwd), ("fwdbwd", fwdbwd)):
            t = time.perf_counter()
            jax.block_until_ready(f(p, x))
            out[f"{name}_b{B}_compile_s"] = time.perf_counter() - t

            def timed(f: Callable = f, x: jax.Array = x) -> None:
                jax.block_until_ready(f(p, x))

            out[f"{name}_b{B}_s"] = _median_time(timed, args.repeats)
        # the gradient Rockpool's fwdbwd computes (step_pwl surrogate, reference section 1.7)
        out[f"fwdbwd_b{B}_grad_finite"] = _finite(fwdbwd(p, x)[1])
        out[f"rate_b{B}_hz"] = float(jnp.mean(fwd(p, x))) / DT
    prototype = frozen_mismatch_prototype(net)
    regenerate = mismatch_generator(prototype, percent_deviation=3 * MISMATCH_SIGMA, sigma_rule=3.0)
    x1 = jnp.asarray(_inputs(1, args.seed, n))
    # the fair peer: 100 drawn parameter sets stacked, one jit of a vmap over them
    progress.stage(f"rockpool N = {n}, mismatch, jit(vmap) over 100 instances")
    keys = jax.random.split(jax.random.PRNGKey(args.seed + 7), MISMATCH_INSTANCES)
    t = time.perf_counter()
    stacked = jax.jit(jax.vmap(lambda k: regenerate(net, rng_key=k)))(keys)  # 100 parameter sets
    out["mismatch_100_vmap_draw_s"] = time.perf_counter() - t
    # the same instance run alone must give the same spikes (the vmap is the same computation)
    alone = jax.jit(evolve)(jax.tree_util.tree_map(lambda leaf: leaf[1], stacked), x1)
    spikes = None
    if full_vmap:
        batched = jax.jit(jax.vmap(evolve, in_axes=(0, None)))
        t = time.perf_counter()
        spikes = jax.block_until_ready(batched(stacked, x1))
        out["mismatch_100_vmap_compile_s"] = time.perf_counter() - t
        out["mismatch_100_vmap_s"] = _median_time(
            lambda: jax.block_until_ready(batched(stacked, x1)), args.repeats
        )
        out["mismatch_100_vmap_rate_hz"] = float(jnp.mean(spikes)) / DT
        out["mismatch_100_vmap_equals_single"] = bool(jnp.array_equal(alone, spikes[1]))
    else:
        out["mismatch_100_vmap_s"] = None
        out["mismatch_100_vmap_skipped"] = (
            "skipped (--no-full-vmap): at N = 1024 on 2 cores it took ~4 min (compile ~1 min, "
            "~1 min per timed run)"
        )
    # the same, mapping only the leaves the mismatch deviates: the weights (not deviated, the
    # same in every instance) enter once, so the recurrent product is one (100, n) x (n, n)
    # product per bin instead of 100 (1, n) x (n, n) ones
    progress.stage(f"rockpool N = {n}, mismatch, jit(vmap) with shared weights")
    axes = jax.tree_util.tree_map(lambda dev: 0 if dev else None, prototype)
    shared = jax.tree_util.tree_map(lambda dev, leaf: leaf if dev else leaf[0], prototype, stacked)
    out["mismatch_100_vmap_sharedw_leaves_equal"] = all(
        bool(jnp.all(leaf == leaf[:1]))
        for dev, leaf in zip(
            jax.tree_util.tree_leaves(prototype), jax.tree_util.tree_leaves(stacked), strict=True
        )
        if not dev
    )
    batched_w = jax.jit(jax.vmap(evolve, in_axes=(axes, None)))
    t = time.perf_counter()
    spikes_w = jax.block_until_ready(batched_w(shared, x1))
    out["mismatch_100_vmap_sharedw_compile_s"] = time.perf_counter() - t
    out["mismatch_100_vmap_sharedw_s"] = _median_time(
        lambda: jax.block_until_ready(batched_w(shared, x1)), args.repeats
    )
    out["mismatch_100_vmap_sharedw_rate_hz"] = float(jnp.mean(spikes_w)) / DT
    # bit-identical spikes are not guaranteed: one (100, n) x (n, n) product may add in another
    # order than 100 (1, n) x (n, n) ones, and one flipped spike changes the rest of the run
    out["mismatch_100_vmap_sharedw_equals_single"] = bool(jnp.array_equal(alone, spikes_w[1]))
    if spikes is not None:
        out["mismatch_100_vmap_sharedw_equals_vmap"] = bool(jnp.array_equal(spikes_w, spikes))
    if not full:
        out["skipped"] = (
            "run at N = 256 only: the per-instance re-jit mismatch loop (mismatch_100_s) and "
            "the dt = 0.1 ms rate"
        )
        return out
    # secondary: draw, set, jit and run per instance, as Rockpool's API suggests
    progress.stage("rockpool mismatch, re-jit per instance")
    key = jax.random.PRNGKey(args.seed)
    t = time.perf_counter()
    for _ in range(args.peer_instances):
        key, sub = jax.random.split(key)
        inst = net.set_attributes(regenerate(net, rng_key=sub))
        jax.block_until_ready(jax.jit(lambda x, inst=inst: inst(x)[0])(x1))
    per = (time.perf_counter() - t) / args.peer_instances
    out["mismatch_per_instance_s"] = per
    out["mismatch_100_s"] = per * MISMATCH_INSTANCES
    out["mismatch_instances_run"] = args.peer_instances
    # Rockpool's own dt dependence on this workload, for context (0.1 ms, batch 1)
    progress.stage("rockpool dt = 0.1 ms")
    fine = build(1e-4)
    xf = jnp.asarray(
        np.repeat(_inputs(1, args.seed, n), 10, axis=1)
        * (np.arange(10000) % 10 == 0)[None, :, None]
    )
    out["rate_dt_0p1ms_hz"] = float(jnp.mean(jax.jit(lambda x: fine(x)[0])(xf))) / 1e-4
    return out


WORKLOADS = ("fwd_b32", "fwdbwd_b32", "fwd_b1", "fwdbwd_b1", "mismatch_100")


def speedups(
    paths: dict[str, dict], peer: dict, names: tuple[str, ...] = WORKLOADS, tag: str = ""
) -> dict:
    """speedup_<workload><suffix><tag> = peer seconds / hil.sim seconds for every path (suffix ->
    that path's timings) and every workload in `names`, plus the two jit(vmap) mismatch peers
    (speedup_mismatch_100_vmap..., speedup_mismatch_100_vmap_sharedw...); `tag` ("_n1024")
    names the network size when it is not N = 256. A forward + backward figure is null, with
    `<key>_null_reason`, unless both gradients are finite (a speed figure for a non-finite
    gradient means nothing)."""
    out: dict = {}
    for suffix, mine in paths.items():
        for name in names:
            key = f"speedup_{name}{suffix}{tag}"
            bad = [
                who
                for who, r in ((f"hil.sim{suffix or ' (default path)'}", mine), ("rockpool", peer))
                if r.get(f"{name}_grad_finite", True) is not True
            ]
            if bad:
                out[key] = None
                out[f"{key}_null_reason"] = "gradient not finite: " + ", ".join(bad)
            else:
                out[key] = peer[f"{name}_s"] / mine[f"{name}_s"]
        for vmap in ("mismatch_100_vmap", "mismatch_100_vmap_sharedw"):
            key = f"speedup_{vmap}{suffix}{tag}"
            if peer[f"{vmap}_s"] is None:
                out[key] = None
                out[f"{key}_null_reason"] = peer[f"{vmap}_skipped"]
            else:
                out[key] = peer[f"{vmap}_s"] / mine["mismatch_100_s"]
    return out


def _base(args: argparse.Namespace, result: dict, stage: Callable[[str], None]) -> None:
    """The N = 256 workload on every hil.sim path, the floor, the dt check and Rockpool; the keys
    have no size suffix (their names and meaning predate `--neurons`)."""
    w_in, w_rec = _network(args.seed)
    stage("hil.sim, torch path, eager")
    ours = _ours(args, w_in, w_rec, compiled=False)
    result["hil"] = ours
    stage("hil.sim, fused kernels")
    result["hil_fused"] = _ours(args, w_in, w_rec, compiled=False, fused=True)
    result["hil_fused"]["path"] = (
        "simulate's default (fused=None): forward and mismatch through hil.sim.fused (the whole "
        "forward in one numba kernel), forward + backward through hil.sim.adjoint (that forward "
        "plus a hand-written backward, one numba kernel)"
    )
    result["compiled"] = None
    stage("hil.sim, torch path, torch.compile")
    if not args.no_compile:
        try:
            result["hil_compiled"] = _ours(args, w_in, w_rec, compiled=True)
            result["compiled"] = (
                "torch.compile of each bin, dynamics.step (simulate(compiled=True))"
            )
        except Exception as e:  # no C++ compiler, unsupported platform: report, keep eager
            result["compiled"] = f"unavailable: {type(e).__name__}: {str(e)[:200]}"
    torch_best = result.get("hil_compiled", ours)
    fused = result["hil_fused"]
    stage("floor: bare matmuls")
    result["floor"] = _floor(args, w_in, w_rec)
    result["dt_rate_error"] = None
    stage("dt = 10 us run")
    if not args.no_dt:
        d = _dt_error(args, w_in, w_rec)
        result["hil"].update({k: v for k, v in d.items() if k != "dt_rate_error"})
        result["dt_rate_error"] = d["dt_rate_error"]
    vmaps = ("mismatch_100_vmap", "mismatch_100_vmap_sharedw")
    result.update({f"speedup_{n}": None for n in (*WORKLOADS, *vmaps)})
    stage("Rockpool")
    peer = _peer(args, result, "peer", lambda: _rockpool(args, w_in, w_rec))
    if peer is not None:
        result["rockpool"] = peer
        paths = {"": fused, "_torch": torch_best, "_eager": ours}
        result.update(speedups(paths, peer))


def _extra(args: argparse.Namespace, n: int, result: dict, stage: Callable[[str], None]) -> None:
    """The same workload at N = n != 256: hil.sim's default path (fused kernels) and Rockpool
    (jit; jit(vmap) for the mismatch instances); keys and sections end in `_n<n>`."""
    tag = f"_n{n}"
    w_in, w_rec = _network(args.seed, n)
    stage(f"hil.sim, fused kernels, N = {n}")
    fused = _ours(args, w_in, w_rec, compiled=False, fused=True, recgrad0=False)
    result[f"hil_fused{tag}"] = fused
    names = WORKLOADS[:-1]  # no per-instance re-jit loop at this size (Rockpool's part skips it)
    vmaps = ("mismatch_100_vmap", "mismatch_100_vmap_sharedw")
    result.update({f"speedup_{k}{tag}": None for k in (*names, *vmaps)})
    stage(f"Rockpool, N = {n}")
    peer = _peer(
        args,
        result,
        f"peer{tag}",
        lambda: _rockpool(args, w_in, w_rec, full=False, full_vmap=not args.no_full_vmap),
    )
    if peer is not None:
        result[f"rockpool{tag}"] = peer
        result.update(speedups({"": fused}, peer, names=names, tag=tag))


def _peer(args: argparse.Namespace, result: dict, key: str, go: Callable[[], dict]) -> dict | None:
    """Rockpool's timings from `go`, or None with the reason in result[key]."""
    if args.no_peer:
        result[key] = "skipped (--no-peer)"
        return None
    try:
        peer = go()
    except ImportError as e:
        result[key] = f"rockpool not installed ({e.name}); pip install .[peers]"
        return None
    result[key] = "rockpool"
    return peer


def run(args: argparse.Namespace) -> dict:
    import numba
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    result: dict = {
        "workload": {
            "neurons": N,
            "neurons_run": args.neurons,
            "keys": f"unsuffixed keys and sections are N = {N}; those ending _n<N> are that N "
            "(hil.sim's default path and Rockpool only)",
            "input_rate_hz": RATE_HZ,
            "input_weight": W_IN,
            "w_rec_sd": 2.0 / np.sqrt(N),
            "w_rec_sd_rule": "2 / sqrt(N)",
            "duration_s": DURATION_S,
            "dt_s": DT,
            "mismatch_instances": MISMATCH_INSTANCES,
            "mismatch_sigma": MISMATCH_SIGMA,
            "seed": args.seed,
            "repeats": args.repeats,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "numba_threads": min(
                torch.get_num_threads(),
                numba.config.NUMBA_NUM_THREADS,  # type: ignore[attr-defined]
            ),
            "numba": numba.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "loadavg_start": list(os.getloadavg()),
        },
    }
    from hil import progress

    stages = (["hil eager", "hil fused", "compiled", "floor", "dt", "peer"] if N in args.neurons
              else []) + [f"{s} N = {n}" for n in args.neurons if n != N for s in ("hil", "peer")]  # fmt: skip
    bar = iter(progress.bar(stages, desc="bench sim", total=len(stages)))

    def stage(text: str) -> None:
        next(bar, None)
        progress.stage(text)

    if N in args.neurons:
        _base(args, result, stage)
    else:
        result["peer"] = f"N = {N} not run (--neurons {','.join(map(str, args.neurons))})"
    for n in args.neurons:
        if n != N:
            _extra(args, n, result, stage)
    for _ in bar:  # run the bar to its end
        pass
    if any(k.startswith("speedup_") and v is not None for k, v in result.items()):
        result["speedup_paths"] = {
            "speedup_*": "hil_fused: simulate's default path (numba kernels: hil.sim.fused "
            "forward, hil.sim.adjoint forward + backward)",
            "speedup_*_torch": "hil_compiled if present, else hil: the per-bin torch path",
            "speedup_*_eager": "hil: the per-bin torch path, eager",
            "speedup_mismatch_100_vmap": "against Rockpool's jit(vmap) over the 100 instances, "
            "compiled once (the fair peer); every parameter mapped, so each instance carries "
            "its own copy of the (not deviated) weights",
            "speedup_mismatch_100_vmap_sharedw": "the same, mapping only the deviated "
            "parameters: the weights enter once, one (100, N) x (N, N) product per bin",
            "speedup_mismatch_100": "against Rockpool's draw, set and re-jit per instance "
            "(secondary; N = 256 only)",
            "*_n<N>": "the same at that N, hil.sim's default path",
        }
    result["targets"] = {
        "speedup_fwd_b32": ">= 2",
        "speedup_fwdbwd_b32": ">= 2",
        "speedup_mismatch_100_vmap": ">= 2",
        "speedup_mismatch_100": ">= 50",
        "grad_finite": "fwdbwd_b32_grad_finite true for hil_fused and rockpool",
        "dt_rate_error": "<= 0.05",
    }
    result["machine"]["loadavg_end"] = list(os.getloadavg())
    return result
