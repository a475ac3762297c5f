"""Message catalogue of the wire protocol: header, message types, payload layouts, error codes.

Every frame body starts with the 5-byte header `version:u8 type:u8 flags:u8 seq:u16` (little-endian
throughout). Payloads are fixed layouts (struct) or arrays of fixed records (numpy); every field
read off the wire is bounds-checked and a violation raises `WireError` naming the message, the
field, the value and what is allowed. docs/protocol.md is the normative description.
"""

from __future__ import annotations

import builtins
import json
import struct
import unicodedata
from dataclasses import asdict, dataclass, replace
from enum import IntEnum, IntFlag

import numpy as np

from hil.chip.geometry import CORES_PER_CHIP, MAX_CHIPS, NEURONS_PER_CORE, Dendrite, global_neuron
from hil.errors import LinkError
from hil.link.framing import MAX_BODY

PROTOCOL_VERSION = 1
HEADER = struct.Struct("<BBBH")  # version, type, flags, seq
SEQ_MOD = 1 << 16


class MsgType(IntEnum):
    """Message types. 0x01-0x7F: host -> board commands (reliable: each answered by ACK or NAK
    with the same seq). 0x80-0xFF: board -> host."""

    HELLO = 0x01
    PING = 0x02
    STATUS = 0x03
    RESET = 0x04
    CONFIG_BEGIN = 0x10
    CONFIG_DATA = 0x11
    CONFIG_COMMIT = 0x12
    CONFIG_HASH = 0x13
    SET_BIAS = 0x14
    WRITE_CAM = 0x15
    WRITE_SRAM = 0x16
    WRITE_LATCH = 0x17
    STIM_BEGIN = 0x20
    STIM_DATA = 0x21
    RUN = 0x30
    STOP = 0x31
    RESULT = 0x32
    FETCH = 0x33
    ACK = 0x80
    NAK = 0x81
    EVENTS = 0x90
    COUNTS = 0x91
    RUN_DONE = 0x92


class Flag(IntFlag):
    RETRY = 0x01  # host: this command is a retransmission (bits 1-7 reserved, 0)


class ErrorCode(IntEnum):
    """NAK reason codes."""

    UNKNOWN_TYPE = 1
    BAD_LENGTH = 2
    BAD_FIELD = 3
    BAD_STATE = 4
    VERSION = 5
    NO_CONFIG = 6
    CONFIG_INVALID = 7
    CONFIG_CRC = 8
    INCOMPLETE = 9
    NOT_FOUND = 10
    BUSY = 11
    INTERNAL = 12
    CONFIG_MISMATCH = 13


class Readout(IntEnum):
    SPIKES = 0
    COUNTS = 1


class RunStatus(IntEnum):
    COMPLETE = 0
    STOPPED = 1
    ERROR = 2


class BoardState(IntEnum):
    """Status `state`."""

    IDLE = 0
    RUNNING = 1
    HELD = 2  # results of the last run held


# ---- the wire tables: every number in a payload, pinned here and in docs/protocol.md 4.4 -------
# (never taken from the order of an enum or a dict elsewhere in hil; tests compare both ways)

CAPABILITY_BITS: dict[str, int] = {  # HelloInfo capabilities: name -> bit number
    "spikes": 0,
    "counts": 1,
    "gradients": 2,
    "hidden-silicon": 3,
    "fault-injection": 4,
    "biases": 5,
}
PARAM_IDS: dict[str, int] = {  # SET_BIAS param: bias name (hil.chip.biasgen.PARAMETERS) -> id
    "SOIF_LEAK_N": 0,
    "SOIF_GAIN_N": 1,
    "SOIF_REFR_N": 2,
    "SOIF_SPKTHR_P": 3,
    "SOIF_DC_P": 4,
    "SOAD_GAIN_P": 5,
    "SOAD_TAU_P": 6,
    "SOAD_W_N": 7,
    "SOAD_PWTAU_N": 8,
    "DEAM_ETAU_P": 9,
    "DEAM_EGAIN_P": 10,
    "DEGA_ITAU_P": 11,
    "DEGA_IGAIN_P": 12,
    "DENM_ETAU_P": 13,
    "DENM_EGAIN_P": 14,
    "DENM_NMREV_N": 15,
    "DESC_ITAU_P": 16,
    "DESC_IGAIN_P": 17,
    "SYPD_EXT_N": 18,
    "SYAM_W0_P": 19,
    "SYAM_W1_P": 20,
    "SYAM_W2_P": 21,
    "SYAM_W3_P": 22,
    "SYAW_STDSTR_N": 23,
    "SYAM_STDW_N": 24,
}
LATCH_BITS: dict[str, int] = {  # WRITE_LATCH mask/values: latch (hil.chip.geometry.LATCHES) -> bit
    "latch_so_dc": 0,
    "latch_so_adaptation": 1,
    "latch_soif_kill": 2,
    "latch_coho_ca_mem": 3,
    "latch_ho_enable": 4,
    "latch_ho_so_de": 5,
    "latch_deam_ampa": 6,
    "latch_denm_nmda": 7,
    "latch_de_conductance": 8,
    "latch_deam_alpha": 9,
    "latch_denm_alpha": 10,
    "latch_de_mux": 11,
    "latch_soif_type": 12,
    "latch_ho_active": 13,
}
DENDRITE_CODES: dict[Dendrite, int] = {  # WRITE_CAM dendrite
    Dendrite.NONE: 0,
    Dendrite.AMPA: 1,
    Dendrite.GABA: 2,
    Dendrite.NMDA: 3,
    Dendrite.SHUNT: 4,
}
PARAM_BY_ID = {i: name for name, i in PARAM_IDS.items()}
DENDRITE_BY_CODE = {c: d for d, c in DENDRITE_CODES.items()}

