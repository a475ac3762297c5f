"""The one exception hierarchy of hil.

Every error a user can cause names the field, the value and what is allowed. The CLI maps any
`HilError` to exit code 2 and one line, never a traceback.
"""

from __future__ import annotations


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
        super().__init__(f"{path}: {value!r} is not allowed; allowed: {allowed}{tail}")


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
