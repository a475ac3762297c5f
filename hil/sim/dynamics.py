"""Dynap-SE2 neuron and synapse dynamics as pure functions: `constants(params, dt, ...)` turns
per-neuron currents into per-bin factors once per run, `step(state, drive, k)` advances one bin.

Equations (docs/sim.md has the derivations and sources; shared/reference/rockpool_dynapse.md
sections 1.4-1.8; Chicca et al. 2014, Proc. IEEE 102(9); Bartolozzi & Indiveri 2007):

DPI synapse of type s (AMPA, NMDA, GABA, SHUNT), time constant tau_s = (Ut/kappa) C_s / Itau_s.
A spike with weight current Iw charges it during the pulse t_pulse = Vth C_pulse / Ipulse by
    dI = (Igain_s / Itau_s) Iw (1 - exp(-t_pulse / tau_s))
and between spikes it decays exactly, I <- I exp(-dt / tau_s). The membrane sees the exact mean of
the synaptic current over the bin, I (tau_s / dt) (1 - exp(-dt / tau_s)).

AHP (adaptation): the same DPI with Iw_ahp, Igain_ahp, Itau_ahp, C_ahp, t_pulse_ahp, one charge per
output spike.

Membrane (DPI neuron with positive feedback, Chicca et al. 2014), tau = (Ut/kappa) C_mem / Itau_mem:
    tau (1 + Ig/I) dI/dt = Ig/Itau (Iin - Itau - L) - I (1 + I_ahp/Itau) + (Ia/Itau)(I + Ig)
    L   = I_ahp + I_gaba                 (leak currents: AHP and GABA; only the AHP also
                                          scales the leak term, as in Chicca et al.)
    Iin = max(0, I_ampa + I_nmda / (1 + If_nmda / I) + Idc [latch_so_dc] - I_shunt)
    Ia  = Io (I / Io)^(kappa / (kappa + 1))   (positive feedback, Rockpool's exponential form)
integrated in y = I + Ig ln(I / Io), where the equation reads
    tau dy/dt = F = Ig/Itau (Iin - Itau - L) - (1 + I_ahp/Itau) I + (Ia/Itau)(I + Ig),
by one linearly implicit step per sub-step, y <- y + h F / (1 - h J / 2) with J = dF/dy (the
A-stable Pade form of the exponential integrator), then back to the state u = ln(I / Io) >= 0 by one
Newton step from an upper bound (docs/sim.md).
A spike when I reaches Ispkthr (u >= u_th = ln(Ispkthr / Io)), located inside its sub-step by linear
interpolation; reset to Io; refractory for t_ref = Vth C_ref / Iref, resolved to the sub-step
(the membrane integrates again for the part of a sub-step after the refractory period ends).
The leak is subtracted once (Rockpool subtracts it twice, reference section 1.6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch

from hil.chip.netlist import Device, derived_constants
from hil.sim.records import AMPA, GABA, NMDA, SHUNT, NeuronParams, State
from hil.sim.surrogate import spike

DEFAULT_SUBSTEP = 1e-3  # longest membrane sub-step [s]
NEWTON = 1  # Newton iterations from y back to u per sub-step


@dataclass(frozen=True)
class Constants:
    """Per-bin factors derived from NeuronParams for one dt; tensors broadcast against state
    (instances, batch, neurons): per-neuron ones are (instances, 1, neurons), synapse ones
    (instances, 1, K, neurons) over the K simulated synapse types `types`."""

    dt: float
    substeps: int
    types: tuple[int, ...]
    syn_jump: torch.Tensor  # A of synaptic current per A of weight current
    syn_decay: torch.Tensor
    syn_mean: torch.Tensor
    ahp_jump: torch.Tensor  # A per spike
    ahp_decay: torch.Tensor
    ahp_mean: torch.Tensor
    inv_tau: torch.Tensor  # 1 / tau_mem [1/s], 0 for dead neurons
    Itau: torch.Tensor
    inv_Itau: torch.Tensor
    Ig: torch.Tensor
    gain: torch.Tensor  # Igain_mem / Itau_mem
    fb: torch.Tensor  # Io / Itau_mem
    dc: torch.Tensor  # Idc gated by latch_so_dc
    If_nmda: torch.Tensor
    u_th: torch.Tensor
    t_ref: torch.Tensor
    Io: float
    gamma: float
    has_ahp: bool  # any neuron with an adaptation weight; otherwise the AHP is skipped

    def slot(self, syn: int) -> int | None:
        """Position of synapse type `syn` among the simulated types, None when not simulated."""
        return self.types.index(syn) if syn in self.types else None

    @property
    def h(self) -> float:
        return self.dt / self.substeps


def substeps_for(dt: float, substep: float = DEFAULT_SUBSTEP) -> int:
    """Number of membrane sub-steps so that none is longer than `substep` seconds."""
    return max(1, math.ceil(dt / substep - 1e-9))


def constants(
    params: NeuronParams,
    dt: float,
    types: tuple[int, ...] = (AMPA, NMDA, GABA, SHUNT),
    substep: float = DEFAULT_SUBSTEP,
) -> Constants:
    """Per-bin factors for bin width `dt` [s]; differentiable in every tensor of `params`.

    The formulas are hil.chip.netlist.derived_constants, which the emulator's engine shares."""
    idx = list(types)
    # per-neuron fields as (instances, 1, neurons), synapse ones as (instances, K, neurons)
    fields = {
        name: v[:, idx] if v.dim() == 3 else v.unsqueeze(1) for name, v in params.tensors().items()
    }
    d = derived_constants(fields, dt, cast(Device, params))  # a frozen record: read-only fields
    return Constants(
        dt=dt,
        substeps=substeps_for(dt, substep),
        types=tuple(types),
        syn_jump=d["syn_jump"].unsqueeze(1),
        syn_decay=d["syn_decay"].unsqueeze(1),
        syn_mean=d["syn_mean"].unsqueeze(1),
        ahp_jump=d["ahp_jump"],
        ahp_decay=d["ahp_decay"],
        ahp_mean=d["ahp_mean"],
        inv_tau=d["inv_tau"],
        Itau=d["Itau"],
        inv_Itau=1.0 / d["Itau"],
        Ig=d["Ig"],
        gain=d["gain"],
        fb=d["fb"],
        dc=d["dc"],
        If_nmda=d["If_nmda"],
        u_th=d["u_th"],
        t_ref=d["t_ref"],
        Io=params.Io,
        gamma=d["gamma"],
        has_ahp=bool((params.Iw_ahp.detach() > 0).any()),
    )


