"""float32 exp and log for numba kernels that vectorize (no libm call in the loop).

Cephes' expf and logf (S. L. Moshier): range reduction by ln 2 with a two-part constant and a
degree-6 / degree-9 minimax polynomial, the power of two built from the exponent bits. Error about
1 ulp, like torch's own vectorized (SLEEF, u10) exp and log, for x in the ranges the simulator
uses: exp for -87 <= x <= 88 (clamped outside), log for normal positive x.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

F = np.float32
_LOG2E, _C1, _C2 = F(1.44269504088896341), F(0.693359375), F(-2.12194440e-4)
_E0, _E1, _E2 = F(1.9875691500e-4), F(1.3981999507e-3), F(8.3334519073e-3)
_E3, _E4, _E5 = F(4.1665795894e-2), F(1.6666665459e-1), F(5.0000001201e-1)
_L = tuple(
    F(c)
    for c in (
        7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
        -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
    )
)  # fmt: skip
_SQRTHF, _HALF, _ONE = F(0.707106781186547524), F(0.5), F(1.0)
_XMIN, _XMAX = F(-87.0), F(88.0)


@intrinsic
def _as_int(typingctx, x):  # noqa: ANN001, ANN202, ARG001
    """The bits of a float32 as int32."""
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


@intrinsic
def _as_float(typingctx, x):  # noqa: ANN001, ANN202, ARG001
    """The int32 bits as float32."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@njit(inline="always")
def exp32(x: np.float32) -> np.float32:
    """e^x in float32 (about 1 ulp), x clamped to [-87, 88]."""
    x = min(max(x, _XMIN), _XMAX)
    n = np.floor(x * _LOG2E + _HALF)
    r = x - n * _C1
    r = r - n * _C2
    p = ((((_E0 * r + _E1) * r + _E2) * r + _E3) * r + _E4) * r + _E5
    p = p * (r * r) + r + _ONE
    return p * _as_float((np.int32(n) + np.int32(127)) << np.int32(23))  # type: ignore[call-arg]


@njit(inline="always")
def log32(x: np.float32) -> np.float32:
    """ln x in float32 (about 1 ulp) for normal x > 0."""
    bits: np.int32 = _as_int(x)  # type: ignore[call-arg]
    e = F((bits >> np.int32(23)) - np.int32(126))
    m = _as_float((bits & np.int32(0x007FFFFF)) | np.int32(0x3F000000))
    low = m < _SQRTHF
    e = e - _ONE if low else e
    m = (m + m - _ONE) if low else (m - _ONE)
    z = m * m
    p = _L[0]
    p = p * m + _L[1]
    p = p * m + _L[2]
    p = p * m + _L[3]
    p = p * m + _L[4]
    p = p * m + _L[5]
    p = p * m + _L[6]
    p = p * m + _L[7]
    p = p * m + _L[8]
    y = m * z * p
    y = y + _C2 * e
    y = y - _HALF * z
    return (m + y) + _C1 * e


@intrinsic
def fma32(typingctx, a, b, c):  # noqa: ANN001, ANN202, ARG001
    """a b + c in float32, rounded once (llvm.fma: one instruction on CPUs with FMA)."""
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        f = ir.FloatType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f], ir.FunctionType(f, [f, f, f]))
        return builder.call(fn, args)

    return sig, codegen
