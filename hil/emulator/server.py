"""The firmware emulator's I/O: serves `Firmware` (the wire protocol) around an engine Board on a
byte stream - a pseudo-terminal, a TCP connection, or one end of an in-process socket pair (emu://).

    hil emulate --pty                              # prints the device path, e.g. /dev/pts/5
    hil emulate --listen 127.0.0.1:7777 --seed 3   # then: hil probe --board socket://127.0.0.1:7777

The seam is explicit: emulator = wire protocol (firmware.py) + an engine Board. The engine is
`hil.emulator.engine.SiliconEngine(silicon)` (hidden silicon, fine time resolution), or one
registered by name (`register_engine`, `emu://?engine=NAME`). Nothing stands in for a missing
engine: if it cannot be imported, the emulator fails. Output can be paced to a baud rate (10 bits
per byte, UART 8N1) and streamed in real time, and the link can carry injected faults
(hil.emulator.faults).
"""

from __future__ import annotations

import os
import queue
import select
import socket
import sys
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from hil.argtypes import SEED_MAX
from hil.board import Board, url_options
from hil.emulator.faults import FAULT_OPTIONS, Corrupter, FaultSpec
from hil.emulator.firmware import Firmware
from hil.errors import SHORT_QUOTE, BoardURLError, quote

EMU_OPTIONS: dict[str, type] = {
    "seed": int,
    "silicon": str,
    "day": int,
    "baud": int,
    "realtime": bool,
    "fifo": int,
    "engine": str,
    **FAULT_OPTIONS,
}
# the ranges of emu://?baud= and ?fifo= (`hil emulate --baud/--fifo` take the same)
BAUD_MAX = 100_000_000  # bit/s
FIFO_MAX = 2**20  # events
KEEPALIVE_S = 0.25  # while a command executes, the board sends 0x00 this often [s]
# Extra engines by name (emu://?engine=NAME); "auto" is SiliconEngine.
ENGINES: dict[str, Callable[[EmulatorOptions], tuple[Board, dict]]] = {}


def register_engine(name: str, factory: Callable[[EmulatorOptions], tuple[Board, dict]]) -> None:
    """Make `emu://?engine=NAME` build its engine with `factory(options) -> (Board, details)`."""
    ENGINES[name] = factory


@dataclass(frozen=True)
class EmulatorOptions:
    seed: int | None = None
    silicon: str | None = None
    day: int | None = None
    baud: int = 0  # pace the board's output to this line rate [bit/s]; 0 = unpaced
    realtime: bool = False  # stream each batch when the board's clock reaches it
    fifo: int = 4096  # events the board's TX queue holds (overflow in real time)
    engine: str = "auto"
    faults: FaultSpec = field(default_factory=FaultSpec)

    def __post_init__(self) -> None:
        if not (self.baud == 0 or 300 <= self.baud <= BAUD_MAX):
            raise BoardURLError(
                f"emulator option baud={self.baud}; allowed 0 (unpaced) or 300..{BAUD_MAX}"
            )
        if not 1 <= self.fifo <= FIFO_MAX:
            raise BoardURLError(f"emulator option fifo={self.fifo}; allowed 1..{FIFO_MAX} events")
        if self.seed is not None and not 0 <= self.seed <= SEED_MAX:
            raise BoardURLError(f"emulator option seed={self.seed}; allowed 0..{SEED_MAX}")
        if self.seed is not None and self.silicon:
            raise BoardURLError("give either seed= or silicon=, not both")

    @classmethod
    def from_url(cls, url: str) -> EmulatorOptions:
        opts = url_options(url, EMU_OPTIONS)
        own = {k: v for k, v in opts.items() if k not in FAULT_OPTIONS}
        return cls(**own, faults=FaultSpec.from_options(opts))  # type: ignore[arg-type]


def make_engine(opts: EmulatorOptions) -> tuple[Board, dict]:
    """The engine Board behind the emulator and the details it may tell the host."""
    if opts.engine != "auto":
        if opts.engine not in ENGINES:
            others = ", ".join(sorted(ENGINES))
            raise BoardURLError(
                f"engine={quote(opts.engine, SHORT_QUOTE)}; known: auto"
                + (f", {others}" if others else " (no other engine is registered)")
            )
        return ENGINES[opts.engine](opts)
    from hil.emulator.engine import SiliconEngine  # an import error is a broken install: loud
    from hil.emulator.silicon import Silicon

    sil = Silicon.load(opts.silicon) if opts.silicon else Silicon.from_seed(opts.seed or 0)
    if opts.day is not None:
        sil = sil.at_day(opts.day)
    return SiliconEngine(sil), {
        "kind": "emulator",
        "engine": "silicon",
        "silicon_id": sil.silicon_id,
        "day": sil.day,
    }