MAX_CONFIG_BYTES = 16 << 20  # compressed image
MAX_CONFIG_RAW = 64 << 20  # decompressed canonical JSON
MAX_STIM_EVENTS = 1 << 24
MAX_DURATION_US = (1 << 32) - 1  # one run is at most 71.58 min: run-relative u32 microseconds
MAX_BIN_US = 65535  # counts are u16, so a bin holds at most 65535 spikes of one neuron at 1/us
MAX_TEXT = 512  # bytes of UTF-8 in a NAK text, an error text or HELLO details
MAX_JSON_DEPTH = 8  # nesting of a JSON object off the wire (HELLO details, CONFIG_INVALID text)

# Fixed records.
EVENT_REC = np.dtype([("addr", "<u2"), ("dt", "<u2")])  # addr = chip<<10 | core<<8 | neuron
STIM_REC = np.dtype([("t_us", "<u4"), ("channel", "<u2")])
COUNT_REC = np.dtype([("dbin", "<u2"), ("addr", "<u2"), ("count", "<u2")])

BATCH_HEAD = struct.Struct("<HII")  # run_id, batch, base (EVENTS: base_us; COUNTS: first bin)
# The largest batch must also fit inside an ACK to FETCH (2 bytes more: command type, batch kind).
EVENTS_PER_BATCH = (MAX_BODY - HEADER.size - 2 - BATCH_HEAD.size) // EVENT_REC.itemsize
COUNTS_PER_BATCH = (MAX_BODY - HEADER.size - 2 - BATCH_HEAD.size) // COUNT_REC.itemsize
STIM_PER_FRAME = (MAX_BODY - HEADER.size - 4) // STIM_REC.itemsize
CONFIG_CHUNK = MAX_BODY - HEADER.size - 4
MAX_DT = 0xFFFF


