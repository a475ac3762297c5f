"""`hil nightly`, `hil history`, `hil calib diff|use|active` (docs/nightly.md, docs/farm.md).

hil/cli.py adds them with `add_parser(subparsers)`; a HilError raised here becomes one line on
stderr and exit 2 there.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from hil.errors import ConfigError, HilError, quote
from hil.nightly import SKIPPABLE

STORE_HELP = (
    "results store URL: sqlite:///PATH (default sqlite:///reports/hil.db) or postgresql://..."
)
DEFAULT_STORE = "sqlite:///reports/hil.db"


def _night(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{quote(text)} is not allowed; allowed: a date YYYY-MM-DD"
        ) from None


def _calibration_id(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise argparse.ArgumentTypeError(
            f"{quote(text)} is not allowed; allowed: a calibration id (an integer >= 0)"
        )
    return int(text)


def _parser(
    sub: argparse._SubParsersAction, name: str, help: str, examples: list[str], more: str = ""
) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=help,
        description=help,
        epilog="examples:\n" + "\n".join(f"  {e}" for e in examples) + more,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `nightly`, `history` and `calib` to the `hil` command's subparsers; returns `nightly`."""
    from hil.argtypes import integer, output_file

    n = _parser(
        subparsers,
        "nightly",
        "one night for every board: probe, conformance, characterize, fit, calibrate, validate, "
        "drift against the history, store, report",
        [
            "hil nightly --board emu:// --store sqlite:///reports/hil.db",
            "hil nightly --board a='emu://?seed=1' --board b='emu://?seed=2' --night 2026-11-28",
            "hil nightly --cluster tcp://sched:8786 --board lab3=/dev/ttyUSB0 "
            "--store 'postgresql://hil@db/hil?objects=/srv/hil/objects'",
        ],
        "\n\nA board is URL or NAME=URL; NAME is its Dask resource board-NAME on the workers "
        "(docs/farm.md).\nExit 0 when all is well, 1 on a failed verdict, a failed stage or a drift "
        "alert, 2 for bad input.",
    )
    n.add_argument(
        "--board",
        action="append",
        required=True,
        metavar="[NAME=]URL",
        help="a board (repeat for several)",
    )
    n.add_argument("--store", default=DEFAULT_STORE, help=STORE_HELP)
    n.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="Dask scheduler, e.g. tcp://host:8786 (default: a local cluster)",
    )
    n.add_argument("--night", type=_night, help="the night (YYYY-MM-DD, default today in UTC)")
    n.add_argument(
        "--out",
        default="reports/nightly",
        metavar="DIR",
        help="run directories: DIR/<board id>/<night>/",
    )
    n.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=SKIPPABLE,
        help=f"leave a stage out (repeatable): {', '.join(SKIPPABLE)}",
    )
    n.add_argument(
        "--workers",
        type=integer(1, 256),
        help="local cluster: worker processes (default one per board, at most one per core)",
    )
    n.add_argument("--json", action="store_true", help="print the summaries as JSON")
    n.set_defaults(func=run_nightly)

    h = _parser(subparsers, "history", "a board's nights: runs, verdicts, alerts, calibrations",
                ["hil history --board emu-seed-3", "hil history --board emu-seed-3 --json",
                 "hil history --board emu-seed-3 --report reports/history-emu-seed-3"])  # fmt: skip
    h.add_argument("--board", required=True, metavar="ID", help="board id (BoardInfo.board_id)")
    h.add_argument("--store", default=DEFAULT_STORE, help=STORE_HELP)
    h.add_argument("--json", action="store_true", help="print the table as JSON records")
    h.add_argument(
        "--report",
        metavar="DIR",
        help="also write a report with the trend plots to DIR/report.html",
    )
    h.set_defaults(func=run_history)

    c = _parser(subparsers, "calib", "stored calibrations: diff, rollback, the active one",
                ["hil calib diff 3 7", "hil calib use 3", "hil calib active --board emu-seed-3 -o calibration.json"])  # fmt: skip
    csub = c.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    d = _parser(
        csub,
        "diff",
        "per-core and per-neuron changes from calibration A to B",
        ["hil calib diff 3 7"],
    )
    d.add_argument("a", type=_calibration_id, metavar="A", help="calibration id (from)")
    d.add_argument("b", type=_calibration_id, metavar="B", help="calibration id (to)")
    d.add_argument("--store", default=DEFAULT_STORE, help=STORE_HELP)
    d.add_argument("--json", action="store_true", help="print the changes as JSON")
    d.set_defaults(func=run_calib_diff)
    u = _parser(
        csub,
        "use",
        "make calibration ID its board's active one (rollback)",
        ["hil calib use 3 --reason 'night 12 was bad'"],
    )
    u.add_argument("id", type=_calibration_id, metavar="ID", help="calibration id to make active")
    u.add_argument("--reason", default="rollback", help="why (kept in the history)")
    u.add_argument("--store", default=DEFAULT_STORE, help=STORE_HELP)
    u.set_defaults(func=run_calib_use)
    a = _parser(csub, "active", "the calibration a board uses now (what deployments load)",
                ["hil calib active --board emu-seed-3 -o calibration.json"])  # fmt: skip
    a.add_argument("--board", required=True, metavar="ID", help="board id (BoardInfo.board_id)")
    a.add_argument(
        "-o", "--output", type=output_file, help="write the document here (default stdout)"
    )
    a.add_argument("--store", default=DEFAULT_STORE, help=STORE_HELP)
    a.set_defaults(func=run_calib_active)
    return n


