"""Host side of the reliable command channel, without I/O: sequence numbers, a window of several
outstanding commands, retransmission with back-off, and matching of ACK/NAK answers.

The I/O loop (SerialBoard) calls `outgoing(now)` for bytes to write and `on_frame(frame, now)` for
every frame received; board-initiated frames (EVENTS, COUNTS, RUN_DONE) land in `stream`.
A command whose retries are exhausted while the board stays silent makes `check(now)` raise
`BoardTimeout` naming every pending command.
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


@dataclass
class Session:
    """Reliable, windowed commands. `rto_s` is the first retransmission timeout [s]; it doubles on
    every retry up to `max_rto_s`. A command is given up when the board has sent no byte for
    `silence_s` seconds since it was first sent, or after `retries` transmissions (a link so noisy
    that nothing gets through). `last_rx` is updated by the I/O loop on every byte received."""

    window: int = 8
    rto_s: float = 0.05
    max_rto_s: float = 2.0
    retries: int = 20
    silence_s: float = 2.0
    seq: int = 0
    queued: deque[Command] = field(default_factory=deque)
    inflight: dict[int, Command] = field(default_factory=dict)
    stream: deque[m.Frame] = field(default_factory=deque)
    stats: SessionStats = field(default_factory=SessionStats)
    last_rx: float = 0.0

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
                and now - cmd.sent_at >= self._rto(cmd)
                and cmd.tries < self.retries
            ):
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
        return bytes(out)

    def _rto(self, cmd: Command) -> float:
        return min(self.max_rto_s, self.rto_s * 2 ** max(0, cmd.tries - 1))

    def _send(self, cmd: Command, now: float, flags: int) -> bytes:
        cmd.tries += 1
        cmd.sent_at = now
        return encode_frame(m.pack(cmd.type, cmd.seq, cmd.payload, flags))

    def on_frame(self, frame: m.Frame, now: float) -> Command | None:
        """A valid frame from the board: resolves the matching command, or queues stream frames."""
        self.stats.frames_in += 1
        if frame.type in (m.MsgType.ACK, m.MsgType.NAK):
            cmd = self.inflight.get(frame.seq)
            if cmd is None or not frame.payload or frame.payload[0] != cmd.type:
                self.stats.stale_answers += 1  # a replayed answer to a command already resolved
                return None
            cmd.answer = frame
            del self.inflight[frame.seq]
            return cmd
        self.stream.append(frame)
        return None

    def next_deadline(self, now: float) -> float:
        """When `outgoing` next has something to retransmit (now if new commands can go)."""
        if self.queued and not self.inflight:
            return now
        due = [c.sent_at + self._rto(c) for c in self.inflight.values() if c.tries < self.retries]
        return min(due, default=now + self.silence_s)

    def check(self, now: float) -> None:
        """Raise BoardTimeout when a command is unanswered and the board has sent nothing at all
        for `silence_s` seconds, or when a command has used all its `retries` transmissions."""
        stuck = [
            c
            for c in self.inflight.values()
            if (now - c.first_sent >= self.silence_s and now - self.last_rx >= self.silence_s)
            or (c.tries >= self.retries and now - c.sent_at >= self._rto(c))
        ]
        if stuck:
            pending = [c.name for c in self.inflight.values()] + [c.name for c in self.queued]
            waited = now - min(c.first_sent for c in stuck)
            raise BoardTimeout(
                f"no answer from the board to {stuck[0].name} after {stuck[0].tries} tries over "
                f"{waited:.2f} s; pending: {', '.join(pending[:12])}"
                + (f" and {len(pending) - 12} more" if len(pending) > 12 else "")
            )

    def abandon(self) -> list[Command]:
        """Forget every pending command (before a reconnect); returns them."""
        lost = list(self.inflight.values()) + list(self.queued)
        self.inflight.clear()
        self.queued.clear()
        self.stream.clear()
        return lost
