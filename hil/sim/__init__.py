"""hil.sim: a differentiable Dynap-SE2 simulator (torch), instance-batched, dt-robust, config-driven.

Public API (shapes: I instances, B batch, T bins, N neurons, Nin inputs; SI units):

Records (hil.sim.records)
    NeuronParams                 per-neuron currents [A] and capacitances [F], (I, N); synapse
                                 ones (I, 4, N) in SYNAPSE_TYPES order (AMPA, NMDA, GABA, SHUNT)
        .nominal(neurons, instances=1, high_level=HighLevel(), physics=Physics(), dc_enable=1.)
        .from_currents(currents, neurons, instances=1, physics=Physics(), dc_enable=1., alive=1.)
        .replace(**fields), .expand(instances), .select(i), .tensors()
    Weights(w_in (Iw,4,Nin,N), w_rec (Iw,4,N,N))   weight currents [A], Iw = 1 or I
        .from_signed(w_in, w_rec, scale=1e-8), .zeros(inputs, neurons)
    State(u, timer, isyn, iahp, spikes)          .rest(I, B, N, n_types)

Running (hil.sim.network, hil.sim.dynamics)
    simulate(params, weights, inputs, dt=1e-3, state=None, substep=1e-3, noise=0.0,
             generator=None, times=False, types=None, compiled=False, rec_grad=0.0, fused=None,
             feedback_grad=0.0, sparse=None)
        -> Result(spikes (I,B,T,N), state, times)
        fused=None picks the path: no gradient -> one numba kernel (hil.sim.fused); weight
        gradients only -> that kernel plus a hand-written backward (hil.sim.adjoint); otherwise the
        per-bin torch path (docs/sim.md "Fused kernels"); False: always the torch path;
        feedback_grad: gradient through the membrane's positive feedback (0: held constant in the
        backward, keeps full BPTT finite; 1: exact); sparse: only the non-zero synapses of each
        event (None: when at most 1/8 of the weights are non-zero)
        inputs: spike counts (B, T, Nin) shared by all instances, or (I, B, T, Nin); noise: s.d. [A]
        of a Gaussian membrane current per bin, float or tensor broadcastable to (I, 1, N)
    constants(params, dt, types, substep) -> Constants
    step(state, drive, k, noise=None, times=False, w_rec=None, rec_grad=0.0, sparse=False,
         feedback_grad=0.0)
        the pure per-bin step (what compiled=True fuses with torch.compile):
        -> (state, counts (I,B,N), first spike time in the bin or None)
    membrane_substep(...)        the pure membrane sub-step inside step
    DynapNet(n_inputs, n_neurons, params=None, w_in=None, w_rec=None, dt=1e-3, scale=1e-8,
             train_currents=(), groups=None, substep=1e-3, seed=0, compiled=False, rec_grad=0.0,
             feedback_grad=0.0)
             torch module, the float-weights way in; .params(), .weights(), .run(inputs, state)
    spike(x)                     Heaviside with surrogate gradient 1/(2 (1+|x|)^2) (unit area),
                                 x = ln(Imem/Ispkthr)

Sparse connectivity (hil.sim.sparse)
    ell_from_netlist(netlist, weight_factor=None) -> Ell(source, types, weight)   fan-in table
    fanout(w) -> (indptr, cols, vals); use_sparse(w)    what the fused kernels run

Configs (hil.sim.compile, through hil.chip.netlist.build_netlist)
    compile_config(config, instances=1, physics=Physics(), nominal=HighLevel(), all_neurons=False,
                   currents=None, weight_factor=None)
        -> CompiledConfig(params, weights, neurons (N,) board-wide index, channels, n_chips, hash,
                          netlist); currents/weight_factor: a twin's per-neuron truth
    core_currents(config, physics, nominal) -> {(chip, core): {sim name: A}}

Mismatch (hil.sim.mismatch; names and sampler from hil.chip.netlist and hil.chip.mismatch)
    sample_mismatch(params, instances, sigma=0.1, seed=0, names=None, family="normal")
        -> NeuronParams

Board (hil.sim.board)
    Simulator(dt=1e-3, seed=0, noise=0.0, substep=1e-3); open_url("sim://?dt=1e-4&seed=1")
        .compiled -> the applied config as CompiledConfig; capabilities spikes, counts, biases,
        gradients

Equations, sources and design decisions: docs/sim.md.
"""

from hil.sim.compile import CompiledConfig, compile_config, core_currents
from hil.sim.dynamics import Constants, constants, membrane_substep, step
from hil.sim.mismatch import sample_mismatch
from hil.sim.network import DynapNet, Result, simulate
from hil.sim.records import SYNAPSE_TYPES, NeuronParams, State, Weights
from hil.sim.surrogate import spike

__all__ = [
    "CompiledConfig",
    "Constants",
    "DynapNet",
    "NeuronParams",
    "Result",
    "State",
    "SYNAPSE_TYPES",
    "Weights",
    "compile_config",
    "constants",
    "membrane_substep",
    "core_currents",
    "sample_mismatch",
    "simulate",
    "spike",
    "step",
]
