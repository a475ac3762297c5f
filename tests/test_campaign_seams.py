"""The seams between packages built apart: `hil train --mismatch` (hil.mismatch -> hil.train),
`hil evaluate --board` (hil.train -> hil.deploy), and the campaign's stage list against the real
command line (every command a stage calls exists)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hil.mismatch.model import MismatchModel, Population
from hil.sim import NeuronParams
from hil.train.robust import CURRENT_ELEMENTS, Prior, fitted_prior, noisy_params


def _pop(median: float, neuron_sigma: float = 0.0) -> Population:
    """A lognormal population with a known median and per-neuron log std (no core offsets)."""
    return Population("lognormal", median, 0.0, neuron_sigma, None, neuron_sigma, {}, 0.0, 1.0,
                      {}, 100)  # fmt: skip


def _model(path: Path, **medians: float) -> Path:
    MismatchModel({k: _pop(v) for k, v in medians.items()}, None, {"board_id": "t"}).save(path)
    return path


def test_noisy_params_draw_from_the_fitted_model(tmp_path: Path) -> None:
    # Itau_mem 2x and Igain_ampa 0.5x with no spread: the instances carry exactly those factors;
    # the current elements the model does not name keep the prior's spread (10 %).
    prior = fitted_prior(_model(tmp_path / "m.json", Itau_mem=2.0, Igain_ampa=0.5))
    base = NeuronParams.nominal(40)
    p = noisy_params(base, 3, prior, seed=1)
    assert np.allclose(p.Itau_mem.numpy(), 2.0 * base.Itau_mem.numpy())
    syn = p.Igain_syn.numpy() / base.Igain_syn.numpy()  # (3, 4, 40)
    assert np.allclose(syn[:, 0], 0.5)
    assert 0.05 < np.std(syn[:, 2]) < 0.2  # gaba: the prior's 10 %
    assert 0.05 < np.std(p.Igain_mem.numpy() / base.Igain_mem.numpy()) < 0.2
    assert prior.to_dict()["fitted"] == str((tmp_path / "m.json").resolve())


def test_a_spread_model_gives_its_spread(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    MismatchModel({"Itau_mem": _pop(1.0, 0.3)}, None, {}).save(path)
    base = NeuronParams.nominal(256)
    p = noisy_params(base, 4, fitted_prior(path), seed=3)
    ln = np.log(p.Itau_mem.numpy() / base.Itau_mem.numpy())
    assert abs(np.std(ln) - 0.3) < 0.03  # independent oracle: the log std the model was given
    # the prior alone: relative spread 0.1
    q = noisy_params(base, 4, Prior(), seed=3)
    assert abs(np.std(q.Itau_mem.numpy() / base.Itau_mem.numpy()) - 0.1) < 0.02


def test_a_changed_model_file_is_refused(tmp_path: Path) -> None:
    from hil.errors import ConfigError

    path = _model(tmp_path / "m.json", Itau_mem=2.0)
    prior = fitted_prior(path)
    _model(path, Itau_mem=3.0)
    with pytest.raises(ConfigError, match="changed"):
        noisy_params(NeuronParams.nominal(4), 1, prior, seed=0)
    assert set(CURRENT_ELEMENTS) >= {"Itau_mem", "Igain_ampa", "Iref", "Ispkthr"}


def test_hil_train_mismatch_records_the_fitted_model(tmp_path: Path, capsys) -> None:
    from hil.cli import main

    m = _model(tmp_path / "m.json", Itau_mem=1.2)
    out = tmp_path / "model.json"
    code = main(["train", "--task", "frozen-noise", "--robust", "noise", "--mismatch", str(m),
                 "--epochs", "1", "--out", str(out), "--json"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    prior = json.loads(out.read_text())["training"]["prior"]
    assert prior["fitted"] == str(m.resolve()) and prior["source"].startswith("fitted: m.json")
    capsys.readouterr()
    assert main(["train", "--task", "frozen-noise", "--mismatch", str(m), "--out", str(out)]) == 2
    assert "--robust none" in capsys.readouterr().err
    (tmp_path / "x.json").write_text('{"schema": "nope"}')
    code = main(["train", "--task", "frozen-noise", "--robust", "noise", "--mismatch",
                 str(tmp_path / "x.json"), "--out", str(out)])  # fmt: skip
    assert code == 2 and "hil.mismatch/1" in capsys.readouterr().err


@pytest.fixture(scope="module")
def fn_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A frozen-noise model, quantization-aware, trained for 2 epochs (the seams need a real
    hil.model/1, not a good one)."""
    from hil.train.trainer import TrainConfig, train

    out = tmp_path_factory.mktemp("fn") / "fn.json"
    train(TrainConfig(task="frozen-noise", epochs=2, quantize=True), out)
    return out


def test_board_counts_through_the_map_equal_the_simulator(fn_model: Path) -> None:
    # sim:// is the nominal simulator behind the Board interface: the deployed network, fed
    # through the map's input channels and read through its neuron map, must give the counts the
    # simulator gives the model's own (quantized) weights directly (hil.train.evaluate: no
    # deployment, no board, no map).
    import torch

    from hil.board import open_board
    from hil.deploy.deploy import deploy
    from hil.deploy.evaluate import board_neuron_counts
    from hil.sim import Weights
    from hil.tasks import get_task
    from hil.train.evaluate import model_params, model_weights, neuron_counts
    from hil.train.model import Model

    model = Model.load(fn_model)
    task = get_task("frozen-noise", 0)
    w_in, w_rec = (torch.as_tensor(a, dtype=torch.float32) for a in model_weights(model))
    w = Weights.from_signed(w_in, w_rec, scale=1.0)
    want = neuron_counts(model_params(model), w, task.test, model.dt)[0]
    with open_board("sim://") as board:
        got = board_neuron_counts(board, deploy(model, n_chips=1), task.test, task.dt)
    assert want.sum() > 0 and np.array_equal(got, want)


