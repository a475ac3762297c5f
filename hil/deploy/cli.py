"""`hil deploy MODEL --board URL [--calibration C.json] [--twin T.csv] -o CONFIG`: quantize, map
and place a trained model on a board, write the config and its map, apply it.

hil/cli.py adds it with `add_parser(subparsers)`; a HilError raised here becomes one line on stderr
and exit code 2 there. Heavy imports happen inside the command.
"""

from __future__ import annotations

import argparse
import json

from hil import argtypes as at
from hil.errors import HilError, quote

HELP = "quantize, map and place a trained model (hil.model/1) on a board; write config + map"
EPILOG = """examples:
  hil deploy model.json --board emu://?seed=3 -o config.json
  hil deploy model.json --board emu:// --twin truth.csv -o config.json --json
  hil deploy model.json --board sim:// --calibration calibration.json -o config.json --no-apply

Writes CONFIG (a hil.chipconfig/1 ChipConfig) and CONFIG's stem + .map.json (hil.deploymap/1: task
channel -> board channel, network neuron -> board neuron, board neuron -> task output, and what
quantization, rounding, placement and calibration did). --twin reads a per-neuron table in the
shape of `hil emulate --dump-truth` (docs/deploy.md). Exit 0 on success, 2 for bad input or a
network that does not fit (the message names the constraint)."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `deploy` subcommand to `subparsers` (the `hil` command's)."""
    p = subparsers.add_parser(
        "deploy",
        help=HELP,
        description=HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="model.json (hil.model/1, NPZ beside it)")
    p.add_argument("--board", required=True, metavar="URL", help="board URL: sim://, emu://, ...")
    p.add_argument("--calibration", metavar="C.json", help="hil.calibration/1 record to apply")
    p.add_argument("--twin", metavar="T.csv", help="per-neuron twin table (truth-CSV shape)")
    p.add_argument(
        "--naive",
        action="store_true",
        help="naive placement even with --twin (the twin then only reports)",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        type=at.output_file,
        metavar="CONFIG",
        help="config JSON to write (the map goes beside it)",
    )
    p.add_argument("--no-apply", action="store_true", help="write the files, do not apply")
    p.add_argument("--json", action="store_true", help="print a JSON summary only")
    p.set_defaults(func=run_deploy)
    return p


def run_deploy(args: argparse.Namespace) -> int:
    """Deploy; print where the files went, the cores used and the quantization error."""
    from hil.artifacts import read_json
    from hil.board import open_board
    from hil.deploy.deploy import deploy, save
    from hil.deploy.placement import load_twin
    from hil.train.model import Model

    model = Model.load(args.model)
    twin = load_twin(args.twin) if args.twin else None
    calibration = read_json(args.calibration, "calibration file") if args.calibration else None
    with open_board(args.board) as board:
        info = board.info()
        dep = deploy(
            model, n_chips=info.n_chips, twin=twin, calibration=calibration, naive=args.naive
        )
        cfg_path, map_path = save(
            dep, args.output, model_path=args.model, tensors_sha256=_tensors_sha(args.model)
        )
        applied = None if args.no_apply else board.apply(dep.config)
    summary = {
        "config": str(cfg_path),
        "map": str(map_path),
        "board": info.board_id,
        "config_sha256": dep.config.content_hash(),
        "applied_hash": applied,
        "chips_used": dep.report["chips_used"],
        "cores_used": dep.report["cores_used"],
        "relative_rms_weight_error": dep.report["weights"]["relative_rms_error"],
        "placement": dep.report["placement"]["method"],
    }
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print(f"wrote {quote(str(cfg_path))} and {quote(str(map_path))}")
        print(
            f"cores {summary['cores_used']} on {summary['chips_used']} chip(s) of "
            f"{quote(info.board_id)}; weight error {summary['relative_rms_weight_error']:.2%}; "
            f"placement {summary['placement']}; "
            + ("not applied" if applied is None else f"applied ({applied[:12]})")
        )
    return 0


def _tensors_sha(model_path: str) -> str:
    from hil.artifacts import read_json

    doc = read_json(model_path, "model")
    if isinstance(doc, dict) and isinstance(doc.get("tensors"), dict):
        return str(doc["tensors"].get("sha256", ""))
    raise HilError(f"model {quote(model_path)}: no tensors entry")
