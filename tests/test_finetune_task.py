"""`hil finetune --objective task`: chip-in-the-loop fine-tuning on the task's loss (issue 10)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from hil.chip.params import HighLevel
from hil.deploy import cli as deploy_cli
from hil.deploy import evaluate as evaluate_mod
from hil.deploy import finetune as finetune_mod
from hil.deploy.deploy import deploy
from hil.deploy.evaluate import board_neuron_counts
from hil.deploy.placement import load_twin
from hil.emulator.engine import SiliconEngine
from hil.emulator.silicon import Silicon
from hil.errors import ConfigError
from hil.tasks import Split, get_task
from hil.train.model import Model

N_IN, K, PER, T, DT = 16, 4, 2, 100, 1e-3


def _split(n: int, seed: int) -> Split:
    """n samples per class of K classes: class c's 4 channels at 120 Hz, the others at 30 Hz."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(K), n)
    rate = np.full((y.size, N_IN), 30.0)
    for i, c in enumerate(y):
        rate[i, 4 * c : 4 * c + 4] = 120.0
    return Split(rng.poisson(rate[:, None, :] * DT, (y.size, T, N_IN)).astype(np.uint8), y)


def _model(decode: str = "sum") -> Model:
    """PER output neurons per class, 10 nA from the class's own channels and 4 nA from the rest:
    about 97 % on the nominal chip, a few spikes between the classes."""
    n = K * PER
    w_in = np.full((N_IN, n), 4e-9)
    for c in range(K):
        w_in[4 * c : 4 * c + 4, c * PER : (c + 1) * PER] = 10e-9
    cur = {k: v for k, v in HighLevel().currents().items() if not k.startswith("Iw_")}
    outputs = [list(range(c * PER, (c + 1) * PER)) for c in range(K)]
    return Model(w_in, np.zeros((n, n)), np.zeros(n, int), [cur], outputs, DT, decode=decode)


def _class_counts(neuron_counts: np.ndarray) -> np.ndarray:
    """(samples, K): each class's PER output neurons (neurons c * PER ...) summed."""
    return neuron_counts.reshape(len(neuron_counts), K, PER).sum(-1)


def _decoded_accuracy(neuron_counts: np.ndarray, y: np.ndarray, decode: str) -> float:
    """Oracle: the fraction of samples whose class has the unique highest score, the score the
    sum of its neurons' counts or of log(1 + count)."""
    c = neuron_counts.astype(np.float64)
    score = _class_counts(np.log(1.0 + c) if decode == "log-sum" else c)
    top = score.max(1, keepdims=True)
    unique = (score == top).sum(1) == 1
    return float(np.mean(unique & (score[np.arange(len(y)), y] == top[:, 0])))


def _cross_entropy(
    counts: np.ndarray, y: np.ndarray, scale: float, logits: str = "counts"
) -> tuple[float, np.ndarray]:
    """Oracle (numpy, not torch): mean over samples of -log softmax(scale * u)[y], u the counts,
    log(1 + counts) or log(1 + log(1 + counts)) as `logits` says, and its gradient in the counts,
    scale * (softmax - onehot) / n times du/dcounts (1, 1 / (1 + c), or 1 / ((1 + c)(1 + l)), l
    = log(1 + c))."""
    c = np.asarray(counts, dtype=np.float64)
    l1 = np.log(1.0 + c)
    u, du = {
        "counts": (c, 1.0),
        "log-counts": (l1, 1.0 / (1.0 + c)),
        "log-log-counts": (np.log(1.0 + l1), 1.0 / ((1.0 + c) * (1.0 + l1))),
    }[logits]
    z = scale * u
    z = z - z.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    n = len(y)
    loss = float(-np.log(p[np.arange(n), y]).mean())
    onehot = np.eye(counts.shape[1])[y]
    return loss, scale * (p - onehot) / n * du


@pytest.mark.parametrize("logits", ["counts", "log-counts", "log-log-counts"])
def test_task_loss_is_trainings_cross_entropy_and_its_count_gradient(logits: str) -> None:
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 40, (12, 5))
    y = rng.integers(0, 5, 12)
    loss, grad = finetune_mod.task_loss(counts, y, logits, 0.25)
    want_loss, want_grad = _cross_entropy(counts, y, 0.25, logits)
    assert loss == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-10, atol=1e-15)
    with pytest.raises(ConfigError, match="logits"):
        finetune_mod.task_loss(counts, y, "rates", 0.25)


