"""Numba CUDA backend of the fused latent loss: the fallback when ``porevae._cuda`` lacks it.

Same mathematics as :mod:`porevae.ops.latent_loss.numba_cpu` and
``csrc/ops/cuda/latent_loss_kernel.cuh``.
A block of ``(WARP, ROWS)`` threads owns ``ROWS`` rows; the 32 threads of a row stride over it
(coalesced) and reduce KL and the Fisher term through shared memory (float64 partial sums; no warp
shuffles, so that the kernels also run under ``NUMBA_ENABLE_CUDASIM=1``, which is how CI tests
them).
float32 and float64 storage and arithmetic; float16/bfloat16 inputs are upcast by the caller.
The wrappers take torch tensors (CUDA, or CPU under the simulator) and launch on torch's stream.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import cuda, float64

from porevae.ops.covariance.numba_cuda import _stream, simulator, status
from porevae.ops.covariance.numba_cuda import array as _arr

WARP = 32
ROWS = 4  # rows per block

__all__ = ["backward", "forward", "simulator", "status"]


@cuda.jit
def _forward_kernel(mu, logvar, eps, z, kl, fisher, lo, hi, coef, mc):
    part = cuda.shared.array((2, ROWS, WARP), float64)
    lane = cuda.threadIdx.x
    r = cuda.threadIdx.y
    row = cuda.blockIdx.x * ROWS + r
    n = mu.shape[0]
    d = mu.shape[1]
    t = mu.dtype.type
    half = t(0.5)
    one = t(1.0)
    wmc = one if mc else t(0.0)
    wone = one - wmc
    skl = t(0.0)
    sf = t(0.0)
    if row < n:
        for j in range(lane, d, WARP):
            m = mu[row, j]
            e = eps[row, j]
            lv = logvar[row, j]
            # not min/max: those drop NaN on the device, torch.clamp keeps it
            lv = lo if lv < lo else (hi if lv > hi else lv)  # noqa: FURB136
            s = math.exp(half * lv)
            z[row, j] = m + s * e
            v = s * s
            skl += m * m + v - one - lv
            sf += (wmc * e * e + wone) / v
    part[0, r, lane] = skl
    part[1, r, lane] = sf
    cuda.syncthreads()
    step = WARP // 2
    while step > 0:
        if lane < step:
            part[0, r, lane] += part[0, r, lane + step]
            part[1, r, lane] += part[1, r, lane + step]
        cuda.syncthreads()
        step //= 2
    if lane == 0 and row < n:
        kl[row] = half * part[0, r, 0]
        fisher[row] = coef * part[1, r, 0]


@cuda.jit
def _backward_kernel(mu, logvar, eps, gz, gkl, gfisher, gmu, glogvar, lo, hi, coef, mc):
    row = cuda.blockIdx.x * ROWS + cuda.threadIdx.y
    if row >= mu.shape[0]:
        return
    t = mu.dtype.type
    half = t(0.5)
    one = t(1.0)
    wmc = one if mc else t(0.0)
    wone = one - wmc
    gk = gkl[row]
    hk = half * gk
    cf = coef * gfisher[row]
    for j in range(cuda.threadIdx.x, mu.shape[1], WARP):
        m = mu[row, j]
        e = eps[row, j]
        g = gz[row, j]
        raw = logvar[row, j]
        lv = lo if raw < lo else (hi if raw > hi else raw)  # noqa: FURB136 (keeps NaN)
        s = math.exp(half * lv)
        v = s * s
        gmu[row, j] = g + gk * m
        dl = half * s * e * g + hk * (v - one) - cf * (wmc * e * e + wone) / v
        glogvar[row, j] = dl if (raw >= lo and raw <= hi) else t(0.0)


def _scalars(dtype, lo, hi, coef):
    t = np.float64 if dtype == torch.float64 else np.float32
    return t(lo), t(hi), t(coef)


def forward(mu, logvar, eps, lo, hi, coef, mc):
    """z (N, d), kl (N,), fisher (N,) of C-contiguous float32/float64 tensors (N, d)."""
    n = mu.shape[0]
    z = torch.empty_like(mu)
    kl = mu.new_empty(n)
    fisher = mu.new_empty(n)
    if n:
        blocks = (n + ROWS - 1) // ROWS
        _forward_kernel[blocks, (WARP, ROWS), _stream()](
            _arr(mu), _arr(logvar), _arr(eps), _arr(z), _arr(kl), _arr(fisher),
            *_scalars(mu.dtype, lo, hi, coef), bool(mc))
    return z, kl, fisher


def backward(mu, logvar, eps, gz, gkl, gfisher, lo, hi, coef, mc):
    """(gmu, glogvar), (N, d), from the saved inputs and the gradients of z, kl and fisher."""
    n = mu.shape[0]
    gmu = torch.empty_like(mu)
    glogvar = torch.empty_like(mu)
    if n:
        blocks = (n + ROWS - 1) // ROWS
        _backward_kernel[blocks, (WARP, ROWS), _stream()](
            _arr(mu), _arr(logvar), _arr(eps), _arr(gz.to(mu.dtype)), _arr(gkl.to(mu.dtype)),
            _arr(gfisher.to(mu.dtype)), _arr(gmu), _arr(glogvar),
            *_scalars(mu.dtype, lo, hi, coef), bool(mc))
    return gmu, glogvar
