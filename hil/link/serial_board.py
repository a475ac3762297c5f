"""SerialBoard: the Board protocol over the wire protocol, over any pyserial URL.

    open_board("/dev/ttyUSB0?baud=3000000")      # a real board on a UART
    open_board("hwgrep://0403:6015")              # the first port whose USB id matches
    open_board("socket://127.0.0.1:7777")         # `hil emulate --listen 127.0.0.1:7777`
    open_board("rfc2217://lab-host:2217")         # a board shared by an RFC 2217 server
    open_board("emu://?seed=3&ber=1e-4")          # an in-process emulator (hil.link.urlhandler)

Options of SerialBoard itself (removed before the URL goes to pyserial), with what is allowed:
readout=auto|spikes|counts, bin_us (counts bin, 1..65535, default 1000), on_loss=raise|warn,
timeout (s of board silence before BoardTimeout, 0.01..600, default 2), window (commands in flight,
1..64, default 8), reconnect (s spent reconnecting, 0..3600, default 5), run_seed (the noise seed
sent with every RUN, 0..2**32-1, default 0), baud (line rate of device paths, socket:// and
rfc2217://, 50..20000000, default 921600). Any other option is refused, except pyserial's own
`logging` (socket://, rfc2217://) and the emulator's options (emu://).

Every applied config is verified by reading its content hash back. Every run is checked for lost
batches (sequence gaps, refetched with FETCH while the board still holds them) and board overflow;
a loss that cannot be recovered raises LinkError (on_loss=raise) or warns (on_loss=warn), and
`last_run` always carries the full report. Every RUN carries the content hash of the config the host
believes applied, so a board that holds anything else refuses it. A board reset or a dropped
connection makes SerialBoard reconnect, say HELLO, stop a run the board may still be doing, re-apply
the config and repeat the run when it was the first since apply (its result is then the undisturbed
one bit for bit, docs/protocol.md 5.1); otherwise it raises a LinkError that says what was lost.
"""

from __future__ import annotations

import json
import math
import os
import select
import time
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np
import serial

import hil.link  # noqa: F401  (registers the emu:// pyserial handler)
from hil import events as ev
from hil.board import Board, BoardInfo, check_run
from hil.chip.biasgen import PARAMETERS
from hil.chip.config import ChipConfig
from hil.chip.geometry import NEURONS_PER_CHIP
from hil.errors import BoardError, BoardTimeout, BoardURLError, ConfigError, HilError, LinkError
from hil.link import messages as m
from hil.link.framing import FrameSplitter
from hil.link.session import Session

T = m.MsgType
MAX_BATCHES = 1 << 22  # batches in one run (about 10^9 events): a bound on what the host holds
BYTES_PER_EVENT = 4  # EVENT_REC on the wire; a full batch costs ~4.09 B/event with framing
# SerialBoard's own URL options: name -> (type, lowest, highest) for the numeric ones.
OPTIONS: dict[str, tuple[type, float, float]] = {
    "readout": (str, 0, 0),
    "on_loss": (str, 0, 0),
    "bin_us": (int, 1, m.MAX_BIN_US),
    "timeout": (float, 0.01, 600.0),
    "window": (int, 1, 64),
    "reconnect": (float, 0.0, 3600.0),
    "run_seed": (int, 0, 2**32 - 1),
    "baud": (int, 50, 20_000_000),
}
PYSERIAL_OPTIONS = {"socket": {"logging"}, "rfc2217": {"logging", "ign_set_control", "poll_modem"}}
STOP_WAIT_S = 60.0  # how long a reconnect waits for a run it stopped to end on the board [s]


class _Restarted(LinkError):
    """The board rebooted, the link dropped, or the board holds another config than the host
    believes: the session must be rebuilt. Caught inside SerialBoard; a LinkError if it escapes."""


def hashes(**named: str) -> str:
    """'name HASH, ...' with each hash cut to the shortest prefix (at least 16 hex digits) that
    still tells the different ones apart; an empty hash reads 'none'."""
    vals = {v for v in named.values() if v}
    n = 16
    while n < 64 and len({v[:n] for v in vals}) < len(vals):
        n += 8
    return ", ".join(f"{k} {v[:n] if v else 'none'}" for k, v in named.items())


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


