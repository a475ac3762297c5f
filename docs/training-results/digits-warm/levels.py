"""Accuracy against mismatch level over the seeds s10-s19 (mean of each seed's 10 chips per level),
and noise-warm - none per level: mean over seeds [95 % t-interval]. python levels.py"""
import json
from pathlib import Path

import numpy as np
from scipy import stats

res = [json.loads(p.read_text()) for p in sorted(Path(__file__).parent.glob("s1?/digits-results.json"))]
levels = sorted(res[0]["modes"]["none"]["levels"], key=float)
acc = {m: np.array([[np.mean(r["modes"][m]["levels"][k]) for k in levels] for r in res])
       for m in ("none", "noise", "noise-warm")}
print("| mode | " + " | ".join(f"{100 * float(k):.0f} %" for k in levels) + " |")
print("|---|" + "---|" * len(levels))
for m, a in acc.items():
    print(f"| {m} | " + " | ".join(f"{100 * x:.1f}" for x in a.mean(0)) + " |")
for m in ("noise", "noise-warm"):
    d = 100 * (acc[m] - acc["none"])
    h = stats.t.ppf(0.975, len(d) - 1) * d.std(0, ddof=1) / np.sqrt(len(d))
    print(f"| {m} - none | " + " | ".join(f"{a:+.1f} [{a - b:+.1f}, {a + b:+.1f}]"
                                         for a, b in zip(d.mean(0), h)) + " |")
