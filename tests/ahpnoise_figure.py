"""docs/figures/ahp_noise.png: the twin's noise and AHP against the truth of emulated silicon.

hil characterize --board "emu://?seed=4242" --out CHAR
hil fit CHAR --out CHAR/twin.json
PYTHONPATH=$PWD python tests/ahpnoise_figure.py CHAR 4242 docs/figures/ahp_noise.png
"""

import sys

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from hil.board import BiasEditor
from hil.emulator.silicon import Silicon
from hil.experiments.adaptation import Adaptation
from hil.experiments.base import ExperimentResult, all_neurons_config
from hil.experiments.fi import DC, code_current
from hil.mismatch.ahpfit import GRID_S, isi_at, recording_times, simulate_times
from hil.mismatch.twin import Twin
from hil.sim.twin_source import TwinSource

d, seed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sil = Silicon.from_seed(seed)
t = sil.truth()
ok = ~t.dead & ~t.hot
tw = Twin.load(f"{d}/twin.json")
c2, _ = BiasEditor(all_neurons_config(1)).set({(0, k, DC): (2, 255) for k in range(4)})
a = sil.truth(c2).currents["Idc"] / code_current(DC, (2, 255))
fig, ax = plt.subplots(1, 3, figsize=(13, 4))
x = (t.noise_std / a)[ok] * 1e12
y = tw.noise_std[ok] * 1e12
ax[0].plot(x, y, ".", ms=2)
lim = [x.min() * 0.8, x.max() * 1.2]
ax[0].plot(lim, lim, "k-", lw=0.5)
ax[0].set_xlabel("truth noise_std / Idc factor [pA]")
ax[0].set_ylabel("twin noise_std [pA]")
ax[0].set_title(f"noise: median |error| {np.median(np.abs(y / x - 1)) * 100:.1f} %")
x = t.currents["Itau_ahp"][ok] * 1e12
y = tw.currents["Itau_ahp"][ok] * 1e12
ax[1].plot(x, y, ".", ms=2)
lim = [x.min() * 0.95, x.max() * 1.05]
ax[1].plot(lim, lim, "k-", lw=0.5)
ax[1].set_xlabel("truth Itau_ahp [pA]")
ax[1].set_ylabel("twin Itau_ahp [pA]")
ax[1].set_title(f"AHP time constant: median |error| {np.median(np.abs(y / x - 1)) * 100:.2f} %")
res = ExperimentResult.load(f"{d}/adaptation")
exp = Adaptation()
des = exp.design(1)
ed = BiasEditor(des.config)
neu = np.array([5, 300])
idx = np.arange(1024)
src = TwinSource.load(f"{d}/twin.json")
for i, st in enumerate(des.steps):
    meas = recording_times(res.recordings[i], idx)
    cfg = ed.set(st.biases)[0]
    sim = simulate_times(src, cfg, exp.duration_s, {}, 1, neu)[0]
    for j, n in enumerate(neu):
        m = isi_at([meas[n]])[:, 0] * 1e3
        s = isi_at([sim[j]])[:, 0] * 1e3
        lab = f"W={st.params['ahp_w_a'] * 1e9:.0f} nA" if j == 0 else None
        ax[2].plot(GRID_S, m, "o", ms=3, color=f"C{i}", label=lab)
        ax[2].plot(GRID_S, s, "-", color=f"C{i}", lw=1)
ax[2].set_xlabel("time after the DC step [s]")
ax[2].set_ylabel("ISI in force [ms]")
ax[2].set_title("adaptation, 2 neurons: chip (dots), twin (lines)")
ax[2].legend(fontsize=8)
fig.suptitle(f"Silicon.from_seed({seed}), full chip (alive, not hot neurons)", fontsize=9)
fig.tight_layout()
fig.savefig(out, dpi=110)
