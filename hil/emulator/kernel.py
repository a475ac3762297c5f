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
vectorizes (AVX2/AVX-512), in float32 like the simulator: relative error below 1e-6 on [-50, 20].
The state keeps e^u - 1 and e^(gamma u) - 1 beside u (updated with u), so a step evaluates three
exponentials. Each call works on copies of the state and parameters laid out with rows one cache
line apart (rows of exactly 4 KiB map to the same cache sets and evict one another).
Synaptic and AHP currents below 1e-30 A are flushed to 0 (no denormals). Membrane noise is an
Ornstein-Uhlenbeck current per neuron driven by a counter-based hash (reproducible from the run's
noise seed); its innovations are Irwin-Hall(4) approximations of N(0, 1) (bounded at +-3.46).

`run_work` runs on `Plan.threads` threads (`_thread`), each over a contiguous range of whole
blocks of neurons, with one wait per step; every sum is formed in the serial order, so the result
is bit for bit the same for every thread count (docs/silicon.md, "Speed and cores").
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
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
_0, _1, _HALF, _1_6 = F(0), F(1), F(0.5), F(1 / 6)
_LOG2E, _LN2, _SHIFT = F(1 / np.log(2)), F(np.log(2)), F(1.5 * 2**23)
# fexp's polynomial (a relative-error weighted Chebyshev fit of e^f on |f| <= ln(2)/2, refined by
# Lawson iterations toward minimax)
_E1, _E2, _E3 = F(0.9999997071884875), F(0.49999149529758535), F(0.16667636197783808)
_E4, _E5 = F(0.04189792938736108), F(0.008290314528937545)
_MIN_Z, _MAX_Z, _SMALL_Z = F(-50), F(20), F(1e-3)
_MINUS1, _MINUS2, _IH_MEAN = F(-1), F(-2), F(510)
_FLUSH = F(1e-30)  # currents below this [A] are flushed to 0 (no denormals)
_TINY, _NEVER = F(1e-30), F(1e30)
_D_MAX = F(0.5)  # longest tangent step in u that the predictor + one Newton step inverts (< 3e-6)
_MAX_U = F(20)  # fexp's range; u never exceeds ln(Ispkthr / Io) < 15


def _round_typing(typingctx, x):  # noqa: ANN001, ANN202, ARG001
    """t = x / ln 2 + 1.5 2^23 in float32, rounded: t - 1.5 2^23 is x / ln 2 rounded to the
    nearest integer k, and the low bits of t hold k (|k| < 2^22). The multiply and add fuse into
    one FMA (their `contract` flags) but are kept from reassociation: numba's fastmath pass adds
    its flags only to instructions that have none."""
    sig = types.float32(types.float32)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        f32 = ir.FloatType()
        m = builder.fmul(args[0], ir.Constant(f32, float(_LOG2E)))
        m.flags.append("contract")
        t = builder.fadd(m, ir.Constant(f32, float(_SHIFT)))
        t.flags.append("contract")
        return t

    return sig, codegen


_round: Any = intrinsic(_round_typing)


def _unshift_typing(typingctx, t):  # noqa: ANN001, ANN202, ARG001
    """k = t - 1.5 2^23 of `_round`'s t (exact; flagged so that it is not reassociated)."""
    sig = types.float32(types.float32)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        k = builder.fsub(args[0], ir.Constant(ir.FloatType(), float(_SHIFT)))
        k.flags.append("nsz")
        return k

    return sig, codegen


_unshift: Any = intrinsic(_unshift_typing)


def _ldexp_typing(typingctx, p, t):  # noqa: ANN001, ANN202, ARG001
    """p 2^k for `_round`'s t: k (t's low bits) shifted into p's exponent bits (no checks: p 2^k
    must be a normal float32)."""
    sig = types.float32(types.float32, types.float32)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        i32 = ir.IntType(32)
        bits = builder.bitcast(args[0], i32)
        shift = builder.shl(builder.bitcast(args[1], i32), ir.Constant(i32, 23))
        return builder.bitcast(builder.add(bits, shift), ir.FloatType())

    return sig, codegen


