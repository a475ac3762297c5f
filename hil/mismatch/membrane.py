"""The membrane's f-I relation in closed form, for identification (numpy, vectorized).

Under a constant input Iin (DC, no synaptic current, no adaptation) the DPI membrane of
docs/sim.md, written in u = ln(I / Io) with y = I + Ig u, obeys

    Cu dy/dt = G(I) = Ig (Iin - Itau) - Itau I + Ia(I) (I + Ig),   Ia = Io (I / Io)^gamma,
    dy = (I + Ig) du,   Cu = (Ut / kappa) C_mem,   gamma = kappa / (kappa + 1),

so the time from the reset (I = Io) to the threshold (I = Ispkthr) is the quadrature

    T = Cu * integral_0^{ln(Ispkthr/Io)} (I + Ig) / G(I) du          (infinite where G <= 0)

and the firing rate is 1 / (T + t_ref). This is written from the equations, not from the
simulator's or the emulator's integrators (it is their common ODE; the emulator agrees with a
scipy ODE solution to 0.1 %, docs/silicon.md).
"""

from __future__ import annotations

import numpy as np

from hil.chip.netlist import PHYSICS

GAMMA = PHYSICS.kappa / (PHYSICS.kappa + 1.0)
CU = PHYSICS.Ut / PHYSICS.kappa * PHYSICS.C_mem  # [F V]: tau_mem * Itau_mem
NODES = 16  # Gauss-Legendre nodes per panel (2e-6 relative to 256 nodes above 2 Hz)
PANELS = 4


def _nodes() -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(NODES)
    # PANELS equal panels on [0, 1]
    xs = np.concatenate([(x + 1) / 2 / PANELS + p / PANELS for p in range(PANELS)])
    ws = np.concatenate([w / 2 / PANELS for _ in range(PANELS)])
    return xs, ws


_X, _W = _nodes()


def time_to_threshold(
    iin: np.ndarray,
    itau: np.ndarray,
    igain: np.ndarray,
    ispkthr: np.ndarray,
    io: float = PHYSICS.Io,
) -> np.ndarray:
    """Time [s] from reset to threshold under constant input `iin` [A]; all arguments broadcast
    (e.g. (K, 1) input against (n,) parameters); inf where the neuron never reaches threshold."""
    iin, itau, igain, ispkthr = np.broadcast_arrays(
        *(np.asarray(a, np.float64) for a in (iin, itau, igain, ispkthr))
    )
    uth = np.log(np.maximum(ispkthr, io * 1.0001) / io)
    u = uth[..., None] * _X  # (..., nodes)
    i = io * np.exp(u)
    ia = io * np.exp(GAMMA * u)
    g = igain[..., None] * (iin[..., None] - itau[..., None]) - itau[..., None] * i
    g = g + ia * (i + igain[..., None])
    ok = (g > 0).all(-1)
    f = (i + igain[..., None]) / np.where(g > 0, g, 1.0)
    t = CU * uth * (f * _W).sum(-1)
    return np.where(ok, t, np.inf)


def rate(
    iin: np.ndarray,
    itau: np.ndarray,
    igain: np.ndarray,
    ispkthr: np.ndarray,
    t_ref: np.ndarray,
) -> np.ndarray:
    """Firing rate [Hz] under constant input (see module docstring); 0 where it never fires."""
    t = time_to_threshold(iin, itau, igain, ispkthr)
    return np.where(np.isfinite(t), 1.0 / (t + t_ref), 0.0)
