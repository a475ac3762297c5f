"""The experiment framework: what an experiment sets and measures (a Design of Steps) is separate
from how its data are analysed (Experiment.analyse), as in calix.

    exp = FI()                                   # an Experiment
    result = run_experiment(board, exp)          # apply once, set_biases per step, record
    result.table                                 # one row per neuron: chip, core, neuron, ...
    result.save("char/fi"); ExperimentResult.load("char/fi")

A Design is one ChipConfig (every neuron of every core of the board, in parallel) and a list of
Steps. Each Step names the per-core bias writes made before it (`hil.board.BiasWrites.set_biases`:
no full re-apply between steps), the stimulus, the duration and the readout. Every step starts from
rest (`Board.reset`). A run gives one `hil.measure.Recording` per step.

The analysis turns the Recordings into a tidy pandas DataFrame, one row per neuron (columns chip,
core, neuron, then the measured quantities with their unit in the name: `rheobase_a`,
`gain_hz_per_a`, `t_ref_s`, ...), then the provenance columns `experiment`, `board_id`,
`silicon_id`, `hil_version` and `source` (SHA-256 of the step Recordings, hashed together).

On disk an ExperimentResult is a folder: `design.json` (steps with their parameters), `steps/NNN/`
(each step's Recording folder), `table.csv`; written into a temporary folder and renamed into place,
so an interrupted run leaves no half-written result.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from hil import __version__, progress
from hil import events as ev
from hil.artifacts import read_json, write_atomic
from hil.board import BiasEditor, BiasKey, BiasWrites, Board, BoardInfo
from hil.chip.config import Chip, ChipConfig, Neuron
from hil.chip.geometry import CORES_PER_CHIP, NEURONS_PER_CHIP, neuron_address
from hil.chip.netlist import nominal_codes
from hil.errors import ConfigError
from hil.measure import Recording, record

if TYPE_CHECKING:
    import pandas as pd

SCHEMA = "hil.experiment/1"
NEURONS_PER_CORE = NEURONS_PER_CHIP // CORES_PER_CHIP
ADDRESS = ("chip", "core", "neuron")
PROVENANCE_COLUMNS = ("experiment", "board_id", "silicon_id", "hil_version", "source")
E = TypeVar("E", bound="Experiment")


@dataclass(frozen=True)
class Step:
    """One board run of a design.

    biases: per-core bias writes {(chip, core, device name): (coarse, fine)} made before the run
    (they stay for later steps, as on the board); stimulus: INPUT_DTYPE events; duration_s [s];
    readout: "spikes" or "counts" (bin_s [s] for counts); params: what the analysis needs to know
    about the step (JSON scalars, e.g. {"dc_coarse": 3, "dc_fine": 40}).
    """

    params: Mapping[str, Any]
    duration_s: float
    biases: Mapping[BiasKey, tuple[int, int]] = field(default_factory=dict)
    stimulus: np.ndarray = field(
        default_factory=lambda: ev.input_events(np.zeros(0, np.int64), np.zeros(0, np.int64))
    )
    readout: str = "spikes"
    bin_s: float | None = None

    def to_dict(self) -> dict:
        return {
            "params": dict(self.params),
            "duration_s": self.duration_s,
            "biases": [[c, k, n, list(code)] for (c, k, n), code in self.biases.items()],
            "readout": self.readout,
            "bin_s": self.bin_s,
            "n_stimulus_events": int(self.stimulus.size),
        }


@dataclass(frozen=True)
class Design:
    """What an experiment sets: one config (applied once) and its steps."""

    config: ChipConfig
    steps: tuple[Step, ...]

    @property
    def board_time_s(self) -> float:
        """Seconds of stimulus the board runs (the characterization budget counts these)."""
        return float(sum(s.duration_s for s in self.steps))


class Experiment(abc.ABC):
    """A characterization experiment: `design` says what to set and measure, `analyse` what the
    Recordings mean. Subclasses are small records of their options (durations, codes)."""

    name: str = ""

    @abc.abstractmethod
    def design(self, n_chips: int) -> Design:
        """The design for a board of `n_chips` chips (all neurons of all cores in parallel)."""

    @abc.abstractmethod
    def analyse(self, steps: Sequence[Step], recordings: Sequence[Recording]) -> pd.DataFrame:
        """One row per neuron (ADDRESS columns first, then the measured quantities)."""

    def options(self) -> dict[str, Any]:
        """The experiment's options (its dataclass fields), recorded with its result as JSON;
        `rebuild` makes the experiment again from them."""
        if not dataclasses.is_dataclass(self):
            return {}
        return json.loads(json.dumps(dataclasses.asdict(self)))


def rebuild(cls: type[E], options: Mapping[str, Any]) -> E:
    """The experiment of class `cls` with the recorded `options` (lists back to tuples)."""

    def tup(v: Any) -> Any:
        return tuple(tup(x) for x in v) if isinstance(v, list) else v

    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: tup(v) for k, v in options.items() if k in names})


@dataclass
class ExperimentResult:
    """A finished experiment: its steps, their Recordings, the analysed table and timing."""

    name: str
    options: dict[str, Any]
    steps: list[dict]  # Step.to_dict() of every step
    recordings: list[Recording]
    table: pd.DataFrame
    board: dict  # BoardInfo.to_dict()
    board_time_s: float
    wall_s: float

    def save(self, path: str | Path) -> Path:
        """Write the result folder (module docstring) atomically; an earlier result at `path` is
        replaced only once the new one is complete."""
        path = Path(path)
        if path.exists() and not (path / "design.json").is_file():
            raise ConfigError("path", str(path), "a new path or an earlier experiment folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            for i, rec in enumerate(self.recordings):
                rec.save(tmp / "steps" / f"{i:03d}")
            write_atomic(tmp / "table.csv", self.table.to_csv(index=False))
            head = {
                "schema": SCHEMA,
                "name": self.name,
                "options": self.options,
                "steps": self.steps,
                "board": self.board,
                "board_time_s": self.board_time_s,
                "wall_s": self.wall_s,
                "sources": [recording_hash(r) for r in self.recordings],
            }
            write_atomic(tmp / "design.json", json.dumps(head, indent=1, sort_keys=True) + "\n")
            if path.exists():
                old = Path(
                    tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent)
                )
                os.replace(path, old / "x")
                os.replace(tmp, path)
                shutil.rmtree(old)
            else:
                os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path) -> ExperimentResult:
        """Read a folder written by `save`; ConfigError when it is not one."""
        import pandas as pd

        path = Path(path)
        head = read_json(path / "design.json", f"experiment {path}")
        if not isinstance(head, dict) or head.get("schema") != SCHEMA:
            raise ConfigError(f"{path}/design.json", "schema", SCHEMA)
        steps = head["steps"]
        recs = [Recording.load(path / "steps" / f"{i:03d}") for i in range(len(steps))]
        try:
            table = pd.read_csv(path / "table.csv")
        except (OSError, ValueError) as e:
            raise ConfigError(f"{path}/table.csv", "unreadable", f"a CSV table ({e})") from None
        return cls(
            head["name"],
            head["options"],
            steps,
            recs,
            table,
            head["board"],
            float(head["board_time_s"]),
            float(head["wall_s"]),
        )


def recording_hash(rec: Recording) -> str:
    """SHA-256 (hex) of a Recording's content: its header fields and its data (not the time or
    host it was taken on)."""
    h = hashlib.sha256()
    p = {k: v for k, v in rec.provenance.items() if k not in ("utc", "host")}
    h.update(
        json.dumps([rec.readout, rec.duration_us, rec.resolution_us, p], sort_keys=True).encode()
    )
    h.update(np.ascontiguousarray(rec.neurons).tobytes())
    if rec.events is not None:
        h.update(np.ascontiguousarray(rec.events).tobytes())
    if rec.counts is not None:
        h.update(np.ascontiguousarray(rec.counts.counts).tobytes())
    return h.hexdigest()


def run_experiment(
    board: Board,
    experiment: Experiment,
    *,
    show_progress: bool = True,
    readout: str | None = None,
    bin_s: float = 1e-3,
) -> ExperimentResult:
    """Run `experiment` on `board`: apply its config once, then per step write the step's biases
    (`set_biases` where the board has it; otherwise the edited config is applied in full, and the
    result says so in its options as `bias_writes: "apply"`), reset to rest, and record. Returns
    the Recordings and the analysed table (with provenance columns). `readout` ("spikes" or
    "counts", bins of `bin_s`) overrides the design's readout for every step."""
    info = board.info()
    design = experiment.design(info.n_chips)
    t0 = time.perf_counter()
    editor = BiasEditor(design.config)
    board.apply(design.config)
    writes = "set_biases" if isinstance(board, BiasWrites) else "apply"
    recordings = []
    steps = design.steps
    shown = progress.bar(steps, desc=experiment.name, total=len(steps)) if show_progress else steps
    for step in shown:
        if step.biases:
            if isinstance(board, BiasWrites):
                board.set_biases(step.biases)
            else:
                config, _ = editor.set(step.biases)
                board.apply(config)
        board.reset()
        how = step.readout if readout is None else readout
        width = step.bin_s if readout is None else (bin_s if readout == "counts" else None)
        recordings.append(record(board, step.stimulus, step.duration_s, how, width))
    wall = time.perf_counter() - t0
    table = experiment.analyse(steps, recordings)
    table = with_provenance(table, experiment.name, info, recordings)
    return ExperimentResult(
        name=experiment.name,
        options={**experiment.options(), "bias_writes": writes},
        steps=[s.to_dict() for s in steps],
        recordings=recordings,
        table=table,
        board=info.to_dict(),
        board_time_s=design.board_time_s,
        wall_s=wall,
    )


