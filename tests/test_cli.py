"""The `hil` command: exit codes, one-line errors, outputs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hil import __version__
from hil.chip.config import ChipConfig, Destination, Synapse
from hil.chip.example import example_config
from hil.cli import main


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version_through_the_installed_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hil.cli", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.strip() == f"hil {__version__}"


def test_example_is_a_valid_config(capsys, tmp_path) -> None:
    code, out, _ = run(capsys, "config", "example")
    assert code == 0
    assert ChipConfig.from_json(out) == example_config()
    path = tmp_path / "net.json"
    code, out, _ = run(capsys, "config", "example", "-o", str(path))
    assert code == 0 and path.exists()
    code, out, _ = run(capsys, "config", "validate", str(path))
    assert code == 0 and "valid" in out and example_config().content_hash() in out


def _break(cfg: ChipConfig, how: str) -> None:
    n = cfg.core(0, 0).neurons[3]
    if how == "65 synapses":
        n.synapses = [Synapse(tag=1)] * 65
    elif how == "tag 2048":
        n.synapses[2].tag = 2048
    elif how == "coarse 6":
        cfg.core(0, 0).parameters["SOIF_GAIN_N"] = (6, 10)
    elif how == "hop 8":
        n.destinations = [Destination(tag=9, x_hop=8)]


@pytest.mark.parametrize(
    "how,path",
    [
        ("65 synapses", "chips[0].cores[0].neurons[3].synapses[64]"),
        ("tag 2048", "chips[0].cores[0].neurons[3].synapses[2].tag"),
        ("coarse 6", "chips[0].cores[0].parameters[SOIF_GAIN_N].coarse_value"),
        ("hop 8", "chips[0].cores[0].neurons[3].destinations[0].x_hop"),
    ],
)
def test_validate_invalid_exits_2_with_one_line(tmp_path, how: str, path: str) -> None:
    cfg = example_config()
    _break(cfg, how)
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(cfg.to_dict()))
    proc = subprocess.run(
        [sys.executable, "-m", "hil.cli", "config", "validate", str(file)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and path in lines[0] and "allowed" in lines[0]
    assert "Traceback" not in proc.stderr


def test_validate_missing_file(capsys) -> None:
    code, _, err = run(capsys, "config", "validate", "/nonexistent/x.json")
    assert code == 2 and "cannot read config file /nonexistent/x.json" in err


def test_bias_current_and_code(capsys) -> None:
    code, out, _ = run(capsys, "bias", "current", "SOIF_LEAK_N", "0", "29")
    assert code == 0 and abs(float(out) - 5.2459e-12) < 1e-15
    code, out, _ = run(capsys, "bias", "code", "SOIF_LEAK_N", "5.2459e-12")
    assert code == 0 and out.startswith("coarse=0 fine=29")
    code, _, err = run(capsys, "bias", "current", "SOIF_LEAK_N", "6", "0")
    assert code == 2 and "coarse" in err and "0..5" in err
    code, _, err = run(capsys, "bias", "code", "NOPE", "1e-9")
    assert code == 2 and "SOIF_LEAK_N" in err
    code, out, _ = run(capsys, "bias", "list")
    assert code == 0 and len(out.splitlines()) == 25


def test_nominal_artifact_is_current(capsys) -> None:
    # models/dynapse2_nominal.json must be what the code computes (regenerate with
    # `hil chip nominal --write models/dynapse2_nominal.json`)
    from pathlib import Path

    from hil.chip.params import Nominal, load_nominal

    path = Path(__file__).parents[1] / "models" / "dynapse2_nominal.json"
    assert json.loads(path.read_text()) == json.loads(json.dumps(Nominal().to_dict()))
    assert load_nominal(path) == Nominal()


def test_no_command_prints_help(capsys) -> None:
    code, out, _ = run(
        capsys,
    )
    assert code == 0 and "demo" in out and "config" in out


def _arguments(parser, path=()):
    """(command path, action) for every argument of every (sub)command."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _arguments(sub, (*path, name))
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            yield path, action


def test_every_argument_has_help_and_every_command_examples() -> None:
    import argparse

    from hil.cli import build_parser

    parser = build_parser(bench_options=True)
    args = list(_arguments(parser))
    assert len(args) > 40
    for path, action in args:
        assert action.help and len(action.help) > 8, (path, action.dest)
    subs = [
        (path, sub)
        for a in parser._actions
        if isinstance(a, argparse._SubParsersAction)
        for path, sub in [((n,), s) for n, s in a.choices.items()]
    ]
    for path, sub in subs:
        assert "examples:" in (sub.epilog or ""), path
    assert "examples:" in parser.epilog


def test_help_shows_defaults_and_examples(capsys) -> None:
    code, out, _ = run(capsys, "demo", "--help")
    assert code == 0
    assert "(default: 50.0)" in out and "(default: emu://)" in out and "examples:" in out
    code, out, _ = run(capsys, "bench", "emulator", "--help")
    assert code == 0 and "(default: 5)" in out and "hil bench emulator --json" in out


def test_python_dash_m_hil() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hil", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.strip() == f"hil {__version__}"


def test_demo_reports_what_the_link_lost(capsys, monkeypatch) -> None:
    # a real-time board with a tiny TX queue on a slow line drops spikes (board overflow)
    import hil.board

    opened = []

    def spy(url: str):
        opened.append(real(url))
        return opened[-1]

    real = hil.board.open_board
    monkeypatch.setattr(hil.board, "open_board", spy)
    url = "emu://?realtime=1&fifo=8&baud=19200&on_loss=warn"
    code, out, err = run(capsys, "demo", "--board", url)
    assert code == 0 and err == ""
    d = opened[0].last_run.to_dict()
    assert d["lost"] > 0
    link = next(line for line in out.splitlines() if line.startswith("link"))
    assert f"{d['lost']} spikes lost ({d['overflow_dropped']} by board overflow)" in link
    assert f"{d['retransmits']} retransmits" in link
    assert any(line.startswith("warning run 1") for line in out.splitlines())
    assert f"output  {d['n_events'] - d['lost']} spikes" in out


def test_bias_code_refuses_currents_outside_the_range(capsys) -> None:
    code, _, err = run(capsys, "bias", "code", "SOIF_LEAK_N", "1e11")
    assert code == 2 and "outside what SOIF_LEAK_N can produce" in err and "1.3908e-06" in err
    code, out, _ = run(capsys, "bias", "code", "SOIF_LEAK_N", "1.3908e-06")
    assert code == 0 and out.startswith("coarse=5 fine=255")


def test_readme_demo_block_is_what_hil_demo_prints(capsys) -> None:
    # README quotes `hil demo`; regenerate the block when this fails (the link line's retransmit
    # count depends on timing, so only its shape is compared)
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split("```\nboard   ", 1)[1].split("```", 1)[0]
    quoted = ("board   " + block).strip().splitlines()
    code, out, err = run(capsys, "demo")
    printed = out.strip().splitlines()
    assert code == 0 and err == ""
    assert printed[:4] == quoted[:4]
    assert quoted[4].startswith("link    0 spikes lost") and printed[4].startswith(
        "link    0 spikes lost"
    )
