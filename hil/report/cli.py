"""`hil report RUN_DIR [-o FILE]`: re-render a run's HTML report from its run directory, without
the board. hil/cli.py adds it with `add_report_parser(subparsers)`; a HilError raised here becomes
one line on stderr and exit code 2 there. This module imports nothing above hil.report (the
package layers of docs/architecture.md), so it takes no argparse types from hil.argtypes: the
output path is checked where it is written (hil.artifacts.write_atomic).
"""

from __future__ import annotations

import argparse

from hil.errors import ArtifactError, HilError, quote

HELP = "re-render a run's self-contained HTML report from its run directory (no board needed)"
EPILOG = """examples:
  hil report reports/nightly                  # writes reports/nightly/report.html
  hil report reports/nightly -o /tmp/r.html

RUN_DIR holds run.json, recordings/ and tables/ (docs/report.md). Exit 0 when the report was
written, whatever its verdicts say; 2 for bad input."""


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
        "-o", "--output", metavar="FILE", help="HTML file to write (default: RUN_DIR/report.html)"
    )
    p.set_defaults(func=run_report)
    return p


def run_report(args: argparse.Namespace) -> int:
    """Render and write the report; print where it went and the overall verdict."""
    from hil.artifacts import write_atomic
    from hil.report.document import overall, render
    from hil.report.rundir import REPORT, Run

    run = Run.load(args.run_dir)
    html = render(run)
    path = args.output if args.output is not None else run.path / REPORT
    try:
        write_atomic(path, html)
    except ArtifactError as e:
        raise HilError(f"argument -o/--output: {e}") from None
    print(f"wrote {quote(str(path))}: {quote(overall(run)[1])}")  # quoted: escapes control chars
    return 0
