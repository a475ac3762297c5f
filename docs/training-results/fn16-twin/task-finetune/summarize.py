"""Tables of `hil finetune MODEL --objective task --json` on the fn16 boards (docs/training.md 4.2).

Reads RES/bS/{,s1-}{none,noise}-task.{out,json,time} (the measure*.sh outputs; the tuned model's
training.finetune for the loss history), the `hil evaluate --twin` outputs of the task-selection
study (../task-selection/bS/s{0,1}-MODE-twin.json: the same twin deployment, as a check that
"before" is it) and, when present, RES/bS/noise-rates-eval.json (the rates objective's tuned
model evaluated on the test split), RES/bS/it10-noise-task.out (10 steps) and
RES/bS/it10-noise-rates-eval.json (the rates objective, 10 steps). Writes
summary.json and the per-board records (bS/*.finetune.json) beside this script; prints markdown.
usage: PYTHONPATH=<hil checkout> python summarize.py RES"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np

from hil.train.evaluate import paired_ci

RES = Path(sys.argv[1])
HERE = Path(__file__).parent
SEL = HERE.parent / "task-selection"


def ci_text(a: list[float], b: list[float]) -> str:
    ci = paired_ci(np.array(a), np.array(b))
    return f"{100 * ci['mean_diff']:+.1f} [{100 * ci['ci_low']:+.1f}, {100 * ci['ci_high']:+.1f}]"


def cpu(path: Path) -> tuple[float, float]:
    t = path.read_text().split("_")
    return float(t[0]), float(t[2]) + float(t[4])


summary: dict = {}
for prefix, seed in (("", "s0"), ("s1-", "s1")):
    for m in ("none", "noise"):
        per = {}
        for d in sorted(RES.glob("b74*")):
            out = d / f"{prefix}{m}-task.out"
            if not out.exists() or out.stat().st_size == 0:
                continue
            s = json.loads(out.read_text())
            ft = json.loads((d / f"{prefix}{m}-task.json").read_text())["training"]["finetune"]
            wall, cpu_s = cpu(d / f"{prefix}{m}-task.time")
            ref = json.loads((SEL / d.name / f"{seed}-{m}-twin.json").read_text())["boards"][0]
            dest = HERE / d.name
            dest.mkdir(exist_ok=True)
            shutil.copy(out, dest / out.name)
            shutil.copy(d / f"{prefix}{m}-task.time", dest / f"{prefix}{m}-task.time")
            (dest / f"{prefix}{m}-task.finetune.json").write_text(json.dumps(ft, indent=1))
            per[d.name[1:]] = {
                "before": s["test_accuracy_before"],
                "after": s["test_accuracy_after"],
                "hil_evaluate_twin": ref["accuracy"],
                "board_runs": s["board_runs"],
                "losses": ft["loss_history"],
                "accuracies": ft["accuracy_history"],
                "wall_s": wall,
                "cpu_s": cpu_s,
            }
        if len(per) < 2:
            continue
        b = [v["before"] for v in per.values()]
        a = [v["after"] for v in per.values()]
        same = sum(v["before"] == v["hil_evaluate_twin"] for v in per.values())
        best_last = sum(int(np.argmin(v["losses"])) == len(v["losses"]) - 1 for v in per.values())
        first_up = sum(v["losses"][1] > v["losses"][0] for v in per.values())
        summary[f"{seed}-{m}"] = {"boards": per, "after_minus_before": ci_text(a, b)}
        print(f"**{seed} {m}** ({len(per)} boards), test accuracy [%]\n")
        print("| arm | " + " | ".join(per) + " | mean (min) |")
        print("|---|" + "---|" * (len(per) + 1))
        for name, x in (("twin deployment", b), ("+ task fine-tuning", a)):
            cells = " | ".join(f"{100 * v:.1f}" for v in x)
            print(f"| {name} | {cells} | {100 * np.mean(x):.1f} ({100 * np.min(x):.1f}) |")
        print(
            f"\nafter - before {ci_text(a, b)}; before = hil evaluate --twin on {same}/{len(per)}; "
            f"best = last step on {best_last}/{len(per)}; first step raised the loss on "
            f"{first_up}/{len(per)}; board runs {sorted({v['board_runs'] for v in per.values()})}; "
            f"wall {min(v['wall_s'] for v in per.values()):.0f}-"
            f"{max(v['wall_s'] for v in per.values()):.0f} s, CPU "
            f"{min(v['cpu_s'] for v in per.values()):.0f}-{max(v['cpu_s'] for v in per.values()):.0f} s\n"
        )

extra: dict = {"rates": {}, "it10": {}, "rates10": {}}
for d in sorted(RES.glob("b74*")):
    for key, pre in (("rates", ""), ("rates10", "it10-")):
        ev = d / f"{pre}noise-rates-eval.json"
        if ev.exists() and ev.stat().st_size:
            r = json.loads((d / f"{pre}noise-rates.out").read_text())
            extra[key][d.name[1:]] = {
                "test_accuracy": json.loads(ev.read_text())["boards"][0]["accuracy"],
                "board_runs": r["board_runs"],
                "rate_error_before": r["rate_error_before"],
                "rate_error_after": r["rate_error_after"],
            }
            shutil.copy(d / f"{pre}noise-rates.out", HERE / d.name / f"{pre}noise-rates.out")
            shutil.copy(ev, HERE / d.name / ev.name)
    it = d / "it10-noise-task.out"
    if it.exists() and it.stat().st_size:
        s = json.loads(it.read_text())
        extra["it10"][d.name[1:]] = {"after": s["test_accuracy_after"], "board_runs": s["board_runs"]}
        shutil.copy(it, HERE / d.name / it.name)
        ft = json.loads((d / "it10-noise-task.json").read_text())["training"]["finetune"]
        (HERE / d.name / "it10-noise-task.finetune.json").write_text(json.dumps(ft, indent=1))
base = summary.get("s0-noise", {}).get("boards", {})
for key, name in (
    ("rates", "rates objective (5 steps)"),
    ("it10", "task objective, 10 steps"),
    ("rates10", "rates objective, 10 steps"),
):
    rows = extra[key]
    if len(rows) < 2:
        continue
    seeds = [s for s in rows if s in base]
    x = [rows[s]["after" if key == "it10" else "test_accuracy"] for s in seeds]
    b = [base[s]["before"] for s in seeds]
    t5 = [base[s]["after"] for s in seeds]
    print(f"**s0 noise, {name}** ({len(seeds)} boards)\n")
    print("| arm | " + " | ".join(seeds) + " | mean |")
    print("|---|" + "---|" * (len(seeds) + 1))
    for label, v in (("twin deployment", b), (name, x), ("task objective, 5 steps", t5)):
        print(f"| {label} | " + " | ".join(f"{100 * y:.1f}" for y in v) + f" | {100 * np.mean(v):.1f} |")
    print(f"\n{name} - twin deployment {ci_text(x, b)}; - task objective 5 steps {ci_text(x, t5)}\n")
    extra[key + "_vs_twin"] = ci_text(x, b)
    extra[key + "_vs_task5"] = ci_text(x, t5)
    if key == "rates10" and all(s in extra["it10"] for s in seeds):
        t10 = [extra["it10"][s]["after"] for s in seeds]
        extra["task10_vs_rates10"] = ci_text(t10, x)
        print(f"task objective, 10 steps - rates objective, 10 steps {ci_text(t10, x)}\n")
if len(extra["rates"]) >= 2:
    seeds = [s for s in extra["rates"] if s in base]
    t5 = [base[s]["after"] for s in seeds]
    r5 = [extra["rates"][s]["test_accuracy"] for s in seeds]
    extra["task5_vs_rates5"] = ci_text(t5, r5)
    print(f"task objective, 5 steps - rates objective, 5 steps {ci_text(t5, r5)}\n")
summary["extra"] = extra
(HERE / "summary.json").write_text(json.dumps(summary, indent=1))
