"""Fused forward + hand-written backward (adjoint) of `simulate` for gradients with respect to the
weights: the forward is hil.sim.fused (recording u, the timer and the results of the exp and log
of every sub-step, hil.sim.fused.KEPT_ROWS, and the per-bin membrane inputs), the backward one
numba kernel per (instance, batch) pair that walks the
bins in reverse through exactly the chain rule torch's autograd applies to dynamics.step:
the same surrogate, the same clamp/minimum conventions, the reset and refractory timing outside the
gradient, the gradient through the membrane's feedback term scaled by feedback_grad and the one to
recurrent spikes by rec_grad. It returns dL/d(drive) per bin,
from which dL/dW_in = X^T G and dL/dW_rec = S_prev^T G are two sparse products (inputs and spikes
are sparse). The gradient carried back through W_rec (g W_rec^T per bin) is summed with fused
multiply-adds, one rounding per term, in the same order in the sparse and the dense loops.

Scope (simulate falls back to the torch path otherwise): float32 on the CPU, weights shared by all
instances, no parameter, input or initial-state gradient, no NMDA synapse (its voltage gate is not
written out), no spike times. The final state it returns carries no gradient.
Shapes: I instances, B batch, T bins, J sub-steps per bin, N neurons, K types, M = K N.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import torch
from numba import njit, prange

from hil.errors import ConfigError
from hil.sim.dynamics import Constants
from hil.sim.fastmath32 import fma32
from hil.sim.fused import KEPT, _pair, run_fused, torch_threads
from hil.sim.records import State

F = np.float32
_0, _1, _HALF, _1P5, _2 = F(0), F(1), F(0.5), F(1.5), F(2)


@njit(cache=True, error_model="numpy", inline="always")
def _bin_backward(  # noqa: PLR0913, PLR0915
    t: int,
    gout: np.ndarray,  # (T, N) dL/d counts
    rec_ut: np.ndarray,  # (T, J, KEPT, N) each sub-step's hil.sim.fused.KEPT_ROWS
    rec_bsa: np.ndarray,  # (T, 3, N) base, sink, a
    syn_jump: np.ndarray,  # (K, N)
    syn_decay: np.ndarray,
    syn_mean: np.ndarray,
    nrn: np.ndarray,  # (14, N), rows as hil.sim.fused._NEURON_ROWS
    rows: np.ndarray,  # (4,) AMPA, NMDA, GABA, SHUNT rows, K: absent
    io: np.float32,
    gamma: np.float32,
    h: np.float32,
    has_ahp: bool,
    fbg: np.float32,  # feedback_grad: scale of the gradient through the feedback term
    gu: np.ndarray,  # (N,) dL/d u after bin t, updated to before it
    gisyn: np.ndarray,  # (K, N) dL/d isyn after bin t's decay, updated
    giahp: np.ndarray,  # (N,) dL/d iahp at the start of bin t + 1, updated
    gnext: np.ndarray,  # (N,) dL/d counts of bin t through bin t + 1's recurrent drive
    gmean: np.ndarray,  # (K + 1, N) scratch
    gd: np.ndarray,  # (K N,) output: dL/d drive of bin t
) -> None:
    """One bin of one (instance, batch) pair in reverse: dynamics.step's chain rule."""
    N = gu.shape[0]
    J = rec_ut.shape[1]
    K = syn_jump.shape[0]
    inv_tau, inv_itau, ig = nrn[0], nrn[2], nrn[3]
    gain, u_th = nrn[4], nrn[8]
    ahp_jump, ahp_decay, ahp_mean = nrn[10], nrn[11], nrn[12]
    r_ampa, r_gaba, r_shunt = rows[0], rows[2], rows[3]
    # fresh local copies: LLVM knows they alias nothing, so the sub-step loop vectorizes
    lu = gu.copy()
    gc, gminf, ga = (
        np.empty(N, dtype=np.float32),
        np.empty(N, dtype=np.float32),
        np.empty(N, dtype=np.float32),
    )
    ut = rec_ut[t]
    for n in range(N):
        g = gout[t, n] + gnext[n]
        if has_ahp:  # iahp' = iahp decay + jump count
            g += giahp[n] * ahp_jump[n]
        gc[n] = g
        gminf[n] = _0
        ga[n] = _0
    for j in range(J - 1, -1, -1):
        # one-dimensional rows: indexed ut[j, r, n] in the loop, six rows, it stopped vectorizing
        u_j, tm_j, cur_j = ut[j, 0], ut[j, 1], ut[j, 2]
        fbk_j, lg_j, cn_j = ut[j, 3], ut[j, 4], ut[j, 5]
        for n in range(N):
            un = u_j[n]
            tm = tm_j[n]
            base, sink, a = rec_bsa[t, 0, n], rec_bsa[t, 1, n], rec_bsa[t, 2, n]
            act = min(max(h - tm, _0), h)
            # forward, as dynamics.membrane_substep (no NMDA); its exp and log as the forward kept
            cur, fbk, lg, cn = cur_j[n], fbk_j[n], lg_j[n], cn_j[n]
            minf = gain[n] * (max(base, _0) - sink)
            den = cur + ig[n]
            force = (minf - a * cur) + fbk * den
            jac = (fbk - a) * cur / den + gamma * fbk
            hk = act * inv_tau[n]
            z = hk * jac
            phi = _1 / (_1 - _HALF * min(z, _1P5))
            dy = hk * force * phi
            y = (cur + ig[n] * un) + dy
            A = un + dy / den
            q = max(y, io) / io
            u1p = min(A, lg)
            u1 = max(u1p, _0)
            D = cn + ig[n]
            Nn = (cn + ig[n] * u1) - y
            u2p = u1 - Nn / D
            u2 = max(u2p, _0)
            x = u2 - u_th[n]
            sd = _1 if x >= _0 else _0
            # backward
            sg = _1 + abs(x)
            g2 = lu[n] * (_1 - sd) + _HALF * gc[n] / (sg * sg)  # unit-area surrogate
            g2 = g2 if u2p >= _0 else _0
            g1 = g2 * (Nn * cn / (D * D))
            gy = g2 / D
            g1 = g1 if u1p >= _0 else _0
            if A < lg:
                gA, gL = g1, _0
            elif A > lg:
                gA, gL = _0, g1
            else:
                gA, gL = g1 / _2, g1 / _2
            if y >= io:
                gy += gL / q / io
            gun = gA
            gdy = gA / den + gy
            gden = -gA * dy / (den * den)
            gcur = gy
            gun += ig[n] * gy
            gforce = gdy * hk * phi
            gphi = gdy * hk * force
            gz = gphi * _HALF * phi * phi if z <= _1P5 else _0
            gjac = gz * hk
            gfbk = gjac * (cur / den + gamma)
            gcur += gjac * (fbk - a) / den
            gden -= gjac * (fbk - a) * cur / (den * den)
            gan = -gjac * cur / den
            gminf[n] += gforce
            gcur -= a * gforce
            gfbk += fbg * gforce * den  # feedback term fbk den, scaled by feedback_grad
            gden += fbg * gforce * fbk
            gan -= gforce * cur
            ga[n] += gan
            gun += gfbk * gamma * fbk
            gcur += gden
            gun += gcur * cur
            lu[n] = gun
    for n in range(N):
        base, sink = rec_bsa[t, 0, n], rec_bsa[t, 1, n]
        gb = gain[n] * gminf[n] if base > _0 else _0
        gs = -gain[n] * gminf[n]
        gmean[r_ampa, n] = gb
        gmean[r_shunt, n] = -gb
        gmean[r_gaba, n] = gs
        if has_ahp:  # a = 1 + ahp / Itau, sink = Itau + (ahp + gaba), ahp = iahp mean
            gahp = ga[n] * inv_itau[n] + gs
            giahp[n] = gahp * ahp_mean[n] + giahp[n] * ahp_decay[n]
    for k in range(K):
        for n in range(N):  # isyn = prev + jump drive; mean = isyn m; next = isyn decay
            g = gmean[k, n] * syn_mean[k, n] + gisyn[k, n] * syn_decay[k, n]
            gisyn[k, n] = g
            gd[k * N + n] = g * syn_jump[k, n]
    for n in range(N):
        gu[n] = lu[n]


