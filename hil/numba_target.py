"""The CPU features numba compiles hil's kernels for: full-width vectors on AVX-512 CPUs.

LLVM's tuning for AVX-512 Xeons (skylake-avx512 and later) prefers 256-bit vectors, so numba's
loops use half of the registers' width. hil's kernels (the simulator's fused forward and
backward, the emulator's membrane step) are limited by float32 arithmetic that vectorizes, and
gain 15-25 % with 512-bit vectors (docs/sim.md, docs/silicon.md: `hil bench scaling`, `hil bench
emulator`). This module asks for them by adding `-prefer-256-bit` to the host's features; it must
run before numba compiles anything, so `hil/__init__.py` calls it on import. Before numba is
imported it sets `NUMBA_CPU_FEATURES` in the environment (numba reads it on import, and processes
started from this one inherit it); after, numba's config directly.

Left alone: a user's own choice (`NUMBA_CPU_FEATURES` or `NUMBA_CPU_NAME` in the environment, or
`numba.config.CPU_FEATURES` set before hil is imported), and CPUs without AVX-512.
"""

from __future__ import annotations

import os
import sys
from typing import Any

TUNING = "-prefer-256-bit"


def features(host: dict[str, bool]) -> str | None:
    """The feature string for numba on a host with these LLVM features (name -> present), or None
    where the default is right (no AVX-512)."""
    if not host.get("avx512f", False):
        return None
    flags = ",".join(f"{'+' if on else '-'}{name}" for name, on in sorted(host.items()))
    return f"{flags},{TUNING}"


def use_full_vectors() -> bool:
    """Set numba's CPU features to `features(host)` unless the user chose them; True if set."""
    if os.environ.get("NUMBA_CPU_FEATURES") or os.environ.get("NUMBA_CPU_NAME"):
        return False
    import llvmlite.binding as ll

    config: Any = sys.modules.get("numba.core.config")  # numba.core.config, if imported
    if config is not None and config.CPU_FEATURES is not None:
        return False
    chosen = features(dict(ll.get_host_cpu_features()))
    if chosen is None:
        return False
    if config is None:
        os.environ["NUMBA_CPU_FEATURES"] = chosen
    else:
        config.CPU_FEATURES = chosen
    return True
