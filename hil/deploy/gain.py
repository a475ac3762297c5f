"""What mismatch-aware placement gains over naive placement, measured on emulated chips.

`python -m hil.deploy.gain [--silicons 0,1,2] [--bad] [--families lognormal,normal,uniform]
[--finetune K] [--json]` (docs/deploy.md).

Workload (`workload_model`): a 200-neuron recurrent network on one logical core, 32 Poisson input
channels at 20 Hz, each neuron listening to 12 inputs (excitatory) and 16 other neurons (80 %
excitatory), nominal currents; 1 s runs. The reference is the same deployment on an emulated chip
without any imperfection (`Silicon` with no mismatch, noise, dead or hot neurons): what the network
does on the chip it was designed for. On each imperfect silicon the network is deployed twice:
naive (logical core on core 0, neurons in order, nominal codes) and with the silicon's twin
(hil.deploy.placement: dead and hot neurons avoided, least-deviating neurons for the most
connected network neurons, biases corrected by the twin's per-core medians, and each synapse's mask
re-chosen for its neuron's synaptic gain on that silicon); `rate_error_twin_placement_only` leaves
out the mask compensation. Each run's rates are mapped back to network neurons through the
deployment's placement.

rate_error = sqrt(mean((r - r_ref)^2)) / sqrt(mean(r_ref^2)) over the network's neurons; gain =
naive rate_error / twin rate_error. The twin here is the silicon's hidden truth (the best twin a
fit can reach); a fitted twin will gain less. Board runs: one per deployment measured, none to
deploy (the runs that built the twin are not counted; with the truth they are none).

`--slot-factors` gives the twin each CAM slot's weight factor too (a hil.twin/1 JSON, as a fit
with per-slot factors writes), which the mask compensation then uses.

`--finetune K` also runs K steps of chip-in-the-loop fine-tuning (hil.deploy.finetune, K + 1
board runs) from each deployment on the measurement stimulus, and judges before and after on a
held-out stimulus (another seed) against the ideal chip's rates on it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from hil.chip.params import HighLevel
from hil.deploy.deploy import Deployment, deploy
from hil.deploy.finetune import ideal_silicon, rate_error
from hil.deploy.placement import load_twin
from hil.emulator.engine import SiliconEngine
from hil.emulator.silicon import Silicon
from hil.events import global_index, poisson_input
from hil.train.model import Model

N, N_IN, FAN_IN_IN, FAN_IN_REC = 200, 32, 12, 16
RATE_HZ, DURATION_S = 20.0, 1.0


def workload_model(seed: int = 0) -> Model:
    """The measurement network (module docstring) as a hil.model/1 Model."""
    rng = np.random.default_rng(seed)
    w_in = np.zeros((N_IN, N))
    w_rec = np.zeros((N, N))
    for post in range(N):
        w_in[rng.choice(N_IN, FAN_IN_IN, replace=False), post] = rng.uniform(2e-9, 6e-9, FAN_IN_IN)
        pre = rng.choice(np.delete(np.arange(N), post), FAN_IN_REC, replace=False)
        sign = np.where(rng.random(FAN_IN_REC) < 0.8, 1.0, -1.0)
        w_rec[pre, post] = sign * rng.uniform(0.5e-9, 2e-9, FAN_IN_REC)
    cur = {k: v for k, v in HighLevel().currents().items() if not k.startswith("Iw_")}
    return Model(
        w_in=w_in,
        w_rec=w_rec,
        core_of=np.zeros(N, np.int64),
        currents=[cur],
        outputs=[list(range(10))],
        dt=1e-3,
    )


def rates(silicon: Silicon, dep: Deployment, stimulus: np.ndarray) -> np.ndarray:
    """(N,) rates [Hz] of the network's neurons on `silicon` under `dep`."""
    with SiliconEngine(silicon) as board:
        board.apply(dep.config)
        out = board.run(stimulus, DURATION_S)
    counts = np.bincount(global_index(out), minlength=4096 * 4)
    return counts[dep.placement.neurons] / DURATION_S


def with_family(silicon: Silicon, family: str) -> Silicon:
    """`silicon` with every mismatch and weight factor drawn from `family` (lognormal, normal,
    uniform) at the same spreads, and its id marked."""
    d = silicon.to_dict()
    for spec in d.get("mismatch", {}).values():
        spec["family"] = family
    if "weight" in d:
        d["weight"]["family"] = family
    d["silicon_id"] = f"{d['silicon_id']}-{family}"[:64]
    return Silicon.from_dict(d)


