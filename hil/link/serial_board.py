"""SerialBoard: the Board protocol over the wire protocol, over any pyserial URL.

    open_board("/dev/ttyUSB0?baud=3000000")      # a real board on a UART
    open_board("hwgrep://0403:6015")              # the first port whose USB id matches
    open_board("socket://127.0.0.1:7777")         # `hil emulate --listen 127.0.0.1:7777`
    open_board("rfc2217://lab-host:2217")         # a board shared by an RFC 2217 server
    open_board("emu://?seed=3&ber=1e-4")          # an in-process emulator (hil.emulator.transports)

Options of SerialBoard itself (removed before the URL goes to pyserial), with what is allowed:
readout=auto|spikes|counts, bin_us (counts bin, 1..65535, default 1000), on_loss=raise|warn,
timeout (s of board silence before BoardTimeout, 0.01..600, default 2), window (commands in flight,
1..64, default 8), reconnect (s spent reconnecting, 0..3600, default 5), run_seed (the noise seed
sent with every RUN, 0..2**32-1, default 0), baud (line rate of device paths, socket:// and
rfc2217://, 50..20000000, default 921600). Any other option is refused, except pyserial's own
`logging` (socket://, rfc2217://) and the options a URL scheme's opener passes on to its port
(`port_options`: the emulator's for emu://).

Every applied config is verified by reading its content hash back. Every run is checked for lost
batches (sequence gaps, refetched with FETCH while the board still holds them) and board overflow;
a loss that cannot be recovered raises LinkError (on_loss=raise) or warns (on_loss=warn), and
`last_run` always carries the full report. Every RUN carries the content hash of the config the host
believes applied, so a board that holds anything else refuses it. A board reset or a dropped
connection makes SerialBoard reconnect, say HELLO, stop a run the board may still be doing, re-apply
the config and repeat the run when it was the first since apply (its result is then the undisturbed
one bit for bit, docs/protocol.md 5.1); otherwise it raises a LinkError that says what was lost.

The layers: hil.link.transport (the byte stream), hil.link.client (commands, HELLO, upload),
hil.link.collect (a run's result stream and its report), and this adapter.
"""

from __future__ import annotations

import math
import time
import warnings
import zlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np
import serial

from hil import events as ev
from hil.board import (
    BiasEditor,
    BiasKey,
    BiasWrites,
    Board,
    BoardInfo,
    Capability,
    CountsReadout,
    check_biases,
    check_run,
    counts_bin_us,
    kind_text,
)
from hil.chip.config import ChipConfig
from hil.chip.geometry import global_neuron
from hil.errors import (
    SHORT_QUOTE,
    BoardError,
    BoardTimeout,
    BoardURLError,
    ConfigError,
    HilError,
    LinkError,
    quote,
)
from hil.link import messages as m
from hil.link.client import CommandClient, hashes
from hil.link.collect import RunReport, assemble, collect
from hil.link.transport import LinkDown, Port, Transport, check_host_port, open_port

__all__ = ["RunReport", "SerialBoard", "open_url", "split_url"]

T = m.MsgType
R = TypeVar("R")
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
CHOICES = {"readout": ("auto", "spikes", "counts"), "on_loss": ("raise", "warn")}
PYSERIAL_OPTIONS = {"socket": {"logging"}, "rfc2217": {"logging", "ign_set_control", "poll_modem"}}
# What SerialBoard implements of the capabilities a board may advertise in HELLO.
PASSED_ON = frozenset(
    {Capability.SPIKES, Capability.COUNTS, Capability.BIASES, Capability.HIDDEN_SILICON}
    | {Capability.FAULT_INJECTION}
)


