"""`hil calibrate --board URL --target T.json --out calibration.json` and the function behind
`hil config calibrate CONFIG CALIBRATION -o OUT` (`add_config_calibrate_parser`, which the lead
wires under `hil config`). A HilError raised here becomes one line on stderr and exit 2 in
hil/cli.py. Heavy imports happen inside the command functions.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

from hil import argtypes as at
from hil.errors import ArtifactError, HilError, bounded, quote

HELP = (
    "calibrate per-core biases so each core's median tau_mem, t_ref, tau_ampa, tau_gaba hit targets"
)
EPILOG = """examples:
  hil calibrate --board 'emu://?seed=3' --target t.json --out cal.json
  hil calibrate --board 'emu://?seed=3' --target t.json --out cal.json --algorithm binary --json
  hil config calibrate net.json cal.json -o net_calibrated.json

The target file: {"schema": "hil.calibration-target/1", "targets": {"tau_mem": 0.02,
"t_ref": 0.002}, "cores": [[0, 0], [0, 1]]} (cores optional: default every core). The output
(schema hil.calibration/1, docs/calibration.md) lists per core the calibrated codes, the nominal
conversion's codes, the board-measured medians and a success flag per target, the bad neurons, and
the board runs used. Results are cached by board, silicon, day (today's UTC date for a board that
reports none), targets, algorithm and hil version (--cache DIR, default ~/.cache/hil/calibrate;
--no-cache to recompute); --out is written before the cache, and a cache that cannot be read or
written is a warning line. Exit 0 when every core met every target, 1 when some did not, 2 for bad
input."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `calibrate` subcommand to `subparsers` (the `hil` command's)."""
    from hil.calibrate.algorithms import ALGORITHMS

    p = subparsers.add_parser(
        "calibrate",
        help=HELP,
        description=HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--board", required=True, help="board URL (emu://?seed=3, socket://..., ...)")
    p.add_argument("--target", required=True, metavar="T.json", help="target file")
    p.add_argument(
        "--out", required=True, metavar="FILE", type=at.output_file, help="calibration.json"
    )
    names = sorted(ALGORITHMS)

    def algorithm(text: str) -> str:
        if text not in ALGORITHMS:
            raise _refuse(text, "one of " + ", ".join(names))
        return text

    p.add_argument(
        "--algorithm",
        type=algorithm,
        default="predictive",
        metavar="{" + ",".join(names) + "}",
        help="search algorithm (default: predictive)",
    )
    p.add_argument(
        "--tolerance",
        type=at.number(0, 0.5, "(relative)", lo_open=True),
        default=0.03,
        help="a core succeeds when its measured median is within this of the target (0.03)",
    )
    p.add_argument(
        "--cache",
        metavar="DIR",
        type=cache_folder,
        help="cache folder: a writable folder, or one that can be made (default "
        "~/.cache/hil/calibrate)",
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--json", action="store_true", help="print a JSON summary only")
    p.set_defaults(func=run_calibrate)
    return p


def run_calibrate(args: argparse.Namespace) -> int:
    """Open the board, calibrate, write the record; print a summary."""
    from hil.board import open_board
    from hil.calibrate import ALGORITHMS, calibrate, default_cache_dir, load_target, save
    from hil.calibrate.calibrate import CacheWarning, store_cached

    _writable(args.out, "--out")  # refuse before minutes of board time, not after
    target = load_target(args.target)
    cache = None if args.no_cache else (args.cache or _default_cache(default_cache_dir()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CacheWarning)
        with open_board(args.board) as board:
            record = calibrate(
                board, target, ALGORITHMS[args.algorithm](), args.tolerance, cache, store=False
            )
        try:
            save(args.out, record)  # the result first: a cache problem must not lose it
        except ArtifactError as e:
            raise HilError(f"argument --out: {e}") from None
        if cache is not None and not record.get("cached"):
            store_cached(cache, record)
    for w in caught:
        if issubclass(w.category, CacheWarning):
            print(f"hil calibrate: warning: {_line(w.message)}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    ok = all(all(c["success"].values()) for c in record["cores"])
    summary = {
        "out": str(args.out),
        "success": ok,
        "runs": record["runs"],
        "cached": bool(record.get("cached", False)),
        "board_s": record["board_s"],
        "cores": [
            {
                "chip": c["chip"],
                "core": c["core"],
                "achieved": c["achieved"],
                "success": c["success"],
            }
            for c in record["cores"]
        ],
        "dead": len(record["bad_neurons"]["dead"]),
        "hot": len(record["bad_neurons"]["hot"]),
    }
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        for c in record["cores"]:
            parts = [
                f"{name} {_fmt(v)} ({'ok' if c['success'][name] else 'FAILED'})"
                for name, v in c["achieved"].items()
            ]
            print(f"chip {c['chip']} core {c['core']}: " + ", ".join(parts))
        how = (
            f"cached (from {_line(record.get('created_utc'), 40)}, no board runs now), first "
            if summary["cached"]
            else ""
        )
        print(
            f"wrote {quote(str(args.out))}: {how}{record['runs']} board runs, "
            f"{record['board_s']:.2f} s of board time, {summary['dead']} dead, "
            f"{summary['hot']} hot neurons"
        )
    return 0 if ok else 1


def cache_folder(text: str) -> str:
    """argparse type of --cache: an existing writable folder, or a new path whose nearest existing
    parent is a writable folder (tried with a temporary file/folder, removed at once)."""
    allowed = "a writable folder, or a new path inside one"
    if not text or "\0" in text or len(text) > 4096:
        raise _refuse(text, allowed)
    path = Path(text)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    try:
        if not probe.is_dir():
            raise _refuse(text, allowed + f" ({quote(str(probe))} is not a folder)")
        with tempfile.TemporaryDirectory(dir=probe, prefix=".hil-calibrate-"):
            pass
    except OSError as e:
        raise _refuse(text, allowed + f" ({quote(str(probe))}: {e.strerror})") from None
    return text


def _refuse(text: str, allowed: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"{quote(text)} is not allowed; allowed: {allowed}")


def _default_cache(path: Path) -> Path | None:
    """The default cache folder, or None with a warning line when it cannot be used."""
    try:
        cache_folder(str(path))
    except argparse.ArgumentTypeError as e:
        print(f"hil calibrate: warning: cache not used: {_line(e)}", file=sys.stderr)
        return None
    return path


def _writable(path: str, option: str) -> None:
    """HilError unless a file can be created in `path`'s folder (the write itself stays atomic,
    hil.artifacts.write_atomic); tried with a temporary file that is removed at once."""
    folder = Path(path).parent
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".hil-calibrate-", suffix=".tmp"):
            pass
    except OSError as e:
        raise HilError(
            f"argument {option}: cannot write in {quote(str(folder))} ({e.strerror}); "
            "allowed: a file in a writable folder"
        ) from None


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 1e3:.4g} ms"


CONFIG_HELP = "write the calibrated biases of a calibration.json into a network config"
CONFIG_EPILOG = """examples:
  hil config calibrate net.json cal.json -o net_calibrated.json

Every calibrated bias of every calibrated core the config's chips hold is written (a core the
config leaves empty gets them too: unset biases would sit at their nominal codes); each change is
printed. Exit 2 for bad input."""


def add_config_calibrate_parser(csub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `calibrate` to the subcommands of `hil config` (`csub`)."""
    p = csub.add_parser(
        "calibrate",
        help=CONFIG_HELP,
        description=CONFIG_HELP,
        epilog=CONFIG_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", metavar="CONFIG", help="network config (hil.chipconfig/1 JSON)")
    p.add_argument(
        "calibration", metavar="CALIBRATION", help="calibration.json (hil.calibration/1)"
    )
    p.add_argument("-o", "--output", required=True, type=at.output_file, help="config to write")
    p.set_defaults(func=run_config_calibrate)
    return p


def run_config_calibrate(args: argparse.Namespace) -> int:
    """Merge and write; print what changed."""
    from hil.artifacts import write_atomic
    from hil.calibrate import load, merge
    from hil.chip.config import ChipConfig

    _writable(args.output, "-o/--output")  # before reading anything
    try:
        config = ChipConfig.load(args.config)
    except HilError as e:
        raise HilError(f"config file {args.config}: {e}") from None
    try:
        calibration = load(args.calibration)
    except HilError as e:
        raise HilError(f"calibration file {args.calibration}: {e}") from None
    merged, notes = merge(config, calibration)
    try:
        write_atomic(args.output, merged.to_json())
    except ArtifactError as e:
        raise HilError(f"argument -o/--output: {e}") from None
    for line in notes:
        print(line)
    print(f"wrote {quote(str(args.output))}: {len(notes)} changes")
    return 0


def _line(value: object, limit: int = 400) -> str:
    """str(value) as one bounded line (for warnings on stderr)."""
    return bounded(" ".join(str(value).split()), limit)
