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