def split_url(url: str, port_options: Collection[str] = ()) -> tuple[dict[str, object], str]:
    """A board URL -> (SerialBoard's options, checked and converted; the port for pyserial, with
    `port_options` and pyserial's own options left in). Anything else raises BoardURLError."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    parts = urlsplit(url) if scheme else None
    query = parse_qsl(url.split("?", 1)[1], keep_blank_values=True) if "?" in url else []
    passed = set(port_options) | PYSERIAL_OPTIONS.get(scheme, set())
    opts: dict[str, object] = {}
    rest = []
    for k, raw in query:
        if k in port_options or k not in OPTIONS:
            if k not in passed:
                raise BoardURLError(
                    f"unknown option {quote(k, SHORT_QUOTE)} in {quote(url, SHORT_QUOTE)}; allowed: "
                    + ", ".join(sorted(set(OPTIONS) | passed))
                )
            rest.append((k, raw))
            continue
        kind, lo, hi = OPTIONS[k]
        try:
            v = kind(raw)
        except ValueError:
            raise BoardURLError(
                f"option {k}={quote(raw, SHORT_QUOTE)} in {quote(url, SHORT_QUOTE)}; "
                f"allowed: {kind_text(kind)}"
                + (f" from {lo:g} to {hi:g}" if kind is not str else "")
            ) from None
        if kind is str and v not in CHOICES[k]:
            raise BoardURLError(
                f"option {k}={quote(raw, SHORT_QUOTE)} in {quote(url, SHORT_QUOTE)}; "
                f"allowed: {', '.join(CHOICES[k])}"
            )
        if kind is not str and not (math.isfinite(v) and lo <= v <= hi):
            raise BoardURLError(
                f"option {k}={quote(raw, SHORT_QUOTE)} in {quote(url, SHORT_QUOTE)}; "
                f"allowed {lo:g}..{hi:g}"
            )
        opts[k] = v
    if parts is None or scheme == "hwgrep":
        return opts, url.split("?", 1)[0]
    if scheme in ("socket", "rfc2217"):
        check_host_port(url, parts)
    q = urlencode(rest)
    return opts, f"{scheme}://{parts.netloc}{parts.path}" + (f"?{q}" if q else "")


class SerialBoard(Board, CountsReadout, BiasWrites):
    """A board behind a byte link that speaks docs/protocol.md. `port_options`: URL options that
    belong to the port (a URL scheme's opener names them), not to SerialBoard."""

    def __init__(self, url: str, port_options: Collection[str] = ()):
        self.url = url
        self._shown = quote(url, SHORT_QUOTE)  # in messages: a URL may be long
        opts, self._port = split_url(url, port_options)
        self.readout = str(opts.get("readout", "auto"))
        self.bin_us = int(opts.get("bin_us", 1000))  # type: ignore[call-overload]
        self.on_loss = str(opts.get("on_loss", "raise"))
        self.timeout_s = float(opts.get("timeout", 2.0))  # type: ignore[arg-type]
        self.window = int(opts.get("window", 8))  # type: ignore[call-overload]
        self.reconnect_s = float(opts.get("reconnect", 5.0))  # type: ignore[arg-type]
        self.run_seed = int(opts.get("run_seed", 0))  # type: ignore[call-overload]
        self.baud = int(opts.get("baud", 921600))  # type: ignore[call-overload]
        self._clock: Callable[[], float] = time.monotonic
        self._client: CommandClient | None = None
        self._config: ChipConfig | None = None
        self._editor: BiasEditor | None = None  # edits of the applied config (set_biases)
        self._hash = ""
        self._runs_since_apply = 0  # RUNs the board acknowledged since the config was applied
        self._closed = False
        self._run_id = 0  # the first run is run 1
        self._rates: dict[str, float] = {}
        self.last_run: RunReport | None = None
        self.restarts = 0
        self._connect(first=True)

    # ---- link ----------------------------------------------------------------------------------

    @property
    def client(self) -> CommandClient:
        """The command client of the current connection."""
        if self._client is None:
            raise LinkError(f"board {self._shown} is not connected")
        return self._client

    @property
    def hello(self) -> m.HelloInfo:
        """What the board said in its answer to HELLO."""
        assert self.client.hello is not None
        return self.client.hello

    def _open_port(self) -> Port:
        """The byte link's port (tests substitute an in-memory one)."""
        return open_port(self._port, self.baud)

    def _connect(self, first: bool = False) -> None:
        """Open the link and say HELLO. After a restart, also stop a run the board may still be
        doing and upload the config again; keep trying for `reconnect_s` seconds."""
        deadline = time.monotonic() + (0 if first else self.reconnect_s)
        while True:
            try:
                port = self._open_port()
                c = self._client = CommandClient(
                    Transport(port), self.url, self.window, self.timeout_s, self._clock
                )
                c.say_hello()
                if not first:
                    c.stop_run()
                    if self._config is not None:
                        self._hash = c.upload(self._config)
                        self._runs_since_apply = 0
                c.expects_config = self._config is not None
                return
            except (LinkDown, BoardTimeout, serial.SerialException, OSError, ValueError) as e:
                self._drop()
                if time.monotonic() >= deadline:
                    what = "open" if first else f"reconnect (for {self.reconnect_s:g} s) to"
                    if isinstance(e, BoardTimeout) and first:
                        raise BoardTimeout(
                            f"board {self._shown} did not answer HELLO: {e}"
                        ) from None
                    raise LinkError(f"cannot {what} board {self._shown}: {e}") from None
                time.sleep(0.1)

    def _drop(self) -> None:
        if self._client is not None:
            self._client.transport.close()
            self._client = None

    def _recover(self, why: str) -> None:
        """Reconnect (after a reset or restart), HELLO, stop a leftover run, re-apply the config;
        raises LinkError when that does not succeed within `reconnect_s`."""
        self.restarts += 1
        self._drop()
        self._connect()
        warnings.warn(
            f"board {self._shown} restarted ({why}); reconnected and re-applied the config",
            stacklevel=4,
        )

    def _guard(self, fn: Callable[[], R], what: str) -> R:
        """Run fn() (after checking the board's state if a command timed out); on a board restart,
        recover once and try again."""
        self._check_open()
        try:
            if self.client.unsure:
                self.client.stop_run()
            return fn()
        except LinkDown as e:
            self._recover(f"during {what}: {e}")
            try:
                return fn()
            except LinkDown as e2:
                raise LinkError(
                    f"board {self._shown} restarted again during {what}: {e2}"
                ) from None

    def _check_open(self) -> None:
        if self._closed:
            raise BoardError(f"board {self._shown} is closed")

    # ---- Board protocol ------------------------------------------------------------------------

    def info(self) -> BoardInfo:
        self._check_open()
        h = self.hello
        return BoardInfo(
            board_id=h.board_id,
            kind=str(h.details.get("kind", "serial")),
            version=h.firmware,
            n_chips=h.n_chips,
            capabilities=h.capabilities & {c.value for c in PASSED_ON},
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

    @property
    def config_hash(self) -> str | None:
        """Content hash of the applied config as the board confirmed it (apply, set_biases)."""
        return self._hash if self._config is not None else None

    def apply(self, config: ChipConfig) -> str:
        self._check_open()
        config.validate()
        if len(config.chips) > self.hello.n_chips:
            raise ConfigError(
                "chips", f"{len(config.chips)} chips", f"at most {self.hello.n_chips} on this board"
            )
        snapshot = ChipConfig.from_json(config.to_json(None))
        got = self._guard(lambda: self.client.upload(snapshot), "apply")
        self._config, self._hash, self._runs_since_apply = snapshot, got, 0
        self._editor = BiasEditor(snapshot)
        self.client.expects_config = True
        return got

    def set_biases(self, biases: Mapping[BiasKey, tuple[int, int]]) -> str:
        """Set {(chip, core, name): (coarse, fine)} on the applied config in place (SET_BIAS, up to
        200 writes per command) and return the content hash of the result, read back from the
        board and compared with the host's own edit. A run after it equals a run after applying
        the edited config in full (the board re-applies it; the run index restarts at 0). Invalid
        keys or codes raise ConfigError and change nothing; no writes change nothing. If the
        board's hash differs (a write damaged past the CRC), the previous config is uploaded again
        in full and LinkError raised: nothing changed."""
        self._check_open()
        if self._config is None or self._editor is None:
            raise BoardError("no config applied: call board.apply(config) before set_biases")
        changes = check_biases(self._config, biases)  # ConfigError: nothing changed
        if not changes:
            return self._hash
        old = self._config
        cfg, want = self._editor.set(biases)
        writes = [
            (chip, core, m.PARAM_IDS[name], c, f)
            for (chip, core), named in changes.items()
            for name, (c, f) in named.items()
        ]
        cmds = [
            (T.SET_BIAS, m.pack_set_bias(writes[i : i + m.MAX_BIAS_WRITES]))
            for i in range(0, len(writes), m.MAX_BIAS_WRITES)
        ]

        def go() -> str:
            try:
                answers = self.client.call_many([*cmds, (T.CONFIG_HASH, b"")])
                h, rb = answers[-2].hex(), answers[-1][1:].hex()
                if h == want and rb == want:
                    return h
                error: HilError = LinkError(
                    f"set_biases on {self._shown}: {hashes(expected=want, board=h, reads_back=rb)}"
                    "; the previous config was uploaded again in full, nothing changed"
                )
            except LinkDown:
                raise
            except HilError as e:  # a NAK: with several SET_BIAS commands, some may be applied
                if len(cmds) == 1:
                    raise
                error = e
            self._hash = self.client.upload(old)
            self._runs_since_apply = 0
            raise error

        try:
            h = self._guard(go, "set_biases")
        except BaseException:
            self._editor = BiasEditor(old)  # the edit did not happen
            raise
        self._config, self._hash, self._runs_since_apply = cfg, h, 0
        return h

    def reset(self) -> None:
        self._guard(lambda: self.client.call(T.RESET, m.RESET_CMD.pack(0)), "reset")

    def status(self) -> dict:
        """The board's STATUS answer as a dict (state, clock, error counters)."""
        return asdict(self._guard(lambda: m.Status.unpack(self.client.call(T.STATUS)), "status"))

    def ping(self, payload: bytes = b"") -> float:
        """Round trip of one PING command [s]."""
        t0 = time.perf_counter()
        echo = self._guard(lambda: self.client.call(T.PING, payload), "ping")
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
        readout, reason = self._choose_readout()
        if readout == "counts":
            raster = self._run(stimulus, duration_s, m.Readout.COUNTS, self.bin_us, reason)
            return ev.raster_to_output_events(raster, self.bin_us * 1e-6)
        return self._run(stimulus, duration_s, m.Readout.SPIKES, 0, reason)

    def run_counts(self, stimulus: np.ndarray, duration_s: float, bin_s: float = 1e-3) -> ev.Counts:
        """Run with the counts readout: spike counts per bin of `bin_s` seconds (a whole number of
        microseconds, 1 us..65.535 ms) for the neurons the applied config sets (hil.events.Counts);
        the board counts, only non-zero counts cross the line."""
        self._check_open()
        check_run(self._config, stimulus, duration_s)
        bin_us = counts_bin_us(bin_s, duration_s)
        if bin_us > m.MAX_BIN_US:
            raise BoardError(
                f"bin_s={bin_s!r}; the wire carries bins of at most {m.MAX_BIN_US * 1e-6:g} s"
            )
        raster = self._run(stimulus, duration_s, m.Readout.COUNTS, bin_us, "asked for counts")
        assert self._config is not None
        neurons = np.array(
            sorted(global_neuron(c, k, n) for c, k, n, _ in self._config.neurons()), np.int64
        )
        return ev.Counts(
            raster[:, neurons].astype(np.int32), neurons, bin_us, int(round(duration_s * 1e6))
        )

    def _choose_readout(self) -> tuple[str, str]:
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
            warnings.warn(f"board {self._shown}: {why}", stacklevel=3)
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
        if stim.size and int(stim["channel"].max()) > 0xFFFF:
            raise BoardError(
                f"stimulus channel {int(stim['channel'].max())}; the wire carries channels 0..65535"
            )
        rec = np.empty(stim.size, m.STIM_REC)
        rec["t_us"], rec["channel"] = stim["t_us"], stim["channel"]
        first = self._runs_since_apply == 0
        try:
            return self._run_once(rec, dur_us, readout, bin_us, reason, recovered=False)
        except LinkDown as e:
            self._recover(f"during a run: {e}")
            if not first:
                raise LinkError(
                    f"board {self._shown} restarted during a run ({e}); it was not the first run "
                    "since apply(), so the neuron state and noise of the earlier runs are gone and "
                    "a repeat would not give the undisturbed result; it was not repeated. The "
                    f"config was re-applied (hash {self._hash[:16]}); run again"
                ) from None
            try:
                return self._run_once(rec, dur_us, readout, bin_us, reason, recovered=True)
            except LinkDown as e2:
                raise LinkError(
                    f"board {self._shown} restarted again while repeating the run: {e2}"
                ) from None

    def _start(self, rec: np.ndarray, dur_us: int, readout: int, bin_us: int) -> tuple[int, int]:
        """Upload the stimulus and send RUN; returns (run_id, run index since apply)."""
        self._run_id = (self._run_id + 1) % 0x10000
        data = m.records_to_wire(rec)
        cmds = [(T.STIM_BEGIN, m.STIM_BEGIN_CMD.pack(rec.size, zlib.crc32(rec.tobytes())))]
        step = m.STIM_PER_FRAME * m.STIM_REC.itemsize
        for i, off in enumerate(range(0, len(data), step)):
            cmds.append(
                (T.STIM_DATA, (i * m.STIM_PER_FRAME).to_bytes(4, "little") + data[off : off + step])
            )
        h = bytes.fromhex(self._hash)
        cmds.append(
            (T.RUN, m.RUN_CMD.pack(self._run_id, dur_us, readout, bin_us, self.run_seed, h))
        )
        ack = self.client.call_many(cmds)[-1]
        acked_id, run_index = m.unpack_struct(m.RUN_ACK, ack, "RUN answer")
        self._runs_since_apply += 1
        if acked_id != self._run_id:
            raise m.WireError(f"RUN answer: run_id={acked_id}; asked {self._run_id}")
        return self._run_id, run_index

    def _run_once(
        self, rec: np.ndarray, dur_us: int, readout: int, bin_us: int, reason: str, recovered: bool
    ) -> np.ndarray:
        c = self.client
        if c.unsure:
            c.stop_run()
        t0 = self._clock()
        bad0, rtx0 = c.splitter.stats.frames_bad, c.session.stats.retransmits
        run_id, run_index = self._start(rec, dur_us, readout, bin_us)
        if recovered and run_index != 0:
            raise LinkError(
                f"board {self._shown}: the repeated run is run {run_index} since the config was "
                "applied, not the first; its result would differ from the undisturbed one"
            )
        try:
            got = collect(c, run_id, dur_us, readout, bin_us)
        except KeyboardInterrupt:
            try:  # leave the board idle for the next command
                c.call(T.STOP)
            except Exception:  # noqa: BLE001 - the interrupt is what the user must see
                pass
            raise
        result, n_got = assemble(got, dur_us, self.hello.n_chips)
        s = got.summary
        report = RunReport(
            run_id=run_id,
            readout="counts" if readout else "spikes",
            readout_reason=reason,
            bin_us=bin_us,
            duration_s=dur_us / 1e6,
            n_events=s.n_events,
            n_records=s.n_records,
            n_batches=s.n_batches,
            batches_missed=got.missed,
            batches_fetched=got.fetched,
            records_lost=s.n_records - n_got,
            overflow_dropped=s.n_dropped,
            frames_bad=c.splitter.stats.frames_bad - bad0,
            retransmits=c.session.stats.retransmits - rtx0,
            wall_s=self._clock() - t0,
            engine_s=s.engine_us / 1e6,
            recovered_after_restart=recovered,
            run_index=run_index,
            seed=self.run_seed,
            stream_s=got.stream_s,
            stream_rate=got.stream_rate,
        )
        self.last_run = report
        self._rates[self._hash] = s.n_events / (dur_us / 1e6)
        if recovered:
            report.warnings.append("the board restarted during the run; it was repeated from rest")
        if report.lost:
            msg = (
                f"run {run_id} on {self._shown} is incomplete: {report.records_lost} "
                f"{report.readout} record(s) lost on the link (batches missed {got.missed}, "
                f"refetched {got.fetched}), {report.overflow_dropped} spike(s) dropped by board "
                "overflow"
            )
            report.warnings.append(msg)
            if self.on_loss == "raise":
                raise LinkError(
                    msg
                    + "; board.last_run has the report (on_loss=warn returns the partial result)"
                )
            warnings.warn(msg, stacklevel=4)
        return result


def open_url(url: str) -> SerialBoard:
    """Factory behind the socket://, rfc2217://, hwgrep:// schemes and device paths."""
    return SerialBoard(url)
