"""`hil bench scaling`: hil.sim's cost against the floor of the same work, in one process.

Each workload is the benchmark network of `hil bench sim` (dense random recurrent weights of s.d.
2/sqrt(N), eye(N) * 4 input weights, one 20 Hz Poisson channel per neuron; weights in units of
1e-8 A; dt = 1 ms) at another size, run for --bins bins. Every figure is a ratio of medians
measured here, in this process, so the machine's speed and load cancel:

- `fwd_over_floor_n1024_b128`: simulate (no gradient: the fused kernel) at N = 1024, batch 128,
  over the floor: the input projection (B T, N) x (N, N) plus one (B, N) x (N, N) product per bin,
  bare float32 torch matmuls.
- `instances100_fwd_over_floor_n256`: 100 mismatch instances of the N = 256 network, batch 1, one
  call, over the same floor with batch 100 (the weights are shared).
- `sparse64_fwd_over_csr_floor_n2048_b32`: N = 2048, batch 32, fan-in 64 (the chip's CAM limit:
  64 random sources per neuron, weights N(0, (2/8)^2)), over the torch CSR floor: one
  torch.sparse.mm of the (N, N) CSR matrix (64 entries per row) with the (N, B) spikes per bin.
- `fwdbwd_over_floor_n256_b32`, `fwdbwd_over_floor_n1024_b128`: forward + backward (gradient of
  the mean count with respect to w_in and w_rec, full BPTT: rec_grad = 1) over the floor of the
  same matmuls: the forward floor, plus per bin the (B, N) x (N, N)^T product that carries the
  gradient back through the recurrent weights, plus dW_rec = S^T G and dW_in = X^T G as two
  (N, B T) x (B T, N) products.
- `bptt_bytes_per_tbn`: bytes the forward keeps for the backward (hil.sim.adjoint's records and
  saved tensors) per (bin x batch x neuron), at N = 256, batch 32.

Seconds are per run of --bins bins (`*_s`); ratios do not depend on it beyond noise. The keys are
wall-clock ratios; `cpu_time_ratios` has the same ratios in process CPU time, which a loaded machine
distorts less (run with --threads 1 there: multi-threaded torch products stall at their barriers
when a thread is descheduled, which inflates the floor's wall-clock time).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable

import numpy as np

from hil import argtypes as at

RATE_HZ = 20.0
W_IN = 4.0
DT = 1e-3
TARGETS = {
    "fwd_over_floor_n1024_b128": 1.0,
    "instances100_fwd_over_floor_n256": 1.5,
    "sparse64_fwd_over_csr_floor_n2048_b32": 1.2,
    "fwdbwd_over_floor_n256_b32": 3.0,
    "fwdbwd_over_floor_n1024_b128": 3.0,
    "bptt_bytes_per_tbn": 16.0,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repeats", type=at.integer(1, 1000), default=3, help="timed repeats per workload"
    )
    parser.add_argument(
        "--bins", type=at.integer(10, 100_000), default=200, help="bins (1 ms each) per run"
    )
    parser.add_argument(
        "--threads",
        type=at.integer(0, 1024),
        default=0,
        help="torch and numba threads (0: torch's default, the machine's cores)",
    )
    parser.add_argument("--seed", type=at.seed, default=0, help="network and input seed")


def _median_time(fn: Callable[[], object], repeats: int) -> np.ndarray:
    """[wall-clock, process CPU] seconds, medians over `repeats` calls after one warm-up call."""
    fn()  # warm-up: kernels load, buffers are allocated
    ts = []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        ts.append((time.perf_counter() - t, time.process_time() - c))
    return np.median(np.array(ts), axis=0)


def _dense(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w_rec = rng.normal(0.0, 2.0 / np.sqrt(n), (n, n)).astype(np.float32)
    return W_IN * np.eye(n, dtype=np.float32), w_rec


def _fan_in(n: int, k: int, seed: int) -> np.ndarray:
    """(n, n) recurrent weights [pre, post] with exactly k random sources per post neuron."""
    rng = np.random.default_rng(seed)
    w = np.zeros((n, n), np.float32)
    for post in range(n):
        pre = rng.choice(n, k, replace=False)
        w[pre, post] = rng.normal(0.0, 2.0 / np.sqrt(k), k)
    return w


def _inputs(batch: int, bins: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1 + batch)
    return rng.poisson(RATE_HZ * DT, (batch, bins, n)).astype(np.float32)


def _floor_fwd(
    x: np.ndarray, w_in: np.ndarray, w_rec: object, sparse: bool, reps: int
) -> np.ndarray:
    """Bare torch products of the forward: input projection + one recurrent product per bin."""
    import torch

    B, T, N = x.shape
    X, Win = torch.from_numpy(x).reshape(B * T, N), torch.from_numpy(w_in)
    s = (torch.rand(B, N, generator=torch.Generator().manual_seed(0)) < 0.03).float()
    if sparse:
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            Wt = torch.from_numpy(np.ascontiguousarray(np.asarray(w_rec).T)).to_sparse_csr()
        st = s.t().contiguous()

        def f() -> None:
            X @ Win
            for _ in range(T):
                torch.sparse.mm(Wt, st)

    else:
        W = torch.from_numpy(np.asarray(w_rec))

        def f() -> None:
            X @ Win
            for _ in range(T):
                s @ W

    return _median_time(f, reps)


def _floor_bwd(x: np.ndarray, w_rec: np.ndarray, reps: int) -> np.ndarray:
    """Bare torch products of the backward: g W^T per bin, dW_rec = S^T G, dW_in = X^T G."""
    import torch

    B, T, N = x.shape
    W = torch.from_numpy(w_rec)
    X = torch.from_numpy(x).reshape(B * T, N)
    G = torch.randn(B * T, N, generator=torch.Generator().manual_seed(1))
    g = G[:B].contiguous()

    def f() -> None:
        for _ in range(T):
            g @ W.t()
        X.t() @ G
        X.t() @ G  # S^T G: a (N, B T) x (B T, N) product like X^T G

    return _median_time(f, reps)


def _fwd(
    x: np.ndarray, w_in: np.ndarray, w_rec: np.ndarray, instances: int, reps: int
) -> np.ndarray:
    import torch

    from hil.sim import NeuronParams, Weights, sample_mismatch, simulate

    N = w_rec.shape[0]
    p = NeuronParams.nominal(N)
    if instances > 1:
        p = sample_mismatch(p, instances, sigma=0.1, seed=1)
    w = Weights.from_signed(torch.from_numpy(w_in), torch.from_numpy(w_rec))
    xt = torch.from_numpy(x)

    def f() -> None:
        with torch.no_grad():
            simulate(p, w, xt)

    return _median_time(f, reps)


def _fwdbwd(
    x: np.ndarray, w_in: np.ndarray, w_rec: np.ndarray, reps: int
) -> tuple[np.ndarray, dict]:
    import torch

    from hil.sim import DynapNet

    N = w_rec.shape[0]
    net = DynapNet(N, N, w_in=torch.from_numpy(w_in), w_rec=torch.from_numpy(w_rec), rec_grad=1.0)
    xt = torch.from_numpy(x)

    def f() -> None:
        net.zero_grad()
        net(xt).mean().backward()

    secs = _median_time(f, reps)
    grads = [g for g in (net.w_in.grad, net.w_rec.grad) if g is not None]
    return secs, {"grad_finite": all(bool(torch.isfinite(g).all()) for g in grads)}


def _bptt_bytes(x: np.ndarray, w_in: np.ndarray, w_rec: np.ndarray) -> float:
    """Bytes kept for the backward per (bin x batch x neuron), from hil.sim.adjoint's record."""
    import torch

    from hil.sim import DynapNet
    from hil.sim.adjoint import saved_bytes

    B, T, N = x.shape
    net = DynapNet(N, N, w_in=torch.from_numpy(w_in), w_rec=torch.from_numpy(w_rec), rec_grad=1.0)
    out = net(torch.from_numpy(x))
    return saved_bytes(out) / (T * B * N)


