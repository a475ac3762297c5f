"""The trained-network artifact that training writes and quantization, deployment and evaluation
read: `hil.model/1`, a JSON document plus an NPZ file of tensors beside it (never pickle).

A network is chip-agnostic: N neurons in logical cores, inputs by task channel, outputs by class.

    model.json   {"schema": "hil.model/1", "n_inputs", "n_neurons", "core_of": [N ints],
                  "currents": [{simulation name: amperes} per logical core],
                  "outputs": [[neuron indices] per class], "decode": "sum" | "log-sum",
                  "dt", "task": {...},
                  "training": {...}, "hil_version", "tensors": {"file", "sha256"}}
    model.npz    w_in (n_inputs, N) float32, w_rec (N, N) float32: signed weight currents [A]
                 (> 0: AMPA, < 0: GABA, the sign picks the synapse type as on the chip), indexed
                 [pre, post]; optional quantized form: iw (n_cores, 4) base weights [A] and
                 masks_in (n_inputs, N) / masks_rec (N, N) uint8 4-bit masks.

A class's score is the sum over its output neurons of their spike counts (`decode` "sum"), or of
log(1 + count) ("log-sum"); the predicted class is the highest score (`class_scores`). A document
without `decode` (written before it existed) decodes by "sum".

Neurons of one logical core share every current (biases are per core on the chip). Deployment maps
logical cores onto physical (chip, core)s; `currents` names come from hil.chip.netlist.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hil import __version__
from hil.artifacts import read_bytes, read_json, write_atomic
from hil.chip.geometry import NEURONS_PER_CORE
from hil.errors import ConfigError
from hil.train import check_decode

SCHEMA = "hil.model/1"
TENSORS = ("w_in", "w_rec")
QUANTIZED = ("iw", "masks_in", "masks_rec")


LOG_SUM_DECIMALS = 9  # log-sum scores are rounded here, so that equal products tie exactly


def class_scores(counts: np.ndarray, outputs: list[list[int]], decode: str) -> np.ndarray:
    """Class scores (..., classes) from spike counts per network neuron (..., N): per class, the
    sum over its output neurons (`outputs`) of the count ("sum") or of log(1 + count) ("log-sum").
    Under "log-sum" a neuron that mismatch makes fire three times as often adds log 3 more rather
    than three times as much, so one hot neuron outvotes its class's others less (docs/training.md
    section 4.7). Log-sum scores are rounded to LOG_SUM_DECIMALS decimals: two classes whose
    products of (1 + count) are equal (the same counts in another order, or 2 x 6 = 12 x 1) would
    otherwise differ by a rounding error, and a tie is no prediction (hil.tasks.accuracy)."""
    check_decode(decode)
    c = np.asarray(counts, dtype=np.float64)
    if decode == "sum":
        return np.stack([c[..., cls].sum(-1) for cls in outputs], -1)
    scores = np.stack([np.log1p(c[..., cls]).sum(-1) for cls in outputs], -1)
    return np.round(scores, LOG_SUM_DECIMALS)


@dataclass
class Model:
    """A trained network (see the module docstring for units and shapes)."""

    w_in: np.ndarray
    w_rec: np.ndarray
    core_of: np.ndarray
    currents: list[dict[str, float]]
    outputs: list[list[int]]
    dt: float
    task: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    quantized: dict[str, np.ndarray] | None = None
    decode: str = "sum"

    def __post_init__(self) -> None:
        check_decode(self.decode)
        self.w_in = np.asarray(self.w_in, dtype=np.float32)
        self.w_rec = np.asarray(self.w_rec, dtype=np.float32)
        self.core_of = np.asarray(self.core_of, dtype=np.int64)
        n = self.n_neurons
        if self.w_in.ndim != 2 or self.w_in.shape[1] != n or self.w_rec.shape != (n, n):
            raise ConfigError(
                "model weights",
                f"w_in {self.w_in.shape}, w_rec {self.w_rec.shape}",
                "w_in (n_inputs, N) and w_rec (N, N)",
            )
        if not (np.isfinite(self.w_in).all() and np.isfinite(self.w_rec).all()):
            raise ConfigError("model weights", "non-finite values", "finite amperes")
        if self.core_of.shape != (n,) or (n and self.core_of.min() < 0):
            raise ConfigError("core_of", self.core_of.shape, f"({n},) logical core indices >= 0")
        n_cores = int(self.core_of.max()) + 1 if n else 0
        if len(self.currents) != n_cores:
            raise ConfigError(
                "currents", len(self.currents), f"one dict per logical core ({n_cores})"
            )
        if np.bincount(self.core_of, minlength=n_cores).max(initial=0) > NEURONS_PER_CORE:
            raise ConfigError(
                "core_of", "a core with too many neurons", f"<= {NEURONS_PER_CORE} per core"
            )
        for c, cls in enumerate(self.outputs):
            if any(not 0 <= i < n for i in cls):
                raise ConfigError(f"outputs[{c}]", cls, f"neuron indices 0..{n - 1}")
        if not (np.isfinite(self.dt) and self.dt > 0):
            raise ConfigError("dt", self.dt, "seconds > 0")

    @property
    def n_inputs(self) -> int:
        return int(self.w_in.shape[0])

    @property
    def n_neurons(self) -> int:
        return int(self.w_rec.shape[0])

    @property
    def n_cores(self) -> int:
        return int(self.core_of.max()) + 1 if self.n_neurons else 0

    def save(self, path: str | Path) -> Path:
        """Write `path` (JSON) and the tensors beside it (`<stem>.npz`), each atomically; the
        JSON records the NPZ's SHA-256, so a mismatched pair is refused on load."""
        path = Path(path)
        arrays = {"w_in": self.w_in, "w_rec": self.w_rec, **(self.quantized or {})}
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy stubs take ** as allow_pickle
        blob = buf.getvalue()
        npz = path.with_suffix(".npz")
        doc = {
            "schema": SCHEMA,
            "n_inputs": self.n_inputs,
            "n_neurons": self.n_neurons,
            "core_of": self.core_of.tolist(),
            "currents": [{k: float(v) for k, v in c.items()} for c in self.currents],
            "outputs": [[int(i) for i in c] for c in self.outputs],
            "decode": self.decode,
            "dt": float(self.dt),
            "task": self.task,
            "training": self.training,
            "hil_version": __version__,
            "tensors": {"file": npz.name, "sha256": hashlib.sha256(blob).hexdigest()},
        }
        write_atomic(npz, blob)
        write_atomic(path, json.dumps(doc, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read a `hil.model/1` JSON and its NPZ (no pickle); ConfigError on a bad document."""
        path = Path(path)
        doc = read_json(path, "model")
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            raise ConfigError("schema", doc.get("schema") if isinstance(doc, dict) else doc, SCHEMA)
        tensors = doc.get("tensors") or {}
        npz = path.parent / Path(str(tensors.get("file", ""))).name
        blob = read_bytes(npz, "model tensors")
        if hashlib.sha256(blob).hexdigest() != tensors.get("sha256"):
            raise ConfigError("tensors.sha256", npz.name, "the NPZ written with this model.json")
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        missing = [k for k in TENSORS if k not in arrays]
        if missing:
            raise ConfigError("tensors", sorted(arrays), f"arrays {', '.join(TENSORS)}")
        quant = {k: arrays[k] for k in QUANTIZED if k in arrays} or None
        try:
            return cls(
                w_in=arrays["w_in"],
                w_rec=arrays["w_rec"],
                core_of=np.asarray(doc["core_of"]),
                currents=list(doc["currents"]),
                outputs=[list(c) for c in doc["outputs"]],
                dt=float(doc["dt"]),
                task=dict(doc.get("task") or {}),
                training=dict(doc.get("training") or {}),
                quantized=quant,
                decode=doc.get("decode", "sum"),
            )
        except ConfigError as e:  # a field the model checks names itself
            raise ConfigError(f"{path.name}: {e.path}", e.value, e.allowed) from None
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(
                "model.json", type(e).__name__, f"a {SCHEMA} document ({e})"
            ) from None
