"""hil asks numba for full-width vectors on AVX-512 hosts, and leaves a user's choice alone."""

from __future__ import annotations

import os
import subprocess
import sys

import llvmlite.binding as ll
import pytest

from hil.numba_target import TUNING, features

AVX512 = bool(ll.get_host_cpu_features().get("avx512f", False))

_PROBE = """
import os, numpy as np
{imports}
@numba.njit(fastmath=True)
def axpy(a, b):
    for i in range(a.shape[0]):
        a[i] = a[i] * b[i] + np.float32(1)
x = np.ones(4096, np.float32)
axpy(x, x)
print("env=" + os.environ.get("NUMBA_CPU_FEATURES", "")[-40:])
print("zmm" in axpy.inspect_asm(axpy.signatures[0]))
"""


def _probe(env: dict[str, str], imports: str = "import hil, numba") -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CPU")}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(imports=imports)],
        env={**clean, **env, "NUMBA_CACHE_DIR": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    env_tail, zmm = out.stdout.split()
    return [env_tail.removeprefix("env="), zmm]


def test_features_only_for_avx512_hosts() -> None:
    assert features({}) is None
    assert features({"avx2": True, "avx512f": False}) is None
    chosen = features({"avx2": True, "avx512f": True, "amx-tile": False})
    assert chosen == "-amx-tile,+avx2,+avx512f," + TUNING


@pytest.mark.skipif(not AVX512, reason="the host has no AVX-512")
@pytest.mark.parametrize("imports", ["import hil, numba", "import numba, hil"])
def test_kernels_use_512_bit_registers_after_import_hil(imports: str) -> None:
    """Whether numba was imported before hil (its config is set) or after (the environment)."""
    tail, zmm = _probe({}, imports)
    assert zmm == "True"
    assert tail.endswith(TUNING) == imports.startswith("import hil")


@pytest.mark.skipif(not AVX512, reason="the host has no AVX-512")
def test_a_users_features_are_left_alone() -> None:
    own = ll.get_host_cpu_features().flatten()
    tail, zmm = _probe({"NUMBA_CPU_FEATURES": own})
    assert own.endswith(tail) and zmm == "False"
