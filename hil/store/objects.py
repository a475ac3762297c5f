"""The content-addressed folder beside the database: a file's name is the sha256 of its bytes.

    <objects>/ab/cdef0123...   (first two hex digits as a folder, the other 62 as the name)

Files are written atomically (hil.artifacts.write_atomic: temporary file, fsync, rename) before any
database row names them, so a crash leaves at worst an unreferenced file, never a row whose file is
missing or half-written. Identical bytes are stored once. Reads check the hash.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from hil.artifacts import write_atomic
from hil.errors import StoreError

SHA256 = re.compile(r"[0-9a-f]{64}")


def sha256_hex(data: bytes) -> str:
    """The lowercase hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def check_sha(sha: str) -> str:
    """`sha` if it is 64 lowercase hex digits, else StoreError."""
    if not isinstance(sha, str) or not SHA256.fullmatch(sha):
        raise StoreError(f"artifact hash {sha!r} is not allowed; allowed: 64 lowercase hex digits")
    return sha


class Objects:
    """A content-addressed folder of files."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, sha: str) -> Path:
        """Where the file with this hash lives (whether or not it exists)."""
        check_sha(sha)
        return self.root / sha[:2] / sha[2:]

    def put(self, data: bytes) -> str:
        """Store `data` (if not already there) and return its sha256."""
        sha = sha256_hex(data)
        path = self.path(sha)
        if not (path.is_file() and path.stat().st_size == len(data)):
            try:
                write_atomic(path, data)
            except OSError as e:
                raise StoreError(
                    f"cannot write artifact {sha} into {self.root}: {e.strerror or e}"
                ) from None
        return sha

    def get(self, sha: str) -> bytes:
        """The bytes stored under `sha`; StoreError when missing or when they no longer match."""
        path = self.path(sha)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise StoreError(f"artifact {sha} is missing from {self.root} ({e.strerror})") from None
        if sha256_hex(data) != sha:
            raise StoreError(f"artifact {path} does not match its hash {sha}: the file is damaged")
        return data

    def problem(self, sha: str, size: int) -> str | None:
        """What is wrong with the stored file for (sha, size), or None when it is intact."""
        path = self.path(sha)
        if not path.is_file():
            return f"artifact {sha} is missing from {self.root}"
        if path.stat().st_size != size:
            return f"artifact {path} has {path.stat().st_size} bytes, the store says {size}"
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != sha:
            return f"artifact {path} does not match its hash"
        return None