def with_provenance(
    table: pd.DataFrame, name: str, info: BoardInfo, recordings: Sequence[Recording]
) -> pd.DataFrame:
    """`table` with the provenance columns (PROVENANCE_COLUMNS) appended."""
    src = hashlib.sha256("".join(recording_hash(r) for r in recordings).encode()).hexdigest()
    prov = recordings[0].provenance if recordings else {}
    out = table.copy()
    out["experiment"] = name
    out["board_id"] = info.board_id
    out["silicon_id"] = prov.get("silicon_id")
    out["hil_version"] = __version__
    out["source"] = src
    return out


# ---- helpers the analyses share -------------------------------------------------------------------


def address_frame(neurons: np.ndarray) -> pd.DataFrame:
    """chip, core, neuron columns for board-wide indices `neurons` (n,)."""
    import pandas as pd

    chip, core, neuron = neuron_address(np.asarray(neurons, np.int64))
    return pd.DataFrame({"chip": chip, "core": core, "neuron": neuron})


def spike_rates(rec: Recording, neurons: np.ndarray) -> np.ndarray:
    """(n,) firing rate [Hz] of each neuron in `neurons` (board-wide indices, sorted).

    Spikes readout: (k - 1) / (t_k - t_1) over a neuron's k >= 3 spikes (the inverse mean ISI: no
    phase error from where the run starts and ends), k / duration for fewer. Counts readout: where
    no bin holds two spikes, the same with each spike time known to its bin; else the spikes in
    the bins strictly between the first and the last non-empty one over their time; k / duration
    for fewer than 3 spikes."""
    n = neurons.size
    dur = rec.duration_s
    count = np.zeros(n)
    first = np.full(n, np.nan)
    last = np.full(n, np.nan)
    if rec.events is not None:
        g = ev.global_index(rec.events)
        t = rec.events["t_us"].astype(np.float64) * 1e-6
        col = np.searchsorted(neurons, g)
        ok = (col < n) & (neurons[np.minimum(col, n - 1)] == g)
        col, t = col[ok], t[ok]
        np.add.at(count, col, 1)
        # events are time-sorted: the first occurrence per column is the first spike
        first_idx = np.full(n, -1)
        last_idx = np.full(n, -1)
        order = np.arange(col.size)
        first_idx[col[::-1]] = order[::-1]
        last_idx[col] = order
        has = first_idx >= 0
        first[has] = t[first_idx[has]]
        last[has] = t[last_idx[has]]
        k = count
        rate = np.where(k >= 3, (k - 1) / np.maximum(last - first, 1e-12), k / dur)
        return np.nan_to_num(rate)
    assert rec.counts is not None
    c = rec.counts
    col = np.searchsorted(c.neurons, neurons)
    col = np.minimum(col, max(c.neurons.size - 1, 0))
    found = c.neurons.size > 0 and np.all(c.neurons[col] == neurons)
    if not found:
        raise ConfigError("neurons", "not all recorded", "neurons of the recording")
    m = c.counts[:, col].astype(np.float64)  # (bins, n)
    k = m.sum(0)
    has = m > 0
    b1 = np.argmax(has, axis=0)
    b2 = m.shape[0] - 1 - np.argmax(has[::-1], axis=0)
    bin_s = c.bin_us * 1e-6
    # at most one spike per bin: (k - 1) intervals between the first and last spike's bins (their
    # times known to a bin); else the spikes inside the bins strictly between those two
    single = m.max(0) <= 1
    one = (k - 1) / np.maximum((b2 - b1) * bin_s, 1e-12)
    cols = np.arange(k.size)
    inner = (k - m[b1, cols] - m[b2, cols]) / np.maximum((b2 - b1 - 1) * bin_s, 1e-12)
    est = np.where(single, one, inner)
    return np.where((k >= 3) & (b2 - b1 >= 2), est, k / dur)


