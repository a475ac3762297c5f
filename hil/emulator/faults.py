"""Fault injection on the emulator's byte link (the emu:// options and `hil emulate --faults`).

    ber=P               each byte gets one random bit flipped with probability P
    drop=P              each byte is lost with probability P
    garbage=P           after each byte, with probability P, a burst of 1-8 random bytes is inserted
    delay_ms=D          every write reaches the other side D ms late (latency; throughput unchanged)
    disconnect_after=N  the board drops the connection after sending N bytes on it
    disconnects=K       ... on the first K connections of this URL in this process (default 1)
    fault_seed=S        seed of the fault pattern (default 0)

ber, drop and garbage apply to both directions; disconnect_after to the board's output.
Example: emu://?seed=3&ber=1e-4&drop=1e-5&garbage=1e-5&delay_ms=2
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hil.errors import BoardURLError

FAULT_OPTIONS: dict[str, type] = {
    "ber": float,
    "drop": float,
    "garbage": float,
    "delay_ms": float,
    "disconnect_after": int,
    "disconnects": int,
    "fault_seed": int,
}


@dataclass(frozen=True)
class FaultSpec:
    ber: float = 0.0
    drop: float = 0.0
    garbage: float = 0.0
    delay_ms: float = 0.0
    disconnect_after: int = 0  # 0 = never
    disconnects: int = 1
    fault_seed: int = 0

    def __post_init__(self) -> None:
        for name in ("ber", "drop", "garbage"):
            v = getattr(self, name)
            if not 0.0 <= v <= 0.5:
                raise BoardURLError(
                    f"fault option {name}={v}; allowed a probability 0..0.5 per byte"
                )
        if not 0.0 <= self.delay_ms <= 10_000:
            raise BoardURLError(f"fault option delay_ms={self.delay_ms}; allowed 0..10000 ms")
        for name in ("disconnect_after", "disconnects", "fault_seed"):
            if getattr(self, name) < 0:
                raise BoardURLError(
                    f"fault option {name}={getattr(self, name)}; allowed an integer >= 0"
                )

    @property
    def corrupts(self) -> bool:
        return bool(self.ber or self.drop or self.garbage)

    @property
    def active(self) -> bool:
        return self.corrupts or bool(self.delay_ms or self.disconnect_after)

    @classmethod
    def from_options(cls, opts: dict[str, object]) -> FaultSpec:
        return cls(**{k: v for k, v in opts.items() if k in FAULT_OPTIONS})  # type: ignore[arg-type]


@dataclass
class FaultStats:
    bytes: int = 0
    flipped: int = 0
    dropped: int = 0
    garbage_bursts: int = 0
    garbage_bytes: int = 0


@dataclass
class Corrupter:
    """Applies ber/drop/garbage to a byte stream, reproducibly from a seed."""

    spec: FaultSpec
    seed: int = 0
    stats: FaultStats = field(default_factory=FaultStats)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng([self.spec.fault_seed, self.seed])

    def __call__(self, data: bytes) -> bytes:
        s = self.spec
        n = len(data)
        self.stats.bytes += n
        if not s.corrupts or n == 0:
            return data
        rng = self.rng
        # one uniform draw per byte: [0, ber) flip, [ber, ber+drop) drop, then garbage after it
        u = rng.random(n)
        hit = np.flatnonzero(u < s.ber + s.drop + s.garbage)
        if hit.size == 0:
            return data
        a = np.frombuffer(data, np.uint8).copy()
        uh = u[hit]
        flip = hit[uh < s.ber]
        if flip.size:
            a[flip] ^= (1 << rng.integers(0, 8, flip.size)).astype(np.uint8)
            self.stats.flipped += flip.size
        drop = hit[(uh >= s.ber) & (uh < s.ber + s.drop)]
        burst_at = hit[uh >= s.ber + s.drop]
        keep = np.ones(n, bool)
        keep[drop] = False
        self.stats.dropped += drop.size
        if burst_at.size == 0:
            return a[keep].tobytes()
        out = bytearray()
        start = 0
        for pos in burst_at.tolist():
            out += a[start : pos + 1][keep[start : pos + 1]].tobytes()
            k = int(rng.integers(1, 9))
            out += rng.integers(0, 256, k, dtype=np.uint8).tobytes()
            self.stats.garbage_bursts += 1
            self.stats.garbage_bytes += k
            start = pos + 1
        out += a[start:][keep[start:]].tobytes()
        return bytes(out)
