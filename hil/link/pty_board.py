"""`pty://`: an emulated board served on a real pseudo-terminal inside this process, opened by
SerialBoard through the device path - the termios code path of a real UART, with no extra process.

    open_board("pty://?seed=3")      # same emulator options as emu://, plus SerialBoard's options

For CI: `pytest --pyargs hil.validation --board pty://` runs the conformance suite over a real pty.
(`hil emulate --pty` serves the same thing from a separate process.)
"""

from __future__ import annotations

import threading
from urllib.parse import parse_qsl, urlencode, urlsplit

from hil.emulator.server import EMU_OPTIONS, Emulator, EmulatorOptions, serve_pty
from hil.link.serial_board import SerialBoard


class PtyEmulatorBoard(SerialBoard):
    """SerialBoard on the device path of a pty served by an in-process emulator."""

    def __init__(self, url: str):
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
        ready.wait(5)
        try:
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


def open_url(url: str) -> PtyEmulatorBoard:
    return PtyEmulatorBoard(url)
