"""The emulator's integration kernel: numba-compiled, one call integrates many fine time steps.

The equations are the simulator's (hil.sim.dynamics, docs/sim.md; shared/reference/
rockpool_dynapse.md sections 1.4-1.8). One membrane step per step dt:

    synapse s (AMPA, NMDA, GABA, SHUNT), AHP:  I <- I decay + J      J: charges that arrived
    the membrane sees the exact mean over the step, m = I (tau/dt)(1 - exp(-dt/tau))
    L = m_ahp + m_gaba;  a = 1 + m_ahp / Itau;  cur = Io e^u  (u = ln(Imem/Io) >= 0, the state)
    Iin = max(0, m_ampa + m_nmda cur/(cur + If_nmda) + Idc [latch_so_dc] + Ihot - m_shunt + noise)
    minf = (Igain/Itau) (Iin - Itau - L)
    tau dy/dt = F(y) = minf - a cur + (Io/Itau) e^(gamma u) (cur + Igain),   gamma = kappa/(kappa+1)
    in y = cur + Igain u, where the membrane equation has no stiff cur/(cur + Igain) factor:
    y <- y + (h/tau) F phi1((h/tau) F'(y)),  phi1(z) = (e^z - 1)/z   (exponential Rosenbrock-Euler)
    then back to u by a second-order predictor and one Newton step (steps too long for that, a few
    per spike, are inverted exactly in float64); spike when y reaches y_th = Ispkthr + Igain u_th
    (never for dead or killed neurons), placed inside the step by linear interpolation in y;
    u <- 0; refractory t_ref, resolved inside the step (h = active time); the AHP gets its charge
    and the targets their synaptic charges in the next step.

Stepping in u instead (u <- u + h f phi1(h f'), as this kernel once did) fails under strong drive:
f = du/dt falls by orders of magnitude over one step as cur passes Igain, so a step from rest
overshoots the threshold and a strongly driven neuron fires about once per refractory period.
tests/test_emulator_accuracy.py checks the kernel against a scipy solution of the equations.

A presynaptic spike adds J = (1 - exp(-t_pulse/tau_s)) Igain_s/Itau_s Iw to the target synapse
(precomputed per connection). e^x is a branch-free polynomial (`fexp`) so that the neuron loop
vectorizes (AVX2/AVX-512), in float32 like the simulator: relative error below 1e-5 for |x| <= 20.
The state keeps e^u - 1 and e^(gamma u) - 1 beside u (updated with u), so a step evaluates three
exponentials. Each call works on copies of the state and parameters laid out with rows one cache
line apart (rows of exactly 4 KiB map to the same cache sets and evict one another).
Synaptic and AHP currents below 1e-30 A are flushed to 0 (no denormals). Membrane noise is an
Ornstein-Uhlenbeck current per neuron driven by a counter-based hash (reproducible from the run's
noise seed); its innovations are Irwin-Hall(4) approximations of N(0, 1) (bounded at +-3.46).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

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
# last step's charges and before its decay; S_EU = e^u - 1 and S_EG = e^(gamma u) - 1 follow u
# (all zero at rest, so a zero state is the resting state).
S_AMPA, S_NMDA, S_GABA, S_SHUNT, S_AHP, S_U, S_EU, S_EG, S_TIMER, S_NOISE = range(10)
N_SROWS = 10
# Synapse type order (the simulator's hil.sim.records.SYNAPSE_TYPES): AMPA, NMDA, GABA, SHUNT;
# row 4 of the pending charges J is the AHP.
N_TYPES = 4
N_JROWS = 5

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
U32 = np.uint32
_B8, _B16, _B24, _MASK8 = U32(8), U32(16), U32(24), U32(0xFF)
_IH_SCALE = np.float32(np.sqrt(3.0) / 256)
# float32 constants (a Python float literal would promote the loops to float64)
F = np.float32
DTYPE = np.float32  # the kernel's state and parameter arrays
_0, _1, _HALF, _1_6, _1_24 = F(0), F(1), F(0.5), F(1 / 6), F(1 / 24)
_1_120, _1_720 = F(1 / 120), F(1 / 720)
_1_64, _2, _MIN_Z, _MAX_Z, _SMALL_Z = F(1 / 64), F(2), F(-50), F(20), F(1e-3)
_MINUS1, _MINUS2, _IH_MEAN = F(-1), F(-2), F(510)
_FLUSH = F(1e-30)  # currents below this [A] are flushed to 0 (no denormals)
_TINY, _NEVER = F(1e-30), F(1e30)
_D_MAX = F(0.5)  # longest tangent step in u that the predictor + one Newton step inverts (< 3e-6)
_MAX_U = F(20)  # fexp's range; u never exceeds ln(Ispkthr / Io) < 15
_ROW_PAD = 16  # floats (one cache line) added to a 4 KiB-multiple row stride
_BLOCK = 64  # neurons per block of the spike scan


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
def _splitmix64(key: np.uint64) -> np.uint64:
    z = key + _M1
    z = (z ^ (z >> _S30)) * _M2
    z = (z ^ (z >> _S27)) * _M3
    return z ^ (z >> _S31)


@intrinsic
def _lowbias32(typingctx, key):  # noqa: ANN001, ANN202, ARG001
    """C. Wellons' lowbias32 integer hash of a uint32, in 32-bit LLVM arithmetic (numba would
    widen uint32 products to 64 bits, which AVX2 cannot multiply in vectors)."""
    sig = types.uint32(types.uint32)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        i32 = ir.IntType(32)
        x = args[0]
        for shift, mult in ((16, 0x7FEB352D), (15, 0x846CA68B)):
            x = builder.xor(x, builder.lshr(x, ir.Constant(i32, shift)))
            x = builder.mul(x, ir.Constant(i32, mult))
        return builder.xor(x, builder.lshr(x, ir.Constant(i32, 16)))

    return sig, codegen


@njit(inline="always")
def _normal(key: np.uint32) -> np.float32:
    """Approximately N(0, 1) from a 32-bit key: Irwin-Hall of the 4 bytes of its lowbias32 hash
    (uniforms (b + 1/2)/256: mean and variance exact, bounded at +-3.46)."""
    z = _lowbias32(key)
    s = (z & _MASK8) + ((z >> _B8) & _MASK8) + ((z >> _B16) & _MASK8) + (z >> _B24)
    return (np.float32(np.int32(s)) - _IH_MEAN) * _IH_SCALE


@njit(fastmath=True, error_model="numpy", cache=True)
def _charge(x: np.ndarray, j: np.ndarray, d: np.ndarray) -> None:
    """x <- x d + j; j <- 0 (decay of the last step, then this step's charges), over j's length."""
    for i in range(j.shape[0]):
        v = x[i] * d[i] + j[i]
        x[i] = v if v > _FLUSH else _0
        j[i] = _0


@njit(fastmath=True, error_model="numpy", cache=True)
def _noise(eta: np.ndarray, a: np.ndarray, b: np.ndarray, key: np.uint64) -> None:
    """eta <- eta a + b N(0, 1): one step of every neuron's OU noise. The innovation of neuron i
    is _normal(k + i), k = the low 32 bits of splitmix64(key): one key per step."""
    k = U32(_splitmix64(key) & np.uint64(0xFFFFFFFF))
    for i in range(eta.shape[0]):
        eta[i] = eta[i] * a[i] + b[i] * _normal(U32(k + U32(i)))


@njit(fastmath=True, error_model="numpy", cache=True)
def _membrane(
    ia: np.ndarray,
    inm: np.ndarray,
    ig: np.ndarray,
    ish: np.ndarray,
    iahp: np.ndarray,
    u: np.ndarray,
    eu: np.ndarray,
    eg: np.ndarray,
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
    ythr: np.ndarray,
    io: np.float32,
    gamma: np.float32,
    h: np.float32,
    nmda: bool,
    n: int,
) -> None:
    """One membrane step of the first n neurons (module docstring).

    spk[i] = spike time inside the step [s]; -1: no spike; -2: no spike, and the step in u was
    too long for the predictor: then u[i] holds an upper bound of the new u and eu[i] the new y,
    for `_invert` to finish.
    """
    for i in range(n):
        m_h = iahp[i] * mh[i]
        a = _1 + m_h * inv_itau[i]
        sink = itau[i] + m_h + ig[i] * mg[i]
        ui = u[i]
        cur = io * (_1 + eu[i])
        base = ia[i] * ma[i] + idc[i] - ish[i] * msh[i] + eta[i]
        if nmda:
            base += inm[i] * mn[i] * cur / (cur + if_nmda[i])
        minf = gain[i] * (max(base, _0) - sink)
        g = igain[i]
        den = cur + g  # dy/du
        inv_den = _1 / den
        fbk = fb[i] * (_1 + eg[i])  # Ia / Itau
        force = minf - a * cur + fbk * den  # tau dy/dt
        jac = (fbk - a) * cur * inv_den + gamma * fbk  # d force / dy
        r = timer[i]
        # active time: a refractory period that ended inside the last step (timer < 0) adds the
        # rest of that step, which the membrane integrates now
        act = max(h - r, _0)
        timer[i] = max(r - h, _0)
        c = act * inv_tau[i]
        z = c * jac
        ez = fexp(min(max(z, _MIN_Z), _MAX_Z))
        small = abs(z) < _SMALL_Z
        phi = _1 + z * (_HALF + z * _1_6) if small else (ez - _1) / (z if not small else _1)
        dy = c * force * phi
        y0 = cur + g * ui
        y1 = y0 + dy
        # back to u: y(u) = Io e^u + g u is convex, u + d (its tangent step) an upper bound; the
        # second-order predictor plus one Newton step is within 3e-6 of the root for |d| <= 0.5
        d = dy * inv_den
        big = abs(d) > _D_MAX
        up = min(max(ui + d - _HALF * cur * inv_den * d * d, _0), _MAX_U)
        e = fexp(up)
        e_g = fexp(gamma * up)
        step = (io * e + g * up - y1) / (io * e + g)
        un = up - step
        sg = gamma * step
        u[i] = ui + d if big else max(un, _0)
        eu[i] = y1 if big else max(e * (_1 - step * (_1 - _HALF * step)) - _1, _0)
        eg[i] = max(e_g * (_1 - sg * (_1 - _HALF * sg)) - _1, _0)
        yt = ythr[i]
        frac = min(max((yt - y0) / max(dy, _TINY), _0), _1)
        t_spike = max(h - act + frac * act, _0)
        spk[i] = t_spike if y1 >= yt else (_MINUS2 if big else _MINUS1)


@njit(error_model="numpy", cache=True)
def _invert(y: float, u_hi: float, io: float, g: float) -> float:
    """The u >= 0 with Io e^u + g u = y (float64 Newton from the upper bound min(u_hi, ln(y/Io)),
    which converges monotonically: y(u) is convex and increasing)."""
    if y <= io:
        return 0.0
    u = min(u_hi, np.log(y / io))
    for _ in range(50):
        e = io * np.exp(u)
        step = (e + g * u - y) / (e + g)
        u -= step
        if step < 1e-9:
            break
    return max(u, 0.0)


# Rows of the work array of `integrate`: the state, then the parameters, then two scratch rows.
_P = N_SROWS
_SPK = N_SROWS + N_PROWS  # spike time inside the step [s], -1 or -2 (see _membrane)
_YTHR = _SPK + 1  # y at the threshold [A]
_WROWS = _YTHR + 1


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
    stay 0 and are skipped). Connections in CSR form: source s (neuron 0..N-1, then input sources
    N..) reaches flat targets target[indptr[s]:indptr[s+1]] (= type * N + neuron) with charges [A].
    Inputs: steps in_step (sorted) and sources in_src, consumed from in_pos. Spikes go to out_step,
    out_neuron and out_t (time inside the step [s]); the call returns early when fewer than N
    slots are free.
    """
    n = S.shape[1]
    # one work array, rows one cache line apart modulo 4 KiB (rows of exactly 4 KiB would map to
    # the same cache sets and evict one another in the neuron loop)
    W = np.zeros((_WROWS, -(-n // 1024) * 1024 + _ROW_PAD), DTYPE)
    W[:N_SROWS, :n] = S
    W[_P : _P + N_PROWS, :n] = P
    for i in range(n):  # y at the threshold; never reached by dead and killed neurons
        ut = P[P_UTHR, i]
        W[_YTHR, i] = io * np.exp(ut) + P[P_IGAIN, i] * ut if ut < _MAX_U else _NEVER
    out = _steps(
        W, J, indptr, target, charge, in_step, in_src, in_pos, k0, k1, io, gamma, dt, noise_on,
        used, noise_seed, out_step, out_neuron, out_t,
    )  # fmt: skip
    S[:] = W[:N_SROWS, :n]
    return out


@njit(error_model="numpy", cache=True)
def _steps(
    W: np.ndarray,
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
    """The time loop of `integrate` on its work array W (_WROWS, >= N) and J (N_JROWS, N)."""
    n = J.shape[1]
    Jf = J.reshape(N_JROWS * n)
    cap = out_step.shape[0]
    nout = 0
    n_in = in_step.shape[0]
    u, eu, eg, timer = W[S_U], W[S_EU], W[S_EG], W[S_TIMER]
    spk = W[_SPK]
    ahp_jump = W[_P + P_AHP_JUMP]
    tref = W[_P + P_TREF]
    igain = W[_P + P_IGAIN]
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
                _charge(W[r], J[r], W[_P + r])
        if noise_on:
            _noise(
                W[S_NOISE],
                W[_P + P_NOISE_A],
                W[_P + P_NOISE_B],
                noise_seed * np.uint64(0x100000001B3) + np.uint64(k) * np.uint64(n),
            )
        _membrane(
            W[S_AMPA],
            W[S_NMDA],
            W[S_GABA],
            W[S_SHUNT],
            W[S_AHP],
            u,
            eu,
            eg,
            timer,
            W[S_NOISE],
            spk,
            W[_P + P_MEAN_AMPA],
            W[_P + P_MEAN_NMDA],
            W[_P + P_MEAN_GABA],
            W[_P + P_MEAN_SHUNT],
            W[_P + P_MEAN_AHP],
            W[_P + P_INV_TAU],
            W[_P + P_ITAU],
            W[_P + P_INV_ITAU],
            igain,
            W[_P + P_GAIN],
            W[_P + P_FB],
            W[_P + P_IDC],
            W[_P + P_IF_NMDA],
            W[_YTHR],
            io,
            gamma,
            dt,
            used[1],
            n,
        )
        for b0 in range(0, n, _BLOCK):  # skip the blocks of neurons with nothing to do
            b1 = min(b0 + _BLOCK, n)
            busy = 0
            for i in range(b0, b1):
                busy += spk[i] != _MINUS1
            if busy == 0:
                continue
            for i in range(b0, b1):
                t_in = spk[i]
                if t_in == _MINUS2:  # a long step in u: invert y(u) exactly
                    ui = _invert(eu[i], u[i], io, igain[i])
                    u[i] = ui
                    eu[i] = np.expm1(ui)
                    eg[i] = np.expm1(gamma * ui)
                elif t_in >= _0:
                    u[i] = _0
                    eu[i] = _0
                    eg[i] = _0
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