@pytest.mark.parametrize("logits", ["counts", "log-counts", "log-log-counts"])
def test_the_gradient_is_taken_at_the_chips_counts(
    monkeypatch, tmp_path: Path, logits: str
) -> None:
    """Each iteration's loss is the board's, and the twin's gradient is weighted by dL/dcounts at
    the board's counts (not the twin's): the board's counts are stand-ins here, recorded per run.
    The loss scores the logits it is given, on the class counts (each class's neurons summed),
    and the accuracies decode the runs as the model says; unknown logits are refused before any
    board run."""
    decode = "sum" if logits == "counts" else "log-sum"
    model, tune = _model(decode), _split(2, 1)
    sil = Silicon.from_seed(3)
    sil.write_truth(tmp_path / "truth.csv")
    twin = load_twin(str(tmp_path / "truth.csv"))
    dep = deploy(model, twin=twin, naive=True)
    rng = np.random.default_rng(5)
    runs: list[np.ndarray] = []
    weights: list[np.ndarray] = []

    def fake_board(board, d, split, dt):  # noqa: ANN001, ANN202
        runs.append(rng.integers(0, 30, (len(split), K * PER)))
        return runs[-1]

    def spy(d, twin_, split, dt, dloss):  # noqa: ANN001, ANN202
        weights.append(dloss.copy())
        return np.ones_like(d.network.masks_in, float), np.zeros_like(d.network.masks_rec, float)

    monkeypatch.setattr(evaluate_mod, "board_neuron_counts", fake_board)
    monkeypatch.setattr(finetune_mod, "task_gradient", spy)
    with pytest.raises(ConfigError, match="logits"):
        finetune_mod.finetune_task(dep, None, twin, tune, DT, "rates", 0.5)  # type: ignore[arg-type]
    assert runs == []
    _, losses, accs = finetune_mod.finetune_task(
        dep,
        None,  # type: ignore[arg-type]
        twin,
        tune,
        DT,
        logits,
        0.5,
        iterations=3,
    )
    assert len(runs) == 4 and len(losses) == 4 and len(accs) == 4
    for n, loss, acc in zip(runs, losses, accs, strict=True):
        assert loss == pytest.approx(
            _cross_entropy(_class_counts(n), tune.y, 0.5, logits)[0], rel=1e-12
        )
        assert acc == _decoded_accuracy(n, tune.y, decode)
    best = [int(np.argmin(losses[: i + 1])) for i in range(4)]
    # a gradient is taken after the first run and after each run that improved on the best
    improved = [0] + [i for i in range(1, 3) if losses[i] < min(losses[:i])]
    assert len(weights) == len(improved)
    for w, i in zip(weights, improved, strict=True):
        want = _cross_entropy(_class_counts(runs[best[i]]), tune.y, 0.5, logits)[1]
        np.testing.assert_allclose(w, want, rtol=1e-10)


def test_task_finetuning_lowers_the_boards_loss_on_held_out_samples(tmp_path: Path) -> None:
    """On an emulated board with the board's twin, 3 steps on 8 samples (32 board runs) lower the
    task loss of the board on 64 samples the tuning never saw, and raise its accuracy."""
    model, tune, held = _model(), _split(2, 1), _split(16, 2)
    sil = Silicon.from_seed(3)
    sil.write_truth(tmp_path / "truth.csv")
    twin = load_twin(str(tmp_path / "truth.csv"))
    dep = deploy(model, twin=twin, naive=True)  # naive: the mismatch is left for the tuning
    with SiliconEngine(sil) as board:
        best, losses, _ = finetune_mod.finetune_task(dep, board, twin, tune, DT, "counts", 1.0, 3)
        before = _class_counts(board_neuron_counts(board, dep, held, DT))
        after = _class_counts(board_neuron_counts(board, best, held, DT))
    assert min(losses) < 0.8 * losses[0], losses
    loss_before = _cross_entropy(before, held.y, 1.0)[0]
    loss_after = _cross_entropy(after, held.y, 1.0)[0]
    assert loss_after < 0.7 * loss_before, (loss_before, loss_after)
    acc = [float(np.mean(c.argmax(1) == held.y)) for c in (before, after)]
    assert acc[1] > acc[0], acc
    np.testing.assert_array_equal(best.network.sign_in, dep.network.sign_in)  # signs kept


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    deploy_cli.add_parser(p.add_subparsers())
    return p


# frozen-noise-16 made small: 50 ms samples, 4 / 2 / 2 repeats per class (train / val / test)
OPTIONS = {"duration": 0.05, "n_train": 4, "n_val": 2, "n_test": 2}


def _argv(tmp_path: Path, model: Path) -> list[str]:
    """`hil finetune MODEL` on emu://?seed=3 with the twin tmp_path/truth.csv."""
    return [
        "finetune",
        str(model),
        "--board",
        "emu://?seed=3",
        "--twin",
        str(tmp_path / "truth.csv"),
    ]