@njit(cache=True, error_model="numpy")
def _segment_backward(  # noqa: PLR0913
    t0: int,
    t1: int,
    p0: int,
    gout: np.ndarray,  # (I, B, T, N)
    out: np.ndarray,  # (I, B, T, N) counts
    spikes0: np.ndarray,  # (I, B, N)
    x: np.ndarray,  # (B, T, Nin)
    ev_ptr: np.ndarray,  # (B, T + 1) and
    ev_ch: np.ndarray,  # x's channels with events (hil.sim.fused.events)
    w_rec_t: np.ndarray,  # (M, N) W_rec transposed, or (N, N) merged (see `merged_types`)
    merged: bool,
    has_rec: bool,
    gcsr: tuple,  # (indptr, cols, vals) of W_rec for g W_rec^T, in w_rec_t's order, or empty
    rec_grad: np.float32,
    seg_ut: np.ndarray,  # (nb, every, J, KEPT, N) the segment's recomputed records
    seg_bsa: np.ndarray,  # (nb, every, 3, N)
    syn_jump: np.ndarray,  # (I, K, N)
    syn_decay: np.ndarray,
    syn_mean: np.ndarray,
    nrn: np.ndarray,  # (I, 14, N)
    rows: np.ndarray,
    io: np.float32,
    gamma: np.float32,
    h: np.float32,
    has_ahp: bool,
    fbg: np.float32,
    gu: np.ndarray,  # (nb, N) adjoint state of the block's pairs, updated
    gisyn: np.ndarray,  # (nb, K, N)
    giahp: np.ndarray,  # (nb, N)
    gnext: np.ndarray,  # (nb, N)
    gd: np.ndarray,  # (nb, M)
    gmean: np.ndarray,  # (K + 1, N) scratch
    gi: np.ndarray,  # (Nin, M) dL/dW_in of the block, accumulated
    gr: np.ndarray,  # (N, M) dL/dW_rec of the block, accumulated
) -> None:
    """Bins t1 - 1 down to t0 of the pairs p0 .. p0 + nb of one block, in lockstep. A function of
    its own, with the records as arguments: compiled inside _block (next to the recompute) its
    sub-step loop ran ~5x slower (it stopped vectorizing)."""
    B, N = out.shape[1], out.shape[3]
    M = gd.shape[1]
    nb = gu.shape[0]
    ptr, cols, vals = gcsr[0], gcsr[1], gcsr[2]
    use_csr = ptr.shape[0] > 0
    who = np.empty(N, dtype=np.int64)
    for t in range(t1 - 1, t0 - 1, -1):
        for pp in range(nb):
            i = (p0 + pp) // B
            b = (p0 + pp) % B
            _bin_backward(
                t - t0, gout[i, b, t0:t1], seg_ut[pp], seg_bsa[pp], syn_jump[i],
                syn_decay[i], syn_mean[i], nrn[i], rows, io, gamma, h, has_ahp, fbg, gu[pp],
                gisyn[pp], giahp[pp], gnext[pp], gmean, gd[pp],
            )  # fmt: skip
            gdp = gd[pp]
            xt = x[b, t]
            for ev in range(ev_ptr[b, t], ev_ptr[b, t + 1]):  # dL/dW_in += x_t^T gd (events)
                c = ev_ch[ev]
                v = xt[c]
                row = gi[c]
                for m in range(M):
                    row[m] += v * gdp[m]
            if has_rec:  # dL/dW_rec += s_(t-1)^T gd over last bin's spikes, ascending
                prev = out[i, b, t - 1] if t > 0 else spikes0[i, b]
                ns = 0
                for n in range(N):  # no branch to mispredict
                    who[ns] = n
                    ns += 1 if prev[n] != _0 else 0
                for e in range(ns):
                    n = who[e]
                    v = prev[n]
                    row = gr[n]
                    for m in range(M):
                        row[m] += v * gdp[m]
        for pp in range(nb):
            gn = gnext[pp]
            for n in range(N):
                gn[n] = _0
        # gnext = (gd rec_grad) W_rec^T, each sum in the order of w_rec_t's rows (m ascending, or
        # merged: post ascending), one fused multiply-add (one rounding) per term in both the
        # sparse and the dense loops, so that they agree bit for bit (a zero weight's term
        # fma(0, g, acc) = acc adds nothing)
        if has_rec and rec_grad != _0 and use_csr:  # the same sums over the non-zeros
            for pp in range(nb):
                gn = gnext[pp]
                gdp = gd[pp]
                for n in range(N):
                    acc = _0
                    for e in range(ptr[n], ptr[n + 1]):
                        acc = fma32(vals[e], gdp[cols[e]] * rec_grad, acc)  # type: ignore[call-arg]
                    gn[n] = acc
        elif has_rec and rec_grad != _0 and merged:
            # one N x N pass: row q of w_rec_t holds +w where the pair's synapse is type 0 and -w
            # where it is type 1, whose term (-w) (-g) equals w g exactly; four rows per pass
            q4 = N - N % 4
            for q in range(0, q4, 4):
                w0, w1, w2, w3 = w_rec_t[q], w_rec_t[q + 1], w_rec_t[q + 2], w_rec_t[q + 3]
                for pp in range(nb):
                    gdp = gd[pp]
                    a0, a1 = gdp[q] * rec_grad, gdp[q + 1] * rec_grad
                    a2, a3 = gdp[q + 2] * rec_grad, gdp[q + 3] * rec_grad
                    b0, b1 = -(gdp[N + q] * rec_grad), -(gdp[N + q + 1] * rec_grad)
                    b2, b3 = -(gdp[N + q + 2] * rec_grad), -(gdp[N + q + 3] * rec_grad)
                    gn = gnext[pp]
                    for n in range(N):
                        x0, x1, x2, x3 = w0[n], w1[n], w2[n], w3[n]
                        v = fma32(x0, a0 if x0 > _0 else b0, gn[n])  # type: ignore[call-arg]
                        v = fma32(x1, a1 if x1 > _0 else b1, v)
                        v = fma32(x2, a2 if x2 > _0 else b2, v)
                        gn[n] = fma32(x3, a3 if x3 > _0 else b3, v)
            for q in range(q4, N):
                w = w_rec_t[q]
                for pp in range(nb):
                    a = gd[pp, q] * rec_grad
                    b = -(gd[pp, N + q] * rec_grad)
                    gn = gnext[pp]
                    for n in range(N):
                        x0 = w[n]
                        gn[n] = fma32(x0, a if x0 > _0 else b, gn[n])  # type: ignore[call-arg]
        elif has_rec and rec_grad != _0:  # counts of bin t - 1 reach bin t through W_rec
            # four rows of W_rec^T per pass over gnext: a quarter of its loads and stores, the
            # same operations in the same order (m ascending) as one row at a time
            m4 = M - M % 4
            for m in range(0, m4, 4):
                w0, w1, w2, w3 = w_rec_t[m], w_rec_t[m + 1], w_rec_t[m + 2], w_rec_t[m + 3]
                for pp in range(nb):
                    gdp = gd[pp]
                    g0, g1 = gdp[m] * rec_grad, gdp[m + 1] * rec_grad
                    g2, g3 = gdp[m + 2] * rec_grad, gdp[m + 3] * rec_grad
                    gn = gnext[pp]
                    for n in range(N):
                        v = fma32(w1[n], g1, fma32(w0[n], g0, gn[n]))  # type: ignore[call-arg]
                        gn[n] = fma32(w3[n], g3, fma32(w2[n], g2, v))
            for m in range(m4, M):
                w = w_rec_t[m]
                for pp in range(nb):
                    g = gd[pp, m] * rec_grad
                    gn = gnext[pp]
                    for n in range(N):
                        gn[n] = fma32(w[n], g, gn[n])  # type: ignore[call-arg]


