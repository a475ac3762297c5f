"""A trained model (`hil.model/1`) -> a ChipConfig plus its deployment map (`hil.deploymap/1`).

Steps (each says what it did in the map's report; nothing is averaged or dropped silently):
1. Weights: the model's quantized form when it has one (its base weights re-rounded to bias codes,
   the change reported), else hil.quantize.weights.quantize on its float weights, per logical core,
   whose per-core AMPA and GABA gain codes (DEAM_EGAIN_P, DEGA_IGAIN_P) replace the nearest codes
   of the model's Igain_ampa / Igain_gaba (the excitatory and inhibitory weights' scales).
2. Currents: each logical core's currents -> nearest bias codes (hil.quantize.currents), the
   rounding error reported per current; latch_so_dc is set for the neurons of a core with Idc > 0.
3. Placement: naive (logical core k on physical core k, neurons in order), or with a twin
   (hil.deploy.placement: avoid dead and hot neurons, best neurons for the most important network
   neurons, per-core bias correction by the twin's median factors).
4. Calibration (`hil.calibration/1`, optional): for every calibrated physical core and bias, the
   ratio of the calibrated code's current to the nominal code's current for the calibration's own
   target scales the model's current for that bias (mismatch is multiplicative), re-rounded.
5. Map: task channel -> board channel, network neuron -> board neuron, logical core -> (chip,
   core), board neuron -> task output; the config's content hash ties map and config together.

Map document (`<config stem>.map.json` beside the config):
    {"schema": "hil.deploymap/1", "config_sha256", "model": {"path", "tensors_sha256"},
     "inputs": [board channel per task channel], "neurons": [board neuron per network neuron],
     "cores": [[chip, core] per logical core], "outputs": {"board neuron": task output},
     "decode": "sum" | "log-sum" (the model's: how output counts make class scores), "report": {...}}
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from hil.artifacts import read_json, write_json
from hil.calibrate.result import check as check_calibration
from hil.chip.biasgen import bias_code, bias_current
from hil.chip.config import ChipConfig
from hil.chip.geometry import COARSE_MAX, CORES_PER_CHIP, FINE_MAX, NUM_BASE_WEIGHTS
from hil.deploy.mapping import Placement, QuantizedNetwork, naive_placement, to_config
from hil.deploy.placement import (
    Twin,
    compensate_masks,
    corrected_parameters,
    placement_report,
    twin_placement,
)
from hil.errors import ConfigError
from hil.quantize.currents import currents_to_codes
from hil.quantize.weights import (
    BASE_WEIGHT_BIASES,
    GAIN_BIASES,
    levels_per_core,
    quantize,
    reference_gains,
    relative_rms_error,
)
from hil.tasks import Task
from hil.train.model import Model

MAP_SCHEMA = "hil.deploymap/1"
MAX_WEIGHT_ERROR = 0.5  # above this the weights are not in amperes the chip realizes (a unit slip)


@dataclass
class Deployment:
    """A deployed network: the config, where everything sits, and what was done on the way."""

    config: ChipConfig
    network: QuantizedNetwork
    placement: Placement
    report: dict = field(default_factory=dict)

    def output_map(self) -> dict[int, int]:
        """Board-wide neuron index -> task output (class)."""
        return {
            int(self.placement.neurons[i]): c
            for c, cls in enumerate(self.network.outputs)
            for i in cls
        }

    def map_document(self, model_path: str = "", tensors_sha256: str = "") -> dict:
        return {
            "schema": MAP_SCHEMA,
            "config_sha256": self.config.content_hash(),
            "model": {"path": model_path, "tensors_sha256": tensors_sha256},
            "inputs": self.placement.channels.tolist(),
            "neurons": self.placement.neurons.tolist(),
            "cores": self.placement.cores.tolist(),
            "outputs": {str(k): v for k, v in sorted(self.output_map().items())},
            "decode": self.network.decode,
            "report": self.report,
        }


def network_from_model(model: Model) -> tuple[QuantizedNetwork, dict]:
    """Steps 1 and 2 of the module docstring: (network, report)."""
    report: dict = {}
    w_in = model.w_in.astype(np.float64)
    w_rec = model.w_rec.astype(np.float64)
    gain_codes: np.ndarray | None = None  # set when this step chooses the synapse gains
    if model.quantized is not None and {"iw", "masks_in", "masks_rec"} <= set(model.quantized):
        iw = np.asarray(model.quantized["iw"], dtype=np.float64).reshape(-1, NUM_BASE_WEIGHTS)
        masks_in = np.asarray(model.quantized["masks_in"], dtype=np.uint8)
        masks_rec = np.asarray(model.quantized["masks_rec"], dtype=np.uint8)
        if iw.shape[0] != model.n_cores:
            raise ConfigError("iw", iw.shape, f"({model.n_cores}, 4): base weights per core")
        codes = np.array(
            [
                [
                    [int(v) for v in bias_code(b, w)]
                    for b, w in zip(BASE_WEIGHT_BIASES, row, strict=True)
                ]
                for row in iw
            ]
        ).reshape(-1, NUM_BASE_WEIGHTS, 2)
        got = np.array(
            [
                [
                    float(bias_current(b, c, f))
                    for b, (c, f) in zip(BASE_WEIGHT_BIASES, row, strict=True)
                ]
                for row in codes
            ]
        )
        report["weights"] = {
            "source": "the model's quantized form",
            "base_weight_rounding_max_rel": float(np.max(np.abs(got - iw) / np.maximum(iw, 1e-30)))
            if iw.size
            else 0.0,
        }
        iw = got
        sign_in = (np.sign(w_in) * (masks_in > 0)).astype(np.int8)
        sign_rec = (np.sign(w_rec) * (masks_rec > 0)).astype(np.int8)
        if np.any((masks_in > 0) & (w_in == 0)) or np.any((masks_rec > 0) & (w_rec == 0)):
            raise ConfigError(
                "masks",
                "a mask where the float weight is 0",
                "masks only where a weight has a sign",
            )
        lv = levels_per_core(iw)[model.core_of]  # (N, 16)
        cols = np.arange(model.n_neurons)[None, :]
        q_in, q_rec = sign_in * lv[cols, masks_in], sign_rec * lv[cols, masks_rec]
    else:
        q = quantize(w_in, w_rec, model.core_of, reference_gains(model.currents, model.n_cores))
        iw, codes, gain_codes = q.iw, q.codes, q.gain_codes
        masks_in, masks_rec, sign_in, sign_rec = q.masks_in, q.masks_rec, q.sign_in, q.sign_rec
        q_in, q_rec = q.weights()  # with each core's AMPA and GABA gain factors
        report["weights"] = {
            "source": "hil.quantize (alternating least squares, per-sign synapse gains)",
            "synapse_gain_factors": q.gain.tolist(),
        }
    report["weights"]["relative_rms_error"] = relative_rms_error(w_in, w_rec, q_in, q_rec)
    # a fine-tuned model's masks moved away from its float weights on purpose: not a unit slip
    if report["weights"]["relative_rms_error"] > MAX_WEIGHT_ERROR and not twin_compensated(model):
        w_max = float(max(np.abs(w_in).max(initial=0), np.abs(w_rec).max(initial=0)))
        raise ConfigError(
            "model weights",
            f"{report['weights']['relative_rms_error']:.0%} relative RMS error after quantization "
            f"(|w| up to {w_max:.3g} A)",
            f"weights in amperes that the base weights realize within {MAX_WEIGHT_ERROR:.0%}",
        )
    report["weights"]["synapses_rounded_to_zero"] = int(
        np.count_nonzero((w_in != 0) & (masks_in == 0))
        + np.count_nonzero((w_rec != 0) & (masks_rec == 0))
    )
    report["weights"]["base_weights_A"] = iw.tolist()

    parameters, worst = [], {}
    dc = np.zeros(model.n_neurons, bool)
    for k, cur in enumerate(model.currents):
        cur = {n: float(v) for n, v in cur.items() if not n.startswith("Iw_")}
        codes_k, err = currents_to_codes(cur)
        for i, b in enumerate(BASE_WEIGHT_BIASES):
            codes_k[b] = (int(codes[k][i][0]), int(codes[k][i][1]))
        if gain_codes is not None:  # the quantizer's AMPA and GABA gains replace the model's
            for i, b in enumerate(GAIN_BIASES):
                codes_k[b] = (int(gain_codes[k][i][0]), int(gain_codes[k][i][1]))
        parameters.append(codes_k)
        worst[str(k)] = max(err.values(), default=0.0)
        if cur.get("Idc", 0.0) > 0:
            dc[model.core_of == k] = True
    report["currents"] = {"max_code_rel_error_per_core": worst}
    net = QuantizedNetwork(
        masks_in=masks_in,
        masks_rec=masks_rec,
        sign_in=sign_in,
        sign_rec=sign_rec,
        core_of=model.core_of,
        parameters=parameters,
        dc_enable=dc,
        outputs=[list(c) for c in model.outputs],
        decode=model.decode,
    )
    return net, report


def apply_calibration(
    net: QuantizedNetwork, cores: np.ndarray, calibration: object
) -> tuple[list[dict[str, tuple[int, int]]], list[str]]:
    """Step 4 of the module docstring: per logical core its codes after the calibration, and one
    line per changed code. The record is checked by hil.calibrate.result.check (the one reader
    of `hil.calibration/1`); a calibrated bias of a core this deployment uses must have its
    nominal code in the record (the ratio needs both), else ConfigError naming the core and
    bias: a record deploy cannot apply is refused, never skipped."""
    try:
        check_calibration(calibration)
    except ConfigError as e:  # say which input it is: deploy reads a model, a twin and this
        raise ConfigError(f"calibration {e.path}", e.value, e.allowed) from None
    assert isinstance(calibration, dict)
    by_core = {(c["chip"], c["core"]): c for c in calibration["cores"]}
    used = [(int(c), int(k)) for c, k in cores]
    if not any(u in by_core for u in used):
        raise ConfigError(
            "calibration cores",
            sorted(by_core),
            f"a record for at least one core this deployment uses: {used}",
        )
    out, notes = [], []
    notes += [
        f"chip {c} core {k}: not calibrated (not in the record)"
        for c, k in used
        if (c, k) not in by_core
    ]
    for k, params in enumerate(net.parameters):
        chip, core = int(cores[k][0]), int(cores[k][1])
        entry = by_core.get((chip, core))
        new = dict(params)
        if entry is not None:
            nominal = _nominal_codes(entry, calibration["cores"].index(entry))
            for name, code in params.items():
                if name not in entry["parameters"]:
                    continue
                ratio = float(bias_current(name, *entry["parameters"][name])) / float(
                    bias_current(name, *nominal[name])
                )
                want = float(bias_current(name, *code)) * ratio
                nc, nf = (int(v) for v in bias_code(name, want))
                new[name] = (nc, nf)
                if (nc, nf) != tuple(code):
                    notes.append(f"chip {chip} core {core}: {name} {list(code)} -> {[nc, nf]}")
        out.append(new)
    return out, notes


def _nominal_codes(entry: dict, i: int) -> dict[str, tuple[int, int]]:
    """The `nominal` codes of calibration core record `entry` (cores[i]), one per calibrated bias,
    checked as the calibrated codes are."""
    nominal = entry.get("nominal")
    where = f"calibration cores[{i}].nominal"
    if not isinstance(nominal, dict):
        raise ConfigError(
            where,
            nominal,
            "an object {bias: [coarse, fine]}: the codes the calibration started from",
        )
    missing = sorted(set(entry["parameters"]) - set(nominal))
    if missing:
        raise ConfigError(
            where, f"no nominal code for {', '.join(missing)}", "one per calibrated bias"
        )
    for name in entry["parameters"]:
        code = nominal[name]
        ok = isinstance(code, list) and len(code) == 2
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in code)
        if not ok or not (0 <= code[0] <= COARSE_MAX and 0 <= code[1] <= FINE_MAX):
            raise ConfigError(
                f"{where}.{name}", code, f"[coarse 0..{COARSE_MAX}, fine 0..{FINE_MAX}]"
            )
    return {n: (nominal[n][0], nominal[n][1]) for n in entry["parameters"]}


def deploy(
    model: Model,
    *,
    n_chips: int | None = None,
    twin: Twin | None = None,
    calibration: object | None = None,
    naive: bool = False,
    compensate: bool = True,
    select: bool = True,
) -> Deployment:
    """The whole of the module docstring for one board with `n_chips` chips (None: as needed).

    With a twin, three deployments are candidates: twin placement with bias correction and mask
    compensation ("twin"), the same without mask compensation ("twin, no mask compensation") and
    naive placement with nominal codes ("naive"). When the model names its task (`model_task`),
    the twin predicts each one's accuracy on the task's validation split and the highest wins;
    otherwise the twin predicts each one's rate error and the lowest wins (hil.deploy.predict;
    ties keep that order). The report's
    placement.selection has every prediction and the choice. `select=False`: no prediction, the
    first candidate that `compensate` allows. `naive=True`: naive placement, the twin only reports
    what lands on dead and hot neurons (the baseline the others are measured against).
    `compensate=False`: no mask compensation. A fine-tuned model (`twin_compensated`) is deployed
    as tuned: twin placement, its base weights and masks as they are, no selection."""
    if n_chips is not None and model.n_cores > n_chips * CORES_PER_CHIP:  # before quantizing
        raise ConfigError(
            "chips",
            f"the network needs {-(-model.n_cores // CORES_PER_CHIP)} chips",
            f"at most {n_chips} (the board's)",
        )
    net, report = network_from_model(model)
    tuned = twin_compensated(model)
    if tuned:
        report["weights"]["twin_compensated"] = (
            "the model's base weights and masks were tuned on the board with its twin "
            "(hil finetune): deployed as they are, not corrected again"
        )
    if twin is None:
        return _deploy(net, report, None, "nominal", n_chips, calibration)
    if naive:
        return _deploy(net, report, twin, "naive", n_chips, calibration)
    if tuned:  # as it was deployed when tuned: naive stays naive, a twin placement is redone
        how = "naive" if tuned_from(model) == "naive" else TUNED
        return _deploy(net, report, twin, how, n_chips, calibration)
    names = [TWIN_MASKS, TWIN_BIASES] if compensate else [TWIN_BIASES]
    names = names + ["naive"] if select else names[:1]
    deps = {n: _deploy(net, report, twin, n, n_chips, calibration) for n in names}
    if len(deps) == 1:
        return deps[names[0]]
    from hil.deploy.predict import PROBE_RATE_HZ, PROBE_S, PROBE_SEED, VAL_SAMPLES, choose

    reference = _deploy(net, {}, None, "nominal", n_chips, None)
    task = model_task(model)
    t0 = time.perf_counter()
    best, predicted, criterion = choose(deps, reference, twin, task)
    dep = deps[best]
    methods = {
        "rate_error": (
            f"hil.sim with the twin's currents, Poisson {PROBE_RATE_HZ:g} Hz on every input for "
            f"{PROBE_S:g} s (seed {PROBE_SEED}), against the nominal deployment on the nominal "
            "chip (hil.deploy.predict); lowest wins"
        )
    }
    if task is not None:
        n_val = min(VAL_SAMPLES, len(task.val))
        methods["accuracy"] = (
            f"hil.sim with the twin's currents on the {n_val} samples (evenly spaced) of the "
            f"{task.name} validation split, outputs read through the deployment's map and "
            f"decoded by {dep.network.decode} (hil.deploy.predict); highest wins"
        )
    dep.report["placement"]["selection"] = {
        "chosen": best,
        "criterion": criterion,
        "predicted_rate_error": predicted["rate_error"],
        "predicted_accuracy": predicted.get("accuracy"),
        "how": methods,
        "wall_s": round(time.perf_counter() - t0, 3),
    }
    return dep


TWIN_MASKS = "twin"
TWIN_BIASES = "twin, no mask compensation"
TUNED = "twin, as fine-tuned"


def _deploy(
    net0: QuantizedNetwork,
    report0: dict,
    twin: Twin | None,
    how: str,
    n_chips: int | None,
    calibration: object | None,
) -> Deployment:
    """Steps 3-5 of the module docstring for one placement method `how` (nominal: naive
    placement without a twin; naive; TWIN_BIASES; TWIN_MASKS; TUNED)."""
    net = replace(net0, parameters=[dict(p) for p in net0.parameters])
    report = copy.deepcopy(report0)
    if twin is None or how == "naive":
        placement = naive_placement(net)
        report["placement"] = {"method": "naive"}
        if twin is not None:
            report["placement"].update(placement_report(net, placement, twin))
    else:
        placement, report["placement"] = twin_placement(net, twin, n_chips)
        report["placement"]["method"] = how
        keep = BASE_WEIGHT_BIASES if how == TUNED else ()
        params, notes = corrected_parameters(net.parameters, placement.cores, twin, keep=keep)
        net.parameters = params
        report["placement"]["bias_corrections"] = notes
    if n_chips is not None and placement.n_chips > n_chips:
        raise ConfigError(
            "chips",
            f"the network needs {placement.n_chips} chips",
            f"at most {n_chips} (the board's)",
        )
    if calibration is not None:
        net.parameters, report["calibration"] = apply_calibration(net, placement.cores, calibration)
    config = to_config(net, placement)
    if twin is not None and how == TWIN_MASKS:
        net, changed = compensate_masks(net, placement, config, twin)
        report["placement"]["masks_compensated"] = changed
        config = to_config(net, placement)
    report["cores_used"] = placement.cores.tolist()
    report["chips_used"] = placement.n_chips
    return Deployment(config=config, network=net, placement=placement, report=report)


def model_task(model: Model) -> Task | None:
    """The task `model` was trained on, as its training.config names it (task, seed,
    task_options: what `hil train` writes), or None when it names none."""
    from hil.tasks import get_task

    config = model.training.get("config") or {}
    name, seed = config.get("task"), config.get("seed", 0)
    if not isinstance(name, str) or not isinstance(seed, int):
        return None
    return get_task(name, seed, **(config.get("task_options") or {}))


def twin_compensated(model: Model) -> bool:
    """Whether `model`'s quantized form already holds a twin deployment's base weights and masks
    (what `hil finetune` writes: training.finetune.twin_compensated)."""
    ft = model.training.get("finetune")
    return (
        model.quantized is not None and isinstance(ft, dict) and ft.get("twin_compensated") is True
    )


def tuned_from(model: Model) -> str:
    """The placement method a fine-tuned model was deployed with (training.finetune.deployed_as:
    "naive" or a twin method; older files: the twin's)."""
    ft = model.training.get("finetune")
    got = ft.get("deployed_as") if isinstance(ft, dict) else None
    return got if got in ("naive", TWIN_MASKS, TWIN_BIASES, TUNED) else TWIN_MASKS


def map_path(config_path: str | Path) -> Path:
    """Where the map of a config goes: `<config stem>.map.json` beside it."""
    p = Path(config_path)
    return p.with_name(p.stem + ".map.json")


def save(
    dep: Deployment, config_path: str | Path, model_path: str = "", tensors_sha256: str = ""
) -> tuple[Path, Path]:
    """Write the config and its map, each atomically (the map last, naming the config's hash)."""
    cfg = dep.config.save(config_path)
    mp = write_json(map_path(config_path), dep.map_document(model_path, tensors_sha256))
    return cfg, mp


def load_map(path: str | Path, config: ChipConfig | None = None) -> tuple[Placement, dict]:
    """Read a map document (and check it belongs to `config` when given): (placement, document)."""
    doc = read_json(path, "deployment map")
    if not isinstance(doc, dict) or doc.get("schema") != MAP_SCHEMA:
        raise ConfigError(
            "schema", doc.get("schema") if isinstance(doc, dict) else doc, repr(MAP_SCHEMA)
        )
    if config is not None and doc.get("config_sha256") != config.content_hash():
        raise ConfigError(
            "config_sha256",
            doc.get("config_sha256"),
            "the hash of the config this map was written with",
        )
    try:
        placement = Placement(
            cores=np.array(doc["cores"], dtype=np.int64).reshape(-1, 2),
            neurons=np.array(doc["neurons"], dtype=np.int64),
            channels=np.array(doc["inputs"], dtype=np.int64),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError("deployment map", str(e)[:80], "cores, neurons, inputs lists") from None
    return placement, doc