_ldexp: Any = intrinsic(_ldexp_typing)


@njit(inline="always", fastmath=True)
def fexp(x: np.float32) -> np.float32:
    """e^x for -50 <= x <= 20 without branches, in float32: 2^k p(x - k ln 2), k = rint(x/ln 2).

    p: a degree-5 polynomial, near-minimax for the relative error of e^f on |f| <= ln(2)/2 (9e-8);
    with float32 rounding the relative error stays below 1e-6 (tests/test_emulator_engine.py).
    |k| <= 73 there, so 2^k p is a normal float32. ln 2 in float32 is 1.9e-9 off, which shifts f
    by at most 73 times that (1.4e-7). p(0) = 1: e^0 is exactly 1."""
    t = _round(x)
    f = x - _unshift(t) * _LN2
    p = _1 + f * (_E1 + f * (_E2 + f * (_E3 + f * (_E4 + f * _E5))))
    return _ldexp(p, t)


@njit(inline="always")
def _splitmix64(key: np.uint64) -> np.uint64:
    z = key + _M1
    z = (z ^ (z >> _S30)) * _M2
    z = (z ^ (z >> _S27)) * _M3
    return z ^ (z >> _S31)


def _lowbias32_typing(typingctx, key):  # noqa: ANN001, ANN202, ARG001
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


# an intrinsic takes the typing context first; calls in compiled code give only the rest
_lowbias32: Any = intrinsic(_lowbias32_typing)


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


@njit(inline="always")
def _step_key(key: np.uint64) -> np.uint32:
    """The 32-bit key of one step's noise: the low 32 bits of splitmix64(key)."""
    return U32(_splitmix64(key) & np.uint64(0xFFFFFFFF))


