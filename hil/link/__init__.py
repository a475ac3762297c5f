"""The board link, host side: framing (COBS + CRC-16), the message catalogue and its pinned wire
tables, the reliable command session, and `SerialBoard`, the Board protocol over any pyserial URL
(device path, socket://, rfc2217://, hwgrep://). docs/protocol.md specifies the wire protocol.

    transport.py   the byte stream (a pyserial port)
    session.py     reliable windowed commands, without I/O
    client.py      commands over a transport: HELLO, NAKs as errors, config upload, raw frames
    collect.py     a run's result stream: batches, gaps, FETCH, end-to-end CRC, RunReport
    serial_board.py  the Board adapter

Nothing here imports hil.emulator: the emulator's transports (emu://, pty://) live with it
(hil.emulator.transports).
"""

from __future__ import annotations


def __getattr__(name: str) -> object:
    if name in ("SerialBoard", "RunReport", "open_url"):
        from hil.link import serial_board

        return getattr(serial_board, name)
    raise AttributeError(name)
