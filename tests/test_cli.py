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
