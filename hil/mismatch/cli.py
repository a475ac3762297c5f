"""`hil fit DIR --out twin.json [--csv twin.csv] [--model mismatch.json]`: fit the per-neuron twin
and the mismatch model to a characterization folder. hil/cli.py adds it with
`add_parser(subparsers)`; a HilError becomes one line and exit code 2."""

from __future__ import annotations

import argparse
import json
import time

from hil.argtypes import integer, output_file

HELP = "fit the per-neuron digital twin and the mismatch model to a characterization"
EPILOG = """examples:
  hil fit char/ --out twin.json
  hil fit char/ --out twin.json --csv twin.csv --model mismatch.json --json
  pytest --board "sim://?dt=1e-4&twin=twin.json" ...     # the simulator runs the twin

twin.json is hil.twin/1 (per-neuron currents, per-slot weight factors, dead/hot, the identifiable
list and the conventions for confounded parameters, source Recordings by hash); twin.csv has the
columns of `hil emulate --dump-truth`; mismatch.json is hil.mismatch/1. Every file is written
atomically, and only after the whole fit succeeded. Exit 0 on success, 2 for bad input."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `fit` subcommand to `subparsers`."""
    p = subparsers.add_parser(
        "fit",
        help=HELP,
        description=HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="folder written by hil characterize")
    p.add_argument("--out", required=True, type=output_file, metavar="FILE", help="twin JSON")
    p.add_argument("--csv", type=output_file, metavar="FILE", help="twin as truth-CSV columns")
    p.add_argument("--model", type=output_file, metavar="FILE", help="mismatch model JSON")
    p.add_argument(
        "--boot", type=integer(10, 10000), default=200, metavar="B", help="bootstrap resamples"
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON only")
    p.set_defaults(func=run_fit)
    return p


def run_fit(args: argparse.Namespace) -> int:
    from hil import progress
    from hil.mismatch.fit import fit_twin, load_results, nominal_currents
    from hil.mismatch.model import MismatchModel

    previous = progress.set_enabled(False) if args.json else None
    try:
        t0 = time.perf_counter()
        results = load_results(args.dir)
        twin, diag = fit_twin(results, show_progress=not args.json)
        model = None
        if args.model:
            from hil.experiments.base import Step, step_neurons

            st = [Step(params=d["params"], duration_s=d["duration_s"]) for d in results["fi"].steps]
            model = MismatchModel.fit(
                twin, nominal_currents(twin.n_chips), step_neurons(st), boot=args.boot
            )
        wall = time.perf_counter() - t0
    finally:
        if args.json:
            progress.set_enabled(previous)
    twin.save(args.out)
    if args.csv:
        twin.write_csv(args.csv)
    if model is not None:
        model.save(args.model)
    summary = {
        "twin": args.out,
        "csv": args.csv,
        "model": args.model,
        "neurons": int(twin.dead.size),
        "measured": diag["measured"],
        "dead": int(twin.dead.sum()),
        "hot": int(twin.hot.sum()),
        "identifiable": [i["name"] for i in twin.identifiable],
        "membrane_rms_log_rate": diag["membrane"]["rms_log_rate"],
        "wall_s": wall,
    }
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print(
            f"fitted {summary['measured']} neurons ({summary['dead']} dead, {summary['hot']} hot) "
            f"in {wall:.1f} s -> {args.out}"
        )
    return 0
