"""`hil deploy MODEL --board URL [--calibration C.json] [--twin T.csv] -o CONFIG`: quantize, map
and place a trained model on a board, write the config and its map, apply it.
`hil finetune MODEL --board URL --twin T.csv --out TUNED.json [--objective rates|task]`:
chip-in-the-loop fine-tuning of that deployment (hil.deploy.finetune).
`hil evaluate MODEL [--board URL ...] [--calibration C.json] [--twin T] --json`: accuracy in float
simulation, on emulated chips in simulation (hil.train.evaluate) and on boards
(hil.deploy.evaluate).

hil/cli.py adds all three with `add_parser(subparsers)`; a HilError raised here becomes one line on stderr
and exit code 2 there. Heavy imports happen inside the command.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from hil import argtypes as at
from hil.errors import HilError, quote

if TYPE_CHECKING:
    from hil.board import Board
    from hil.deploy.deploy import Deployment
    from hil.deploy.placement import Twin
    from hil.tasks import Split, Task
    from hil.train.model import Model

T = TypeVar("T")
HELP = "quantize, map and place a trained model (hil.model/1) on a board; write config + map"
EPILOG = """examples:
  hil deploy model.json --board 'emu://?seed=3' -o config.json
  hil deploy model.json --board emu:// --twin truth.csv -o config.json --json
  hil deploy model.json --board sim:// --calibration calibration.json -o config.json --no-apply

Writes CONFIG (a hil.chipconfig/1 ChipConfig) and CONFIG's stem + .map.json (hil.deploymap/1: task
channel -> board channel, network neuron -> board neuron, board neuron -> task output, and what
quantization, rounding, placement and calibration did). --twin reads the hil.twin/1 JSON that
`hil fit` writes, or a per-neuron table in the shape of `hil emulate --dump-truth`
(docs/deploy.md); a twin of another board (chip count, or the board/silicon id a hil.twin/1 JSON
names) is refused unless --force-twin, and the map's report says what was checked. With a twin,
the twin predicts (hil.sim with its currents) the rate error of twin placement with and without
mask compensation and of naive placement, and the best prediction is deployed: printed, and in
the map's report (placement.selection). --calibration takes what `hil calibrate` writes; a
record that names none of the cores used, or lacks the nominal code of a bias it calibrates, is
refused. Exit 0 on success, 2 for bad input or a network that does not fit (the message names
the constraint)."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `deploy` subcommand to `subparsers` (the `hil` command's)."""
    p = subparsers.add_parser(
        "deploy",
        help=HELP,
        description=HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="model.json (hil.model/1, NPZ beside it)")
    p.add_argument("--board", required=True, metavar="URL", help="board URL: sim://, emu://, ...")
    p.add_argument("--calibration", metavar="C.json", help="hil.calibration/1 record to apply")
    p.add_argument(
        "--twin", metavar="TWIN", help="per-neuron twin: hil.twin/1 JSON or a truth-CSV table"
    )
    p.add_argument(
        "--force-twin",
        action="store_true",
        help="use a twin whose chip count or board/silicon id differs from the board's",
    )
    p.add_argument(
        "--naive",
        action="store_true",
        help="naive placement even with --twin (the twin then only reports)",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        type=at.output_file,
        metavar="CONFIG",
        help="config JSON to write (the map goes beside it)",
    )
    p.add_argument("--no-apply", action="store_true", help="write the files, do not apply")
    p.add_argument("--json", action="store_true", help="print a JSON summary only")
    p.set_defaults(func=run_deploy)
    add_finetune_parser(subparsers)
    add_evaluate_parser(subparsers)
    return p


EVAL_HELP = "accuracy of a trained model in float simulation, on emulated chips and on boards"
EVAL_EPILOG = """examples:
  hil evaluate digits-noise.json --json
  hil evaluate digits-noise.json --chips 20 --level 0.2 --json
  hil evaluate fn.json --board emu:// --board "emu://?seed=3" --chips 0 --json
  hil evaluate fn.json --board emu:// --calibration calibration.json --twin twin.json --json

Prints {"float_sim_accuracy": ..., "boards": [{"url": ..., "accuracy": ...}, ...],
"chips": {...}} on the task's test split. "boards": MODEL deployed on each board as `hil deploy`
does it (with --calibration and --twin when given), each test sample one board run, the classes
read through the deployment map (docs/deploy.md). With --twin, a twin of another board is refused
as `hil deploy` refuses it (unless --force-twin), and each board's entry also has "placement" (the
candidate the twin deployed: twin / twin, no mask compensation / naive) and "selection" (its
predictions). "chips": emulated chips in simulation (families and spreads unlike the training
prior, docs/training.md). Exit 0, 2 for bad input."""


