"""The fused forward: the whole time loop of `simulate` in one numba kernel, for runs that need no
gradient (the Board, evaluation, mismatch sweeps).

Same equations, same integration scheme and the same float32 operations, in the same order, as
`dynamics.step` / `dynamics.membrane_substep` (docs/sim.md); differences are confined to the last
bits of exp/log (libm here, SLEEF in torch) and to the summation order of the weight rows. Each
(instance, batch) pair runs its own time loop, in parallel (numba prange); the input and recurrent
drive sum only the rows of channels and neurons that carry spikes in the bin (inputs ~2 %, spikes
~3 % dense on the benchmark network) instead of a dense matrix product; the channels with events are
listed once per input row (`events`), not by every instance that reads the row.

Shapes: I instances, B batch, T bins, N neurons, K simulated synapse types, Nin input channels.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numba
import numpy as np
import torch
from numba import njit, prange

from hil.errors import ConfigError
from hil.sim.dynamics import Constants
from hil.sim.fastmath32 import exp32, log32
from hil.sim.records import AMPA, GABA, NMDA, SHUNT, State
from hil.sim.sparse import fanout, no_csr, use_sparse

F = np.float32
_0, _1, _HALF, _1P5, _MIN_DU = F(0), F(1), F(0.5), F(1.5), F(1e-6)
_INF = F(np.inf)
_TINY = F(np.finfo(np.float32).tiny)  # smallest normal float32; smaller values are flushed to 0


@njit(inline="always", error_model="numpy")
def _substep(  # noqa: PLR0913
    un: np.float32,
    tm: np.float32,
    f: np.float32,
    base: np.float32,
    sink: np.float32,
    a: np.float32,
    m_nmda: np.float32,
    if_nmda: np.float32,
    gain: np.float32,
    ig: np.float32,
    fb: np.float32,
    inv_tau: np.float32,
    u_th: np.float32,
    t_ref: np.float32,
    io: np.float32,
    gamma: np.float32,
    h: np.float32,
    te: np.float32,
    has_nmda: bool,
) -> tuple:
    """One membrane sub-step of one neuron: dynamics.membrane_substep, operation for operation
    (without an NMDA synapse its gated term, an exact 0, is skipped: two divisions of the eight).
    From u, timer and first spike time before it: (u, timer, first spike time, fired) after it
    and cur, fbk, lg, cn (see KEPT_ROWS)."""
    act = min(max(h - tm, _0), h)
    tm = max(tm - h, _0)
    cur = io * exp32(un)
    drive = base + m_nmda / (_1 + if_nmda / cur) if has_nmda else base
    minf = gain * (max(drive, _0) - sink)
    den = cur + ig
    fbk = fb * exp32(gamma * un)
    force = (minf - a * cur) + fbk * den
    jac = (fbk - a) * cur / den + gamma * fbk
    hk = act * inv_tau
    phi = _1 / (_1 - _HALF * min(hk * jac, _1P5))
    dy = hk * force * phi
    y = (cur + ig * un) + dy
    lg = log32(max(y, io) / io)
    unew = max(min(un + dy / den, lg), _0)
    cn = io * exp32(unew)
    unew = max(unew - ((cn + ig * unew) - y) / (cn + ig), _0)
    fired = unew - u_th >= _0
    frac = min(max((u_th - un) / max(unew - un, _MIN_DU), _0), _1)
    tm = tm + ((t_ref - (_1 - frac) * act) - tm) if fired else tm
    f = (te - act) + frac * act if fired and f == _INF else f
    return _0 if fired else unew, tm, f, fired, cur, fbk, lg, cn


@njit(cache=True, error_model="numpy")
def _membrane(  # noqa: PLR0913
    ui: np.ndarray,  # (N,) u = ln(Imem / Io), updated
    ti: np.ndarray,  # (N,) refractory timer [s], updated
    fst: np.ndarray,  # (N,) first spike time in the bin [s], +inf: none yet; updated
    count: np.ndarray,  # (N,) spikes in the bin, updated
    base: np.ndarray,
    sink: np.ndarray,
    aa: np.ndarray,
    m_nmda: np.ndarray,
    if_nmda: np.ndarray,
    gain: np.ndarray,
    ig: np.ndarray,
    fb: np.ndarray,
    inv_tau: np.ndarray,
    u_th: np.ndarray,
    t_ref: np.ndarray,
    io: np.float32,
    gamma: np.float32,
    h: np.float32,
    te: np.float32,
    has_nmda: bool,
) -> None:
    """One membrane sub-step of every neuron (`_substep`). A separate function so that it
    vectorizes."""
    for n in range(ui.shape[0]):
        u, tm, f, fired, _, _, _, _ = _substep(
            ui[n], ti[n], fst[n], base[n], sink[n], aa[n], m_nmda[n], if_nmda[n], gain[n], ig[n],
            fb[n], inv_tau[n], u_th[n], t_ref[n], io, gamma, h, te, has_nmda,
        )  # fmt: skip
        ui[n] = u
        ti[n] = tm
        fst[n] = f
        count[n] += _1 if fired else _0


# what the adjoint reads of each sub-step (`_membrane_kept`): u and the refractory timer before
# it, Io e^u, the feedback current, the log bound of the implicit step and Io e^u1 after its first
# stage, so that the backward computes none of the sub-step's exp and log again
KEPT_ROWS = ("u", "timer", "cur", "fbk", "lg", "cn")
KEPT = len(KEPT_ROWS)


@njit(cache=True, error_model="numpy")
def _membrane_kept(  # noqa: PLR0913
    ui: np.ndarray,
    ti: np.ndarray,
    fst: np.ndarray,
    count: np.ndarray,
    base: np.ndarray,
    sink: np.ndarray,
    aa: np.ndarray,
    m_nmda: np.ndarray,
    if_nmda: np.ndarray,
    gain: np.ndarray,
    ig: np.ndarray,
    fb: np.ndarray,
    inv_tau: np.ndarray,
    u_th: np.ndarray,
    t_ref: np.ndarray,
    io: np.float32,
    gamma: np.float32,
    h: np.float32,
    te: np.float32,
    has_nmda: bool,
    k_cur: np.ndarray,  # (N,) outputs: rows cur, fbk, lg, cn of KEPT_ROWS
    k_fbk: np.ndarray,
    k_lg: np.ndarray,
    k_cn: np.ndarray,
) -> None:
    """`_membrane`, also writing the sub-step's cur, fbk, lg and cn. One-dimensional outputs:
    written through one (4, N) array, the loop stopped vectorizing (7x slower)."""
    for n in range(ui.shape[0]):
        u, tm, f, fired, cur, fbk, lg, cn = _substep(
            ui[n], ti[n], fst[n], base[n], sink[n], aa[n], m_nmda[n], if_nmda[n], gain[n], ig[n],
            fb[n], inv_tau[n], u_th[n], t_ref[n], io, gamma, h, te, has_nmda,
        )  # fmt: skip
        ui[n] = u
        ti[n] = tm
        fst[n] = f
        count[n] += _1 if fired else _0
        k_cur[n] = cur
        k_fbk[n] = fbk
        k_lg[n] = lg
        k_cn[n] = cn


@njit(cache=True, error_model="numpy")
def _pair(  # noqa: PLR0913, PLR0915
    xi: np.ndarray,  # (T, Nin) input counts
    ev_ptr: np.ndarray,  # (T + 1,) bin t's channels with events are ev_ch[ev_ptr[t]:ev_ptr[t + 1]]
    ev_ch: np.ndarray,  # channels with events, ascending within each bin (`events`)
    wi: np.ndarray,  # (Nin, K*N) input weight currents [A]
    wr: np.ndarray,  # (N, K*N) recurrent weight currents [A]
    has_rec: bool,
    csr: tuple,  # (indptr (N + 1,), cols, vals) of wr's non-zeros by row, then the same of wi;
    # empty arrays: dense rows
    noise: np.ndarray,  # (T, N) membrane noise current [A], or (1, N) zeros
    has_noise: bool,
    syn_jump: np.ndarray,  # (K, N)
    syn_decay: np.ndarray,
    syn_mean: np.ndarray,
    nrn: np.ndarray,  # (14, N) per-neuron constants, rows as in `_NEURON_ROWS`
    rows: np.ndarray,
    io: np.float32,
    gamma: np.float32,
    h: np.float32,
    t_end: np.ndarray,
    has_ahp: bool,
    times: bool,
    ui: np.ndarray,  # (N,) state of this pair, updated
    ti: np.ndarray,
    si: np.ndarray,  # (K, N)
    hi: np.ndarray,
    sp: np.ndarray,
    out: np.ndarray,  # (T, N) spike counts
    first: np.ndarray,  # (T, N) first spike times [s], or (0, N)
    rec_ut: np.ndarray,  # (T, J, KEPT, N): each sub-step's KEPT_ROWS, or (0, J, KEPT, N)
    rec_bsa: np.ndarray,  # (T, 3, N): base, sink and a of each bin, or (0, 3, N)
    ck_state: np.ndarray,  # (S, 3 + K, N): u, timer, iahp, isyn at every `every`-th bin start
    every: int,
) -> None:
    """The whole time loop of one (instance, batch) pair; records what the adjoint
    (hil.sim.adjoint) needs when rec_ut has rows (at least T), and the state every `every` bins (a
    checkpoint the adjoint recomputes from) when ck_state has rows."""
    record = rec_ut.shape[0] > 0
    checkpoint = ck_state.shape[0] > 0
    ptr, cols, vals, iptr, icols, ivals = csr
    use_csr = ptr.shape[0] > 0
    use_in = iptr.shape[0] > 0
    T, N = out.shape
    K = si.shape[0]
    KN = K * N
    r_ampa, r_nmda, r_gaba, r_shunt = rows[0], rows[1], rows[2], rows[3]
    drv = np.empty(KN, dtype=np.float32)
    rec = np.empty(KN, dtype=np.float32)
    mean = np.zeros((K + 1, N), dtype=np.float32)  # row K stays 0: the absent types
    base = np.empty(N, dtype=np.float32)
    sink = np.empty(N, dtype=np.float32)
    aa = np.empty(N, dtype=np.float32)
    count = np.empty(N, dtype=np.float32)
    fst = np.empty(N, dtype=np.float32)
    who = np.empty(N, dtype=np.int64)  # this bin's spikers
    inv_tau, itau, inv_itau, ig = nrn[0], nrn[1], nrn[2], nrn[3]
    gain, fb, dc, if_nmda = nrn[4], nrn[5], nrn[6], nrn[7]
    u_th, t_ref = nrn[8], nrn[9]
    ahp_jump, ahp_decay, ahp_mean = nrn[10], nrn[11], nrn[12]
    for t in range(T):
        if checkpoint and t % every == 0:
            ck = ck_state[t // every]
            for n in range(N):
                ck[0, n] = ui[n]
                ck[1, n] = ti[n]
                ck[2, n] = hi[n]
            for k in range(K):
                for n in range(N):
                    ck[3 + k, n] = si[k, n]
        # drive: input rows of the channels with events, plus rows of last bin's spikers
        for q in range(KN):
            drv[q] = _0
        if use_in:  # only the synapses of the channels with events, in the dense order
            for ev in range(ev_ptr[t], ev_ptr[t + 1]):
                c = ev_ch[ev]
                xc = xi[t, c]
                for e in range(iptr[c], iptr[c + 1]):
                    drv[icols[e]] += xc * ivals[e]
        else:
            for ev in range(ev_ptr[t], ev_ptr[t + 1]):
                c = ev_ch[ev]
                xc = xi[t, c]
                row = wi[c]
                for q in range(KN):
                    drv[q] += xc * row[q]
        if has_rec:
            ns = 0
            for p in range(N):  # last bin's spikers, ascending; no branch to mispredict
                who[ns] = p
                ns += 1 if sp[p] != _0 else 0
            for q in range(KN):
                rec[q] = _0
            if use_csr:  # only the synapses of the spikers, in the dense order (by row)
                for e0 in range(ns):
                    p = who[e0]
                    sc = sp[p]
                    for e in range(ptr[p], ptr[p + 1]):
                        rec[cols[e]] += sc * vals[e]
            else:  # four spikers' rows per pass over rec: the same additions in the same order
                n4 = ns - ns % 4
                for e in range(0, n4, 4):
                    p0, p1, p2, p3 = who[e], who[e + 1], who[e + 2], who[e + 3]
                    s0, s1, s2, s3 = sp[p0], sp[p1], sp[p2], sp[p3]
                    r0, r1, r2, r3 = wr[p0], wr[p1], wr[p2], wr[p3]
                    for q in range(KN):
                        rec[q] = (((rec[q] + s0 * r0[q]) + s1 * r1[q]) + s2 * r2[q]) + s3 * r3[q]
                for e in range(n4, ns):
                    sc = sp[who[e]]
                    row = wr[who[e]]
                    for q in range(KN):
                        rec[q] += sc * row[q]
            for q in range(KN):
                drv[q] = drv[q] + rec[q]
        for k in range(K):
            jk, mk, dk, sk, mo = syn_jump[k], syn_mean[k], syn_decay[k], si[k], mean[k]
            for n in range(N):
                v = sk[n] + jk[n] * drv[k * N + n]
                mo[n] = v * mk[n]
                v = v * dk[n]
                sk[n] = v if abs(v) >= _TINY else _0  # torch flushes denormals too
        m_ampa, m_nmda, m_gaba, m_shunt = mean[r_ampa], mean[r_nmda], mean[r_gaba], mean[r_shunt]
        zt = noise[t if has_noise else 0]
        # absent terms are exact zeros here (x + 0 = x), where torch skips them
        for n in range(N):
            ahp = hi[n] * ahp_mean[n]
            aa[n] = _1 + ahp * inv_itau[n]
            sink[n] = itau[n] + (ahp + m_gaba[n])
            base[n] = ((m_ampa[n] + dc[n]) - m_shunt[n]) + zt[n]
            count[n] = _0
            fst[n] = _INF
        if record:
            for n in range(N):
                rec_bsa[t, 0, n] = base[n]
                rec_bsa[t, 1, n] = sink[n]
                rec_bsa[t, 2, n] = aa[n]
        for j in range(t_end.shape[0]):
            if record:
                kt = rec_ut[t, j]
                for n in range(N):
                    kt[0, n] = ui[n]
                    kt[1, n] = ti[n]
                _membrane_kept(
                    ui, ti, fst, count, base, sink, aa, m_nmda, if_nmda, gain, ig, fb, inv_tau,
                    u_th, t_ref, io, gamma, h, t_end[j], r_nmda < K, kt[2], kt[3], kt[4], kt[5],
                )  # fmt: skip
            else:
                _membrane(
                    ui, ti, fst, count, base, sink, aa, m_nmda, if_nmda, gain, ig, fb, inv_tau,
                    u_th, t_ref, io, gamma, h, t_end[j], r_nmda < K,
                )  # fmt: skip
        if has_ahp:
            for n in range(N):
                v = hi[n] * ahp_decay[n] + ahp_jump[n] * count[n]
                hi[n] = v if abs(v) >= _TINY else _0
        ot = out[t]
        for n in range(N):
            sp[n] = count[n]
            ot[n] = count[n]
        if times:
            ft = first[t]
            for n in range(N):
                ft[n] = fst[n]


@njit(parallel=True, cache=True, error_model="numpy", nogil=True)
def events(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The channels with events of input counts x (Ix, B, T, Nin): (ptr (Ix, B, T + 1), ch), bin t
    of row (ix, b) has events on channels ch[ptr[ix, b, t]:ptr[ix, b, t + 1]], ascending. Found
    once per input row here rather than by every (instance, batch) pair that reads the row."""
    Ix, B, T, Nin = x.shape
    n = np.zeros(Ix * B * T + 1, dtype=np.int64)
    for r in prange(Ix * B * T):
        xr = x[r // (B * T), (r // T) % B, r % T]
        c = 0
        for q in range(Nin):
            c += 1 if xr[q] != _0 else 0
        n[r + 1] = c
    for r in range(Ix * B * T):
        n[r + 1] += n[r]
    ch = np.empty(n[Ix * B * T], dtype=np.int32)
    ptr = np.empty((Ix, B, T + 1), dtype=np.int64)
    for ib in prange(Ix * B):
        row = np.empty(Nin, dtype=np.int32)
        for t in range(T):
            xr = x[ib // B, ib % B, t]
            k = 0
            for q in range(Nin):  # write every channel, keep those with events: no branch
                row[k] = q
                k += 1 if xr[q] != _0 else 0
            r = ib * T + t
            for e in range(k):
                ch[n[r] + e] = row[e]
        for t in range(T + 1):
            ptr[ib // B, ib % B, t] = n[ib * T + t]
    return ptr, ch


@njit(parallel=True, cache=True, error_model="numpy", nogil=True)
def _run(  # noqa: PLR0913
    x: np.ndarray,  # (Ix, B, T, Nin) input counts
    ev_ptr: np.ndarray,  # (Ix, B, T + 1) and
    ev_ch: np.ndarray,  # (events,): x's channels with events (`events`)
    w_in: np.ndarray,  # (Iwi, Nin, K*N) input weight currents [A]
    w_rec: np.ndarray,  # (Iw, N, K*N) recurrent weight currents [A]
    has_rec: bool,
    csr: tuple,  # compressed rows of w_rec[0] and w_in[0] (shared weights), or empty: see _pair
    noise: np.ndarray,  # (I, B, T, N) membrane noise current [A], or (I, B, 1, N) zeros
    has_noise: bool,
    syn_jump: np.ndarray,  # (I, K, N)
    syn_decay: np.ndarray,
    syn_mean: np.ndarray,
    nrn: np.ndarray,  # (I, 14, N) per-neuron constants, rows as in `_NEURON_ROWS`
    rows: np.ndarray,  # (4,) int64: row of AMPA, NMDA, GABA, SHUNT among the K, K: absent
    io: np.float32,
    gamma: np.float32,
    h: np.float32,
    t_end: np.ndarray,  # (substeps,) float32: (j + 1) h, rounded from float64 like torch
    has_ahp: bool,
    times: bool,
    u: np.ndarray,  # (I, B, N) state, updated in place
    timer: np.ndarray,
    isyn: np.ndarray,  # (I, B, K, N)
    iahp: np.ndarray,
    spikes: np.ndarray,  # (I, B, N) last bin's counts
    out: np.ndarray,  # (I, B, T, N) spike counts
    first: np.ndarray,  # (I, B, T, N) first spike time in the bin [s], or (I, B, 0, N)
    rec_ut: np.ndarray,  # (I, B, T, J, KEPT, N) or (I, B, 0, J, KEPT, N): see _pair
    rec_bsa: np.ndarray,  # (I, B, T, 3, N) or (I, B, 0, 3, N)
    ck_state: np.ndarray,  # (I, B, S, 3 + K, N) or (I, B, 0, 3 + K, N): see _pair
    every: int,
) -> None:
    """Every (instance, batch) pair in parallel."""
    n_inst, B = u.shape[0], u.shape[1]
    for ib in prange(n_inst * B):
        i = ib // B
        b = ib % B
        ix = i if x.shape[0] > 1 else 0
        iwi = i if w_in.shape[0] > 1 else 0
        iw = i if w_rec.shape[0] > 1 else 0
        _pair(
            x[ix, b], ev_ptr[ix, b], ev_ch, w_in[iwi], w_rec[iw], has_rec, csr, noise[i, b],
            has_noise, syn_jump[i], syn_decay[i], syn_mean[i], nrn[i], rows, io, gamma, h, t_end, has_ahp,
            times, u[i, b], timer[i, b], isyn[i, b], iahp[i, b], spikes[i, b], out[i, b],
            first[i, b], rec_ut[i, b], rec_bsa[i, b], ck_state[i, b], every,
        )  # fmt: skip


_NEURON_ROWS = (
    "inv_tau", "Itau", "inv_Itau", "Ig", "gain", "fb", "dc", "If_nmda", "u_th", "t_ref",
    "ahp_jump", "ahp_decay", "ahp_mean",
)  # fmt: skip


@contextmanager
def torch_threads() -> Iterator[int]:
    """Yields the thread count for a numba kernel: torch's (so both use the same cores), at most
    numba's pool. Restores torch's count afterwards: numba's OpenMP layer shares the OpenMP runtime
    with torch and would otherwise leave torch at numba's count."""
    n = torch.get_num_threads()
    try:
        yield max(1, min(n, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    finally:
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)


def _np(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to(torch.float32).numpy())


def sparse_rows(w_in: np.ndarray, w_rec: np.ndarray | None, sparse: bool | None) -> tuple:
    """The kernels' `csr` argument for weights (Iwi, Nin, K N) and (Iw, N, K N) or None (no
    recurrent weights): compressed rows of each where `sparse` (see run_fused) takes them (weights
    shared by the instances only), empty arrays (dense rows) elsewhere."""
    if sparse and w_rec is not None and w_rec.shape[0] > 1:
        raise ConfigError("sparse", True, "False or None with per-instance recurrent weights")
    on = w_rec is not None and w_rec.shape[0] == 1
    on = on and (use_sparse(w_rec[0]) if sparse is None else bool(sparse))  # type: ignore[index]
    on_in = w_in.shape[0] == 1 and (use_sparse(w_in[0]) if sparse is None else bool(sparse))
    rec = fanout(w_rec[0]) if on else no_csr()  # type: ignore[index]
    return rec + (fanout(w_in[0]) if on_in else no_csr())


def run_fused(
    k: Constants,
    state: State,
    inputs: torch.Tensor,
    w_in: torch.Tensor,
    w_rec: torch.Tensor | None,
    noise: torch.Tensor | None,
    times: bool,
    record: bool = False,
    checkpoint: int = 0,
    sparse: bool | None = None,
    csr: tuple | None = None,
) -> tuple[State, torch.Tensor, torch.Tensor | None, dict | None]:
    """Run every bin of `inputs` ((Ix, B, T, Nin) counts) from `state` without autograd.

    w_in (Iwi, Nin, K*N), w_rec (Iw, N, K*N) or None: weight currents [A] over the simulated types;
    noise (T, I, B, N) [A] or None. Returns (final state, counts (I, B, T, N), first spike times
    (I, B, T, N) [s from the bin start], +inf where none, or None unless `times`, and with
    `record` or `checkpoint` what hil.sim.adjoint needs: the kernel's arrays by name; else None).
    `checkpoint` > 0 keeps the state (u, timer, iahp, isyn) at every `checkpoint`-th bin start
    instead of the per-bin records of `record`. `sparse`: add only the non-zero synapses of each
    spike (hil.sim.sparse; weights shared by the instances), None: when the weights are sparse
    enough (hil.sim.sparse.use_sparse), False: dense rows. `csr`: `sparse_rows` of these weights,
    computed once by a caller that runs the same weights again; None: computed here.
    """
    n_inst, B, N = state.u.shape
    K, T = len(k.types), inputs.shape[2]
    nrn = torch.stack(
        [torch.as_tensor(getattr(k, r), dtype=torch.float32).expand(n_inst, 1, N)[:, 0]
         for r in _NEURON_ROWS]
        + [torch.zeros(n_inst, N)],
        dim=1,
    )  # fmt: skip
    if not k.has_ahp:  # torch skips the AHP; a zero mean makes every AHP term an exact 0 here
        nrn[:, _NEURON_ROWS.index("ahp_mean")] = 0.0
    syn = [
        getattr(k, r).expand(n_inst, 1, K, N)[:, 0] for r in ("syn_jump", "syn_decay", "syn_mean")
    ]
    rows = np.array([K if k.slot(s) is None else k.slot(s) for s in (AMPA, NMDA, GABA, SHUNT)])
    t_end = np.array([np.float32((j + 1.0) * k.h) for j in range(k.substeps)], dtype=np.float32)
    u, timer = _np(state.u).copy(), _np(state.timer).copy()
    isyn, iahp = _np(state.isyn).copy(), _np(state.iahp).copy()
    spikes = _np(state.spikes).copy()
    out = np.empty((n_inst, B, T, N), dtype=np.float32)
    first = np.full((n_inst, B, T if times else 0, N), np.inf, dtype=np.float32)
    J, Tr = k.substeps, T if record else 0
    rec_ut = np.empty((n_inst, B, Tr, J, KEPT, N), dtype=np.float32)
    rec_bsa = np.empty((n_inst, B, Tr, 3, N), dtype=np.float32)
    every = max(1, checkpoint)
    S = -(-T // every) if checkpoint > 0 else 0
    ck_state = np.empty((n_inst, B, S, 3 + K, N), dtype=np.float32)
    z = np.zeros((n_inst, B, 1, N), np.float32) if noise is None else _np(noise.permute(1, 2, 0, 3))
    w_r = np.zeros((1, N, K * N), dtype=np.float32) if w_rec is None else _np(w_rec)
    w_i = _np(w_in)
    if csr is None:
        csr = sparse_rows(w_i, w_r if w_rec is not None else None, sparse)
    arrays: dict[str, Any] = {
        "syn_jump": _np(syn[0]), "syn_decay": _np(syn[1]), "syn_mean": _np(syn[2]),
        "nrn": _np(nrn), "rows": rows.astype(np.int64), "t_end": t_end,
    }  # fmt: skip
    x = _np(inputs)
    with torch_threads() as threads:
        numba.set_num_threads(threads)
        ev = events(x)
        _run(
            x, *ev, w_i, w_r, w_rec is not None, csr,
            z, noise is not None, arrays["syn_jump"], arrays["syn_decay"], arrays["syn_mean"],
            arrays["nrn"], arrays["rows"], np.float32(k.Io), np.float32(k.gamma), np.float32(k.h),
            t_end, k.has_ahp, times, u, timer, isyn, iahp, spikes, out, first, rec_ut, rec_bsa,
            ck_state, every,
        )  # fmt: skip
    if record:
        arrays.update(rec_ut=rec_ut, rec_bsa=rec_bsa)
    if record or checkpoint > 0:
        arrays.update(
            spikes0=_np(state.spikes),
            noise=z,
            has_noise=noise is not None,
            ck_state=ck_state,
            every=every,
            csr=csr,
            events=ev,
        )
    new = State(
        u=torch.from_numpy(u),
        timer=torch.from_numpy(timer),
        isyn=torch.from_numpy(isyn),
        iahp=torch.from_numpy(iahp),
        spikes=torch.from_numpy(spikes),
    )
    tf = torch.from_numpy(first) if times else None
    return new, torch.from_numpy(out), tf, arrays if record or checkpoint > 0 else None
