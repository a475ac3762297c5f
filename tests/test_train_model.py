"""hil.model/1: the trained-network artifact round-trips exactly and refuses mismatched files."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.errors import ConfigError
from hil.train.model import Model


def _model(n_in: int, n: int, seed: int) -> Model:
    rng = np.random.default_rng(seed)
    core_of = np.sort(rng.integers(0, 2, n))
    core_of[0] = 0
    n_cores = int(core_of.max()) + 1
    return Model(
        w_in=rng.normal(0, 1e-8, (n_in, n)),
        w_rec=rng.normal(0, 1e-8, (n, n)),
        core_of=core_of,
        currents=[{"Itau_mem": float(rng.uniform(1e-13, 1e-11))} for _ in range(n_cores)],
        outputs=[[int(i)] for i in range(min(n, 3))],
        dt=1e-3,
        task={"name": "frozen-noise", "seed": seed},
    )


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 8), st.integers(1, 12), st.integers(0, 2**31))
def test_round_trip_is_exact(tmp_path_factory, n_in: int, n: int, seed: int) -> None:
    m = _model(n_in, n, seed)
    path = m.save(tmp_path_factory.mktemp("m") / "model.json")
    back = Model.load(path)
    assert np.array_equal(back.w_in, m.w_in) and np.array_equal(back.w_rec, m.w_rec)
    assert np.array_equal(back.core_of, m.core_of)
    assert back.currents == m.currents and back.outputs == m.outputs and back.task == m.task


def test_tensors_that_do_not_belong_to_the_json_are_refused(tmp_path) -> None:
    path = _model(2, 4, 0).save(tmp_path / "a.json")
    _model(2, 4, 1).save(tmp_path / "b.json")
    (tmp_path / "a.npz").write_bytes((tmp_path / "b.npz").read_bytes())
    with pytest.raises(ConfigError, match="sha256"):
        Model.load(path)


@pytest.mark.parametrize(
    "change",
    [
        {"w_rec": np.zeros((3, 3))},
        {"core_of": [0, 0, -1, 0]},
        {"outputs": [[7]]},
        {"dt": 0.0},
        {"currents": []},
        {"w_in": np.full((2, 4), np.nan)},
    ],
)
def test_bad_models_are_refused(change: dict) -> None:
    kw = dict(
        w_in=np.zeros((2, 4)),
        w_rec=np.zeros((4, 4)),
        core_of=[0, 0, 0, 0],
        currents=[{}],
        outputs=[[0]],
        dt=1e-3,
    )
    kw.update(change)
    with pytest.raises(ConfigError):
        Model(**kw)