# Not fastmath: reassociating b (s - 510) scale gave different bits in different compilations.
@njit(error_model="numpy", cache=True)
def _noise(
    out: np.ndarray,
    eta: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    k: np.uint32,
    i0: int,
    cut: int,
    gap: int,
) -> None:
    """out <- eta a + b N(0, 1): one step of the OU noise of the work array's columns i0.. (eta's
    length; out may be eta itself). The innovation of neuron i is _normal(k + i); k = `_step_key`
    of the step; column c holds neuron c, or c - gap from column cut on (`layout`)."""
    for i in range(eta.shape[0]):
        c = i0 + i
        out[i] = eta[i] * a[i] + b[i] * _normal(U32(k + U32(c - (gap if c >= cut else 0))))


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
    s_up: np.ndarray,
    s_y1: np.ndarray,
    io: np.float32,
    gamma: np.float32,
    h: np.float32,
    nmda: bool,
    n: int,
) -> None:
    """One membrane step of the first n neurons (module docstring).

    spk[i] = -1: no spike; -2: no spike, and the step in u was too long for the predictor: then
    u[i] holds an upper bound of the new u and eu[i] the new y, for `_invert` to finish; >= 0: a
    spike, spk[i] the active time of the step [s], u[i] the step's rise in y and eu[i] y before
    the step, from which `_scan` places the spike inside the step (the division that places it
    is made only for the few neurons that spike). eg[i] is left undefined where spk[i] != -1
    (`_scan` sets it). s_up, s_y1: scratch rows.

    Two loops: the first takes each neuron to its new y and predicts u (s_y1, s_up; for spikes and
    long steps, what u and eu become); the second inverts y(u) with one Newton step. Each loop's
    chain of dependent operations is about half of the whole step's, so the core overlaps more
    neurons (in one loop the chain bounded it: llvm-mca put it at 2.4x its operations'
    throughput). The first loop writes only 4 arrays: with more, LLVM stopped vectorizing it.
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
        fbk = fb[i] * (_1 + eg[i])  # Ia / Itau
        force = minf - a * cur + fbk * den  # tau dy/dt
        r = timer[i]
        # active time: a refractory period that ended inside the last step (timer < 0) adds the
        # rest of that step, which the membrane integrates now
        act = max(h - r, _0)
        timer[i] = max(r - h, _0)
        c = act * inv_tau[i]
        # z = c dforce/dy = c ((fbk - a) cur / den + gamma fbk) = zn / den; 1/den and 1/z from one
        # division: q = 1 / (den zs), zs = zn (|z| >= 1e-3) or den (|z| < 1e-3, phi from its
        # series). den >= Io (0.5 pA nominal) and den <= Io e^20 + Igain < 1e-3 A, |z| >= 1e-3, so
        # den zs lies within [1e-3 Io^2, 1e-6 max(|z|, 1)]: far from float32's range limits
        # (1e-38 .. 3e38) for any Io above 1e-17 A and any finite z.
        zn = c * ((fbk - a) * cur + gamma * fbk * den)
        small = abs(zn) < _SMALL_Z * den
        zs = den if small else zn
        q = _1 / (den * zs)
        inv_den = zs * q
        z = zn * inv_den
        ez = fexp(min(max(z, _MIN_Z), _MAX_Z))
        phi = _1 + z * (_HALF + z * _1_6) if small else (ez - _1) * (den * (den * q))
        dy = c * force * phi
        y0 = cur + g * ui
        y1 = y0 + dy
        # back to u: y(u) = Io e^u + g u is convex, u + d (its tangent step) an upper bound; the
        # second-order predictor plus one Newton step is within 3e-6 of the root for |d| <= 0.5
        d = dy * inv_den
        big = abs(d) > _D_MAX
        up = min(max(ui + d - _HALF * cur * inv_den * d * d, _0), _MAX_U)
        fire = y1 >= ythr[i]
        # for the second loop (docstring): what u and eu become, unless it inverts y(u)
        s_up[i] = dy if fire else (ui + d if big else up)
        s_y1[i] = y0 if fire else y1
        spk[i] = act if fire else (_MINUS2 if big else _MINUS1)
    for i in range(n):
        # where spk != -1, up is what u becomes (not a prediction, and it may leave fexp's range):
        # e, e_g and step are then not used, and eg is set by `_scan`
        up = s_up[i]
        y1 = s_y1[i]
        g = igain[i]
        e = fexp(min(up, _MAX_U))
        e_g = fexp(gamma * min(up, _MAX_U))
        step = (io * e + g * up - y1) / (io * e + g)
        un = up - step
        sg = gamma * step
        keep = spk[i] != _MINUS1
        u[i] = up if keep else max(un, _0)
        eu[i] = y1 if keep else max(e * (_1 - step * (_1 - _HALF * step)) - _1, _0)
        eg[i] = max(e_g * (_1 - sg * (_1 - _HALF * sg)) - _1, _0)


@njit(error_model="numpy", cache=True)
def _invert(y: float, u_hi: float, io: float | np.float32, g: float) -> float:
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


# -- the time loop ---------------------------------------------------------------------------------
# The work array W (_WROWS, stride) holds the state, the pending charges, the parameters and five
# scratch rows of every neuron, rows one cache line apart modulo 4 KiB (rows of exactly 4 KiB map to
# the same cache sets and evict one another in the neuron loop). Threads take contiguous ranges of
# whole blocks of neurons.
BLOCK = 64  # neurons per block (spike scan; thread ranges are whole blocks, cache-line aligned)
_J = N_SROWS  # pending charges J (N_JROWS rows) [A]
_P = _J + N_JROWS  # parameters (N_PROWS rows)
_SPK = _P + N_PROWS  # a spike (its active time [s], >= 0), -1 or -2 (see _membrane)
_YTHR = _SPK + 1  # y at the threshold [A]
_UP, _Y1 = _YTHR + 1, _YTHR + 2  # scratch rows of `_membrane` (predicted u, new y [A])
_ETA1 = _YTHR + 3  # the membrane noise [A] every other step on several threads (`_thread`)
_WROWS = _YTHR + 4
_ROW_PAD = 16  # floats (one cache line) added to a 4 KiB-multiple row stride
_SYNC_STRIDE = 16  # int64 slots between two threads' arrival counters (separate cache lines)
# looks at the counters before a waiting thread yields the core at each look. Plain loads, no x86
# `pause`: in this KVM guest pause loops measured slower (2 threads, 4 chips, ns per neuron and
# step, with other work on the machine: 64 pauses then yields 4.09-4.94, 1024 pauses 7.6-8.7, one
# pause 3.88-4.17, 256 loads 3.80-4.50; docs/silicon.md, "Speed and cores"): a guest spinning on
# `pause` exits to the host (pause-loop exiting), which may run other work meanwhile.
_SPINS = 256
_POSIX = os.name == "posix"  # has sched_yield


def row_stride(n: int) -> int:
    """Floats between two rows of the work array of n neurons (`layout`'s columns)."""
    return -(-(n + layout(n)[1]) // 1024) * 1024 + _ROW_PAD


def layout(n: int) -> tuple[int, int]:
    """(cut, gap): the work array's columns of n neurons. Neuron i < cut - gap is column i; the
    upper half (from the two-thread boundary on) starts one block later, neuron i in column
    i + gap: when two threads take the two halves, no cache line or 4 KiB page of a row is
    written by both, and a thread streaming to the end of its range does not pull in the other's
    lines (the hardware prefetchers follow a stream to the end of its page); the same layout for
    every thread count, so the state stays put when the count changes. The gap's columns are
    inert (no input, a threshold never reached); a thread whose range spans them integrates
    them too (one block: 1.6 % of 4096 neurons). docs/silicon.md, "Issue 13, two threads"."""
    nb = n // BLOCK
    if nb < 2:
        return n, 0
    return nb // 2 * BLOCK + BLOCK, BLOCK


def columns(neurons: np.ndarray, n: int) -> np.ndarray:
    """The work-array column of each neuron of n (`layout`)."""
    cut, gap = layout(n)
    neurons = np.asarray(neurons, np.int64)
    return neurons + np.where(neurons >= cut - gap, gap, 0)


@njit(inline="always")
def _any_busy(spk: np.ndarray, i0: int, m: int) -> bool:
    """Whether some spk[i0:i0 + m] is not -1: an OR of int32 flags over a constant m, which
    vectorizes (a count into an int64, or a trip count not known when compiling, cost 4x more)."""
    busy = np.int32(0)
    for i in range(i0, i0 + m):
        busy |= np.int32(spk[i] != _MINUS1)
    return busy != 0


@njit(error_model="numpy", cache=True)
def _scan(
    spk: np.ndarray,
    u: np.ndarray,
    eu: np.ndarray,
    eg: np.ndarray,
    timer: np.ndarray,
    igain: np.ndarray,
    tref: np.ndarray,
    ahp: np.ndarray,
    ahp_jump: np.ndarray,
    ythr: np.ndarray,
    lo: int,
    cut: int,
    gap: int,
    k: int,
    io: np.float32,
    gamma: np.float32,
    dt: np.float32,
    nout: int,
    out_step: np.ndarray,
    out_neuron: np.ndarray,
    out_t: np.ndarray,
) -> int:
    """After `_membrane` of the columns lo.. (the rows given are theirs, from lo on; column c is
    neuron c, or c - gap from column cut on: `layout`): finish long
    steps in u, place the spikes inside the step (linear interpolation of y between its values
    before and after the step, over the active time), reset the neurons that spiked (refractory
    timer, AHP charge) and write their spikes from out position nout on (in neuron order); returns
    the next position. Blocks of neurons with nothing to do are skipped."""
    for b0 in range(0, spk.shape[0], BLOCK):  # whole blocks (`Plan`)
        if not _any_busy(spk, b0, BLOCK):
            continue
        for i in range(b0, b0 + BLOCK):
            t_in = spk[i]
            if t_in == _MINUS2:  # a long step in u: invert y(u) exactly
                ui = _invert(eu[i], u[i], io, igain[i])
                u[i] = ui
                eu[i] = np.expm1(ui)
                eg[i] = np.expm1(gamma * ui)
            elif t_in >= _0:  # a spike: t_in is the active time, u the rise in y, eu y before
                act = t_in
                frac = min(max((ythr[i] - eu[i]) / max(u[i], _TINY), _0), _1)
                t_in = max(dt - act + frac * act, _0)
                u[i] = _0
                eu[i] = _0
                eg[i] = _0
                timer[i] = tref[i] - (dt - t_in)
                ahp[i] += ahp_jump[i]
                out_step[nout] = k
                c = lo + i
                out_neuron[nout] = c - gap if c >= cut else c
                out_t[nout] = t_in
                nout += 1
    return nout


def _load_acquire_typing(typingctx, ary, idx):  # noqa: ANN001, ANN202, ARG001
    """ary[idx] of an int64 array, read atomically with acquire ordering."""
    sig = types.int64(ary, idx)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        aryty = signature.args[0]
        a = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, a, [args[1]])
        return builder.load_atomic(ptr, "acquire", 8)

    return sig, codegen


_load_acquire: Any = intrinsic(_load_acquire_typing)


def _store_release_typing(typingctx, ary, idx, val):  # noqa: ANN001, ANN202, ARG001
    """ary[idx] = val for an int64 array, written atomically with release ordering."""
    sig = types.void(ary, idx, val)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        aryty = signature.args[0]
        a = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, a, [args[1]])
        v = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store_atomic(v, ptr, "release", 8)
        return context.get_dummy_value()

    return sig, codegen


