"""Artifact I/O. Writes are atomic: a temporary file in the target folder, then a rename, so a
crash or a failed run never leaves a half-written artifact and the earlier one stays intact.
Reads of JSON turn every problem into a ConfigError that says where.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hil.errors import ConfigError


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write `data` to `path` atomically; create parent folders. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, obj: object) -> Path:
    """Write `obj` as indented JSON (sorted keys), atomically."""
    return write_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def parse_json(text: str, where: str) -> object:
    """Parse JSON `text`; a syntax error is a ConfigError naming `where`, line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(
            where, f"line {e.lineno} column {e.colno}", f"valid JSON ({e.msg})"
        ) from None


def read_json(path: str | Path, what: str) -> object:
    """Read and parse a JSON file; an unreadable file or bad JSON is a ConfigError naming it."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ConfigError(what, str(path), f"a readable file ({e.strerror})") from None
    return parse_json(text, f"{what} {path}")
