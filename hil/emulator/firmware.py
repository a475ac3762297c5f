"""The board side of the wire protocol, without I/O: bytes in (`feed`), frames out (`write`).

`Firmware` is what a real board's microcontroller would run: it keeps the session (duplicate replay
cache, boot id), assembles config images and stimuli, and drives an *engine* - any hil Board
(`SiliconEngine(silicon)`, or the simulator) - through apply/run/reset. Runs are executed by a
`spawn` callable (a thread in the server, inline in tests) and streamed as EVENTS or COUNTS batches,
paced by `wait_until` in real time when asked. Batches of the last run are retained so the host can
FETCH the ones it lost. Nothing the engine knows about hidden silicon is ever sent.

The noise of a run is the engine's business; an engine with seeded noise (`SeededRuns`, such as
SiliconEngine) gets the host's RUN seed before each run (docs/protocol.md 5.1). A deterministic
engine needs none.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from hil import __version__
from hil import events as ev
from hil.board import BiasEditor, BiasWrites, Board
from hil.chip.config import ChipConfig, Destination, Neuron, Synapse, mask_bits
from hil.chip.geometry import NEURONS_PER_CHIP
from hil.errors import BoardError, ConfigError, HilError
from hil.link import messages as m
from hil.link.framing import MAX_BODY, FrameSplitter, encode_frame

log = logging.getLogger("hil.emulator")
REPLAY_CACHE = 256  # responses kept for duplicate replay
MAX_RETAINED = 64 << 20  # bytes of result batches kept for FETCH


@runtime_checkable
class SeededRuns(Protocol):
    """An engine whose run noise is seeded by the host (the RUN command's seed)."""

    def seed_runs(self, seed: int) -> None: ...


class Firmware:
    """Board-side protocol endpoint around an engine Board. Thread-safe: `feed` may run in one
    thread while a run streams from another."""

    def __init__(
        self,
        engine: Board,
        write: Callable[[bytes], None],
        *,
        board_id: str = "emu-0",
        details: dict | None = None,
        capabilities: frozenset[str] | None = None,
        line_bps: int = 0,
        realtime: bool = False,
        fifo_events: int = 4096,
        spawn: Callable[[Callable[[], None]], None] | None = None,
        wait_until: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.engine = engine
        self.write = write
        self.board_id = board_id
        self.details = dict(details or {})
        info = engine.info()
        self.n_chips = info.n_chips
        # the firmware itself streams spikes, counts them, and writes biases (SET_BIAS)
        self.capabilities = frozenset(capabilities or info.capabilities) | {
            "spikes",
            "counts",
            "biases",
        }
        self.capabilities -= {"gradients"}  # gradients do not cross a wire
        self.line_bps, self.realtime, self.fifo_events = line_bps, realtime, fifo_events
        self.spawn = spawn or (lambda fn: fn())
        self.wait_until = wait_until
        self.clock = clock
        self.splitter = FrameSplitter()
        self.lock = threading.RLock()
        self.engine_lock = threading.Lock()  # one engine call at a time (run thread vs commands)
        self.t0 = clock()
        self.busy_since: float | None = None  # a command is executing (keepalive, server.py)
        self.stats = {"rx_frames": 0, "rx_bad": 0, "naks": 0, "duplicates": 0, "events_dropped": 0}
        self._boot()

    # ---- state ---------------------------------------------------------------------------------

    def _boot(self) -> None:
        self.boot_id = random.getrandbits(32)
        self.generation = getattr(self, "generation", 0) + 1  # runs of an earlier boot stop
        self.config: ChipConfig | None = None
        self.editor: BiasEditor | None = None  # bias writes on the current config (SET_BIAS)
        self.config_hash = ""
        self.dirty = False
        self.cache: OrderedDict[int, tuple[bytes, bytes]] = OrderedDict()
        self.image: bytearray | None = None
        self.image_meta: tuple[int, int, int, int] | None = None
        self.image_have: np.ndarray | None = None
        self.stim: np.ndarray | None = None
        self.stim_have: np.ndarray | None = None
        self.stim_crc = 0
        self.running = False
        self.stop_flag = threading.Event()
        self.run_id = 0
        self.runs_since_apply = 0
        self.batches: list[tuple[int, bytes] | None] = []
        self.summary: m.RunSummary | None = None

    # ---- input ---------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes from the host: every valid frame is handled; bad ones are counted and dropped."""
        before = self.splitter.stats.frames_bad
        bodies = self.splitter.feed(data)
        self.stats["rx_bad"] += self.splitter.stats.frames_bad - before
        for body in bodies:
            self.stats["rx_frames"] += 1
            self.handle(body)

    def handle(self, body: bytes) -> None:
        try:
            frame = m.unpack(body)
        except m.WireError as e:
            if len(body) >= m.HEADER.size:  # answer a readable header, so the host learns why
                _, mtype, _, seq = m.HEADER.unpack_from(body)
                self._nak(mtype, seq, e.code, str(e))
            return
        if frame.type >= 0x80:
            return  # board-to-host types arriving here are noise; ignore
        key = (
            body[1:2] + body[5:]
        )  # type + payload: a new command that reuses a seq is not a duplicate
        with self.lock:
            cached = self.cache.get(frame.seq)
            if frame.type != m.MsgType.HELLO and cached and cached[0] == key:
                self.stats["duplicates"] += 1
                self.write(cached[1])
                return
        self.busy_since = self.clock()
        try:
            mtype, payload = self.execute(frame)
        except m.WireError as e:
            mtype, payload = m.MsgType.NAK, m.nak_payload(frame.type, e.code, str(e))
        except ConfigError as e:
            text = json.dumps({"path": e.path, "value": repr(e.value), "allowed": e.allowed})
            mtype, payload = (
                m.MsgType.NAK,
                m.nak_payload(frame.type, m.ErrorCode.CONFIG_INVALID, text),
            )
        except HilError as e:
            mtype, payload = m.MsgType.NAK, m.nak_payload(frame.type, m.ErrorCode.BAD_STATE, str(e))
        except Exception as e:  # an engine failure must reach the host as a NAK, not kill the board
            mtype, payload = (
                m.MsgType.NAK,
                m.nak_payload(frame.type, m.ErrorCode.INTERNAL, f"{type(e).__name__}: {e}"),
            )
        finally:
            self.busy_since = None
        if mtype == m.MsgType.NAK:
            self.stats["naks"] += 1
        else:
            payload = bytes([frame.type]) + payload
        out = encode_frame(m.pack(mtype, frame.seq, payload))
        with self.lock:
            if frame.type == m.MsgType.HELLO:
                self.cache.clear()
            self.cache[frame.seq] = (key, out)
            self.cache.move_to_end(frame.seq)
            while len(self.cache) > REPLAY_CACHE:
                self.cache.popitem(last=False)
        self.write(out)
        if frame.type == m.MsgType.RESET and mtype == m.MsgType.ACK and frame.payload == b"\x01":
            with self.lock:
                self.stop_flag.set()
                self._boot()
        if frame.type == m.MsgType.RUN and mtype == m.MsgType.ACK:
            self.spawn(self._run)

    def _nak(self, mtype: int, seq: int, code: m.ErrorCode, text: str) -> None:
        self.stats["naks"] += 1
        self.write(encode_frame(m.pack(m.MsgType.NAK, seq, m.nak_payload(mtype, code, text))))

    # ---- commands ------------------------------------------------------------------------------

    def execute(self, f: m.Frame) -> tuple[int, bytes]:
        """Carry out one command; return (ACK, data) - errors raise and become NAKs."""
        T = m.MsgType
        t, p = f.type, f.payload
        name = m.type_name(t)
        if t == T.HELLO:
            _, host_version = m.unpack_struct(m.HELLO_CMD, p, name)
            if host_version < m.PROTOCOL_VERSION:
                raise m.WireError(
                    f"HELLO: host speaks version {host_version}; board needs {m.PROTOCOL_VERSION}",
                    m.ErrorCode.VERSION,
                )
            return T.ACK, self.hello_info().pack()
        if t == T.PING:
            if len(p) > 256:
                raise m.WireError(
                    f"PING: {len(p)} bytes; allowed at most 256", m.ErrorCode.BAD_LENGTH
                )
            return T.ACK, p
        if t == T.STATUS:
            m.Reader(p, name).end()
            return T.ACK, self.status().pack()
        if self.running and t not in (T.STOP, T.RESULT, T.FETCH, T.RESET, T.CONFIG_HASH):
            raise m.WireError(
                f"{name}: a run is in progress (run_id {self.run_id}); send STOP first",
                m.ErrorCode.BUSY,
            )
        if t == T.RESET:
            (mode,) = m.unpack_struct(m.RESET_CMD, p, name)
            if mode > 1:
                raise m.WireError(f"RESET: mode={mode}; allowed 0 (state) or 1 (reboot)")
            if mode == 0:
                if self.running:
                    raise m.WireError(
                        "RESET: a run is in progress; send STOP first", m.ErrorCode.BUSY
                    )
                if self.config is None:
                    raise m.WireError("RESET: no config applied", m.ErrorCode.NO_CONFIG)
                with self.engine_lock:
                    self.engine.reset()
            return T.ACK, b""
        if t == T.CONFIG_BEGIN:
            size, raw_size, crc, enc = m.unpack_struct(m.CONFIG_BEGIN_CMD, p, name)
            if (
                not 0 < size <= m.MAX_CONFIG_BYTES
                or not 0 < raw_size <= m.MAX_CONFIG_RAW
                or enc > 1
            ):
                raise m.WireError(
                    f"CONFIG_BEGIN: size={size} raw_size={raw_size} encoding={enc}; allowed "
                    f"1..{m.MAX_CONFIG_BYTES}, 1..{m.MAX_CONFIG_RAW}, 0 (json) or 1 (zlib-json)"
                )
            self.image, self.image_meta = bytearray(size), (size, raw_size, crc, enc)
            self.image_have = np.zeros(-(-size // m.CONFIG_CHUNK), bool)
            return T.ACK, b""
        if t == T.CONFIG_DATA:
            r = m.Reader(p, name)
            off = r.int("I", "offset")
            data = r.rest()
            if self.image is None or self.image_have is None:
                raise m.WireError("CONFIG_DATA before CONFIG_BEGIN", m.ErrorCode.BAD_STATE)
            if off % m.CONFIG_CHUNK or off + len(data) > len(self.image) or not data:
                raise m.WireError(
                    f"CONFIG_DATA: offset={off} length={len(data)}; allowed offsets multiple of "
                    f"{m.CONFIG_CHUNK} within the {len(self.image)}-byte image"
                )
            self.image[off : off + len(data)] = data
            self.image_have[off // m.CONFIG_CHUNK] = True
            return T.ACK, b""
        if t == T.CONFIG_COMMIT:
            m.Reader(p, name).end()
            return T.ACK, bytes.fromhex(self._commit())
        if t == T.CONFIG_HASH:
            m.Reader(p, name).end()
            with self.lock:
                if self.dirty and not self.running:
                    self._apply(self.config)
                h = self.config_hash
            return T.ACK, bytes([1 if h else 0]) + (bytes.fromhex(h) if h else bytes(32))
        if t == T.SET_BIAS:
            return T.ACK, bytes.fromhex(self._set_biases(p))
        if t in (T.WRITE_CAM, T.WRITE_SRAM, T.WRITE_LATCH):
            if self.config is None:
                raise m.WireError(
                    f"{name}: no config applied; upload one first", m.ErrorCode.NO_CONFIG
                )
            cfg = copy.deepcopy(self.config)
            self._write(t, p, cfg)
            cfg.validate()
            self.config, self.config_hash, self.dirty = cfg, cfg.content_hash(), True
            return T.ACK, bytes.fromhex(self.config_hash)
        if t == T.STIM_BEGIN:
            n, crc = m.unpack_struct(m.STIM_BEGIN_CMD, p, name)
            if n > m.MAX_STIM_EVENTS:
                raise m.WireError(f"STIM_BEGIN: n_events={n}; allowed 0..{m.MAX_STIM_EVENTS}")
            self.stim, self.stim_crc = np.zeros(n, m.STIM_REC), crc
            self.stim_have = np.zeros(-(-n // m.STIM_PER_FRAME), bool)
            return T.ACK, b""
        if t == T.STIM_DATA:
            r = m.Reader(p, name)
            first = r.int("I", "first")
            rec = r.records(m.STIM_REC, "stimulus records", m.STIM_PER_FRAME)
            if self.stim is None or self.stim_have is None:
                raise m.WireError("STIM_DATA before STIM_BEGIN", m.ErrorCode.BAD_STATE)
            if first % m.STIM_PER_FRAME or first + rec.size > self.stim.size or rec.size == 0:
                raise m.WireError(
                    f"STIM_DATA: first={first} n={rec.size}; allowed chunks of {m.STIM_PER_FRAME} "
                    f"within {self.stim.size} events"
                )
            self.stim[first : first + rec.size] = rec
            self.stim_have[first // m.STIM_PER_FRAME] = True
            return T.ACK, b""
        if t == T.RUN:
            return T.ACK, self._prepare_run(p)
        if t == T.STOP:
            m.Reader(p, name).end()
            self.stop_flag.set()
            return T.ACK, b""
        if t == T.RESULT:
            (run_id,) = m.unpack_struct(m.RUN_ID_CMD, p, name)
            with self.lock:
                if run_id != self.run_id or (self.summary is None and not self.running):
                    raise m.WireError(
                        f"RESULT: run_id={run_id} unknown; last run is {self.run_id}",
                        m.ErrorCode.NOT_FOUND,
                    )
                if self.summary is None:
                    raise m.WireError(f"RESULT: run {run_id} is still running", m.ErrorCode.BUSY)
                return T.ACK, self.summary.pack()
        if t == T.FETCH:
            run_id, batch = m.unpack_struct(m.FETCH_CMD, p, name)
            with self.lock:
                held = (
                    self.batches[batch]
                    if run_id == self.run_id and batch < len(self.batches)
                    else None
                )
                if held is None:
                    raise m.WireError(
                        f"FETCH: batch {batch} of run {run_id} is not held", m.ErrorCode.NOT_FOUND
                    )
                kind, data = held
            return T.ACK, bytes([kind]) + data
        raise m.WireError(f"{name} is not a command", m.ErrorCode.UNKNOWN_TYPE)

    def _commit(self) -> str:
        if self.image is None or self.image_meta is None or self.image_have is None:
            raise m.WireError("CONFIG_COMMIT before CONFIG_BEGIN", m.ErrorCode.BAD_STATE)
        if not self.image_have.all():
            missing = int((~self.image_have).sum())
            raise m.WireError(
                f"CONFIG_COMMIT: {missing} chunk(s) of the image missing", m.ErrorCode.INCOMPLETE
            )
        size, raw_size, crc, enc = self.image_meta
        raw = bytes(self.image)
        if enc == 1:
            d = zlib.decompressobj()
            try:
                raw = d.decompress(raw, raw_size + 1)
            except zlib.error as e:
                raise m.WireError(
                    f"CONFIG_COMMIT: image does not inflate ({e})", m.ErrorCode.CONFIG_CRC
                ) from None
        if len(raw) != raw_size or zlib.crc32(raw) != crc:
            raise m.WireError(
                f"CONFIG_COMMIT: image of {len(raw)} bytes with CRC-32 0x{zlib.crc32(raw):08X}; "
                f"announced {raw_size} bytes, 0x{crc:08X}",
                m.ErrorCode.CONFIG_CRC,
            )
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise m.WireError(
                "CONFIG_COMMIT: image is not UTF-8 JSON", m.ErrorCode.CONFIG_INVALID
            ) from None
        cfg = ChipConfig.from_json(text)
        if len(cfg.chips) > self.n_chips:
            raise ConfigError(
                "chips", f"{len(cfg.chips)} chips", f"at most {self.n_chips} on this board"
            )
        self.image = self.image_meta = self.image_have = None
        with self.lock:
            self._apply(cfg)
            return self.config_hash

    def _apply(self, cfg: ChipConfig | None) -> None:
        assert cfg is not None
        with self.engine_lock:
            confirmed = self.engine.apply(cfg)
        if confirmed != cfg.content_hash():
            raise BoardError(
                f"engine confirmed hash {confirmed[:16]}, config has {cfg.content_hash()[:16]}"
            )
        self.config, self.config_hash, self.dirty = cfg, confirmed, False
        self.runs_since_apply = 0

    def _set_biases(self, p: bytes) -> str:
        """SET_BIAS: all writes or none, in time proportional to the writes (hil.board.BiasEditor);
        an engine with BiasWrites takes them in place, any other applies the edited config at the
        next RUN or CONFIG_HASH. Either way the engine is then as after `apply` of that config."""
        if self.config is None:
            raise m.WireError(
                "SET_BIAS: no config applied; upload one first", m.ErrorCode.NO_CONFIG
            )
        biases = {}
        for chip, core, pid, coarse, fine in m.unpack_set_bias(p):
            if pid not in m.PARAM_BY_ID or core > 3 or chip >= len(self.config.chips):
                raise m.WireError(
                    f"SET_BIAS: chip={chip} core={core} param={pid}; allowed chip < "
                    f"{len(self.config.chips)}, core 0..3, param 0..{max(m.PARAM_BY_ID)}"
                )
            biases[(chip, core, m.PARAM_BY_ID[pid])] = (coarse, fine)
        if self.editor is None or self.editor.config is not self.config:
            self.editor = BiasEditor(self.config)
        cfg, digest = self.editor.set(biases)  # ConfigError (a NAK): nothing changed
        if isinstance(self.engine, BiasWrites) and not self.dirty:
            with self.engine_lock:
                confirmed = self.engine.set_biases(biases)
            if confirmed != digest:
                raise BoardError(
                    f"engine confirmed hash {confirmed[:16]}, config has {digest[:16]}"
                )
            self.config, self.config_hash, self.runs_since_apply = cfg, digest, 0
        else:
            self.config, self.config_hash, self.dirty = cfg, digest, True
        return digest

    def _write(self, t: int, p: bytes, cfg: ChipConfig) -> None:
        """WRITE_CAM / WRITE_SRAM / WRITE_LATCH into `cfg` (validated by the caller)."""
        T = m.MsgType
        name = m.type_name(t)

        def neuron(chip: int, core: int, n: int) -> Neuron:
            if chip >= len(cfg.chips):
                raise m.WireError(f"{name}: chip={chip}; the config has {len(cfg.chips)} chip(s)")
            return cfg.core(chip, core).neurons.setdefault(n, Neuron())

        if t == T.WRITE_CAM:
            chip, core, n, slot, tag, dend, weight, flags = m.unpack_struct(
                m.WRITE_CAM_CMD, p, name
            )
            if core > 3 or dend not in m.DENDRITE_BY_CODE or weight > 15 or flags > 7:
                raise m.WireError(
                    f"WRITE_CAM: core={core} dendrite={dend} weight={weight} flags={flags}; allowed core 0..3, dendrite 0..4, weight 0..15, flags 0..7"
                )
            syn = Synapse(
                tag,
                m.DENDRITE_BY_CODE[dend],
                mask_bits(weight),
                bool(flags & 1),
                bool(flags & 2),
                bool(flags & 4),
            )
            _put(neuron(chip, core, n).synapses, slot, syn, name, 64)
        elif t == T.WRITE_SRAM:
            chip, core, n, slot, tag, cmask, xh, yh = m.unpack_struct(m.WRITE_SRAM_CMD, p, name)
            if core > 3 or cmask > 15:
                raise m.WireError(
                    f"WRITE_SRAM: core={core} core_mask={cmask}; allowed 0..3 and 0..15"
                )
            _put(
                neuron(chip, core, n).destinations,
                slot,
                Destination(tag, mask_bits(cmask), xh, yh),
                name,
                4,
            )
        else:
            chip, core, n, mask, values = m.unpack_struct(m.WRITE_LATCH_CMD, p, name)
            every = sum(1 << b for b in m.LATCH_BITS.values())
            if core > 3 or mask & ~every:
                raise m.WireError(
                    f"WRITE_LATCH: core={core} mask=0x{mask:04X}; allowed core 0..3, mask bits "
                    f"within 0x{every:04X}"
                )
            nr = neuron(chip, core, n)
            for latch, i in m.LATCH_BITS.items():
                if mask >> i & 1:
                    nr.latches[latch] = bool(values >> i & 1)

    # ---- runs ----------------------------------------------------------------------------------

    def _prepare_run(self, p: bytes) -> bytes:
        run_id, dur_us, readout, bin_us, seed, want = m.unpack_struct(m.RUN_CMD, p, "RUN")
        if self.config is None:
            raise m.WireError("RUN: no config applied", m.ErrorCode.NO_CONFIG)
        if want.hex() != self.config_hash:
            raise m.WireError(
                f"RUN: the board holds config {self.config_hash[:16]}, the host expects "
                f"{want.hex()[:16]}",
                m.ErrorCode.CONFIG_MISMATCH,
            )
        if dur_us == 0 or readout > 1 or (readout == 1 and not 1 <= bin_us <= m.MAX_BIN_US):
            raise m.WireError(
                f"RUN: duration_us={dur_us} readout={readout} bin_us={bin_us}; allowed duration >= 1, readout 0/1, counts bin 1..{m.MAX_BIN_US} us"
            )
        if self.stim is None or self.stim_have is None or not self.stim_have.all():
            raise m.WireError(
                "RUN: stimulus incomplete (STIM_BEGIN/STIM_DATA)", m.ErrorCode.INCOMPLETE
            )
        if zlib.crc32(self.stim.tobytes()) != self.stim_crc:
            raise m.WireError("RUN: stimulus CRC-32 mismatch", m.ErrorCode.CONFIG_CRC)
        stim = ev.input_events(
            self.stim["t_us"].astype(np.int64), self.stim["channel"].astype(np.int32)
        )
        if stim.size and (
            np.any(np.diff(self.stim["t_us"].astype(np.int64)) < 0) or stim["t_us"][-1] >= dur_us
        ):
            raise m.WireError(
                f"RUN: stimulus must be time-sorted and end before duration_us={dur_us}"
            )
        with self.lock:
            if self.dirty:
                self._apply(self.config)
            self.running, self.run_id, self.summary, self.batches = True, run_id, None, []
            self.stop_flag.clear()
            self._job = (run_id, dur_us, readout, bin_us, stim, seed)
            index = self.runs_since_apply
            self.runs_since_apply += 1
        return m.RUN_ACK.pack(run_id, index)

    def _run(self) -> None:
        run_id, dur_us, readout, bin_us, stim, seed = self._job
        gen = self.generation
        t_start = self.clock()
        status, error = m.RunStatus.COMPLETE, (0, "")
        try:
            with self.engine_lock:
                if isinstance(self.engine, SeededRuns):
                    self.engine.seed_runs(seed)
                out = self.engine.run(stim, dur_us / 1e6)
        except Exception as e:  # reported as an ERROR run with its cause; the host raises
            log.exception("engine failed during run %d", run_id)
            out, status = np.empty(0, ev.OUTPUT_DTYPE), m.RunStatus.ERROR
            error = (_error_code(e), f"{type(e).__name__}: {e}")
        engine_us = int((self.clock() - t_start) * 1e6)
        t = out["t_us"].astype(np.int64)
        addr = m.encode_addr(out["chip"], out["core"], out["neuron"])
        dropped = np.zeros(t.size, bool)
        if readout == m.Readout.SPIKES and self.realtime and self.line_bps:
            dropped = fifo_overflow(t, self.line_bps / 10 / 4.1 / 1e6, self.fifo_events)
        n_dropped = int(dropped.sum())
        if readout == m.Readout.SPIKES:
            batches = [
                (base, rec, m.MsgType.EVENTS)
                for base, rec in m.split_events(t[~dropped], addr[~dropped])
            ]
            n_bins = 0
        else:
            n_bins = -(-dur_us // bin_us)
            batches = [(b0, rec, m.MsgType.COUNTS) for b0, rec in count_batches(t // bin_us, addr)]
        with self.lock:
            self.stats["events_dropped"] += n_dropped
        t_stream = self.clock()
        sent, kept, crc = 0, 0, 0
        for i, (base, rec, kind) in enumerate(batches):
            if self.stop_flag.is_set():
                status = m.RunStatus.STOPPED
                break
            if self.realtime:
                last_us = (
                    base + int(rec["dt"][-1])
                    if kind == m.MsgType.EVENTS
                    else (base + int(rec["dbin"][-1]) + 1) * bin_us
                )
                self._wait(t_stream + min(last_us, dur_us) / 1e6)
                if self.stop_flag.is_set():
                    status = m.RunStatus.STOPPED
                    break
            pack = m.pack_events_batch if kind == m.MsgType.EVENTS else m.pack_counts_batch
            payload = pack(run_id, i, base, rec)
            with self.lock:
                if self.generation != gen:
                    return  # rebooted meanwhile
                kept += len(payload)
                crc = zlib.crc32(payload, crc)
                self.batches.append((int(kind), payload))
                while kept > MAX_RETAINED:  # evict the oldest; FETCH answers NOT_FOUND for them
                    j = next(k for k, b in enumerate(self.batches) if b is not None)
                    kept -= len(self.batches[j][1])  # type: ignore[index]
                    self.batches[j] = None
            self.write(encode_frame(m.pack(kind, i, payload)))
            sent += rec.size
        if self.realtime and status == m.RunStatus.COMPLETE:
            self._wait(t_stream + dur_us / 1e6)
            if self.stop_flag.is_set():
                status = m.RunStatus.STOPPED
        summary = m.RunSummary(
            run_id,
            int(status),
            readout,
            len(self.batches),
            int(t.size),
            sum(b[1].size for b in batches[: len(self.batches)]),
            n_dropped,
            bin_us if readout else 0,
            n_bins,
            dur_us,
            min(engine_us, 2**32 - 1),
            crc,
            *error,
        )
        with self.lock:
            if self.generation != gen:
                return
            self.summary, self.running = summary, False
        self.write(encode_frame(m.pack(m.MsgType.RUN_DONE, run_id, summary.pack())))

    def _wait(self, t: float) -> None:
        """Real-time pacing: wait until the clock reads `t`, or until STOP."""
        if self.wait_until is not None:
            self.wait_until(t)
        else:
            self.stop_flag.wait(max(0.0, t - self.clock()))

    # ---- answers -------------------------------------------------------------------------------

    def hello_info(self) -> m.HelloInfo:
        return m.HelloInfo(
            m.PROTOCOL_VERSION,
            self.boot_id,
            self.n_chips,
            self.capabilities,
            MAX_BODY,
            self.line_bps,
            self.realtime,
            self.board_id,
            f"hil-emulator {__version__}",
            self.details,
        )

    def status(self) -> m.Status:
        with self.lock:
            state = 1 if self.running else (2 if self.summary is not None else 0)
            now_us = int((self.clock() - self.t0) * 1e6) & 0xFFFFFFFF
            s = self.stats
            return m.Status(
                state,
                self.boot_id,
                now_us,
                bool(self.config_hash or self.config),
                self.run_id,
                s["rx_frames"] & 0xFFFFFFFF,
                s["rx_bad"] & 0xFFFFFFFF,
                s["naks"] & 0xFFFFFFFF,
                s["duplicates"] & 0xFFFFFFFF,
                s["events_dropped"] & 0xFFFFFFFF,
            )


def _put(items: list, slot: int, item: object, name: str, cap: int) -> None:
    if slot > len(items) or slot >= cap:
        raise m.WireError(
            f"{name}: slot={slot}; allowed 0..{min(len(items), cap - 1)} (overwrite or append)"
        )
    if slot == len(items):
        items.append(item)
    else:
        items[slot] = item


def _error_code(e: Exception) -> int:
    """The NAK / RunSummary error code for an exception raised on the board."""
    if isinstance(e, ConfigError):
        return m.ErrorCode.CONFIG_INVALID
    if isinstance(e, HilError):
        return m.ErrorCode.BAD_STATE
    return m.ErrorCode.INTERNAL


def fifo_overflow(t_us: np.ndarray, drain_per_us: float, capacity: int) -> np.ndarray:
    """Which events a FIFO of `capacity` events, drained at `drain_per_us` events/us, must drop
    when events arrive at `t_us` (the board's TX queue in real time at a finite line rate)."""
    dropped = np.zeros(t_us.size, bool)
    q, last = 0.0, 0
    for i, t in enumerate(t_us.tolist()):
        q = max(0.0, q - (t - last) * drain_per_us)
        last = t
        if q + 1 > capacity:
            dropped[i] = True
        else:
            q += 1
    return dropped


def count_batches(bins: np.ndarray, addr: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Spike (bin, address) pairs -> [(first bin, COUNT_REC records)]: one record per nonzero
    (bin, neuron), at most COUNTS_PER_BATCH per batch, dbin within u16."""
    if bins.size == 0:
        return []
    key = bins.astype(np.int64) * NEURONS_PER_CHIP * 4 + addr
    uniq, counts = np.unique(key, return_counts=True)
    ub, ua = uniq // (NEURONS_PER_CHIP * 4), uniq % (NEURONS_PER_CHIP * 4)
    out = []
    i = 0
    while i < ub.size:
        b0 = int(ub[i])
        j = min(ub.size, i + m.COUNTS_PER_BATCH)
        j = i + int(np.searchsorted(ub[i:j], b0 + m.MAX_DT, side="right"))
        rec = np.empty(j - i, m.COUNT_REC)
        rec["dbin"], rec["addr"] = ub[i:j] - b0, ua[i:j]
        rec["count"] = np.minimum(counts[i:j], 0xFFFF)
        out.append((b0, rec))
        i = j
    return out