class SerialBoard(Board):
    """A board behind a byte link that speaks docs/protocol.md."""

    def __init__(self, url: str):
        self.url = url
        scheme = url.split("://", 1)[0] if "://" in url else ""
        parts = urlsplit(url) if scheme else None
        query = parse_qsl(parts.query, keep_blank_values=True) if parts else []
        if not scheme and "?" in url:
            query = parse_qsl(url.split("?", 1)[1], keep_blank_values=True)
        own = {k: v for k, v in query if k in OPTIONS and not (scheme == "emu" and k == "baud")}
        opts: dict[str, object] = {}
        for k, raw in own.items():
            kind, lo, hi = OPTIONS[k]
            try:
                v = kind(raw)
            except ValueError:
                raise BoardURLError(
                    f"option {k}={raw!r} in {url!r}; allowed: a {kind.__name__}"
                    + (f" from {lo:g} to {hi:g}" if kind is not str else "")
                ) from None
            if kind is not str and not (math.isfinite(v) and lo <= v <= hi):
                raise BoardURLError(f"option {k}={raw!r} in {url!r}; allowed {lo:g}..{hi:g}")
            opts[k] = v
        self.readout = str(opts.get("readout", "auto"))
        if self.readout not in ("auto", "spikes", "counts"):
            raise BoardURLError(
                f"option readout={self.readout!r} in {url!r}; allowed: auto, spikes, counts"
            )
        self.bin_us = int(opts.get("bin_us", 1000))  # type: ignore[arg-type]
        if not 1 <= self.bin_us <= m.MAX_BIN_US:
            raise BoardURLError(
                f"option bin_us={self.bin_us} in {url!r}; allowed 1..{m.MAX_BIN_US}"
            )
        self.on_loss = str(opts.get("on_loss", "raise"))
        if self.on_loss not in ("raise", "warn"):
            raise BoardURLError(f"option on_loss={self.on_loss!r} in {url!r}; allowed: raise, warn")
        self.timeout_s = float(opts.get("timeout", 2.0))  # type: ignore[arg-type]
        self.window = int(opts.get("window", 8))  # type: ignore[arg-type]
        self.reconnect_s = float(opts.get("reconnect", 5.0))  # type: ignore[arg-type]
        self.run_seed = int(opts.get("run_seed", 0))  # type: ignore[arg-type]
        self.baud = int(opts.get("baud", 921600))  # type: ignore[arg-type]
        rest = [(k, v) for k, v in query if k not in own]
        foreign = [k for k, _ in rest if k not in PYSERIAL_OPTIONS.get(scheme, set())]
        if foreign and scheme != "emu":
            raise BoardURLError(
                f"unknown option {foreign[0]!r} in {url!r}; allowed: "
                + ", ".join(sorted(set(OPTIONS) | PYSERIAL_OPTIONS.get(scheme, set())))
            )
        if scheme in ("socket", "rfc2217"):
            _check_host_port(url, parts)
        if scheme == "hwgrep":
            self._port = url.split("?", 1)[0]
        elif parts is not None:
            self._port = parts._replace(query=urlencode(rest)).geturl()
            if scheme == "emu" and not parts.netloc and "://" in url:
                self._port = "emu://" + ("?" + urlencode(rest) if rest else "")
        else:
            self._port = url.split("?", 1)[0]
        self._clock = time.monotonic
        self._ser: serial.SerialBase | None = None
        self._config: ChipConfig | None = None
        self._hash = ""
        self._runs_since_apply = 0  # RUNs the board acknowledged since the config was applied
        self._unsure = False  # a command timed out: check the board's state before the next one
        self._closed = False
        self._run_id = int.from_bytes(os.urandom(2), "little")
        self._rates: dict[str, float] = {}
        self.last_run: RunReport | None = None
        self.restarts = 0
        self._connect(first=True)

    # ---- link ----------------------------------------------------------------------------------

    def _connect(self, first: bool = False) -> None:
        """Open the link and say HELLO. After a restart, also stop a run the board may still be
        doing and upload the config again; keep trying for `reconnect_s` seconds."""
        deadline = time.monotonic() + (0 if first else self.reconnect_s)
        while True:
            try:
                self._connect_once()
                if not first:
                    self._stop_run()
                    if self._config is not None:
                        self._hash = self._upload(self._config)
                        self._runs_since_apply = 0
                return
            except (_Restarted, BoardTimeout, serial.SerialException, OSError, ValueError) as e:
                self._drop()
                if time.monotonic() >= deadline:
                    what = "open" if first else f"reconnect (for {self.reconnect_s:g} s) to"
                    if isinstance(e, BoardTimeout) and first:
                        raise BoardTimeout(
                            f"board {self.url!r} did not answer HELLO: {e}"
                        ) from None
                    raise LinkError(f"cannot {what} board {self.url!r}: {e}") from None
                time.sleep(0.1)

    def _stop_run(self) -> None:
        """After a reconnect or a timeout: a run the board is still doing (in real time, for an
        earlier connection) is stopped, and the board waited for until it is idle."""
        self._unsure = False
        st = m.Status.unpack(self._call(T.STATUS))
        if st.boot_id != self.boot_id:
            raise _Restarted(f"boot id changed from {self.boot_id:08x} to {st.boot_id:08x}")
        if st.state != 1:
            return
        self._call(T.STOP)
        t_end = time.monotonic() + STOP_WAIT_S
        while st.state == 1:
            if time.monotonic() > t_end:
                raise LinkError(
                    f"board {self.url!r} still runs run {st.run_id} {STOP_WAIT_S:g} s after STOP"
                )
            time.sleep(0.05)
            st = m.Status.unpack(self._call(T.STATUS))

    def _connect_once(self) -> None:
        self._ser = self._open_transport()
        try:
            self._fd: int | None = self._ser.fileno()
            self._ser.timeout = 0  # reads return what is there; _read waits in select()
        except (AttributeError, NotImplementedError, OSError, serial.SerialException):
            self._fd = None
        self._splitter = FrameSplitter()
        self._session = Session(window=self.window, silence_s=self.timeout_s)
        self._session.last_rx = self._clock()
        self._write(b"\x00\x00")  # flush any partial frame on the board side
        nonce = int.from_bytes(os.urandom(4), "little")
        data = self._call(T.HELLO, m.HELLO_CMD.pack(nonce, m.PROTOCOL_VERSION))
        self.hello = m.HelloInfo.unpack(data)
        self.boot_id = self.hello.boot_id
        if self.hello.line_bps:  # a frame and its answer take their time on a slow line
            frame_s = (m.MAX_BODY + 8) * 10 / self.hello.line_bps
            self._session.rto_s = max(self._session.rto_s, 0.05 + 2 * frame_s)
            self._session.max_rto_s = max(self._session.max_rto_s, 2 * self._session.rto_s)

    def _open_transport(self) -> serial.SerialBase:
        """The byte link: a pyserial port for `self._port` (tests substitute an in-memory one)."""
        # pyserial's rfc2217 client refuses write_timeout ("not supported")
        kw = {} if self._port.startswith("rfc2217://") else {"write_timeout": 10}
        return serial.serial_for_url(self._port, baudrate=self.baud, timeout=0.005, **kw)

    def _drop(self) -> None:
        if self._ser is not None:
            try:
                sock = getattr(self._ser, "_socket", None)
                if sock is not None and type(self._ser).__module__.endswith("protocol_socket"):
                    # pyserial's socket close() sleeps 0.3 s "for the server"; we close it ourselves
                    sock.close()
                    self._ser._socket = None  # type: ignore[attr-defined]
                    self._ser.is_open = False
                self._ser.close()
            except (serial.SerialException, OSError):
                pass
            self._ser = None

    def _write(self, data: bytes) -> None:
        try:
            assert self._ser is not None
            self._ser.write(data)
        except (serial.SerialException, OSError) as e:
            raise _Restarted(f"write failed: {e}") from None

    def _read(self) -> bytes:
        """What has arrived, waiting at most 5 ms. Ports with a file descriptor (device paths,
        socket://, emu://) are read non-blocking after select(), a whole chunk at a time: pyserial's
        socket `in_waiting` is 0 or 1, and read(n) with a timeout blocks until n bytes or the
        timeout (ecosystem.md 1.3), either of which would cost a call per byte or 5 ms per read."""
        ser = self._ser
        try:
            assert ser is not None
            if self._fd is not None:
                ready, _, _ = select.select([self._fd], [], [], 0.005)
                if not ready:
                    return b""
                data = ser.read(1 << 16)
                if not data:
                    raise serial.SerialException(
                        "port readable but returned no data (disconnected)"
                    )
                return data
            n = ser.in_waiting
            return ser.read(n or 1)
        except (serial.SerialException, OSError, ValueError) as e:
            raise _Restarted(f"read failed: {e}") from None

    def _step(self) -> None:
        """One round of I/O: send what is due, read what arrived, hand frames to the session."""
        now = self._clock()
        out = self._session.outgoing(now)
        if out:
            self._write(out)
        try:
            self._session.check(now)
        except BoardTimeout:
            self._unsure = True  # the board may still do what the host gave up on
            raise
        data = self._read()
        if data:
            now = self._clock()
            self._session.last_rx = now  # any byte, even of a corrupted frame, is a sign of life
            for body in self._splitter.feed(data):
                try:
                    frame = m.unpack(body)
                except m.WireError:
                    self._splitter.stats.frames_bad += 1
                    continue
                self._session.on_frame(frame, now)

    def _call_many(self, cmds: list[tuple[int, bytes]]) -> list[bytes]:
        """Send commands through the window; return their ACK data in order, or raise on a NAK."""
        self._check_open()
        pend = [self._session.submit(t, p) for t, p in cmds]
        while any(c.answer is None for c in pend):
            self._step()
        out = []
        for c in pend:
            a = c.answer
            assert a is not None
            if a.type == T.NAK:
                self._raise_nak(c.type, a.payload)
            out.append(a.payload[1:])
        return out

    def _call(self, mtype: int, payload: bytes = b"") -> bytes:
        return self._call_many([(mtype, payload)])[0]

    def _raise_nak(self, cmd: int, payload: bytes) -> None:
        _, code, text = m.unpack_nak(payload)
        name = m.type_name(cmd)
        if code == m.ErrorCode.CONFIG_INVALID:
            try:
                d = m.parse_json_object(text, f"NAK of {name}")
                path, value, allowed = (str(d[k])[:200] for k in ("path", "value", "allowed"))
            except (m.WireError, KeyError):
                raise ConfigError("<board>", text, "a config this board accepts") from None
            raise ConfigError(path, value, allowed)
        if code == m.ErrorCode.NO_CONFIG and self._config is not None:
            raise _Restarted(f"board lost its config ({text})")
        if code == m.ErrorCode.CONFIG_MISMATCH:
            raise _Restarted(f"board holds another config than this host applied ({text})")
        if code in (m.ErrorCode.BAD_STATE, m.ErrorCode.BUSY, m.ErrorCode.NO_CONFIG):
            raise BoardError(f"board refused {name}: {text}")
        raise LinkError(f"board refused {name}: {code.name}: {text}")

    def _check_open(self) -> None:
        if self._closed:
            raise BoardError(f"board {self.url!r} is closed")

    def _recover(self, why: str) -> None:
        """Reconnect (after a reset or restart), HELLO, stop a leftover run, re-apply the config;
        raises LinkError when that does not succeed within `reconnect_s`."""
        self.restarts += 1
        self._drop()
        self._connect()
        warnings.warn(
            f"board {self.url!r} restarted ({why}); reconnected and re-applied the config",
            stacklevel=3,
        )

    def _guard(self, fn, what: str):  # type: ignore[no-untyped-def]
        """Run fn(); on a board restart, recover once and try again."""
        self._check_open()
        try:
            if self._unsure:
                self._stop_run()
            return fn()
        except _Restarted as e:
            self._recover(f"during {what}: {e}")
            try:
                return fn()
            except _Restarted as e2:
                raise LinkError(f"board {self.url!r} restarted again during {what}: {e2}") from None

    # ---- Board protocol ------------------------------------------------------------------------

    def info(self) -> BoardInfo:
        self._check_open()
        h = self.hello
        return BoardInfo(
            board_id=h.board_id,
            kind=str(h.details.get("kind", "serial")),
            version=h.firmware,
            n_chips=h.n_chips,
            capabilities=h.capabilities,
            details={
                **h.details,
                "url": self.url,
                "protocol": h.version,
                "line_bps": h.line_bps,
                "realtime": h.realtime,
                "boot_id": f"{h.boot_id:08x}",
                "readout": self.readout,
            },
        )

    def apply(self, config: ChipConfig) -> str:
        self._check_open()
        config.validate()
        if len(config.chips) > self.hello.n_chips:
            raise ConfigError(
                "chips", f"{len(config.chips)} chips", f"at most {self.hello.n_chips} on this board"
            )
        snapshot = ChipConfig.from_json(config.to_json(None))
        got = self._guard(lambda: self._upload(snapshot), "apply")
        self._config, self._hash, self._runs_since_apply = snapshot, got, 0
        return got

    def _upload(self, cfg: ChipConfig) -> str:
        raw = json.dumps(cfg.to_dict(), sort_keys=True, separators=(",", ":")).encode()
        img = zlib.compress(raw, 6)
        cmds = [(T.CONFIG_BEGIN, m.CONFIG_BEGIN_CMD.pack(len(img), len(raw), zlib.crc32(raw), 1))]
        for off in range(0, len(img), m.CONFIG_CHUNK):
            cmds.append(
                (T.CONFIG_DATA, off.to_bytes(4, "little") + img[off : off + m.CONFIG_CHUNK])
            )
        cmds.append((T.CONFIG_COMMIT, b""))
        committed = self._call_many(cmds)[-1].hex()
        readback = self._call(T.CONFIG_HASH)
        want = cfg.content_hash()
        got = readback[1:].hex() if readback[:1] == b"\x01" else ""
        if committed != want or got != want:
            raise LinkError(
                f"config hash read-back mismatch on {self.url!r}: "
                + hashes(sent=want, committed=committed, reads_back=got)
            )
        return got

    def set_biases(self, biases: Mapping[tuple[int, int, str], tuple[int, int]]) -> str:
        """Set {(chip, core, name): (coarse, fine)} on the applied config in place (SET_BIAS, up to
        200 writes per command) and return the content hash of the result, read back from the
        board and compared with the host's own edit. Invalid keys or codes raise ConfigError and
        change nothing. If the board's hash differs (a write damaged past the CRC), the previous
        config is uploaded again in full and LinkError raised: nothing changed."""
        self._check_open()
        if self._config is None:
            raise BoardError("no config applied: call board.apply(config) before set_biases")
        if not biases:
            raise ConfigError("biases", {}, "at least one (chip, core, name): (coarse, fine)")
        cfg = ChipConfig.from_json(self._config.to_json(None))
        writes = []
        for key, code in biases.items():
            try:
                (chip, core, name), (coarse, fine) = key, code
            except (TypeError, ValueError):
                raise ConfigError(
                    "biases", {key: code}, "{(chip, core, name): (coarse, fine)}"
                ) from None
            if not (isinstance(chip, int) and 0 <= chip < len(cfg.chips)):
                raise ConfigError("chip", chip, f"0..{len(cfg.chips) - 1}")
            if not (isinstance(core, int) and 0 <= core < 4):
                raise ConfigError("core", core, "0..3")
            if name not in PARAMETERS:
                raise ConfigError("parameter", name, "a known bias name (see `hil bias list`)")
            cfg.core(chip, core).parameters[name] = (coarse, fine)
            writes.append((chip, core, m.PARAM_NAMES.index(name), coarse, fine))
        cfg.validate()
        want = cfg.content_hash()

        cmds = [
            (T.SET_BIAS, m.pack_set_bias(writes[i : i + m.MAX_BIAS_WRITES]))
            for i in range(0, len(writes), m.MAX_BIAS_WRITES)
        ]

        def go() -> str:
            try:
                answers = self._call_many([*cmds, (T.CONFIG_HASH, b"")])
                h, rb = answers[-2].hex(), answers[-1][1:].hex()
                if h == want and rb == want:
                    return h
                error: HilError = LinkError(
                    f"set_biases on {self.url!r}: {hashes(expected=want, board=h, reads_back=rb)}"
                    "; the previous config was uploaded again in full, nothing changed"
                )
            except _Restarted:
                raise
            except HilError as e:  # a NAK: with several SET_BIAS commands, some may be applied
                if len(cmds) == 1:
                    raise
                error = e
            self._hash = self._upload(self._config)  # type: ignore[arg-type]
            self._runs_since_apply = 0
            raise error

        h = self._guard(go, "set_biases")
        self._config, self._hash, self._runs_since_apply = cfg, h, 0
        return h

    def set_bias(self, chip: int, core: int, name: str, coarse: int, fine: int) -> str:
        """One bias: `set_biases({(chip, core, name): (coarse, fine)})`."""
        return self.set_biases({(chip, core, name): (coarse, fine)})

    def reset(self) -> None:
        self._guard(lambda: self._call(T.RESET, m.RESET_CMD.pack(0)), "reset")

    def status(self) -> dict:
        """The board's STATUS answer as a dict (state, clock, error counters)."""
        return asdict(self._guard(lambda: m.Status.unpack(self._call(T.STATUS)), "status"))

    def ping(self, payload: bytes = b"") -> float:
        """Round trip of one PING command [s]."""
        t0 = time.perf_counter()
        echo = self._guard(lambda: self._call(T.PING, payload), "ping")
        if echo != payload:
            raise LinkError("PING echo differs from what was sent")
        return time.perf_counter() - t0

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._drop()

    # ---- runs ----------------------------------------------------------------------------------

    def run(self, stimulus: np.ndarray, duration_s: float) -> np.ndarray:
        self._check_open()
        check_run(self._config, stimulus, duration_s)
        readout, reason = self._choose_readout(duration_s)
        if readout == "counts":
            raster = self._run(stimulus, duration_s, m.Readout.COUNTS, self.bin_us, reason)
            return ev.raster_to_output_events(raster, self.bin_us * 1e-6)
        return self._run(stimulus, duration_s, m.Readout.SPIKES, 0, reason)

    def run_counts(
        self, stimulus: np.ndarray, duration_s: float, bin_s: float = 1e-3
    ) -> np.ndarray:
        """Run with the counts readout: spike counts per bin of `bin_s` seconds, shape
        (ceil(duration / bin), n_chips * 1024), columns by board-wide neuron index."""
        self._check_open()
        check_run(self._config, stimulus, duration_s)
        bin_us = int(round(bin_s * 1e6))
        if not 1 <= bin_us <= m.MAX_BIN_US:
            raise BoardError(f"bin_s={bin_s!r}; allowed 1e-6..{m.MAX_BIN_US * 1e-6:g} s")
        return self._run(stimulus, duration_s, m.Readout.COUNTS, bin_us, "asked for counts")

    def _choose_readout(self, duration_s: float) -> tuple[str, str]:
        if self.readout != "auto":
            return self.readout, f"readout={self.readout} in the URL"
        if not self.hello.line_bps:
            return "spikes", "the line is not rate-limited"
        capacity = 0.8 * self.hello.line_bps / 10 / (BYTES_PER_EVENT * 1.03)
        rate = self._rates.get(self._hash)
        if rate is None:
            return (
                "spikes",
                f"no rate known yet for this config; line carries {capacity:.0f} spikes/s",
            )
        if rate > capacity:
            why = (
                f"the last run produced {rate:.0f} spikes/s, more than the {capacity:.0f} spikes/s "
                f"the {self.hello.line_bps} bit/s line carries (80 % of its ceiling); "
                f"using counts per {self.bin_us} us bin"
            )
            warnings.warn(f"board {self.url!r}: {why}", stacklevel=3)
            return "counts", why
        return "spikes", f"{rate:.0f} spikes/s fit the {capacity:.0f} spikes/s of the line"

    def _run(
        self, stim: np.ndarray, duration_s: float, readout: int, bin_us: int, reason: str
    ) -> np.ndarray:
        dur_us = int(round(duration_s * 1e6))
        if dur_us > m.MAX_DURATION_US:
            raise BoardError(
                f"duration_s={duration_s}; one run is at most {m.MAX_DURATION_US / 1e6:.0f} s (u32 us)"
            )
        if not self._hash:
            raise BoardError("no config applied: call board.apply(config) before board.run(...)")
        if stim.size and int(stim["channel"].max()) > 0xFFFF:
            raise BoardError(
                f"stimulus channel {int(stim['channel'].max())}; the wire carries channels 0..65535"
            )
        rec = np.empty(stim.size, m.STIM_REC)
        rec["t_us"], rec["channel"] = stim["t_us"], stim["channel"]
        first = self._runs_since_apply == 0
        try:
            return self._run_once(rec, dur_us, readout, bin_us, reason, recovered=False)
        except _Restarted as e:
            self._recover(f"during a run: {e}")
            if not first:
                raise LinkError(
                    f"board {self.url!r} restarted during a run ({e}); it was not the first run "
                    "since apply(), so the neuron state and noise of the earlier runs are gone and "
                    "a repeat would not give the undisturbed result; it was not repeated. The "
                    f"config was re-applied (hash {self._hash[:16]}); run again"
                ) from None
            try:
                return self._run_once(rec, dur_us, readout, bin_us, reason, recovered=True)
            except _Restarted as e2:
                raise LinkError(
                    f"board {self.url!r} restarted again while repeating the run: {e2}"
                ) from None

    def _run_once(
        self, rec: np.ndarray, dur_us: int, readout: int, bin_us: int, reason: str, recovered: bool
    ) -> np.ndarray:
        if self._unsure:
            self._stop_run()
        t0 = self._clock()
        self._run_id = (self._run_id + 1) % 0x10000
        run_id = self._run_id
        bad0, rtx0 = self._splitter.stats.frames_bad, self._session.stats.retransmits
        data = m.records_to_wire(rec)
        cmds = [(T.STIM_BEGIN, m.STIM_BEGIN_CMD.pack(rec.size, zlib.crc32(rec.tobytes())))]
        step = m.STIM_PER_FRAME * m.STIM_REC.itemsize
        for i, off in enumerate(range(0, len(data), step)):
            cmds.append(
                (T.STIM_DATA, (i * m.STIM_PER_FRAME).to_bytes(4, "little") + data[off : off + step])
            )
        seed = self.run_seed
        cmds.append(
            (
                T.RUN,
                m.RUN_CMD.pack(run_id, dur_us, readout, bin_us, seed, bytes.fromhex(self._hash)),
            )
        )
        ack = self._call_many(cmds)[-1]
        acked_id, run_index = m.unpack_struct(m.RUN_ACK, ack, "RUN answer")
        self._runs_since_apply += 1
        if acked_id != run_id:
            raise m.WireError(f"RUN answer: run_id={acked_id}; asked {run_id}")
        if recovered and run_index != 0:
            raise LinkError(
                f"board {self.url!r}: the repeated run is run {run_index} since the config was "
                "applied, not the first; its result would differ from the undisturbed one"
            )
        try:
            summary, batches, missed = self._collect(run_id, dur_us)
        except KeyboardInterrupt:
            try:  # leave the board idle for the next command
                self._call(T.STOP)
            except Exception:  # noqa: BLE001 - the interrupt is what the user must see
                pass
            raise
        if summary.status == m.RunStatus.ERROR:
            code = m.ErrorCode(summary.error_code or m.ErrorCode.INTERNAL).name
            raise BoardError(
                f"board {self.url!r} reported an error while running (run {run_id}): {code}: "
                f"{summary.error_text or 'no cause given'}"
            )
        if summary.status == m.RunStatus.STOPPED:
            raise BoardError(f"run {run_id} was stopped on the board before it finished")
        self._check_summary(summary, run_id, dur_us, readout, bin_us)
        missing = [b for b in range(summary.n_batches) if b not in batches]
        fetched = self._fetch(run_id, missing, batches)
        if len(batches) == summary.n_batches and self._crc(batches) != summary.crc32:
            # a frame that passed its CRC-16 but is wrong (p ~ 2**-16 per damaged frame): the
            # end-to-end CRC-32 catches it; fetch every batch again, reliably, and re-check
            self._fetch(run_id, list(range(summary.n_batches)), batches)
            if self._crc(batches) != summary.crc32:
                raise LinkError(
                    f"run {run_id} on {self.url!r}: the batches do not match the board's CRC-32 "
                    "even after fetching them all again; the result is not trustworthy"
                )
        result, n_got = self._assemble(summary, batches, dur_us)
        lost = summary.n_records - n_got
        report = RunReport(
            run_id=run_id,
            readout="counts" if readout else "spikes",
            readout_reason=reason,
            bin_us=bin_us,
            duration_s=dur_us / 1e6,
            n_events=summary.n_events,
            n_records=summary.n_records,
            n_batches=summary.n_batches,
            batches_missed=missed,
            batches_fetched=fetched,
            records_lost=lost,
            overflow_dropped=summary.n_dropped,
            frames_bad=self._splitter.stats.frames_bad - bad0,
            retransmits=self._session.stats.retransmits - rtx0,
            wall_s=self._clock() - t0,
            engine_s=summary.engine_us / 1e6,
            recovered_after_restart=recovered,
            run_index=run_index,
            seed=seed,
        )
        if self._arrivals and self._done_at:
            report.stream_s = self._done_at - self._arrivals[0][0]
            report.stream_rate = _stream_rate(self._arrivals)
        self.last_run = report
        self._rates[self._hash] = summary.n_events / (dur_us / 1e6)
        if recovered:
            report.warnings.append("the board restarted during the run; it was repeated from rest")
        if report.lost:
            msg = (
                f"run {run_id} on {self.url!r} is incomplete: {report.records_lost} "
                f"{report.readout} record(s) lost on the link (batches missed {missed}, refetched "
                f"{fetched}), {report.overflow_dropped} spike(s) dropped by board overflow"
            )
            report.warnings.append(msg)
            if self.on_loss == "raise":
                raise LinkError(
                    msg
                    + "; board.last_run has the report (on_loss=warn returns the partial result)"
                )
            warnings.warn(msg, stacklevel=4)
        return result

    def _fetch(self, run_id: int, idxs: list[int], batches: dict) -> int:
        """FETCH batches `idxs` through the window into `batches`; returns how many came back."""
        pend = [self._session.submit(T.FETCH, m.FETCH_CMD.pack(run_id, b)) for b in idxs]
        while any(c.answer is None for c in pend):
            self._step()
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

    @staticmethod
    def _crc(batches: dict) -> int:
        """CRC-32 of the batches' payloads in batch order (RunSummary.crc32)."""
        crc = 0
        for b in sorted(batches):
            crc = zlib.crc32(batches[b][3], crc)
        return crc

    def _check_summary(
        self, s: m.RunSummary, run_id: int, dur_us: int, readout: int, bin_us: int
    ) -> None:
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

    def _collect(self, run_id: int, dur_us: int) -> tuple[m.RunSummary, dict, int]:
        """Read the run's batches until RUN_DONE; poll STATUS when the board is quiet."""
        batches: dict[int, tuple[int, int, np.ndarray]] = {}
        summary: m.RunSummary | None = None
        expect, missed = 0, 0
        quiet_since = self._clock()
        self._arrivals: list[tuple[float, int]] = []  # (host clock, records) per streamed batch
        self._done_at = 0.0
        while summary is None:
            self._step()
            while self._session.stream:
                f = self._session.stream.popleft()
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
                    self._arrivals.append((self._clock(), recs.size))
                elif f.type == T.RUN_DONE:
                    s = m.RunSummary.unpack(f.payload)
                    if s.run_id == run_id:
                        summary = s
                        self._done_at = self._clock()
                quiet_since = self._clock()
            if summary is None and self._clock() - quiet_since > min(1.0, self.timeout_s):
                st = m.Status.unpack(self._call(T.STATUS))
                if st.boot_id != self.boot_id:
                    raise _Restarted(f"boot id changed from {self.boot_id:08x} to {st.boot_id:08x}")
                if st.state != 1 or st.run_id != run_id:
                    a = self._call(T.RESULT, m.RUN_ID_CMD.pack(run_id))
                    summary = m.RunSummary.unpack(a)
                quiet_since = self._clock()
        missed += max(0, summary.n_batches - expect)
        return summary, batches, missed

    def _assemble(self, s: m.RunSummary, batches: dict, dur_us: int) -> tuple[np.ndarray, int]:
        n_chips = self.hello.n_chips
        parts = [batches[b] for b in sorted(batches) if b < s.n_batches]
        kinds = {p[0] for p in parts}
        want = T.COUNTS if s.readout else T.EVENTS
        if kinds - {want}:
            raise m.WireError(
                f"run {s.run_id}: batches of {sorted(map(m.type_name, kinds))}; expected {m.type_name(want)}"
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
                raise m.WireError(
                    f"EVENTS: timestamps must be sorted and below duration_us={dur_us}"
                )
            out = ev.output_events(t, addr >> 10, (addr >> 8) & 3, addr & 0xFF)
            return out, n_got
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


def _stream_rate(arrivals: list[tuple[float, int]]) -> float:
    """Records per second from (arrival time, records) of each batch: the least-squares slope of
    the records received so far against time, which an early or late start of reading does not
    bias (the first batch only marks the start)."""
    t = np.array([a for a, _ in arrivals])
    n = np.cumsum([k for _, k in arrivals])
    if t.size < 3 or np.ptp(t) <= 0:
        return 0.0
    return float(np.polyfit(t - t[0], n, 1)[0])


def open_url(url: str) -> SerialBoard:
    """Factory behind the emu://, socket://, rfc2217://, hwgrep:// schemes and device paths."""
    return SerialBoard(url)


def _check_host_port(url: str, parts: object) -> None:
    """socket:// and rfc2217:// need HOST:PORT with PORT 1..65535 (pyserial's own error for a bad
    port is a message about its logging option)."""
    try:
        port = parts.port  # type: ignore[attr-defined]
    except ValueError:
        port = None
    if not parts.hostname or port is None or not 1 <= port <= 65535:  # type: ignore[attr-defined]
        raise BoardURLError(f"board URL {url!r}: allowed SCHEME://HOST:PORT with PORT 1..65535")
