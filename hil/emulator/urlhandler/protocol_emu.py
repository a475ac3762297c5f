"""pyserial URL handler `emu://`: an in-process emulated board behind a socket pair.

    serial.serial_for_url("emu://?seed=3&ber=1e-4")   # after `import hil.emulator.transports`

Options: seed, silicon (a personality file), day, baud (pace the output), realtime, fifo, engine,
and the fault options of hil.emulator.faults. pyserial's select-based socket code does the reads,
so timeouts behave like on a real port; close() skips the socket handler's 0.3 s sleep
(ecosystem.md 1.2).
"""

from __future__ import annotations

import socket
import threading
from dataclasses import replace

from serial.serialutil import SerialException
from serial.urlhandler import protocol_socket

from hil.errors import HilError

_DISCONNECTS: dict[str, int] = {}  # URL -> connections that already got disconnect_after


class Serial(protocol_socket.Serial):
    """A serial port whose other end is an emulated board running in this process."""

    # pyserial's (untyped) attributes that this class sets
    is_open: bool
    _socket: socket.socket | None

    def open(self) -> None:
        from hil.emulator.server import Emulator, EmulatorOptions, SocketStream

        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        if self.is_open:
            raise SerialException("Port is already open.")
        self.logger = None
        try:
            opts = EmulatorOptions.from_url(self._port)
            faults = opts.faults
            if faults.disconnect_after:
                used = _DISCONNECTS.get(self._port, 0)
                if used >= faults.disconnects:
                    faults = replace(faults, disconnect_after=0)
                else:
                    _DISCONNECTS[self._port] = used + 1
            self._emu = Emulator(opts)
        except HilError as e:
            raise SerialException(str(e)) from None  # e names the URL (bounded) and what is allowed
        host, board = socket.socketpair()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._emu.serve,
            args=(SocketStream(board), self._stop, faults),
            name="emu-board",
            daemon=True,
        )
        self._thread.start()
        self._socket = host
        host.setblocking(False)
        self.is_open = True
        self.reset_input_buffer()

    def from_url(self, url: str) -> tuple[str, int]:  # not a TCP address
        return ("", 0)

    def close(self) -> None:
        if self.is_open:
            self._stop.set()
            if self._socket:
                try:
                    self._socket.close()
                except OSError:
                    pass
                self._socket = None
            self._thread.join(timeout=2)
            self._emu.close()
            self.is_open = False
