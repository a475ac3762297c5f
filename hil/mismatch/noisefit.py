"""Membrane noise from ISI variability under DC, in closed form (numpy, vectorized).

Under a constant input Iin plus a small noise current eta(t) (stationary, std sigma, correlation
exp(-|s|/tau_c): the emulated silicon's Ornstein-Uhlenbeck membrane noise), the membrane of
hil.mismatch.membrane obeys Cu dy/dt = G(I) + Igain eta (y = I + Igain u). To first order in eta,
a perturbation dy grows along the trajectory as G(y_th)/G(y(s)), so the time to threshold shifts by

    dT = -Cu^-1 ... = -integral_0^T g(s) eta(s) ds,      g(s) = Igain / G(I(s)),

and the variance of the inter-spike interval is

    Var(T) = sigma^2 integral_0^T integral_0^T g(s) g(s') exp(-|s - s'| / tau_c) ds ds'
           = 2 sigma^2 integral_0^T g(s) h(s) ds,   h(s) = integral_0^s g(s') e^{-(s-s')/tau_c} ds'

(tau_c -> 0: 2 sigma^2 tau_c integral g^2 ds). The refractory period is deterministic and the reset
forgets the noise, so ISIs are independent to this order. `isi_variance` gives Var(T) / sigma^2
per neuron; a measured ISI variance v then gives sigma = sqrt(v / that). What spikes identify is
sigma sqrt(tau_c) (the noise's low-frequency power) up to a small correction in tau_c / T: tau_c
is a convention (NOISE_TAU_S). This is written from the equations, not from the simulator's or the
emulator's integrators.
"""

from __future__ import annotations

import numpy as np

from hil.chip.netlist import PHYSICS
from hil.mismatch.membrane import CU, GAMMA
from hil.sim.twin_source import NOISE_TAU_S

__all__ = ["NOISE_TAU_S", "isi_variance"]
GRID = 4000  # points in u from reset to threshold


def isi_variance(
    iin: np.ndarray,
    itau: np.ndarray,
    igain: np.ndarray,
    ispkthr: np.ndarray,
    tau_c: float = NOISE_TAU_S,
    io: float = PHYSICS.Io,
) -> np.ndarray:
    """Var(ISI) / sigma^2 [s^2 / A^2] per neuron under constant input `iin` [A] (module
    docstring); all (n,). NaN where the neuron does not reach the threshold."""
    iin, itau, igain, ispkthr = (
        np.asarray(a, np.float64)[:, None] for a in (iin, itau, igain, ispkthr)
    )
    uth = np.log(np.maximum(ispkthr, io * 1.0001) / io)
    x = (np.arange(GRID) + 0.5) / GRID
    u = uth * x  # (n, GRID) midpoints
    du = uth / GRID
    i = io * np.exp(u)
    ia = io * np.exp(GAMMA * u)
    g_ = igain * (iin - itau) - itau * i + ia * (i + igain)  # G(I) [A^2]
    ok = (g_ > 0).all(1)
    G = np.where(g_ > 0, g_, np.inf)
    dt = CU * (i + igain) / G * du  # time spent in each u cell [s]
    g = igain / G  # dT / d(eta) per unit time [1/A]
    n = iin.shape[0]
    h = np.zeros(n)
    acc = np.zeros(n)
    for k in range(GRID):
        d = dt[:, k]
        e = np.exp(-d / tau_c)
        gk = g[:, k]
        one = tau_c * (1.0 - e)
        # integral over the cell of g h, with h relaxing towards g tau_c from its value at entry
        acc += gk * (h * one + gk * tau_c * (d - one))
        h = h * e + gk * one
    return np.where(ok, 2.0 * acc, np.nan)
