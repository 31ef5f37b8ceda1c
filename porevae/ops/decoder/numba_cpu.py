"""Numba CPU backend of the fused last decoder stage (no gradient).

Work: one job per sample and slab of ``S`` output planes (:func:`porevae.ops.decoder.slab_planes`),
the jobs dealt round-robin to the threads (``prange`` over threads, each with its own buffers,
allocated once per call: no page faults per job). The transposed convolution and its SiLU fill
``S + 2`` full-resolution planes of the buffer ``t`` laid out (plane, row, channel, column) with a
zero border; the 3x3x3 convolution, its SiLU and the 1x1 convolution then run row by row, so an
output row's working set (nine rows of C x (W + 2) values and C x W accumulators: 40 kB at C = 8,
W = 128) stays in the core's L1/L2 cache, and the two full-resolution C-channel maps never reach
memory. Each input row is first copied into a contiguous (Ci, R) buffer, so ``x`` may have any
strides (contiguous or channels-last).

Vectorisation: every inner loop runs along a row's columns, which LLVM vectorises (AVX-512: 16
float32 lanes); each pass over a row updates four output channels from one input channel and the
three column taps at once (12 fused multiply-adds per three loads, four loads and four stores of
accumulators), which keeps the convolution bound by the multiply-add units rather than the
stores: 82-90 GFLOP/s on one Zen 4 core against oneDNN's 41 for the 8-channel layer
(bench/RESULTS.md). The channel count C must be a multiple of 4 (``CHANNEL_BLOCK``).

SiLU is ``v / (1 + exp(-v))`` with ``exp`` by :func:`porevae.ops._numba_math.exp_poly`, its
argument clamped to [-80, 80] (beyond, ``exp(-v)`` is below the resolution of 1, or the result
is within 1e-33 of 0). Threads: ``min(torch.get_num_threads(), numba threads)``, so the stage
follows the thread count of the torch layers around it.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import torch

from porevae._threads import numba_threads, start_numba_threads
from porevae.ops._numba_math import FASTMATH
from porevae.ops._numba_math import exp_poly as _exp
from porevae.ops.decoder import CHANNEL_BLOCK, slab_planes

assert CHANNEL_BLOCK == 4  # the passes below are unrolled over four output channels
start_numba_threads()

@nb.njit(inline="always", fastmath=FASTMATH)
def _silu(v, one, cap):
    return v / (one + _exp(min(max(-v, -cap), cap)))


@nb.njit(fastmath=FASTMATH, cache=True)
def _tconv_row(xr, wt, bt, sd, sh, even, odd):
    """``even``/``odd`` (C, R): the transposed convolution of one input row ``xr`` (Ci, R) at the
    output columns 2r and 2r + 1 of output row (2p + sd, 2q + sh); wt (2, 2, 2, Ci, C)."""
    c_out, r_len = even.shape
    for co in range(0, c_out, 4):
        for k in range(4):
            for r in range(r_len):
                even[co + k, r] = bt[co + k]
                odd[co + k, r] = bt[co + k]
        for ci in range(xr.shape[0]):
            xc = xr[ci]
            e0, e1, e2, e3 = wt[sd, sh, 0, ci, co], wt[sd, sh, 0, ci, co + 1], \
                wt[sd, sh, 0, ci, co + 2], wt[sd, sh, 0, ci, co + 3]
            o0, o1, o2, o3 = wt[sd, sh, 1, ci, co], wt[sd, sh, 1, ci, co + 1], \
                wt[sd, sh, 1, ci, co + 2], wt[sd, sh, 1, ci, co + 3]
            te0, te1, te2, te3 = even[co], even[co + 1], even[co + 2], even[co + 3]
            to0, to1, to2, to3 = odd[co], odd[co + 1], odd[co + 2], odd[co + 3]
            for r in range(r_len):
                v = xc[r]
                te0[r] += e0 * v
                te1[r] += e1 * v
                te2[r] += e2 * v
                te3[r] += e3 * v
                to0[r] += o0 * v
                to1[r] += o1 * v
                to2[r] += o2 * v
                to3[r] += o3 * v


@nb.njit(fastmath=FASTMATH, cache=True)
def _conv_row(t, i, hh, wc, bc, acc):
    """``acc`` (C, W): the 3x3x3 convolution at output row ``hh`` of buffer plane ``i + 1``
    (input planes i..i+2, rows hh..hh+2 of the zero-bordered buffer); wc (3, 3, C, C, 3) =
    (kd, kh, c_in, c_out, kw)."""
    c_out, w_len = acc.shape
    for co in range(0, c_out, 4):
        for k in range(4):
            for w in range(w_len):
                acc[co + k, w] = bc[co + k]
        a0, a1, a2, a3 = acc[co], acc[co + 1], acc[co + 2], acc[co + 3]
        for kd in range(3):
            for kh in range(3):
                for ci in range(t.shape[2]):
                    xr = t[i + kd, hh + kh, ci]
                    g = wc[kd, kh, ci]
                    l0, m0, r0 = g[co, 0], g[co, 1], g[co, 2]
                    l1, m1, r1 = g[co + 1, 0], g[co + 1, 1], g[co + 1, 2]
                    l2, m2, r2 = g[co + 2, 0], g[co + 2, 1], g[co + 2, 2]
                    l3, m3, r3 = g[co + 3, 0], g[co + 3, 1], g[co + 3, 2]
                    for w in range(w_len):
                        xl, xm, xn = xr[w], xr[w + 1], xr[w + 2]
                        a0[w] += l0 * xl + m0 * xm + r0 * xn
                        a1[w] += l1 * xl + m1 * xm + r1 * xn
                        a2[w] += l2 * xl + m2 * xm + r2 * xn
                        a3[w] += l3 * xl + m3 * xm + r3 * xn


@nb.njit(parallel=True, fastmath=FASTMATH, cache=True)
def _head(x, wt, bt, wc, bc, wo, bo, out, slab, threads):
    """Thread ``k`` of ``threads`` runs jobs k, k + threads, ... (a job: one sample, ``slab``
    output planes) in its own buffers, allocated and zero-bordered once per call."""
    n_batch, c_in, p_len, q_len, r_len = x.shape
    c = bt.shape[0]
    d_len, h_len, w_len = 2 * p_len, 2 * q_len, 2 * r_len
    one = out.dtype.type(1.0)
    cap = out.dtype.type(80.0)
    zero = out.dtype.type(0.0)
    slabs = (d_len + slab - 1) // slab
    for k in nb.prange(threads):
        t = np.zeros((slab + 2, h_len + 2, c, w_len + 2), out.dtype)  # borders stay zero
        xr = np.empty((c_in, r_len), out.dtype)
        even = np.empty((c, r_len), out.dtype)
        odd = np.empty((c, r_len), out.dtype)
        acc = np.empty((c, w_len), out.dtype)
        for job in range(k, n_batch * slabs, threads):
            n = job // slabs
            d0 = (job % slabs) * slab
            d1 = min(d_len, d0 + slab)
            for i in range(d1 - d0 + 2):
                dd = d0 - 1 + i
                if dd < 0 or dd >= d_len:
                    t[i] = zero
                    continue
                for hh in range(h_len):
                    if hh & 1 == 0:  # a new input row: copy it
                        for ci in range(c_in):  # (any layout in, a contiguous row out)
                            for r in range(r_len):
                                xr[ci, r] = x[n, ci, dd >> 1, hh >> 1, r]
                    _tconv_row(xr, wt, bt, dd & 1, hh & 1, even, odd)
                    row = t[i, hh + 1]
                    for co in range(c):
                        for r in range(r_len):
                            row[co, 1 + 2 * r] = _silu(even[co, r], one, cap)
                            row[co, 2 + 2 * r] = _silu(odd[co, r], one, cap)
            for dd in range(d0, d1):
                for hh in range(h_len):
                    _conv_row(t, dd - d0, hh, wc, bc, acc)
                    y = out[n, 0, dd, hh]
                    for w in range(w_len):
                        y[w] = bo
                    for co in range(c):
                        g = wo[co]
                        for w in range(w_len):
                            y[w] += g * _silu(acc[co, w], one, cap)


# ---- the backend interface (same names in every backend module) ----------------------------------
def status() -> dict:
    return {"available": True, "reason": f"numba {nb.__version__} on the host"}


def decoder_head(x, tconv_weight, tconv_bias, conv_weight, conv_bias, out_weight, out_bias):
    """(N, 1, 2P, 2Q, 2R) from float32/float64 CPU tensors (x in any strided layout, e.g.
    channels-last: each input row is copied into a contiguous buffer; no gradient)."""
    n, _, p, q, r = x.shape
    c = tconv_weight.shape[1]
    out = torch.empty((n, 1, 2 * p, 2 * q, 2 * r), dtype=x.dtype)
    if out.numel() == 0:
        return out
    with torch.no_grad():
        wt = tconv_weight.permute(2, 3, 4, 0, 1).contiguous().numpy()
        wc = conv_weight.permute(2, 3, 1, 0, 4).contiguous().numpy()
        bt, bc = tconv_bias.contiguous().numpy(), conv_bias.contiguous().numpy()
        wo = out_weight.reshape(-1).contiguous().numpy()
        bo = x.numpy().dtype.type(out_bias.item())
        slab = min(2 * p, slab_planes(2 * q, 2 * r, c, x.element_size()))
        with numba_threads(torch.get_num_threads()):
            threads = min(nb.get_num_threads(), n * -(-2 * p // slab))
            _head(x.numpy(), wt, bt, wc, bc, wo, bo, out.numpy(), slab, threads)
    return out