def membrane_substep(
    u: torch.Tensor,
    timer: torch.Tensor,
    minf: torch.Tensor | None,
    a: torch.Tensor | float,
    base: torch.Tensor,
    sink: torch.Tensor,
    nmda: torch.Tensor | None,
    If_nmda: torch.Tensor,
    gain: torch.Tensor,
    Io: float,
    Ig: torch.Tensor,
    fb: torch.Tensor,
    gamma: float,
    inv_tau: torch.Tensor,
    u_th: torch.Tensor,
    t_ref: torch.Tensor,
    h: float,
    j: float,
    times: bool,
    feedback_grad: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One membrane sub-step of length h [s] (pure tensor function, so torch.compile can fuse it).

    `feedback_grad` scales the gradient through the positive-feedback term (Ia/Itau)(I + Ig) of F
    (0: held constant in the backward pass, the default; 1: exact; docs/sim.md "Gradients").
    Returns (u, refractory timer, spikes, spike time from the bin start [s] where s = 1).
    """
    act = (h - timer).clamp(0.0, h)  # time this sub-step spends outside the refractory period
    timer = (timer - h).clamp(min=0.0)
    e = torch.exp(u)
    cur = Io * e
    if nmda is not None:
        gated = nmda / (1.0 + If_nmda / cur)
        minf = gain * (torch.relu(base + gated) - sink)
    assert minf is not None
    den = cur + Ig
    fbk = fb * torch.exp(gamma * u)  # Ia / Itau
    feedback = fbk * den  # (Ia / Itau)(I + Ig) [A]
    if feedback_grad != 1.0:  # the expanding part of the dynamics near threshold
        fd = feedback.detach()
        feedback = fd if feedback_grad == 0.0 else fd + feedback_grad * (feedback - fd)
    force = minf - a * cur + feedback  # tau dy/dt [A], y = I + Ig u
    jac = (fbk - a) * cur / den + gamma * fbk  # tau d(dy/dt)/dy
    hk = act * inv_tau
    # phi1(z) = (e^z - 1)/z by its A-stable [0/1] Pade form 1/(1 - z/2); z <= 1.5 keeps it finite
    phi = torch.reciprocal(1.0 - 0.5 * (hk * jac).clamp(max=1.5))
    dy = hk * force * phi
    # y(u) = Io e^u + Ig u is convex and increasing, so its tangent step u + dy / y'(u) and
    # ln(y / Io) are upper bounds of the solution; Newton from there converges monotonically
    y = cur + Ig * u + dy
    u_new = torch.minimum(u + dy / den, torch.log(y.clamp(min=Io) / Io)).clamp(min=0.0)
    for _ in range(NEWTON):
        cur_new = Io * torch.exp(u_new)
        u_new = u_new - (cur_new + Ig * u_new - y) / (cur_new + Ig)
    u_new = u_new.clamp(min=0.0)
    s = spike(u_new - u_th)
    sd, ud, und = s.detach(), u.detach(), u_new.detach()
    frac = ((u_th.detach() - ud) / (und - ud).clamp(min=1e-6)).clamp(0.0, 1.0)
    timer = timer + sd * (t_ref.detach() - (1.0 - frac) * act - timer)
    t_spk = (j + 1.0) * h - act + frac * act if times else act
    # the reset stays outside the surrogate path (Zenke & Vogels 2021)
    return u_new * (1.0 - sd), timer, s, t_spk


def _recurrent(
    spikes: torch.Tensor,
    w_rec: torch.Tensor,
    rec_grad: float,
    sparse: bool,
    drive: torch.Tensor | None,
) -> torch.Tensor:
    """Weight current (instances, batch, K, neurons) that last bin's spikes send through w_rec."""
    n_inst, B, N = spikes.shape
    s = spikes
    if rec_grad != 1.0:  # scale the gradient that flows back through recurrent spikes
        s = s.detach() if rec_grad == 0.0 else s.detach() + rec_grad * (s - s.detach())
    if w_rec.shape[0] == 1:
        flat = s.reshape(n_inst * B, N)
        if sparse:  # only the rows of the neurons that spiked are summed
            rec = torch.sparse.mm(flat.to_sparse(), w_rec[0])
        else:
            rec = flat @ w_rec[0]
    else:
        rec = torch.bmm(s, w_rec)
    rec = rec.reshape(n_inst, B, -1, N)
    return rec if drive is None else drive + rec


def step(
    state: State,
    drive: torch.Tensor | None,
    k: Constants,
    noise: torch.Tensor | None = None,
    times: bool = False,
    w_rec: torch.Tensor | None = None,
    rec_grad: float = 0.0,
    sparse: bool = False,
    feedback_grad: float = 0.0,
) -> tuple[State, torch.Tensor, torch.Tensor | None]:
    """Advance one bin of width k.dt.

    drive: weight current [A] arriving at the start of the bin per simulated synapse type,
    (instances, batch, K, neurons), or None for no input. noise: extra membrane input current [A]
    for this bin, broadcastable to (instances, batch, neurons), or None.
    Returns (new state, spike counts (instances, batch, neurons), time of the first spike in the bin
    [s from the bin start] where one occurred, +inf elsewhere; None unless `times`).
    w_rec: recurrent weight currents (Iw, neurons, K * neurons) over the simulated types; the
    previous bin's spikes (state.spikes) reach their targets through it at the start of this bin,
    with the gradient through those spikes scaled by `rec_grad` (0: stopped, 1: full BPTT).
    `sparse` sums only the rows of neurons that spiked (no gradient to the spikes; not compilable).
    `feedback_grad` scales the gradient through the membrane's positive feedback (membrane_substep).
    """
    if w_rec is not None:
        drive = _recurrent(state.spikes, w_rec, rec_grad, sparse, drive)
    isyn = state.isyn if drive is None else state.isyn + k.syn_jump * drive
    mean = isyn * k.syn_mean
    isyn_next = isyn * k.syn_decay

    def syn(s: int) -> torch.Tensor | None:
        i = k.slot(s)
        return None if i is None else mean[:, :, i]

    ampa, nmda, gaba, shunt = syn(AMPA), syn(NMDA), syn(GABA), syn(SHUNT)
    a: torch.Tensor | float
    leak: torch.Tensor | float
    if k.has_ahp:
        ahp = state.iahp * k.ahp_mean
        a = 1.0 + ahp * k.inv_Itau
        leak = ahp if gaba is None else ahp + gaba
    else:
        a, leak = 1.0, (0.0 if gaba is None else gaba)
    base = k.dc if ampa is None else ampa + k.dc
    if shunt is not None:
        base = base - shunt
    if noise is not None:
        base = base + noise
    sink = k.Itau + leak
    minf = None if nmda is not None else k.gain * (torch.relu(base) - sink)

    u, timer = state.u, state.timer
    count: torch.Tensor | None = None
    first = torch.full_like(u, math.inf) if times else None
    for j in range(k.substeps):
        u, timer, s, t_spk = membrane_substep(
            u, timer, minf, a, base, sink, nmda, k.If_nmda, k.gain, k.Io, k.Ig, k.fb, k.gamma,
            k.inv_tau, k.u_th, k.t_ref, k.h, float(j), times, feedback_grad,
        )  # fmt: skip
        count = s if count is None else count + s
        if first is not None:
            first = torch.where((s.detach() > 0) & torch.isinf(first), t_spk, first)
    assert count is not None
    iahp = state.iahp * k.ahp_decay + k.ahp_jump * count if k.has_ahp else state.iahp
    return State(u=u, timer=timer, isyn=isyn_next, iahp=iahp, spikes=count), count, first
