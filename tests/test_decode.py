"""A model's decoding (`decode`: how its output neurons' spike counts make class scores) is
recorded, validated and applied the same way in the simulator, on a board and in the twin's
prediction (hil.train.model.class_scores; docs/training.md section 4.7)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hil.chip.params import HighLevel
from hil.errors import ConfigError
from hil.tasks import Split, accuracy
from hil.train.model import Model, class_scores

K, PER, N_IN, DT = 2, 2, 4, 1e-3
# One sample of class 0 whose class-0 neurons fire 3 and 3 spikes and whose class-1 neurons fire
# 0 and 8 (one hot neuron): summed, class 1 leads 8 to 6; log-summed, class 0 does (2 log 4 =
# 2.77 against log 9 = 2.20).
HOT = np.array([[3, 3, 0, 8]])
HOT_Y = np.array([0])


def _model(decode: str = "sum") -> Model:
    n = K * PER
    cur = dict(HighLevel().currents())
    outputs = [list(range(c * PER, (c + 1) * PER)) for c in range(K)]
    w_in = np.full((N_IN, n), 8e-9)
    return Model(w_in, np.zeros((n, n)), np.zeros(n, int), [cur], outputs, DT, decode=decode)


def _oracle(counts: np.ndarray, outputs: list[list[int]], decode: str) -> np.ndarray:
    """Class scores by loops over samples, classes and neurons (math.log, not numpy)."""
    import math

    f = (lambda c: math.log(1.0 + c)) if decode == "log-sum" else float
    return np.array(
        [
            [sum(f(int(row[i])) for i in cls) for cls in outputs]
            for row in counts.reshape(-1, counts.shape[-1])
        ]
    ).reshape(*counts.shape[:-1], len(outputs))


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.int64,
        st.tuples(st.integers(1, 3), st.integers(1, 5), st.just(7)),
        elements=st.integers(0, 200),
    ),
    st.permutations(range(7)),
    st.integers(1, 6),
    st.sampled_from(["sum", "log-sum"]),
)
def test_class_scores_sum_each_classs_neurons(
    counts: np.ndarray, order: list[int], cut: int, decode: str
) -> None:
    outputs = [list(order[:cut]), list(order[cut:])]  # any split of 7 neurons into 2 classes
    np.testing.assert_allclose(
        class_scores(counts, outputs, decode), _oracle(counts, outputs, decode)
    )


def test_a_hot_neuron_outvotes_its_class_under_sum_but_not_log_sum() -> None:
    outputs = [[0, 1], [2, 3]]
    assert class_scores(HOT, outputs, "sum").argmax(-1)[0] == 1
    assert class_scores(HOT, outputs, "log-sum").argmax(-1)[0] == 0
    with pytest.raises(ConfigError, match="decode.*sum, log-sum"):
        class_scores(HOT, outputs, "max")


def test_the_model_file_records_its_decoding(tmp_path: Path) -> None:
    path = _model("log-sum").save(tmp_path / "m.json")
    assert json.loads(path.read_text())["decode"] == "log-sum"
    assert Model.load(path).decode == "log-sum"
    doc = json.loads(path.read_text())
    del doc["decode"]  # written before decoding was a setting: summed counts
    path.write_text(json.dumps(doc))
    assert Model.load(path).decode == "sum"
    doc["decode"] = "median"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="decode"):
        Model.load(path)


def test_training_records_and_validates_by_its_decoding(tmp_path: Path) -> None:
    from hil.train.trainer import TrainConfig, train

    with pytest.raises(ConfigError, match="decode"):
        TrainConfig(task="frozen-noise", decode="mean")
    model, _ = train(
        TrainConfig(task="frozen-noise", epochs=1, decode="log-sum"), tmp_path / "m.json"
    )
    assert model.decode == "log-sum" and model.training["config"]["decode"] == "log-sum"
    assert Model.load(tmp_path / "m.json").decode == "log-sum"


def test_trainings_validation_decodes_as_configured(monkeypatch) -> None:
    # the best epoch is chosen by the accuracy the model will be judged by
    from types import SimpleNamespace

    import torch

    from hil.train import evaluate, trainer
    from hil.train.network import ChipNet, Layout

    net = ChipNet(Layout(N_IN, K, per_class=PER), seed=0)
    assert net.layout.outputs == [[0, 1], [2, 3]]
    spikes = torch.as_tensor(HOT, dtype=torch.float32)[None, :, None, :]  # (1, batch, T=1, N)
    monkeypatch.setattr(evaluate, "simulate", lambda *a, **k: SimpleNamespace(spikes=spikes))
    split = Split(np.zeros((1, 5, N_IN), np.uint8), HOT_Y)
    assert trainer.evaluate_split(net, split, DT, "sum") == 0.0
    assert trainer.evaluate_split(net, split, DT, "log-sum") == 1.0


def test_the_simulators_accuracy_decodes_as_the_model_says(monkeypatch) -> None:
    from hil.train import evaluate

    monkeypatch.setattr(evaluate, "neuron_counts", lambda *a, **k: HOT[None])
    split = Split(np.zeros((1, 5, N_IN), np.uint8), HOT_Y)
    assert evaluate.float_accuracy(_model("sum"), split) == 0.0
    assert evaluate.float_accuracy(_model("log-sum"), split) == 1.0


def test_the_board_and_the_twin_decode_as_the_model_says(monkeypatch, tmp_path: Path) -> None:
    from hil.deploy import evaluate, predict
    from hil.deploy.deploy import deploy, load_map, save

    split = Split(np.zeros((1, 5, N_IN), np.uint8), HOT_Y)
    for decode, want in (("sum", 0.0), ("log-sum", 1.0)):
        dep = deploy(_model(decode))
        assert dep.network.decode == decode
        save(dep, tmp_path / f"{decode}.json")
        assert load_map(tmp_path / f"{decode}.map.json")[1]["decode"] == decode
        with monkeypatch.context() as m:
            m.setattr(evaluate, "board_neuron_counts", lambda *a: HOT)
            m.setattr(predict, "simulated_neuron_counts", lambda *a: HOT)
            assert evaluate.board_accuracy(None, dep, split, DT) == want  # type: ignore[arg-type]
            assert predict.predicted_accuracy(dep, split, DT, None) == want  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="decode"):
        replace(dep.network, decode="vote")


def test_hil_train_takes_the_decoding_and_the_outputs_per_class(tmp_path: Path, capsys) -> None:
    from hil.cli import main

    out = tmp_path / "m.json"
    assert main(["train", "--task", "frozen-noise", "--decode", "vote", "--out", str(out)]) == 2
    assert "--decode: invalid choice: 'vote'" in capsys.readouterr().err
    assert main(["train", "--task", "frozen-noise-16", "--per-class", "17", "--out", str(out)]) == 2
    assert "output layer: 272" in capsys.readouterr().err
    assert not out.exists()
    args = ["--per-class", "3", "--decode", "log-sum", "--epochs", "1", "--out", str(out)]
    assert main(["train", "--task", "frozen-noise", *args]) == 0
    model = Model.load(out)
    assert model.outputs == [[0, 1, 2], [3, 4, 5]] and model.decode == "log-sum"


def test_equal_products_tie_under_log_sum() -> None:
    # log 2 + log 5 and log 10 + log 1 are equal but round differently; so are the same counts in
    # another order. A tie is no prediction, whichever label the sample has.
    outputs = [[0, 1], [2, 3]]
    for counts in ([[1, 4, 9, 0]], [[3, 7, 7, 3]], [[0, 0, 0, 0]]):
        scores = class_scores(np.array(counts), outputs, "log-sum")
        assert scores[0, 0] == scores[0, 1], counts
        for label in (0, 1):
            assert accuracy(scores, np.array([label])) == 0.0


def test_a_bad_decoding_in_a_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    from hil.train.interchange import from_nir, to_nir

    path = _model().save(tmp_path / "m.json")
    doc = json.loads(path.read_text())
    for bad in (None, ["sum"], "median"):
        doc["decode"] = bad
        path.write_text(json.dumps(doc))
        with pytest.raises(ConfigError, match=r"m\.json: decode: .* allowed: one of sum, log-sum"):
            Model.load(path)
    graph = to_nir(_model("log-sum"))
    graph.metadata["hil"]["decode"] = "vote"
    with pytest.raises(ConfigError, match="NIR metadata hil.decode: 'vote'"):
        from_nir(graph)


def test_training_validates_every_epoch_by_the_configured_decoding(monkeypatch, tmp_path) -> None:
    from hil.train import trainer
    from hil.train.trainer import TrainConfig, train

    seen: list[str] = []
    real = trainer.evaluate_split

    def spy(net, split, dt, decode, batch=256):  # noqa: ANN001, ANN202
        seen.append(decode)
        return real(net, split, dt, decode, batch)

    monkeypatch.setattr(trainer, "evaluate_split", spy)
    train(TrainConfig(task="frozen-noise", epochs=2, decode="log-sum"), tmp_path / "m.json")
    assert seen == ["log-sum"] * 3  # two epochs' validation and the test split


def test_counts_follow_a_scrambled_placement(tmp_path: Path) -> None:
    # network neuron j on a board neuron far from j, input channels permuted: the board (sim://)
    # and the twin's simulation must still give network neuron j's count in column j
    from hil.board import open_board
    from hil.deploy.deploy import Deployment, deploy
    from hil.deploy.evaluate import board_neuron_counts
    from hil.deploy.mapping import Placement, to_config
    from hil.deploy.predict import simulated_neuron_counts

    n = K * PER
    w_in = np.zeros((N_IN, n))
    for j in range(n):
        w_in[j, j] = (4 + 4 * j) * 1e-9  # each neuron its own channel and drive
    model = replace(_model("log-sum"), w_in=w_in.astype(np.float32))
    split = Split(
        np.random.default_rng(0).poisson(0.2, (3, 200, N_IN)).astype(np.uint8), np.zeros(3, int)
    )
    dep = deploy(model, n_chips=1)
    with open_board("sim://") as board:
        want = board_neuron_counts(board, dep, split, DT)
    assert len(set(want.sum(0))) == n and want.min() >= 0  # every neuron distinguishable
    on_core_2 = 2 * 256 + np.array([200, 7, 100, 3])
    pl = Placement(cores=np.array([[0, 2]]), neurons=on_core_2, channels=np.array([3, 1, 2, 0]))
    scrambled = Deployment(to_config(dep.network, pl), dep.network, pl, {})
    with open_board("sim://") as board:
        np.testing.assert_array_equal(board_neuron_counts(board, scrambled, split, DT), want)
    np.testing.assert_array_equal(simulated_neuron_counts(scrambled, split, DT), want)
