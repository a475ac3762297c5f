"""`hil campaign --board URL --out reports/NAME [--quick] [--json]` (docs/campaign.md).

hil/cli.py adds it with `add_parser(subparsers)`; a HilError raised here becomes one line on
stderr and exit 2 there. Exit 0 when every verdict passes, 1 when a verdict or a stage fails.
"""

from __future__ import annotations

import argparse
import json
import os
import stat

from hil.errors import HilError, quote

HELP = "run every stage for one board (probe ... compare) into a run directory and an HTML report"
EPILOG = """examples:
  hil campaign --quick                                   # emu://, reports/campaign, <= 2 min
  hil campaign --board 'emu://?silicon=fixtures/silicon/bad.json' --out reports/bad
  hil campaign --board socket://127.0.0.1:7777 --out reports/lab --json

Stages: probe, conformance, screen, characterize, fit, calibrate, train, quantize, deploy,
evaluate, compare (sim and twin vs chip), report. A stage whose inputs did not change since the
last run into the same folder is reused, not redone; one whose package this build lacks is
reported as not available. Exit 0 when every verdict passes, 1 when one fails (or a stage fails),
2 for bad input."""


def _run_dir(text: str) -> str:
    """A folder to write the run into: new, or an existing folder."""
    if not text or "\0" in text:
        raise argparse.ArgumentTypeError(f"{quote(text)} is not allowed; allowed: a folder path")
    try:
        mode = os.stat(text).st_mode
    except FileNotFoundError:
        return text
    except (OSError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{quote(text)} is not allowed; allowed: a folder path"
        ) from None
    if not stat.S_ISDIR(mode):
        raise argparse.ArgumentTypeError(
            f"{quote(text)} is not allowed; allowed: a new or existing folder (this is a file)"
        )
    return text


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `campaign` to the `hil` command's subparsers."""
    p = subparsers.add_parser(
        "campaign",
        help=HELP,
        description=HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--board",
        default="emu://",
        help="board URL: emu://?seed=3, socket://HOST:PORT, /dev/ttyUSB0, ... (default emu://)",
    )
    p.add_argument(
        "--out",
        type=_run_dir,
        default="reports/campaign",
        metavar="DIR",
        help="run directory (default reports/campaign); a rerun into it resumes",
    )
    p.add_argument("--quick", action="store_true", help="the quick profile (<= 2 min on 2 cores)")
    p.add_argument(
        "--redo",
        action="store_true",
        help="redo every stage (by default a stage whose inputs did not change is reused)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON (no bars)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from hil import progress
    from hil.campaign.campaign import run_campaign

    previous = progress.set_enabled(False) if args.json else None
    try:
        result = run_campaign(
            args.board, args.out, "quick" if args.quick else "default", reuse=not args.redo
        )
    except HilError:
        raise
    finally:
        if args.json:
            progress.set_enabled(previous)
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
        return result.exit_code
    for s in summary["stages"]:
        secs = f"{s['seconds']:6.1f} s" if s["status"] in ("done", "failed") else " " * 8
        print(f"{s['name']:13s} {s['status']:8s} {secs}  {quote(s['message'])[1:-1][:150]}")
    print(f"{result.verdict}")
    print(f"report  {summary['report']}")
    return result.exit_code
