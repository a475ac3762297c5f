"""Artifact I/O.

Writes are atomic: a temporary file in the target folder, fsync, then a rename, so a crash or a
failed run never leaves a half-written artifact and the earlier one stays intact. The file gets the
permissions a plain `open(path, "w")` would give it: 0666 less the umask for a new file, the old
file's mode when one is replaced. Only regular files are written: a directory, a device node, a FIFO
or a socket at the target is refused (a rename would replace `/dev/full` with a regular file).

Reads are bounded: at most `MAX_READ_BYTES` are read (so `/dev/zero` is no hang), the text must be
UTF-8, and JSON must be strict (no NaN or Infinity, no duplicate keys, no integer longer than
`MAX_INT_DIGITS` digits, no float that overflows, nesting at most `MAX_DEPTH` deep). A file that
cannot be read or written is an ArtifactError naming the path; bad content is a ConfigError that
says where.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import stat
from pathlib import Path

from hil.errors import ArtifactError, ConfigError, bounded

MAX_READ_BYTES = 128 * 2**20  # a dense samna-shaped config of 4 chips is ~30 MB
MAX_DEPTH = 64  # a ChipConfig is 10 levels deep; a samna-shaped one 12
MAX_INT_DIGITS = 40


def _cannot(path: Path, reason: str) -> ArtifactError:
    return ArtifactError(
        f"cannot write {bounded(str(path))} ({bounded(reason)}); "
        "allowed: a new or regular file in a writable folder"
    )


def _refuse_target(path: Path) -> None:
    """ArtifactError unless `path` is absent or a regular file (followed through symlinks)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        raise _cannot(path, _reason(e)) from None
    if not stat.S_ISREG(st.st_mode):
        raise _cannot(path, "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file")


def _reason(e: BaseException) -> str:
    return getattr(e, "strerror", None) or str(e)


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write `data` to `path` atomically (temp file, fsync, rename); create parent folders.

    Refuses targets that exist and are not regular files. Returns the path. Any failure is an
    ArtifactError and leaves neither a temporary file nor a changed target behind.
    """
    path = Path(path)
    _refuse_target(path)
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.parent / f".{path.name[:64]}.{secrets.token_hex(4)}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = None
        # 0o666 through os.open: the kernel applies the umask exactly as for open(path, "w")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except (OSError, ValueError) as e:
        raise _cannot(path, _reason(e)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            if mode is not None:
                os.fchmod(fh.fileno(), mode)  # replacing a file keeps its mode, as open() would
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        _refuse_target(path)  # it may have become something else meanwhile
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _cannot(path, _reason(e)) from None
        raise
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (best effort: some file systems cannot fsync a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json(path: str | Path, obj: object) -> Path:
    """Write `obj` as indented JSON (sorted keys), atomically."""
    return write_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


# ---- reading -----------------------------------------------------------------------------------


def read_bytes(path: str | Path, what: str, limit: int = MAX_READ_BYTES) -> bytes:
    """At most `limit` bytes of `path`; an unreadable or larger file is an ArtifactError."""
    allowed = f"allowed: a readable {what} of at most {limit // 2**20} MiB"
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except (OSError, ValueError) as e:
        raise ArtifactError(
            f"cannot read {what} {bounded(str(path))} ({bounded(_reason(e))}); {allowed}"
        ) from None
    if len(raw) > limit:
        raise ArtifactError(f"cannot read {what} {bounded(str(path))} (too large); {allowed}")
    return raw


def decode_text(raw: bytes, where: str) -> str:
    """UTF-8 text (a leading BOM is dropped); anything else is a ConfigError with the offset."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(
            where, f"byte 0x{raw[e.start]:02x} at offset {e.start}", "UTF-8 text"
        ) from None


class _Refused(Exception):
    """Raised from inside json.loads by a hook; turned into a ConfigError by parse_json."""

    def __init__(self, value: str, allowed: str):
        self.value, self.allowed = value, allowed


def _int(s: str) -> int:
    if len(s.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(
            f"an integer of {len(s.lstrip('-'))} digits",
            f"integers of at most {MAX_INT_DIGITS} digits",
        )
    return int(s)


def _float(s: str) -> float:
    x = float(s)
    if not math.isfinite(x):
        raise _Refused(f"the number {bounded(s, 40)}", "numbers that fit a 64-bit float")
    return x


def _constant(s: str) -> float:
    raise _Refused(s, "standard JSON numbers (no NaN or Infinity)")


def _pairs(pairs: list[tuple[str, object]]) -> dict:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _Refused(f"duplicate key {bounded(repr(k))}", "each key once per object")
            seen.add(k)
    return d


def _depth_exceeds(obj: object, limit: int) -> bool:
    stack = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, dict | list):
            if d > limit:
                return True
            stack.extend((v, d + 1) for v in (o.values() if isinstance(o, dict) else o))
    return False


def parse_json(text: str, where: str) -> object:
    """Parse strict JSON `text` (see the module docstring); any problem is a ConfigError naming
    `where` and, for syntax errors, the line and column."""
    try:
        obj = json.loads(
            text,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
            object_pairs_hook=_pairs,
        )
    except json.JSONDecodeError as e:
        raise ConfigError(
            where, f"line {e.lineno} column {e.colno}", f"valid JSON ({e.msg})"
        ) from None
    except _Refused as e:
        raise ConfigError(where, e.value, e.allowed) from None
    except RecursionError:  # deeper than the interpreter's stack allows
        too_deep = True
    else:
        too_deep = _depth_exceeds(obj, MAX_DEPTH)
    if too_deep:
        raise ConfigError(where, "JSON nested too deep", f"at most {MAX_DEPTH} levels")
    return obj


def read_json(path: str | Path, what: str) -> object:
    """Read and parse a JSON file (bounded, UTF-8, strict): ArtifactError when it cannot be read,
    ConfigError when its content is bad; both name the file."""
    where = f"{what} {bounded(str(path))}"
    return parse_json(decode_text(read_bytes(path, what), where), where)
