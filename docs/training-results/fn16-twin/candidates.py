"""Diagnostic: task accuracy of each twin candidate (forced, no selection) and of the selected
deployment with the silicon's hidden truth as the twin. Usage: candidates.py SEED..."""
import json
import os
import sys
import time

from hil.board import open_board
from hil.deploy.deploy import deploy
from hil.deploy.evaluate import board_accuracy
from hil.deploy.placement import load_twin
from hil.emulator.silicon import Silicon
from hil.tasks import get_task
from hil.train.model import Model

TSEED = int(os.environ.get("TRAIN_SEED", "0"))  # 1: the fn16s1-* models, s1-candidates.json
PRE = "s1-" if TSEED == 1 else ""
task = get_task("frozen-noise-16", TSEED)
for s in sys.argv[1:]:
    d = f"results/fn16/b{s}"
    Silicon.from_seed(int(s)).write_truth(f"{d}/truth.csv")
    twins = {"fitted": load_twin(f"{d}/twin.json"), "truth": load_twin(f"{d}/truth.csv")}
    out: dict = {}
    t0 = time.process_time()
    for m in ("none", "noise"):
        model = Model.load(f"results/fn16/fn16{'s1' if TSEED == 1 else ''}-{m}.json")
        deps = {
            "fitted: twin (masks), forced": deploy(model, n_chips=1, twin=twins["fitted"], select=False),
            "fitted: twin, no masks, forced": deploy(
                model, n_chips=1, twin=twins["fitted"], compensate=False, select=False),
            "truth: selected": deploy(model, n_chips=1, twin=twins["truth"]),
            "truth: twin (masks), forced": deploy(model, n_chips=1, twin=twins["truth"], select=False),
        }
        res = {}
        with open_board(f"emu://?seed={s}") as board:
            for k, dep in deps.items():
                res[k] = {"accuracy": board_accuracy(board, dep, task.test, task.dt),
                          "method": dep.report["placement"]["method"],
                          "selection": dep.report["placement"].get("selection", {}).get("chosen")}
        out[m] = res
    out["cpu_s"] = time.process_time() - t0
    with open(f"{d}/{PRE}candidates.json", "w") as f:
        json.dump(out, f, indent=1)
    print(s, json.dumps({m: {k: v["accuracy"] for k, v in out[m].items()} for m in ("none", "noise")}))
