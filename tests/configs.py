"""Hypothesis strategies for random valid ChipConfigs (shared by the netlist and backend tests).

A config draws 1-2 chips; on each a few cores with a few neurons at random indices; per core either
no biases (nominal), arbitrary codes for some biases (`codes="any"`), or the nominal biases with
moderate changes of the membrane and weights (`codes="moderate"`); per neuron random latches,
CAM entries (any dendrite, any mask) on a small pool of tags so that sources and listeners meet,
and SRAM destinations that hop across chips (some to nowhere); input routes on a few channels.
"""

from __future__ import annotations

from hypothesis import strategies as st

from hil.chip.biasgen import PARAMETERS
from hil.chip.config import Chip, ChipConfig, Destination, InputRoute, Neuron, Synapse, mask_bits
from hil.chip.geometry import CORES_PER_CHIP, LATCHES, NEURONS_PER_CORE, Dendrite
from hil.chip.params import HighLevel, core_parameters

TAGS = 12  # a small pool, so that routes, destinations and CAM entries meet
CHANNELS = 6
SIM_LATCHES = ("latch_so_dc", "latch_soif_kill", "latch_so_adaptation", "latch_denm_nmda")

masks = st.tuples(*[st.booleans()] * 4)
# non-empty masks and mostly excitatory dendrites first, so that shrinking keeps the drive
live_masks = st.integers(1, 15).map(mask_bits)
live_dendrites = st.sampled_from(
    [Dendrite.AMPA, Dendrite.AMPA, Dendrite.NMDA, Dendrite.GABA, Dendrite.SHUNT, Dendrite.NONE]
)


@st.composite
def any_codes(draw: st.DrawFn) -> dict[str, tuple[int, int]]:
    names = draw(st.lists(st.sampled_from(sorted(PARAMETERS)), max_size=8, unique=True))
    return {n: (draw(st.integers(0, 5)), draw(st.integers(0, 255))) for n in names}


@st.composite
def moderate_codes(draw: st.DrawFn) -> dict[str, tuple[int, int]]:
    """Nominal biases with the membrane, refractory period, DC and base weights varied within a
    factor of about 2 (rates stay below a few hundred Hz)."""
    f = lambda lo, hi: draw(st.floats(lo, hi))  # noqa: E731
    hl = HighLevel(
        tau_mem=20e-3 * f(0.5, 2.0),
        t_ref=1e-3 * f(1.0, 5.0),
        Idc=f(0.0, 1.5e-10),
        Iw=(1e-9 * f(0.5, 4), 2e-9 * f(0.5, 4), 4e-9 * f(0.5, 4), 8e-9 * f(0.5, 4)),
    )
    return core_parameters(hl.currents())


@st.composite
def neurons(
    draw: st.DrawFn, latches: tuple[str, ...], driven: bool = False, tags: int = TAGS
) -> Neuron:
    syn = draw(
        st.lists(
            st.builds(
                Synapse,
                tag=st.integers(0, tags - 1),
                dendrite=live_dendrites if driven else st.sampled_from(list(Dendrite)),
                weight=live_masks if driven else masks,
            ),
            min_size=2 if driven else 0,
            max_size=6,
        )
    )
    dest = draw(
        st.lists(
            st.builds(
                Destination,
                tag=st.integers(0, tags - 1),
                core=masks,
                x_hop=st.integers(-1, 1),
                y_hop=st.sampled_from([0, 0, 0, 1]),
            ),
            max_size=2,
        )
    )
    lat = draw(st.dictionaries(st.sampled_from(latches), st.booleans(), max_size=3))
    return Neuron(synapses=syn, destinations=dest, latches=lat)


@st.composite
def configs(
    draw: st.DrawFn,
    codes: str = "any",
    max_neurons: int = 5,
    latches: tuple[str, ...] = LATCHES,
    driven: bool = False,
    tags: int = TAGS,
) -> ChipConfig:
    """A random valid config (see module docstring); `codes` is "any" or "moderate". `driven`:
    every chip has a core with neurons, every neuron live CAM entries (a dendrite, a non-empty
    mask), and input channel c reaches tag c on every core (fewer silent neurons). `tags`: size of
    the tag pool (smaller: more sources meet more CAM entries)."""
    n_chips = draw(st.integers(1, 2))
    cfg = ChipConfig(chips=[Chip() for _ in range(n_chips)])
    biases = any_codes() if codes == "any" else moderate_codes()
    for c in range(n_chips):
        cores = st.lists(
            st.integers(0, CORES_PER_CHIP - 1), min_size=driven, max_size=2, unique=True
        )
        for k in draw(cores):
            core = cfg.core(c, k)
            core.parameters = draw(st.one_of(st.just({}), biases))
            idx = draw(
                st.lists(
                    st.integers(0, NEURONS_PER_CORE - 1),
                    min_size=driven,
                    max_size=max_neurons,
                    unique=True,
                )
            )
            for n in idx:
                core.neurons[n] = draw(neurons(latches, driven, tags))
    route = lambda channel, tag: st.builds(  # noqa: E731
        InputRoute, channel=channel, chip=st.integers(0, n_chips - 1), tag=tag, core=masks
    )
    if driven:  # every channel c reaches tag c on every core of every chip
        cfg.inputs = [InputRoute(c, chip, c) for chip in range(n_chips) for c in range(CHANNELS)]
    else:
        cfg.inputs = draw(
            st.lists(route(st.integers(0, CHANNELS - 1), st.integers(0, tags - 1)), max_size=4)
        )
    return cfg.validate()
