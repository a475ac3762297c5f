"""Framing of the wire protocol: COBS with a 0x00 delimiter around body + CRC-16/CCITT-FALSE.

    wire  = COBS(body || crc16_le(body)) || 0x00
    crc16 = CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, refin/refout false, xorout 0x0000,
            check("123456789") = 0x29B1  (binascii.crc_hqx(data, 0xFFFF); ecosystem.md section 6)

A frame body is at most MAX_BODY bytes. `FrameSplitter` cuts an arbitrary byte stream into frames
at 0x00 and drops every frame whose COBS code, length or CRC is wrong, so garbage, lost bytes and
truncation cost only the frames they hit; the next 0x00 always resynchronizes (ecosystem.md 2.2).
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

import numpy as np

MAX_BODY = 1024  # bytes of header + payload in one frame (the CRC comes on top)
CRC_SIZE = 2
# Longest encoded frame without its delimiter: COBS adds one code byte per 254 data bytes (+1).
MAX_ENCODED = MAX_BODY + CRC_SIZE + (MAX_BODY + CRC_SIZE) // 254 + 1
DELIMITER = b"\x00"


class FrameError(ValueError):
    """A frame failed COBS decoding, the length limit or the CRC check."""


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of `data` (check value 0x29B1 for b'123456789')."""
    return binascii.crc_hqx(data, 0xFFFF)


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: the result has no 0x00 byte; the delimiter is not added.

    Each block is a code byte c (1..255) and c - 1 data bytes; a block with c < 255 stands for its
    data followed by 0x00, except the last block of the frame.
    """
    if data.count(0) < 48:  # few blocks: the plain loop (C-speed find) beats numpy's overhead
        return _cobs_encode_long(data)
    a = np.frombuffer(data, np.uint8)
    zeros = np.flatnonzero(a == 0)
    gaps = np.diff(zeros, prepend=-1, append=a.size) - 1  # data bytes before each zero / the end
    if gaps.size and gaps.max() >= 254:
        return _cobs_encode_long(data)
    out = np.empty(a.size + 1, np.uint8)  # one code byte per block; zeros become the next code
    out[1:] = a
    out[0] = gaps[0] + 1
    out[zeros + 1] = gaps[1:] + 1
    return out.tobytes()


def _cobs_encode_long(data: bytes) -> bytes:
    # General case with runs of >= 254 non-zero bytes (code 0xFF: a full block, no implied zero).
    out = bytearray()
    i, n = 0, len(data)
    while True:
        j = data.find(0, i, i + 254)
        if j >= 0:
            out.append(j - i + 1)
            out += data[i:j]
            i = j + 1
            continue
        block = data[i : i + 254]
        out.append(len(block) + 1)
        out += block
        i += len(block)
        if len(block) < 254 or i == n:
            return bytes(out)


def cobs_decode(enc: bytes) -> bytes:
    """Inverse of cobs_encode; raises FrameError on a zero byte or a code running past the end."""
    n = len(enc)
    if 0 in enc:
        raise FrameError(f"zero byte at offset {enc.index(0)} inside a COBS frame")
    codes = []
    i = 0
    full = False
    while i < n:  # walk the chain of code bytes
        codes.append(i)
        c = enc[i]
        full |= c == 0xFF
        i += c
    if i != n:
        raise FrameError(
            f"COBS code {enc[codes[-1]]} at offset {codes[-1]} runs past the frame end ({n} bytes)"
        )
    if full or len(codes) < 48:
        return _cobs_decode_long(enc)
    out = np.frombuffer(enc, np.uint8)[1:].copy()
    out[np.asarray(codes[1:], np.int64) - 1] = 0  # every later code byte stands for a zero
    return out.tobytes()


def _cobs_decode_long(enc: bytes) -> bytes:
    out = bytearray()
    i, n = 0, len(enc)
    while i < n:
        code = enc[i]
        end = i + code
        out += enc[i + 1 : end]
        i = end
        if code < 0xFF and i < n:
            out.append(0)
    return bytes(out)


def encode_frame(body: bytes) -> bytes:
    """body -> COBS(body + CRC-16 little-endian) + 0x00. Raises FrameError above MAX_BODY."""
    if len(body) > MAX_BODY:
        raise FrameError(f"frame body of {len(body)} bytes; allowed at most {MAX_BODY}")
    return cobs_encode(body + crc16(body).to_bytes(2, "little")) + DELIMITER


def decode_frame(enc: bytes) -> bytes:
    """One encoded frame without its delimiter -> body; raises FrameError when it is not valid."""
    if len(enc) > MAX_ENCODED:
        raise FrameError(f"encoded frame of {len(enc)} bytes; allowed at most {MAX_ENCODED}")
    raw = cobs_decode(enc)
    if len(raw) < CRC_SIZE + 1:
        raise FrameError(f"frame of {len(raw)} bytes is shorter than a body and its CRC")
    if len(raw) > MAX_BODY + CRC_SIZE:  # COBS may encode a few bytes more in MAX_ENCODED
        raise FrameError(f"frame body of {len(raw) - CRC_SIZE} bytes; allowed at most {MAX_BODY}")
    body, crc = raw[:-CRC_SIZE], int.from_bytes(raw[-CRC_SIZE:], "little")
    if crc16(body) != crc:
        raise FrameError(f"CRC mismatch: frame says 0x{crc:04X}, body gives 0x{crc16(body):04X}")
    return body


@dataclass
class SplitterStats:
    """What the receiver saw: good frames, rejected frames, bytes skipped while out of sync."""

    frames_ok: int = 0
    frames_bad: int = 0
    bytes_skipped: int = 0


class FrameSplitter:
    """Cuts a byte stream into frame bodies; bad frames are counted and dropped, never returned."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overlong = False
        self.stats = SplitterStats()

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the bodies of every complete, valid frame, in order."""
        if not data:
            return []
        self._buf += data
        if DELIMITER[0] not in data:
            self._check_overlong()
            return []
        *parts, rest = bytes(self._buf).split(DELIMITER)
        self._buf = bytearray(rest)
        bodies = []
        for part in parts:
            if self._overlong:  # tail of a frame whose start we already discarded
                self._overlong = False
                self.stats.bytes_skipped += len(part)
                continue
            if not part:  # idle delimiters (a sender may flush with 0x00 0x00)
                continue
            try:
                bodies.append(decode_frame(part))
                self.stats.frames_ok += 1
            except FrameError:
                self.stats.frames_bad += 1
                self.stats.bytes_skipped += len(part)
        self._check_overlong()
        return bodies

    def _check_overlong(self) -> None:
        if len(self._buf) > MAX_ENCODED:
            if not self._overlong:
                self.stats.frames_bad += 1
            self.stats.bytes_skipped += len(self._buf)
            self._buf.clear()
            self._overlong = True

    def reset(self) -> None:
        """Forget any partial frame (after reconnecting)."""
        self._buf.clear()
        self._overlong = False
