"""High-level neuron parameters (time constants, pulse widths, gains) <-> bias currents.

Equations (shared/reference/rockpool_dynapse.md sections 1.2 and 2, DPI circuits, Chicca et al. 2014):

    DPI time constant   tau = (Ut / kappa) * C / I_tau
    pulse width         t   = Vth * C / I_pulse
    gain                I_gain = r_gain * I_tau

kappa = (kappa_n + kappa_p) / 2. Device constants and capacitances are Rockpool 3.1.0's defaults
(section 1.9). The chip's membrane capacitor is quoted as 7.7 pF elsewhere (paper_facts.md B.2); we keep
Rockpool's 3 pF because its default currents and measured f-I curve were made with it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from hil.artifacts import read_json
from hil.chip.biasgen import bias_code, bias_current
from hil.errors import ConfigError

# Simulation name -> device bias name (Rockpool `sim2device_se2`, rockpool_dynapse.md section 2).
SIM_TO_DEVICE: dict[str, str] = {
    "Idc": "SOIF_DC_P",
    "If_nmda": "DENM_NMREV_N",
    "Igain_ahp": "SOAD_GAIN_P",
    "Igain_ampa": "DEAM_EGAIN_P",
    "Igain_gaba": "DEGA_IGAIN_P",
    "Igain_nmda": "DENM_EGAIN_P",
    "Igain_shunt": "DESC_IGAIN_P",
    "Igain_mem": "SOIF_GAIN_N",
    "Ipulse_ahp": "SOAD_PWTAU_N",
    "Ipulse": "SYPD_EXT_N",
    "Iref": "SOIF_REFR_N",
    "Ispkthr": "SOIF_SPKTHR_P",
    "Itau_ahp": "SOAD_TAU_P",
    "Itau_ampa": "DEAM_ETAU_P",
    "Itau_gaba": "DEGA_ITAU_P",
    "Itau_nmda": "DENM_ETAU_P",
    "Itau_shunt": "DESC_ITAU_P",
    "Itau_mem": "SOIF_LEAK_N",
    "Iw_ahp": "SOAD_W_N",
    "Iw_0": "SYAM_W0_P",
    "Iw_1": "SYAM_W1_P",
    "Iw_2": "SYAM_W2_P",
    "Iw_3": "SYAM_W3_P",
}
DEVICE_TO_SIM = {v: k for k, v in SIM_TO_DEVICE.items()}
SYNAPSES = ("ampa", "gaba", "nmda", "shunt")


def _positive(where: str, value: object, unit: str, zero_ok: bool = False) -> float:
    """`value` as a float if it is a finite number > 0 (>= 0 with `zero_ok`); else ConfigError."""
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value >= 0 if zero_ok else value > 0)
    )
    if not ok:
        raise ConfigError(where, value, f"a finite number {'>= 0' if zero_ok else '> 0'} {unit}")
    return float(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Physics:
    """Device constants [SI] and capacitances [F]; Rockpool 3.1.0 defaults (section 1.9)."""

    Ut: float = 25e-3
    kappa_n: float = 0.75
    kappa_p: float = 0.66
    Vth: float = 0.7
    Io: float = 0.5e-12
    C_mem: float = 3e-12
    C_ahp: float = 40e-12
    C_ampa: float = 24.5e-12
    C_gaba: float = 25e-12
    C_nmda: float = 25e-12
    C_shunt: float = 24.5e-12
    C_pulse: float = 0.5e-12
    C_pulse_ahp: float = 0.5e-12
    C_ref: float = 1.5e-12

    def __post_init__(self) -> None:
        units = {"Ut": "V", "Vth": "V", "Io": "A", "kappa_n": "", "kappa_p": ""}
        for f in fields(self):
            _positive(f"Physics.{f.name}", getattr(self, f.name), units.get(f.name, "F"))

    @property
    def kappa(self) -> float:
        return (self.kappa_n + self.kappa_p) / 2


def tau_current(tau: float, C: float, phys: Physics = Physics()) -> float:
    """Leak current [A] giving DPI time constant `tau` [s] on capacitor `C` [F]."""
    return phys.Ut / phys.kappa * _positive("C", C, "F") / _positive("tau", tau, "s")


def tau_of(current: float, C: float, phys: Physics = Physics()) -> float:
    """DPI time constant [s] of leak current `current` [A] on capacitor `C` [F]."""
    return phys.Ut / phys.kappa * _positive("C", C, "F") / _positive("current", current, "A")


def pulse_current(t: float, C: float, phys: Physics = Physics()) -> float:
    """Current [A] that charges `C` [F] to Vth in `t` [s] (pulse width, refractory period)."""
    return phys.Vth * _positive("C", C, "F") / _positive("t", t, "s")


def pulse_of(current: float, C: float, phys: Physics = Physics()) -> float:
    """Pulse width [s] of current `current` [A] on capacitor `C` [F]."""
    return phys.Vth * _positive("C", C, "F") / _positive("current", current, "A")


@dataclass(frozen=True)
class HighLevel:
    """A core's parameters in the units people think in (s, ratios, A for thresholds/weights)."""

    tau_mem: float = 20e-3
    tau_ampa: float = 10e-3
    tau_gaba: float = 10e-3
    tau_nmda: float = 10e-3
    tau_shunt: float = 10e-3
    tau_ahp: float = 50e-3
    t_ref: float = 1e-3
    t_pulse: float = 10e-6
    t_pulse_ahp: float = 1e-6
    r_gain_mem: float = 4.0
    r_gain_syn: float = 100.0
    r_gain_ahp: float = 1.0
    Ispkthr: float = 1e-7
    Idc: float = 0.5e-12
    If_nmda: float = 0.5e-12
    Iw_ahp: float = 0.5e-12
    Iw: tuple[float, float, float, float] = (1e-9, 2e-9, 4e-9, 8e-9)

    def __post_init__(self) -> None:
        """Time constants, pulse widths and gain ratios must be finite and > 0; currents finite
        and >= 0 (a negative or NaN value has no physical meaning and used to pass through)."""
        for f in fields(self):
            v, where = getattr(self, f.name), f"HighLevel.{f.name}"
            if f.name == "Iw":
                if not (isinstance(v, tuple | list) and len(v) == 4):
                    raise ConfigError(where, v, "4 base-weight currents [A]")
                for i, w in enumerate(v):
                    _positive(f"{where}[{i}]", w, "A", zero_ok=True)
            elif f.name.startswith(("tau_", "t_")):
                _positive(where, v, "s")
            elif f.name.startswith("r_gain"):
                _positive(where, v, "(a ratio)")
            else:
                _positive(where, v, "A", zero_ok=True)

    def currents(self, phys: Physics = Physics()) -> dict[str, float]:
        """Bias currents [A] by simulation name (the keys of SIM_TO_DEVICE)."""
        out = {
            "Itau_mem": tau_current(self.tau_mem, phys.C_mem, phys),
            "Itau_ahp": tau_current(self.tau_ahp, phys.C_ahp, phys),
            "Iref": pulse_current(self.t_ref, phys.C_ref, phys),
            "Ipulse": pulse_current(self.t_pulse, phys.C_pulse, phys),
            "Ipulse_ahp": pulse_current(self.t_pulse_ahp, phys.C_pulse_ahp, phys),
            "Ispkthr": self.Ispkthr,
            "Idc": self.Idc,
            "If_nmda": self.If_nmda,
            "Iw_ahp": self.Iw_ahp,
        }
        out["Igain_mem"] = self.r_gain_mem * out["Itau_mem"]
        out["Igain_ahp"] = self.r_gain_ahp * out["Itau_ahp"]
        for syn in SYNAPSES:
            tau = getattr(self, f"tau_{syn}")
            out[f"Itau_{syn}"] = tau_current(tau, getattr(phys, f"C_{syn}"), phys)
            out[f"Igain_{syn}"] = self.r_gain_syn * out[f"Itau_{syn}"]
        for i, w in enumerate(self.Iw):
            out[f"Iw_{i}"] = w
        return out