# ---- byte streams ----------------------------------------------------------------------------


class SocketStream:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        sock.setblocking(True)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def recv(self, timeout: float) -> bytes | None:
        """Bytes received within `timeout` s (b'' if none); None when the peer has gone."""
        try:
            r, _, _ = select.select([self.sock], [], [], timeout)
            if not r:
                return b""
            data = self.sock.recv(65536)
        except (OSError, ValueError):
            return None
        return data or None

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class FdStream:
    """The master side of a pseudo-terminal."""

    def __init__(self, fd: int):
        self.fd = fd

    def recv(self, timeout: float) -> bytes | None:
        try:
            r, _, _ = select.select([self.fd], [], [], timeout)
            return os.read(self.fd, 65536) if r else b""
        except OSError:  # EIO: every slave fd closed
            return None

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

    def close(self) -> None:
        pass  # the pty belongs to serve_pty


# ---- one connection -------------------------------------------------------------------------


class Connection:
    """The board's side of one link: a writer thread that paces to the baud rate, delays and
    corrupts the output as configured, and drops the link after `disconnect_after` bytes."""

    def __init__(
        self,
        stream: SocketStream | FdStream,
        opts: EmulatorOptions,
        faults: FaultSpec,
        index: int,
        busy: Callable[[], bool] = lambda: False,
    ):
        self.busy = busy
        self.stream, self.opts, self.faults = stream, opts, faults
        self.down = Corrupter(faults, seed=2 * index)
        self.up = Corrupter(faults, seed=2 * index + 1)
        self.q: queue.Queue[tuple[float, bytes]] = queue.Queue()
        self.closed = threading.Event()
        self.sent = 0
        self.last_send = time.monotonic()
        self.writer = threading.Thread(target=self._write_loop, name="emu-writer", daemon=True)
        self.writer.start()

    def send(self, data: bytes) -> None:
        if not self.closed.is_set():
            self.q.put((time.monotonic(), data))

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self.stream.close()

    def _write_loop(self) -> None:
        baud = self.opts.baud
        next_t = time.monotonic()
        delay = self.faults.delay_ms / 1000
        while not self.closed.is_set():
            try:
                t_enq, data = self.q.get(timeout=KEEPALIVE_S / 2)
            except queue.Empty:
                # a long command (a big config to parse and compile): an empty frame (0x00) every
                # KEEPALIVE_S tells the host the board is alive (docs/protocol.md 3.2)
                if self.busy() and time.monotonic() - self.last_send >= KEEPALIVE_S:
                    self._send(b"\x00")
                continue
            if not baud:  # coalesce what is queued into one write
                parts = [data]
                while sum(map(len, parts)) < 65536:
                    try:
                        parts.append(self.q.get_nowait()[1])
                    except queue.Empty:
                        break
                data = b"".join(parts)
            if delay:
                wait = t_enq + delay - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            data = self.down(data)
            if (
                self.faults.disconnect_after
                and self.sent + len(data) >= self.faults.disconnect_after
            ):
                data = data[: self.faults.disconnect_after - self.sent]
                self._send(data)
                self.close()
                return
            if baud:
                now = time.monotonic()
                if next_t < now - 0.005:
                    next_t = now
                if next_t > now:
                    time.sleep(next_t - now)
                next_t += len(data) * 10 / baud
            if not self._send(data):
                return

    def _send(self, data: bytes) -> bool:
        self.last_send = time.monotonic()
        try:
            self.stream.send(data)
            self.sent += len(data)
            return True
        except OSError:
            self.close()
            return False