def _record(result: dict, key: str, ours: np.ndarray, floor: np.ndarray, names: tuple) -> None:
    """Seconds (wall) under `names`, the wall-clock ratio under `key`, the CPU-time ratio under
    result["cpu_time_ratios"][key]."""
    result[names[0]], result[names[1]] = float(ours[0]), float(floor[0])
    result[key] = float(ours[0] / floor[0])
    result["cpu_time_ratios"][key] = float(ours[1] / floor[1])


def run(args: argparse.Namespace) -> dict:
    import numba
    import torch

    from hil import progress

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    T, reps, seed = args.bins, args.repeats, args.seed
    result: dict = {
        "bins": T,
        "dt_s": DT,
        "repeats": reps,
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "numba": numba.__version__,
            "torch": torch.__version__,
            "loadavg_start": list(os.getloadavg()),
        },
        "cpu_time_ratios": {},
    }
    stages = ["n1024_b128", "instances100", "sparse64", "fwdbwd_n256", "fwdbwd_n1024", "memory"]
    bar = iter(progress.bar(stages, desc="bench scaling", total=len(stages)))

    next(bar)
    progress.stage("forward N 1024, batch 128")
    w_in, w_rec = _dense(1024, seed)
    x = _inputs(128, T, 1024, seed)
    s, f = _fwd(x, w_in, w_rec, 1, reps), _floor_fwd(x, w_in, w_rec, False, reps)
    names = ("fwd_n1024_b128_s", "floor_fwd_n1024_b128_s")
    _record(result, "fwd_over_floor_n1024_b128", s, f, names)

    next(bar)
    progress.stage("forward N 256, 100 instances")
    w_in, w_rec = _dense(256, seed)
    x1 = _inputs(1, T, 256, seed)
    s = _fwd(x1, w_in, w_rec, 100, reps)
    f = _floor_fwd(_inputs(100, T, 256, seed), w_in, w_rec, False, reps)
    names = ("instances100_fwd_n256_s", "floor_fwd_n256_b100_s")
    _record(result, "instances100_fwd_over_floor_n256", s, f, names)

    next(bar)
    progress.stage("forward N 2048, batch 32, fan-in 64")
    w_in, w_sp = np.float32(W_IN) * np.eye(2048, dtype=np.float32), _fan_in(2048, 64, seed)
    x = _inputs(32, T, 2048, seed)
    s, f = _fwd(x, w_in, w_sp, 1, reps), _floor_fwd(x, w_in, w_sp, True, reps)
    names = ("sparse64_fwd_n2048_b32_s", "csr_floor_fwd_n2048_b32_s")
    _record(result, "sparse64_fwd_over_csr_floor_n2048_b32", s, f, names)

    for n, b in ((256, 32), (1024, 128)):
        next(bar)
        progress.stage(f"forward + backward N {n}, batch {b}")
        w_in, w_rec = _dense(n, seed)
        x = _inputs(b, T, n, seed)
        s, info = _fwdbwd(x, w_in, w_rec, reps)
        f = _floor_fwd(x, w_in, w_rec, False, reps) + _floor_bwd(x, w_rec, reps)
        names = (f"fwdbwd_n{n}_b{b}_s", f"floor_fwdbwd_n{n}_b{b}_s")
        _record(result, f"fwdbwd_over_floor_n{n}_b{b}", s, f, names)
        result[f"fwdbwd_n{n}_b{b}_grad_finite"] = info["grad_finite"]

    next(bar)
    progress.stage("memory kept for the backward")
    w_in, w_rec = _dense(256, seed)
    result["bptt_bytes_per_tbn"] = _bptt_bytes(_inputs(32, T, 256, seed), w_in, w_rec)
    for _ in bar:
        pass
    result["targets"] = {k: f"<= {v}" for k, v in TARGETS.items()}
    result["met"] = {k: result[k] <= v for k, v in TARGETS.items()}
    result["machine"]["loadavg_end"] = list(os.getloadavg())
    return result
