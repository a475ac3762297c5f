"""ChipConfig: validation of every hardware constraint, JSON round trip, content hash."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.chip.biasgen import PARAMETERS
from hil.chip.config import (
    Chip,
    ChipConfig,
    Core,
    Destination,
    InputRoute,
    Neuron,
    Synapse,
    mask_bits,
    mask_int,
)
from hil.chip.example import example_config
from hil.chip.geometry import LATCHES, Dendrite
from hil.errors import ConfigError


def one_neuron(**neuron: object) -> ChipConfig:
    cfg = ChipConfig()
    cfg.core(0, 1).neurons[17] = Neuron(**neuron)
    return cfg


def expect(cfg: ChipConfig, path: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as err:
        cfg.validate()
    assert err.value.path == path
    assert allowed in err.value.allowed
    assert path in str(err.value)


N = "chips[0].cores[1].neurons[17]"

# (mutation of a one-neuron config, offending path, words of what is allowed)
VIOLATIONS: list[tuple[str, Callable[[ChipConfig], object], str, str]] = [
    ("no chips", lambda c: c.chips.clear(), "chips", "1..4 chips"),
    ("five chips", lambda c: c.chips.extend(Chip() for _ in range(4)), "chips", "1..4 chips"),
    ("core 4", lambda c: c.chips[0].cores.update({4: Core()}), "chips[0].cores", "0..3"),
    (
        "neuron 256",
        lambda c: c.core(0, 1).neurons.update({256: Neuron()}),
        "chips[0].cores[1].neurons",
        "0..255",
    ),
    (
        "unknown bias",
        lambda c: c.core(0, 1).parameters.update({"SOIF_LEEK_N": (0, 0)}),
        "chips[0].cores[1].parameters[SOIF_LEEK_N]",
        "known bias name",
    ),
    (
        "coarse 6",
        lambda c: c.core(0, 1).parameters.update({"SOIF_LEAK_N": (6, 0)}),
        "chips[0].cores[1].parameters[SOIF_LEAK_N].coarse_value",
        "0..5",
    ),
    (
        "fine 256",
        lambda c: c.core(0, 1).parameters.update({"SOIF_LEAK_N": (0, 256)}),
        "chips[0].cores[1].parameters[SOIF_LEAK_N].fine_value",
        "0..255",
    ),
    (
        "fine not int",
        lambda c: c.core(0, 1).parameters.update({"SOIF_LEAK_N": (0, 1.5)}),
        "chips[0].cores[1].parameters[SOIF_LEAK_N].fine_value",
        "0..255",
    ),
    (
        "65 synapses",
        lambda c: setattr(c.core(0, 1).neurons[17], "synapses", [Synapse(tag=1)] * 65),
        f"{N}.synapses[64]",
        "at most 64",
    ),
    (
        "tag 2048",
        lambda c: c.core(0, 1).neurons[17].synapses.append(Synapse(tag=2048)),
        f"{N}.synapses[0].tag",
        "0..2047",
    ),
    (
        "tag -1",
        lambda c: c.core(0, 1).neurons[17].synapses.append(Synapse(tag=-1)),
        f"{N}.synapses[0].tag",
        "0..2047",
    ),
    (
        "dendrite",
        lambda c: c.core(0, 1).neurons[17].synapses.append(Synapse(tag=1, dendrite="ampa")),
        f"{N}.synapses[0].dendrite",
        "ampa",
    ),
    (
        "mask of 3",
        lambda c: (
            c.core(0, 1).neurons[17].synapses.append(Synapse(tag=1, weight=(True, False, True)))
        ),
        f"{N}.synapses[0].weight",
        "exactly 4 booleans",
    ),
    (
        "mask of ints",
        lambda c: c.core(0, 1).neurons[17].synapses.append(Synapse(tag=1, weight=(1, 0, 0, 0))),
        f"{N}.synapses[0].weight",
        "exactly 4 booleans",
    ),
    (
        "stp flag",
        lambda c: c.core(0, 1).neurons[17].synapses.append(Synapse(tag=1, stp=1)),
        f"{N}.synapses[0].stp",
        "true or false",
    ),
    (
        "precise_delay flag",
        lambda c: c.core(0, 1).neurons[17].synapses.append(Synapse(tag=1, precise_delay="yes")),
        f"{N}.synapses[0].precise_delay",
        "true or false",
    ),
    (
        "mismatched_delay flag",
        lambda c: c.core(0, 1).neurons[17].synapses.append(Synapse(tag=1, mismatched_delay=None)),
        f"{N}.synapses[0].mismatched_delay",
        "true or false",
    ),
    (
        "5 destinations",
        lambda c: setattr(c.core(0, 1).neurons[17], "destinations", [Destination(tag=1)] * 5),
        f"{N}.destinations[4]",
        "at most 4",
    ),
    (
        "dest tag",
        lambda c: c.core(0, 1).neurons[17].destinations.append(Destination(tag=2048)),
        f"{N}.destinations[0].tag",
        "0..2047",
    ),
    (
        "dest core mask",
        lambda c: (
            c.core(0, 1).neurons[17].destinations.append(Destination(tag=1, core=(True,) * 5))
        ),
        f"{N}.destinations[0].core",
        "exactly 4 booleans",
    ),
    (
        "x_hop 8",
        lambda c: c.core(0, 1).neurons[17].destinations.append(Destination(tag=1, x_hop=8)),
        f"{N}.destinations[0].x_hop",
        "-7..7",
    ),
    (
        "y_hop -8",
        lambda c: c.core(0, 1).neurons[17].destinations.append(Destination(tag=1, y_hop=-8)),
        f"{N}.destinations[0].y_hop",
        "-7..7",
    ),
    (
        "unknown latch",
        lambda c: c.core(0, 1).neurons[17].latches.update({"latch_foo": True}),
        f"{N}.latch_foo",
        "latch_so_dc",
    ),
    (
        "latch not bool",
        lambda c: c.core(0, 1).neurons[17].latches.update({"latch_so_dc": 1}),
        f"{N}.latch_so_dc",
        "true or false",
    ),
    (
        "input channel",
        lambda c: c.inputs.append(InputRoute(channel=-1, chip=0, tag=0)),
        "inputs[0].channel",
        "0..65535",
    ),
    (
        "input channel 2**40",  # the wire carries a channel as u16
        lambda c: c.inputs.append(InputRoute(channel=2**40, chip=0, tag=0)),
        "inputs[0].channel",
        "0..65535",
    ),
    (
        "input channel 65536",
        lambda c: c.inputs.append(InputRoute(channel=65536, chip=0, tag=0)),
        "inputs[0].channel",
        "0..65535",
    ),
    (
        "input chip",
        lambda c: c.inputs.append(InputRoute(channel=0, chip=1, tag=0)),
        "inputs[0].chip",
        "0..0",
    ),
    (
        "input tag",
        lambda c: c.inputs.append(InputRoute(channel=0, chip=0, tag=4096)),
        "inputs[0].tag",
        "0..2047",
    ),
    (
        "input core mask",
        lambda c: c.inputs.append(InputRoute(channel=0, chip=0, tag=1, core=(True,))),
        "inputs[0].core",
        "exactly 4 booleans",
    ),
]


@pytest.mark.parametrize(
    "mutate,path,allowed", [v[1:] for v in VIOLATIONS], ids=[v[0] for v in VIOLATIONS]
)
def test_every_constraint_violation_is_named(mutate: Callable, path: str, allowed: str) -> None:
    cfg = one_neuron()
    cfg.validate()
    mutate(cfg)
    expect(cfg, path, allowed)


def test_limits_themselves_are_allowed() -> None:
    cfg = ChipConfig(chips=[Chip() for _ in range(4)])
    cfg.core(3, 3).parameters = {"SOIF_LEAK_N": (5, 255), "SOIF_DC_P": (0, 0)}
    cfg.core(3, 3).neurons[255] = Neuron(
        synapses=[Synapse(tag=2047, weight=mask_bits(15))] * 64,
        destinations=[Destination(tag=0, x_hop=-7, y_hop=7)] * 4,
        latches={name: True for name in LATCHES},
    )
    cfg.inputs.append(InputRoute(channel=0, chip=3, tag=2047))
    cfg.validate()


def test_error_counts_the_other_violations() -> None:
    cfg = one_neuron(synapses=[Synapse(tag=5000), Synapse(tag=6000)])
    with pytest.raises(ConfigError, match=r"and 1 more error\)"):
        cfg.validate()
    assert len(cfg.errors()) == 2


def test_mask_bits_and_int_are_inverse() -> None:
    for m in range(16):
        assert mask_int(mask_bits(m)) == m
    assert mask_bits(4) == (False, False, True, False)  # bit 2 selects Iw_2


# ---- JSON --------------------------------------------------------------------------------------

masks = st.tuples(*[st.booleans()] * 4)
synapses = st.builds(
    Synapse,
    tag=st.integers(0, 2047),
    dendrite=st.sampled_from(list(Dendrite)),
    weight=masks,
    stp=st.booleans(),
    precise_delay=st.booleans(),
    mismatched_delay=st.booleans(),
)
destinations = st.builds(
    Destination,
    tag=st.integers(0, 2047),
    core=masks,
    x_hop=st.integers(-7, 7),
    y_hop=st.integers(-7, 7),
)
neurons = st.builds(
    Neuron,
    synapses=st.lists(synapses, max_size=64),
    destinations=st.lists(destinations, max_size=4),
    latches=st.dictionaries(st.sampled_from(LATCHES), st.booleans()),
)
codes = st.tuples(st.integers(0, 5), st.integers(0, 255))
cores = st.builds(
    Core,
    parameters=st.dictionaries(st.sampled_from(sorted(PARAMETERS)), codes),
    neurons=st.dictionaries(st.integers(0, 255), neurons, max_size=3),
)
chips = st.builds(Chip, cores=st.dictionaries(st.integers(0, 3), cores, max_size=4))


@st.composite
def configs(draw: st.DrawFn) -> ChipConfig:
    chip_list = draw(st.lists(chips, min_size=1, max_size=4))
    routes = draw(
        st.lists(
            st.builds(
                InputRoute,
                channel=st.integers(0, 10_000),
                chip=st.integers(0, len(chip_list) - 1),
                tag=st.integers(0, 2047),
                core=masks,
            ),
            max_size=8,
        )
    )
    return ChipConfig(chips=chip_list, inputs=routes)


@settings(max_examples=60, deadline=None)
@given(configs())
def test_json_round_trip_is_lossless(cfg: ChipConfig) -> None:
    cfg.validate()
    back = ChipConfig.from_json(cfg.to_json())
    assert back == cfg
    assert back.content_hash() == cfg.content_hash()
    assert ChipConfig.from_json(cfg.to_json(indent=None)) == cfg


def test_hash_is_stable_and_content_sensitive() -> None:
    a, b = example_config(), example_config()
    assert a.content_hash() == b.content_hash()
    assert len(a.content_hash()) == 64
    b.core(0, 0).neurons[0].synapses[0].stp = True
    assert a.content_hash() != b.content_hash()
    assert example_config(seed=1).content_hash() != a.content_hash()


def test_json_uses_samna_field_names() -> None:
    d = json.loads(example_config().to_json())
    core = d["chips"][0]["cores"]["0"]
    assert core["parameters"]["SOIF_LEAK_N"].keys() == {"coarse_value", "fine_value", "type"}
    syn = core["neurons"]["0"]["synapses"][0]
    assert syn.keys() == {"tag", "dendrite", "weight", "stp", "precise_delay", "mismatched_delay"}
    assert core["neurons"]["0"]["destinations"][0].keys() == {"tag", "core", "x_hop", "y_hop"}


def test_sparse_json_fills_defaults() -> None:
    cfg = ChipConfig.from_json(
        json.dumps(
            {
                "chips": [
                    {
                        "cores": {
                            "2": {"neurons": {"5": {"synapses": [{"tag": 3}], "latch_so_dc": True}}}
                        }
                    }
                ]
            }
        )
    )
    n = cfg.chips[0].cores[2].neurons[5]
    assert n.synapses == [Synapse(tag=3)] and n.latches == {"latch_so_dc": True}
    assert ChipConfig.from_json("{}") == ChipConfig()


def test_samna_dendrite_integers_are_accepted() -> None:
    d = json.loads(one_neuron(synapses=[Synapse(tag=1)]).to_json())
    d["chips"][0]["cores"]["1"]["neurons"]["17"]["synapses"][0]["dendrite"] = 512
    assert ChipConfig.from_dict(d).core(0, 1).neurons[17].synapses[0].dendrite is Dendrite.GABA


@pytest.mark.parametrize(
    "edit,path",
    [
        (lambda d: d.update({"colour": 1}), "<config>.colour"),
        (lambda d: d.update({"schema": "other/2"}), "schema"),
        (lambda d: d["chips"][0]["cores"].update({"x": {}}), "chips[0].cores"),
        (
            lambda d: d["chips"][0]["cores"]["1"]["neurons"]["17"]["synapses"][0].update(
                {"dendrite": "ampere"}
            ),
            f"{N}.synapses[0].dendrite",
        ),
        (
            lambda d: d["chips"][0]["cores"]["1"]["parameters"].update(
                {"SOIF_LEAK_N": {"coarse_value": 1, "fine_value": 1, "type": "P"}}
            ),
            "chips[0].cores[1].parameters[SOIF_LEAK_N].type",
        ),
        (
            lambda d: d["chips"][0]["cores"]["1"]["neurons"]["17"].update({"synapses": {}}),
            f"{N}.synapses",
        ),
        (
            lambda d: d["chips"][0]["cores"]["1"]["neurons"]["17"]["synapses"][0].update(
                {"tag": "7"}
            ),
            f"{N}.synapses[0].tag",
        ),
    ],
)
def test_bad_json_names_the_path(edit: Callable, path: str) -> None:
    d = json.loads(one_neuron(synapses=[Synapse(tag=1)]).to_json())
    d["chips"][0]["cores"]["1"]["parameters"] = {}
    edit(d)
    with pytest.raises(ConfigError) as err:
        ChipConfig.from_dict(copy.deepcopy(d))
    assert err.value.path == path


def test_invalid_json_text_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="valid JSON"):
        ChipConfig.from_json("{not json")


def test_save_is_atomic_and_refuses_invalid(tmp_path) -> None:
    path = tmp_path / "net.json"
    example_config().save(path)
    before = path.read_text()
    bad = example_config()
    bad.core(0, 0).parameters["SOIF_LEAK_N"] = (9, 0)
    with pytest.raises(ConfigError):
        bad.save(path)
    assert path.read_text() == before
    assert list(tmp_path.iterdir()) == [path]
    assert ChipConfig.load(path) == example_config()


@pytest.mark.parametrize("key", [" 40", "4_0", "040", "+40", "40 ", "٤٠", "1e1", "99999", "-1"])
def test_neuron_keys_are_canonical_decimals(key: str) -> None:
    d = json.loads(one_neuron().to_json())
    d["chips"][0]["cores"]["1"]["neurons"] = {key: {}}
    with pytest.raises(ConfigError) as err:
        ChipConfig.from_dict(d)
    assert err.value.path == "chips[0].cores[1].neurons" and "without leading zeros" in str(
        err.value
    )


def test_two_keys_never_name_one_neuron() -> None:
    # "01" and "1" used to collide silently (the later one won); a repeated key is refused too
    text = '{"chips": [{"cores": {"1": {"neurons": {"1": {}, "01": {"latch_so_dc": true}}}}}]}'
    with pytest.raises(ConfigError, match="'01'"):
        ChipConfig.from_json(text)
    with pytest.raises(ConfigError, match="duplicate key '1'"):
        ChipConfig.from_json(text.replace('"01"', '"1"'))


def test_a_samna_shaped_config_gets_one_short_line_that_points_to_the_importer() -> None:
    from hil.chip.samna import to_samna

    samna = to_samna(example_config())
    with pytest.raises(ConfigError, match="hil config import-samna") as err:
        ChipConfig.from_dict(samna)  # as export-samna writes it
    assert err.value.path == "<config>.hil"
    del samna["hil"]  # as samna-shaped data from elsewhere comes
    with pytest.raises(ConfigError) as err:
        ChipConfig.from_dict(samna)
    msg = str(err.value)
    assert err.value.path == "chips[0].cores" and "hil config import-samna" in msg
    assert len(msg) < 400  # was 79 kB: the whole list, repeated


def test_error_messages_are_bounded_whatever_the_value() -> None:
    huge = {"tag": "x" * 10**6, "deep": [[[[[[[[[[[[1]]]]]]]]]]]], "int": 10**5000}
    for value in (huge, "x" * 10**6, 10**5000, list(range(10**5))):
        msg = str(ConfigError("p", value, "y"))
        assert len(msg) < 400 and msg.startswith("p: ") and msg.endswith("allowed: y")
