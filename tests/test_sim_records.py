"""NeuronParams and Weights refuse physically meaningless values with a ConfigError that names the
field and the element (issue 7 section 2: a negative Itau_mem was clamped to Io, a negative Ispkthr
fired at 1 kHz)."""

from __future__ import annotations

import math

import pytest
import torch

from hil.chip.netlist import PARAMETERS
from hil.errors import ConfigError
from hil.sim import NeuronParams, Weights
from hil.sim.mismatch import sample_mismatch

BAD = [-1e-12, math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("name", [p.name for p in PARAMETERS])
@pytest.mark.parametrize("value", BAD)
def test_every_current_and_capacitance_refuses_bad_values(name: str, value: float) -> None:
    p = NeuronParams.nominal(3)
    t = getattr(p, name).clone()
    t[(0, 1) if t.dim() == 2 else (0, 2, 1)] = value
    where = r"\[0, 1\]" if t.dim() == 2 else r"\[0, 2, 1\]"
    with pytest.raises(ConfigError, match=rf"^{name}{where}: .*finite"):
        p.replace(**{name: t})


@pytest.mark.parametrize("name", [p.name for p in PARAMETERS if p.unit == "F"])
def test_capacitances_must_be_positive(name: str) -> None:
    p = NeuronParams.nominal(2)
    with pytest.raises(ConfigError, match=rf"^{name}\[0, 0(, 0)?\]: 0\.0"):
        p.replace(**{name: torch.zeros_like(getattr(p, name))})


def test_zero_currents_and_latches_are_fine_others_are_not() -> None:
    p = NeuronParams.nominal(2).replace(Idc=torch.zeros(1, 2), Iw_ahp=torch.zeros(1, 2))
    assert p.Idc.sum() == 0
    with pytest.raises(ConfigError, match=r"alive\[0, 1\]"):
        p.replace(alive=torch.tensor([[1.0, 2.0]]))
    with pytest.raises(ConfigError, match="Io"):
        p.replace(Io=-1e-12)
    with pytest.raises(ConfigError, match="Ispkthr"):
        NeuronParams.from_currents({**_nominal_currents(), "Ispkthr": -1e-7}, neurons=2)


def _nominal_currents() -> dict[str, float]:
    from hil.chip.params import HighLevel

    return HighLevel().currents()


@pytest.mark.parametrize("value", BAD)
def test_weights_refuse_negative_and_non_finite_currents(value: float) -> None:
    w_in, w_rec = torch.zeros(1, 4, 2, 3), torch.zeros(1, 4, 3, 3)
    w_rec[0, 2, 1, 0] = value
    with pytest.raises(ConfigError, match=r"^w_rec\[0, 2, 1, 0\]: .*finite weight currents"):
        Weights(w_in, w_rec)
    with pytest.raises(ConfigError, match="w_in"):
        Weights.from_signed(torch.full((2, 3), math.nan), None)


def test_mismatch_never_produces_a_refused_value() -> None:
    p = sample_mismatch(NeuronParams.nominal(200), 50, sigma=0.6, seed=0)  # many below the floor
    assert all((v > 0).all() for k, v in p.tensors().items() if k.startswith("C_"))
