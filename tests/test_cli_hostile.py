"""Every `hil` command driven with hostile values: exit code 2, exactly one line on stderr that names
the argument and what is allowed, nothing written, no traceback. In-process through `main(argv)`
(fast), a few cases as real processes."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hil.chip.example import example_config
from hil.cli import ERROR_LINE_MAX, main

# Values that break naive parsers, for every kind of slot.
NASTY = [
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e400",
    "-1",
    "1e12",
    "9" * 40,
    "0x10",
    "1_0",
    "",
    " ",
    "abc",
    "\x1b[31mred\x1b[0m",
    "\x1b]0;pwned\x07",
    "\u202eevil",
    "٣",
    "x" * 100_000,
    "1\n2",
]


@dataclass(frozen=True)
class Slot:
    """One argument of one command: where the hostile value goes and what must name it."""

    argv: tuple[str, ...]  # the command with "{}" where the value goes
    name: str  # what the error line must mention
    valid: object = None  # value -> bool: what the command would accept (test-side statement)

    def fill(self, value: str) -> list[str]:
        return [a.replace("{}", value) if "{}" in a else a for a in self.argv]


def _number(lo: float, hi: float, lo_open: bool = False):
    def valid(text: str) -> bool:
        try:
            x = float(text)
        except ValueError:
            return False
        return math.isfinite(x) and (x > lo if lo_open else x >= lo) and x <= hi

    return valid


def _integer(lo: int, hi: int):
    def valid(text: str) -> bool:
        body = text[1:] if text.startswith("-") else text
        return body.isascii() and body.isdigit() and lo <= int(text) <= hi

    return valid


SEED = _integer(0, 2**32 - 1)

FINETUNE = ("finetune", "m.json", "--board", "sim://", "--twin", "t.csv", "--out", "o.json")
SLOTS = [
    Slot(("demo", "--duration={}"), "--duration", _number(0, 3600, lo_open=True)),
    Slot(("demo", "--rate={}"), "--rate", _number(0, 10_000)),
    Slot(("demo", "--seed={}"), "--seed", SEED),
    Slot(("config", "example", "--seed={}"), "--seed", SEED),
    Slot(("bias", "current", "SOIF_LEAK_N", "{}", "3"), "coarse", _integer(0, 5)),
    Slot(("bias", "current", "SOIF_LEAK_N", "3", "{}"), "fine", _integer(0, 255)),
    Slot(("bias", "current", "{}", "3", "3"), "name", lambda t: t == "SOIF_LEAK_N"),
    # amps: anything outside SOIF_LEAK_N's range (2.99e-13 .. 1.39e-6 A) is refused
    Slot(("bias", "code", "SOIF_LEAK_N", "{}"), "amps", _number(2.99e-13, 1.39e-6)),
    Slot(("bias", "code", "{}", "1e-9"), "name", lambda t: t == "SOIF_LEAK_N"),
    Slot(("emulate", "--seed={}"), "--seed", SEED),
    Slot(("emulate", "--day={}", "--seed=1"), "--day", _integer(0, 100_000)),
    Slot(("emulate", "--baud={}"), "--baud", _integer(0, 100_000_000)),
    Slot(("emulate", "--fifo={}"), "--fifo", _integer(1, 2**20)),
    Slot(("emulate", "--listen={}"), "--listen", lambda t: False),
    Slot(("emulate", "--faults=ber={}"), "--faults", _number(0, 0.5)),
    Slot(("bench", "link", "--pings={}"), "--pings", _integer(1, 1_000_000)),
    Slot(("bench", "link", "--paced-seconds={}"), "--paced-seconds", _number(0, 600, True)),
    Slot(("bench", "emulator", "--dt={}"), "--dt", _number(1e-7, 1e-2)),
    Slot(("bench", "emulator", "--repeats={}"), "--repeats", _integer(1, 1000)),
    Slot(("bench", "sim", "--threads={}"), "--threads", _integer(0, 1024)),
    Slot(("bench", "sim", "--peer-instances={}"), "--peer-instances", _integer(1, 100)),
    Slot(("bench", "quantize", "--repeats={}"), "--repeats", _integer(1, 100)),
    Slot(("bench", "quantize", "--seed={}"), "--seed", SEED),
    Slot((*FINETUNE, "--iterations={}"), "--iterations", _integer(1, 100)),
    Slot((*FINETUNE, "--rate={}"), "--rate", _number(0, 1000, lo_open=True)),
    Slot((*FINETUNE, "--duration={}"), "--duration", _number(1e-6, 60)),
    Slot((*FINETUNE, "--seed={}"), "--seed", SEED),
    Slot(
        ("calibrate", "--board=sim://", "--target=t.json", "--out=c.json", "--tolerance={}"),
        "--tolerance",
        _number(0, 0.5, lo_open=True),
    ),
    Slot(
        ("calibrate", "--board=sim://", "--target=t.json", "--out=c.json", "--algorithm={}"),
        "--algorithm",
        lambda t: t in ("binary", "noisy-binary", "predictive"),
    ),
]

# --listen: a port outside 0..65535 or no port at all (a valid one would start a server)
LISTEN = ["1.2.3.4:99999", "nohost", ":-1", ":65536", "[::1]:x"]

# Output paths that must be refused, for every command that writes.
WRITERS = [
    (("config", "example", "-o", "{}"), "-o/--output"),
    (("chip", "nominal", "-o", "{}"), "-o/--output"),
    (("config", "import-samna", "{samna}", "-o", "{}"), "-o/--output"),
    (("config", "export-samna", "{net}", "-o", "{}"), "-o/--output"),
    (("emulate", "--seed", "1", "--dump-truth", "{}"), "--dump-truth"),
    (("deploy", "m.json", "--board", "sim://", "-o", "{}"), "-o/--output"),
    (("finetune", "m.json", "--board", "sim://", "--twin", "t.csv", "--out", "{}"), "--out"),
    (("calibrate", "--board", "emu://", "--target", "{net}", "--out", "{}"), "--out"),
    (("config", "calibrate", "{net}", "{net}", "-o", "{}"), "-o/--output"),
]
BAD_OUTPUTS = [".", "/", "/proc/x.json", "/proc/none/x.json", "/dev/full", "/dev/null", "sub"]

# Input files that must be refused, for every command that reads one.
READERS = [
    ("config", "validate", "{}"),
    ("config", "export-samna", "{}", "-o", "out.json"),
    ("config", "import-samna", "{}", "-o", "out.json"),
    ("emulate", "--silicon", "{}", "--dump-truth", "out.csv"),
    ("deploy", "{}", "--board", "sim://", "-o", "out.json"),
    ("deploy", "m.json", "--board", "sim://", "--calibration", "{}", "-o", "out.json"),
    ("deploy", "m.json", "--board", "sim://", "--twin", "{}", "-o", "out.json"),
    ("finetune", "m.json", "--board", "sim://", "--twin", "{}", "--out", "out.json"),
    ("calibrate", "--board", "emu://", "--target", "{}", "--out", "out.json"),
    ("config", "calibrate", "{}", "net.json", "-o", "out.json"),
    ("config", "calibrate", "net.json", "{}", "-o", "out.json"),
]


def _bad_inputs(folder: Path) -> dict[str, str]:
    """name -> path of files that no reader accepts (each names its path in the error)."""
    files = {
        "latin1.json": b'{"chips": [], "x": "caf\xe9"}',
        "deep.json": b"[" * 60_000,
        "bigint.json": b'{"schema": ' + b"1" * 5000 + b"}",
        "dup.json": b'{"chips": [], "chips": []}',
        "nan.json": b'{"chips": NaN}',
        "list.json": b"[]",
        "empty.json": b"",
    }
    for name, raw in files.items():
        (folder / name).write_bytes(raw)
    paths = {name: str(folder / name) for name in files}
    paths.update(missing=str(folder / "missing.json"), folder=str(folder), zero="/dev/zero")
    return paths


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@contextlib.contextmanager
def nothing_starts():
    """A hostile value that slipped through must fail the test, not start a server or a bench."""
    stop = AssertionError("a server or benchmark started: the hostile value was accepted")
    with (
        mock.patch("hil.emulator.server.serve_tcp", side_effect=stop),
        mock.patch("hil.emulator.server.serve_pty", side_effect=stop),
        mock.patch("hil.cli._cmd_bench", side_effect=stop),
    ):
        yield


def assert_refused(argv: list[str], name: str, cwd: Path) -> str:
    before = files_under(cwd)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with nothing_starts():
            code, out, err = run(argv)
    finally:
        os.chdir(old)
    lines = err.splitlines()
    assert code == 2, (argv[:6], code, err[:300])
    assert len(lines) == 1 and err.endswith("\n"), err[:500]
    line = lines[0]
    assert len(line) <= ERROR_LINE_MAX and line.isprintable(), line[:200]
    assert name in line, (name, line)
    assert "allowed" in line or "known:" in line, line
    assert "Traceback" not in err and out == ""
    assert files_under(cwd) == before  # nothing left behind
    return line


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        (folder / "sub").write_text("a file where a folder would be needed\n")
        (folder / "net.json").write_text(example_config().to_json())
        (folder / "samna.json").write_text('{"chips": [{"cores": []}]}')  # small: fast to read
        yield folder


hostile = st.one_of(
    st.sampled_from(NASTY),
    st.floats().map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(max_size=30),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(slot=st.sampled_from(SLOTS), value=hostile)
@example(slot=SLOTS[1], value="1e12")  # used to try to allocate 116 TiB
@example(slot=SLOTS[5], value="99999999999999999999999")  # used to overflow int64
@example(slot=SLOTS[7], value="1e11")  # used to answer coarse 0, fine 255
def test_hostile_values_are_one_line_and_exit_2(workdir: Path, slot: Slot, value: str) -> None:
    if slot.name == "--listen":
        value = LISTEN[len(value) % len(LISTEN)]
    positional = "{}" in slot.argv
    if "\0" in value or positional and value.startswith("-"):
        value = "x" + value.replace("\0", "")  # argv cannot hold NUL; '-' would be an option
    if slot.valid(value):
        return
    assert_refused(slot.fill(value), slot.name, workdir)


def test_demo_refuses_too_many_input_events(workdir: Path) -> None:
    line = assert_refused(["demo", "--rate", "10000", "--duration", "3600"], "--rate", workdir)
    assert "--duration" in line and "at most 1e+07" in line


LONG = "x" * 2000  # a value longer than the error line may be


@pytest.mark.parametrize(
    "argv,name",
    [
        (["emulate", f"--faults=ber={LONG}"], "--faults"),
        (["emulate", f"--faults={LONG}=1"], "--faults"),
        (["emulate", f"--faults=ber=1,{LONG}=1"], "--faults"),
        (["demo", "--board", f"sim://?seed={LONG}"], "seed"),
        (["demo", "--board", f"sim://?{LONG}=1"], "unknown option"),
        (["demo", "--board", f"emu://?seed={LONG}"], "seed"),
        (["demo", "--board", f"emu://?{LONG}=1"], "unknown option"),
        (["demo", "--board", f"emu://?engine={LONG}"], "engine"),
        (["demo", "--board", f"/dev/ttyNONE?timeout={LONG}"], "timeout"),
        (["demo", "--board", f"/dev/ttyNONE?on_loss={LONG}"], "on_loss"),
        (["demo", "--board", f"/dev/ttyNONE?{LONG}=1"], "unknown option"),
        (["demo", "--board", f"socket://127.0.0.1:7777?timeout={LONG}"], "timeout"),
        (["demo", "--board", f"{LONG}://x"], "scheme"),
    ],
    ids=lambda a: str(a)[:40],
)
def test_a_long_value_still_gets_what_is_allowed(workdir: Path, argv: list[str], name) -> None:
    # the line is bounded by quoting the value short, not by cutting off what is allowed
    line = assert_refused(argv, name, workdir)
    assert line.count("x" * 50) <= 3, line  # the value and the URL, each quoted short


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: " ".join(w[0][:2]))
@pytest.mark.parametrize("target", BAD_OUTPUTS)
def test_unwritable_outputs_are_refused(workdir: Path, writer, target: str) -> None:
    argv, name = writer
    path = target if target.startswith("/") or target == "." else str(workdir / target / "x")
    filled = [
        a.replace("{samna}", str(workdir / "samna.json")).replace(
            "{net}", str(workdir / "net.json")
        )
        for a in argv
    ]
    assert_refused([a.replace("{}", path) if a == "{}" else a for a in filled], name, workdir)


@pytest.mark.parametrize("reader", READERS, ids=lambda r: " ".join(r[:2]))
def test_unreadable_inputs_name_the_file(workdir: Path, reader) -> None:
    inputs = workdir / "in"
    inputs.mkdir(exist_ok=True)
    for kind, path in _bad_inputs(inputs).items():
        if reader[1] == "--silicon" and kind in ("list.json",):
            continue  # a silicon file is not a config: its own content errors apply
        argv = [a.replace("{}", path) if a == "{}" else a for a in reader]
        assert_refused(argv, os.path.basename(path) or path, workdir)


def test_escape_sequences_from_a_board_never_reach_the_terminal(capsys) -> None:
    from hil.board import BoardInfo

    evil = "\x1b]0;pwned\x07\x1b[2J\u202eid"
    info = BoardInfo(evil, evil, evil, 1, frozenset({evil}), {evil: evil})

    class Board:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            pass

        def info(self):
            return info

    with mock.patch("hil.board.open_board", return_value=Board()):
        assert main(["probe", "--board", "x://"]) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
        assert "\\x1b]0;pwned\\x07" in out  # shown, escaped
        assert main(["probe", "--board", "x://", "--json"]) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and json.loads(out)["board_id"] == evil


def test_a_100_mb_error_is_one_bounded_line() -> None:
    from hil.errors import HilError

    with mock.patch("hil.cli._cmd_bias_list", side_effect=HilError("x\n" * 50_000_000)):
        code, _, err = run(["bias", "list"])
    assert code == 2 and err.count("\n") == 1 and len(err) <= ERROR_LINE_MAX + 1


# ---- a few real processes ------------------------------------------------------------------------


def _hil(*argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hil", *argv], capture_output=True, timeout=120, **kw
    )


@pytest.mark.parametrize(
    "argv,name",
    [
        (["demo", "--rate", "1e12"], "--rate"),
        (["config", "validate", "/dev/zero"], "/dev/zero"),
        (["bias", "current", "SOIF_LEAK_N", "3", "99999999999999999999999"], "fine"),
        (["config", "example", "-o", "/dev/full"], "-o/--output"),
    ],
)
def test_real_processes_exit_2_with_one_line(argv: list[str], name: str) -> None:
    proc = _hil(*argv)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.count("\n") == 1 and name in err, err
    assert os.path.exists("/dev/full") and not Path("/dev/full").is_file()


def test_a_closed_pipe_ends_quietly() -> None:
    # `hil config example | head -1`: the reader goes away after one line (the config is 200 kB,
    # more than a pipe holds, so the writer meets the closed pipe)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hil", "config", "example"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == "", err
