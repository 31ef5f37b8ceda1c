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
arguments may leave that range clamp them first. :func:`scaled_exp_poly` is ``scale * exp(x)`` in
the same operations, the scale folded into the coefficients and the shifter (:func:`exp_scale`);
``exp_poly`` is it with scale 1.
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


def exp_scale(scale: float, dtype) -> tuple | None:
    """The constants of :func:`scaled_exp_poly` for ``scale * exp(x)``, and the argument below
    which callers clamp.

    With ``scale = f 2**m`` (``f`` in [1, 2)), ``f`` multiplies the polynomial's coefficients and
    ``m`` the shifter (``k = x log2(e) + 1.5 * 2**52 + m`` rounds to ``t + m`` in its low bits,
    and ``k - shifter`` is still ``t``): the scale costs no operation per element, and scale 1
    is :func:`exp_poly` exactly. The result ``2**(x log2(e) + m) f`` stays normal (the
    exponent-field add exact) for ``x >= (-1021 - m) ln 2`` (float32: ``-125 - m``); ``lo`` is
    that or ``-700`` (float32: ``-87``; ``exp`` there stands for 0), the larger: entries that
    would fall below about 2**-1021 (2**-125) keep that order of magnitude instead of going
    subnormal (an absolute error under 1e-307, 1e-37). Only for ``x <= 0`` (nothing overflows).
    Returns ``c = (coefficients of q times f, f, shifter + m, lo)`` in ``dtype``; None
    where the scale is out of the range that leaves the clamp at least 40 (17 in float32) below
    0 and the result finite: 2**-963 <= scale < 2**1023 (float32: 2**-100 <= scale < 2**127).
    """
    dtype = np.dtype(dtype).type
    q: tuple
    if dtype is np.float64:
        q, shifter, floor, min_exp, max_m, min_m = _Q64, _SHIFTER64, -700.0, -1021, 1022, -963
    elif dtype is np.float32:
        q, shifter, floor, min_exp, max_m, min_m = _Q32, float(_SHIFTER32), -87.0, -125, 126, -100
    else:
        raise TypeError(f"dtype must be float32 or float64, got {dtype.__name__}")
    if not 2.0 ** min_m <= scale < 2.0 ** (max_m + 1):
        return None
    f, m = np.frexp(np.float64(dtype(scale)))
    f, m = 2.0 * f, int(m) - 1  # scale = f 2**m, f in [1, 2)
    lo = max(floor, (min_exp - m) * np.log(2.0))
    return tuple(dtype(a * f) for a in q) + (dtype(f), dtype(shifter + m), dtype(lo))


def scaled_exp_poly(x, c):  # pragma: no cover - replaced by the overload in jitted code
    raise NotImplementedError


@overload(scaled_exp_poly, jit_options={"fastmath": EXP_FASTMATH})
def _scaled_exp_overload(x, c):
    """``f 2**m exp(x)`` for ``c`` from :func:`exp_scale` (``exp_poly`` with the scale folded
    in: the same operations; ``c[-1]``, the clamp, is the caller's)."""
    if x == types.float32:
        def exp32(x, c):
            k = x * np.float32(1.4426950408889634) + c[6]
            t = k - c[6]
            r = x - t * np.float32(0.693145751953125)  # ln 2 = hi + lo (Cody-Waite)
            r = r - t * np.float32(1.428606765330187e-06)
            q = c[0] * r + c[1]
            q = q * r + c[2]
            q = q * r + c[3]
            q = q * r + c[4]
            return _scale((q * r + c[5]) * r + c[5], k)

        return exp32
    if x == types.float64:
        def exp64(x, c):
            k = x * 1.4426950408889634 + c[11]
            t = k - c[11]
            r = x - t * 0.6931471803691238  # ln 2 = hi + lo (Cody-Waite)
            r = r - t * 1.9082149292705877e-10
            q = c[0] * r + c[1]
            q = q * r + c[2]
            q = q * r + c[3]
            q = q * r + c[4]
            q = q * r + c[5]
            q = q * r + c[6]
            q = q * r + c[7]
            q = q * r + c[8]
            q = q * r + c[9]
            return _scale((q * r + c[10]) * r + c[10], k)

        return exp64
    return None


_UNIT = {types.float64: exp_scale(1.0, np.float64), types.float32: exp_scale(1.0, np.float32)}


def exp_poly(x):  # pragma: no cover - replaced by the overload in jitted code
    raise NotImplementedError


@overload(exp_poly, jit_options={"fastmath": EXP_FASTMATH})
def _exp_overload(x):
    c = _UNIT.get(x)
    if c is None:
        return None

    def exp_unit(x):
        return scaled_exp_poly(x, c)

    return exp_unit