@njit(cache=True, error_model="numpy")
def _block(  # noqa: PLR0913, PLR0915
    gout: np.ndarray,  # (I, B, T, N)
    out: np.ndarray,  # (I, B, T, N) counts
    spikes0: np.ndarray,  # (I, B, N) counts before the first bin
    x: np.ndarray,  # (B, T, Nin) input counts
    ev_ptr: np.ndarray,  # (B, T + 1) and
    ev_ch: np.ndarray,  # x's channels with events (hil.sim.fused.events)
    w_in: np.ndarray,  # (Nin, M) input weight currents [A]
    w_rec: np.ndarray,  # (N, M) recurrent weight currents [A]
    w_rec_t: np.ndarray,  # (M, N) W_rec transposed, or (N, N) merged (see `merged_types`)
    merged: bool,
    has_rec: bool,
    csr: tuple,  # (indptr, cols, vals) of w_rec (hil.sim.sparse.fanout), or empty: dense rows
    gcsr: tuple,  # the same entries in w_rec_t's order, for g W_rec^T
    rec_grad: np.float32,
    noise: np.ndarray,  # (I, B, T, N) or (I, B, 1, N) zeros
    has_noise: bool,
    ck_state: np.ndarray,  # (I, B, S, 3 + K, N) state at every `every`-th bin start
    every: int,
    t_end: np.ndarray,
    syn_jump: np.ndarray,  # (I, K, N)
    syn_decay: np.ndarray,
    syn_mean: np.ndarray,
    nrn: np.ndarray,  # (I, 14, N)
    rows: np.ndarray,
    io: np.float32,
    gamma: np.float32,
    h: np.float32,
    has_ahp: bool,
    fbg: np.float32,
    blocks: int,
    g_in: np.ndarray,  # (blocks, Nin, M) output: dL/dW_in per block of pairs
    g_rec: np.ndarray,  # (blocks, N, M) output: dL/dW_rec per block of pairs
    blk: int,
) -> None:
    """One block of pairs (see _backward); a function of its own so that its loops vectorize.

    Segment by segment from the last: each pair's forward is recomputed from its checkpoint over
    the segment's `every` bins (hil.sim.fused._pair, recording u, timer, base, sink and a), then
    the segment's bins are walked in reverse (_segment_backward)."""
    n_inst, B, T, N = out.shape
    K = syn_jump.shape[1]
    M = K * N
    Nin = x.shape[2]
    J = t_end.shape[0]
    P = n_inst * B
    p0 = blk * P // blocks
    p1 = (blk + 1) * P // blocks
    nb = p1 - p0
    gu = np.zeros((nb, N), dtype=np.float32)
    gisyn = np.zeros((nb, K, N), dtype=np.float32)
    giahp = np.zeros((nb, N), dtype=np.float32)
    gnext = np.zeros((nb, N), dtype=np.float32)
    gd = np.zeros((nb, M), dtype=np.float32)
    gmean = np.zeros((K + 1, N), dtype=np.float32)
    seg_ut = np.empty((nb, every, J, KEPT, N), dtype=np.float32)
    seg_bsa = np.empty((nb, every, 3, N), dtype=np.float32)
    seg_out = np.empty((every, N), dtype=np.float32)
    no_first = np.empty((0, N), dtype=np.float32)
    no_ck = np.empty((0, 3 + K, N), dtype=np.float32)
    ui = np.empty(N, dtype=np.float32)
    ti = np.empty(N, dtype=np.float32)
    hi = np.empty(N, dtype=np.float32)
    si = np.empty((K, N), dtype=np.float32)
    sp = np.empty(N, dtype=np.float32)
    gi, gr = g_in[blk], g_rec[blk]
    for q in range(Nin):
        for m in range(M):
            gi[q, m] = _0
    for q in range(N):
        for m in range(M):
            gr[q, m] = _0
    for seg in range(ck_state.shape[2] - 1, -1, -1):
        t0 = seg * every
        t1 = min(T, t0 + every)
        for pp in range(nb):  # recompute the segment's forward from the checkpoint
            i = (p0 + pp) // B
            b = (p0 + pp) % B
            ck = ck_state[i, b, seg]
            for n in range(N):
                ui[n] = ck[0, n]
                ti[n] = ck[1, n]
                hi[n] = ck[2, n]
                sp[n] = out[i, b, t0 - 1, n] if t0 > 0 else spikes0[i, b, n]
            for k in range(K):
                for n in range(N):
                    si[k, n] = ck[3 + k, n]
            nz = noise[i, b, t0:t1] if has_noise else noise[i, b]
            _pair(
                x[b, t0:t1], ev_ptr[b, t0 : t1 + 1], ev_ch, w_in, w_rec, has_rec, csr, nz,
                has_noise, syn_jump[i], syn_decay[i], syn_mean[i], nrn[i], rows, io, gamma, h,
                t_end, has_ahp, False, ui, ti, si, hi, sp, seg_out[: t1 - t0], no_first,
                seg_ut[pp], seg_bsa[pp], no_ck, every,
            )  # fmt: skip
        _segment_backward(
            t0, t1, p0, gout, out, spikes0, x, ev_ptr, ev_ch, w_rec_t, merged, has_rec, gcsr, rec_grad,
            seg_ut, seg_bsa,
            syn_jump, syn_decay, syn_mean, nrn, rows, io, gamma, h, has_ahp, fbg, gu, gisyn,
            giahp, gnext, gd, gmean, gi, gr,
        )  # fmt: skip


