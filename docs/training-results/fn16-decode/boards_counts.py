"""Section 4.7: a test model on the ten emu:// boards 7501-7510, naive deployment, as `hil evaluate --board` runs
it (hil.deploy.deploy, hil.deploy.evaluate.board_neuron_counts on the test split), keeping each network
neuron's count so that both decodings can be scored. python boards_counts.py MODEL OUT.npz"""
import sys
import numpy as np, torch
from hil.board import open_board
from hil.deploy.deploy import deploy, model_task
from hil.deploy.evaluate import board_neuron_counts
from hil.tasks import accuracy
from hil.train.evaluate import float_accuracy
from hil.train.model import Model, class_scores
torch.set_num_threads(1)
m = Model.load(sys.argv[1]); task = model_task(m)
counts, urls = [], []
for b in range(7501, 7511):
    url = f"emu://?seed={b}"
    with open_board(url) as board:
        dep = deploy(m, n_chips=board.info().n_chips)
        counts.append(board_neuron_counts(board, dep, task.test, task.dt))
    urls.append(url)
c = np.stack(counts)
acc = {d: np.asarray(accuracy(class_scores(c, m.outputs, d), task.test.y)) for d in ("sum", "log-sum")}
np.savez_compressed(sys.argv[2], counts=c.astype(np.int32), y=task.test.y, boards=np.array(urls),
                    float_log_sum=float_accuracy(m, task.test), acc_sum=acc["sum"], acc_log_sum=acc["log-sum"])
print(sys.argv[1], "float %.4f" % float_accuracy(m, task.test), "sum %.4f log-sum %.4f" % (acc["sum"].mean(), acc["log-sum"].mean()))
import json
json.dump({"model": sys.argv[1], "float": float_accuracy(m, task.test), "boards": urls,
           "acc_sum": acc["sum"].tolist(), "acc_log_sum": acc["log-sum"].tolist()},
          open(sys.argv[2].replace(".npz", ".json"), "w"))