def core_parameters(currents: dict[str, float]) -> dict[str, tuple[int, int]]:
    """Nearest (coarse, fine) code per device bias for currents given by simulation name."""
    codes = {}
    for sim, amps in currents.items():
        c, f = bias_code(SIM_TO_DEVICE[sim], amps)
        codes[SIM_TO_DEVICE[sim]] = (int(c), int(f))
    return codes


def currents_from_codes(codes: dict[str, tuple[int, int]]) -> dict[str, float]:
    """Currents [A] by simulation name from device codes; biases hil does not simulate are skipped."""
    return {
        DEVICE_TO_SIM[name]: float(bias_current(name, c, f))
        for name, (c, f) in codes.items()
        if name in DEVICE_TO_SIM
    }


NOMINAL_SCHEMA = "hil.nominal/1"


@dataclass(frozen=True)
class Nominal:
    """The chip's nominal parameters: versioned, written to models/ as JSON."""

    version: int = 1
    physics: Physics = field(default_factory=Physics)
    high_level: HighLevel = field(default_factory=HighLevel)
    source: str = "Rockpool 3.1.0 defaults, shared/reference/rockpool_dynapse.md sections 1.9 and 2"

    def to_dict(self) -> dict:
        currents = self.high_level.currents(self.physics)
        codes = core_parameters(currents)
        return {
            "schema": NOMINAL_SCHEMA,
            "version": self.version,
            "source": self.source,
            "physics": asdict(self.physics),
            "high_level": {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in asdict(self.high_level).items()
            },
            "currents_A": currents,
            "codes": {name: list(code) for name, code in sorted(codes.items())},
            "coded_currents_A": currents_from_codes(codes),
        }

    @classmethod
    def from_dict(cls, data: object) -> Nominal:
        """Parse a nominal-parameter artifact; any problem is a ConfigError naming the field."""
        if not isinstance(data, dict) or data.get("schema") != NOMINAL_SCHEMA:
            schema = data.get("schema") if isinstance(data, dict) else data
            raise ConfigError("schema", schema, repr(NOMINAL_SCHEMA))
        try:
            hl = dict(data["high_level"])
            hl["Iw"] = tuple(hl["Iw"])
            return cls(
                version=data["version"],
                physics=Physics(**data["physics"]),
                high_level=HighLevel(**hl),
                source=data["source"],
            )
        except ConfigError:
            raise
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError("nominal", str(e), f"the fields of {NOMINAL_SCHEMA}") from None


def load_nominal(path: str | Path) -> Nominal:
    """Read a nominal-parameter artifact (JSON) written by `Nominal.to_dict`."""
    return Nominal.from_dict(read_json(path, "nominal-parameter file"))