@njit(parallel=True, cache=True, error_model="numpy", nogil=True)
def _backward(  # noqa: PLR0913
    gout: np.ndarray,  # (I, B, T, N)
    out: np.ndarray,  # (I, B, T, N) counts
    spikes0: np.ndarray,  # (I, B, N) counts before the first bin
    x: np.ndarray,  # (B, T, Nin) input counts
    ev_ptr: np.ndarray,  # (B, T + 1) and
    ev_ch: np.ndarray,  # x's channels with events (hil.sim.fused.events)
    w_in: np.ndarray,  # (Nin, M)
    w_rec: np.ndarray,  # (N, M)
    w_rec_t: np.ndarray,  # (M, N) W_rec transposed, or (N, N) merged (see `merged_types`)
    merged: bool,
    has_rec: bool,
    csr: tuple,
    gcsr: tuple,
    rec_grad: np.float32,
    noise: np.ndarray,
    has_noise: bool,
    ck_state: np.ndarray,
    every: int,
    t_end: np.ndarray,
    syn_jump: np.ndarray,  # (I, K, N)
    syn_decay: np.ndarray,
    syn_mean: np.ndarray,
    nrn: np.ndarray,  # (I, 14, N)
    rows: np.ndarray,
    io: np.float32,
    gamma: np.float32,
    h: np.float32,
    has_ahp: bool,
    fbg: np.float32,
    blocks: int,
    g_in: np.ndarray,  # (blocks, Nin, M) output: dL/dW_in per block of pairs
    g_rec: np.ndarray,  # (blocks, N, M) output: dL/dW_rec per block of pairs
) -> None:
    """Pairs in `blocks` blocks, in parallel; the pairs of a block walk the bins in lockstep so
    that W_rec is read once per bin for all of them (rec_grad > 0)."""
    for blk in prange(blocks):
        _block(gout, out, spikes0, x, ev_ptr, ev_ch, w_in, w_rec, w_rec_t, merged, has_rec, csr, gcsr, rec_grad, noise, has_noise, ck_state, every, t_end, syn_jump, syn_decay, syn_mean, nrn, rows, io, gamma, h, has_ahp, fbg, blocks, g_in, g_rec, blk)  # fmt: skip