def add_evaluate_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `evaluate` subcommand to `subparsers`."""
    e = subparsers.add_parser(
        "evaluate",
        help=EVAL_HELP,
        description=EVAL_HELP,
        epilog=EVAL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("model", metavar="MODEL.json", help="a model written by hil train")
    e.add_argument(
        "--board", action="append", default=[], metavar="URL", help="a board to run it on (repeat)"
    )
    e.add_argument(
        "--calibration", metavar="C.json", help="the boards' calibration (hil.calibration/1)"
    )
    e.add_argument(
        "--twin", metavar="TWIN", help="twin for placement, as `hil deploy --twin` (one board)"
    )
    e.add_argument(
        "--force-twin",
        action="store_true",
        help="use --twin even if it names another board (or another chip count)",
    )
    e.add_argument(
        "--chips",
        type=at.integer(0, 1000),
        default=12,
        help="emulated chips in simulation (default 12; 0: none)",
    )
    e.add_argument(
        "--level",
        type=at.number(0, 0.9, "(relative spread)"),
        help="one mismatch level for every chip instead of the 5..20 %% mix",
    )
    e.add_argument(
        "--chip-seed", type=at.seed, default=7, help="seed of the emulated chips (default 7)"
    )
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.set_defaults(func=run_evaluate)
    return e


def run_evaluate(args: argparse.Namespace) -> int:
    """Float simulation, emulated chips and boards on the model's task's test split."""
    from hil.artifacts import read_json
    from hil.board import open_board
    from hil.deploy.deploy import deploy, model_task
    from hil.deploy.evaluate import board_accuracy
    from hil.deploy.placement import check_twin_board, load_twin
    from hil.train.evaluate import chip_accuracies, float_accuracy, unseen_chips
    from hil.train.model import Model

    if (args.calibration is not None or args.twin is not None) and not args.board:
        raise HilError("argument --calibration/--twin: they apply to boards; give --board URL")
    if args.twin is not None and len(args.board) > 1:
        raise HilError("argument --twin: a twin is one board's; give one --board with it")
    model = Model.load(args.model)
    task = model_task(model)
    if task is None:
        raise HilError(f"{args.model}: training.config names no task and seed (not hil train's)")
    twin = load_twin(args.twin) if args.twin else None
    calibration = read_json(args.calibration, "calibration file") if args.calibration else None
    result: dict = {
        "float_sim_accuracy": float_accuracy(model, task.test),
        "decode": model.decode,  # how every accuracy here turned output counts into classes
        "boards": [],
    }
    for url in args.board:
        with open_board(url) as board:
            info = board.info()
            # the twin must be this board's, as `hil deploy --twin` checks it (before any run)
            twin_check = None if twin is None else check_twin_board(twin, info, args.force_twin)
            dep = deploy(model, n_chips=info.n_chips, twin=twin, calibration=calibration)
            acc = board_accuracy(board, dep, task.test, task.dt)
        entry = {"url": url, "board": info.board_id, "accuracy": acc, "samples": len(task.test)}
        if twin_check is not None:  # which candidate the twin deployed, and what it predicted
            placement = dep.report["placement"]
            entry["twin_check"] = twin_check["checked"]
            entry["placement"] = placement["method"]
            entry["selection"] = placement.get("selection")
        result["boards"].append(entry)
    if args.chips:
        chips = unseen_chips(args.chips, args.chip_seed, args.level)
        acc_chips = chip_accuracies(model, task.test, chips)
        result["chips"] = {
            "mean_accuracy": float(acc_chips.mean()),
            "accuracies": [float(a) for a in acc_chips],
            "specs": [c.to_dict() for c in chips],
        }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"float sim accuracy {result['float_sim_accuracy']:.3f} (decode {model.decode})")
        for b in result["boards"]:
            print(f"{quote(b['url'])}: accuracy {b['accuracy']:.3f} ({b['samples']} samples)")
        if args.chips:
            print(f"{args.chips} emulated chips: mean {result['chips']['mean_accuracy']:.3f}")
    return 0


FT_HELP = "chip-in-the-loop fine-tuning: forward on the board, gradient from the twin"
FT_EPILOG = """examples:
  hil finetune model.json --board 'emu://?seed=3' --twin truth.csv --out tuned.json
  hil finetune model.json --board emu:// --twin truth.csv --out tuned.json --iterations 8 --json
  hil finetune fn16.json --board 'emu://?seed=3' --twin twin.json --objective task --out t.json

