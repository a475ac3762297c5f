"""The `hil` command. User mistakes exit 2 with one line on stderr, never a traceback.

Every error line is bounded (ERROR_LINE_MAX characters) and made printable: control characters and
escape sequences from ids, files or boards are shown escaped (\\x1b), never sent to the terminal.
The same holds for ids printed on stdout. `hil ... | head -1` ends quietly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hil import __version__
from hil import argtypes as at
from hil.errors import ArtifactError, ConfigError, HilError, bounded, quote

if TYPE_CHECKING:
    from hil.chip.config import ChipConfig
    from hil.emulator.faults import FaultSpec

DEFAULT_BOARD = "emu://"
ERROR_LINE_MAX = 600  # characters in one error line on stderr
MAX_DEMO_EVENTS = 10_000_000  # input events a demo may draw (16 bytes each)


def safe(text: object, limit: int | None = None) -> str:
    """`text` with every non-printable character escaped (no escape sequence reaches the
    terminal), cut to `limit` characters when given."""
    s = str(text)
    if limit is not None:
        s = s[: limit * 4]  # escaping at most quadruples a character; cut before, then bound
    out = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in s)
    return out if limit is None else bounded(out, limit)


def _print_error(text: str) -> None:
    print(safe(text, ERROR_LINE_MAX), file=sys.stderr)


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keep the examples' line breaks; show each option's default unless it has none."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (argparse prints the usage as well)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        _print_error(f"{self.prog}: error: {message} (see {self.prog} --help)")
        self.exit(2)


# ---- commands ------------------------------------------------------------------------------------


def _write(path: str, data: str, option: str = "-o/--output") -> None:
    """Write `data` atomically; a failure names the option that gave the path."""
    from hil.artifacts import write_atomic

    try:
        write_atomic(path, data)
    except ArtifactError as e:
        raise HilError(f"argument {option}: {e}") from None


def _cmd_config_example(args: argparse.Namespace) -> int:
    from hil.chip.example import example_config

    cfg = example_config(seed=args.seed)
    if args.output:
        _write(args.output, cfg.to_json() + "\n")
        print(f"wrote {safe(args.output)} (content hash {cfg.content_hash()[:16]})")
    else:
        print(cfg.to_json())
    return 0


def _load_config(path: str) -> ChipConfig:
    """ChipConfig.load; a content error names the file too (a read error already does)."""
    from hil.chip.config import ChipConfig

    try:
        return ChipConfig.load(path)
    except ConfigError as e:
        if path in str(e):
            raise
        raise HilError(f"config file {path}: {e}") from None


def _cmd_config_validate(args: argparse.Namespace) -> int:
    cfg = _load_config(args.file)
    n = sum(1 for _ in cfg.neurons())
    print(
        f"{safe(args.file)}: valid ({len(cfg.chips)} chip(s), {n} neuron(s) set, "
        f"{len(cfg.inputs)} input route(s)); content hash {cfg.content_hash()}"
    )
    return 0


def _cmd_config_import_samna(args: argparse.Namespace) -> int:
    from hil.artifacts import read_json
    from hil.chip.samna import from_samna

    try:
        cfg, notes = from_samna(read_json(args.input, "samna config file"))
    except ConfigError as e:
        if args.input in str(e):
            raise
        raise HilError(f"samna config file {args.input}: {e}") from None
    for note in notes:
        print(f"note    {safe(note, ERROR_LINE_MAX)}")
    _write(args.output, cfg.to_json() + "\n")
    print(f"wrote {safe(args.output)} (content hash {cfg.content_hash()[:16]})")
    return 0


def _cmd_config_export_samna(args: argparse.Namespace) -> int:
    from hil.chip.samna import to_samna

    cfg = _load_config(args.input)
    _write(args.output, json.dumps(to_samna(cfg), separators=(",", ":")) + "\n")
    print(f"wrote {safe(args.output)} (samna's shape of content hash {cfg.content_hash()[:16]})")
    return 0


def _cmd_bias_current(args: argparse.Namespace) -> int:
    from hil.chip.biasgen import bias_current

    print(f"{float(bias_current(args.name, args.coarse, args.fine)):.6g}")
    return 0


def _cmd_bias_code(args: argparse.Namespace) -> int:
    from hil.chip.biasgen import bias_code, bias_current, current_range

    lo, hi = current_range(args.name)
    if not lo <= args.amps <= hi:
        raise HilError(
            f"argument amps: {args.amps:g} A is outside what {args.name} can produce; "
            f"allowed: {lo:.6g} .. {hi:.6g} A (`hil bias list`)"
        )
    c, f = bias_code(args.name, args.amps)
    got = float(bias_current(args.name, c, f))
    print(
        f"coarse={int(c)} fine={int(f)}  ({got:.6g} A, {100 * (got - args.amps) / args.amps:+.2f} %)"
    )
    return 0


def _cmd_bias_list(args: argparse.Namespace) -> int:
    from hil.chip.biasgen import PARAMETERS, current_range

    for p in PARAMETERS.values():
        lo, hi = current_range(p.name)
        print(f"{p.name:15s} {p.type}  scale {p.scale:<5g} {lo:9.3g} .. {hi:9.3g} A  {p.doc}")
    return 0


def _cmd_chip_nominal(args: argparse.Namespace) -> int:
    from hil.chip.params import Nominal

    text = json.dumps(Nominal().to_dict(), indent=2, sort_keys=True)
    if args.output:
        _write(args.output, text + "\n", "-o/--output")
        print(f"wrote {safe(args.output)}")
    else:
        print(text)
    return 0


def _link_line(report: object) -> str:
    """One line from a SerialBoard run report: what the link lost and repaired."""
    d = report.to_dict() if hasattr(report, "to_dict") else {}
    return (
        f"link    {d.get('lost', 0)} spikes lost ({d.get('overflow_dropped', 0)} by board overflow), "
        f"{d.get('batches_fetched', 0)}/{d.get('batches_missed', 0)} missed batches refetched, "
        f"{d.get('retransmits', 0)} retransmits, {d.get('frames_bad', 0)} bad frames"
        + (", board restarted and the run repeated" if d.get("recovered_after_restart") else "")
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    from hil import progress
    from hil.board import open_board
    from hil.chip.example import N_INPUTS, example_config
    from hil.events import global_index, poisson_input

    expected = N_INPUTS * args.rate * args.duration
    if expected > MAX_DEMO_EVENTS:
        raise HilError(
            f"arguments --rate {args.rate:g} Hz and --duration {args.duration:g} s on {N_INPUTS} "
            f"channels draw ~{expected:.3g} input events; allowed: at most {MAX_DEMO_EVENTS:.0e} "
            "(lower --rate or --duration)"
        )
    cfg = example_config(seed=args.seed)
    stim = poisson_input(args.rate, N_INPUTS, args.duration, seed=args.seed)
    with open_board(args.board) as board:
        info = board.info()
        caps = ", ".join(safe(c) for c in sorted(info.capabilities)) or "none"
        print(
            f"board   {safe(info.board_id, 120)} ({safe(info.kind, 60)}, {safe(info.version, 60)}), "
            f"{info.n_chips} chip(s), capabilities: {caps}"
        )
        confirmed = board.apply(cfg)
        print(
            f"config  example network, content hash {safe(confirmed[:16])} "
            f"({'confirmed' if confirmed == cfg.content_hash() else 'MISMATCH'})"
        )
        with warnings.catch_warnings(record=True) as caught, progress.ticker("run"):
            warnings.simplefilter("always")
            out = board.run(stim, args.duration)
        report = getattr(board, "last_run", None)  # SerialBoard: what the link lost and repaired
    idx = global_index(out)
    counts = np.bincount(idx, minlength=32)[:32]
    rates = counts / args.duration
    print(
        f"input   {N_INPUTS} Poisson channels at {args.rate:g} Hz for {args.duration:g} s "
        f"({stim.size} events, seed {args.seed})"
    )
    print(
        f"output  {out.size} spikes; excitatory neurons 0-23: mean {rates[:24].mean():.1f} Hz, "
        f"inhibitory 24-31: mean {rates[24:].mean():.1f} Hz"
    )
    if report is not None:
        print(_link_line(report))
    for w in caught:
        print(f"warning {safe(w.message, ERROR_LINE_MAX)}")
    return 0 if cfg.content_hash() == confirmed else 1


def _cmd_emulate(args: argparse.Namespace) -> int:
    import threading
    from pathlib import Path

    from hil.emulator import server as srv

    if args.silicon is not None and args.seed is not None:
        raise HilError("give either --silicon FILE or --seed N, not both")
    if args.dump_truth:
        from hil.emulator.silicon import Silicon

        sil = Silicon.load(args.silicon) if args.silicon else Silicon.from_seed(args.seed or 0)
        if args.day is not None:
            sil = sil.at_day(args.day)
        try:
            sil.write_truth(args.dump_truth)
        except ArtifactError as e:
            raise HilError(f"argument --dump-truth: {e}") from None
        print(
            f"wrote the hidden truth of {safe(sil.silicon_id)} (day {sil.day}) to "
            f"{safe(args.dump_truth)}"
        )
        return 0
    opts = srv.EmulatorOptions(
        seed=args.seed,
        silicon=args.silicon,
        day=args.day,
        baud=args.baud,
        realtime=args.realtime,
        fifo=args.fifo,
        faults=_fault_spec(args.faults or ""),
    )
    emu = srv.Emulator(opts)
    info = emu.firmware.hello_info()
    stop = threading.Event()
    desc = (
        f"board {safe(info.board_id)} ({safe(info.details.get('engine', '?'))} engine)"
        + (f", paced to {args.baud} baud" if args.baud else "")
        + (", real time" if args.realtime else "")
        + (f", faults {safe(args.faults)}" if args.faults else "")
    )
    try:
        if args.pty:
            srv.serve_pty(
                emu,
                stop,
                ready=lambda path: srv.announce(
                    f"emulator on pty {path}  ({desc}); connect: hil probe --board {path}"
                ),
                link=Path(args.pty_link) if args.pty_link else None,
            )
        else:
            host, port = args.listen
            srv.serve_tcp(
                emu,
                host,
                port,
                stop,
                ready=lambda h, p: srv.announce(
                    f"emulator listening on {h}:{p}  ({desc}); "
                    f"connect: hil probe --board socket://{h}:{p}"
                ),
            )
    except KeyboardInterrupt:
        pass
    except OSError as e:
        raise HilError(f"cannot serve: {e}") from None
    finally:
        stop.set()
        emu.close()
    return 0


def _cmd_probe(args: argparse.Namespace) -> int:
    from hil.board import open_board

    with open_board(args.board) as board:
        info = board.info()
        rtt = board.ping() if hasattr(board, "ping") else None
    d = info.to_dict()
    if rtt is not None:
        d["details"]["ping_ms"] = round(rtt * 1e3, 3)
    if args.json:  # json.dumps escapes control characters: nothing raw reaches the terminal
        print(json.dumps(d, indent=2, sort_keys=True, default=str))
        return 0
    print(f"board        {safe(info.board_id, 200)}")
    print(f"kind         {safe(info.kind, 200)}")
    print(f"version      {safe(info.version, 200)}")
    print(f"chips        {info.n_chips}")
    print(f"capabilities {', '.join(safe(c, 60) for c in sorted(info.capabilities)) or 'none'}")
    for k, v in sorted(d["details"].items()):
        print(f"  {safe(k, 40):11s}{safe(v, 200)}")
    return 0


# Benchmarks: (name, module, help). Each module provides `add_arguments(parser)` and
# `run(args) -> dict` (a JSON-ready result); `hil bench NAME --json` prints it as JSON.
BENCHMARKS = [
    ("sim", "hil.bench.sim", "simulator speed against Rockpool's DynapSim, and dt robustness"),
    ("link", "hil.bench.link", "event throughput and command round trip over the wire protocol"),
    ("emulator", "hil.bench.emulator", "real-time factor of the emulated full chip"),
    (
        "deploy",
        "hil.bench.deploy",
        "mismatch-aware deployment: rate error against naive placement on emulated chips",
    ),
    (
        "quantize",
        "hil.bench.quantize",
        "weight quantization error and speed against Rockpool's quantizer",
    ),
    (
        "scaling",
        "hil.bench.scaling",
        "hil.sim's cost against the bare-matmul floor of the same work",
    ),
    (
        "store",
        "hil.bench.store",
        "results store: trend query over a synthetic year, SQLite and PostgreSQL",
    ),
]


def _cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    from hil import progress

    previous = progress.set_enabled(False) if args.json else None  # never a bar with --json
    try:
        with progress.ticker(f"hil bench {args.subcommand}"):
            result = importlib.import_module(args.bench_module).run(args)
    finally:
        if args.json:
            progress.set_enabled(previous)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        for key, value in sorted(result.items()):
            print(f"{key:32s} {value}")
    return 0


# ---- the parser ----------------------------------------------------------------------------------


def _bias_name(text: str) -> str:
    from hil.chip.biasgen import PARAMETERS

    if text not in PARAMETERS:
        raise argparse.ArgumentTypeError(
            f"{quote(text)} is not allowed; allowed: one of {', '.join(PARAMETERS)}"
        )
    return text


def _listen(text: str) -> tuple[str, int]:
    from hil.emulator.server import parse_listen

    try:
        return parse_listen(text)
    except HilError:
        raise argparse.ArgumentTypeError(
            f"{quote(text)} is not allowed; allowed: HOST:PORT with PORT 0..65535"
        ) from None


def _fault_spec(text: str) -> FaultSpec:
    from hil.board import url_options
    from hil.emulator.faults import FAULT_OPTIONS, FaultSpec

    return FaultSpec.from_options(url_options("emu://?" + text, FAULT_OPTIONS))


def _faults(text: str) -> str:
    """--faults OPTS, checked when the command line is read (not after the server started)."""
    try:
        _fault_spec(text)
    except HilError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def build_parser(bench_options: bool = True) -> argparse.ArgumentParser:
    """The argument parser; `bench_options=False` skips importing the modules that bring the
    options of `hil bench ...` and `hil compare ...` (they import torch or scipy)."""
    p = _Parser(
        prog="hil",
        description="Hardware-in-the-loop validation and calibration for Dynap-SE2-style chips. "
        "Every command that talks to a board takes --board URL (sim://, emu://, socket://HOST:PORT, "
        "/dev/ttyUSB0, ...).",
        epilog="examples:\n"
        "  hil demo                                   # the example network on the emulated board\n"
        "  hil demo --board sim://                    # ... on the simulator\n"
        "  hil config example -o net.json && hil config validate net.json\n"
        "  hil bias code SOIF_LEAK_N 5e-12\n"
        "  hil bias current SOIF_SPKTHR_P 4 243\n"
        "  hil emulate --listen 127.0.0.1:7777        # serve an emulated board\n"
        "  hil bench sim --json\n"
        "  hil report reports/nightly                 # re-render a run's HTML report\n"
        "\nerrors: one line on stderr and exit code 2.",
        formatter_class=_Formatter,
    )
    p.add_argument("--version", action="version", version=f"hil {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(
        parent: argparse._SubParsersAction,
        name: str,
        fn: Callable | None,
        help: str,
        examples: Sequence[str],
        more: str = "",
        **kw: Any,
    ) -> argparse.ArgumentParser:
        epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples) + more
        sp = parent.add_parser(
            name, help=help, description=help, epilog=epilog, formatter_class=_Formatter, **kw
        )
        if fn is not None:
            sp.set_defaults(func=fn)
        return sp

    board_help = "board URL: sim://, emu://?seed=3, socket://HOST:PORT, /dev/ttyUSB0, ..."

    demo = add(
        sub,
        "demo",
        _cmd_demo,
        "run the example network on a board and summarize its spikes",
        [
            "hil demo",
            "hil demo --board sim://",
            "hil demo --board 'emu://?seed=3&ber=1e-4&on_loss=warn' --duration 5",
        ],
    )
    demo.add_argument("--board", default=DEFAULT_BOARD, help=board_help)
    demo.add_argument(
        "--duration",
        type=at.number(0, 3600, "s", lo_open=True),
        default=1.0,
        help="seconds of input",
    )
    demo.add_argument(
        "--rate",
        type=at.number(0, 10_000, "Hz"),
        default=50.0,
        help="Poisson input rate per channel [Hz]",
    )
    demo.add_argument("--seed", type=at.seed, default=0, help="seed of network and input")

    config = add(
        sub,
        "config",
        None,
        "example, validation, samna conversion and calibration of chip configurations (JSON)",
        [
            "hil config example -o net.json",
            "hil config validate net.json",
            "hil config calibrate net.json calibration.json -o calibrated.json",
        ],
    )
    csub = config.add_subparsers(
        dest="subcommand", metavar="SUBCOMMAND", required=True, parser_class=_Parser
    )
    ex = add(
        csub,
        "example",
        _cmd_config_example,
        "print a valid example config: a small network on one chip",
        ["hil config example", "hil config example --seed 3 -o net.json"],
    )
    ex.add_argument(
        "-o", "--output", type=at.output_file, help="write to this file instead of stdout"
    )
    ex.add_argument("--seed", type=at.seed, default=0, help="seed of the example's random wiring")
    va = add(
        csub,
        "validate",
        _cmd_config_validate,
        "check a config against every hardware constraint (exit 0 valid, 2 invalid)",
        ["hil config validate net.json"],
    )
    va.add_argument("file", help="config file (JSON, hil's sparse shape)")
    imp = add(
        csub,
        "import-samna",
        _cmd_config_import_samna,
        "convert a samna-shaped config (chips, cores, neurons as lists) to hil's JSON",
        ["hil config import-samna samna.json -o net.json"],
        more="\n\nFields of samna's model that hil does not simulate are skipped and named.",
    )
    imp.add_argument("input", help="samna-shaped config (JSON)")
    imp.add_argument(
        "-o", "--output", type=at.output_file, required=True, help="hil config to write (JSON)"
    )
    exp = add(
        csub,
        "export-samna",
        _cmd_config_export_samna,
        "convert a hil config to samna's dense shape (lists of cores, neurons, synapses)",
        ["hil config export-samna net.json -o samna.json"],
        more="\n\nhil's input routes, which samna has no place for, go under the key 'hil'.",
    )
    exp.add_argument("input", help="hil config (JSON)")
    exp.add_argument(
        "-o", "--output", type=at.output_file, required=True, help="samna-shaped JSON to write"
    )
    from hil.calibrate.cli import add_config_calibrate_parser

    add_config_calibrate_parser(csub)

    bias = add(
        sub,
        "bias",
        None,
        "the per-core bias generator: codes <-> currents",
        ["hil bias list", "hil bias code SOIF_LEAK_N 5e-12"],
    )
    bsub = bias.add_subparsers(
        dest="subcommand", metavar="SUBCOMMAND", required=True, parser_class=_Parser
    )
    cur = add(
        bsub,
        "current",
        _cmd_bias_current,
        "current [A] of a bias at (coarse, fine)",
        ["hil bias current SOIF_SPKTHR_P 4 243"],
    )
    cur.add_argument(
        "name", type=_bias_name, help="device name, e.g. SOIF_LEAK_N (see `hil bias list`)"
    )
    cur.add_argument("coarse", type=at.integer(0, 5), help="coarse value 0..5")
    cur.add_argument("fine", type=at.integer(0, 255), help="fine value 0..255")
    code = add(
        bsub,
        "code",
        _cmd_bias_code,
        "nearest (coarse, fine) for a current [A] within the bias's range",
        ["hil bias code SOIF_LEAK_N 5e-12"],
    )
    code.add_argument(
        "name", type=_bias_name, help="device name, e.g. SOIF_LEAK_N (see `hil bias list`)"
    )
    code.add_argument(
        "amps",
        type=at.number(0, float(np.finfo(float).max), "A"),
        help="current in amperes, e.g. 5e-12; outside the bias's range is an error",
    )
    add(
        bsub,
        "list",
        _cmd_bias_list,
        "every known bias with its type, scale and range",
        ["hil bias list"],
    )

    chip = add(sub, "chip", None, "the chip's nominal parameters", ["hil chip nominal"])
    chsub = chip.add_subparsers(
        dest="subcommand", metavar="SUBCOMMAND", required=True, parser_class=_Parser
    )
    nom = add(
        chsub,
        "nominal",
        _cmd_chip_nominal,
        "nominal parameters: high level, currents and bias codes (JSON)",
        ["hil chip nominal", "hil chip nominal -o models/dynapse2_nominal.json"],
    )
    nom.add_argument(
        "-o",
        "--output",
        "--write",
        dest="output",
        type=at.output_file,
        metavar="FILE",
        help="write the versioned artifact to FILE instead of stdout",
    )
    emu = add(
        sub,
        "emulate",
        _cmd_emulate,
        "serve an emulated board (wire protocol + hidden silicon) on a pty or TCP",
        [
            "hil emulate --listen 127.0.0.1:7777 --seed 3     # then, in another shell:",
            "hil probe --board socket://127.0.0.1:7777",
            "hil emulate --pty                                # prints /dev/pts/N; then:",
            "hil probe --board /dev/pts/N",
            "hil emulate --pty --baud 921600 --realtime       # a board as slow as a real UART",
            "hil emulate --listen :7777 --faults 'ber=1e-4&drop=1e-5&garbage=1e-5&delay_ms=2'",
            "hil emulate --silicon chip.json --dump-truth truth.csv   # write the hidden truth, exit",
        ],
        more="\n\nThe same board in-process, without a server: --board 'emu://?seed=3&ber=1e-4'.\n"
        "Fault options (docs/protocol.md): ber, drop, garbage (probability per byte), delay_ms,\n"
        "disconnect_after (bytes), disconnects, fault_seed. The server binds to loopback unless\n"
        "another address is given on purpose (0.0.0.0:PORT serves every interface).",
    )
    where = emu.add_mutually_exclusive_group()
    where.add_argument(
        "--pty", action="store_true", help="serve on a new pseudo-terminal and print its path"
    )
    where.add_argument(
        "--listen",
        type=_listen,
        default="127.0.0.1:7777",
        metavar="HOST:PORT",
        help="serve on TCP (port 0 picks a free port and prints it)",
    )
    emu.add_argument(
        "--pty-link", metavar="PATH", help="with --pty: also make PATH a symlink to the pty"
    )
    emu.add_argument("--seed", type=at.seed, help="silicon drawn from this seed (default 0)")
    emu.add_argument(
        "--silicon", metavar="FILE", help="silicon personality file (JSON, docs/silicon.md)"
    )
    emu.add_argument(
        "--day", type=at.integer(0, 100_000), help="day of the silicon's drift counter"
    )
    emu.add_argument(
        "--baud",
        type=at.integer(0, 100_000_000, "bit/s"),
        default=0,
        help="pace output to this line rate, bit/s (0: unpaced)",
    )
    emu.add_argument(
        "--realtime",
        action="store_true",
        help="stream each spike when the board's clock reaches it",
    )
    emu.add_argument(
        "--fifo",
        type=at.integer(1, 2**20, "events"),
        default=4096,
        help="board TX queue in events (overflows in real time)",
    )
    emu.add_argument(
        "--faults",
        type=_faults,
        default=None,
        metavar="OPTS",
        help="fault injection, e.g. 'ber=1e-4&drop=1e-5' (none by default)",
    )
    emu.add_argument(
        "--dump-truth",
        type=at.output_file,
        metavar="OUT.csv",
        help="write the silicon's hidden per-neuron truth to a CSV and exit",
    )
    probe = add(
        sub,
        "probe",
        _cmd_probe,
        "connect to a board and print who it is (BoardInfo) and the command round trip",
        [
            "hil probe --board emu://",
            "hil probe --board socket://127.0.0.1:7777 --json",
            "hil probe --board /dev/ttyUSB0",
            "hil probe --board 'hwgrep://0403:6015'",
        ],
    )
    probe.add_argument("--board", default=DEFAULT_BOARD, help=board_help)
    probe.add_argument("--json", action="store_true", help="print BoardInfo as JSON")
    bench = add(
        sub,
        "bench",
        None,
        "speed benchmarks; ratios against peers measured in one run",
        ["hil bench sim --json", "hil bench emulator", "hil bench link --json"],
    )
    besub = bench.add_subparsers(
        dest="subcommand", metavar="BENCHMARK", required=True, parser_class=_Parser
    )
    for name, module, help_ in BENCHMARKS:
        bp = add(
            besub,
            name,
            _cmd_bench,
            help_,
            [f"hil bench {name}", f"hil bench {name} --json > {name}.json"],
            more="\n\nA progress line shows on stderr when it is a terminal (HIL_PROGRESS=1|0 "
            "forces it on|off); never with --json.",
        )
        bp.add_argument("--json", action="store_true", help="print the result as JSON")
        bp.set_defaults(bench_module=module)
        if bench_options:  # benchmark modules import torch: only when a benchmark is asked for
            import importlib

            importlib.import_module(module).add_arguments(bp)
    from hil.report.cli import add_report_parser  # imports only argparse and hil.errors

    add_report_parser(sub)
    from hil.experiments.cli import add_parser as add_experiments_parser
    from hil.mismatch.cli import add_parser as add_mismatch_parser

    add_experiments_parser(sub)
    add_mismatch_parser(sub)
    from hil.calibrate.cli import add_parser as add_calibrate_parser

    add_calibrate_parser(sub)
    from hil.campaign.cli import add_parser as add_campaign_parser

    add_campaign_parser(sub)
    from hil.deploy.cli import add_parser as add_deploy_parser

    add_deploy_parser(sub)
    from hil.nightly.cli import add_parser as add_nightly_parser

    add_nightly_parser(sub)
    from hil.train.cli import add_parser as add_train_parser

    add_train_parser(sub)
    cmp_ = add(
        sub,
        "compare",
        None,
        "sim-vs-chip statistics: their measured error rates",
        [
            "hil compare error-rates --reps 200",
            "hil compare error-rates --conditions null,rate-10%",
        ],
    )
    cmpsub = cmp_.add_subparsers(
        dest="subcommand", metavar="SUBCOMMAND", required=True, parser_class=_Parser
    )
    rates = add(
        cmpsub,
        "error-rates",
        _cmd_compare_error_rates,
        "false-alarm rate and power of hil.compare, measured on the simulator (docs/compare.md)",
        ["hil compare error-rates", "hil compare error-rates --reps 30 --conditions null"],
    )
    if bench_options:
        from hil.compare.error_rates import add_arguments as error_rate_arguments

        error_rate_arguments(rates)
    return p


def _cmd_compare_error_rates(args: argparse.Namespace) -> int:
    from hil.compare.error_rates import run

    return run(args)


def _run(argv: list[str]) -> int:
    parser = build_parser(bench_options=argv[:1] in (["bench"], ["compare"]))
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error (already one line on stderr)
        return e.code if isinstance(e.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except HilError as e:
        _print_error(f"hil: error: {e}")
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `hil` command on `argv` (default: sys.argv[1:]); returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        code = _run(argv)
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        _print_error("hil: interrupted")
        return 130
    except BrokenPipeError:
        # the reader went away (`hil config example | head -1`): stop quietly, as `cat` does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
