"""`hil bench quantize`: hil.quantize against Rockpool 3.1.0's autoencoder quantizer, same run,
same weights.

Weight sets (hil.quantize.weightsets, seeded by --seed): the tutorial-shaped network (60 x 2 input,
2 x 2 recurrent, -15..+12 units of 10 nA) and a 256-neuron random network (48 recurrent + 16 input
synapses per neuron, Gaussian). Each set is one core for both quantizers (Rockpool's
`autoencoder_quantization(n_cluster=1, core_map=zeros)`, its defaults otherwise, as its
deployment tests call it), so both fit 4 base weights to the same synapses.

Metric (rockpool_dynapse.md section 4), the same function for both: relative RMS error
sqrt(sum (w_hat - w)^2 / sum w^2) over all input and recurrent weights, w_hat the signed weights
the quantizer's base weights and masks realize. hil's (`rms_error_*`) are the weights its bias
codes realize: base weights on the SYAM_W grid times each sign's synapse gain factor
Igain_s(code) / Igain_s(nominal) (AMPA for w > 0, GABA for w < 0, codes on the DEAM_EGAIN_P /
DEGA_IGAIN_P grids, hil.quantize.weights). `rms_error_*_one_gain`: the same quantizer with one
scale for both signs (both gains at their nearest codes). Rockpool's are taken as it returns
them (unrounded floats, which can only help it). `binary_grid_*` is the plain baseline
(Iw_i = s 2^i, best s, not snapped).

Lower bounds (exact, hil.quantize.weights.optimal_levels_error): `bound_one_set_*` is the best
set of 15 free non-zero levels (plus 0) for all magnitudes, which no single scale of 4 base
weights can beat; `bound_per_sign_*` the best such set for each sign separately, which the two
gain-scaled copies of one set of subset sums cannot beat either.

Times: hil's median over --repeats; Rockpool's one call per set (it takes seconds; its jit
compile is part of each call, as for any user). speedup_vs_rockpool = Rockpool's total time over
both sets / hil's. Without Rockpool (the `peers` extra) the rockpool_* keys are null and
`rockpool` says why; nothing else changes.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import numpy as np

from hil import argtypes as at
from hil.quantize import weightsets
from hil.quantize.weights import (
    BITS,
    binary_grid,
    optimal_levels_error,
    quantize,
    relative_rms_error,
)

SETS = ("tutorial", "256")
T = TypeVar("T")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repeats", type=at.integer(1, 100), default=5, help="timed repeats of hil's quantizer"
    )
    parser.add_argument("--no-peer", action="store_true", help="skip Rockpool even if installed")
    parser.add_argument("--seed", type=at.seed, default=0, help="weight-set seed")


def _sets(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"tutorial": weightsets.tutorial(seed), "256": weightsets.random_256(seed)}


def _timed(fn: Callable[[], T], repeats: int) -> tuple[T, float]:
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return out, statistics.median(ts)


def rockpool_quantize(
    w_in: np.ndarray, w_rec: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - needs the peers extra
    """Rockpool's autoencoder quantizer on one core; the signed weights [A] it realizes."""
    import warnings

    from rockpool.devices.dynapse import (
        autoencoder_quantization,
    )

    iscale = weightsets.ISCALE_A
    n = w_rec.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = autoencoder_quantization(
            n_cluster=1,
            core_map=np.zeros(n, dtype=int),
            weights_in=w_in / iscale,
            weights_rec=w_rec / iscale,
            Iscale=iscale,
        )
    iw = np.array([float(out[f"Iw_{i}"][0]) for i in range(4)])  # [A]
    lv = BITS @ iw
    q_in = np.asarray(out["sign_in"][0]) * lv[np.asarray(out["weights_in"][0], dtype=int)]
    q_rec = np.asarray(out["sign_rec"][0]) * lv[np.asarray(out["weights_rec"][0], dtype=int)]
    return q_in, q_rec


def _rockpool_available() -> str | None:
    try:
        import rockpool.devices.dynapse  # noqa: F401
    except Exception as e:  # any import failure means: not usable here
        return f"not available: {type(e).__name__}: {e}"[:200]
    return None


def run(args: argparse.Namespace) -> dict:
    out: dict = {
        "seed": args.seed,
        "python": platform.python_version(),
        "metric": "sqrt(sum (w_hat - w)^2 / sum w^2) over all input and recurrent weights",
    }
    hil_time = 0.0
    sets = _sets(args.seed)
    for name, (w_in, w_rec) in sets.items():
        core_of = np.zeros(w_rec.shape[0], dtype=np.int64)
        q, t = _timed(partial(quantize, w_in, w_rec, core_of), args.repeats)
        q_in, q_rec = q.weights()
        out[f"rms_error_{name}"] = relative_rms_error(w_in, w_rec, q_in, q_rec)
        out[f"synapse_gain_factors_{name}"] = q.gain[0].tolist()
        one = quantize(w_in, w_rec, core_of, split=False)
        out[f"rms_error_{name}_one_gain"] = relative_rms_error(w_in, w_rec, *one.weights())
        out[f"binary_grid_rms_error_{name}"] = binary_grid(w_in, w_rec)[0]
        w = np.concatenate([w_in.ravel(), w_rec.ravel()])
        total = float(w @ w)
        out[f"bound_one_set_{name}"] = float(np.sqrt(optimal_levels_error(w) / total))
        per_sign = optimal_levels_error(w[w > 0]) + optimal_levels_error(w[w < 0])
        out[f"bound_per_sign_{name}"] = float(np.sqrt(per_sign / total))
        out[f"hil_time_s_{name}"] = t
        out[f"n_weights_{name}"] = int(np.count_nonzero(w_in) + np.count_nonzero(w_rec))
        hil_time += t
    why = "skipped (--no-peer)" if args.no_peer else _rockpool_available()
    out["rockpool"] = why or "rockpool 3.1.0 autoencoder_quantization, run in this process"
    out["speedup_vs_rockpool_compares"] = (
        "Rockpool cold (one call per set, its jit compile included) over hil warm (median of "
        "--repeats); moves with the machine's load"
    )
    if why is None:
        rp_time = 0.0
        for name, (w_in, w_rec) in sets.items():
            (r_in, r_rec), t = _timed(partial(rockpool_quantize, w_in, w_rec), 1)
            out[f"rockpool_rms_error_{name}"] = relative_rms_error(w_in, w_rec, r_in, r_rec)
            out[f"rockpool_time_s_{name}"] = t
            rp_time += t
        out["speedup_vs_rockpool"] = rp_time / hil_time
    else:
        for name in SETS:
            out[f"rockpool_rms_error_{name}"] = None
            out[f"rockpool_time_s_{name}"] = None
        out["speedup_vs_rockpool"] = None
    return out
