"""`hil train` (issue 10 section 5). hil/cli.py adds it with `add_parser(subparsers)` (`hil
evaluate`, which runs models on boards too, is hil.deploy's: hil/deploy/cli.py); a HilError raised here becomes one line on stderr and exit code 2 there.
torch, scipy and scikit-learn are imported inside the commands, so `hil --help` stays fast.
"""

from __future__ import annotations

import argparse
import json

from hil import argtypes
from hil.errors import HilError

TRAIN_HELP = "train a network through the simulator under the chip's constraints"
TRAIN_EPILOG = """examples:
  hil train --task digits --robust noise --out models/digits-noise.json
  hil train --task frozen-noise-16 --robust adversarial --out fn16-adv.json
  hil train --task digits --out m.json --resume        # continue from m.ckpt.pt
  hil train --task digits --robust noise --spread 0.15 --out d.json   # a wider assumed prior
  hil train --task digits --out std.json && \
      hil train --task digits --robust noise --init std.json --out robust.json
                        # harden a trained model: 10 epochs at lr 0.01 from its weights
  hil train --task frozen-noise-16 --robust noise --per-class 4 --decode sum --out fn16-4.json
                        # 4 neurons a class, their counts summed (the defaults before 2026-12-06)

Tasks: frozen-noise (the paper's 2 patterns), frozen-noise-16 (jittered, thinned repeats),
digits (scikit-learn's digits, rate-coded). Robustness: none, noise (mismatched instances from the
prior, docs/training.md, or from the fitted model --mismatch M.json that `hil fit --model` writes), adversarial (Buchel et al.: 10 steps, zeta 0.025, beta 0.25). Writes
OUT (hil.model/1 JSON), OUT's .npz and a checkpoint OUT's .ckpt.pt after every epoch.
A progress bar shows on stderr when it is a terminal; --json prints only the summary."""


# argument types shared with `python -m hil.train.experiment`
SPREAD = argtypes.number(0.0, 0.9, "", lo_open=True)
LOGIT_SCALE = argtypes.number(0.0, 1000.0, "", lo_open=True)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `train` to `subparsers` (the `hil` command's)."""
    from hil.tasks.registry import TASKS
    from hil.train import DECODES, LOGITS, MODES

    p = subparsers.add_parser(
        "train",
        help=TRAIN_HELP,
        description=TRAIN_HELP,
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--task", required=True, choices=TASKS, help="the task to train on")
    p.add_argument(
        "--robust", default="none", choices=MODES, help="robustness to mismatch (default none)"
    )
    p.add_argument("--mismatch", metavar="M.json", help="a fitted hil.mismatch/1 model")
    p.add_argument(
        "--out",
        required=True,
        type=argtypes.output_file,
        metavar="MODEL.json",
        help="model to write (hil.model/1; the NPZ and checkpoint go beside it)",
    )
    p.add_argument("--epochs", type=argtypes.integer(1, 100_000), help="default: per task")
    p.add_argument("--seed", type=argtypes.seed, default=0, help="seed of everything (default 0)")
    p.add_argument(
        "--per-class",
        type=argtypes.integer(1, 256),
        help="output neurons per class (default: the task's, docs/training.md; classes x "
        "per-class <= 256, one core)",
    )
    p.add_argument(
        "--instances",
        type=argtypes.integer(1, 64),
        help="mismatched instances per step (noise, adversarial; default: the task's, "
        "docs/training.md)",
    )
    p.add_argument(
        "--spread",
        type=SPREAD,
        help="relative spread of the assumed prior on every current and weight (noise, "
        "adversarial; default: the task's, docs/training.md); with --mismatch, for what the "
        "fitted model does not cover",
    )
    p.add_argument(
        "--logits",
        choices=LOGITS,
        help="what the loss's softmax scores: class counts c, log(1 + c) or log(1 + log(1 + c)) "
        "(default: the task's, docs/training.md)",
    )
    p.add_argument(
        "--logit-scale",
        type=LOGIT_SCALE,
        help="the logits' factor (default: the task's, docs/training.md)",
    )
    p.add_argument(
        "--decode",
        choices=DECODES,
        help="how a class's output neurons' counts make its score: their sum, or the sum of "
        "log(1 + count), which one hot neuron sways less (default: the task's, docs/training.md)",
    )
    p.add_argument(
        "--init",
        metavar="MODEL.json",
        help="start from this model's weights and currents (same task, seed and layout); "
        "then --epochs defaults to 10 and the learning rate to 0.01",
    )
    p.add_argument("--quantize", action="store_true", help="quantization-aware training")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_train)

    return p


def run_train(args: argparse.Namespace) -> int:
    from hil import progress
    from hil.train.robust import fitted_prior
    from hil.train.trainer import TrainConfig, task_prior, train

    for flag, value in (("--mismatch", args.mismatch), ("--spread", args.spread)):
        if value is not None and args.robust == "none":
            raise HilError(
                f"argument {flag}: a mismatch model is used by --robust noise or adversarial, "
                "not by --robust none"
            )
    prior = task_prior(args.task, args.spread)
    if args.mismatch is not None:
        prior = fitted_prior(args.mismatch, prior)  # a ConfigError names what is wrong with it
    cfg = TrainConfig(
        task=args.task,
        robust=args.robust,
        seed=args.seed,
        epochs=args.epochs,
        per_class=args.per_class,
        instances=args.instances,
        logits=args.logits,
        logit_scale=args.logit_scale,
        decode=args.decode,
        quantize=args.quantize,
        init=args.init,
        prior=prior,
    )
    previous = progress.set_enabled(False) if args.json else progress.set_enabled(None)
    try:
        _, summary = train(cfg, args.out, resume=args.resume)
    finally:
        progress.set_enabled(previous)
    summary["out"] = args.out
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"wrote {args.out}: val {summary['val_accuracy']:.3f}, "
            f"test {summary['test_accuracy']:.3f} ({summary['elapsed_s']:.0f} s)"
        )
    return 0
