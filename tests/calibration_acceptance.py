"""Calibration acceptance on silicon personalities made here (issue 9 section 5), checked against
the emulator's hidden truth under the calibrated biases, independently of the measurement path:
the effective tau_mem / t_ref of every neuron come from `Silicon.truth(config)` currents through
`hil.chip.netlist.derived_constants`.

    PYTHONPATH=$PWD python tests/calibration_acceptance.py [docs/calibration_errors.png]
        # prints the table of docs/calibration.md (and draws its figure)
    PYTHONPATH=$PWD python tests/calibration_acceptance.py --wire [FOLDER]
        # the same check through a `hil emulate --listen` process over TCP
    PYTHONPATH=$PWD python tests/calibration_acceptance.py --ranges
        # the ends of every accepted target range, one core, against the truth
"""

from __future__ import annotations

import sys
import time

import numpy as np

from hil.calibrate import ALGORITHMS, Target, calibrate, merge
from hil.chip.config import ChipConfig
from hil.chip.geometry import Dendrite
from hil.chip.netlist import SYNAPSE_TYPES, build_netlist, derived_constants
from hil.chip.params import Physics
from hil.emulator.engine import SiliconEngine
from hil.emulator.silicon import Drift, Silicon, Spread

PHYS = Physics()
# quantity -> the derived_constants key that holds it (and the synapse row, per-synapse ones)
DERIVED = {
    "tau_mem": ("tau_mem", None),
    "t_ref": ("t_ref", None),
    "tau_gaba": ("tau_syn", Dendrite.GABA),
    "tau_ampa": ("tau_syn", Dendrite.AMPA),
}


def personality(
    seed: int,
    family: str,
    neuron_sigma: float,
    core_sigma: float,
    biasgen: float,
    noise_A: float = 1e-12,
    dead: float = 0.003,
    hot: float = 0.002,
    day: int = 0,
) -> Silicon:
    """A personality of the given family and spreads: every current mismatched alike (the
    calibration must not depend on any being nominal)."""
    from hil.chip.netlist import BASE_WEIGHTS, BIAS_CURRENTS

    mm = {
        p: Spread(family, core_sigma, 0.0 if p in BASE_WEIGHTS else neuron_sigma)
        for p in BIAS_CURRENTS
    }
    return Silicon(
        silicon_id=f"accept-{family}-{seed}",
        seed=seed,
        day=day,
        mismatch=mm,
        biasgen_sigma=biasgen,
        noise_std_A=noise_A,
        noise_neuron_sigma=0.3,
        dead_fraction=dead,
        hot_fraction=hot,
        hot_current_A=1e-10,
        hot_sigma=0.5,
        drift=Drift(core_walk_sigma=2e-3, neuron_rate_sigma=5e-4),
    )


def truth_medians(sil: Silicon, config: ChipConfig, name: str) -> np.ndarray:
    """(n_chips * 4,) per-core median of the effective quantity under `config`'s biases, from the
    hidden truth (dead and hot neurons included: the truth does not know what calibration
    excluded, and a few of 256 do not move a median)."""
    t = sil.truth(config)
    net = build_netlist(config, t.currents, n_chips=sil.n_chips, all_neurons=True)
    d = derived_constants(net.fields(PHYS), 1e-4, PHYS)
    key, syn = DERIVED[name]
    v = np.asarray(d[key]) if syn is None else np.asarray(d[key])[SYNAPSE_TYPES.index(syn)]
    return np.median(v.reshape(-1, 256), axis=1)


def nominal_config(record: dict) -> ChipConfig:
    nominal = {
        "schema": record["schema"],
        "cores": [
            {"chip": c["chip"], "core": c["core"], "parameters": c["nominal"]}
            for c in record["cores"]
        ],
    }
    return merge(ChipConfig(), nominal)[0]


def evaluate(sil: Silicon, target: Target, algorithm: str) -> dict:
    with SiliconEngine(sil) as board:
        t0 = time.perf_counter()
        rec = calibrate(board, target, ALGORITHMS[algorithm]())
        wall = time.perf_counter() - t0
    cal, _ = merge(ChipConfig(), rec)
    nom = nominal_config(rec)
    out = {"runs": rec["runs"], "board_s": rec["board_s"], "wall_s": wall, "record": rec}
    for name, value in target.targets.items():
        out[name] = {
            "calibrated": truth_medians(sil, cal, name) / value - 1,
            "nominal": truth_medians(sil, nom, name) / value - 1,
            "measured": np.array([c["achieved"][name] for c in rec["cores"]]) / value - 1,
        }
    return out


CASES = [
    # (seed, family, neuron sigma, core sigma, biasgen sigma, day): none of these was used while
    # the measurement was developed (that used Silicon.from_seed(5) and (11))
    (101, "lognormal", 0.15, 0.06, 0.05, 0),
    (202, "normal", 0.20, 0.08, 0.04, 0),
    (303, "uniform", 0.10, 0.04, 0.06, 0),
    (404, "lognormal", 0.25, 0.05, 0.03, 30),
]
TARGETS = [
    Target({"tau_mem": 0.02, "t_ref": 0.002, "tau_ampa": 0.008, "tau_gaba": 0.012}),
    Target({"tau_mem": 0.01, "t_ref": 0.0005, "tau_ampa": 0.004, "tau_gaba": 0.005}),
]


