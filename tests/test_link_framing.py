"""Framing: COBS + CRC-16/CCITT-FALSE, and resynchronization of the frame splitter."""

from __future__ import annotations

import binascii
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.link.framing import (
    MAX_BODY,
    MAX_ENCODED,
    FrameError,
    FrameSplitter,
    cobs_decode,
    cobs_encode,
    crc16,
    decode_frame,
    encode_frame,
)


def test_check_values_from_the_spec() -> None:
    # ecosystem.md section 6: CRC-16/CCITT-FALSE check 0x29B1, CRC-32 check 0xCBF43926
    assert crc16(b"123456789") == 0x29B1 == binascii.crc_hqx(b"123456789", 0xFFFF)
    assert zlib.crc32(b"123456789") == 0xCBF43926
    assert cobs_encode(bytes([0x11, 0, 0x22, 0, 0, 0x33])) == bytes.fromhex("02110222010233")


@pytest.mark.parametrize(
    "raw, enc",
    [
        (b"", b"\x01"),
        (b"\x00", b"\x01\x01"),
        (b"\x00\x00", b"\x01\x01\x01"),
        (
            bytes(range(1, 255)),
            b"\xff" + bytes(range(1, 255)),
        ),  # 254 non-zero bytes: one full block
        (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
        (bytes(range(1, 255)) + b"\x00", b"\xff" + bytes(range(1, 255)) + b"\x01\x01"),
    ],
)
def test_cobs_vectors(raw: bytes, enc: bytes) -> None:
    assert cobs_encode(raw) == enc
    assert cobs_decode(enc) == raw


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_cobs_round_trip(data: bytes) -> None:
    enc = cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(enc) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=MAX_BODY))
def test_frame_round_trip(body: bytes) -> None:
    wire = encode_frame(body)
    assert wire.endswith(b"\x00") and 0 not in wire[:-1] and len(wire) - 1 <= MAX_ENCODED
    assert decode_frame(wire[:-1]) == body
    assert FrameSplitter().feed(wire) == [body]


def test_oversized_body_is_refused() -> None:
    with pytest.raises(FrameError, match="at most 1024"):
        encode_frame(bytes(MAX_BODY + 1))


bodies = st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(bodies, st.lists(st.binary(max_size=40), min_size=12, max_size=12))
def test_resync_after_arbitrary_garbage(frames: list[bytes], garbage: list[bytes]) -> None:
    """Garbage before a delimiter costs nothing: every frame after a 0x00 is recovered."""
    stream = b"".join(g + b"\x00" + encode_frame(f) for f, g in zip(frames, garbage, strict=False))
    sp = FrameSplitter()
    got = sp.feed(stream)
    # garbage can only add frames if it happens to carry a valid CRC-16 (p = 2**-16 per chunk)
    assert [g for g in got if g in frames] == frames


@settings(max_examples=200, deadline=None)
@given(bodies, st.data())
def test_truncation_loses_at_most_the_hit_frame_and_the_next(
    frames: list[bytes], data: st.DataObject
) -> None:
    wires = [encode_frame(f) for f in frames]
    i = data.draw(st.integers(0, len(frames) - 1))
    cut = data.draw(st.integers(0, len(wires[i]) - 1))  # the tail, delimiter included, is lost
    stream = b"".join(wires[:i]) + wires[i][:cut] + b"".join(wires[i + 1 :])
    sp = FrameSplitter()
    # fed in arbitrary pieces: the splitter keeps partial frames across reads
    pieces = data.draw(st.lists(st.integers(1, 64), max_size=50))
    got, pos = [], 0
    for n in pieces:
        got += sp.feed(stream[pos : pos + n])
        pos += n
    got += sp.feed(stream[pos:])
    assert got[:i] == frames[:i]
    assert got[i:] in (frames[i + 1 :], frames[i + 2 :])  # the next one merges with the stub
    assert all(g in frames for g in got)


@settings(max_examples=200, deadline=None)
@given(bodies, st.data())
def test_a_flipped_bit_never_yields_a_wrong_frame(frames: list[bytes], data: st.DataObject) -> None:
    stream = bytearray(b"".join(encode_frame(f) for f in frames))
    pos = data.draw(st.integers(0, len(stream) - 1))
    stream[pos] ^= 1 << data.draw(st.integers(0, 7))
    got = FrameSplitter().feed(bytes(stream))
    assert all(g in frames for g in got)  # CRC-16 detects every single-bit error
    assert len(got) >= len(frames) - 2


def test_overlong_frame_is_discarded_and_the_stream_resyncs() -> None:
    sp = FrameSplitter()
    assert sp.feed(b"\x55" * (MAX_ENCODED + 10)) == []
    assert sp.feed(b"\x55" * 100) == []  # still the same runaway frame
    good = encode_frame(b"hello")
    assert sp.feed(b"\x00" + good) == [b"hello"]
    assert sp.stats.frames_bad == 1 and sp.stats.frames_ok == 1


def test_splitter_counts_bad_frames() -> None:
    sp = FrameSplitter()
    w = bytearray(encode_frame(b"abcdef"))
    w[2] ^= 0x10
    assert sp.feed(bytes(w) + encode_frame(b"ok")) == [b"ok"]
    assert sp.stats.frames_bad == 1 and sp.stats.bytes_skipped > 0
