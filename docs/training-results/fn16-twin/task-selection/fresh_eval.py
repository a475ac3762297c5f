"""One fresh board, one model: the new selection (with both predictions) and the board accuracy of
every candidate forced (so the old rate-error choice and forced masks are read off the same runs)."""
import json, sys, time
from hil.board import open_board
from hil.deploy.deploy import deploy, model_task
from hil.deploy.evaluate import board_accuracy
from hil.deploy.placement import load_twin
from hil.train.model import Model

model_path, url, twin_path = sys.argv[1:4]
model = Model.load(model_path); twin = load_twin(twin_path); task = model_task(model)
out = {"model": model_path, "url": url}
with open_board(url) as board:
    n = board.info().n_chips
    t = time.perf_counter(); sel = deploy(model, n_chips=n, twin=twin); out["deploy_wall_s"] = time.perf_counter() - t
    out["selection"] = sel.report["placement"]["selection"]
    cands = {"twin": deploy(model, n_chips=n, twin=twin, select=False),
             "twin, no mask compensation": deploy(model, n_chips=n, twin=twin, compensate=False, select=False),
             "naive": deploy(model, n_chips=n, twin=twin, naive=True)}
    out["accuracy"] = {k: board_accuracy(board, d, task.test, task.dt) for k, d in cands.items()}
    out["new_chosen_hash_matches"] = sel.config.content_hash() == cands[out["selection"]["chosen"]].config.content_hash()
print(json.dumps(out))