class Emulator:
    """One emulated board: firmware + engine, serving one connection at a time. The board (its
    config, its last results) outlives a connection, as a real board outlives a USB replug."""

    def __init__(
        self, opts: EmulatorOptions, engine: Board | None = None, details: dict | None = None
    ):
        self.opts = opts
        if engine is None:
            engine, details = make_engine(opts)
        self.engine = engine
        details = dict(details or {"kind": "emulator"})
        caps = set(engine.info().capabilities)
        if opts.faults.active:
            caps.add("fault-injection")
        if opts.baud:
            details["baud"] = opts.baud
        self.conn: Connection | None = None
        self.n_connections = 0
        self.firmware = Firmware(
            engine,
            self._out,
            board_id=str(details.get("silicon_id") or f"emu-{opts.seed or 0}"),
            details=details,
            capabilities=frozenset(caps),
            line_bps=opts.baud,
            realtime=opts.realtime,
            fifo_events=opts.fifo,
            spawn=lambda fn: threading.Thread(target=fn, name="emu-run", daemon=True).start(),
        )

    def _out(self, data: bytes) -> None:
        conn = self.conn
        if conn is not None:
            conn.send(data)

    def serve(
        self,
        stream: SocketStream | FdStream,
        stop: threading.Event,
        faults: FaultSpec | None = None,
    ) -> None:
        """Serve one connection until the peer goes, the link is dropped, or `stop` is set."""
        conn = Connection(
            stream,
            self.opts,
            faults or self.opts.faults,
            self.n_connections,
            busy=lambda: self.firmware.busy_since is not None,
        )
        self.n_connections += 1
        old, self.conn = self.conn, conn
        if old is not None:
            old.close()
        self.firmware.splitter.reset()
        try:
            while not stop.is_set() and not conn.closed.is_set():
                data = stream.recv(0.05)
                if data is None:
                    break
                if data:
                    try:
                        self.firmware.feed(conn.up(data))
                    except Exception as e:  # a firmware bug must not look like a cable pull
                        print(
                            f"hil emulator: internal error: {type(e).__name__}: {e}",
                            file=sys.stderr,
                        )
        finally:
            conn.close()
            if self.conn is conn:
                self.conn = None

    def close(self) -> None:
        self.firmware.stop_flag.set()
        if self.conn is not None:
            self.conn.close()
        self.engine.close()


# ---- servers ------------------------------------------------------------------------------------


def serve_tcp(
    emu: Emulator,
    host: str,
    port: int,
    stop: threading.Event,
    ready: Callable[[str, int], None] | None = None,
) -> None:
    """Accept connections on host:port, one board link at a time (a new one replaces the old)."""
    srv = socket.create_server((host, port), reuse_port=False)
    srv.settimeout(0.1)
    h, p = srv.getsockname()[:2]
    if ready:
        ready(h, p)
    try:
        while not stop.is_set():
            try:
                sock, _ = srv.accept()
            except TimeoutError:
                continue
            threading.Thread(
                target=emu.serve, args=(SocketStream(sock), stop), name="emu-conn", daemon=True
            ).start()
    finally:
        srv.close()


def open_pty() -> tuple[int, int, str]:
    """A raw pseudo-terminal: (master fd, slave fd, slave path). Raw before anyone writes
    (ecosystem.md 1.3: cooked ptys mangle early bytes)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    return master, slave, os.ttyname(slave)


def serve_pty(
    emu: Emulator,
    stop: threading.Event,
    ready: Callable[[str], None] | None = None,
    link: Path | None = None,
) -> None:
    """Serve on a new pseudo-terminal; `ready(path)` gets the device path the host opens."""
    master, slave, path = open_pty()
    if link is not None:
        tmp = link.with_name(link.name + ".tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(path)
        os.replace(tmp, link)
    if ready:
        ready(path)
    try:
        emu.serve(FdStream(master), stop)
    finally:
        os.close(master)
        os.close(slave)


def parse_listen(addr: str) -> tuple[str, int]:
    """'127.0.0.1:7777', ':7777' (loopback), '0.0.0.0:7777' (every interface, on purpose)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise BoardURLError(
            f"--listen {addr!r}; allowed HOST:PORT with PORT 0..65535 (0 picks a free one)"
        )
    return (host.strip("[]") or "127.0.0.1"), int(port)


def announce(text: str) -> None:
    print(text, flush=True)
    sys.stdout.flush()


def with_options(opts: EmulatorOptions, **kw: object) -> EmulatorOptions:
    return replace(opts, **kw)  # type: ignore[arg-type]
