"""Differences between two calibration documents (JSON), leaf by leaf.

The store keeps a calibration as the JSON document hil.calibrate writes; this module knows nothing
of its fields. Each changed leaf is named by its path in the document, so the document's own
layout gives per-core and per-neuron entries: `cores[2].biases.SOIF_LEAK_N` or
`neurons.threshold[17]`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeGuard

_MISSING = object()


@dataclass(frozen=True)
class Change:
    """One leaf that differs: `old` / `new` are None where the leaf is absent on that side;
    `delta` is new - old when both are numbers (not booleans)."""

    path: str
    old: object
    new: object

    @property
    def delta(self) -> float | None:
        a, b = self.old, self.new
        return float(b) - float(a) if _number(a) and _number(b) else None


def _leaves(doc: object, path: str) -> Iterator[tuple[str, object]]:
    if isinstance(doc, dict | list) and not doc:
        yield path, doc  # an empty container is a leaf of its own
    elif isinstance(doc, dict):
        for k in sorted(doc):
            yield from _leaves(doc[k], f"{path}.{k}" if path else str(k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, doc


def _number(x: object) -> TypeGuard[int | float]:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _same(a: object, b: object) -> bool:
    if _number(a) and _number(b):
        return a == b or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def diff_documents(a: object, b: object) -> list[Change]:
    """Every leaf of JSON documents `a` and `b` that differs (added and removed leaves too), in
    the order of `a` and then the leaves only `b` has. Numbers compare by value (1 == 1.0); NaN
    equals NaN."""
    left, right = dict(_leaves(a, "")), dict(_leaves(b, ""))
    out = []
    for path in [*left, *(p for p in right if p not in left)]:
        old, new = left.get(path, _MISSING), right.get(path, _MISSING)
        if old is not _MISSING and new is not _MISSING and _same(old, new):
            continue
        out.append(Change(path, None if old is _MISSING else old, None if new is _MISSING else new))
    return out
