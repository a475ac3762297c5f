"""Host side of the reliable command channel, without I/O: sequence numbers, a window of several
outstanding commands, retransmission with back-off, and matching of ACK/NAK answers.

The I/O loop (SerialBoard) calls `outgoing(now)` for bytes to write and `on_frame(frame, now)` for
every frame received; board-initiated frames (EVENTS, COUNTS, RUN_DONE) land in `stream`.

Giving up (`check(now)` raises `BoardTimeout` naming every pending command, and forgets them):
- the board is *silent*: no byte from it for `silence_s` since a command was first sent, although
  small PING probes went out every `silence_s / 4` of quiet (a probe of 12 bytes gets through a
  link that loses most 1 kB frames, so a live board on a noisy link is not taken for a dead one);
- the link is *too noisy*: one command went out `retries` times without an answer.
The retransmission timeout doubles from `rto_s` up to `max_rto_s`, well below `silence_s`, so many
tries fit before the silence limit. The board answers commands in the order it receives them, and a
byte stream keeps order, so when the answer to a command arrives, every command last sent before
that one was first sent and still unanswered was lost (or its answer was): it is sent again at once,
without waiting for its timeout (fast retransmission; a probe's answer counts too). See
docs/protocol.md 3.2.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from hil.errors import BoardTimeout
from hil.link import messages as m
from hil.link.framing import encode_frame

# Commands that must not overtake or be overtaken: each is sent only when every earlier command
# is answered, and nothing follows it before its own answer. Only commands that commute
# (PING, STATUS, CONFIG_DATA, STIM_DATA, FETCH: addressed by offset or read-only) share the window.
BARRIERS = frozenset(
    int(t)
    for t in m.MsgType
    if t < 0x80
    and t
    not in (
        m.MsgType.PING,
        m.MsgType.STATUS,
        m.MsgType.CONFIG_DATA,
        m.MsgType.STIM_DATA,
        m.MsgType.FETCH,
    )
)


@dataclass
class Command:
    """One command in flight: its answer lands in `answer` (an ACK or NAK frame)."""

    seq: int
    type: int
    payload: bytes
    tries: int = 0
    sent_at: float = 0.0
    first_sent: float = 0.0
    first_tx: int = 0  # number of its first transmission (Session.tx)
    last_tx: int = 0  # number of its latest transmission
    lost: bool = False  # a later command was answered first: retransmit now
    answer: m.Frame | None = None

    @property
    def name(self) -> str:
        return f"{m.type_name(self.type)} (seq {self.seq})"


@dataclass
class SessionStats:
    commands: int = 0
    retransmits: int = 0
    stale_answers: int = 0
    frames_in: int = 0
    probes: int = 0
    fast_retransmits: int = 0


@dataclass
class Session:
    """Reliable, windowed commands. `rto_s` is the first retransmission timeout [s]; it doubles on
    every retry up to `max_rto_s`. A command is given up when the board has sent no byte for
    `silence_s` seconds since it was first sent (probes unanswered), or after `retries`
    transmissions (a link so noisy that the command never gets through). `last_rx` is updated by
    the I/O loop on every byte received."""

    window: int = 8
    rto_s: float = 0.05
    max_rto_s: float = 0.25
    retries: int = 64
    silence_s: float = 2.0
    seq: int = 0
    queued: deque[Command] = field(default_factory=deque)
    inflight: dict[int, Command] = field(default_factory=dict)
    stream: deque[m.Frame] = field(default_factory=deque)
    stats: SessionStats = field(default_factory=SessionStats)
    last_rx: float = 0.0
    last_probe: float = 0.0
    tx: int = 0  # transmissions so far (commands and probes), in the order they went out
    probes_out: dict[int, int] = field(default_factory=dict)  # probe seq -> its tx number

    def submit(self, mtype: int, payload: bytes = b"") -> Command:
        cmd = Command(self.seq, int(mtype), payload)
        self.seq = (self.seq + 1) % m.SEQ_MOD
        self.queued.append(cmd)
        self.stats.commands += 1
        return cmd

    def busy(self) -> bool:
        return bool(self.queued or self.inflight)

    def outgoing(self, now: float) -> bytes:
        """Encoded frames to write now: retransmissions that are due, then new commands while the
        window has room."""
        out = bytearray()
        for cmd in self.inflight.values():
            if (
                cmd.answer is None
                and (cmd.lost or now - cmd.sent_at >= self._rto(cmd))
                and cmd.tries < self.retries
            ):
                self.stats.fast_retransmits += cmd.lost
                out += self._send(cmd, now, m.Flag.RETRY)
                self.stats.retransmits += 1
        while self.queued and len(self.inflight) < self.window:
            cmd = self.queued[0]
            if self.inflight and (
                cmd.type in BARRIERS
                or cmd.seq in self.inflight  # the seq space wrapped onto a command still waiting
                or any(c.type in BARRIERS for c in self.inflight.values())
            ):
                break
            self.queued.popleft()
            self.inflight[cmd.seq] = cmd
            cmd.first_sent = now
            out += self._send(cmd, now, 0)
        out += self._probe(now)
        return bytes(out)

    def _probe(self, now: float) -> bytes:
        """An empty PING when commands wait and the board has been quiet for 2 rto_s (at most
        silence_s / 4): its answer shows the board is alive, and that what was sent before it
        and is still unanswered was lost (fast retransmission of the tail of a window). Probes
        are not tracked as commands; PING commutes with every command, and a HELLO in flight is
        its own probe."""
        every = min(self.silence_s / 4, self.rto_s / 2)
        if (
            not self.inflight
            or now - self.last_rx < every
            or now - self.last_probe < every
            or any(c.type == m.MsgType.HELLO for c in self.inflight.values())
        ):
            return b""
        while self.seq in self.inflight:
            self.seq = (self.seq + 1) % m.SEQ_MOD
        seq, self.seq = self.seq, (self.seq + 1) % m.SEQ_MOD
        self.last_probe = now
        self.stats.probes += 1
        self.tx += 1
        if len(self.probes_out) > 64:
            self.probes_out.clear()
        self.probes_out[seq] = self.tx
        return encode_frame(m.pack(m.MsgType.PING, seq))

    def _rto(self, cmd: Command) -> float:
        return min(self.max_rto_s, self.rto_s * 2 ** max(0, cmd.tries - 1))

    def _send(self, cmd: Command, now: float, flags: int) -> bytes:
        self.tx += 1
        cmd.tries += 1
        cmd.sent_at = now
        cmd.first_tx = cmd.first_tx or self.tx
        cmd.last_tx, cmd.lost = self.tx, False
        return encode_frame(m.pack(cmd.type, cmd.seq, cmd.payload, flags))

    def on_frame(self, frame: m.Frame, now: float) -> Command | None:
        """A valid frame from the board: resolves the matching command, or queues stream frames."""
        self.stats.frames_in += 1
        if frame.type in (m.MsgType.ACK, m.MsgType.NAK):
            cmd = self.inflight.get(frame.seq)
            if cmd is None or not frame.payload or frame.payload[0] != cmd.type:
                probe_tx = self.probes_out.pop(frame.seq, None)
                if probe_tx is not None and frame.payload[:1] == bytes([m.MsgType.PING]):
                    self._mark_lost(probe_tx)
                else:
                    self.stats.stale_answers += 1  # a replayed answer to a resolved command
                return None
            cmd.answer = frame
            del self.inflight[frame.seq]
            self._mark_lost(cmd.first_tx)
            return cmd
        self.stream.append(frame)
        return None

    def _mark_lost(self, tx: int) -> None:
        """An answer to transmission `tx` arrived: what was last sent before it and is still
        unanswered will not be answered any more (the board answers in order)."""
        for c in self.inflight.values():
            if c.last_tx < tx:
                c.lost = True

    def check(self, now: float) -> None:
        """Raise BoardTimeout (and forget every pending command, so the next one starts clean) when
        a command is unanswered and the board has sent nothing at all for `silence_s` seconds, or
        when a command has used all its `retries` transmissions."""
        silent = now - self.last_rx >= self.silence_s
        stuck = [
            c
            for c in self.inflight.values()
            if (silent and now - c.first_sent >= self.silence_s)
            or (c.tries >= self.retries and now - c.sent_at >= self._rto(c))
        ]
        if stuck:
            pending = [c.name for c in self.inflight.values()] + [c.name for c in self.queued]
            c = stuck[0]
            why = (
                f"the board sent nothing for {now - self.last_rx:.2f} s"
                if silent
                else "the board answers, but the link lost every try"
            )
            self.abandon()
            raise BoardTimeout(
                f"no answer from the board to {c.name} after {c.tries} tries over "
                f"{now - c.first_sent:.2f} s ({why}); pending: {', '.join(pending[:12])}"
                + (f" and {len(pending) - 12} more" if len(pending) > 12 else "")
            )

    def abandon(self) -> list[Command]:
        """Forget every pending command (before a reconnect); returns them."""
        lost = list(self.inflight.values()) + list(self.queued)
        self.inflight.clear()
        self.queued.clear()
        self.stream.clear()
        return lost