# bins between the checkpoints the forward keeps; the backward recomputes each segment from one
CHECKPOINT_BINS = 16


class _Adjoint(torch.autograd.Function):
    """counts = simulate(...) as a function of W_in (Nin, M) and W_rec (N, M)."""

    @staticmethod
    def forward(ctx, w_in, w_rec, k, state, x, noise, rec_grad, feedback_grad, sparse, box):  # noqa: ANN001, ANN205, PLR0913
        has_rec = w_rec is not None
        state, counts, _, arr = run_fused(
            k, state, x, w_in.detach()[None], w_rec.detach()[None] if has_rec else None, noise,
            times=False, checkpoint=CHECKPOINT_BINS, sparse=sparse,
        )  # fmt: skip
        ctx.k, ctx.arr, ctx.rec_grad, ctx.has_rec = k, arr, rec_grad, has_rec
        ctx.feedback_grad = feedback_grad
        ctx.x = x
        ctx.save_for_backward(counts, w_in.detach(), w_rec.detach() if has_rec else None)
        box.append(state)
        return counts

    @staticmethod
    def backward(ctx, gout):  # noqa: ANN001, ANN205
        counts, w_in, w_rec = ctx.saved_tensors
        k, arr = ctx.k, ctx.arr
        n_inst, B, T, N = counts.shape
        M = len(k.types) * N
        if ctx.has_rec:
            w_r = np.ascontiguousarray(w_rec.numpy())
            w_t, merged, gcsr = recurrent_transpose(w_r, len(k.types), arr["csr"][:3])
        else:
            w_r = np.zeros((N, M), dtype=np.float32)
            w_t, merged, gcsr = np.zeros((M, N), dtype=np.float32), False, arr["csr"][:3]
        with torch_threads() as threads:
            numba.set_num_threads(threads)
            blocks = min(threads, n_inst * B)
            x = ctx.x[0].numpy()  # (B, T, Nin), shared by the instances
            g_in = np.empty((blocks, x.shape[2], M), dtype=np.float32)
            g_rec = np.empty((blocks, N, M), dtype=np.float32)
            noise = arr["noise"]
            _backward(
                np.ascontiguousarray(gout.to(torch.float32).numpy()), counts.numpy(), arr["spikes0"],
                np.ascontiguousarray(x), arr["events"][0][0], arr["events"][1],
                np.ascontiguousarray(w_in.numpy()), w_r, w_t, merged,
                ctx.has_rec, arr["csr"], gcsr, np.float32(ctx.rec_grad), noise, bool(arr["has_noise"]), arr["ck_state"], arr["every"], arr["t_end"], arr["syn_jump"],
                arr["syn_decay"], arr["syn_mean"], arr["nrn"], arr["rows"], np.float32(k.Io),
                np.float32(k.gamma), np.float32(k.h), k.has_ahp, np.float32(ctx.feedback_grad),
                blocks, g_in, g_rec,
            )  # fmt: skip
        g_in = torch.from_numpy(g_in.sum(0)) if ctx.needs_input_grad[0] else None
        g_rec = torch.from_numpy(g_rec.sum(0)) if ctx.has_rec and ctx.needs_input_grad[1] else None
        return g_in, g_rec, None, None, None, None, None, None, None, None


