"""`hil bench deploy`: what mismatch-aware deployment gains over naive placement, measured on
emulated chips (docs/deploy.md).

    hil bench deploy --silicons 40,41,42 --families lognormal,uniform --json
    hil bench deploy --silicons 0,1 --bad --finetune 5

Workload (`workload_model`): a 200-neuron recurrent network on one logical core, 32 Poisson input
channels at 20 Hz, each neuron listening to 12 inputs (excitatory) and 16 other neurons (80 %
excitatory), nominal currents; 1 s runs. The reference is the same deployment on an emulated chip
without any imperfection (`ideal_silicon`): what the network does on the chip it
was designed for. On each imperfect silicon (Silicon.from_seed, its mismatch drawn from each of
--families) the network is deployed:
- naive: logical core on core 0, neurons in order, nominal codes;
- twin_placement_only: twin placement (dead and hot neurons avoided, least-deviating neurons for
  the most connected network neurons) and biases corrected by the twin's per-core medians;
- twin: that plus each synapse's mask re-chosen for its neuron's synaptic gain (hil.deploy);
- selected: what `hil deploy --twin` deploys: the one of the three the twin predicts best
  (hil.deploy.predict), named in `selected`.
rate_error = sqrt(mean((r - r_ref)^2)) / sqrt(mean(r_ref^2)) over the network's neurons; gain =
naive rate_error / that deployment's. The twin is the silicon's hidden truth CSV (the best twin a
fit can reach), or with --slot-factors a hil.twin/1 JSON that also has its CAM slots' weight
factors, or with --twin a fitted one (`hil characterize` + `hil fit` on the same silicon).
Board runs: one per deployment measured (the characterization's runs are not counted).

`--finetune K` also runs K steps of chip-in-the-loop fine-tuning (hil.deploy.finetune, K + 1
board runs) from the naive and the twin deployment on the measurement stimulus, and judges before
and after on a held-out stimulus (another seed) against the ideal chip's rates on it.
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

from hil import argtypes as at
from hil import progress
from hil.chip.params import HighLevel
from hil.deploy.deploy import TWIN_BIASES, TWIN_MASKS, Deployment, deploy
from hil.deploy.finetune import rate_error
from hil.deploy.placement import Twin, load_twin
from hil.emulator.engine import SiliconEngine
from hil.emulator.silicon import Silicon
from hil.errors import ConfigError
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


def ideal_silicon() -> Silicon:
    """An emulated chip without mismatch, noise, dead or hot neurons."""
    return Silicon.from_dict({"schema": "hil.silicon/1", "silicon_id": "ideal", "seed": 0})


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


def twin_of(silicon: Silicon, folder: Path, slot_factors: bool = False) -> Twin:
    """The silicon's hidden truth as a twin: its truth CSV, or with `slot_factors` a hil.twin/1
    JSON that also has its CAM slots' weight factors."""
    path = folder / f"{silicon.silicon_id}.csv"
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
    return load_twin(str(path))


def measure(
    silicon: Silicon,
    model: Model,
    stimulus: np.ndarray,
    ref: np.ndarray,
    twin: Twin,
    finetune_steps: int = 0,
    held_out: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """Naive, twin placement only, twin, and the twin-selected deployment on one silicon: rate
    errors, gains, what sat on dead/hot neurons; with `finetune_steps`, chip-in-the-loop
    fine-tuning of the naive and twin deployments on `stimulus`, judged on `held_out` =
    (stimulus, reference rates) it never saw."""
    naive = deploy(model, twin=twin, naive=True)
    placed = deploy(model, twin=twin, select=False)
    no_masks = deploy(model, twin=twin, compensate=False, select=False)
    selected = deploy(model, twin=twin)
    sel = selected.report["placement"]["selection"]
    errors = {
        name: rate_error(rates(silicon, dep, stimulus), ref)
        for name, dep in (("naive", naive), ("twin_placement_only", no_masks), ("twin", placed))
    }
    by_name = {"naive": "naive", TWIN_BIASES: "twin_placement_only", TWIN_MASKS: "twin"}
    errors["selected"] = errors[by_name[sel["chosen"]]]  # the same config: no second run
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
        **{f"rate_error_{k}": v for k, v in errors.items()},
        "gain": errors["naive"] / errors["twin"] if errors["twin"] > 0 else float("inf"),
        "gain_selected": errors["naive"] / errors["selected"]
        if errors["selected"] > 0
        else float("inf"),
        "selected": sel["chosen"],
        "predicted_rate_error": {by_name[k]: v for k, v in sel["predicted_rate_error"].items()},
        "naive_on_dead": len(naive.report["placement"]["network_neurons_on_dead"]),
        "naive_on_hot": len(naive.report["placement"]["network_neurons_on_hot"]),
        "twin_on_dead": len(placed.report["placement"]["network_neurons_on_dead"]),
        "twin_on_hot": len(placed.report["placement"]["network_neurons_on_hot"]),
        "masks_compensated": placed.report["placement"]["masks_compensated"],
        "board_runs": 3,
    }


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def measure_all(
    silicons: list[Silicon],
    seed: int = 0,
    finetune_steps: int = 0,
    slot_factors: bool = False,
    twin: Twin | None = None,
) -> dict:
    """Every silicon's row (`measure`) and the gains' min / median / max; `twin`: this twin (a
    fitted one) instead of each silicon's truth."""
    model = workload_model(seed)
    stimulus = poisson_input(RATE_HZ, N_IN, DURATION_S, seed=seed)
    ref_dep = deploy(model)
    ref = rates(ideal_silicon(), ref_dep, stimulus)
    other = poisson_input(RATE_HZ, N_IN, DURATION_S, seed=seed + 1000)
    held_out = (other, rates(ideal_silicon(), ref_dep, other))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in progress.bar(silicons, desc="silicons"):
            t = twin or twin_of(s, Path(tmp), slot_factors)
            rows.append(measure(s, model, stimulus, ref, t, finetune_steps, held_out))
    gains = [r["gain"] for r in rows]
    selected = [r["gain_selected"] for r in rows]
    return {
        "reference_mean_rate_hz": float(ref.mean()),
        "silicons": rows,
        "median_gain": statistics.median(gains),
        "gain": _spread(gains),
        "gain_selected": _spread(selected),
        "twin_worse_than_naive": sum(g < 1 for g in gains),
        "selected_worse_than_naive": sum(g < 1 for g in selected),
    }


