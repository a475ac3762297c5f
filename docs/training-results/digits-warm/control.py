"""Section 4.6's control (docs/training.md): noise-warm (sS/) minus none-warm (control/sS/, the same
10 epochs at lr 0.01 from the none model without mismatch) per seed, over the 36 chips and per
mismatch level: mean over seeds [95 % t-interval]. python control.py"""
import json
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).resolve().parent


def ci(x) -> str:
    x = np.asarray(x)
    h = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return f"{x.mean():+.2f} [{x.mean() - h:+.2f}, {x.mean() + h:+.2f}]"


chips, levels = [], {}
for s in range(10, 20):
    warm = json.loads((HERE / f"s{s}/digits-results.json").read_text())["modes"]["noise-warm"]
    control = json.loads((HERE / f"control/s{s}/digits-results.json").read_text())["modes"]["none-warm"]
    chips.append(100 * (np.mean(warm["chip_accuracies"]) - np.mean(control["chip_accuracies"])))
    for k in control["levels"]:
        levels.setdefault(k, []).append(100 * (np.mean(warm["levels"][k]) - np.mean(control["levels"][k])))
print("per seed:", " ".join(f"{x:+.1f}" for x in chips))
print("noise-warm - none-warm, 36 chips:", ci(chips))
for k, v in sorted(levels.items(), key=lambda kv: float(kv[0])):
    print(f"  at {100 * float(k):.0f} %:", ci(v))
