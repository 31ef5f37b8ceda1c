"""The closed-form covariances on scaled distances, as plain Python compiled twice: for CUDA
devices (:mod:`.numba_cuda`) and for the host (:mod:`.numba_cpu`, which binds ``exp`` to a
polynomial exponential that vectorises and takes the variance into its constants:
:func:`with_exp`).

Codes are :class:`porevae.covariance.KernelCode`; an unknown code gives NaN (the launchers have
already refused it on the host, see :func:`.table.check_code`), never another model's value.
"""

from __future__ import annotations

import math
import types

from porevae.covariance import KernelCode

EXPONENTIAL = int(KernelCode.EXPONENTIAL)
SQUARED_EXPONENTIAL = int(KernelCode.SQUARED_EXPONENTIAL)
MATERN32 = int(KernelCode.MATERN32)
MATERN52 = int(KernelCode.MATERN52)


def exp(x, scale):
    """``scale * e**x``: the exponential of :func:`covariance` (``with_exp`` rebinds it; the
    host's takes ``scale`` as precomputed constants, :func:`porevae.ops._numba_math.exp_scale`)."""
    return scale * math.exp(x)


def covariance(code, param, scale, r2, r):
    """``variance * rho`` of ``code`` at scaled distance ``r`` (``r2`` its square, or ``r * r``
    for l1); ``param`` is the squared exponential's factor of ``r^2``, ``scale`` the variance in
    the form the bound ``exp`` takes (every closed form is a polynomial times one exponential)."""
    if code == EXPONENTIAL:
        return exp(-r, scale)
    if code == SQUARED_EXPONENTIAL:
        return exp(-param * r2, scale)
    if code == MATERN32:
        s = math.sqrt(3.0) * r
        return (1.0 + s) * exp(-s, scale)
    if code == MATERN52:
        s = math.sqrt(5.0) * r
        return (1.0 + s + s * s / 3.0) * exp(-s, scale)
    return math.nan


def with_exp(fn, exp_impl):
    """``fn`` (a function of this module) with its global ``exp`` bound to ``exp_impl``: the same
    formula, compiled against another exponential."""
    return types.FunctionType(fn.__code__, {**fn.__globals__, "exp": exp_impl}, fn.__name__)


def distance(xa, xb, i, j, l1):
    """``(r2, r)`` between rows i of xa and j of xb (scaled points), L1 or Euclidean."""
    d = xa.shape[1]
    acc = 0.0
    if l1:
        for a in range(d):
            acc += abs(xa[i, a] - xb[j, a])
        return acc * acc, acc
    for a in range(d):
        t = xa[i, a] - xb[j, a]
        acc += t * t
    return acc, math.sqrt(acc)


def lower_tile(p):
    """Tile pair ``(ti, tj)``, ``tj <= ti``, of the ``p``-th tile of the lower triangle, counted
    row by row (``p = ti (ti + 1) / 2 + tj``)."""
    ti = int((math.sqrt(8.0 * p + 1.0) - 1.0) / 2.0)
    while ti * (ti + 1) // 2 > p:  # the float estimate may be off by one either way
        ti -= 1
    while (ti + 1) * (ti + 2) // 2 <= p:
        ti += 1
    return ti, p - ti * (ti + 1) // 2