_store_release: Any = intrinsic(_store_release_typing)


def _yield_core_typing(typingctx):  # noqa: ANN001, ANN202, ARG001
    """Give the core away (sched_yield; nothing where the system has none)."""
    sig = types.void()

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        if _POSIX:
            give = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield"
            )
            builder.call(give, [])
        return context.get_dummy_value()

    return sig, codegen


_yield_core: Any = intrinsic(_yield_core_typing)


@njit(cache=True)
def _wait_all(sync: np.ndarray, threads: int, gen: int) -> bool:
    """Wait until every thread's arrival counter reaches gen; False when a thread aborted."""
    abort = threads * _SYNC_STRIDE
    for t in range(threads):
        spins = 0
        while _load_acquire(sync, t * _SYNC_STRIDE) < gen:
            if _load_acquire(sync, abort) != 0:
                return False
            spins += 1
            if spins > _SPINS:
                _yield_core()
    return True


@njit(error_model="numpy", cache=True, nogil=True)  # the firmware answers while a run computes
def _thread(
    tid: int,
    W: np.ndarray,
    col_lo: np.ndarray,
    col_hi: np.ndarray,
    cut: int,
    gap: int,
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
    n: int,
    out_step: np.ndarray,
    out_neuron: np.ndarray,
    out_t: np.ndarray,
    marks: np.ndarray,
    sync: np.ndarray,
) -> tuple[int, int, int]:
    """Thread tid's part of steps k0 <= k < k1: the work array's columns col_lo[tid] <= c <
    col_hi[tid] (its neurons, `Plan`) and the charges that reach them; returns (next step, next input position, its spikes).

    Each step: the inputs of the step (to the thread's own targets), the charges, noise and
    membrane of its neurons and their spikes (`_scan`); then a wait for every thread to finish
    that (`sync`); then the spikes of all threads in neuron order, each to the thread's own
    targets. So every sum of charges is formed in the same order whatever the thread count, and
    the result is bit for bit the serial one. out_*[tid] and marks[step parity, tid] = (first,
    end) spike of the step are the thread's own; sync holds arrival counters and an abort flag.
    """
    threads = col_lo.shape[0]
    lo, hi = col_lo[tid], col_hi[tid]
    Wf = W.reshape(W.size)
    cap = out_step.shape[1]
    n_in = in_step.shape[0]
    ptr = indptr[tid]
    my_step, my_neuron, my_t = out_step[tid], out_neuron[tid], out_t[tid]
    # the rows of the thread's own neurons (loops from 0 vectorize without negative-index checks)
    ia, inm, ig, ish = W[S_AMPA, lo:hi], W[S_NMDA, lo:hi], W[S_GABA, lo:hi], W[S_SHUNT, lo:hi]
    iahp, u, eu, eg = W[S_AHP, lo:hi], W[S_U, lo:hi], W[S_EU, lo:hi], W[S_EG, lo:hi]
    timer, eta, spk, ythr = W[S_TIMER, lo:hi], W[S_NOISE, lo:hi], W[_SPK, lo:hi], W[_YTHR, lo:hi]
    s_up, s_y1, eta1 = W[_UP, lo:hi], W[_Y1, lo:hi], W[_ETA1, lo:hi]
    ma, mn, mg = W[_P + P_MEAN_AMPA, lo:hi], W[_P + P_MEAN_NMDA, lo:hi], W[_P + P_MEAN_GABA, lo:hi]
    msh, mh = W[_P + P_MEAN_SHUNT, lo:hi], W[_P + P_MEAN_AHP, lo:hi]
    inv_tau, itau, inv_itau = (
        W[_P + P_INV_TAU, lo:hi],
        W[_P + P_ITAU, lo:hi],
        W[_P + P_INV_ITAU, lo:hi],
    )
    igain, gain, fb = W[_P + P_IGAIN, lo:hi], W[_P + P_GAIN, lo:hi], W[_P + P_FB, lo:hi]
    idc, if_nmda = W[_P + P_IDC, lo:hi], W[_P + P_IF_NMDA, lo:hi]
    noise_a, noise_b = W[_P + P_NOISE_A, lo:hi], W[_P + P_NOISE_B, lo:hi]
    tref, ahp_jump = W[_P + P_TREF, lo:hi], W[_P + P_AHP_JUMP, lo:hi]
    # pending charges (rows S_AMPA..S_AHP pair with J rows and P_DEC_* rows)
    ja, jn, jg, jsh = W[_J, lo:hi], W[_J + 1, lo:hi], W[_J + 2, lo:hi], W[_J + 3, lo:hi]
    jh = W[_J + N_TYPES, lo:hi]
    da, dn, dg = W[_P + P_DEC_AMPA, lo:hi], W[_P + P_DEC_NMDA, lo:hi], W[_P + P_DEC_GABA, lo:hi]
    dsh, dh = W[_P + P_DEC_SHUNT, lo:hi], W[_P + P_DEC_AHP, lo:hi]
    # (views made once: each view made in the loop would cost reference counting every step)
    written = np.zeros(threads, np.int64)  # spikes each thread has written (all threads agree)
    k = k0
    ahead = False  # step k's noise was made during step k - 1's wait, in the row not in use
    in1 = False  # the noise in use (of step k - 1, then of step k) is in eta1, not in eta
    while k < k1:
        full = False
        for t in range(threads):
            full |= written[t] + col_hi[t] - col_lo[t] > cap
        if full:  # every thread stops at the same step
            break
        while in_pos < n_in and in_step[in_pos] == k:
            s = in_src[in_pos]
            for e in range(ptr[s], ptr[s + 1]):
                Wf[target[e]] += charge[e]
            in_pos += 1
        if used[0]:
            _charge(ia, ja, da)
        if used[1]:
            _charge(inm, jn, dn)
        if used[2]:
            _charge(ig, jg, dg)
        if used[3]:
            _charge(ish, jsh, dsh)
        if used[4]:
            _charge(iahp, jh, dh)
        if noise_on and ahead:
            in1 = not in1
        elif noise_on:
            key = _step_key(noise_seed * np.uint64(0x100000001B3) + np.uint64(k) * np.uint64(n))
            row = eta1 if in1 else eta
            _noise(row, row, noise_a, noise_b, key, lo, cut, gap)
        cur = eta1 if in1 else eta
        _membrane(
            ia, inm, ig, ish, iahp, u, eu, eg, timer, cur, spk, ma, mn, mg, msh, mh, inv_tau,
            itau, inv_itau, igain, gain, fb, idc, if_nmda, ythr, s_up, s_y1, io, gamma, dt,
            used[1], hi - lo,
        )  # fmt: skip
        par = (k - k0) & 1
        marks[par, tid, 0] = written[tid]
        marks[par, tid, 1] = _scan(
            spk, u, eu, eg, timer, igain, tref, jh, ahp_jump, ythr, lo, cut, gap, k, io, gamma,
            dt, written[tid], my_step, my_neuron, my_t,
        )  # fmt: skip
        if threads > 1:
            _store_release(sync, tid * _SYNC_STRIDE, k - k0 + 1)
            # the next step's noise needs only this thread's state: made now, it overlaps the
            # others' last work and the counters' way between cores; into the other row, so that
            # a call that stops before the next step keeps this step's noise
            ahead = noise_on and k + 1 < k1
            if ahead:
                kn = np.uint64(k + 1) * np.uint64(n)
                key = _step_key(noise_seed * np.uint64(0x100000001B3) + kn)
                _noise(eta if in1 else eta1, cur, noise_a, noise_b, key, lo, cut, gap)
            if not _wait_all(sync, threads, k - k0 + 1):
                return -1, in_pos, written[tid]
        for t in range(threads):
            written[t] = marks[par, t, 1]
            for j in range(marks[par, t, 0], marks[par, t, 1]):
                i = out_neuron[t, j]
                for e in range(ptr[i], ptr[i + 1]):
                    Wf[target[e]] += charge[e]
        k += 1
    if in1:  # the state's row gets the noise of the last step
        for i in range(eta.shape[0]):
            eta[i] = eta1[i]
    return k, in_pos, written[tid]


