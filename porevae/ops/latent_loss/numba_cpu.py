"""Numba CPU backend of the fused latent loss (forward and backward, one pass each).

Arrays are C-contiguous (N, d) rows of one latent vector each, float32 or float64 (float32 math
for float32 data). Rows are spread over threads (``prange``, see :data:`GRAIN`); each row is one
vectorised loop.
``exp`` is evaluated by :func:`porevae.ops._numba_math.exp_poly` (Cody-Waite reduction + Chebyshev
polynomial + exponent bits), which LLVM vectorises; it is exact to ~1 ulp for |x| <= 40, the
range that the logvar clamp (|logvar| <= 80) guarantees. Fast-math flags exclude
``nnan``/``ninf``: NaN in gives NaN out.

Forward:  lv = clamp(logvar, lo, hi), s = exp(lv/2), z = mu + s eps,
          kl = 1/2 sum_j (mu^2 + s^2 - 1 - lv), fisher = coef sum_j w_j / s^2
          (w = eps^2 if ``mc`` else 1; coef = c/d, c = 3 for "location+scale", else 1).
Backward: gmu = gz + gkl mu,
          glv = [lo <= logvar <= hi] (gz s eps / 2 + gkl (s^2 - 1) / 2 - gf coef w / s^2).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from porevae._threads import numba_threads, start_numba_threads
from porevae.ops._common import empty
from porevae.ops._numba_math import FASTMATH
from porevae.ops._numba_math import exp_poly as _exp

start_numba_threads()

GRAIN = 1 << 19
"""Elements per thread: a pass over n elements uses min(numba threads, max(1, n // GRAIN)).

One thread does a pass over 1M float32 elements in 0.6-0.9 ms. At 1M elements two threads make
forward + backward 3.6-3.7x the minimal torch version on the 8 x 8 x 32 x 32 x 16 latent map
against 2.4x on one thread (bench/RESULTS.md, 2026-12-01). The cost: when the other core is busy,
a two-thread pass waits for it (~8 ms measured on the loaded 2-core machine), as torch's own
two-thread kernels do; below 1M elements one thread is kept.
"""


@nb.njit(inline="always", fastmath=FASTMATH)
def _forward_row(i, mu, logvar, eps, z, kl, fisher, lo, hi, coef, mc):
    # branch-free body (np.minimum/np.maximum, mc as a 0/1 weight): LLVM vectorises the j loop
    half = mu.dtype.type(0.5)
    one = mu.dtype.type(1.0)
    wmc = mu.dtype.type(1.0 if mc else 0.0)
    wone = one - wmc
    skl = mu.dtype.type(0.0)
    sf = mu.dtype.type(0.0)
    for j in range(mu.shape[1]):
        m = mu[i, j]
        e = eps[i, j]
        lv = np.minimum(np.maximum(logvar[i, j], lo), hi)  # torch.clamp: NaN stays NaN
        s = _exp(half * lv)
        z[i, j] = m + s * e
        v = s * s
        skl += m * m + v - one - lv
        sf += (wmc * e * e + wone) / v
    kl[i] = half * skl
    fisher[i] = coef * sf


@nb.njit(inline="always", fastmath=FASTMATH)
def _backward_row(i, mu, logvar, eps, gz, gkl, gfisher, gmu, glogvar, lo, hi, coef, mc):
    half = mu.dtype.type(0.5)
    one = mu.dtype.type(1.0)
    zero = mu.dtype.type(0.0)
    wmc = mu.dtype.type(1.0 if mc else 0.0)
    wone = one - wmc
    gk = gkl[i]
    hk = half * gk
    cf = coef * gfisher[i]
    for j in range(mu.shape[1]):
        m = mu[i, j]
        e = eps[i, j]
        g = gz[i, j]
        raw = logvar[i, j]
        s = _exp(half * np.minimum(np.maximum(raw, lo), hi))
        v = s * s
        gmu[i, j] = g + gk * m
        dl = half * s * e * g + hk * (v - one) - cf * (wmc * e * e + wone) / v
        glogvar[i, j] = dl if (raw >= lo) & (raw <= hi) else zero  # torch.clamp's gradient mask


@nb.njit(parallel=True, fastmath=FASTMATH, cache=True)
def _forward_parallel(mu, logvar, eps, z, kl, fisher, lo, hi, coef, mc):
    for i in nb.prange(mu.shape[0]):
        _forward_row(i, mu, logvar, eps, z, kl, fisher, lo, hi, coef, mc)


@nb.njit(parallel=True, fastmath=FASTMATH, cache=True)
def _backward_parallel(mu, logvar, eps, gz, gkl, gfisher, gmu, glogvar, lo, hi, coef, mc):
    for i in nb.prange(mu.shape[0]):
        _backward_row(i, mu, logvar, eps, gz, gkl, gfisher, gmu, glogvar, lo, hi, coef, mc)


def _threads(n_elements):
    """Run the enclosed kernel on ``min(numba threads, max(1, n_elements // GRAIN))`` threads."""
    return numba_threads(n_elements // GRAIN)


def latent_forward(mu, logvar, eps, z, kl, fisher, lo, hi, coef, mc):
    """Fill ``z`` (N, d), ``kl`` (N,), ``fisher`` (N,) from ``mu``, ``logvar``, ``eps`` (N, d).

    All arrays C-contiguous of one dtype (float32 or float64); ``lo``, ``hi`` (clamp of logvar)
    and ``coef`` (c/d) are cast to that dtype; ``mc``: Fisher weights eps^2 instead of 1.
    """
    t = mu.dtype.type
    with _threads(mu.size):
        _forward_parallel(mu, logvar, eps, z, kl, fisher, t(lo), t(hi), t(coef), bool(mc))


def latent_backward(mu, logvar, eps, gz, gkl, gfisher, gmu, glogvar, lo, hi, coef, mc):
    """Fill ``gmu``, ``glogvar`` (N, d) from the saved inputs and the output gradients.

    ``gz`` (N, d), ``gkl`` (N,), ``gfisher`` (N,); same conventions as :func:`latent_forward`.
    """
    t = mu.dtype.type
    with _threads(mu.size):
        _backward_parallel(mu, logvar, eps, gz, gkl, gfisher, gmu, glogvar, t(lo), t(hi),
                           t(coef), bool(mc))


# ---- the backend interface (same names in every backend module) ----------------------------------
def status() -> dict:
    return {"available": True, "reason": f"numba {nb.__version__} on the host"}


def forward(mu, logvar, eps, lo, hi, coef, mc):
    """``(z, kl, fisher)`` of C-contiguous float32/float64 CPU tensors (N, D)."""
    n = mu.shape[0]
    z = empty(mu.shape, mu.dtype, "cpu")  # NumPy's allocation: huge pages, fewer page faults
    kl = mu.new_empty(n)
    fisher = mu.new_empty(n)
    latent_forward(mu.numpy(), logvar.numpy(), eps.numpy(), z.numpy(), kl.numpy(),
                   fisher.numpy(), lo, hi, coef, mc)
    return z, kl, fisher


def backward(mu, logvar, eps, gz, gkl, gfisher, lo, hi, coef, mc):
    """``(gmu, glogvar)`` (N, D) from the saved inputs and the output gradients."""
    gmu = empty(mu.shape, mu.dtype, "cpu")
    glogvar = empty(mu.shape, mu.dtype, "cpu")
    latent_backward(mu.numpy(), logvar.numpy(), eps.numpy(), gz.numpy(), gkl.numpy(),
                    gfisher.numpy(), gmu.numpy(), glogvar.numpy(), lo, hi, coef, mc)
    return gmu, glogvar
