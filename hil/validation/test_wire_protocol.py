"""Conformance of the board side of the wire protocol (docs/protocol.md), checked over the byte
stream itself: hand-made frames go to the board exactly as written, past every check the host
would make, so a firmware fault cannot hide behind the host's own validation. Boards that do not
speak the wire protocol (sim://) skip these."""

from __future__ import annotations

import json
import struct
import warnings
import zlib

import numpy as np
import pytest

from hil import events as ev
from hil.board import Board
from hil.chip.example import N_INPUTS, example_config
from hil.link import messages as m
from hil.link.client import RawWire
from hil.link.framing import encode_frame

T = m.MsgType
E = m.ErrorCode
DURATION = 0.2


@pytest.fixture
def wire(board: Board) -> RawWire:
    """Raw frames over the board's own byte stream, with the example config applied."""
    from hil.link.serial_board import SerialBoard

    if not isinstance(board, SerialBoard):
        pytest.skip(f"{board.url} does not speak the wire protocol")
    board.apply(example_config())
    return RawWire(board.client)


def ack(wire: RawWire, mtype: int, payload: bytes = b"", seq: int | None = None) -> bytes:
    a = wire.send(mtype, payload, seq)
    assert a.type == T.ACK, f"{m.type_name(mtype)} answered {m.unpack_nak(a.payload)}"
    assert a.payload[:1] == bytes([mtype])
    return a.payload[1:]


def nak(wire: RawWire, mtype: int, payload: bytes = b"") -> tuple[m.ErrorCode, str]:
    a = wire.send(mtype, payload)
    assert a.type == T.NAK, f"{m.type_name(mtype)} was accepted"
    cmd, code, text = m.unpack_nak(a.payload)
    assert cmd == mtype
    return code, text


def held_hash(wire: RawWire) -> str:
    """The content hash the board says it holds ('' without a config)."""
    a = ack(wire, T.CONFIG_HASH)
    return a[1:].hex() if a[0] == 1 else ""


def upload(wire: RawWire, text: str) -> m.Frame:
    """A config image sent by hand; returns the answer to CONFIG_COMMIT."""
    raw = text.encode()
    img = zlib.compress(raw)
    ack(wire, T.CONFIG_BEGIN, m.CONFIG_BEGIN_CMD.pack(len(img), len(raw), zlib.crc32(raw), 1))
    for off in range(0, len(img), m.CONFIG_CHUNK):
        ack(wire, T.CONFIG_DATA, struct.pack("<I", off) + img[off : off + m.CONFIG_CHUNK])
    return wire.send(T.CONFIG_COMMIT)


def run_hash(h: str) -> bytes:
    return bytes.fromhex(h)


def test_naks_carry_the_right_code_and_name_the_field(wire: RawWire) -> None:
    good = example_config().content_hash()
    assert nak(wire, 0x7E)[0] == E.UNKNOWN_TYPE
    assert nak(wire, T.STATUS, b"extra")[0] == E.BAD_LENGTH
    assert nak(wire, T.CONFIG_DATA, struct.pack("<I", 0) + b"x")[0] == E.BAD_STATE
    code, text = nak(wire, T.CONFIG_BEGIN, m.CONFIG_BEGIN_CMD.pack(0, 10, 0, 1))
    assert code == E.BAD_FIELD and "size" in text
    code, text = nak(wire, T.RESET, b"\x07")
    assert code == E.BAD_FIELD and "mode" in text
    code, text = nak(wire, T.SET_BIAS, m.pack_set_bias([(0, 0, 0, 9, 0)]))
    assert code == E.CONFIG_INVALID and "allowed" in json.loads(text)
    code, text = nak(wire, T.SET_BIAS, m.pack_set_bias([(0, 0, 250, 1, 0)]))
    assert code == E.BAD_FIELD and "param" in text
    assert nak(wire, T.SET_BIAS, m.pack_set_bias([(0, 0, 0, 1, 0)])[:-1])[0] == E.BAD_LENGTH
    rec = m.records_to_wire(np.zeros(3, m.STIM_REC))
    ack(wire, T.STIM_BEGIN, m.STIM_BEGIN_CMD.pack(2, 0))
    code, text = nak(wire, T.STIM_DATA, struct.pack("<I", 0) + rec)
    assert code == E.BAD_FIELD
    code, text = nak(wire, T.RUN, m.RUN_CMD.pack(1, 1000, 0, 0, 0, bytes(32)))
    assert code == E.CONFIG_MISMATCH
    code, text = nak(wire, T.RUN, m.RUN_CMD.pack(1, 1000, 1, 70000, 0, run_hash(good)))
    assert code == E.BAD_FIELD and "bin_us" in text
    assert nak(wire, T.RUN, m.RUN_CMD.pack(1, 1000, 0, 0, 0, run_hash(good)))[0] == E.INCOMPLETE
    assert held_hash(wire) == good  # no NAK changed the config