def recurrent_transpose(w_rec: np.ndarray, n_types: int, csr: tuple) -> tuple:
    """What the backward's g W_rec^T reads: (w_t, merged, gcsr).

    w_rec (N, K N) weight currents [A] over the simulated types; csr: its compressed rows
    (hil.sim.sparse.fanout) or empty arrays (dense rows). Where K = 2, every weight is >= 0 and no
    (pre, post) pair has both types (signed weights: DynapNet, Weights.from_signed), w_t is one
    signed (N, N) matrix, merged = True: w_t[post, pre] = +w of type 0, -w of type 1, and each sum
    runs over post ascending, half the rows of the two type halves; gcsr holds csr's entries in
    that order (post ascending within each row) so that the sparse loop adds the same terms in
    the same order. Elsewhere w_t = w_rec^T (K N, N), merged = False, gcsr = csr."""
    N = w_rec.shape[0]
    pos = w_rec >= 0
    if n_types != 2 or not pos.all() or ((w_rec[:, :N] != 0) & (w_rec[:, N:] != 0)).any():
        return np.ascontiguousarray(w_rec.T), False, csr
    w_t = np.ascontiguousarray((w_rec[:, :N] - w_rec[:, N:]).T)
    ptr, cols, vals = csr
    if ptr.shape[0] == 0:
        return w_t, True, csr
    rows = np.repeat(np.arange(N), np.diff(ptr))
    order = np.lexsort((cols % N, rows))
    return w_t, True, (ptr, np.ascontiguousarray(cols[order]), np.ascontiguousarray(vals[order]))