class WireError(LinkError):
    """A frame or field off the wire is malformed or out of range; `code` is the NAK reason."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.BAD_FIELD):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Frame:
    type: int
    flags: int
    seq: int
    payload: bytes

    @property
    def name(self) -> str:
        return type_name(self.type)


def type_name(t: int) -> str:
    try:
        return MsgType(t).name
    except ValueError:
        return f"0x{t:02X}"


def pack(mtype: int, seq: int, payload: bytes = b"", flags: int = 0) -> bytes:
    """Header + payload -> frame body (framing adds the CRC and COBS)."""
    body = HEADER.pack(PROTOCOL_VERSION, mtype, flags, seq % SEQ_MOD) + payload
    if len(body) > MAX_BODY:
        raise WireError(f"{type_name(mtype)} body of {len(body)} bytes; allowed at most {MAX_BODY}")
    return body


def unpack(body: bytes) -> Frame:
    """Frame body -> Frame; checks the header (length, protocol version, known type)."""
    if len(body) < HEADER.size:
        raise WireError(
            f"frame of {len(body)} bytes; a header needs {HEADER.size}", ErrorCode.BAD_LENGTH
        )
    version, mtype, flags, seq = HEADER.unpack_from(body)
    if version != PROTOCOL_VERSION:
        raise WireError(
            f"frame header version={version}; this side speaks version {PROTOCOL_VERSION}",
            ErrorCode.VERSION,
        )
    if mtype not in MsgType._value2member_map_:
        raise WireError(
            f"frame type=0x{mtype:02X} is not a known message type", ErrorCode.UNKNOWN_TYPE
        )
    return Frame(mtype, flags, seq, bytes(body[HEADER.size :]))


class Reader:
    """Bounds-checked reads from one payload; `end()` rejects trailing bytes."""

    def __init__(self, data: bytes, what: str):
        self.data, self.what, self.pos = data, what, 0

    def _take(self, fmt: str, name: str) -> int:
        s = struct.calcsize(fmt)
        if self.pos + s > len(self.data):
            raise WireError(
                f"{self.what}: payload of {len(self.data)} bytes ends before field {name}",
                ErrorCode.BAD_LENGTH,
            )
        (v,) = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += s
        return v

    def int(self, fmt: str, name: str, lo: int | None = None, hi: int | None = None) -> int:
        v = self._take(fmt, name)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise WireError(f"{self.what}: {name}={v}; allowed {lo}..{hi}")
        return v

    def raw(self, n: builtins.int, name: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise WireError(
                f"{self.what}: field {name} needs {n} bytes, payload ends before",
                ErrorCode.BAD_LENGTH,
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def text(self, name: str, width: str = "B") -> str:
        """A length-prefixed UTF-8 text (u8 or u16 length, at most MAX_TEXT bytes): invalid UTF-8
        and control characters are replaced, so what a board says can be shown safely."""
        n = self.int(width, f"{name} length", 0, 255 if width == "B" else MAX_TEXT)
        return clean_text(self.raw(n, name))

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out

    def records(self, dtype: np.dtype, name: str, max_n: builtins.int) -> np.ndarray:
        data = self.rest()
        if len(data) % dtype.itemsize or len(data) // dtype.itemsize > max_n:
            raise WireError(
                f"{self.what}: {len(data)} bytes of {name}; allowed a multiple of "
                f"{dtype.itemsize} bytes, at most {max_n} records",
                ErrorCode.BAD_LENGTH,
            )
        return records_from_wire(data, dtype)

    def end(self) -> None:
        if self.pos != len(self.data):
            raise WireError(
                f"{self.what}: {len(self.data) - self.pos} unexpected trailing bytes "
                f"(payload of {len(self.data)} bytes, layout uses {self.pos})",
                ErrorCode.BAD_LENGTH,
            )


def utf8_cut(s: str, limit: int) -> bytes:
    """`s` as UTF-8, cut to at most `limit` bytes at a character boundary."""
    return s.encode()[:limit].decode(errors="ignore").encode()


def clean_text(data: bytes) -> str:
    """Text off the wire for display: invalid UTF-8 replaced, control characters (escape sequences
    that would reach a terminal, newlines that would split an error line) shown as \\xNN."""
    text = data.decode(errors="replace")
    return "".join(f"\\x{ord(c):02x}" if unicodedata.category(c) == "Cc" else c for c in text)


def _text(s: str, width: str = "B") -> bytes:
    b = utf8_cut(s, 255 if width == "B" else MAX_TEXT)
    return struct.pack("<" + width, len(b)) + b


def json_depth(text: str) -> int:
    """Deepest nesting of [ and { in JSON text (strings skipped): checked before json.loads, whose
    recursion a deeply nested document from the wire would exhaust."""
    depth = deepest = 0
    in_str = esc = False
    for c in text:
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def parse_json_object(text: str, what: str) -> dict:
    """A JSON object off the wire: at most MAX_TEXT bytes and MAX_JSON_DEPTH deep, else WireError."""
    if len(text.encode()) > MAX_TEXT or json_depth(text) > MAX_JSON_DEPTH:
        raise WireError(
            f"{what}: JSON of {len(text.encode())} bytes, {json_depth(text)} deep; allowed at "
            f"most {MAX_TEXT} bytes and {MAX_JSON_DEPTH} levels"
        )
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, ValueError):
        raise WireError(f"{what}: not JSON") from None
    if not isinstance(obj, dict):
        raise WireError(f"{what}: not a JSON object")
    return _clean_strings(obj)  # type: ignore[return-value]


def _clean_strings(obj: object) -> object:
    # depth is bounded by parse_json_object, so this recursion is too
    if isinstance(obj, str):
        return clean_text(obj.encode())
    if isinstance(obj, dict):
        return {clean_text(k.encode()): _clean_strings(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean_strings(v) for v in obj]
    return obj


def pack_details(details: dict) -> str:
    """HELLO details as JSON of at most MAX_TEXT bytes: long strings are shortened and, if that is
    not enough, keys dropped (in reverse order), never cut inside the JSON."""

    def dump(d: dict) -> str:
        return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    d = {str(k): (v[:64] if isinstance(v, str) else v) for k, v in details.items()}
    text = dump(details)
    if len(text.encode()) <= MAX_TEXT:
        return text
    text = dump(d)
    for k in sorted(d, reverse=True):
        if len(text.encode()) <= MAX_TEXT:
            break
        del d[k]
        text = dump(d)
    return text


# ---- HELLO -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HelloInfo:
    """What the board says in its answer to HELLO."""

    version: int
    boot_id: int
    n_chips: int
    capabilities: frozenset[str]
    max_body: int
    line_bps: int  # line rate in bit/s the board paces its output to; 0 = unpaced/unknown
    realtime: bool
    board_id: str
    firmware: str
    details: dict

    def pack(self) -> bytes:
        caps = sum(1 << CAPABILITY_BITS[c] for c in self.capabilities if c in CAPABILITY_BITS)
        details = pack_details(self.details)
        return (
            struct.pack(
                "<BIBHHIB",
                self.version,
                self.boot_id,
                self.n_chips,
                caps,
                self.max_body,
                self.line_bps,
                int(self.realtime),
            )
            + _text(self.board_id)
            + _text(self.firmware)
            + _text(details, "H")
        )

    @classmethod
    def unpack(cls, data: bytes) -> HelloInfo:
        r = Reader(data, "HELLO answer")
        version = r.int("B", "version", 1, 255)
        boot_id = r.int("I", "boot_id")
        n_chips = r.int("B", "n_chips", 1, MAX_CHIPS)
        caps = r.int("H", "capabilities", 0, sum(1 << b for b in CAPABILITY_BITS.values()))
        max_body = r.int("H", "max_body", 64, 1024)
        line_bps = r.int("I", "line_bps")
        realtime = bool(r.int("B", "realtime", 0, 1))
        board_id, firmware, details = r.text("board_id"), r.text("firmware"), r.text("details", "H")
        r.end()
        det = parse_json_object(details, "HELLO answer: details") if details else {}
        return cls(
            version,
            boot_id,
            n_chips,
            frozenset(c for c, bit in CAPABILITY_BITS.items() if caps >> bit & 1),
            max_body,
            line_bps,
            realtime,
            board_id,
            firmware,
            det,
        )


# ---- STATUS ------------------------------------------------------------------------------------

STATUS_FIELDS = struct.Struct("<BIIBHIIIII")


@dataclass(frozen=True)
class Status:
    state: int  # 0 idle, 1 running, 2 run finished (results held)
    boot_id: int
    now_us: int  # board clock, u32 microseconds, wraps every 71.58 min
    has_config: bool
    run_id: int
    rx_frames: int
    rx_bad: int
    naks: int
    duplicates: int
    events_dropped: int  # overflow since boot

    def pack(self) -> bytes:
        return STATUS_FIELDS.pack(*(int(v) for v in asdict(self).values()))

    @classmethod
    def unpack(cls, data: bytes) -> Status:
        if len(data) != STATUS_FIELDS.size:
            raise WireError(
                f"STATUS answer of {len(data)} bytes; expected {STATUS_FIELDS.size}",
                ErrorCode.BAD_LENGTH,
            )
        v = STATUS_FIELDS.unpack(data)
        if v[0] > 2 or v[3] > 1:
            raise WireError(f"STATUS answer: state={v[0]} has_config={v[3]}; allowed 0..2 and 0..1")
        return cls(v[0], v[1], v[2], bool(v[3]), *v[4:])


# ---- RUN_DONE ----------------------------------------------------------------------------------

RUN_DONE_FIELDS = struct.Struct("<HBBIIIIIIIII")


@dataclass(frozen=True)
class RunSummary:
    """Totals the board reports at the end of a run (RUN_DONE, or the answer to RESULT)."""

    run_id: int
    status: int  # RunStatus
    readout: int  # Readout
    n_batches: int  # EVENTS/COUNTS batches sent, numbered 0..n_batches-1
    n_events: int  # spikes the chip produced
    n_records: int  # event or count records in the batches
    n_dropped: int  # spikes lost to board overflow before they were batched
    bin_us: int
    n_bins: int
    duration_us: int
    engine_us: int  # time the board spent computing/collecting the run [us of wall time]
    crc32: int  # CRC-32 of the payloads of batches 0..n_batches-1, in order (end-to-end check)
    error_code: int = 0  # status ERROR: why (ErrorCode), and a text of at most MAX_TEXT bytes
    error_text: str = ""

    def pack(self) -> bytes:
        fields = [int(v) for k, v in asdict(self).items() if not k.startswith("error_")]
        out = RUN_DONE_FIELDS.pack(*fields)
        if self.status == RunStatus.ERROR:
            out += bytes([self.error_code or ErrorCode.INTERNAL]) + utf8_cut(
                self.error_text, MAX_TEXT
            )
        return out

    @classmethod
    def unpack(cls, data: bytes) -> RunSummary:
        n = RUN_DONE_FIELDS.size
        if len(data) < n or len(data) > n + 1 + MAX_TEXT or (len(data) > n and data[2] != 2):
            raise WireError(
                f"RUN_DONE of {len(data)} bytes; expected {n} (status ERROR: {n + 1} to "
                f"{n + 1 + MAX_TEXT}, with the error code and text)",
                ErrorCode.BAD_LENGTH,
            )
        s = cls(*RUN_DONE_FIELDS.unpack(data[:n]))
        if len(data) > n:
            try:
                code = ErrorCode(data[n])
            except ValueError:
                raise WireError(
                    f"RUN_DONE: error code={data[n]}; allowed 1..{max(ErrorCode)}"
                ) from None
            s = replace(s, error_code=int(code), error_text=clean_text(data[n + 1 :]))
        if s.status > 2 or s.readout > 1 or s.n_dropped > s.n_events or s.bin_us > MAX_BIN_US:
            raise WireError(
                f"RUN_DONE: status={s.status} readout={s.readout} n_dropped={s.n_dropped} "
                f"n_events={s.n_events} bin_us={s.bin_us}; allowed status 0..2, readout 0..1, "
                f"n_dropped <= n_events, bin_us <= {MAX_BIN_US}"
            )
        return s


def records_to_wire(rec: np.ndarray) -> bytes:
    """Record arrays travel bit-inverted (every byte XOR 0xFF): small numbers (times within a batch,
    neurons of chip 0 core 0) are full of 0x00 bytes, which would each cost COBS a code byte and
    the decoder a step; inverted, zero bytes are rare. The line cost is the same either way."""
    return np.invert(np.ascontiguousarray(rec).view(np.uint8)).tobytes()


def records_from_wire(data: bytes, dtype: np.dtype) -> np.ndarray:
    return np.invert(np.frombuffer(data, np.uint8)).view(dtype)


# ---- batches -----------------------------------------------------------------------------------


def encode_addr(chip: np.ndarray, core: np.ndarray, neuron: np.ndarray) -> np.ndarray:
    """(chip, core, neuron) -> 12-bit wire address chip<<10 | core<<8 | neuron, which is the
    board-wide neuron index (hil.chip.geometry.global_neuron)."""
    return global_neuron(chip, core, neuron).astype(np.uint16)


def check_addr(addr: np.ndarray, n_chips: int, what: str) -> None:
    """Reject wire addresses with spare bits set or a chip the board does not have."""
    bad = (addr >> 12) != 0
    bad |= (addr >> 10) >= n_chips
    if np.any(bad):
        a = int(addr[np.flatnonzero(bad)[0]])
        raise WireError(f"{what}: address 0x{a:04X}; allowed chip < {n_chips}, bits 12-15 zero")


def pack_events_batch(run_id: int, batch: int, base_us: int, rec: np.ndarray) -> bytes:
    return BATCH_HEAD.pack(run_id, batch, base_us) + records_to_wire(
        rec.astype(EVENT_REC, copy=False)
    )


def pack_counts_batch(run_id: int, batch: int, bin0: int, rec: np.ndarray) -> bytes:
    return BATCH_HEAD.pack(run_id, batch, bin0) + records_to_wire(rec.astype(COUNT_REC, copy=False))


def unpack_batch(mtype: int, data: bytes) -> tuple[int, int, int, np.ndarray]:
    """EVENTS/COUNTS payload -> (run_id, batch, base, records); sizes checked, values not yet."""
    r = Reader(data, type_name(mtype))
    run_id = r.int("H", "run_id")
    batch = r.int("I", "batch")
    base = r.int("I", "base")
    if mtype == MsgType.EVENTS:
        rec = r.records(EVENT_REC, "event records", EVENTS_PER_BATCH)
    else:
        rec = r.records(COUNT_REC, "count records", COUNTS_PER_BATCH)
    return run_id, batch, base, rec


def split_events(
    t_us: np.ndarray, addr: np.ndarray, per_batch: int = EVENTS_PER_BATCH
) -> list[tuple[int, np.ndarray]]:
    """Time-sorted events -> [(base_us, records)] with at most `per_batch` events per batch and
    every dt = t - base within u16."""
    out: list[tuple[int, np.ndarray]] = []
    i, n = 0, t_us.size
    while i < n:
        base = int(t_us[i])
        j = min(n, i + per_batch)
        j = i + int(np.searchsorted(t_us[i:j], base + MAX_DT, side="right"))
        rec = np.empty(j - i, EVENT_REC)
        rec["addr"], rec["dt"] = addr[i:j], t_us[i:j] - base
        out.append((base, rec))
        i = j
    return out


# ---- small command payloads ----------------------------------------------------------------------

HELLO_CMD = struct.Struct("<IB")  # nonce, highest version the host speaks
RESET_CMD = struct.Struct("<B")  # 0: state to rest (config stays), 1: reboot (config cleared)
CONFIG_BEGIN_CMD = struct.Struct("<IIIB")  # size, raw_size, crc32 of raw image, encoding
CONFIG_ENCODINGS = ("json", "zlib-json")
SET_BIAS_REC = struct.Struct(
    "<BBBBB"
)  # chip, core, param id, coarse, fine (SET_BIAS: n u8, n of these)
MAX_BIAS_WRITES = 200  # records in one SET_BIAS
WRITE_CAM_CMD = struct.Struct("<BBBBHBBB")  # chip core neuron slot tag dendrite weight flags
WRITE_SRAM_CMD = struct.Struct("<BBBBHBbb")  # chip core neuron slot tag core_mask x_hop y_hop
WRITE_LATCH_CMD = struct.Struct("<BBBHH")  # chip core neuron mask values
STIM_BEGIN_CMD = struct.Struct("<II")  # n_events, crc32 of the packed records
RUN_CMD = struct.Struct("<HIBII32s")  # run_id, duration_us, readout, bin_us, seed, config hash
RUN_ACK = struct.Struct("<HI")  # run_id, run_index (runs since the config was applied, from 0)
FETCH_CMD = struct.Struct("<HI")  # run_id, batch
RUN_ID_CMD = struct.Struct("<H")

assert max(LATCH_BITS.values()) < 16 and NEURONS_PER_CORE <= 256 and CORES_PER_CHIP <= 4


def unpack_struct(st: struct.Struct, data: bytes, what: str) -> tuple:
    if len(data) != st.size:
        raise WireError(
            f"{what}: payload of {len(data)} bytes; expected {st.size}", ErrorCode.BAD_LENGTH
        )
    return st.unpack(data)


def pack_set_bias(writes: list[tuple[int, int, int, int, int]]) -> bytes:
    """SET_BIAS payload: n u8 (1..MAX_BIAS_WRITES), then n records (chip, core, param, coarse, fine)."""
    if not 1 <= len(writes) <= MAX_BIAS_WRITES:
        raise WireError(f"SET_BIAS of {len(writes)} writes; allowed 1..{MAX_BIAS_WRITES}")
    return bytes([len(writes)]) + b"".join(SET_BIAS_REC.pack(*w) for w in writes)


def unpack_set_bias(data: bytes) -> list[tuple[int, ...]]:
    r = Reader(data, "SET_BIAS")
    n = r.int("B", "n", 1, MAX_BIAS_WRITES)
    recs = [SET_BIAS_REC.unpack(r.raw(SET_BIAS_REC.size, f"write {i}")) for i in range(n)]
    r.end()
    return recs


def nak_payload(cmd: int, code: ErrorCode, text: str) -> bytes:
    return bytes([cmd & 0xFF, int(code)]) + utf8_cut(text, MAX_TEXT)


def unpack_nak(data: bytes) -> tuple[int, ErrorCode, str]:
    """NAK payload -> (command type, code, text); the text is bounded and cleaned for display."""
    if len(data) < 2:
        raise WireError(f"NAK of {len(data)} bytes; at least 2 expected", ErrorCode.BAD_LENGTH)
    try:
        code = ErrorCode(data[1])
    except ValueError:
        raise WireError(f"NAK code={data[1]}; allowed 1..{max(ErrorCode)}") from None
    return data[0], code, clean_text(data[2 : 2 + MAX_TEXT])
