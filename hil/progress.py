"""Progress bars (tqdm) for long work: benchmarks, sweeps, real-time runs.

Bars go to stderr, and only where a person watches: when stderr is a terminal, or when
HIL_PROGRESS=1 asks for them (HIL_PROGRESS=0 silences them). `hil ... --json` turns them off, so
JSON output never carries one.

    for x in progress.bar(xs, desc="sweep"):          # an iterable with a bar
        ...
    with progress.ticker("bench sim") as tick:        # a blocking call: elapsed time, and a stage
        tick.stage("peer")                            # label that the work may update
        ...
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_forced: bool | None = None


def set_enabled(on: bool | None) -> bool | None:
    """Force bars on or off (None: decide from HIL_PROGRESS and whether stderr is a terminal).
    Returns the previous setting, to restore it."""
    global _forced
    previous, _forced = _forced, on
    return previous


def enabled() -> bool:
    """Whether bars are shown now."""
    if _forced is not None:
        return _forced
    env = os.environ.get("HIL_PROGRESS", "").strip()
    if env in ("0", "1"):
        return env == "1"
    return sys.stderr.isatty()


def bar(iterable: Iterable[T], desc: str = "", total: int | None = None) -> Iterable[T]:
    """`iterable`, with a tqdm bar on stderr when bars are enabled."""
    if not enabled():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, file=sys.stderr, leave=False)


class _Ticker:
    def __init__(self, desc: str):
        self.desc = desc
        self._bar = None
        if enabled():
            from tqdm.auto import tqdm

            self._bar = tqdm(
                desc=desc, total=None, file=sys.stderr, leave=False, bar_format="{desc}: {elapsed}"
            )

    def stage(self, text: str) -> None:
        """Say which part of the work runs now."""
        if self._bar is not None:
            self._bar.set_description_str(f"{self.desc} [{text}]")

    def refresh(self) -> None:
        if self._bar is not None:
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


_current: list[_Ticker] = []


def stage(text: str) -> None:
    """Label the innermost running ticker (a no-op when none runs or bars are off)."""
    if _current:
        _current[-1].stage(text)


@contextmanager
def ticker(desc: str, every_s: float = 0.5) -> Iterator[_Ticker]:
    """Show `desc` and the elapsed time on stderr while the body runs (when bars are enabled)."""
    tick = _Ticker(desc)
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            tick.refresh()

    thread = threading.Thread(target=loop, daemon=True) if tick._bar is not None else None
    if thread is not None:
        thread.start()
    _current.append(tick)
    try:
        yield tick
    finally:
        _current.pop()
        stop.set()
        if thread is not None:
            thread.join()
        tick.close()