def adjoint_applies(k: Constants, weights_shared: bool, times: bool) -> bool:
    """Whether `run_adjoint` covers a run (see the module docstring)."""
    return weights_shared and not times and k.slot(1) is None


def run_adjoint(
    k: Constants,
    state: State,
    x: torch.Tensor,
    w_in: torch.Tensor,
    w_rec: torch.Tensor | None,
    noise: torch.Tensor | None,
    rec_grad: float,
    feedback_grad: float = 0.0,
    sparse: bool | None = None,
) -> tuple[State, torch.Tensor]:
    """Differentiable (in w_in (Nin, M) and w_rec (N, M)) fused run of x (1, B, T, Nin):
    (final state without gradient, counts (I, B, T, N))."""
    box: list[State] = []
    counts = _Adjoint.apply(
        w_in, w_rec, k, state.detach(), x, noise, float(rec_grad), float(feedback_grad), sparse, box
    )
    return box[0], counts


def saved_bytes(counts: torch.Tensor) -> int:
    """Bytes the forward that produced `counts` (run_adjoint's output) keeps for its backward (the
    kernel's checkpoints and arrays, the tensors saved in the autograd context, the counts among
    them), plus the segment buffers the backward allocates while it runs."""
    node: Any = counts.grad_fn  # the _Adjoint context
    if node is None or not hasattr(node, "arr"):
        raise ConfigError("counts", "a tensor", "the output of run_adjoint, before its backward")
    values = [v for x in node.arr.values() for v in (x if isinstance(x, tuple) else (x,))]
    arrays = [a for a in values if isinstance(a, np.ndarray)]
    tensors = [t for t in node.saved_tensors if t is not None]
    n_inst, B, _, N = counts.shape
    J = node.k.substeps
    segments = n_inst * B * CHECKPOINT_BINS * (KEPT * J + 3) * N * 4
    kept = sum(a.nbytes for a in arrays) + sum(t.numel() * t.element_size() for t in tensors)
    return kept + segments
