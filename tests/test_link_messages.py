"""The message catalogue and the board-side firmware: layouts, bounds checks on every field off
the wire, NAK codes, duplicate replay."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
from link_toy import ToyEngine

from hil.chip.example import example_config
from hil.emulator.firmware import Firmware, count_batches, fifo_overflow
from hil.link import messages as m
from hil.link.framing import FrameSplitter, encode_frame

T = m.MsgType
E = m.ErrorCode


def SB(*write: int) -> bytes:  # noqa: N802
    return m.pack_set_bias([write])


def RUN(run_id: int, dur_us: int, readout: int, bin_us: int, h: str = "") -> bytes:  # noqa: N802
    return m.RUN_CMD.pack(run_id, dur_us, readout, bin_us, 0, bytes.fromhex(h or "00" * 32))


class Board:
    """A Firmware on a toy engine, driven frame by frame."""

    def __init__(self) -> None:
        self.out = FrameSplitter()
        self.frames: list[m.Frame] = []
        self.fw = Firmware(ToyEngine(), self._write)
        self.seq = 0

    def _write(self, data: bytes) -> None:
        self.frames += [m.unpack(b) for b in self.out.feed(data)]

    def send(self, mtype: int, payload: bytes = b"", seq: int | None = None) -> m.Frame:
        if seq is None:
            seq, self.seq = self.seq, self.seq + 1
        n = len(self.frames)
        self.fw.feed(encode_frame(m.pack(mtype, seq, payload)))
        answers = [f for f in self.frames[n:] if f.type in (T.ACK, T.NAK)]
        assert len(answers) == 1
        return answers[0]

    def ok(self, mtype: int, payload: bytes = b"") -> bytes:
        a = self.send(mtype, payload)
        assert a.type == T.ACK, m.unpack_nak(a.payload)
        assert a.payload[0] == mtype
        return a.payload[1:]

    def nak(self, mtype: int, payload: bytes = b"") -> tuple[E, str]:
        a = self.send(mtype, payload)
        assert a.type == T.NAK
        _, code, text = m.unpack_nak(a.payload)
        return code, text

    def upload(self, text: str, enc: int = 1) -> bytes:
        raw = text.encode()
        img = zlib.compress(raw) if enc else raw
        self.ok(T.CONFIG_BEGIN, m.CONFIG_BEGIN_CMD.pack(len(img), len(raw), zlib.crc32(raw), enc))
        for off in range(0, len(img), m.CONFIG_CHUNK):
            self.ok(T.CONFIG_DATA, struct.pack("<I", off) + img[off : off + m.CONFIG_CHUNK])
        a = self.send(T.CONFIG_COMMIT)
        return a.payload


def test_header_checks() -> None:
    with pytest.raises(m.WireError, match="version=9"):
        m.unpack(bytes([9, 1, 0, 0, 0]))
    with pytest.raises(m.WireError, match="type=0x7E"):
        m.unpack(bytes([1, 0x7E, 0, 0, 0]))
    with pytest.raises(m.WireError, match="header needs 5"):
        m.unpack(b"\x01\x01")
    f = m.unpack(m.pack(T.PING, 70000, b"x", m.Flag.RETRY))
    assert (f.type, f.seq, f.flags, f.payload) == (T.PING, 70000 % 65536, 1, b"x")


def test_hello_status_summary_round_trip_and_bounds() -> None:
    h = m.HelloInfo(
        1, 7, 2, frozenset({"spikes", "counts"}), 1024, 921600, True, "b", "fw", {"a": 1}
    )
    assert m.HelloInfo.unpack(h.pack()) == h
    bad = bytearray(h.pack())
    bad[5] = 9  # n_chips
    with pytest.raises(m.WireError, match="n_chips=9; allowed 1..4"):
        m.HelloInfo.unpack(bytes(bad))
    with pytest.raises(m.WireError, match="trailing"):
        m.HelloInfo.unpack(h.pack() + b"\x00")
    s = m.Status(1, 2, 3, True, 4, 5, 6, 7, 8, 9)
    assert m.Status.unpack(s.pack()) == s
    r = m.RunSummary(1, 0, 0, 3, 10, 8, 2, 0, 0, 1000, 5, 0xDEADBEEF)
    assert m.RunSummary.unpack(r.pack()) == r
    with pytest.raises(m.WireError, match="n_dropped=11"):
        m.RunSummary.unpack(m.RunSummary(1, 0, 0, 3, 10, 8, 11, 0, 0, 1000, 5, 0).pack())


def test_event_batches_keep_dt_within_16_bits() -> None:
    t = np.array([0, 5, 65535, 65536, 200000, 200001] + list(range(300000, 300600)), np.int64)
    addr = (np.arange(t.size) % 1024).astype(np.uint16)
    batches = m.split_events(t, addr)
    assert all(r.size <= m.EVENTS_PER_BATCH and int(r["dt"].max()) <= 0xFFFF for _, r in batches)
    back = np.concatenate([b + r["dt"].astype(np.int64) for b, r in batches])
    np.testing.assert_array_equal(back, t)
    run_id, idx, base, rec = m.unpack_batch(T.EVENTS, m.pack_events_batch(3, 9, *batches[0]))
    assert (run_id, idx, base) == (3, 9, batches[0][0])
    np.testing.assert_array_equal(rec, batches[0][1])
    with pytest.raises(m.WireError, match="multiple of 4 bytes"):
        m.unpack_batch(T.EVENTS, m.BATCH_HEAD.pack(1, 0, 0) + b"abc")


def test_addresses_are_checked() -> None:
    m.check_addr(np.array([0x3FF], np.uint16), 1, "x")
    with pytest.raises(m.WireError, match="0x0400; allowed chip < 1"):
        m.check_addr(np.array([0x400], np.uint16), 1, "x")
    with pytest.raises(m.WireError, match="bits 12-15"):
        m.check_addr(np.array([0x1000], np.uint16), 4, "x")


def test_config_upload_commit_and_hash_read_back() -> None:
    b = Board()
    cfg = example_config()
    a = b.upload(cfg.to_json())
    assert a[1:].hex() == cfg.content_hash()
    assert b.ok(T.CONFIG_HASH) == b"\x01" + bytes.fromhex(cfg.content_hash())
    # a bias write answers the new hash, which equals the host-side edit
    pid = m.PARAM_NAMES.index("SOIF_DC_P")
    h = b.ok(T.SET_BIAS, SB(0, 0, pid, 3, 77)).hex()
    cfg.core(0, 0).parameters["SOIF_DC_P"] = (3, 77)
    assert h == cfg.content_hash() == b.ok(T.CONFIG_HASH)[1:].hex()


def test_firmware_naks_name_field_value_and_range() -> None:
    b = Board()
    assert b.nak(T.RUN, RUN(1, 1000, 0, 0))[0] == E.NO_CONFIG
    assert b.nak(T.CONFIG_DATA, struct.pack("<I", 0) + b"x")[0] == E.BAD_STATE
    assert b.nak(T.CONFIG_COMMIT)[0] == E.BAD_STATE
    code, text = b.nak(T.CONFIG_BEGIN, m.CONFIG_BEGIN_CMD.pack(0, 10, 0, 1))
    assert code == E.BAD_FIELD and "size=0" in text
    code, text = b.nak(T.RESET, b"\x07")
    assert code == E.BAD_FIELD and "mode=7" in text
    code, _ = b.nak(T.STATUS, b"extra")
    assert code == E.BAD_LENGTH
    assert b.nak(0x7E)[0] == E.UNKNOWN_TYPE
    b.upload(example_config().to_json())
    code, text = b.nak(T.SET_BIAS, SB(0, 0, 0, 9, 0))
    assert code == E.CONFIG_INVALID and json.loads(text)["allowed"] == "integers 0..5"
    code, text = b.nak(T.SET_BIAS, SB(0, 0, 250, 1, 0))
    assert code == E.BAD_FIELD and "param=250" in text
    b.ok(T.STIM_BEGIN, m.STIM_BEGIN_CMD.pack(2, 0))
    rec = np.zeros(3, m.STIM_REC)
    code, text = b.nak(T.STIM_DATA, struct.pack("<I", 0) + m.records_to_wire(rec))
    assert code == E.BAD_FIELD and "within 2 events" in text
    h = example_config().content_hash()
    assert b.nak(T.RUN, RUN(1, 1000, 0, 0))[0] == E.CONFIG_MISMATCH
    assert b.nak(T.RUN, RUN(1, 1000, 0, 0, h))[0] == E.INCOMPLETE
    code, text = b.nak(T.RUN, RUN(1, 1000, 1, 70000, h))
    assert code == E.BAD_FIELD and "bin_us=70000" in text


def test_invalid_config_image_is_refused_and_the_old_one_kept() -> None:
    b = Board()
    good = example_config()
    b.upload(good.to_json())
    bad = json.loads(good.to_json())
    bad["chips"][0]["cores"]["0"]["parameters"]["SOIF_LEAK_N"]["coarse_value"] = 6
    a = b.upload(json.dumps(bad))
    _, code, text = m.unpack_nak(a)
    assert code == E.CONFIG_INVALID
    assert json.loads(text)["path"] == "chips[0].cores[0].parameters[SOIF_LEAK_N].coarse_value"
    assert b.ok(T.CONFIG_HASH)[1:].hex() == good.content_hash()


def test_image_crc_and_inflate_limits() -> None:
    b = Board()
    raw = example_config().to_json().encode()
    img = zlib.compress(raw)
    # announced raw size smaller than what the image inflates to: refused, no unbounded inflate
    b.ok(T.CONFIG_BEGIN, m.CONFIG_BEGIN_CMD.pack(len(img), 100, zlib.crc32(raw), 1))
    for off in range(0, len(img), m.CONFIG_CHUNK):
        b.ok(T.CONFIG_DATA, struct.pack("<I", off) + img[off : off + m.CONFIG_CHUNK])
    code, text = b.nak(T.CONFIG_COMMIT)
    assert code == E.CONFIG_CRC and "announced 100 bytes" in text


def test_duplicates_are_replayed_not_re_executed() -> None:
    b = Board()
    b.upload(example_config().to_json())
    pid = m.PARAM_NAMES.index("SOIF_DC_P")
    p = SB(0, 0, pid, 1, 1)
    first = b.send(T.SET_BIAS, p, seq=500)
    b.fw.config.core(0, 0).parameters["SOIF_DC_P"] = (5, 5)  # so a re-execution would show
    again = b.send(T.SET_BIAS, p, seq=500)
    assert again == first and b.fw.stats["duplicates"] == 1
    assert b.fw.config.core(0, 0).parameters["SOIF_DC_P"] == (5, 5)
    # the same seq with a different payload is a new command (a new session reusing seqs)
    other = b.send(T.SET_BIAS, SB(0, 0, pid, 2, 2), seq=500)
    assert other.payload != first.payload and b.fw.stats["duplicates"] == 1


def test_counts_batches_and_fifo_overflow() -> None:
    bins = np.array([0, 0, 0, 1, 70000, 70000])
    addr = np.array([5, 5, 7, 5, 1, 1], np.uint16)
    out = count_batches(bins, addr)
    recs = [
        (b0 + int(r["dbin"][i]), int(r["addr"][i]), int(r["count"][i]))
        for b0, r in out
        for i in range(r.size)
    ]
    assert recs == [(0, 5, 2), (0, 7, 1), (1, 5, 1), (70000, 1, 2)]
    # 10 events at once into a queue of 4 that drains 1 event per 10 us
    dropped = fifo_overflow(np.array([0] * 10 + [100] * 2), 0.1, 4)
    assert dropped.tolist() == [False] * 4 + [True] * 6 + [False] * 2