def measure(
    silicon: Silicon,
    model: Model,
    stimulus: np.ndarray,
    ref: np.ndarray,
    finetune_steps: int = 0,
    held_out: tuple[np.ndarray, np.ndarray] | None = None,
    slot_factors: bool = False,
) -> dict:
    """Naive vs twin placement on one silicon: rate errors, gain, what sat on dead/hot neurons;
    with `finetune_steps`, chip-in-the-loop fine-tuning of both deployments on `stimulus`,
    judged on `held_out` = (stimulus, reference rates) it never saw. The twin is the silicon's
    truth CSV, or with `slot_factors` a hil.twin/1 JSON that also has its CAM slots' factors."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "truth.csv"
        silicon.write_truth(path)
        if slot_factors:
            rows = list(csv.DictReader(io.StringIO(path.read_text())))
            doc = {
                "schema": "hil.twin/1",
                "n_chips": silicon.n_chips,
                "columns": {c: [float(r[c]) for r in rows] for c in rows[0]},
                "weight_factor": silicon.truth().weight_factor.tolist(),
            }
            path = path.with_suffix(".json")
            path.write_text(json.dumps(doc))
        twin = load_twin(str(path))
    naive = deploy(model, twin=twin, naive=True)
    placed = deploy(model, twin=twin)
    no_masks = deploy(model, twin=twin, compensate=False)
    e_naive = rate_error(rates(silicon, naive, stimulus), ref)
    e_twin = rate_error(rates(silicon, placed, stimulus), ref)
    row: dict = {}
    if finetune_steps:
        from hil.chip.netlist import board_currents
        from hil.deploy.finetune import finetune

        assert held_out is not None
        for name, dep in (("naive", naive), ("twin", placed)):
            cur = {k: board_currents(dep.config, 1)[k] * twin.factors[k] for k in twin.factors}
            with SiliconEngine(silicon) as board:
                best, hist = finetune(dep, board, cur, stimulus, DURATION_S, ref, finetune_steps)
            row[f"held_out_error_{name}"] = rate_error(
                rates(silicon, dep, held_out[0]), held_out[1]
            )
            row[f"held_out_error_{name}_finetuned"] = rate_error(
                rates(silicon, best, held_out[0]), held_out[1]
            )
            row[f"finetune_board_runs_{name}"] = len(hist)
    return {
        **row,
        "silicon": silicon.silicon_id,
        "rate_error_naive": e_naive,
        "rate_error_twin_placement_only": rate_error(rates(silicon, no_masks, stimulus), ref),
        "rate_error_twin": e_twin,
        "gain": e_naive / e_twin if e_twin > 0 else float("inf"),
        "naive_on_dead": len(naive.report["placement"]["network_neurons_on_dead"]),
        "naive_on_hot": len(naive.report["placement"]["network_neurons_on_hot"]),
        "twin_on_dead": len(placed.report["placement"]["network_neurons_on_dead"]),
        "twin_on_hot": len(placed.report["placement"]["network_neurons_on_hot"]),
        "masks_compensated": placed.report["placement"]["masks_compensated"],
        "board_runs": 3,
    }


def run(
    silicons: list[Silicon], seed: int = 0, finetune_steps: int = 0, slot_factors: bool = False
) -> dict:
    model = workload_model(seed)
    stimulus = poisson_input(RATE_HZ, N_IN, DURATION_S, seed=seed)
    ref_dep = deploy(model)
    ref = rates(ideal_silicon(), ref_dep, stimulus)
    other = poisson_input(RATE_HZ, N_IN, DURATION_S, seed=seed + 1000)
    held_out = (other, rates(ideal_silicon(), ref_dep, other))
    rows = [
        measure(s, model, stimulus, ref, finetune_steps, held_out, slot_factors) for s in silicons
    ]
    return {
        "reference_mean_rate_hz": float(ref.mean()),
        "silicons": rows,
        "median_gain": statistics.median(r["gain"] for r in rows),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hil.deploy.gain", description=__doc__)
    p.add_argument("--silicons", default="0,1,2,3", help="Silicon.from_seed seeds, comma-separated")
    p.add_argument("--bad", action="store_true", help="also fixtures/silicon/bad.json")
    p.add_argument(
        "--families",
        default="lognormal",
        help="mismatch families to draw each seed's silicon from (lognormal, normal, uniform)",
    )
    p.add_argument("--seed", type=int, default=0, help="network and stimulus seed")
    p.add_argument("--finetune", type=int, default=0, help="chip-in-the-loop steps (0: none)")
    p.add_argument(
        "--slot-factors", action="store_true", help="twin with per-CAM-slot weight factors"
    )
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.silicons.split(",") if s]
    fams = [f for f in args.families.split(",") if f]
    sil = [
        Silicon.from_seed(s) if f == "lognormal" else with_family(Silicon.from_seed(s), f)
        for f in fams
        for s in seeds
    ]
    if args.bad:
        sil.append(Silicon.load(Path(__file__).parents[2] / "fixtures/silicon/bad.json"))
    out = run(sil, args.seed, args.finetune, args.slot_factors)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"reference mean rate {out['reference_mean_rate_hz']:.1f} Hz")
        for r in out["silicons"]:
            print(
                f"{r['silicon']:14s} naive {r['rate_error_naive']:.3f} "
                f"(dead {r['naive_on_dead']}, hot {r['naive_on_hot']})  placement+biases "
                f"{r['rate_error_twin_placement_only']:.3f}  +masks "
                f"{r['rate_error_twin']:.3f} (dead {r['twin_on_dead']}, hot {r['twin_on_hot']})  "
                f"gain {r['gain']:.2f}"
            )
            if "held_out_error_twin" in r:
                print(
                    f"{'':14s} held-out: naive {r['held_out_error_naive']:.3f} -> "
                    f"{r['held_out_error_naive_finetuned']:.3f}, twin "
                    f"{r['held_out_error_twin']:.3f} -> {r['held_out_error_twin_finetuned']:.3f} "
                    f"({r['finetune_board_runs_twin']} board runs)"
                )
        print(f"median gain {out['median_gain']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
