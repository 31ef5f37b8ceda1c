"""Elementwise math for Numba CPU kernels that LLVM vectorises, shared by the operations.

:func:`exp_poly` is ``exp`` by Cody-Waite range reduction, ``x = t ln 2 + r`` with ``|r| <=
ln 2 / 2``, a near-minimax polynomial ``exp(r) ~ 1 + r + r^2 q(r)`` and ``2**t`` added to the
result's exponent bits (:func:`_scale`). The integer ``t`` comes from the round-to-nearest
"shifter" trick (``k = x log2(e) + 1.5 * 2**52`` holds ``t`` in its low mantissa bits): one
fused multiply-add and one subtraction for ``t``, two for ``r``, deg q + 2 for the polynomial,
one shift and one integer add, branch-free, so loops over it vectorise, unlike the libm call.
float64: deg q = 9 (approximation error 1.6e-17 relative, under 0.15 ulp); float32: deg q = 4
(9.7e-9, 0.16 ulp); the coefficients are Chebyshev fits of ``(exp(r) - 1 - r) / r^2`` on
``[-ln 2 / 2, ln 2 / 2]`` (mpmath, 40 digits).
Valid for ``-708 <= x <= 709`` (float64) and ``-87 <= x <= 88`` (float32); callers whose
arguments may leave that range clamp them first.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic, overload

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}  # no nnan/ninf: NaN propagates
EXP_FASTMATH = {"nsz", "arcp", "contract", "afn"}  # no reassoc: keeps the shifter and Cody-Waite

_SHIFTER64 = 6755399441055744.0  # 1.5 * 2**52: k = x + shifter rounds x to an integer in k's bits
_SHIFTER32 = np.float32(12582912.0)  # 1.5 * 2**23

# q(r) ~ (exp(r) - 1 - r) / r^2, highest degree first
_Q64 = (2.5100375832561234e-08, 2.7620075879983367e-07, 2.7557268480310024e-06,
        2.4801521322368692e-05, 0.00019841269863040545, 0.0013888888917196719,
        0.008333333333330065, 0.041666666666624164, 0.16666666666666669, 0.5000000000000001)
_Q32 = tuple(np.float32(c) for c in (0.0013926175888627768, 0.008363173343241215,
                                     0.041666556149721146, 0.16666577756404877, 0.5))


@intrinsic
def _scale(typingctx, p, k):
    """``p * 2**t`` for the integer ``t`` held in the low mantissa bits of the shifted ``k``:
    ``t`` is added to ``p``'s exponent field (exact while the result stays normal)."""
    if p == k == types.float32:
        ity, shift = ir.IntType(32), 23
    elif p == k == types.float64:
        ity, shift = ir.IntType(64), 52
    else:
        return None

    def codegen(context, builder, sig, args):
        pi = builder.bitcast(args[0], ity)
        ti = builder.shl(builder.bitcast(args[1], ity), ir.Constant(ity, shift))
        return builder.bitcast(builder.add(pi, ti), args[0].type)

    return p(p, k), codegen


def exp_poly(x):  # pragma: no cover - replaced by the overload in jitted code
    raise NotImplementedError


@overload(exp_poly, jit_options={"fastmath": EXP_FASTMATH})
def _exp_overload(x):
    if x == types.float32:
        a = _Q32

        def exp32(x):
            k = x * np.float32(1.4426950408889634) + _SHIFTER32
            t = k - _SHIFTER32
            r = x - t * np.float32(0.693145751953125)  # ln 2 = hi + lo (Cody-Waite)
            r = r - t * np.float32(1.428606765330187e-06)
            q = a[0] * r + a[1]
            q = q * r + a[2]
            q = q * r + a[3]
            q = q * r + a[4]
            return _scale((q * r + np.float32(1.0)) * r + np.float32(1.0), k)

        return exp32
    if x == types.float64:
        a = _Q64

        def exp64(x):
            k = x * 1.4426950408889634 + _SHIFTER64
            t = k - _SHIFTER64
            r = x - t * 0.6931471803691238  # ln 2 = hi + lo (Cody-Waite)
            r = r - t * 1.9082149292705877e-10
            q = a[0] * r + a[1]
            q = q * r + a[2]
            q = q * r + a[3]
            q = q * r + a[4]
            q = q * r + a[5]
            q = q * r + a[6]
            q = q * r + a[7]
            q = q * r + a[8]
            q = q * r + a[9]
            return _scale((q * r + 1.0) * r + 1.0, k)

        return exp64
    return None
