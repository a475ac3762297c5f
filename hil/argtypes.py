"""Bounded argument types for argparse (the `hil` command and the benchmarks' options).

Each returns a converter that raises argparse.ArgumentTypeError with what is allowed, so a bad value
ends as one line, `hil demo: error: argument --rate: 'nan' is not allowed; allowed: ...`, exit 2.
"""

from __future__ import annotations

import argparse
import math
import os
import stat
from collections.abc import Callable

from hil.errors import quote

SEED_MAX = 2**32 - 1  # seeds travel as u32 where a board takes one


def _refuse(text: str, allowed: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"{quote(text)} is not allowed; allowed: {allowed}")


def integer(lo: int, hi: int, unit: str = "") -> Callable[[str], int]:
    """Decimal integers lo..hi (no underscores, no leading '+')."""
    allowed = f"an integer {lo}..{hi}" + (f" {unit}" if unit else "")

    def convert(text: str) -> int:
        body = text[1:] if text.startswith("-") else text
        if not (body.isascii() and body.isdigit() and len(body) <= 20) or not lo <= int(text) <= hi:
            raise _refuse(text, allowed)
        return int(text)

    convert.__name__ = "integer"  # argparse names the type in some messages
    return convert


def number(lo: float, hi: float, unit: str, lo_open: bool = False) -> Callable[[str], float]:
    """Finite numbers in [lo, hi] (or (lo, hi] with `lo_open`)."""
    allowed = f"a finite number {'>' if lo_open else '>='} {lo:g} and <= {hi:g} {unit}".rstrip()

    def convert(text: str) -> float:
        try:
            x = float(text)
        except ValueError:
            raise _refuse(text, allowed) from None
        if not (math.isfinite(x) and (x > lo if lo_open else x >= lo) and x <= hi):
            raise _refuse(text, allowed)
        return x

    convert.__name__ = "number"
    return convert


seed = integer(0, SEED_MAX)


def output_file(text: str) -> str:
    """A path to write: new, or an existing regular file (not a directory, device or FIFO)."""
    allowed = "a path to a new or regular file"
    if not text or "\0" in text:
        raise _refuse(text, allowed)
    try:
        st = os.stat(text)
    except FileNotFoundError:
        return text
    except (OSError, ValueError):
        raise _refuse(text, allowed) from None
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(text, allowed + " (this is " + _kind(st.st_mode) + ")")
    return text


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"
