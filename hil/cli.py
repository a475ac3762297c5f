"""The `hil` command. User mistakes exit 2 with one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

import numpy as np

from hil import __version__
from hil.errors import HilError

DEFAULT_BOARD = "emu://"


def _cmd_config_example(args: argparse.Namespace) -> int:
    from hil.chip.example import example_config

    cfg = example_config(seed=args.seed)
    if args.output:
        cfg.save(args.output)
        print(f"wrote {args.output} (content hash {cfg.content_hash()[:16]})")
    else:
        print(cfg.to_json())
    return 0


def _cmd_config_validate(args: argparse.Namespace) -> int:
    from hil.chip.config import ChipConfig

    try:
        text = open(args.file).read()
    except OSError as e:
        raise HilError(f"cannot read {args.file}: {e.strerror}") from None
    cfg = ChipConfig.from_json(text)
    n = sum(1 for _ in cfg.neurons())
    print(
        f"{args.file}: valid ({len(cfg.chips)} chip(s), {n} neuron(s) set, "
        f"{len(cfg.inputs)} input route(s)); content hash {cfg.content_hash()}"
    )
    return 0


def _cmd_bias_current(args: argparse.Namespace) -> int:
    from hil.chip.biasgen import bias_current

    print(f"{float(bias_current(args.name, args.coarse, args.fine)):.6g}")
    return 0


def _cmd_bias_code(args: argparse.Namespace) -> int:
    from hil.chip.biasgen import bias_code, bias_current

    c, f = bias_code(args.name, args.amps)
    got = float(bias_current(args.name, c, f))
    print(
        f"coarse={int(c)} fine={int(f)}  ({got:.6g} A, {100 * (got - args.amps) / args.amps:+.2f} %)"
        if args.amps
        else f"coarse={int(c)} fine={int(f)}  ({got:.6g} A)"
    )
    return 0


def _cmd_bias_list(args: argparse.Namespace) -> int:
    from hil.chip.biasgen import PARAMETERS, current_range

    for p in PARAMETERS.values():
        lo, hi = current_range(p.name)
        print(f"{p.name:15s} {p.type}  scale {p.scale:<5g} {lo:9.3g} .. {hi:9.3g} A  {p.doc}")
    return 0


def _cmd_chip_nominal(args: argparse.Namespace) -> int:
    from hil.artifacts import write_json
    from hil.chip.params import Nominal

    data = Nominal().to_dict()
    if args.write:
        write_json(args.write, data)
        print(f"wrote {args.write}")
    else:
        print(json.dumps(data, indent=2, sort_keys=True))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from hil.board import open_board
    from hil.chip.example import N_INPUTS, example_config
    from hil.events import global_index, poisson_input

    cfg = example_config(seed=args.seed)
    stim = poisson_input(args.rate, N_INPUTS, args.duration, seed=args.seed)
    with open_board(args.board) as board:
        info = board.info()
        print(
            f"board   {info.board_id} ({info.kind}, {info.version}), {info.n_chips} chip(s), "
            f"capabilities: {', '.join(sorted(info.capabilities)) or 'none'}"
        )
        confirmed = board.apply(cfg)
        print(
            f"config  example network, content hash {confirmed[:16]} "
            f"({'confirmed' if confirmed == cfg.content_hash() else 'MISMATCH'})"
        )
        out = board.run(stim, args.duration)
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
    return 0 if cfg.content_hash() == confirmed else 1


def _cmd_emulate(args: argparse.Namespace) -> int:
    import threading
    from pathlib import Path

    from hil.emulator import server as srv
    from hil.emulator.faults import FaultSpec

    if args.silicon is not None and args.seed is not None:
        raise HilError("give either --silicon FILE or --seed N, not both")
    if args.dump_truth:
        from hil.emulator.silicon import Silicon

        sil = Silicon.load(args.silicon) if args.silicon else Silicon.from_seed(args.seed or 0)
        if args.day is not None:
            sil = sil.at_day(args.day)
        sil.write_truth(args.dump_truth)
        print(f"wrote the hidden truth of {sil.silicon_id} (day {sil.day}) to {args.dump_truth}")
        return 0
    from hil.board import url_options

    faults = FaultSpec.from_options(url_options("emu://?" + (args.faults or ""), srv.FAULT_OPTIONS))
    opts = srv.EmulatorOptions(
        seed=args.seed,
        silicon=args.silicon,
        day=args.day,
        baud=args.baud,
        realtime=args.realtime,
        fifo=args.fifo,
        faults=faults,
    )
    emu = srv.Emulator(opts)
    info = emu.firmware.hello_info()
    stop = threading.Event()
    desc = (
        f"board {info.board_id} ({info.details.get('engine', '?')} engine)"
        + (f", paced to {args.baud} baud" if args.baud else "")
        + (", real time" if args.realtime else "")
        + (f", faults {args.faults}" if args.faults else "")
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
            host, port = srv.parse_listen(args.listen)
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
    if args.json:
        print(json.dumps(d, indent=2, sort_keys=True, default=str))
        return 0
    print(f"board        {info.board_id}")
    print(f"kind         {info.kind}")
    print(f"version      {info.version}")
    print(f"chips        {info.n_chips}")
    print(f"capabilities {', '.join(sorted(info.capabilities)) or 'none'}")
    for k, v in sorted(d["details"].items()):
        print(f"  {k:11s}{v}")
    return 0


# Benchmarks: (name, module, help). Each module provides `add_arguments(parser)` and
# `run(args) -> dict` (a JSON-ready result); `hil bench NAME --json` prints it as JSON.
BENCHMARKS = [
    ("sim", "hil.bench.sim", "simulator speed against Rockpool's DynapSim, and dt robustness"),
    ("link", "hil.bench.link", "event throughput and command round trip over the wire protocol"),
    ("emulator", "hil.bench.emulator", "real-time factor of the emulated full chip"),
]


def _cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    result = importlib.import_module(args.bench_module).run(args)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        for key, value in sorted(result.items()):
            print(f"{key:32s} {value}")
    return 0


def build_parser(bench_options: bool = True) -> argparse.ArgumentParser:
    """The argument parser; `bench_options=False` skips importing the benchmark modules."""
    p = argparse.ArgumentParser(
        prog="hil",
        description="Hardware-in-the-loop validation and calibration for Dynap-SE2-style chips. "
        "Every command that talks to a board takes --board URL (sim://, emu://, socket://HOST:PORT, "
        "/dev/ttyUSB0, ...).",
        epilog="examples:\n  hil demo\n  hil config example -o net.json && hil config validate net.json\n"
        "  hil bias code SOIF_LEAK_N 5e-12\n  hil bias current SOIF_SPKTHR_P 4 243",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"hil {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(
        parent: argparse._SubParsersAction, name: str, fn: Callable | None, help: str, **kw: object
    ) -> argparse.ArgumentParser:
        sp = parent.add_parser(name, help=help, description=help, **kw)
        if fn is not None:
            sp.set_defaults(func=fn)
        return sp

    demo = add(
        sub, "demo", _cmd_demo, "run the example network on a board and summarize its spikes"
    )
    demo.add_argument("--board", default=DEFAULT_BOARD, help=f"board URL (default {DEFAULT_BOARD})")
    demo.add_argument("--duration", type=float, default=1.0, help="seconds of input (default 1)")
    demo.add_argument(
        "--rate", type=float, default=50.0, help="input rate per channel, Hz (default 50)"
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of network and input (default 0)")

    config = add(sub, "config", None, "example and validation of chip configurations (JSON)")
    csub = config.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    ex = add(
        csub,
        "example",
        _cmd_config_example,
        "print a valid example config: a small network on one chip",
    )
    ex.add_argument("-o", "--output", help="write to this file instead of stdout")
    ex.add_argument("--seed", type=int, default=0)
    va = add(
        csub,
        "validate",
        _cmd_config_validate,
        "check a config against every hardware constraint (exit 0 valid, 2 invalid)",
    )
    va.add_argument("file")

    bias = add(sub, "bias", None, "the per-core bias generator: codes <-> currents")
    bsub = bias.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    cur = add(bsub, "current", _cmd_bias_current, "current [A] of a bias at (coarse, fine)")
    cur.add_argument("name", help="device name, e.g. SOIF_LEAK_N (see `hil bias list`)")
    cur.add_argument("coarse", type=int, help="0..5")
    cur.add_argument("fine", type=int, help="0..255")
    code = add(bsub, "code", _cmd_bias_code, "nearest (coarse, fine) for a current [A]")
    code.add_argument("name")
    code.add_argument("amps", type=float, help="current in amperes, e.g. 5e-12")
    add(bsub, "list", _cmd_bias_list, "every known bias with its type, scale and range")

    chip = add(sub, "chip", None, "the chip's nominal parameters")
    chsub = chip.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    nom = add(
        chsub,
        "nominal",
        _cmd_chip_nominal,
        "nominal parameters: high level, currents and bias codes (JSON)",
    )
    nom.add_argument("--write", metavar="FILE", help="write the versioned artifact to FILE")
    emu = add(
        sub,
        "emulate",
        _cmd_emulate,
        "serve an emulated board (wire protocol + hidden silicon) on a pty or TCP",
        epilog="examples:\n"
        "  hil emulate --listen 127.0.0.1:7777 --seed 3     # then, in another shell:\n"
        "  hil probe --board socket://127.0.0.1:7777\n"
        "  hil emulate --pty                                # prints /dev/pts/N; then:\n"
        "  hil probe --board /dev/pts/N\n"
        "  hil emulate --pty --baud 921600 --realtime       # a board as slow as a real UART\n"
        "  hil emulate --listen :7777 --faults 'ber=1e-4&drop=1e-5&garbage=1e-5&delay_ms=2'\n"
        "  hil emulate --silicon chip.json --dump-truth truth.csv   # write the hidden truth, exit\n"
        "\nThe same board in-process, without a server: --board 'emu://?seed=3&ber=1e-4'.\n"
        "Fault options (docs/protocol.md): ber, drop, garbage (probability per byte), delay_ms,\n"
        "disconnect_after (bytes), disconnects, fault_seed. The server binds to loopback unless\n"
        "another address is given on purpose (0.0.0.0:PORT serves every interface).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = emu.add_mutually_exclusive_group()
    where.add_argument(
        "--pty", action="store_true", help="serve on a new pseudo-terminal and print its path"
    )
    where.add_argument(
        "--listen",
        default="127.0.0.1:7777",
        metavar="HOST:PORT",
        help="serve on TCP (default 127.0.0.1:7777; port 0 picks a free port and prints it)",
    )
    emu.add_argument(
        "--pty-link", metavar="PATH", help="with --pty: also make PATH a symlink to the pty"
    )
    emu.add_argument("--seed", type=int, help="silicon drawn from this seed (default 0)")
    emu.add_argument(
        "--silicon", metavar="FILE", help="silicon personality file (JSON, docs/silicon.md)"
    )
    emu.add_argument("--day", type=int, help="day of the silicon's drift counter")
    emu.add_argument(
        "--baud",
        type=int,
        default=0,
        help="pace output to this line rate, bit/s (default: unpaced)",
    )
    emu.add_argument(
        "--realtime",
        action="store_true",
        help="stream each spike when the board's clock reaches it",
    )
    emu.add_argument(
        "--fifo", type=int, default=4096, help="board TX queue in events (overflows in real time)"
    )
    emu.add_argument("--faults", metavar="OPTS", help="fault injection, e.g. 'ber=1e-4&drop=1e-5'")
    emu.add_argument(
        "--dump-truth",
        metavar="OUT.csv",
        help="write the silicon's hidden per-neuron truth to a CSV and exit",
    )
    probe = add(
        sub,
        "probe",
        _cmd_probe,
        "connect to a board and print who it is (BoardInfo) and the command round trip",
        epilog="examples:\n  hil probe --board emu://\n  hil probe --board socket://127.0.0.1:7777 --json\n"
        "  hil probe --board /dev/ttyUSB0\n  hil probe --board 'hwgrep://0403:6015'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    probe.add_argument("--board", default="emu://", help="board URL (default emu://)")
    probe.add_argument("--json", action="store_true", help="print BoardInfo as JSON")
    bench = add(sub, "bench", None, "speed benchmarks; ratios against peers measured in one run")
    besub = bench.add_subparsers(dest="subcommand", metavar="BENCHMARK", required=True)
    for name, module, help_ in BENCHMARKS:
        bp = add(besub, name, _cmd_bench, help_)
        bp.add_argument("--json", action="store_true", help="print the result as JSON")
        bp.set_defaults(bench_module=module)
        if bench_options:  # benchmark modules import torch: only when a benchmark is asked for
            import importlib

            importlib.import_module(module).add_arguments(bp)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(bench_options=argv[:1] == ["bench"])
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except HilError as e:
        print(f"hil: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hil: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