# ---- commands ---------------------------------------------------------------------------------------


def run_nightly(args: argparse.Namespace) -> int:
    from hil import progress
    from hil.farm.farm import parse_board, run_farm, run_serial
    from hil.nightly.nightly import NightJob
    from hil.store import parse_url

    parse_url(args.store)  # a bad store URL is bad input before any board is touched
    night = args.night or dt.datetime.now(dt.timezone.utc).date().isoformat()
    boards = [parse_board(b, i) for i, b in enumerate(args.board)]
    names = [n for n, _ in boards]
    if len(set(names)) != len(names):
        raise ConfigError("--board", ", ".join(names), "one distinct NAME per board")
    jobs = [NightJob(url=u, store=args.store, night=night, out=args.out, skip=tuple(args.skip), name=n)
            for n, u in boards]  # fmt: skip
    previous = progress.set_enabled(False) if args.json or len(jobs) > 1 else None
    try:
        if args.cluster is None and len(jobs) == 1:
            summaries = run_serial(jobs)
        else:
            summaries = run_farm(jobs, cluster=args.cluster, n_workers=args.workers)
    finally:
        if args.json or len(jobs) > 1:
            progress.set_enabled(previous)
    if args.json:
        print(json.dumps(summaries, indent=2, default=str))
    else:
        for s in summaries:
            line = f"{s.get('board')!s:24s} {s.get('night')} {s.get('verdict')}"
            if s.get("alerts"):
                line += f", {s['alerts']} drift alerts"
            if s.get("error"):
                line += f": {s['error']}"
            print(quote(line)[1:-1][:400])
            failed = [x for x in s.get("stages", []) if x["status"] == "failed"]
            for x in failed:
                print(f"  stage {x['name']} failed: {quote(x['message'])[1:-1][:300]}")
            if s.get("run_dir"):
                print(f"  report {s['run_dir']}/report.html")
    codes = [int(s.get("exit_code", 1)) for s in summaries]
    if codes and all(c == 2 for c in codes):
        errors = "; ".join(str(s.get("error")) for s in summaries)
        raise HilError(errors[:2000])
    return max([c for c in codes if c != 2] + [1 if 2 in codes else 0])


def run_history(args: argparse.Namespace) -> int:
    from hil.store import open_store

    with open_store(args.store) as store:
        frame = store.history(args.board)
        alerts = store.alerts(args.board)
        report = None
        if args.report:
            from hil.nightly.nightly import history_report

            report = history_report(store, args.board, args.report)
    if report is not None:
        print(f"report {report}", file=sys.stderr)
    if args.json:
        print(frame.to_json(orient="records", date_format="iso", indent=2))
        return 0
    cols = [
        "run_id",
        "night",
        "attempt",
        "status",
        "verdict",
        "duration_s",
        "n_alerts",
        "calibration_id",
        "failed_stages",
        "error",
    ]
    shown = frame[[c for c in cols if c in frame.columns]]
    print(shown.to_string(index=False, max_colwidth=60))
    if len(alerts):
        print(f"\nalerts ({len(alerts)}), latest first:")
        for r in alerts.sort_values("night", ascending=False).head(20).itertuples():
            print(f"  {r.night} {r.kind:13s} {quote(str(r.message))[1:-1][:200]}")
    return 0


def run_calib_diff(args: argparse.Namespace) -> int:
    from hil.store import open_store

    with open_store(args.store) as store:
        changes = store.calibration_diff(args.a, args.b)
    if args.json:
        doc = [{"path": c.path, "old": c.old, "new": c.new, "delta": c.delta} for c in changes]
        print(json.dumps(doc, indent=2, default=str))
        return 0
    if not changes:
        print(f"calibrations {args.a} and {args.b} are the same")
        return 0
    print(f"{len(changes)} changes from calibration {args.a} to {args.b}:")
    for c in changes:
        delta = "" if c.delta is None else f"  ({c.delta:+.6g})"
        line = f"  {c.path}: {c.old!r} -> {c.new!r}{delta}"
        print(quote(line)[1:-1][:300])
    return 0


def run_calib_use(args: argparse.Namespace) -> int:
    from hil.store import open_store

    with open_store(args.store) as store:
        cal = store.use_calibration(args.id, reason=args.reason)
    print(f"board {cal.board}: calibration {cal.id} is active ({args.reason})")
    return 0


def run_calib_active(args: argparse.Namespace) -> int:
    from hil.artifacts import write_json
    from hil.store import open_store

    with open_store(args.store) as store:
        cal = store.active_calibration(args.board)
    if args.output:
        write_json(args.output, cal.document)
        print(f"board {cal.board}: calibration {cal.id} -> {args.output}", file=sys.stderr)
    else:
        print(json.dumps(cal.document, indent=2, sort_keys=True))
    return 0