@njit(error_model="numpy", cache=True)
def _thresholds(P: np.ndarray, io: np.float32) -> np.ndarray:
    """y at the threshold of every neuron [A] (float32); never reached by dead and killed ones."""
    n = P.shape[1]
    y = np.empty(n, DTYPE)
    for i in range(n):
        ut = P[P_UTHR, i]
        y[i] = io * np.exp(ut) + P[P_IGAIN, i] * ut if ut < _MAX_U else _NEVER
    return y


class Plan:
    """Connections split among threads: `Plan(indptr, target, charge, n, threads)`.

    indptr (n_sources + 1), target (type * n + neuron) and charge [A]: the full CSR table by
    source (neurons 0..n-1, then input sources). Thread t integrates the neurons bounds[t] <= i <
    bounds[t + 1] (whole blocks, as equal as they allow) and owns the charges that reach them:
    indptr[t] (n_sources + 1) indexes target (positions in the flattened work array) and charge,
    which keep the table's order for each source (so sums are formed in the serial order).
    """

    def __init__(
        self, indptr: np.ndarray, target: np.ndarray, charge: np.ndarray, n: int, threads: int
    ) -> None:
        if n % BLOCK:
            raise ValueError(f"neuron count {n} is not a multiple of {BLOCK}")
        nb = n // BLOCK
        self.threads = threads = max(1, min(threads, nb))
        self.n = n
        self.bounds = np.array([nb * t // threads * BLOCK for t in range(threads + 1)], np.int64)
        # the same ranges as work-array columns (`layout`): thread t's are col_lo[t] <= c < col_hi[t]
        self.col_lo = columns(self.bounds[:-1], n)
        self.col_hi = columns(self.bounds[1:] - 1, n) + 1
        n_src = indptr.shape[0] - 1
        src = np.repeat(np.arange(n_src, dtype=np.int64), np.diff(indptr))
        typ, neuron = np.divmod(np.asarray(target, np.int64), n)
        owner = np.searchsorted(self.bounds, neuron, side="right") - 1
        order = np.lexsort((np.arange(src.size), src, owner))  # owner, source, then table order
        self.target = ((_J + typ) * row_stride(n) + columns(neuron, n))[order]
        self.charge = np.ascontiguousarray(np.asarray(charge)[order], DTYPE)
        counts = np.zeros((threads, n_src), np.int64)
        np.add.at(counts, (owner, src), 1)
        flat = np.concatenate([[0], np.cumsum(counts.ravel())])
        self.indptr = np.stack([flat[t * n_src : (t + 1) * n_src + 1] for t in range(threads)])


def _aligned(shape: tuple[int, ...], align: int = 64) -> np.ndarray:
    """An uninitialized DTYPE array whose data starts on an `align`-byte boundary: with rows a
    multiple of 16 floats long, every thread's range of whole blocks then starts on a cache line
    of its own (no line is written by two threads)."""
    size = int(np.prod(shape))
    raw = np.empty(size + align // 4, DTYPE)
    skip = (-raw.ctypes.data % align) // 4
    return raw[skip : skip + size].reshape(shape)


def work_array(S: np.ndarray, P: np.ndarray, J: np.ndarray, io: np.float32) -> np.ndarray:
    """The work array of `run_work` (the layout above): S (N_SROWS, N) state, P (N_PROWS, N)
    parameters and J (N_JROWS, N) pending charges [A] copied in, the scratch rows set. It holds
    the state between calls of a run (any thread counts): `store_state` copies it back out."""
    n = S.shape[1]
    cut, gap = layout(n)
    cols = columns(np.arange(n), n)
    W = _aligned((_WROWS, row_stride(n)))
    W[:] = _0
    W[:N_SROWS, cols] = S
    W[_J : _J + N_JROWS, cols] = J
    W[_P : _P + N_PROWS, cols] = P
    W[_SPK:, : cols[-1] + 1] = _MINUS1
    W[_YTHR, cols] = _thresholds(P, io)
    # the gap's inert columns: a real neuron's parameters (finite arithmetic), at rest, no input,
    # a threshold never reached
    W[_P : _P + N_PROWS, cut - gap : cut] = P[:, cut - gap : cut - gap + 1]
    W[_YTHR, cut - gap : cut] = _NEVER
    return W


def store_state(W: np.ndarray, S: np.ndarray, J: np.ndarray) -> None:
    """Copy the state and the pending charges of work array W into S and J (`work_array`)."""
    cols = columns(np.arange(S.shape[1]), S.shape[1])
    S[:] = W[:N_SROWS, cols]
    J[:] = W[_J : _J + N_JROWS, cols]


def run_work(
    W: np.ndarray,
    n: int,
    plan: Plan,
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
) -> tuple[int, int, np.ndarray]:
    """Integrate steps k0 <= k < k1 of the n neurons in work array W (`work_array`: the state
    stays in it between calls, whatever their thread counts) on plan.threads threads; return
    (next step, next input position, spikes written by each thread).

    n is a multiple of BLOCK (plan.n). used (N_JROWS,) bool: which of AMPA, NMDA, GABA, SHUNT, AHP
    can carry current. `plan`: the connections (`Plan`; sources are neurons 0..n-1, then input
    sources n..). Inputs: steps in_step (sorted) and sources in_src, consumed from in_pos. Thread
    t writes its spikes to out_step[t], out_neuron[t] and out_t[t] (time inside the step [s]),
    each (threads, capacity), in step order and neuron order within a step; the call returns
    early when some thread has fewer free slots than neurons.
    """
    if n != plan.n:
        raise ValueError(f"the plan is for {plan.n} neurons, the state has {n}")
    T = plan.threads
    marks = np.zeros((2, T, 16), np.int64)  # each thread's (first, end) on cache lines of its own
    sync = np.zeros((T + 1) * _SYNC_STRIDE, np.int64)
    args = (
        W, plan.col_lo, plan.col_hi, *layout(n), plan.indptr, plan.target, plan.charge, in_step,
        in_src, in_pos, k0, k1,
        io, gamma, dt, noise_on, used, noise_seed, n, out_step, out_neuron, out_t, marks, sync,
    )  # fmt: skip
    results: list[tuple[int, int, int] | None] = [None] * T
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            results[t] = _thread(t, *args)
        except BaseException as e:  # the others must not wait for this thread forever
            errors.append(e)
            sync[T * _SYNC_STRIDE] = 1

    helpers = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(1, T)]
    for h in helpers:
        h.start()
    work(0)
    for h in helpers:
        h.join()
    if errors:
        raise errors[0]
    done = [r for r in results if r is not None]
    assert len(done) == T and len({(r[0], r[1]) for r in done}) == 1, "threads out of step"
    return done[0][0], done[0][1], np.array([r[2] for r in done], np.int64)
