"""`hil characterize --board URL --out DIR`: run the characterization suite on a board.
hil/cli.py adds it with `add_parser(subparsers)`; a HilError becomes one line and exit code 2."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from hil.argtypes import integer
from hil.errors import ConfigError

HELP = "measure a board through spikes alone: f-I, refractory period, synapses, hot and dead"
EPILOG = """examples:
  hil characterize --board emu://?seed=3 --out char/
  hil characterize --board "emu://?silicon=fixtures/silicon/bad.json" --out char/ --json
  hil characterize --board sim:// --out /tmp/char --neurons-per-core 32

DIR gets one folder per experiment (design.json, steps/NNN/ Recordings, table.csv) and
summary.json (board time and wall time). The whole folder is written under a temporary name and
renamed into place when complete: an interrupted run leaves no DIR (an earlier DIR stays as it
was). Then: hil fit DIR --out twin.json. Exit 0 on success, 2 for bad input."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `characterize` subcommand to `subparsers`."""
    p = subparsers.add_parser(
        "characterize",
        help=HELP,
        description=HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--board", required=True, metavar="URL", help="board URL (emu://, sim://, ...)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (new, or replaced)")
    p.add_argument(
        "--neurons-per-core",
        type=integer(1, 256),
        default=256,
        metavar="N",
        help="measure neurons 0..N-1 of every core (default 256: all)",
    )
    p.add_argument(
        "--readout",
        choices=("spikes", "counts"),
        default="spikes",
        help="spikes (default; a rate-limited link may still answer with counts) or counts "
        "(1 ms bins) for every step",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON only")
    p.set_defaults(func=run_characterize)
    return p


def run_characterize(args: argparse.Namespace) -> int:
    import dataclasses

    from hil import progress
    from hil.board import open_board
    from hil.experiments.suite import SUMMARY, characterize, default_experiments

    out = Path(args.out)
    if out.exists() and not (out.is_dir() and (out / SUMMARY).is_file()):
        raise ConfigError("--out", str(out), "a new path or an earlier characterization folder")
    exps = [
        dataclasses.replace(e, n_per_core=args.neurons_per_core)  # type: ignore[type-var]
        for e in default_experiments()
    ]
    previous = progress.set_enabled(False) if args.json else None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        with open_board(args.board) as board:
            summary = characterize(
                board,
                tmp,
                exps,
                show_progress=not args.json,
                readout="counts" if args.readout == "counts" else None,
            )
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "x")
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if args.json:
            progress.set_enabled(previous)
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print(
            f"characterized {summary['board']['board_id']}: {len(summary['experiments'])} "
            f"experiments, {summary['board_time_s']:.1f} s board time, {summary['wall_s']:.1f} s "
            f"wall -> {out}"
        )
    return 0
