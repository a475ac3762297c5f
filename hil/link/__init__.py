"""The board link: framing (COBS + CRC-16), the message catalogue, the reliable command session and
`SerialBoard`, the Board protocol over any pyserial URL (device path, socket://, rfc2217://,
hwgrep://, emu://). docs/protocol.md specifies the wire protocol.

Importing this package registers the `emu://` pyserial URL handler (hil.link.urlhandler).
"""

from __future__ import annotations

import serial

_HANDLERS = "hil.link.urlhandler"
if _HANDLERS not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append(_HANDLERS)


def __getattr__(name: str) -> object:
    if name in ("SerialBoard", "RunReport", "open_url"):
        from hil.link import serial_board

        return getattr(serial_board, name)
    raise AttributeError(name)
