"""The emulator's in-process transports, opened by URL (hil.board's registry):

    open_board("emu://?seed=3&ber=1e-4")   # an emulated board behind a socket pair (pyserial URL)
    open_board("pty://?seed=3")            # an emulated board on a real pseudo-terminal

Both take the emulator's options (hil.emulator.server.EMU_OPTIONS: seed, silicon, day, baud,
realtime, fifo, engine and the fault options) and SerialBoard's own options on the same URL; any
other option is refused. `emu://` goes through pyserial's URL handlers (this module registers
hil.emulator.urlhandler); `pty://` serves the emulator on a pty in a thread and opens its device
path, the termios code path of a real UART with no extra process. For CI:
`pytest --pyargs hil.validation --board pty://` runs the conformance suite over a real pty.
(`hil emulate --pty` / `--listen` serve the same emulator from a separate process.)
"""

from __future__ import annotations

import threading
from urllib.parse import parse_qsl, urlencode, urlsplit

import serial

from hil.emulator.server import EMU_OPTIONS, Emulator, EmulatorOptions, serve_pty
from hil.errors import LinkError
from hil.link.serial_board import SerialBoard, split_url

HANDLERS = "hil.emulator.urlhandler"


def register_handlers() -> None:
    """Let pyserial's serial_for_url open emu:// (idempotent)."""
    if HANDLERS not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(HANDLERS)


def open_emu(url: str) -> SerialBoard:
    """`emu://?OPTIONS`: SerialBoard on an in-process emulator."""
    register_handlers()
    return SerialBoard(url, port_options=EMU_OPTIONS)


class PtyEmulatorBoard(SerialBoard):
    """SerialBoard on the device path of a pty served by an in-process emulator."""

    def __init__(self, url: str):
        split_url(url, EMU_OPTIONS)  # refuse unknown options before starting anything
        query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
        emu_q = [(k, v) for k, v in query if k in EMU_OPTIONS]
        board_q = [(k, v) for k, v in query if k not in EMU_OPTIONS]
        self._emu = Emulator(EmulatorOptions.from_url("emu://?" + urlencode(emu_q)))
        self._stop = threading.Event()
        ready = threading.Event()
        path: list[str] = []

        def on_ready(p: str) -> None:
            path.append(p)
            ready.set()

        self._thread = threading.Thread(
            target=serve_pty, args=(self._emu, self._stop, on_ready), name="pty-board", daemon=True
        )
        self._thread.start()
        try:
            if not ready.wait(5):
                raise LinkError(f"{url!r}: the emulator's pty did not come up within 5 s")
            super().__init__(path[0] + ("?" + urlencode(board_q) if board_q else ""))
        except BaseException:
            self._shutdown()
            raise
        self.url = url

    def _shutdown(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._emu.close()

    def close(self) -> None:
        if not self._closed:
            super().close()
            self._shutdown()


def open_pty(url: str) -> PtyEmulatorBoard:
    """`pty://?OPTIONS`: SerialBoard on an emulator served on a pseudo-terminal in this process."""
    return PtyEmulatorBoard(url)