def main(figure: str | None = None) -> int:
    """Print the acceptance table (docs/calibration.md); with `figure`, also draw every core's
    error against the truth, nominal conversion vs calibrated, to that PNG file."""
    worst = 0.0
    points: dict[str, list[tuple[float, float]]] = {}
    print(
        "| silicon | targets | algorithm | runs | board s | quantity | nominal err (max) "
        "| calibrated err (max, vs truth) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for case, (seed, fam, ns, cs, bg, day) in enumerate(CASES):
        sil = personality(seed, fam, ns, cs, bg, day=day)
        for target in TARGETS:
            # plain binary search for comparison on the first personality (it costs ~4x the runs)
            for alg in ("predictive", "binary") if case == 0 else ("predictive",):
                r = evaluate(sil, target, alg)
                for name in sorted(target.targets):
                    e = r[name]
                    worst = max(worst, float(np.max(np.abs(e["calibrated"]))))
                    if alg == "predictive":
                        points.setdefault(name, []).extend(
                            zip(e["nominal"].tolist(), e["calibrated"].tolist(), strict=True)
                        )
                    print(
                        f"| {fam} {ns:.0%}/{cs:.0%}/{bg:.0%} d{day} | "
                        + ", ".join(f"{k}={v:g}" for k, v in sorted(target.targets.items()))
                        + f" | {alg} | {r['runs']} | {r['board_s']:.2f} | {name} | "
                        f"{np.max(np.abs(e['nominal'])):.1%} | "
                        f"{np.max(np.abs(e['calibrated'])):.2%} |",
                        flush=True,
                    )
    print(f"worst calibrated error against the truth: {worst:.2%}")
    if figure:
        draw(points, figure)
    return 0 if worst <= 0.03 else 1


def draw(points: dict[str, list[tuple[float, float]]], path: str) -> None:
    """Per quantity, every core's relative error of the median against the truth: nominal
    conversion (x) vs calibrated (y), with the +-3 % band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, pts in sorted(points.items()):
        a = np.array(pts) * 100
        ax.scatter(a[:, 0], a[:, 1], s=14, label=name)
    ax.axhspan(-3, 3, color="0.9", zorder=0, label="+-3 % (acceptance)")
    ax.set_xlabel("nominal conversion: error of the core median vs target [%]")
    ax.set_ylabel("calibrated (predictive): error [%]")
    ax.set_title("Per-core median vs target, from the hidden truth")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def over_the_wire(folder: str) -> int:
    """`hil calibrate` against a separate `hil emulate --listen` process over TCP (2 pA membrane
    noise, a personality of its own), checked against the truth; prints the per-core errors."""
    import json
    import re
    import subprocess
    from pathlib import Path

    from hil.calibrate import load

    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    sil = personality(909, "normal", 0.16, 0.06, 0.05, noise_A=2e-12)
    sil.save(d / "silicon.json")
    target = {"tau_mem": 0.02, "t_ref": 0.002, "tau_ampa": 0.008, "tau_gaba": 0.012}
    (d / "target.json").write_text(
        json.dumps({"schema": "hil.calibration-target/1", "targets": target})
    )
    cmd = [sys.executable, "-m", "hil", "emulate", "--listen", "127.0.0.1:0"]
    srv = subprocess.Popen(
        [*cmd, "--silicon", str(d / "silicon.json")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert srv.stdout is not None
        port = re.search(r"127\.0\.0\.1:(\d+)", srv.stdout.readline())
        assert port, "the emulator did not say its port"
        t0 = time.perf_counter()
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "hil",
                "calibrate",
                "--board",
                f"socket://127.0.0.1:{port.group(1)}",
                "--target",
                str(d / "target.json"),
                "--out",
                str(d / "calibration.json"),
                "--no-cache",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        wall = time.perf_counter() - t0
    finally:
        srv.terminate()
        srv.wait(10)
    print(f"hil calibrate over TCP: exit {r.returncode}, {wall:.1f} s wall {r.stderr.strip()}")
    rec = load(d / "calibration.json")
    cal, _ = merge(ChipConfig(), rec)
    nom = nominal_config(rec)
    print(f"runs {rec['runs']}, board time {rec['board_s']:.2f} s")
    worst = 0.0
    for name, v in sorted(target.items()):
        got = truth_medians(sil, cal, name) / v - 1
        worst = max(worst, float(np.abs(got).max()))
        print(
            f"{name}: calibrated {np.round(got * 100, 2)} %, nominal "
            f"{np.round((truth_medians(sil, nom, name) / v - 1) * 100, 2)} %"
        )
    return 0 if worst <= 0.03 and r.returncode == 0 else 1


def ranges() -> int:
    """The ends of each quantity's accepted target range (QUANTITIES[...].measurable), one core
    each on two personalities (Silicon.from_seed(7) and one made here), checked against the truth:
    a success must be within 3 %. Prints one line per case; exit 1 on a false success."""
    import warnings

    from hil.calibrate.target import QUANTITIES

    sils = [Silicon.from_seed(7), personality(515, "uniform", 0.2, 0.07, 0.05)]
    bad = 0
    for name, q in QUANTITIES.items():
        for value in q.measurable:
            for sil in sils:
                with SiliconEngine(sil) as board, warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    rec = calibrate(board, Target({name: value}, ((0, 1),)))
                cal, _ = merge(ChipConfig(), rec)
                err = float(truth_medians(sil, cal, name)[1] / value - 1)
                ok = rec["cores"][0]["success"][name]
                bad += ok and abs(err) > 0.03
                print(f"{sil.silicon_id} {name} {value:g} s: success {ok}, vs truth {err:+.2%}")
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--ranges"]:
        sys.exit(ranges())
    if sys.argv[1:2] == ["--wire"]:
        sys.exit(over_the_wire(sys.argv[2] if len(sys.argv) > 2 else "/tmp/hil-calibrate-wire"))
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
