"""Elementwise math for Numba CPU kernels that LLVM vectorises, shared by the operations.

:func:`exp_poly` is ``exp`` by Cody-Waite range reduction (``x = t ln 2 + r``), a Taylor
polynomial of ``r`` and the exponent bits of ``2**t`` (:func:`_pow2`): branch-free, so loops over
it vectorise, unlike the libm call. float32: degree 7; float64: degree 13; about 1 ulp for
``|x| <= 40`` (the latent loss's clamp keeps it there). Callers whose arguments may be more negative
clamp them first (``exp_poly`` of ``x < -700`` would leave the exponent range).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic, overload

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}  # no nnan/ninf: NaN propagates
EXP_FASTMATH = {"nsz", "arcp", "contract", "afn"}  # no reassoc: keeps the Cody-Waite split


@intrinsic
def _pow2(typingctx, n):
    """2.0**n for a float holding an integer value in the normal exponent range."""
    if n == types.float32:
        ity, fty, bias, shift = ir.IntType(32), ir.FloatType(), 127, 23
    elif n == types.float64:
        ity, fty, bias, shift = ir.IntType(64), ir.DoubleType(), 1023, 52
    else:
        return None

    def codegen(context, builder, sig, args):
        i = builder.fptosi(args[0], ity)
        i = builder.shl(builder.add(i, ir.Constant(ity, bias)), ir.Constant(ity, shift))
        return builder.bitcast(i, fty)

    return n(n), codegen


def exp_poly(x):  # pragma: no cover - replaced by the overload in jitted code
    raise NotImplementedError


@overload(exp_poly, jit_options={"fastmath": EXP_FASTMATH})
def _exp_overload(x):
    if x == types.float32:
        def exp32(x):
            t = np.floor(x * np.float32(1.4426950408889634) + np.float32(0.5))
            r = x - t * np.float32(0.693145751953125)  # ln 2 = hi + lo (Cody-Waite)
            r = r - t * np.float32(1.428606765330187e-06)
            p = np.float32(1.0 / 5040.0)
            p = p * r + np.float32(1.0 / 720.0)
            p = p * r + np.float32(1.0 / 120.0)
            p = p * r + np.float32(1.0 / 24.0)
            p = p * r + np.float32(1.0 / 6.0)
            p = p * r + np.float32(0.5)
            p = p * r + np.float32(1.0)
            p = p * r + np.float32(1.0)
            return p * _pow2(t)

        return exp32
    if x == types.float64:
        def exp64(x):
            t = np.floor(x * 1.4426950408889634 + 0.5)
            r = x - t * 0.6931471803691238  # ln 2 = hi + lo (Cody-Waite)
            r = r - t * 1.9082149292705877e-10
            p = 1.0 / 6227020800.0
            p = p * r + 1.0 / 479001600.0
            p = p * r + 1.0 / 39916800.0
            p = p * r + 1.0 / 3628800.0
            p = p * r + 1.0 / 362880.0
            p = p * r + 1.0 / 40320.0
            p = p * r + 1.0 / 5040.0
            p = p * r + 1.0 / 720.0
            p = p * r + 1.0 / 120.0
            p = p * r + 1.0 / 24.0
            p = p * r + 1.0 / 6.0
            p = p * r + 0.5
            p = p * r + 1.0
            p = p * r + 1.0
            return p * _pow2(t)

        return exp64
    return None


