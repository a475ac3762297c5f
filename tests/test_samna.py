"""samna's dense shape <-> ChipConfig (hil.chip.samna, `hil config import-samna / export-samna`)."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_config import chips, masks

from hil.chip.config import Chip, ChipConfig, Core, Destination, InputRoute, Neuron, Synapse
from hil.chip.example import example_config
from hil.chip.geometry import Dendrite
from hil.chip.samna import from_samna, to_samna
from hil.cli import main
from hil.errors import ConfigError

NO = (False, False, False, False)


def expected(cfg: ChipConfig) -> ChipConfig:
    """What samna's shape can carry, written out here independently of hil.chip.samna: empty
    trailing CAM/SRAM slots, off latches, empty neurons and empty cores are not "set" in it."""

    def trim(slots: list, empty: object) -> list:
        while slots and slots[-1] == empty:
            slots = slots[:-1]
        return slots

    out = copy.deepcopy(cfg)
    for chip in out.chips:
        for k in list(chip.cores):
            core = chip.cores[k]
            for n in list(core.neurons):
                nr = core.neurons[n]
                nr.synapses = trim(nr.synapses, Synapse(tag=0, dendrite=Dendrite.NONE, weight=NO))
                nr.destinations = trim(nr.destinations, Destination(tag=0, core=NO))
                nr.latches = {name: on for name, on in nr.latches.items() if on}
                if not (nr.synapses or nr.destinations or nr.latches):
                    del core.neurons[n]
            if not (core.parameters or core.neurons):
                del chip.cores[k]
    return out


def round_trip(cfg: ChipConfig, text: bool = False) -> ChipConfig:
    data = to_samna(cfg)
    back, notes = from_samna(json.loads(json.dumps(data)) if text else data)
    assert notes == []
    return back


@st.composite
def configs(draw: st.DrawFn) -> ChipConfig:
    """Valid configs on one chip (a dense chip is 65536 synapse slots: more chips are slow; four
    are converted once below)."""
    chip_list = draw(st.lists(chips, min_size=1, max_size=1))
    routes = draw(
        st.lists(
            st.builds(
                InputRoute,
                channel=st.integers(0, 65535),
                chip=st.integers(0, len(chip_list) - 1),
                tag=st.integers(0, 2047),
                core=masks,
            ),
            max_size=8,
        )
    )
    return ChipConfig(chips=chip_list, inputs=routes)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_round_trip_keeps_everything_samna_can_carry(cfg: ChipConfig) -> None:
    cfg.validate()
    back = round_trip(cfg)
    assert back == expected(cfg)  # nothing that samna's shape holds is lost
    if expected(cfg) == cfg:
        assert back.content_hash() == cfg.content_hash()


@pytest.mark.parametrize(
    "head,n_empty,latches",
    [
        ([], 0, [False, False]),
        ([Synapse(tag=5, dendrite=Dendrite.NMDA, stp=True)], 3, [True, False]),
        ([Synapse(tag=0, dendrite=Dendrite.NONE, weight=NO)] * 2, 1, [False, True]),
    ],
)
def test_empty_slots_inside_keep_their_position(
    head: list[Synapse], n_empty: int, latches: list[bool]
) -> None:
    empty = Synapse(tag=0, dendrite=Dendrite.NONE, weight=NO)
    used = Synapse(tag=7, dendrite=Dendrite.GABA, weight=(True, False, False, False))
    neuron = Neuron(
        synapses=head + [empty] * n_empty + [used] + [empty] * n_empty,
        destinations=[Destination(tag=0, core=NO), Destination(tag=3, x_hop=-2)],
        latches={"latch_so_dc": latches[0], "latch_soif_kill": latches[1]},
    )
    cfg = ChipConfig(chips=[Chip(cores={2: Core(neurons={200: neuron})})])
    back = round_trip(cfg)
    got = back.chips[0].cores[2].neurons[200]
    assert got.synapses == head + [empty] * n_empty + [used]  # the CAM slot of `used` is kept
    assert got.destinations[1] == Destination(tag=3, x_hop=-2)
    assert back == expected(cfg)


def test_several_chips_and_the_example_through_json_text() -> None:
    cfg = ChipConfig(chips=[example_config().chips[0], Chip()], inputs=[])
    assert round_trip(cfg) == cfg
    assert round_trip(example_config(), text=True) == example_config()


def test_samna_fields_hil_does_not_model_are_skipped_and_named() -> None:
    d = to_samna(example_config())
    core = d["chips"][0]["cores"][0]
    core["neuron_monitoring_on"] = True
    core["parameters"]["SOIF_CC_N"] = {"coarse_value": 1, "fine_value": 2, "type": "N"}
    core["parameters"]["SOIF_LEAK_N"].update({"type": ord("N"), "_address": 12})
    d["chips"][0]["dvs_if"] = {}
    cfg, notes = from_samna(d)
    assert cfg == example_config()
    assert notes == [
        "skipped _address (1x): hil does not model it",
        "skipped dvs_if (1x): hil does not model it",
        "skipped neuron_monitoring_on (1x): hil does not model it",
        "skipped parameter SOIF_CC_N (1x): hil does not model it",
    ]


@pytest.mark.parametrize(
    "edit,path",
    [
        (lambda d: d["chips"][0]["cores"][0].update(colour=1), "chips[0].cores[0].colour"),
        (lambda d: d["chips"][0]["cores"].append({}), "chips[0].cores[4]"),
        (
            lambda d: d["chips"][0]["cores"][0]["neurons"][3]["synapses"][1].update(tag=2048),
            "chips[0].cores[0].neurons[3].synapses[1].tag",
        ),
        (
            lambda d: d["chips"][0]["cores"][1]["neurons"][9]["synapses"][63].update(tag=False),
            "chips[0].cores[1].neurons[9].synapses[63].tag",
        ),
        (
            lambda d: d["chips"][0]["cores"][0]["neurons"][3]["synapses"][1].update(dendrite=3),
            "chips[0].cores[0].neurons[3].synapses[1].dendrite",
        ),
        (
            lambda d: d["chips"][0]["cores"][0]["parameters"]["SOIF_LEAK_N"].update(type="P"),
            "chips[0].cores[0].parameters[SOIF_LEAK_N].type",
        ),
        (lambda d: d["hil"].update(schema="x"), "hil.schema"),
    ],
)
def test_bad_samna_data_names_the_path(edit, path: str) -> None:
    d = to_samna(example_config())
    edit(d)
    with pytest.raises(ConfigError) as err:
        from_samna(d)
    assert err.value.path == path and len(str(err.value)) < 600


def test_cli_import_and_export(tmp_path, capsys) -> None:
    net, samna, back = tmp_path / "net.json", tmp_path / "samna.json", tmp_path / "back.json"
    example_config().save(net)
    assert main(["config", "export-samna", str(net), "-o", str(samna)]) == 0
    assert json.loads(samna.read_text())["chips"][0]["cores"][0]["neurons"][0]["synapses"]
    assert main(["config", "import-samna", str(samna), "-o", str(back)]) == 0
    assert ChipConfig.load(back) == example_config()
    capsys.readouterr()
    assert main(["config", "validate", str(samna)]) == 2  # the wrong shape: one short line
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "import-samna" in err and len(err) < 400
