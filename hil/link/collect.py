"""Collecting a run's result stream on the host: EVENTS/COUNTS batches as they arrive, gaps counted,
RUN_DONE (or, when it is lost, STATUS and RESULT), missing batches fetched while the board holds
them, the end-to-end CRC-32, and every field checked before the result is assembled. What happened
on the wire is summed up in a `RunReport` (docs/protocol.md section 5)."""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, field

import numpy as np

from hil import events as ev
from hil.chip.geometry import NEURONS_PER_CHIP
from hil.errors import BoardError, LinkError
from hil.link import messages as m
from hil.link.client import CommandClient
from hil.link.transport import LinkDown

T = m.MsgType
MAX_BATCHES = 1 << 22  # batches in one run (about 10^9 events): a bound on what the host holds
Batch = tuple[int, int, np.ndarray, bytes]  # kind, base (us or first bin), records, payload


@dataclass
class RunReport:
    """What happened on the wire during the last run. `lost` > 0 means the result is incomplete."""

    run_id: int
    readout: str  # "spikes" or "counts"
    readout_reason: str
    bin_us: int
    duration_s: float
    n_events: int  # spikes the board's chip produced
    n_records: int  # event or count records the board batched
    n_batches: int
    batches_missed: int  # sequence gaps seen while streaming
    batches_fetched: int  # of those, recovered with FETCH
    records_lost: int  # records in batches that could not be recovered
    overflow_dropped: int  # spikes the board dropped before sending (TX overflow)
    frames_bad: int  # frames rejected by COBS/CRC/length checks during the run
    retransmits: int
    wall_s: float
    engine_s: float
    recovered_after_restart: bool = False
    run_index: int = 0  # runs the board did since the config was applied, before this one
    seed: int = 0  # the noise seed sent with RUN
    stream_s: float = 0.0  # from the first batch's arrival to RUN_DONE's [s]
    stream_rate: float = 0.0  # records/s while streaming: slope of records received vs arrival time
    warnings: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Spikes (spikes readout) or count records (counts readout) missing from the result."""
        return self.records_lost + self.overflow_dropped

    def to_dict(self) -> dict:
        d = asdict(self)
        d["lost"] = self.lost
        return d


@dataclass
class Collected:
    """A run's stream as received: the board's summary and every batch the host holds."""

    summary: m.RunSummary
    batches: dict[int, Batch]
    missed: int  # batches that did not arrive while streaming
    fetched: int  # of those, fetched afterwards
    stream_s: float
    stream_rate: float


def collect(
    client: CommandClient, run_id: int, dur_us: int, readout: int, bin_us: int
) -> Collected:
    """Read run `run_id` until its RUN_DONE, check the summary, fetch what is missing and compare
    the end-to-end CRC-32 (fetching everything again once if it differs)."""
    summary, batches, missed, arrivals, done_at = _stream(client, run_id)
    name = client.name
    if summary.status == m.RunStatus.ERROR:
        code = m.ErrorCode(summary.error_code or m.ErrorCode.INTERNAL).name
        raise BoardError(
            f"board {name!r} reported an error while running (run {run_id}): {code}: "
            f"{summary.error_text or 'no cause given'}"
        )
    if summary.status == m.RunStatus.STOPPED:
        raise BoardError(f"run {run_id} was stopped on the board before it finished")
    check_summary(summary, run_id, dur_us, readout, bin_us)
    missing = [b for b in range(summary.n_batches) if b not in batches]
    fetched = fetch(client, run_id, missing, batches)
    if len(batches) == summary.n_batches and batches_crc(batches) != summary.crc32:
        # a frame that passed its CRC-16 but is wrong (p ~ 2**-16 per damaged frame): the
        # end-to-end CRC-32 catches it; fetch every batch again, reliably, and re-check
        fetch(client, run_id, list(range(summary.n_batches)), batches)
        if batches_crc(batches) != summary.crc32:
            raise LinkError(
                f"run {run_id} on {name!r}: the batches do not match the board's CRC-32 "
                "even after fetching them all again; the result is not trustworthy"
            )
    stream_s = done_at - arrivals[0][0] if arrivals and done_at else 0.0
    return Collected(summary, batches, missed, fetched, stream_s, stream_rate(arrivals))


def _stream(
    client: CommandClient, run_id: int
) -> tuple[m.RunSummary, dict[int, Batch], int, list[tuple[float, int]], float]:
    """Batches until RUN_DONE; polls STATUS (then RESULT) when the board is quiet for 1 s."""
    batches: dict[int, Batch] = {}
    summary: m.RunSummary | None = None
    expect, missed, done_at = 0, 0, 0.0
    arrivals: list[tuple[float, int]] = []  # (host clock, records) per streamed batch
    clock, session = client.clock, client.session
    quiet_since = clock()
    while summary is None:
        client.step()
        while session.stream:
            f = session.stream.popleft()
            if f.type in (T.EVENTS, T.COUNTS):
                rid, idx, base, recs = m.unpack_batch(f.type, f.payload)
                if rid != run_id or idx in batches:
                    continue
                if idx >= MAX_BATCHES:
                    raise m.WireError(f"{f.name}: batch={idx}; allowed below {MAX_BATCHES}")
                if idx > expect:
                    missed += idx - expect
                expect = max(expect, idx + 1)
                batches[idx] = (f.type, base, recs, f.payload)
                arrivals.append((clock(), recs.size))
            elif f.type == T.RUN_DONE:
                s = m.RunSummary.unpack(f.payload)
                if s.run_id == run_id:
                    summary, done_at = s, clock()
            quiet_since = clock()
        if summary is None and clock() - quiet_since > min(1.0, session.silence_s):
            st = m.Status.unpack(client.call(T.STATUS))
            assert client.hello is not None
            if st.boot_id != client.hello.boot_id:
                raise LinkDown(
                    f"boot id changed from {client.hello.boot_id:08x} to {st.boot_id:08x}"
                )
            if st.state != 1 or st.run_id != run_id:
                summary = m.RunSummary.unpack(client.call(T.RESULT, m.RUN_ID_CMD.pack(run_id)))
            quiet_since = clock()
    missed += max(0, summary.n_batches - expect)
    return summary, batches, missed, arrivals, done_at


def fetch(client: CommandClient, run_id: int, idxs: list[int], batches: dict[int, Batch]) -> int:
    """FETCH batches `idxs` through the window into `batches`; returns how many came back."""
    pend = [client.session.submit(T.FETCH, m.FETCH_CMD.pack(run_id, b)) for b in idxs]
    while any(c.answer is None for c in pend):
        client.step()
    got = 0
    for b, c in zip(idxs, pend, strict=True):
        a = c.answer
        assert a is not None
        if a.type != T.ACK or len(a.payload) < 2:
            continue  # NOT_FOUND: evicted; counted as lost
        kind, raw = a.payload[1], a.payload[2:]
        if kind not in (T.EVENTS, T.COUNTS):
            raise m.WireError(f"FETCH answer: batch kind 0x{kind:02X}; allowed EVENTS/COUNTS")
        rid, idx, base, recs = m.unpack_batch(kind, raw)
        if rid == run_id and idx == b:
            batches[b] = (kind, base, recs, raw)
            got += 1
    return got


def batches_crc(batches: dict[int, Batch]) -> int:
    """CRC-32 of the batches' payloads in batch order (RunSummary.crc32)."""
    crc = 0
    for b in sorted(batches):
        crc = zlib.crc32(batches[b][3], crc)
    return crc


