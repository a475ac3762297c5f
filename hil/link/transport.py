"""The byte link under SerialBoard: a pyserial port (device path, socket://, rfc2217://, hwgrep://,
or any registered pyserial URL handler), read without blocking and written whole. Any failure of
the stream raises `LinkDown`, which the command client and SerialBoard turn into a reconnect.

Ports with a file descriptor are read non-blocking after select(), a whole chunk at a time:
pyserial's socket `in_waiting` is 0 or 1, and read(n) with a timeout blocks until n bytes or the
timeout (ecosystem.md 1.3), either of which would cost a call per byte or 5 ms per read.
"""

from __future__ import annotations

import select
from typing import Protocol
from urllib.parse import SplitResult

import serial

from hil.errors import BoardURLError, LinkError

READ_WAIT_S = 0.005  # longest a read waits for the first byte [s]


class LinkDown(LinkError):
    """The link to the board broke: the byte stream failed, the board rebooted, or it lost (or
    holds another) config. The session must be rebuilt; SerialBoard reconnects and recovers, and
    if this escapes it is still a LinkError."""


class Port(Protocol):
    """What SerialBoard needs of a pyserial port (tests pass an in-memory one)."""

    timeout: float | None

    def write(self, data: bytes) -> int | None: ...

    def read(self, size: int = 1) -> bytes: ...

    @property
    def in_waiting(self) -> int: ...

    def close(self) -> None: ...


def open_port(port: str, baud: int) -> Port:
    """A pyserial port for `port` (a device path or a pyserial URL) at `baud` bit/s."""
    # pyserial's rfc2217 client refuses write_timeout ("not supported")
    kw = {} if port.startswith("rfc2217://") else {"write_timeout": 10}
    return serial.serial_for_url(port, baudrate=baud, timeout=0.005, **kw)


def check_host_port(url: str, parts: SplitResult) -> None:
    """socket:// and rfc2217:// need HOST:PORT with PORT 1..65535 (pyserial's own error for a bad
    port is a message about its logging option)."""
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or not 1 <= port <= 65535:
        raise BoardURLError(f"board URL {url!r}: allowed SCHEME://HOST:PORT with PORT 1..65535")


class Transport:
    """One open byte stream to the board."""

    def __init__(self, port: Port):
        self.port: Port | None = port
        try:
            self.fd: int | None = port.fileno()  # type: ignore[attr-defined]
            port.timeout = 0  # reads return what is there; read() waits in select()
        except (AttributeError, NotImplementedError, OSError, serial.SerialException):
            self.fd = None

    def write(self, data: bytes) -> None:
        try:
            assert self.port is not None
            self.port.write(data)
        except (serial.SerialException, OSError, AssertionError) as e:
            raise LinkDown(f"write failed: {e}") from None

    def read(self) -> bytes:
        """What has arrived, waiting at most READ_WAIT_S for the first byte."""
        port = self.port
        try:
            assert port is not None
            if self.fd is not None:
                ready, _, _ = select.select([self.fd], [], [], READ_WAIT_S)
                if not ready:
                    return b""
                data = port.read(1 << 16)
                if not data:
                    raise serial.SerialException(
                        "port readable but returned no data (disconnected)"
                    )
                return data
            n = port.in_waiting
            return port.read(n or 1)
        except (serial.SerialException, OSError, ValueError, AssertionError) as e:
            raise LinkDown(f"read failed: {e}") from None

    def close(self) -> None:
        port, self.port = self.port, None
        if port is None:
            return
        try:
            sock = getattr(port, "_socket", None)
            if sock is not None and type(port).__module__.endswith("protocol_socket"):
                # pyserial's socket close() sleeps 0.3 s "for the server"; we close it ourselves
                sock.close()
                port._socket = None  # type: ignore[attr-defined]
                port.is_open = False  # type: ignore[attr-defined]
            port.close()
        except (serial.SerialException, OSError):
            pass
