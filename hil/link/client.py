"""The host's end of the command channel over one Transport: HELLO, reliable windowed commands
(hil.link.session) with their answers or NAKs turned into errors, the config upload with its hash
read-back, and stopping a run the board still does. `RawWire` sends hand-made frames over the same
stream, for the conformance tests of the board side (hil.validation).

Errors: a NAK raises ConfigError (CONFIG_INVALID), BoardError (BAD_STATE, BUSY, NO_CONFIG while the
host holds none) or LinkError (the rest); NO_CONFIG while the host believes a config is applied,
CONFIG_MISMATCH and a changed boot id raise LinkDown (the board rebooted or holds another config).
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Callable, Sequence

from hil.chip.config import ChipConfig
from hil.errors import BoardError, BoardTimeout, ConfigError, LinkError
from hil.link import messages as m
from hil.link.framing import FrameSplitter, encode_frame
from hil.link.session import Session
from hil.link.transport import LinkDown, Transport

T = m.MsgType
STOP_WAIT_S = 60.0  # how long the host waits for a run it stopped to end on the board [s]


def hashes(**named: str) -> str:
    """'name HASH, ...' with each hash cut to the shortest prefix (at least 16 hex digits) that
    still tells the different ones apart; an empty hash reads 'none'."""
    vals = {v for v in named.values() if v}
    n = 16
    while n < 64 and len({v[:n] for v in vals}) < len(vals):
        n += 8
    return ", ".join(f"{k} {v[:n] if v else 'none'}" for k, v in named.items())


class CommandClient:
    """Commands over `transport`; `clock` drives the retransmission timers (tests simulate it)."""

    def __init__(
        self,
        transport: Transport,
        name: str,
        window: int = 8,
        timeout_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.transport, self.name, self.clock = transport, name, clock
        self.splitter = FrameSplitter()
        self.session = Session(window=window, silence_s=timeout_s)
        self.session.last_rx = clock()
        self.expects_config = False  # the host believes the board holds a config it applied
        self.unsure = False  # a command timed out: the board may still do what was given up
        self.hello: m.HelloInfo | None = None

    # ---- I/O ---------------------------------------------------------------------------------

    def step(self) -> None:
        """One round of I/O: send what is due, read what arrived, hand frames to the session."""
        out = self.session.outgoing(self.clock())
        if out:
            self.transport.write(out)
        data = self.transport.read()
        now = self.clock()
        if data:
            self.session.last_rx = now  # any byte, even of a corrupted frame, is a sign of life
            for body in self.splitter.feed(data):
                try:
                    frame = m.unpack(body)
                except m.WireError:
                    self.splitter.stats.frames_bad += 1
                    continue
                self.session.on_frame(frame, now)
        try:  # after reading: bytes that waited while this host was stalled still count
            self.session.check(now)
        except BoardTimeout:
            self.unsure = True
            raise

    def call_many(self, cmds: Sequence[tuple[int, bytes]]) -> list[bytes]:
        """Send commands through the window; return their ACK data in order, or raise on a NAK."""
        pend = [self.session.submit(t, p) for t, p in cmds]
        while any(c.answer is None for c in pend):
            self.step()
        out = []
        for c in pend:
            a = c.answer
            assert a is not None
            if a.type == T.NAK:
                self.raise_nak(c.type, a.payload)
            out.append(a.payload[1:])
        return out

    def call(self, mtype: int, payload: bytes = b"") -> bytes:
        return self.call_many([(mtype, payload)])[0]

    def raise_nak(self, cmd: int, payload: bytes) -> None:
        _, code, text = m.unpack_nak(payload)
        what = m.type_name(cmd)
        if code == m.ErrorCode.CONFIG_INVALID:
            try:
                d = m.parse_json_object(text, f"NAK of {what}")
                path, value, allowed = (str(d[k])[:200] for k in ("path", "value", "allowed"))
            except (m.WireError, KeyError):
                raise ConfigError("<board>", text, "a config this board accepts") from None
            raise ConfigError(path, value, allowed)
        if code == m.ErrorCode.NO_CONFIG and self.expects_config:
            raise LinkDown(f"board lost its config ({text})")
        if code == m.ErrorCode.CONFIG_MISMATCH:
            raise LinkDown(f"board holds another config than this host applied ({text})")
        if code in (m.ErrorCode.BAD_STATE, m.ErrorCode.BUSY, m.ErrorCode.NO_CONFIG):
            raise BoardError(f"board refused {what}: {text}")
        raise LinkError(f"board refused {what}: {code.name}: {text}")

    # ---- session-level commands --------------------------------------------------------------

    def say_hello(self) -> m.HelloInfo:
        """Flush a partial frame on the board, HELLO, and fit the timers to the line rate."""
        self.transport.write(b"\x00\x00")
        nonce = int.from_bytes(os.urandom(4), "little")
        self.hello = m.HelloInfo.unpack(
            self.call(T.HELLO, m.HELLO_CMD.pack(nonce, m.PROTOCOL_VERSION))
        )
        if self.hello.line_bps:  # a frame and its answer take their time on a slow line
            frame_s = (m.MAX_BODY + 8) * 10 / self.hello.line_bps
            self.session.rto_s = max(self.session.rto_s, 0.05 + 2 * frame_s)
            self.session.max_rto_s = max(self.session.max_rto_s, 2 * self.session.rto_s)
        return self.hello

    def stop_run(self) -> None:
        """After a reconnect or a timeout: check the boot id, stop a run the board is still doing
        (in real time, for an earlier connection) and wait until the board is idle."""
        assert self.hello is not None
        self.unsure = False
        st = m.Status.unpack(self.call(T.STATUS))
        if st.boot_id != self.hello.boot_id:
            raise LinkDown(f"boot id changed from {self.hello.boot_id:08x} to {st.boot_id:08x}")
        if st.state != 1:
            return
        self.call(T.STOP)
        t_end = time.monotonic() + STOP_WAIT_S
        while st.state == 1:
            if time.monotonic() > t_end:
                raise LinkError(
                    f"board {self.name!r} still runs run {st.run_id} {STOP_WAIT_S:g} s after STOP"
                )
            time.sleep(0.05)
            st = m.Status.unpack(self.call(T.STATUS))

    def upload(self, cfg: ChipConfig) -> str:
        """Send `cfg` as a compressed image, commit it, read its hash back; return the hash."""
        raw = json.dumps(cfg.to_dict(), sort_keys=True, separators=(",", ":")).encode()
        img = zlib.compress(raw, 6)
        cmds = [(T.CONFIG_BEGIN, m.CONFIG_BEGIN_CMD.pack(len(img), len(raw), zlib.crc32(raw), 1))]
        for off in range(0, len(img), m.CONFIG_CHUNK):
            cmds.append(
                (T.CONFIG_DATA, off.to_bytes(4, "little") + img[off : off + m.CONFIG_CHUNK])
            )
        cmds.append((T.CONFIG_COMMIT, b""))
        committed = self.call_many(cmds)[-1].hex()
        readback = self.call(T.CONFIG_HASH)
        want = cfg.content_hash()
        got = readback[1:].hex() if readback[:1] == b"\x01" else ""
        if committed != want or got != want:
            raise LinkError(
                f"config hash read-back mismatch on {self.name!r}: "
                + hashes(sent=want, committed=committed, reads_back=got)
            )
        return got


class RawWire:
    """Hand-made frames over a client's byte stream, bypassing the host's own checks, so a
    conformance test sees exactly what the board does with them. Seqs are taken from the
    client's session, so the board's replay cache never confuses them with the client's."""

    def __init__(self, client: CommandClient, wait_s: float = 5.0):
        self.client, self.wait_s = client, wait_s

    def next_seq(self) -> int:
        s = self.client.session
        seq, s.seq = s.seq, (s.seq + 1) % m.SEQ_MOD
        return seq

    def send(self, mtype: int, payload: bytes = b"", seq: int | None = None) -> m.Frame:
        """Send one command frame (`seq` given: possibly a repeat) and return its ACK or NAK."""
        seq = self.next_seq() if seq is None else seq
        return self.exchange(encode_frame(m.pack(mtype, seq, payload)), seq)

    def exchange(self, data: bytes, seq: int) -> m.Frame:
        """Write raw bytes and return the first ACK/NAK with `seq` (LinkError after wait_s)."""
        c = self.client
        c.transport.write(data)
        t_end = time.monotonic() + self.wait_s
        splitter = FrameSplitter()
        while time.monotonic() < t_end:
            for body in splitter.feed(c.transport.read()):
                f = m.unpack(body)
                if f.type in (T.ACK, T.NAK) and f.seq == seq:
                    return f
        raise LinkError(f"no answer to seq {seq} within {self.wait_s:g} s")
