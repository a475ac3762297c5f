"""The "train once, deploy to many chips" experiment (issue 10 acceptance), in simulation:

    python -m hil.train.experiment --task digits --dir results/train [--epochs N]
    python -m hil.train.experiment --plot results/train --figure docs/figures/training_mismatch.png

For one task it trains (or resumes) `none`, `noise` and `adversarial` with the same seed, then
evaluates each model: float-simulation accuracy on the test split, accuracy on `--chips` (12)
unseen emulated chips (hil.train.evaluate.unseen_chips: families and spreads unlike the prior, the
same chips for every mode, so differences are paired), and accuracy against the mismatch level (10 chips per
level, every current and weight at that relative spread). Writes `<task>-<mode>.json` models and
`<task>-results.json`; `--plot` draws accuracy against level for every task and mode found.

A mode with the suffix `-fitted` (`noise-fitted`, `adversarial-fitted`) trains like its base mode
but draws the mismatched instances from the fitted hil.mismatch/1 model given by `--mismatch M.json`
(`hil fit DIR --model M.json`; hil.train.robust.fitted_prior) instead of the assumed 10 % prior, so
that it sits beside `noise` in the same tables with the same chips:

    python -m hil.train.experiment --task digits --dir DIR --epochs 10 \
        --modes none,noise,noise-fitted --mismatch mismatch.json

A mode with the suffix `-warm` (`noise-warm`, `noise-fitted-warm`, ...) starts from this seed's
`none` model instead of random weights (`hil train --init`: 10 epochs at learning rate 0.01 unless
`--epochs`), so `none` runs first; the robust model stays near the standard one and the pair
differs by what robust training changes, not by where training went (docs/training.md 4.6).
`none-warm` trains those extra epochs without mismatch: the control for what they alone do.

    python -m hil.train.experiment --task digits --dir DIR --modes none,noise-warm,none-warm \
        --instances 8

A paired interval over the chips of one training seed says whether that robust model beats that
standard model on those chips; two models trained with different seeds differ by a point or so for
reasons that have nothing to do with mismatch, and over 36 chips such an interval excludes zero in
either direction. So `--table` over the folders of several seeds (same task, chips and modes) ends
with an "across training seeds" table: each mode's per-seed mean difference against `none`, their
mean with a t-interval over the seeds, and how many seeds' chip intervals lie above and below zero:

    for S in 0 1 2 3 4; do python -m hil.train.experiment --task digits --dir DIR/s$S --seed $S \
        --modes none,noise --chips 36 --instances 8; done
    python -m hil.train.experiment --table DIR/s*
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from hil.artifacts import read_json, write_atomic
from hil.errors import ConfigError
from hil.train import DECODES, LOGITS, MODES

LEVELS = (0.0, 0.05, 0.1, 0.2, 0.3)
FITTED = "-fitted"  # mode suffix: that mode's training against the fitted model (`--mismatch`)
WARM = "-warm"  # mode suffix: that mode's training starts from this seed's `none` model (--init)
_ROBUST = [m for m in MODES if m != "none"]
EXPERIMENT_MODES = (
    *MODES,
    *(m + FITTED for m in _ROBUST),
    *(m + WARM for m in MODES),  # none-warm: the same extra epochs without mismatch, a control
    *(m + FITTED + WARM for m in _ROBUST),
)


def _split_mode(mode: str) -> tuple[str, bool, bool]:
    """(robustness mode, fitted?, warm?) of an experiment mode; a ConfigError for an unknown one."""
    if mode not in EXPERIMENT_MODES:
        raise ConfigError("mode", mode, "one of " + ", ".join(EXPERIMENT_MODES))
    return mode.removesuffix(WARM).removesuffix(FITTED), FITTED in mode, mode.endswith(WARM)


def run(
    task: str,
    out_dir: Path,
    epochs: int | None,
    chips: int = 12,
    per_level: int = 10,
    modes: tuple[str, ...] = MODES,
    per_class: int | None = None,
    mismatch: Path | None = None,
    seed: int = 0,
    instances: int | None = None,
    spread: float | None = None,
    logits: str | None = None,
    logit_scale: float | None = None,
    decode: str | None = None,
) -> dict:
    """Train (or resume) and evaluate every mode of `modes` (MODES, or a `-fitted` one with the
    fitted hil.mismatch/1 model `mismatch`) on `task` and `chips` unseen chips; `instances`:
    mismatched instances per training step, `spread` the assumed prior's, `logits` and
    `logit_scale` what the loss scores, `decode` how output counts make class scores (each None:
    the task's default); returns and writes the
    results."""
    from hil.tasks import get_task
    from hil.train.evaluate import chip_accuracies, float_accuracy, paired_ci, unseen_chips
    from hil.train.robust import fitted_prior
    from hil.train.trainer import TrainConfig, task_prior, train

    bases = {mode: _split_mode(mode) for mode in modes}  # every mode checked up front
    for mode, (_, fitted, _) in bases.items():
        if fitted and mismatch is None:
            raise ConfigError(
                "mode", mode, "a -fitted mode with --mismatch M.json (hil fit --model)"
            )
    if any(warm for _, _, warm in bases.values()):
        if "none" not in modes:
            raise ConfigError("modes", ",".join(modes), f"none among them for a {WARM} mode")
        modes = ("none", *(m for m in modes if m != "none"))  # the warm modes start from it
    assumed = task_prior(task, spread)
    prior = fitted_prior(mismatch, assumed) if mismatch is not None else None
    # every mode's settings but the mode's own; a bad --instances or --logits is refused here,
    # before any output
    common: dict[str, Any] = dict(
        task=task,
        seed=seed,
        epochs=epochs,
        per_class=per_class,
        instances=instances,
        logits=logits,
        logit_scale=logit_scale,
        decode=decode,
    )
    resolved = TrainConfig(**common).resolved()
    out_dir.mkdir(parents=True, exist_ok=True)
    # per_class as resolved: the task's default changed (docs/training.md 4.7)
    results: dict = {
        "task": task,
        "epochs": epochs,
        "per_class": resolved["per_class"],
        "seed": seed,
    }
    if instances is not None:
        results["instances"] = instances
    if spread is not None:
        results["spread"] = spread
    for k in ("logits", "logit_scale", "decode"):  # recorded even when they are the task's defaults
        results[k] = resolved[k]
    results["modes"] = {}
    if prior is not None:
        results["mismatch"] = {"path": prior.fitted, "sha256": prior.fitted_sha256}
    path = out_dir / f"{task}-results.json"
    specs = unseen_chips(chips, seed=7)
    data = get_task(task, seed)  # the seed also draws the task's splits (TrainConfig.seed)
    for mode in modes:
        t0 = time.perf_counter()
        robust, fitted, warm = bases[mode]
        cfg = TrainConfig(robust=robust, prior=assumed, **common)
        if fitted:
            assert prior is not None
            cfg = replace(cfg, prior=prior)
        if warm:
            cfg = replace(cfg, init=str(out_dir / f"{task}-none.json"))
        model, summary = train(
            cfg,
            out_dir / f"{task}-{mode}.json",
            resume=True,
        )
        acc = chip_accuracies(model, data.test, specs)
        levels = {
            str(lv): chip_accuracies(model, data.test, unseen_chips(per_level, 11, lv)).tolist()
            for lv in LEVELS
        }
        results["modes"][mode] = {
            "train": summary,
            "wall_s": time.perf_counter() - t0,
            "float_sim_accuracy": float_accuracy(model, data.test),
            "chip_accuracies": acc.tolist(),
            "chip_mean": float(acc.mean()),
            "levels": levels,
        }
        write_atomic(path, json.dumps(results, indent=1))
        print(
            mode,
            json.dumps({k: v for k, v in results["modes"][mode].items() if k != "levels"}),
            flush=True,
        )
    base = np.array(results["modes"]["none"]["chip_accuracies"])
    for mode in [m for m in modes if m != "none"]:
        m = results["modes"][mode]
        m["vs_none"] = paired_ci(np.array(m["chip_accuracies"]), base)
        m["gap_to_float"] = m["float_sim_accuracy"] - m["chip_mean"]
    results["chips"] = [c.to_dict() for c in specs]
    write_atomic(path, json.dumps(results, indent=1))
    return results


def _results(dirs: list[Path]) -> list[Path]:
    return [f for d in dirs for f in sorted(d.glob("*-results.json"))]


def plot(result_dirs: list[Path], figure: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = _results(result_dirs)
    n = max(len(files), 1)
    cols = min(n, 2)  # two panels a row
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.8 * rows), squeeze=False)
    axes = axes.ravel()
    for ax in axes[len(files) :]:
        ax.set_visible(False)
    for ax, f in zip(axes, files, strict=False):
        res = read_json(f, "results")
        assert isinstance(res, dict)
        for i, (mode, m) in enumerate(res["modes"].items()):
            lv = sorted(m["levels"], key=float)
            mean = [np.mean(m["levels"][k]) for k in lv]
            sd = [np.std(m["levels"][k]) for k in lv]
            # a -fitted mode: its base mode's colour, dashed; a -warm one: square markers
            base, fitted, warm = _split_mode(mode)
            ax.errorbar(
                [100 * float(k) + 0.3 * i for k in lv],  # offset: the error bars stay apart
                mean,
                yerr=sd,
                marker="s" if warm else "o",
                capsize=3,
                label=mode + (" (fitted model)" if fitted else ""),
                ls="--" if fitted else "-",
                color=f"C{MODES.index(base)}",
            )
        ax.axvline(10, color="grey", ls=":", lw=1, label="training prior (10 %)")
        seed = f", training seed {res['seed']}" if "seed" in res else ""
        ax.set_title(f"{res['task']} ({res.get('epochs') or 'default'} epochs{seed})")
        ax.set_xlabel("mismatch of every current and weight [% s.d.]")
        ax.set_ylabel("test accuracy (mean +- s.d. over chips)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=110)


def sensitivity(model_path: Path, sigma: float = 0.1, draws: int = 6) -> dict[str, float]:
    """Test accuracy with mismatch `sigma` (normal, per neuron) on one bias current at a time, and
    on the input weights alone: which parameter a model is sensitive to (mean over `draws`)."""
    import torch

    from hil.chip.mismatch import draw_factors
    from hil.chip.netlist import PARAMETERS
    from hil.sim import Weights
    from hil.tasks import get_task
    from hil.train.evaluate import accuracies, model_params, model_weights
    from hil.train.model import Model

    model = Model.load(model_path)
    cfg = model.training.get("config") or {}
    data = get_task(cfg["task"], cfg.get("seed", 0), **(cfg.get("task_options") or {})).test
    w_in, w_rec = model_weights(model)
    base = model_params(model)
    names = [p.name for p in PARAMETERS if p.unit == "A"]
    out = {}
    for target in ["weights", *names]:
        accs = []
        for d in range(draws):
            rng = np.random.default_rng([500, d])
            p = base
            f_in = np.ones_like(w_in)
            if target == "weights":
                f_in = draw_factors(rng, "normal", sigma, w_in.shape)
            else:
                v = getattr(base, target)
                f = torch.as_tensor(draw_factors(rng, "normal", sigma, tuple(v.shape)))
                p = base.replace(**{target: v * f.to(v.dtype)})
            w = Weights.from_signed(
                torch.as_tensor(w_in * f_in, dtype=torch.float32),
                torch.as_tensor(w_rec, dtype=torch.float32),
                scale=1.0,
            )
            accs.append(float(accuracies(model, p, w, data)[0]))
        out[target] = float(np.mean(accs))
    return out


def table(result_dirs: list[Path]) -> str:
    """Markdown tables of every `<task>-results.json` in `result_dirs` (docs/training.md)."""
    lines, all_res = [], []
    for f in _results(result_dirs):
        res = read_json(f, "results")
        assert isinstance(res, dict)
        all_res.append(res)
        n_chips = len(next(iter(res["modes"].values()))["chip_accuracies"])
        lines += [
            f"**{res['task']}** (epochs: {res.get('epochs') or 'default'}"
            + (f", training seed {res['seed']}" if "seed" in res else "")
            + (f", {res['instances']} instances per step" if "instances" in res else "")
            + (f", prior spread {res['spread']:g}" if "spread" in res else "")
            + (f", logits {res['logits']}" if "logits" in res else "")
            + (f" x {res['logit_scale']:g}" if "logit_scale" in res else "")
            + (f", decode {res['decode']}" if "decode" in res else "")
            + (f", {res['per_class']} outputs per class" if res.get("per_class") else "")
            + ")",
            "",
            f"| mode | train [s] | float sim | {n_chips} unseen chips: mean (min) | gap | vs none: "
            "mean diff [95 % CI] |",
            "|---|---|---|---|---|---|",
        ]
        for mode, m in res["modes"].items():
            acc = np.array(m["chip_accuracies"])
            ci = m.get("vs_none")
            vs = (
                f"{100 * ci['mean_diff']:+.1f} [{100 * ci['ci_low']:+.1f}, "
                f"{100 * ci['ci_high']:+.1f}]"
                if ci
                else "-"
            )
            lines.append(
                f"| {mode} | {m['train']['elapsed_s']:.0f} | {100 * m['float_sim_accuracy']:.1f} "
                f"| {100 * acc.mean():.1f} ({100 * acc.min():.1f}) "
                f"| {100 * (m['float_sim_accuracy'] - acc.mean()):.1f} | {vs} |"
            )
        lv = sorted(next(iter(res["modes"].values()))["levels"], key=float)
        lines += [
            "",
            "| mode | " + " | ".join(f"{100 * float(k):.0f} %" for k in lv) + " |",
            "|---|" + "---|" * len(lv),
        ]
        for mode, m in res["modes"].items():
            cells = [
                f"{100 * np.mean(m['levels'][k]):.1f} +- {100 * np.std(m['levels'][k]):.1f}"
                for k in lv
            ]
            lines.append(f"| {mode} | " + " | ".join(cells) + " |")
        lines += _fitted_vs_prior(res, lv)
        lines.append("")
    return "\n".join(lines + _across_seeds(all_res))


def _across_seeds(results: list[dict]) -> list[str]:
    """The "across training seeds" table (module docstring) for every group of results with the
    same task, epochs, instances and chips and at least 2 seeds; `none` must be among the modes."""
    from scipy import stats

    groups: dict[tuple, list[dict]] = {}
    for res in results:
        finished = all("vs_none" in m for k, m in res["modes"].items() if k != "none")
        if "none" not in res["modes"] or not finished:
            continue
        chips = json.dumps(res.get("chips"), sort_keys=True)
        scoring = (res.get("logits"), res.get("logit_scale"), res.get("decode"),
                   res.get("per_class"))  # fmt: skip
        key = (res["task"], res.get("epochs"), res.get("instances"), res.get("spread"),
               scoring, chips)  # fmt: skip
        groups.setdefault(key, []).append(res)
    lines = []
    for (task, epochs, instances, spread, scoring, _), group in groups.items():
        logits, scale, decode, per_class = scoring
        seeds = sorted({res.get("seed", 0) for res in group})
        if len(seeds) != len(group):
            lines += [f"**{task}**: not pooled across seeds: a seed appears in two folders", ""]
            continue
        if len(seeds) < 2:
            continue
        n_chips = len(group[0]["modes"]["none"]["chip_accuracies"])
        lines += [
            f"**{task} across training seeds** {', '.join(map(str, seeds))} (epochs: "
            f"{epochs or 'default'}, {instances or 'default'} instances per step, "
            + (f"prior spread {spread:g}, " if spread is not None else "")
            + (f"logits {logits}, " if logits is not None else "")
            + (f"logit scale {scale:g}, " if scale is not None else "")
            + (f"decode {decode}, " if decode is not None else "")
            + (f"{per_class} outputs per class, " if per_class else "")
            + f"the same {n_chips} unseen chips)",
            "",
            "| mode | seeds | mean gap to float | vs none per seed | mean [95 % CI over seeds] "
            "| seeds with chip CI above / below 0 |",
            "|---|---|---|---|---|---|",
        ]
        modes = [m for m in group[0]["modes"] if all(m in res["modes"] for res in group)]
        for mode in modes:
            ms = [res["modes"][mode] for res in group]
            gap = np.mean([m["float_sim_accuracy"] - m["chip_mean"] for m in ms])
            if mode == "none":
                lines.append(f"| none | {len(ms)} | {100 * gap:.1f} | - | - | - |")
                continue
            d = np.array([m["vs_none"]["mean_diff"] for m in ms])
            h = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
            above = sum(m["vs_none"]["ci_low"] > 0 for m in ms)
            below = sum(m["vs_none"]["ci_high"] < 0 for m in ms)
            lines.append(
                f"| {mode} | {len(ms)} | {100 * gap:.1f} | "
                + " ".join(f"{100 * x:+.1f}" for x in d)
                + f" | {100 * d.mean():+.2f} [{100 * (d.mean() - h):+.2f}, "
                f"{100 * (d.mean() + h):+.2f}] | {above} / {below} |"
            )
        lines.append("")
    return lines


def _fitted_vs_prior(res: dict, lv: list[str]) -> list[str]:
    """Table rows: each `-fitted` mode minus its base mode (trained against the prior), paired over
    the same unseen chips and over the same chips at each level (mean diff [95 % CI], points)."""
    from hil.train.evaluate import paired_ci

    def cell(a: list[float], b: list[float]) -> str:
        if len(a) < 2:
            return "-"
        ci = paired_ci(np.array(a), np.array(b))
        lo, hi = 100 * ci["ci_low"], 100 * ci["ci_high"]
        if lo == hi:  # the same difference on every chip (the 0 % level: no mismatch)
            return f"{100 * ci['mean_diff']:+.1f} (every chip)"
        return f"{100 * ci['mean_diff']:+.1f} [{lo:+.1f}, {hi:+.1f}]"

    pairs = [(m, m.replace(FITTED, "")) for m in res["modes"] if FITTED in m]
    pairs = [(m, b) for m, b in pairs if b in res["modes"]]
    if not pairs:
        return []
    lines = [
        "",
        f"| fitted vs prior | {len(res['modes'][pairs[0][1]]['chip_accuracies'])} unseen chips | "
        + " | ".join(f"{100 * float(k):.0f} %" for k in lv)
        + " |",
        "|---|---|" + "---|" * len(lv),
    ]
    for m, b in pairs:
        fm, bm = res["modes"][m], res["modes"][b]
        cells = [cell(fm["chip_accuracies"], bm["chip_accuracies"])]
        cells += [cell(fm["levels"][k], bm["levels"][k]) for k in lv]
        lines.append(f"| {m} - {b} | " + " | ".join(cells) + " |")
    return lines


def boards_table(files: list[Path]) -> str:
    """Markdown tables of `hil evaluate MODEL --board URL ... --json` outputs saved as
    `<task>-<mode>-boards*.json`, one table per folder: each mode's float-simulation accuracy, its
    accuracy on every board the folder's modes all ran on (files of one mode are merged, boards
    by URL), their mean (min), and paired differences over those boards (95 % t-interval): against
    `none`, and for a `-fitted` mode against its base mode (trained against the prior)."""
    from hil.train.evaluate import paired_ci

    known = sorted(EXPERIMENT_MODES, key=len, reverse=True)
    groups: dict[Path, dict[str, dict]] = {}
    for f in files:
        label = f.stem.rsplit("-boards", 1)[0]
        mode = next((m for m in known if label.endswith("-" + m)), None)
        if "-boards" not in f.stem or mode is None:
            raise ConfigError("board results", str(f), "a file <task>-<mode>-boards*.json")
        res = read_json(f, "hil evaluate output")
        assert isinstance(res, dict)
        entry = groups.setdefault(f.parent, {}).setdefault(
            mode, {"float": res["float_sim_accuracy"], "boards": {}}
        )
        if entry["float"] != res["float_sim_accuracy"]:
            raise ConfigError("board results", str(f), f"the same {mode} model as its folder's")
        entry["boards"].update({b["url"]: b["accuracy"] for b in res["boards"]})

    def diff(a: list[float], b: list[float]) -> str:
        if len(a) < 2:
            return "-"
        ci = paired_ci(np.array(a), np.array(b))
        lo, hi = 100 * ci["ci_low"], 100 * ci["ci_high"]
        return f"{100 * ci['mean_diff']:+.1f} [{lo:+.1f}, {hi:+.1f}]"

    lines = []
    for folder, modes in groups.items():
        urls = sorted(set.intersection(*(set(m["boards"]) for m in modes.values())))
        order = [m for m in EXPERIMENT_MODES if m in modes]
        acc = {mode: [modes[mode]["boards"][u] for u in urls] for mode in order}
        lines += [
            f"**{folder.name}**: {len(urls)} boards",
            "",
            "| mode | float sim | " + " | ".join(u.split("?", 1)[-1] for u in urls)
            + " | mean (min) | vs none [95 % CI] | fitted vs prior [95 % CI] |",
            "|---|---|" + "---|" * (len(urls) + 3),
        ]  # fmt: skip
        for mode, a in acc.items():
            base = mode.replace(FITTED, "")
            cells = [f"{100 * modes[mode]['float']:.1f}", *(f"{100 * x:.1f}" for x in a)]
            cells.append(f"{100 * np.mean(a):.1f} ({100 * np.min(a):.1f})" if a else "-")
            cells.append(diff(a, acc["none"]) if mode != "none" and "none" in acc else "-")
            cells.append(diff(a, acc[base]) if base != mode and base in acc else "-")
            lines.append(f"| {mode} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from hil.train.cli import LOGIT_SCALE, SPREAD

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--task", help="task to run (hil.tasks.TASKS)")
    p.add_argument("--dir", type=Path, default=Path("results/train"), help="output folder")
    p.add_argument("--epochs", type=int, help="epochs for every mode (default: the task's)")
    p.add_argument("--sensitivity", type=Path, help="print a model's per-parameter sensitivity")
    p.add_argument("--per-class", type=int, help="output neurons per class (default: the task's)")
    p.add_argument("--seed", type=int, default=0, help="training seed of every mode (default 0)")
    p.add_argument(
        "--chips", type=int, default=12, help="unseen chips to evaluate on (default 12, >= 2)"
    )
    p.add_argument(
        "--instances",
        type=int,
        help="mismatched instances per training step of the robust modes (default: the task's)",
    )
    p.add_argument(
        "--spread",
        type=SPREAD,
        help="relative spread of the assumed prior of the robust modes (default: the task's)",
    )
    p.add_argument(
        "--logits",
        choices=LOGITS,
        help="what the loss's softmax scores: class counts c, log(1 + c) or log(1 + log(1 + c)) "
        "(default: the task's)",
    )
    p.add_argument(
        "--logit-scale", type=LOGIT_SCALE, help="the logits' factor (default: the task's)"
    )
    p.add_argument(
        "--decode",
        choices=DECODES,
        help="how output neurons' counts make class scores: sum or log-sum (default: the task's)",
    )
    p.add_argument(
        "--modes",
        default=",".join(MODES),
        help="comma-separated modes: " + ", ".join(EXPERIMENT_MODES) + " (-fitted: with "
        "--mismatch; -warm: from the none model)",
    )
    p.add_argument(
        "--mismatch", type=Path, metavar="M.json", help="fitted model for the -fitted modes"
    )
    p.add_argument("--plot", type=Path, nargs="+", help="draw the results found in these folders")
    p.add_argument("--table", type=Path, nargs="+", help="print tables of the results found here")
    p.add_argument(
        "--boards-table",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="print tables of `hil evaluate --board ... --json` outputs <task>-<mode>-boards*.json",
    )
    p.add_argument(
        "--figure",
        type=Path,
        default=Path("docs/figures/training_mismatch.png"),
        help="figure to write with --plot",
    )
    a = p.parse_args(argv)
    try:
        _main(a)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _main(a: argparse.Namespace) -> None:
    if a.sensitivity is not None:
        print(json.dumps(sensitivity(a.sensitivity), indent=1))
    elif a.boards_table is not None:
        print(boards_table(a.boards_table))
    elif a.table is not None:
        print(table(a.table))
    elif a.plot is not None:
        plot(a.plot, a.figure)
    elif a.task:
        if a.chips < 2:
            raise ConfigError("--chips", a.chips, "at least 2 (a paired interval needs 2)")
        run(
            a.task,
            a.dir,
            a.epochs,
            chips=a.chips,
            instances=a.instances,
            spread=a.spread,
            logits=a.logits,
            logit_scale=a.logit_scale,
            decode=a.decode,
            modes=tuple(a.modes.split(",")),
            per_class=a.per_class,
            seed=a.seed,
            mismatch=a.mismatch,
        )


if __name__ == "__main__":
    raise SystemExit(main())