def test_hil_evaluate_board(fn_model: Path, capsys: pytest.CaptureFixture) -> None:
    from hil.cli import main

    url = "emu://?silicon=fixtures/silicon/typical.json"
    assert main(["evaluate", str(fn_model), "--board", "sim://", "--board", url, "--chips", "0",
                 "--json"]) == 0  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    assert [b["url"] for b in doc["boards"]] == ["sim://", url]
    assert doc["boards"][0]["accuracy"] == doc["float_sim_accuracy"]
    assert all(0.0 <= b["accuracy"] <= 1.0 and b["samples"] == 2 for b in doc["boards"])
    assert main(["evaluate", str(fn_model), "--twin", "t.json", "--chips", "0"]) == 2
    assert "--board" in capsys.readouterr().err
    assert main(["evaluate", str(fn_model), "--board", "nope://x", "--chips", "0"]) == 2


def test_hil_evaluate_checks_the_twin_and_reports_its_choice(
    fn_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # `hil evaluate --twin` deploys as `hil deploy --twin` does: a twin naming another silicon is
    # refused (it used to be deployed silently), --force-twin uses it anyway, and each board entry
    # says which candidate the twin deployed, so that twin and naive accuracies can be compared.
    import csv
    import io

    from hil.cli import main
    from hil.emulator.silicon import Silicon

    Silicon.from_seed(3).write_truth(tmp_path / "t.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "t.csv").read_text())))
    doc = {"schema": "hil.twin/1", "n_chips": 1, "provenance": {"silicon_id": "emu-seed-3"},
           "columns": {c: [float(r[c]) for r in rows] for c in rows[0]}}  # fmt: skip
    twin = tmp_path / "twin.json"
    twin.write_text(json.dumps(doc))
    argv = ["evaluate", str(fn_model), "--twin", str(twin), "--chips", "0", "--json"]
    assert main([*argv, "--board", "emu://?seed=21"]) == 2
    assert "emu-seed-21" in capsys.readouterr().err
    assert main([*argv, "--board", "emu://?seed=21", "--force-twin"]) == 0
    capsys.readouterr()
    assert main([*argv, "--board", "emu://?seed=3"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["boards"]
    assert entry["twin_check"] == "silicon_id" and 0.0 <= entry["accuracy"] <= 1.0
    # the model names its task: the twin's predicted validation accuracy decides (highest wins),
    # and the rate error is still reported
    sel = entry["selection"]
    acc, err = sel["predicted_accuracy"], sel["predicted_rate_error"]
    assert set(acc) == set(err) == {"twin", "twin, no mask compensation", "naive"}
    assert sel["criterion"] == "accuracy" and all(0.0 <= a <= 1.0 for a in acc.values())
    best = [n for n in acc if acc[n] == max(acc.values())][0]  # ties: the earlier candidate
    assert entry["placement"] == sel["chosen"] == best


def test_the_twin_accuracy_prediction_reads_the_map_as_the_board_does(fn_model: Path) -> None:
    # the prediction's sim path (task channels -> board channels, board -> network neurons) on
    # nominal currents must give the counts hil.deploy.evaluate reads from sim:// (the nominal
    # simulator behind the Board interface, fed events one sample per run)
    from hil.board import open_board
    from hil.deploy.deploy import deploy, model_task
    from hil.deploy.evaluate import board_neuron_counts
    from hil.deploy.predict import simulated_neuron_counts, validation_subset
    from hil.train.model import Model

    model = Model.load(fn_model)
    task = model_task(model)
    assert task is not None and task.n_classes == 2  # frozen-noise: 2 val, 2 test samples
    dep = deploy(model, n_chips=1)
    for split in (validation_subset(task.val), task.test):
        with open_board("sim://") as board:
            want = board_neuron_counts(board, dep, split, task.dt)
        got = simulated_neuron_counts(dep, split, task.dt)
        assert want.sum() > 0 and np.array_equal(got, want)


def test_heavy_tailed_fits_stay_finite(tmp_path: Path) -> None:
    # a Student-t fit with 1.2 degrees of freedom (bad.json's fits reach 1.7) draws log-factors of
    # hundreds now and then: float32 inf without the clip to FACTOR_RANGE
    from hil.train.robust import FACTOR_RANGE

    pop = Population("student_t", 1.0, 0.0, 0.6, 1.2, 0.5, {}, 0.0, 1.0, {}, 100)
    path = tmp_path / "m.json"
    MismatchModel({"Itau_mem": pop}, None, {}).save(path)
    base = NeuronParams.nominal(256)
    f = noisy_params(base, 64, fitted_prior(path), seed=0).Itau_mem / base.Itau_mem
    assert torch_isfinite(f) and FACTOR_RANGE[0] <= float(f.min()) and float(f.max()) <= 1e3


def torch_isfinite(t) -> bool:
    import torch

    return bool(torch.isfinite(t).all())