def all_neurons_config(
    n_chips: int,
    latches: Mapping[str, bool] | None = None,
    parameters: Mapping[str, tuple[int, int]] | None = None,
    n_per_core: int = NEURONS_PER_CORE,
) -> ChipConfig:
    """A config that sets neurons 0..n_per_core-1 of every core of `n_chips` chips (all of them by
    default), without synapses or destinations, with `latches` on each neuron and every core's
    biases at the nominal codes (`hil.chip.netlist.nominal_codes`) updated by `parameters`
    (device name -> (coarse, fine))."""
    cfg = ChipConfig(chips=[Chip() for _ in range(n_chips)])
    codes = {**nominal_codes(), **(parameters or {})}
    for c in range(n_chips):
        for k in range(CORES_PER_CHIP):
            core = cfg.core(c, k)
            core.parameters = dict(codes)
            for n in range(n_per_core):
                core.neurons[n] = Neuron(latches=dict(latches or {}))
    return cfg


def per_core(n_chips: int, name: str, code: tuple[int, int]) -> dict[BiasKey, tuple[int, int]]:
    """The bias write of device bias `name` to `code` on every core of `n_chips` chips."""
    return {(c, k, name): code for c in range(n_chips) for k in range(CORES_PER_CHIP)}


def board_neurons(n_chips: int, n_per_core: int = NEURONS_PER_CORE) -> np.ndarray:
    """Board-wide indices (sorted) of the neurons `all_neurons_config` sets."""
    g = np.arange(n_chips * NEURONS_PER_CHIP, dtype=np.int64)
    return g[g % NEURONS_PER_CORE < n_per_core]


def step_neurons(steps: Sequence[Step]) -> np.ndarray:
    """The neurons a design measures, from its first step's params (n_chips, n_per_core)."""
    p = steps[0].params
    return board_neurons(int(p["n_chips"]), int(p.get("n_per_core", NEURONS_PER_CORE)))
