"""The one exception hierarchy of hil.

Every error a user can cause names the field, the value and what is allowed. The CLI maps any
`HilError` to exit code 2 and one line, never a traceback.
"""

from __future__ import annotations

import reprlib

# Longest text an error message quotes from its input: a value, a path, a reason. A config file or a
# board can hand over megabytes in one field; a message names it, it does not repeat it.
QUOTE_MAX = 200
# a URL or a value quoted inside a longer message, which must still say what is allowed
SHORT_QUOTE = 80


class _Quote(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:  # repr() of a >4300-digit int raises; its size is what matters
            return f"<an integer of about {int(x.bit_length() * 0.30103) + 1} digits>"
        return super().repr_int(x, level)


_quote = _Quote()
_quote.maxlevel, _quote.maxstring, _quote.maxother, _quote.maxlong = 3, QUOTE_MAX, QUOTE_MAX, 40
_quote.maxlist = _quote.maxtuple = _quote.maxdict = _quote.maxset = 6


def bounded(text: str, limit: int = QUOTE_MAX) -> str:
    """`text` cut to at most `limit` characters, the cut marked with how much was left out."""
    if len(text) <= limit:
        return text
    cut = f"... [{len(text) - limit} more characters]"
    return text[: max(0, limit - len(cut))] + cut


def quote(value: object, limit: int = QUOTE_MAX) -> str:
    """repr() of `value`, bounded in length (`limit` characters) and nesting depth (safe on any
    JSON value)."""
    return bounded(_quote.repr(value), limit)


class HilError(Exception):
    """Base of every error hil raises on purpose."""


class ConfigError(HilError, ValueError):
    """A configuration violates a hardware constraint.

    `path` locates the offending field (`chips[0].cores[2].neurons[17].synapses[64]`), `value` is what
    was found and `allowed` says what would be accepted.
    """

    def __init__(self, path: str, value: object, allowed: str, more: int = 0):
        self.path, self.value, self.allowed, self.more = path, value, allowed, more
        tail = f" (and {more} more error{'s' if more != 1 else ''})" if more else ""
        super().__init__(
            f"{bounded(str(path))}: {quote(value)} is not allowed; allowed: {bounded(allowed, 400)}{tail}"
        )


class ArtifactError(HilError):
    """A file could not be read or written (the message names the path, the reason and what is
    allowed)."""


class EventError(HilError, ValueError):
    """Spike events are malformed (wrong dtype, time running backwards, address out of range)."""


class BoardError(HilError):
    """A board could not do what was asked."""


class BoardURLError(BoardError, ValueError):
    """A board URL names an unknown scheme or carries an invalid option."""


class CapabilityError(BoardError):
    """The board lacks a capability the caller needs."""


class LinkError(BoardError):
    """The byte link to a board failed: framing, checksum, protocol version, disconnect."""


class BoardTimeout(LinkError, TimeoutError):
    """A board did not answer in time; the message names what was pending."""


class StoreError(HilError):
    """The results store cannot do what was asked: a bad store URL, a missing run, board or
    calibration, a conflicting write, or a store whose files do not match their hashes."""


class StoreBusyError(StoreError, TimeoutError):
    """Other writers held the store's write lock longer than the bounded retry allows."""
