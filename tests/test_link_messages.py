"""The message catalogue: layouts and bounds checks on every field off the wire, batches, and the
firmware's batching helpers. (The board side's answers - NAKs, duplicate replay, config images -
are tested over the byte stream by the shipped suite, hil/validation/test_wire_protocol.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from hil.emulator.firmware import count_batches, fifo_overflow
from hil.link import messages as m

T = m.MsgType
E = m.ErrorCode


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
