"""The emulator's integration kernel: numba-compiled, one call integrates many fine time steps.

The equations are the simulator's (hil.sim.dynamics, docs/sim.md; shared/reference/
rockpool_dynapse.md sections 1.4-1.8). The membrane step is not: the simulator takes a Pade step in
y = I + Igain ln(I/Io) plus one Newton step back to u (accurate over a whole 1 ms bin); this kernel
takes an exponential Rosenbrock-Euler step in u, which is enough at its fine step (both converge to
the same solution; docs/silicon.md, "Parity with the simulator"). One membrane sub-step per step dt:

    synapse s (AMPA, NMDA, GABA, SHUNT), AHP:  I <- I decay + J      J: charges that arrived
    the membrane sees the exact mean over the step, m = I (tau/dt)(1 - exp(-dt/tau))
    L = m_ahp + m_gaba;  a = 1 + m_ahp / Itau;  cur = Io e^u  (u = ln(Imem/Io) >= 0, the state)
    Iin = max(0, m_ampa + m_nmda cur/(cur + If_nmda) + Idc [latch_so_dc] + Ihot - m_shunt + noise)
    minf = (Igain/Itau) (Iin - Itau - L)
    tau du/dt = f(u) = (minf - a cur)/(cur + Igain) + (Io/Itau) e^(gamma u),  gamma = kappa/(kappa+1)
    u <- u + (h/tau) f phi1((h/tau) f'(u)),  phi1(z) = (e^z - 1)/z   (exponential Rosenbrock-Euler)
    spike when u >= ln(Ispkthr/Io) (never for dead or killed neurons), placed inside the step by
    linear interpolation; u <- 0; refractory t_ref, resolved inside the step (h = active time);
    the AHP gets its charge and the targets their synaptic charges in the next step.

A presynaptic spike adds J = (1 - exp(-t_pulse/tau_s)) Igain_s/Itau_s Iw to the target synapse
(precomputed per connection). e^x is a branch-free polynomial (`fexp`) so that the neuron loop
vectorizes (AVX2/AVX-512), in float32 like the simulator: relative error below 1e-5 for |x| <= 20.
Synaptic and AHP currents below 1e-30 A are flushed to 0 (no denormals). Membrane noise is an
Ornstein-Uhlenbeck current per neuron driven by a counter-based hash (reproducible from the run's
noise seed); its innovations are Irwin-Hall(4) approximations of N(0, 1) (bounded at +-3.46).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Rows of the per-neuron parameter matrix P (N_PROWS, N).
(
    P_DEC_AMPA,
    P_DEC_NMDA,
    P_DEC_GABA,
    P_DEC_SHUNT,
    P_DEC_AHP,
    P_MEAN_AMPA,
    P_MEAN_NMDA,
    P_MEAN_GABA,
    P_MEAN_SHUNT,
    P_MEAN_AHP,
    P_INV_TAU,
    P_ITAU,
    P_INV_ITAU,
    P_IGAIN,
    P_GAIN,
    P_FB,
    P_IDC,
    P_IF_NMDA,
    P_UTHR,
    P_TREF,
    P_AHP_JUMP,
    P_NOISE_A,
    P_NOISE_B,
) = range(23)
N_PROWS = 23
# Rows of the state matrix S (N_SROWS, N): synaptic and AHP currents hold the value after the
# last step's charges and before its decay.
S_AMPA, S_NMDA, S_GABA, S_SHUNT, S_AHP, S_U, S_TIMER, S_NOISE, S_SPIKE = range(9)
N_SROWS = 9
# Synapse type order (the simulator's hil.sim.records.SYNAPSE_TYPES): AMPA, NMDA, GABA, SHUNT;
# row 4 of the pending charges J is the AHP.
N_TYPES = 4
N_JROWS = 5

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_MASK16 = np.uint64(0xFFFF)
_S16, _S32, _S48 = np.uint64(16), np.uint64(32), np.uint64(48)
_SQRT3 = np.float32(np.sqrt(3.0))
# float32 constants (a Python float literal would promote the loops to float64)
F = np.float32
DTYPE = np.float32  # the kernel's state and parameter arrays
_0, _1, _HALF, _1_6, _1_24 = F(0), F(1), F(0.5), F(1 / 6), F(1 / 24)
_1_120, _1_720 = F(1 / 120), F(1 / 720)
_1_64, _2, _MIN_Z, _MAX_Z, _SMALL_Z = F(1 / 64), F(2), F(-50), F(20), F(1e-3)
_MIN_DU, _MINUS1, _U16 = F(1e-6), F(-1), F(1 / 65536)
_FLUSH = F(1e-30)  # currents below this [A] are flushed to 0 (no denormals)


@njit(inline="always", fastmath=True)
def fexp(x: np.float32) -> np.float32:
    """e^x for -50 <= x <= 20 without branches, in float32: (Taylor_6(x/64))^64.

    Relative error below 1e-5 for |x| <= 20 (float32 rounding through 6 squarings: ~4e-6)."""
    y = x * _1_64
    p = _1 + y * (_1 + y * (_HALF + y * (_1_6 + y * (_1_24 + y * (_1_120 + y * _1_720)))))
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    return p


@njit(inline="always")
def _normal(key: np.uint64) -> np.float32:
    """Approximately N(0, 1) from a 64-bit key: splitmix64, then Irwin-Hall of 4 x 16 bits."""
    z = key + _M1
    z = (z ^ (z >> _S30)) * _M2
    z = (z ^ (z >> _S27)) * _M3
    z = z ^ (z >> _S31)
    s = (
        np.float32(z & _MASK16)
        + np.float32((z >> _S16) & _MASK16)
        + np.float32((z >> _S32) & _MASK16)
        + np.float32(z >> _S48)
    )
    return (s * _U16 - _2) * _SQRT3


@njit(fastmath=True, error_model="numpy", cache=True)
def _charge(x: np.ndarray, j: np.ndarray, d: np.ndarray) -> None:
    """x <- x d + j; j <- 0 (decay of the last step, then this step's charges)."""
    for i in range(x.shape[0]):
        v = x[i] * d[i] + j[i]
        x[i] = v if v > _FLUSH else _0
        j[i] = _0


@njit(fastmath=True, error_model="numpy", cache=True)
def _noise(eta: np.ndarray, a: np.ndarray, b: np.ndarray, base: np.uint64) -> None:
    for i in range(eta.shape[0]):
        eta[i] = eta[i] * a[i] + b[i] * _normal(base + np.uint64(i))


@njit(fastmath=True, error_model="numpy", cache=True)
def _membrane(
    ia: np.ndarray,
    inm: np.ndarray,
    ig: np.ndarray,
    ish: np.ndarray,
    iahp: np.ndarray,
    u: np.ndarray,
    timer: np.ndarray,
    eta: np.ndarray,
    spk: np.ndarray,
    ma: np.ndarray,
    mn: np.ndarray,
    mg: np.ndarray,
    msh: np.ndarray,
    mh: np.ndarray,
    inv_tau: np.ndarray,
    itau: np.ndarray,
    inv_itau: np.ndarray,
    igain: np.ndarray,
    gain: np.ndarray,
    fb: np.ndarray,
    idc: np.ndarray,
    if_nmda: np.ndarray,
    uthr: np.ndarray,
    io: np.float32,
    gamma: np.float32,
    h: np.float32,
    nmda: bool,
) -> None:
    """One membrane step of every neuron; spk[i] = spike time inside the step [s] or -1."""
    for i in range(u.shape[0]):
        m_h = iahp[i] * mh[i]
        a = _1 + m_h * inv_itau[i]
        sink = itau[i] + m_h + ig[i] * mg[i]
        ui = u[i]
        cur = io * fexp(ui)
        base = ia[i] * ma[i] + idc[i] - ish[i] * msh[i] + eta[i]
        if nmda:
            base += inm[i] * mn[i] * cur / (cur + if_nmda[i])
        minf = gain[i] * (max(base, _0) - sink)
        g = igain[i]
        inv_den = _1 / (cur + g)
        fbk = fb[i] * fexp(gamma * ui)
        f0 = (minf - a * cur) * inv_den + fbk
        f1 = gamma * fbk - cur * (a * g + minf) * inv_den * inv_den
        r = timer[i]
        act = min(max(h - r, _0), h)
        timer[i] = max(r - h, _0)
        c = act * inv_tau[i]
        z = c * f1
        ez = fexp(min(max(z, _MIN_Z), _MAX_Z))
        small = abs(z) < _SMALL_Z
        phi = _1 + z * (_HALF + z * _1_6) if small else (ez - _1) / (z if not small else _1)
        un = max(ui + c * f0 * phi, _0)
        th = uthr[i]
        frac = min(max((th - ui) / max(un - ui, _MIN_DU), _0), _1)
        spk[i] = (h - act + frac * act) if un >= th else _MINUS1
        u[i] = un


@njit(error_model="numpy", cache=True, nogil=True)  # the firmware answers while a run computes
def integrate(
    S: np.ndarray,
    P: np.ndarray,
    J: np.ndarray,
    indptr: np.ndarray,
    target: np.ndarray,
    charge: np.ndarray,
    in_step: np.ndarray,
    in_src: np.ndarray,
    in_pos: int,
    k0: int,
    k1: int,
    io: np.float32,
    gamma: np.float32,
    dt: np.float32,
    noise_on: bool,
    used: np.ndarray,
    noise_seed: np.uint64,
    out_step: np.ndarray,
    out_neuron: np.ndarray,
    out_t: np.ndarray,
) -> tuple[int, int, int]:
    """Integrate steps k0 <= k < k1; return (next step, next input position, spikes written).

    S (N_SROWS, N) state, P (N_PROWS, N) parameters, J (N_JROWS, N) pending charges [A].
    used (N_JROWS,) bool: which of AMPA, NMDA, GABA, SHUNT, AHP can carry current (the others
    stay 0 and are skipped). Connections in CSR form: source s (neuron 0..N-1, then input sources N..) reaches flat targets
    target[indptr[s]:indptr[s+1]] (= type * N + neuron) with charges [A]. Inputs: steps in_step
    (sorted) and sources in_src, consumed from in_pos. Spikes go to out_step, out_neuron and
    out_t (time inside the step [s]); the call returns early when fewer than N slots are free.
    """
    n = S.shape[1]
    cap = out_step.shape[0]
    nout = 0
    n_in = in_step.shape[0]
    Jf = J.reshape(N_JROWS * n)
    spk = S[S_SPIKE]
    ahp_jump = P[P_AHP_JUMP]
    tref = P[P_TREF]
    k = k0
    while k < k1:
        if nout + n > cap:
            break
        while in_pos < n_in and in_step[in_pos] == k:
            s = in_src[in_pos]
            for e in range(indptr[s], indptr[s + 1]):
                Jf[target[e]] += charge[e]
            in_pos += 1
        for r in range(N_JROWS):  # rows S_AMPA..S_AHP pair with J rows and P_DEC_* rows
            if used[r]:
                _charge(S[r], J[r], P[r])
        if noise_on:
            _noise(
                S[S_NOISE],
                P[P_NOISE_A],
                P[P_NOISE_B],
                noise_seed * np.uint64(0x100000001B3) + np.uint64(k) * np.uint64(n),
            )
        _membrane(
            S[S_AMPA],
            S[S_NMDA],
            S[S_GABA],
            S[S_SHUNT],
            S[S_AHP],
            S[S_U],
            S[S_TIMER],
            S[S_NOISE],
            spk,
            P[P_MEAN_AMPA],
            P[P_MEAN_NMDA],
            P[P_MEAN_GABA],
            P[P_MEAN_SHUNT],
            P[P_MEAN_AHP],
            P[P_INV_TAU],
            P[P_ITAU],
            P[P_INV_ITAU],
            P[P_IGAIN],
            P[P_GAIN],
            P[P_FB],
            P[P_IDC],
            P[P_IF_NMDA],
            P[P_UTHR],
            io,
            gamma,
            dt,
            used[1],
        )
        u = S[S_U]
        timer = S[S_TIMER]
        for i in range(n):
            t_in = spk[i]
            if t_in >= _0:
                u[i] = _0
                timer[i] = tref[i] - (dt - t_in)
                Jf[N_TYPES * n + i] += ahp_jump[i]
                out_step[nout] = k
                out_neuron[nout] = i
                out_t[nout] = t_in
                nout += 1
                for e in range(indptr[i], indptr[i + 1]):
                    Jf[target[e]] += charge[e]
        k += 1
    return k, in_pos, nout
