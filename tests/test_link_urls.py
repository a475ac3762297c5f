"""Every pyserial URL kind SerialBoard accepts: emu://, pty://, a device path, socket://,
rfc2217:// (through pyserial's own RFC 2217 port manager in front of a pty) and hwgrep://."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest
import serial
import serial.rfc2217
from link_toy import toy_engine_factory

from hil import events as ev
from hil.board import open_board
from hil.chip.example import N_INPUTS, example_config
from hil.emulator.server import Emulator, EmulatorOptions, register_engine, serve_pty, serve_tcp
from hil.errors import BoardURLError, ConfigError, LinkError
from hil.link.serial_board import SerialBoard

register_engine("toy", toy_engine_factory)
STIM = ev.poisson_input(80.0, N_INPUTS, 0.2, seed=3)


def reference() -> np.ndarray:
    with open_board("emu://?engine=toy") as b:
        b.apply(example_config())
        return b.run(STIM, 0.2)


def check(url: str) -> SerialBoard:
    b = open_board(url)
    assert isinstance(b, SerialBoard)
    assert b.apply(example_config()) == example_config().content_hash()
    np.testing.assert_array_equal(b.run(STIM, 0.2), reference())
    return b


class PtyServer:
    """An emulator serving a pty in a thread (what `hil emulate --pty` does in a process)."""

    def __init__(self) -> None:
        self.emu = Emulator(EmulatorOptions(engine="toy"))
        self.stop = threading.Event()
        ready = threading.Event()
        self.path = ""

        def on_ready(p: str) -> None:
            self.path = p
            ready.set()

        self.thread = threading.Thread(
            target=serve_pty, args=(self.emu, self.stop, on_ready), daemon=True
        )
        self.thread.start()
        assert ready.wait(5)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.emu.close()


def test_device_path_of_a_pty() -> None:
    srv = PtyServer()
    try:
        b = check(srv.path + "?baud=3000000&window=4")
        assert b.info().details["url"] == srv.path + "?baud=3000000&window=4"
        b.close()
    finally:
        srv.close()


def test_socket_url_to_a_tcp_emulator() -> None:
    emu = Emulator(EmulatorOptions(engine="toy"))
    stop = threading.Event()
    addr: list[tuple[str, int]] = []
    ready = threading.Event()
    t = threading.Thread(
        target=serve_tcp,
        args=(emu, "127.0.0.1", 0, stop, lambda h, p: (addr.append((h, p)), ready.set())),
        daemon=True,
    )
    t.start()
    assert ready.wait(5)
    try:
        check(f"socket://127.0.0.1:{addr[0][1]}?readout=spikes").close()
    finally:
        stop.set()
        t.join(2)
        emu.close()


class PtySerial(serial.Serial):
    """A pty has no modem lines (their ioctls fail): report inputs inactive, ignore outputs."""

    cts = dsr = ri = cd = property(lambda self: False)

    def _update_dtr_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass


@pytest.mark.filterwarnings("ignore:set(Daemon|Name)\\(\\) is deprecated:DeprecationWarning")
def test_rfc2217_through_pyserials_port_manager() -> None:
    srv = PtyServer()
    lsock = socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]
    stop = threading.Event()

    def bridge() -> None:
        conn, _ = lsock.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ser = PtySerial(srv.path, timeout=0.01)

        class Conn:
            def write(self, data: bytes) -> None:
                conn.sendall(data)

        pm = serial.rfc2217.PortManager(ser, Conn())

        def to_net() -> None:
            try:
                while not stop.is_set():
                    data = ser.read(ser.in_waiting or 1)
                    if data:
                        conn.sendall(b"".join(pm.escape(data)))
            except (serial.SerialException, OSError, TypeError):
                pass  # torn down

        threading.Thread(target=to_net, daemon=True).start()
        conn.settimeout(0.05)
        while not stop.is_set():
            try:
                data = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            ser.write(b"".join(pm.filter(data)))
        ser.close()
        conn.close()

    t = threading.Thread(target=bridge, daemon=True)
    t.start()
    try:
        b = check(f"rfc2217://127.0.0.1:{port}?baud=921600")
        assert b.hello.board_id.startswith("emu")
        b.close()
    finally:
        stop.set()
        t.join(2)
        lsock.close()
        srv.close()


def test_hwgrep_without_a_matching_port_says_so() -> None:
    with pytest.raises(LinkError, match=r"cannot open board 'hwgrep://nothing-matches-this-9f3'"):
        open_board("hwgrep://nothing-matches-this-9f3")


def test_missing_device_path_says_so() -> None:
    with pytest.raises(LinkError, match=r"cannot open board '/dev/nonexistent-hil-port'"):
        open_board("/dev/nonexistent-hil-port")


@pytest.mark.parametrize(
    "url, match",
    [
        ("emu://?readout=fast", "readout='fast'.*auto, spikes, counts"),
        ("emu://?bin_us=0", "bin_us=0"),
        ("emu://?on_loss=ignore", "on_loss='ignore'"),
        ("emu://?timeout=abc", "timeout='abc'"),
        ("emu://?seed=1&silicon=x.json", "either seed= or silicon="),
        ("emu://?baud=5", "baud=5"),
        ("emu://?engine=nope", "engine='nope'"),
    ],
)
def test_bad_url_options_name_the_option(url: str, match: str) -> None:
    with pytest.raises((BoardURLError, LinkError), match=match):
        open_board(url)


def test_set_biases_is_verified_and_checked_locally() -> None:
    with open_board("emu://?engine=toy") as b:
        with pytest.raises(Exception, match="apply"):
            b.set_biases({(0, 0, "SOIF_DC_P"): (1, 1)})
        b.apply(example_config())
        cfg = example_config()
        cfg.core(0, 0).parameters["SOIF_DC_P"] = (2, 100)
        assert b.set_biases({(0, 0, "SOIF_DC_P"): (2, 100)}) == cfg.content_hash()
        with pytest.raises(ConfigError, match="fine_value"):
            b.set_biases({(0, 0, "SOIF_DC_P"): (2, 300)})
        with pytest.raises(ConfigError, match="NOT_A_BIAS"):
            b.set_biases({(0, 0, "NOT_A_BIAS"): (2, 3)})
        assert b.status()["has_config"] is True


def test_serial_board_advertises_only_what_it_implements() -> None:
    from link_toy import MemBoard, MemLink, ToyEngine

    from hil.board import BiasWrites, CountsReadout, missing_interfaces

    link = MemLink(ToyEngine())
    link.fw.capabilities = frozenset({"spikes", "gradients", "hidden-silicon"})
    b = MemBoard(link)
    assert b.info().capabilities == {"spikes", "hidden-silicon"}  # no gradients over a wire
    assert isinstance(b, CountsReadout) and isinstance(b, BiasWrites)
    link.fw.capabilities |= {"counts", "biases"}
    b2 = MemBoard(link)
    assert b2.info().capabilities == {"spikes", "counts", "biases", "hidden-silicon"}
    assert missing_interfaces(b2) == []


def test_config_for_more_chips_than_the_board_has_is_refused() -> None:
    from hil.chip.config import Chip

    cfg = example_config()
    cfg.chips.append(Chip())
    with open_board("emu://?engine=toy") as b:
        with pytest.raises(ConfigError, match="at most 1 on this board"):
            b.apply(cfg)


def test_closed_board_refuses_everything() -> None:
    b = open_board("emu://?engine=toy")
    b.close()
    b.close()
    with pytest.raises(Exception, match="closed"):
        b.info()