def _task_model(tmp_path: Path) -> Path:
    """A frozen-noise-16 model (one output neuron per class, hand-made weights) that names its
    task as `hil train` writes it."""
    task = get_task("frozen-noise-16", 0, **OPTIONS)
    rng = np.random.default_rng(0)
    w_in = rng.uniform(2e-9, 8e-9, (task.n_inputs, K * 4))
    cur = {k: v for k, v in HighLevel().currents().items() if not k.startswith("Iw_")}
    model = Model(w_in, np.zeros((16, 16)), np.zeros(16, int), [cur], [[i] for i in range(16)], DT)
    model.training = {
        "config": {
            "task": "frozen-noise-16",
            "seed": 0,
            "task_options": OPTIONS,
            "logit_scale": 0.25,
        }
    }
    model.save(tmp_path / "model.json")
    Silicon.from_seed(3).write_truth(tmp_path / "truth.csv")
    return tmp_path / "model.json"


@pytest.mark.parametrize("logits", [None, "log-counts", "log-log-counts"])
def test_cli_task_objective_counts_its_board_runs_and_never_tunes_on_test(
    tmp_path: Path, capsys, monkeypatch, logits: str | None
) -> None:
    """... and scores the board with the model's logits (counts when the model names none)."""
    path = _task_model(tmp_path)
    if logits is not None:
        model = Model.load(path)
        model.training["config"]["logits"] = logits
        model.save(path)
    seen: list[Split] = []
    scored: list[tuple] = []
    real = finetune_mod.finetune_task

    def spy(dep, board, twin, split, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append(split)
        scored.append(a[1:])
        return real(dep, board, twin, split, *a, **k)

    monkeypatch.setattr(finetune_mod, "finetune_task", spy)
    argv = _argv(tmp_path, path)
    argv += ["--objective", "task", "--samples", "16", "--iterations", "1", "--json"]
    args = _parser().parse_args([*argv, "--out", str(tmp_path / "tuned.json")])
    assert args.func(args) == 0
    s = json.loads(capsys.readouterr().out)
    test = get_task("frozen-noise-16", 0, **OPTIONS).test
    assert s["objective"] == "task" and s["samples"] == 16 and s["test_samples"] == len(test)
    assert s["board_runs_tuning"] == 2 * 16 and s["board_runs"] == 32 + 2 * len(test)
    (tuning,) = seen
    assert scored == [(logits or "counts", 0.25)]
    assert len(tuning) == 16 and len(set(tuning.y.tolist())) == 16  # every class
    flat = {x.tobytes() for x in test.x}
    assert not any(x.tobytes() in flat for x in tuning.x)
    ft = Model.load(tmp_path / "tuned.json").training["finetune"]
    assert ft["objective"] == "task" and ft["board_runs"] == s["board_runs"]
    assert ft["test_accuracy"]["after"] == s["test_accuracy_after"]
    assert len(ft["loss_history"]) == 2


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (
            ["--objective", "tasks"],
            r"--objective: 'tasks' is not allowed; allowed: one of rates, task",
        ),
        (["--objective", "task", "--rate", "10"], r"--objective task: '--rate' .*--samples K"),
        (["--samples", "8"], r"--objective rates: '--samples' .*--objective task"),
        (["--objective", "task", "--samples", "100000"], r"--samples: 100000 .*1\.\.64"),
    ],
)
def test_cli_task_objective_bad_input(tmp_path: Path, extra: list[str], match: str) -> None:
    path = _task_model(tmp_path)
    argv = _argv(tmp_path, path)
    args = _parser().parse_args([*argv, *extra, "--out", str(tmp_path / "tuned.json")])
    with pytest.raises(ConfigError, match=match):
        args.func(args)
    assert not (tmp_path / "tuned.json").exists()


def test_cli_task_objective_needs_a_model_that_names_its_task(tmp_path: Path) -> None:
    path = _task_model(tmp_path)
    model = Model.load(path)
    model.training = {}
    model.save(path)
    argv = _argv(tmp_path, path)
    args = _parser().parse_args([*argv, "--objective", "task", "--out", str(tmp_path / "t.json")])
    with pytest.raises(ConfigError, match="no task.*names its task, seed, logit_scale"):
        args.func(args)
    model.training = {"config": {"task": "frozen-noise-16", "seed": 0, "logit_scale": 0.25,
                                 "task_options": OPTIONS, "logits": "rates"}}  # fmt: skip
    model.save(path)
    with pytest.raises(ConfigError, match="logits 'rates'.*counts or log-counts or log-log-counts"):
        args.func(args)


@pytest.mark.parametrize(("objective", "steps"), [("rates", 5), ("task", 10), (None, 5)])
def test_cli_iterations_default_per_objective(objective: str | None, steps: int) -> None:
    from hil.deploy.cli import _finetune_options

    argv = ["finetune", "m.json", "--board", "emu://", "--twin", "t.csv", "--out", "o.json"]
    args = _parser().parse_args(argv + (["--objective", objective] if objective else []))
    _finetune_options(args)
    assert args.iterations == steps
    args = _parser().parse_args([*argv, "--iterations", "3"])
    _finetune_options(args)
    assert args.iterations == 3
