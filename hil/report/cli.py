"""`hil report RUN_DIR [-o FILE]`: re-render a run's HTML report from its run directory, without
the board. Wired into the `hil` command by hil/cli.py (add_report_parser); `python -m hil.report`
runs it alone. Bad input: one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hil import argtypes as at
from hil.errors import HilError

HELP = "re-render a run's self-contained HTML report from its run directory (no board needed)"
EPILOG = """examples:
  hil report reports/nightly                  # writes reports/nightly/report.html
  hil report reports/nightly -o /tmp/r.html

RUN_DIR holds run.json, recordings/ and tables/ (docs/report.md). Exit 0 when the report was
written (whatever its verdicts say), 2 for bad input."""


def add_report_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `report` subcommand to `subparsers` (the `hil` command's)."""
    p = subparsers.add_parser(
        "report",
        help=HELP,
        description=HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (holds run.json)")
    p.add_argument(
        "-o",
        "--output",
        type=at.output_file,
        metavar="FILE",
        help="HTML file to write (default: RUN_DIR/report.html)",
    )
    p.set_defaults(func=run_report)
    return p


def run_report(args: argparse.Namespace) -> int:
    """Render and write the report; print where it went and the overall verdict."""
    from hil.cli import safe
    from hil.report.render import overall, write_report
    from hil.report.rundir import Run

    run = Run.load(args.run_dir)
    path = write_report(run, args.output)
    print(f"wrote {safe(path)}: {safe(overall(run)[1])}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m hil.report RUN_DIR [-o FILE]`: the same command outside `hil`."""
    from hil.cli import _Parser, _print_error

    parser = _Parser(prog="hil")
    add_report_parser(parser.add_subparsers(dest="command", required=True, parser_class=_Parser))
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(["report", *argv])
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    try:
        return run_report(args)
    except HilError as e:
        _print_error(f"hil: error: {e}")
        return 2