def check_summary(s: m.RunSummary, run_id: int, dur_us: int, readout: int, bin_us: int) -> None:
    """The board's totals must describe the run that was asked for and be self-consistent."""
    per_batch = m.EVENTS_PER_BATCH if readout == m.Readout.SPIKES else m.COUNTS_PER_BATCH
    problems = []
    if (s.run_id, s.duration_us, s.readout) != (run_id, dur_us, readout):
        problems.append(
            f"run_id/duration_us/readout {s.run_id}/{s.duration_us}/{s.readout}, "
            f"asked {run_id}/{dur_us}/{readout}"
        )
    if readout == m.Readout.SPIKES and s.n_records + s.n_dropped != s.n_events:
        problems.append(
            f"n_records {s.n_records} + n_dropped {s.n_dropped} != n_events {s.n_events}"
        )
    if readout == m.Readout.COUNTS and s.bin_us != bin_us:
        problems.append(f"bin_us {s.bin_us}, asked {bin_us}")
    if (
        s.n_batches > s.n_records
        or s.n_batches * per_batch < s.n_records
        or s.n_batches > MAX_BATCHES
    ):
        problems.append(f"n_batches {s.n_batches} cannot hold n_records {s.n_records}")
    if problems:
        raise m.WireError(f"RUN_DONE of run {run_id} is inconsistent: " + "; ".join(problems))


def assemble(c: Collected, dur_us: int, n_chips: int) -> tuple[np.ndarray, int]:
    """The checked result and how many records it holds: output events (spikes readout), or a
    (bins, n_chips * 1024) count raster by board-wide neuron index (counts readout)."""
    s = c.summary
    parts = [c.batches[b] for b in sorted(c.batches) if b < s.n_batches]
    kinds = {p[0] for p in parts}
    want = T.COUNTS if s.readout else T.EVENTS
    if kinds - {want}:
        raise m.WireError(
            f"run {s.run_id}: batches of {sorted(map(m.type_name, kinds))}; "
            f"expected {m.type_name(want)}"
        )
    n_got = sum(p[2].size for p in parts)
    if s.readout == m.Readout.SPIKES:
        if parts:
            t = np.concatenate([p[1] + p[2]["dt"].astype(np.int64) for p in parts])
            addr = np.concatenate([p[2]["addr"] for p in parts])
        else:
            t, addr = np.empty(0, np.int64), np.empty(0, np.uint16)
        m.check_addr(addr, n_chips, "EVENTS")
        if t.size and (t.max() >= dur_us or np.any(np.diff(t) < 0)):
            raise m.WireError(f"EVENTS: timestamps must be sorted and below duration_us={dur_us}")
        return ev.output_events_at(t, addr), n_got  # a wire address is the board-wide index
    n_bins = -(-dur_us // s.bin_us)
    if s.n_bins != n_bins:
        raise m.WireError(
            f"RUN_DONE: n_bins={s.n_bins}; {dur_us} us in bins of {s.bin_us} us make {n_bins}"
        )
    raster = np.zeros((n_bins, n_chips * NEURONS_PER_CHIP), np.int32)
    for _, b0, r, _ in parts:
        m.check_addr(r["addr"], n_chips, "COUNTS")
        rows = b0 + r["dbin"].astype(np.int64)
        if rows.size and rows.max() >= n_bins:
            raise m.WireError(f"COUNTS: bin {int(rows.max())}; allowed below {n_bins}")
        np.add.at(raster, (rows, r["addr"].astype(np.int64)), r["count"])
    return raster, n_got


def stream_rate(arrivals: list[tuple[float, int]]) -> float:
    """Records per second from (arrival time, records) of each batch: the least-squares slope of
    the records received so far against time, which an early or late start of reading does not
    bias (the first batch only marks the start)."""
    t = np.array([a for a, _ in arrivals])
    n = np.cumsum([k for _, k in arrivals])
    if t.size < 3 or np.ptp(t) <= 0:
        return 0.0
    return float(np.polyfit(t - t[0], n, 1)[0])
