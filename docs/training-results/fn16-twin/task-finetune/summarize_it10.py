import json, numpy as np
from pathlib import Path
from scipy import stats
R = Path("/work/main/docs/training-results/fn16-twin/task-finetune")
T = Path("/tmp/it10")  # where measure_it10_*.sh wrote; the copies here are read first
boards = [f"b{s}" for s in range(7401, 7414)]
def ci(x):
    m = x.mean(); h = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)); return f"{m:+.1f} [{m-h:+.1f}, {m+h:+.1f}]"
for m, five in (("noise", "noise"), ("none", "none"), ("s1-noise", "s1-noise"), ("s1-none", "s1-none")):
    a10, a5, tw = [], [], []
    for b in boards:
        f = (R / b / f"it10-{m}-task.out")
        if not f.exists():
            f = T / b / f"it10-{m}-task.out"
        if not f.exists() or not f.stat().st_size:
            break
        d = json.loads(f.read_text()); d5 = json.loads((R / b / f"{five}-task.out").read_text())
        a10.append(d["test_accuracy_after"] * 100); a5.append(d5["test_accuracy_after"] * 100); tw.append(d5["test_accuracy_before"] * 100)
        assert abs(d["test_accuracy_before"] - d5["test_accuracy_before"]) < 1e-9
    if len(a10) < 2:
        print(m, len(a10)); continue
    a10, a5, tw = map(np.array, (a10, a5, tw))
    print(m, len(a10), "10-step", " | ".join(f"{x:.1f}" for x in a10), f"mean {a10.mean():.1f} (min {a10.min():.1f})", "5-step mean", round(a5.mean(), 1), "twin", round(tw.mean(), 1), "10-twin", ci(a10 - tw), "10-5", ci(a10 - a5))
