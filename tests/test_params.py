"""High-level parameters <-> currents (hil.chip.params)."""

from __future__ import annotations

import pytest

from hil.chip.params import (
    HighLevel,
    Physics,
    core_parameters,
    currents_from_codes,
    pulse_current,
    pulse_of,
    tau_current,
    tau_of,
)
from hil.errors import ConfigError


def test_nominal_currents_equal_rockpools_defaults() -> None:
    # default currents of Rockpool 3.1.0 (shared/reference/rockpool_dynapse.md section 1.9)
    expected = {
        "Itau_mem": 5.3191e-12,
        "Igain_mem": 2.1277e-11,
        "Itau_ampa": 8.6879e-11,
        "Igain_ampa": 8.6879e-09,
        "Itau_gaba": 8.8652e-11,
        "Igain_gaba": 8.8652e-09,
        "Itau_ahp": 2.8369e-11,
        "Igain_ahp": 2.8369e-11,
        "Iref": 1.05e-09,
        "Ipulse": 3.5e-08,
        "Ipulse_ahp": 3.5e-07,
        "Ispkthr": 1e-07,
        "Iw_3": 8e-9,
    }
    got = HighLevel().currents()
    for name, amps in expected.items():
        assert got[name] == pytest.approx(amps, rel=1e-4), name


def test_time_constant_and_pulse_equations_invert() -> None:
    phys = Physics()
    assert phys.kappa == pytest.approx(0.705)
    i = tau_current(20e-3, 3e-12)
    assert i == pytest.approx(25e-3 / 0.705 * 3e-12 / 20e-3)
    assert tau_of(i, 3e-12) == pytest.approx(20e-3)
    assert pulse_of(pulse_current(1e-3, 1.5e-12), 1.5e-12) == pytest.approx(1e-3)


def test_codes_carry_currents_within_generator_resolution() -> None:
    currents = HighLevel().currents()
    back = currents_from_codes(core_parameters(currents))
    assert back.keys() == currents.keys()
    for name, amps in currents.items():
        # Idc, If_nmda and Iw_ahp sit at the 0.5 pA leakage floor, where codes are coarse
        tol = 0.25 if amps < 1e-12 else 0.02
        assert back[name] == pytest.approx(amps, rel=tol), name


@pytest.mark.parametrize(
    "field,value",
    [
        ("tau_mem", -0.02),  # used to return a negative current
        ("tau_ampa", 0.0),
        ("t_ref", float("nan")),
        ("t_pulse", float("inf")),
        ("r_gain_mem", -4.0),
        ("Ispkthr", -1e-7),
        ("Idc", float("nan")),
        ("Iw", (1e-9, -2e-9, 4e-9, 8e-9)),
        ("Iw", (1e-9, 2e-9)),
        ("tau_nmda", "10ms"),
        ("tau_shunt", True),
    ],
)
def test_high_level_refuses_meaningless_values(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as err:
        HighLevel(**{field: value})
    assert f"HighLevel.{field}" in str(err.value) and "allowed: " in str(err.value)


@pytest.mark.parametrize("field", ["C_mem", "C_ampa", "C_ref", "Ut", "Vth", "Io", "kappa_n"])
@pytest.mark.parametrize("value", [-3e-12, 0.0, float("nan"), float("inf")])
def test_physics_refuses_meaningless_values(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"Physics.{field}"):
        Physics(**{field: value})


def test_conversions_refuse_meaningless_arguments() -> None:
    for bad in (-0.02, 0.0, float("nan")):
        with pytest.raises(ConfigError):
            tau_current(bad, 3e-12)
        with pytest.raises(ConfigError):
            pulse_current(1e-3, bad)
    assert HighLevel(Idc=0.0, Iw=(0.0, 0.0, 0.0, 0.0)).currents()["Idc"] == 0.0  # off is allowed
