"""The emulator as a separate process (`hil emulate`) on TCP and on a pty, `hil probe`, the
conformance suite over a real pty, pacing, and killing/restarting the emulator during a run."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hil import events as ev
from hil.board import open_board
from hil.chip.example import N_INPUTS, example_config
from hil.errors import BoardURLError, LinkError

PY = [sys.executable, "-m", "hil.cli"]


def start_emulator(*args: str) -> tuple[subprocess.Popen, str]:
    """Start `hil emulate ARGS`; return the process and the address or device path it printed."""
    p = subprocess.Popen(
        [*PY, "emulate", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    line = p.stdout.readline() if p.stdout else ""
    found = re.search(r"(127\.0\.0\.1:\d+|/dev/pts/\d+)", line)
    if not found:
        p.kill()
        raise AssertionError(
            f"emulator did not start: {line!r} {p.stderr.read() if p.stderr else ''}"
        )
    return p, found.group(1)


def stop(p: subprocess.Popen) -> None:
    p.terminate()
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def probe(url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PY, "probe", "--board", url, *extra], capture_output=True, text=True, timeout=60
    )


def test_emulate_listen_then_probe_socket() -> None:
    p, addr = start_emulator("--listen", "127.0.0.1:0", "--seed", "3")
    try:
        r = probe(f"socket://{addr}", "--json")
        assert r.returncode == 0, r.stderr
        info = json.loads(r.stdout)
        assert info["kind"] == "emulator" and info["n_chips"] == 1
        assert info["board_id"] == "emu-seed-3" and "spikes" in info["capabilities"]
        assert info["details"]["url"] == f"socket://{addr}" and info["details"]["ping_ms"] > 0
        r = probe(f"socket://{addr}")
        assert r.returncode == 0 and re.search(r"board\s+emu-seed-3", r.stdout)
    finally:
        stop(p)


def test_emulate_pty_then_probe_the_device_path() -> None:
    p, path = start_emulator("--pty", "--seed", "1")
    try:
        r = probe(path, "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["board_id"] == "emu-seed-1"
    finally:
        stop(p)


def test_emulate_dump_truth_writes_the_csv_and_exits(tmp_path: Path) -> None:
    out = tmp_path / "truth.csv"
    r = subprocess.run(
        [*PY, "emulate", "--seed", "4", "--dump-truth", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    header = out.read_text().splitlines()[0]
    assert header.startswith("chip,core,neuron") and "emu-seed-4" in r.stdout


def test_emulate_refuses_bad_arguments() -> None:
    r = subprocess.run(
        [*PY, "emulate", "--seed", "1", "--silicon", "x.json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "either --silicon FILE or --seed N" in r.stderr
    r = subprocess.run(
        [*PY, "emulate", "--listen", "nohost"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and "HOST:PORT" in r.stderr
    r = subprocess.run(
        [*PY, "emulate", "--faults", "ber=7"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and "ber=7.0" in r.stderr
    r = probe("emu://?nope=1")
    assert r.returncode == 2 and "unknown option 'nope'" in r.stderr


def shipped_suite(board: str, *extra: str) -> tuple[subprocess.CompletedProcess, int]:
    """`pytest --pyargs hil.validation --board BOARD`, as a user runs it; (result, tests passed)."""
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        + ["--pyargs", "hil.validation", "--board", board, *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-3000:]
    found = re.search(r"\b(\d+) passed\b", r.stdout)
    return r, int(found.group(1)) if found else 0


def test_conformance_suite_over_a_real_pty() -> None:
    """The shipped Board conformance suite, run as a user would, over a pseudo-terminal."""
    r, passed = shipped_suite("pty://")
    assert passed >= 16 and " failed" not in r.stdout


def test_shipped_suite_on_counts_biases_and_the_wire_over_a_hil_emulate_process() -> None:
    """run_counts, set_biases and the board side of the protocol, over TCP to a separate process."""
    p, addr = start_emulator("--listen", "127.0.0.1:0", "--seed", "0")
    try:
        r, passed = shipped_suite(
            f"socket://{addr}", "-k", "biases or counts or wire_protocol or advertised"
        )
    finally:
        stop(p)
    assert passed >= 12 and "skipped" not in r.stdout


def test_killing_and_restarting_the_emulator_during_a_run() -> None:
    p1, addr = start_emulator("--listen", "127.0.0.1:0", "--seed", "0", "--realtime")
    port = addr.split(":")[1]
    stim = ev.poisson_input(60.0, N_INPUTS, 1.0, seed=2)
    procs = [p1]
    try:
        with open_board("emu://?seed=0") as ref:  # the same silicon, never disturbed
            ref.apply(example_config())
            want = ref.run(stim, 1.0)
        board = open_board(f"socket://{addr}?reconnect=30")
        board.apply(example_config())

        def kill_and_restart() -> None:
            time.sleep(0.5)  # the real-time run lasts 1 s
            p1.kill()
            p1.wait()
            procs.append(start_emulator("--listen", f"127.0.0.1:{port}", "--seed", "0")[0])

        t = threading.Thread(target=kill_and_restart)
        t.start()
        with pytest.warns(UserWarning, match="restarted"):
            got = board.run(stim, 1.0)
        t.join()
        r = board.last_run
        assert r is not None and r.recovered_after_restart and r.lost == 0
        np.testing.assert_array_equal(
            got, want
        )  # repeated from rest: exactly the undisturbed result
        # once runs have changed the state, a restart cannot be hidden: a clear error instead
        procs[-1].kill()
        procs[-1].wait()
        procs.append(start_emulator("--listen", f"127.0.0.1:{port}", "--seed", "0")[0])
        with pytest.warns(UserWarning, match="restarted"):
            with pytest.raises(LinkError, match="restarted during a run"):
                board.run(stim, 1.0)
        board.reset()
        np.testing.assert_array_equal(board.run(stim, 1.0), want)
        board.close()
    finally:
        for p in procs:
            stop(p)


def _run_with_an_intruder(duration: float, realtime: bool) -> None:
    """`hil emulate --listen ... --baud 115200`: a run, then the same run again while another
    program opens a TCP connection to the port a quarter into it and closes it (which cuts the
    host's link; the board stays up). The reconnected, repeated run must equal the undisturbed one
    bit for bit."""
    args = ["--listen", "127.0.0.1:0", "--seed", "0", "--baud", "115200"]
    p, addr = start_emulator(*args, *(["--realtime"] if realtime else []))
    host, port = addr.split(":")
    stim = ev.poisson_input(60.0, N_INPUTS, duration, seed=2)
    try:
        with open_board(f"socket://{addr}") as board:
            board.apply(example_config())
            want = board.run(stim, duration)
            board.apply(example_config())  # the next run is again the first since apply

            def intrude() -> None:
                time.sleep(duration / 4)
                socket.create_connection((host, int(port))).close()

            t = threading.Thread(target=intrude)
            t.start()
            with pytest.warns(UserWarning, match="restarted"):
                got = board.run(stim, duration)
            t.join()
            r = board.last_run
            assert board.restarts == 1 and r is not None and r.recovered_after_restart
            assert r.run_index == 0 and r.lost == 0
        assert want.size > 100
        np.testing.assert_array_equal(got, want)
    finally:
        stop(p)


def test_a_second_connection_mid_run_gives_the_undisturbed_result() -> None:
    _run_with_an_intruder(1.0, realtime=False)


def test_a_reconnect_while_the_board_runs_in_real_time_stops_that_run_and_repeats() -> None:
    _run_with_an_intruder(1.0, realtime=True)


@pytest.mark.slow
@pytest.mark.parametrize("realtime", [False, True])
def test_the_8_s_link_drop_of_issue_7(realtime: bool) -> None:
    _run_with_an_intruder(8.0, realtime=realtime)


def test_pacing_to_the_baud_rate_and_to_real_time() -> None:
    stim = ev.poisson_input(100.0, N_INPUTS, 0.3, seed=1)
    with open_board("emu://?seed=0&realtime=1") as b:
        b.apply(example_config())
        t0 = time.monotonic()
        b.run(stim, 0.3)
        assert time.monotonic() - t0 >= 0.3  # the run takes its duration in real time
        assert b.info().details["realtime"] is True
    with open_board("emu://?seed=0&baud=115200") as b:
        b.apply(example_config())
        b.run(stim, 0.3)
        r = b.last_run
        assert r is not None and b.info().details["line_bps"] == 115200
        airtime = r.n_records * 4 * 10 / 115200  # 4 B per spike, 10 bits per byte
        assert r.wall_s - r.engine_s >= 0.9 * airtime


def test_listen_address_parsing() -> None:
    from hil.emulator.server import parse_listen

    assert parse_listen("127.0.0.1:7777") == ("127.0.0.1", 7777)
    assert parse_listen(":0") == ("127.0.0.1", 0)  # loopback unless asked otherwise
    assert parse_listen("[::1]:5") == ("::1", 5)
    with pytest.raises(BoardURLError):
        parse_listen("127.0.0.1:99999")


SILICON = Path(__file__).resolve().parents[1] / "fixtures" / "silicon" / "typical.json"
# what a board may say about itself; the silicon's truth (per-neuron currents, dead/hot maps) is not
DETAIL_KEYS = {
    "kind",
    "engine",
    "silicon_id",
    "day",
    "baud",
    "url",
    "protocol",
    "line_bps",
    "realtime",
    "boot_id",
    "readout",
}


def test_silicon_file_and_day_select_the_hidden_silicon() -> None:
    with open_board(f"emu://?silicon={SILICON}&day=30") as b:
        info = b.info()
        assert info.board_id == "emu-typical-A" and info.details["day"] == 30
        assert "hidden-silicon" in info.capabilities and set(info.details) <= DETAIL_KEYS


def test_seed_selects_the_silicon_and_same_seed_repeats() -> None:
    stim = ev.poisson_input(80.0, N_INPUTS, 0.3, seed=5)

    def run(url: str) -> np.ndarray:
        with open_board(url) as b:
            b.apply(example_config())
            return b.run(stim, 0.3)

    a, again, other = run("emu://?seed=1"), run("emu://?seed=1"), run("emu://?seed=2")
    np.testing.assert_array_equal(a, again)
    assert not np.array_equal(a, other)


@pytest.mark.parametrize("cmd", ["emulate", "probe"])
def test_help_teaches_with_examples(cmd: str, capsys: pytest.CaptureFixture[str]) -> None:
    from hil.cli import main

    assert main([cmd, "--help"]) == 0  # main returns the exit code, --help included
    text = capsys.readouterr().out
    assert "examples:" in text and "socket://127.0.0.1:7777" in text


def test_probe_prints_board_info_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    from hil.cli import main

    assert main(["probe", "--board", "emu://?seed=2", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["board_id"] == "emu-seed-2" and info["details"]["protocol"] == 1
    assert main(["probe", "--board", "emu://?seed=2"]) == 0
    assert re.search(
        r"capabilities\s+biases, counts, hidden-silicon, spikes", capsys.readouterr().out
    )