Deploys MODEL with the twin (as `hil deploy --twin`), then per iteration runs it on the board and
moves the synapses' masks along the twin's gradient of the board's error (docs/deploy.md
section 5). --objective rates (default): Poisson input on every input channel at --rate for
--duration, each network neuron's rate error against the same deployment on the nominal simulator
(sim://: no mismatch, noise, dead or hot neurons). --objective task: --samples K samples of the
model's task's training split (evenly spaced, every class), one board run each, scored by the loss
training minimizes (cross-entropy of logit_scale x class counts c, x log(1 + c) or x log(1 +
log(1 + c)), as the model was trained); the model must name its task
(hil train writes it). Writes TUNED.json (hil.model/1 with the tuned masks in its quantized form
and the history under training.finetune) and the tuned config + map beside it (TUNED stem +
.config.json / .config.map.json); `hil deploy TUNED.json --twin TWIN` gives that config again (the
tuned model is marked twin-compensated: its base weights and masks are not corrected a second
time). What is printed is held out, before and after tuning: rates: the rate error on another
Poisson seed (seed + 1); task: the accuracy on the task's test split, which tuning never uses.
The tuning input's history (in-sample, its best chose the result) is printed beside it.
Board runs: rates: iterations + 3 (the tuning runs and two held-out ones), plus two runs on the
nominal simulator for the target rates; task: (iterations + 1) x K + 2 x the test split's size.
A twin of another board (chip count, or the board/silicon id a hil.twin/1 JSON names) is refused
unless --force-twin."""


def add_finetune_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `finetune` subcommand to `subparsers`."""
    p = subparsers.add_parser(
        "finetune",
        help=FT_HELP,
        description=FT_HELP,
        epilog=FT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="model.json (hil.model/1, NPZ beside it)")
    p.add_argument("--board", required=True, metavar="URL", help="board URL: emu://, ...")
    p.add_argument(
        "--twin",
        required=True,
        metavar="TWIN",
        help="per-neuron twin: hil.twin/1 JSON or a truth-CSV table",
    )
    p.add_argument(
        "--out",
        required=True,
        type=at.output_file,
        metavar="TUNED.json",
        help="tuned model to write (its config and map go beside it)",
    )
    p.add_argument(
        "--force-twin",
        action="store_true",
        help="use a twin whose chip count or board/silicon id differs from the board's",
    )
    p.add_argument(
        "--iterations",
        type=at.integer(1, 100),
        help=f"steps (default {ITERATIONS['rates']} for rates, {ITERATIONS['task']} for task)",
    )
    p.add_argument(
        "--objective",
        default="rates",
        metavar="rates|task",
        help="rates (default): match the nominal chip's rates under Poisson input; task: the "
        "task's loss on --samples training samples",
    )
    p.add_argument(
        "--samples",
        type=at.integer(1, 100_000),
        metavar="K",
        help=f"--objective task: training samples per iteration (default {TASK_SAMPLES})",
    )
    p.add_argument(
        "--rate",
        type=at.number(0, 1000, "Hz", lo_open=True),
        help=f"--objective rates: input rate per channel [Hz] (default {RATE_HZ:g})",
    )
    p.add_argument(
        "--duration",
        type=at.number(1e-6, 60, "s"),
        help=f"--objective rates: seconds per board run (default {DURATION_S:g})",
    )
    p.add_argument("--seed", type=at.seed, help="--objective rates: input seed (default 0)")
    p.add_argument("--json", action="store_true", help="print a JSON summary only")
    p.set_defaults(func=run_finetune)
    return p


OBJECTIVES = ("rates", "task")
RATE_HZ, DURATION_S = 20.0, 1.0  # --objective rates: the Poisson input's defaults
TASK_SAMPLES = 128  # --objective task: tuning samples per iteration
# steps per objective: task's 10 brought frozen-noise-16 (four models, 13 boards) to board means
# within 0.7 points of float simulation, where 5 left them 4-8 points below (docs/training.md 4.2)
ITERATIONS = {"rates": 5, "task": 10}


def _finetune_options(args: argparse.Namespace) -> None:
    """Check --objective and the options that belong to it; fill in the objective's defaults."""
    from hil.errors import ConfigError

    if args.objective not in OBJECTIVES:
        raise ConfigError("--objective", args.objective, "one of " + ", ".join(OBJECTIVES))
    if args.iterations is None:
        args.iterations = ITERATIONS[args.objective]
    if args.objective == "task":
        given = [o for o in ("rate", "duration", "seed") if getattr(args, o) is not None]
        if given:
            raise ConfigError(
                "--objective task", "--" + ", --".join(given), "--samples K (they are for rates)"
            )
        args.samples = TASK_SAMPLES if args.samples is None else args.samples
    else:
        if args.samples is not None:
            raise ConfigError(
                "--objective rates",
                "--samples",
                "--rate, --duration, --seed (--samples is for --objective task)",
            )
        args.rate = RATE_HZ if args.rate is None else args.rate
        args.duration = DURATION_S if args.duration is None else args.duration
        args.seed = 0 if args.seed is None else args.seed


def run_finetune(args: argparse.Namespace) -> int:
    """Fine-tune on the board; write the tuned model, config and map; print the errors."""
    from pathlib import Path

    from hil.board import open_board
    from hil.deploy.deploy import deploy, save
    from hil.deploy.placement import base_weights, check_twin_board, load_twin
    from hil.quantize.weights import quantize_model
    from hil.train.model import Model

    _finetune_options(args)
    _check_writable(args.out, "--out")  # before any board run, not after them
    twin = load_twin(args.twin)
    model = _load(Model.load, args.model, "model")
    task = _task_setup(args, model) if args.objective == "task" else None  # before any board run
    if model.quantized is None:  # its synapse gains then live in its currents, which it keeps
        model = quantize_model(model)
    with open_board(args.board) as board:
        info = board.info()
        twin_check = check_twin_board(twin, info, args.force_twin)
        dep = deploy(model, n_chips=info.n_chips, twin=twin)
        dep.report["twin_check"] = twin_check
        if task is None:
            best, record, summary, line = _tune_rates(args, model, twin, board, dep)
        else:
            best, record, summary, line = _tune_task(args, twin, board, dep, *task)
    out = Path(args.out)
    cfg_path, map_path = save(best, out.with_name(out.stem + ".config.json"), model_path=args.model)
    # the deployed form as tuned: base weights (twin-corrected codes) and masks (twin-compensated
    # and tuned); `hil deploy` of the tuned model with the same twin gives this config again
    model.quantized = {
        "iw": base_weights(best.config, best.placement.cores),
        "masks_in": best.network.masks_in,
        "masks_rec": best.network.masks_rec,
    }
    model.training = {
        **model.training,
        "finetune": {
            "objective": args.objective,
            "board": info.board_id,
            **record,
            "config": cfg_path.name,
            "config_sha256": best.config.content_hash(),
            "iterations": args.iterations,
            "twin_compensated": True,
            "deployed_as": dep.report["placement"]["method"],
        },
    }
    model.save(out)
    summary = {
        "model": str(out),
        "config": str(cfg_path),
        "map": str(map_path),
        "board": info.board_id,
        "objective": args.objective,
        **summary,
        "twin_check": twin_check["checked"],
    }
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print(f"wrote {quote(str(out))}, {quote(str(cfg_path))} and {quote(str(map_path))}")
        print(f"{line}; {summary['board_runs']} board runs on {quote(info.board_id)}")
    return 0


def _tune_rates(
    args: argparse.Namespace, model: Model, twin: Twin, board: Board, dep: Deployment
) -> tuple[Deployment, dict, dict, str]:
    """--objective rates on `board` from `dep`: (best, record for training.finetune, summary
    entries, the line to print)."""
    from hil.board import open_board
    from hil.chip.netlist import board_currents
    from hil.deploy.deploy import deploy
    from hil.deploy.finetune import board_rates, finetune, rate_error
    from hil.events import poisson_input

    stim = poisson_input(args.rate, model.n_inputs, args.duration, seed=args.seed)
    held = poisson_input(args.rate, model.n_inputs, args.duration, seed=args.seed + 1)
    plain = deploy(model)
    with open_board("sim://") as ideal:  # the nominal chip the network was designed for
        target = board_rates(ideal, plain, stim, args.duration)
        target_held = board_rates(ideal, plain, held, args.duration)
    nominal = board_currents(dep.config, twin.n_chips)
    cur = {k: nominal[k] * twin.factors[k] for k in twin.factors}
    best, history = finetune(dep, board, cur, stim, args.duration, target, args.iterations)
    # judged on input the tuning never saw (the in-sample history chose `best`)
    before = rate_error(board_rates(board, dep, held, args.duration), target_held)
    after = rate_error(board_rates(board, best, held, args.duration), target_held)
    board_runs = len(history) + 2
    record = {
        "board_runs": board_runs,
        "rate_error_history": history,
        "held_out_rate_error": {"before": before, "after": after, "seed": args.seed + 1},
        "seed": args.seed,
    }
    summary = {
        "board_runs": board_runs,
        "rate_error_before": before,
        "rate_error_after": after,
        "in_sample_rate_error_first": history[0],
        "in_sample_rate_error_best": min(history),
    }
    line = (
        f"rate error on held-out input {before:.3f} -> {after:.3f} "
        f"(tuning input, best of {len(history)} runs: {history[0]:.3f} -> {min(history):.3f})"
    )
    return best, record, summary, line


def _task_setup(args: argparse.Namespace, model: Model) -> tuple[Task, Split, tuple[str, float]]:
    """--objective task: (the model's task, the tuning samples, its logits and logit scale), or
    a ConfigError naming what is missing. A model written before training knew `logits` was
    trained on counts."""
    from hil.deploy.deploy import model_task
    from hil.deploy.predict import spaced_subset
    from hil.errors import ConfigError
    from hil.train import LOGITS

    task = model_task(model)
    config = model.training.get("config") or {}
    scale, logits = config.get("logit_scale"), config.get("logits", "counts")
    if task is None or not isinstance(scale, (int, float)) or not scale > 0 or logits not in LOGITS:
        raise ConfigError(
            f"--objective task: model {args.model}",
            "no task" if task is None else f"logit_scale {scale!r}, logits {logits!r}",
            "a model hil train wrote (training.config names its task, seed, logit_scale > 0 "
            "and logits " + " or ".join(LOGITS) + ")",
        )
    train = task.train(0)
    if args.samples > len(train):
        raise ConfigError(
            "--samples", args.samples, f"1..{len(train)} ({task.name}'s training split)"
        )
    return task, spaced_subset(train, args.samples), (logits, float(scale))


def _tune_task(
    args: argparse.Namespace,
    twin: Twin,
    board: Board,
    dep: Deployment,
    task: Task,
    tuning: Split,
    scoring: tuple[str, float],
) -> tuple[Deployment, dict, dict, str]:
    """--objective task on `board` from `dep`, tuned on `tuning`, judged on the test split before
    and after: (best, record for training.finetune, summary entries, the line to print)."""
    from hil.deploy.evaluate import board_accuracy
    from hil.deploy.finetune import finetune_task

    best, losses, accs = finetune_task(
        dep, board, twin, tuning, task.dt, *scoring, iterations=args.iterations
    )
    # judged on the test split, which the tuning never saw
    before = board_accuracy(board, dep, task.test, task.dt)
    after = board_accuracy(board, best, task.test, task.dt)
    tuning_runs = len(losses) * len(tuning)
    board_runs = tuning_runs + 2 * len(task.test)
    record = {
        "board_runs": board_runs,
        "board_runs_tuning": tuning_runs,
        "samples": len(tuning),
        "tuning_split": f"{task.name} training split (epoch 0), {len(tuning)} evenly spaced",
        "loss_history": losses,
        "accuracy_history": accs,
        "test_accuracy": {"before": before, "after": after, "samples": len(task.test)},
    }
    i = losses.index(min(losses))
    summary = {
        "board_runs": board_runs,
        "board_runs_tuning": tuning_runs,
        "samples": len(tuning),
        "test_accuracy_before": before,
        "test_accuracy_after": after,
        "test_samples": len(task.test),
        "in_sample_loss_first": losses[0],
        "in_sample_loss_best": losses[i],
        "in_sample_accuracy_first": accs[0],
        "in_sample_accuracy_best": accs[i],
    }
    line = (
        f"test accuracy {before:.3f} -> {after:.3f} ({len(task.test)} samples); tuning samples "
        f"(in-sample, best of {len(losses)}): loss {losses[0]:.3f} -> {losses[i]:.3f}, accuracy "
        f"{accs[0]:.3f} -> {accs[i]:.3f}"
    )
    return best, record, summary, line


def run_deploy(args: argparse.Namespace) -> int:
    """Deploy; print where the files went, the cores used and the quantization error."""
    from hil.board import open_board
    from hil.calibrate.result import load as load_calibration
    from hil.deploy.deploy import deploy, save
    from hil.deploy.placement import check_twin_board, load_twin
    from hil.train.model import Model

    _check_writable(args.output, "-o/--output")  # before quantizing, not after
    twin = load_twin(args.twin) if args.twin else None
    calibration = (
        _load(load_calibration, args.calibration, "calibration") if args.calibration else None
    )
    model = _load(Model.load, args.model, "model")
    with open_board(args.board) as board:
        info = board.info()
        twin_check = None if twin is None else check_twin_board(twin, info, args.force_twin)
        dep = deploy(
            model, n_chips=info.n_chips, twin=twin, calibration=calibration, naive=args.naive
        )
        if twin_check is not None:
            dep.report["twin_check"] = twin_check
        cfg_path, map_path = save(
            dep, args.output, model_path=args.model, tensors_sha256=_tensors_sha(args.model)
        )
        applied = None if args.no_apply else board.apply(dep.config)
    summary = {
        "config": str(cfg_path),
        "map": str(map_path),
        "board": info.board_id,
        "config_sha256": dep.config.content_hash(),
        "applied_hash": applied,
        "chips_used": dep.report["chips_used"],
        "cores_used": dep.report["cores_used"],
        "relative_rms_weight_error": dep.report["weights"]["relative_rms_error"],
        "placement": dep.report["placement"]["method"],
    }
    selection = dep.report["placement"].get("selection")
    if selection is not None:
        summary["predicted_rate_error"] = selection["predicted_rate_error"]
        summary["selection_criterion"] = selection["criterion"]
        if selection["predicted_accuracy"] is not None:
            summary["predicted_accuracy"] = selection["predicted_accuracy"]
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print(f"wrote {quote(str(cfg_path))} and {quote(str(map_path))}")
        print(
            f"cores {summary['cores_used']} on {summary['chips_used']} chip(s) of "
            f"{quote(info.board_id)}; weight error {summary['relative_rms_weight_error']:.2%}; "
            f"placement {summary['placement']}"
            + (
                " (the twin predicts rate errors "
                + ", ".join(f"{k} {v:.3f}" for k, v in summary["predicted_rate_error"].items())
                + (
                    "; validation accuracies "
                    + ", ".join(f"{k} {v:.3f}" for k, v in summary["predicted_accuracy"].items())
                    if "predicted_accuracy" in summary
                    else ""
                )
                + f"; chosen by {summary['selection_criterion']})"
                if selection is not None
                else ""
            )
            + "; "
            + ("not applied" if applied is None else f"applied ({applied[:12]})")
        )
    return 0


def _tensors_sha(model_path: str) -> str:
    from hil.artifacts import read_json

    doc = read_json(model_path, "model")
    if isinstance(doc, dict) and isinstance(doc.get("tensors"), dict):
        return str(doc["tensors"].get("sha256", ""))
    raise HilError(f"model {quote(model_path)}: no tensors entry")


def _check_writable(path: str, option: str) -> None:
    """HilError unless a file can be created in `path`'s folder (a probe file, removed again):
    hil.argtypes.output_file checks the path itself, not whether its folder takes a new file."""
    import tempfile
    from pathlib import Path

    try:
        with tempfile.NamedTemporaryFile(dir=Path(path).absolute().parent, prefix=".hil-probe-"):
            pass
    except OSError as e:
        raise HilError(
            f"argument {option}: cannot write {quote(path)} ({e.strerror}); "
            "allowed: a new or regular file in a writable folder"
        ) from None


def _load(read: Callable[[str], T], path: str, what: str) -> T:
    """`read(path)`, with a ConfigError about the content naming the file it came from."""
    from hil.errors import ConfigError

    try:
        return read(path)
    except ConfigError as e:
        if path in str(e):
            raise
        raise ConfigError(f"{what} {path}: {e.path}", e.value, e.allowed) from None