def test_duplicates_are_answered_from_the_cache_not_executed_again(wire: RawWire) -> None:
    pid = m.PARAM_IDS["SOIF_DC_P"]
    first_cfg, second_cfg = example_config(), example_config()
    first_cfg.core(0, 0).parameters["SOIF_DC_P"] = (1, 1)
    second_cfg.core(0, 0).parameters["SOIF_DC_P"] = (2, 2)
    dups = m.Status.unpack(ack(wire, T.STATUS)).duplicates
    seq = wire.next_seq()
    one = m.pack_set_bias([(0, 0, pid, 1, 1)])
    first = wire.send(T.SET_BIAS, one, seq)
    assert first.type == T.ACK and first.payload[1:].hex() == first_cfg.content_hash()
    ack(wire, T.SET_BIAS, m.pack_set_bias([(0, 0, pid, 2, 2)]))
    again = wire.send(T.SET_BIAS, one, seq)  # a retransmission of the first write
    assert again == first  # the cached answer, byte for byte ...
    assert held_hash(wire) == second_cfg.content_hash()  # ... and the write not done again
    assert m.Status.unpack(ack(wire, T.STATUS)).duplicates == dups + 1
    # the same seq with another payload is a new command (a new session reusing seqs)
    other = wire.send(T.SET_BIAS, m.pack_set_bias([(0, 0, pid, 3, 3)]), seq)
    assert other.type == T.ACK and other.payload != first.payload


def test_a_bias_write_answers_the_hash_of_the_edited_config(wire: RawWire) -> None:
    cfg = example_config()
    writes = [(0, 0, m.PARAM_IDS["SOIF_DC_P"], 3, 77), (0, 1, m.PARAM_IDS["SOIF_GAIN_N"], 2, 9)]
    h = ack(wire, T.SET_BIAS, m.pack_set_bias(writes)).hex()
    cfg.core(0, 0).parameters["SOIF_DC_P"] = (3, 77)
    cfg.core(0, 1).parameters["SOIF_GAIN_N"] = (2, 9)
    assert h == cfg.content_hash() == held_hash(wire)
    # all or none: one bad write in a batch changes nothing
    bad = [(0, 0, m.PARAM_IDS["SOIF_DC_P"], 1, 1), (0, 0, m.PARAM_IDS["SOIF_LEAK_N"], 6, 0)]
    assert nak(wire, T.SET_BIAS, m.pack_set_bias(bad))[0] == E.CONFIG_INVALID
    assert held_hash(wire) == cfg.content_hash()
    # ... also for the writes that follow: they edit the config as it was before the bad batch
    h = ack(wire, T.SET_BIAS, m.pack_set_bias([(0, 2, m.PARAM_IDS["SOIF_REFR_N"], 1, 2)])).hex()
    cfg.core(0, 2).parameters["SOIF_REFR_N"] = (1, 2)
    assert h == cfg.content_hash()


def test_a_bad_config_image_is_refused_and_the_old_one_kept(wire: RawWire, board: Board) -> None:
    good = example_config()
    bad = json.loads(good.to_json())
    bad["chips"][0]["cores"]["0"]["parameters"]["SOIF_LEAK_N"]["coarse_value"] = 6
    a = upload(wire, json.dumps(bad))
    assert a.type == T.NAK
    _, code, text = m.unpack_nak(a.payload)
    assert code == E.CONFIG_INVALID
    assert json.loads(text)["path"] == "chips[0].cores[0].parameters[SOIF_LEAK_N].coarse_value"
    assert held_hash(wire) == good.content_hash()  # the old config, not none
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error"
        )  # a recovery (re-apply) would warn: the board must not need one
        out = board.run(ev.poisson_input(100.0, N_INPUTS, DURATION, seed=1), DURATION)
    assert out.size > 0


def test_a_damaged_or_oversized_image_is_refused(wire: RawWire) -> None:
    raw = example_config().to_json().encode()
    img = zlib.compress(raw)
    # announced raw size smaller than what the image inflates to: refused, no unbounded inflate
    ack(wire, T.CONFIG_BEGIN, m.CONFIG_BEGIN_CMD.pack(len(img), 100, zlib.crc32(raw), 1))
    for off in range(0, len(img), m.CONFIG_CHUNK):
        ack(wire, T.CONFIG_DATA, struct.pack("<I", off) + img[off : off + m.CONFIG_CHUNK])
    assert nak(wire, T.CONFIG_COMMIT)[0] == E.CONFIG_CRC
    # a wrong CRC-32
    ack(wire, T.CONFIG_BEGIN, m.CONFIG_BEGIN_CMD.pack(len(img), len(raw), zlib.crc32(raw) ^ 1, 1))
    for off in range(0, len(img), m.CONFIG_CHUNK):
        ack(wire, T.CONFIG_DATA, struct.pack("<I", off) + img[off : off + m.CONFIG_CHUNK])
    assert nak(wire, T.CONFIG_COMMIT)[0] == E.CONFIG_CRC
    assert held_hash(wire) == example_config().content_hash()


def test_garbage_and_damaged_frames_cost_only_themselves(wire: RawWire) -> None:
    rx_bad = m.Status.unpack(ack(wire, T.STATUS)).rx_bad
    damaged = bytearray(encode_frame(m.pack(T.PING, wire.next_seq(), b"hello")))
    damaged[3] ^= 0x20  # inside the COBS-encoded body: the CRC fails
    seq = wire.next_seq()
    a = wire.exchange(
        bytes(damaged) + b"\x13\x37" * 40 + b"\x00" + encode_frame(m.pack(T.PING, seq, b"ok")), seq
    )
    assert a.type == T.ACK and a.payload == bytes([T.PING]) + b"ok"
    assert m.Status.unpack(ack(wire, T.STATUS)).rx_bad >= rx_bad + 2