def silicons_from(seeds: list[int], families: list[str], bad: bool) -> list[Silicon]:
    sil = [
        Silicon.from_seed(s) if f == "lognormal" else with_family(Silicon.from_seed(s), f)
        for f in families
        for s in seeds
    ]
    if bad:
        sil.append(Silicon.load(Path(__file__).parents[2] / "fixtures/silicon/bad.json"))
    return sil


def _seeds(text: str) -> list[int]:
    parts = [p for p in text.split(",") if p]
    seed = at.seed
    if not 1 <= len(parts) <= 64:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not allowed; allowed: 1 to 64 comma-separated seeds"
        )
    return [seed(p) for p in parts]


def _families(text: str) -> list[str]:
    parts = [p for p in text.split(",") if p]
    if not parts or any(p not in FAMILIES for p in parts):
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not allowed; allowed: comma-separated {', '.join(FAMILIES)}"
        )
    return parts


FAMILIES = ("lognormal", "normal", "uniform")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--silicons", type=_seeds, default=[0, 1, 2, 3], help="Silicon.from_seed seeds, a,b,c"
    )
    parser.add_argument("--bad", action="store_true", help="also fixtures/silicon/bad.json")
    parser.add_argument(
        "--families",
        type=_families,
        default=["lognormal"],
        help="mismatch families to draw each seed's silicon from (lognormal, normal, uniform)",
    )
    parser.add_argument("--seed", type=at.seed, default=0, help="network and stimulus seed")
    parser.add_argument(
        "--finetune", type=at.integer(0, 50), default=0, help="chip-in-the-loop steps (0: none)"
    )
    parser.add_argument(
        "--slot-factors", action="store_true", help="twin with per-CAM-slot weight factors"
    )
    parser.add_argument(
        "--twin",
        metavar="TWIN",
        help="a fitted twin (hil fit's hil.twin/1 JSON) of the one silicon measured, instead of "
        "its hidden truth",
    )


def run(args: argparse.Namespace) -> dict:
    """`hil bench deploy`'s result (module docstring)."""
    sil = silicons_from(args.silicons, args.families, args.bad)
    twin = None
    if args.twin is not None:
        if len(sil) != 1:
            raise ConfigError("--twin", f"{len(sil)} silicons", "one silicon with a given twin")
        twin = load_twin(args.twin)
    out = measure_all(sil, args.seed, args.finetune, args.slot_factors, twin)
    out["twin"] = args.twin or "each silicon's hidden truth"
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m hil.bench.deploy`: the same, as a table."""
    p = argparse.ArgumentParser(prog="python -m hil.bench.deploy", description=__doc__)
    add_arguments(p)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    out = run(args)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"reference mean rate {out['reference_mean_rate_hz']:.1f} Hz")
    for r in out["silicons"]:
        print(
            f"{r['silicon']:20s} naive {r['rate_error_naive']:.3f} "
            f"(dead {r['naive_on_dead']}, hot {r['naive_on_hot']})  placement+biases "
            f"{r['rate_error_twin_placement_only']:.3f}  +masks "
            f"{r['rate_error_twin']:.3f} (dead {r['twin_on_dead']}, hot {r['twin_on_hot']})  "
            f"gain {r['gain']:.2f}  selected {r['selected']!r}: gain {r['gain_selected']:.2f}"
        )
        if "held_out_error_twin" in r:
            print(
                f"{'':20s} held-out: naive {r['held_out_error_naive']:.3f} -> "
                f"{r['held_out_error_naive_finetuned']:.3f}, twin "
                f"{r['held_out_error_twin']:.3f} -> {r['held_out_error_twin_finetuned']:.3f} "
                f"({r['finetune_board_runs_twin']} board runs)"
            )
    g, gs = out["gain"], out["gain_selected"]
    print(
        f"gain twin min {g['min']:.2f} median {g['median']:.2f} max {g['max']:.2f} "
        f"({out['twin_worse_than_naive']} worse than naive); selected min {gs['min']:.2f} "
        f"median {gs['median']:.2f} max {gs['max']:.2f} "
        f"({out['selected_worse_than_naive']} worse than naive)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
