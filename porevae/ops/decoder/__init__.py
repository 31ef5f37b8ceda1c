"""The last stage of the VAE decoder, fused: 2x transposed convolution, SiLU, 3x3x3 convolution,
SiLU and a 1x1 convolution to one channel (:class:`porevae.vae.nets.Decoder` with one block per
stage, 3D)::

    t = silu(conv_transpose3d(x, Wt, bt, stride=2))   Wt (Ci, C, 2, 2, 2), t (N, C, 2P, 2Q, 2R)
    u = silu(conv3d(t, Wc, bc, padding=1))            Wc (C, C, 3, 3, 3),  u (N, C, 2P, 2Q, 2R)
    y = conv3d(u, Wo, bo)                             Wo (1, C, 1, 1, 1),  y (N, 1, 2P, 2Q, 2R)

for ``x`` (N, Ci, P, Q, R). It is the costliest part of generation (at 128^3 and C = 8, 7.8 of
the decoder's 19.4 GFLOP and two 67 MB full-resolution maps; torch runs it in 0.26 s of 0.38 s
on one core). The ``numba`` backend (host, float32/float64, no gradient, C a multiple of 4)
keeps ``t`` and ``u`` in cache (:mod:`.numba_cpu`); ``torch`` (:mod:`.reference`) is the layers
themselves, for any device, dtype, channel count and for autograd.

Floor per output voxel (:func:`flops`, :func:`bytes_moved`): 2 C (Ci + 27 C + 1) floating-point
operations; reads Ci / 8 input values and writes one output value (element size b).
"""

from __future__ import annotations

import torch

from porevae.ops import _dispatch
from porevae.ops.decoder import reference

OP = "decoder"
CHANNEL_BLOCK = 4
"""Output channels per pass of the numba kernel over a row; C must be a multiple of it."""

SLAB_BYTES = 1 << 25
"""Target bytes of a job's buffer planes in the numba kernel (see :func:`slab_planes`)."""

__all__ = ["CHANNEL_BLOCK", "bytes_moved", "decoder_head", "flops", "slab_planes",
           "workspace_bytes"]


def flops(x_shape, channels: int) -> int:
    """Floating-point operations of one call on ``x_shape`` (N, Ci, P, Q, R) with C channels."""
    n, ci, p, q, r = x_shape
    return 2 * channels * (ci + 27 * channels + 1) * n * 8 * p * q * r


def bytes_moved(x_shape, itemsize: int = 4) -> int:
    """Bytes the fused stage must move: read x, write y (the floor; t and u stay in cache)."""
    n, ci, p, q, r = x_shape
    return itemsize * n * p * q * r * (ci + 8)


def slab_planes(height: int, width: int, channels: int, itemsize: int = 4) -> int:
    """Output planes S per job of the numba kernel: ``clip(SLAB_BYTES // plane, 2, 8)``, a plane
    of the job's zero-bordered buffer being (height + 2) (width + 2) channels values."""
    plane = (height + 2) * (width + 2) * channels * itemsize
    return int(min(8, max(2, SLAB_BYTES // plane)))


def workspace_bytes(height: int, width: int, channels: int, itemsize: int = 4,
                    threads: int | None = None) -> int:
    """Bytes of the numba kernel's per-thread buffers for output planes of height x width
    voxels: (S + 2) buffer planes each (:func:`slab_planes`), ``threads`` (default torch's
    thread count) at a time."""
    threads = torch.get_num_threads() if threads is None else threads
    s = slab_planes(height, width, channels, itemsize)
    return threads * (s + 2) * (height + 2) * (width + 2) * channels * itemsize


def _check(x, weights):
    if not isinstance(x, torch.Tensor) or x.ndim != 5 or not x.is_floating_point():
        got = f"shape {tuple(x.shape)} {x.dtype}" if isinstance(x, torch.Tensor) else \
            type(x).__name__
        raise ValueError(f"x must be a floating-point (N, Ci, P, Q, R) tensor, got {got}")
    for name, w in weights.items():
        if not isinstance(w, torch.Tensor):
            raise TypeError(f"{name} must be a torch tensor, got {type(w).__name__}")
    ci = x.shape[1]
    c = weights["tconv_weight"].shape[1] if weights["tconv_weight"].ndim == 5 else -1
    want = {"tconv_weight": (ci, c, 2, 2, 2), "tconv_bias": (c,), "conv_weight": (c, c, 3, 3, 3),
            "conv_bias": (c,), "out_weight": (1, c, 1, 1, 1), "out_bias": (1,)}
    for name, w in weights.items():
        if tuple(w.shape) != want[name] or c < 1:
            raise ValueError(f"{name} must have shape {want[name]} for x with {ci} channels, "
                             f"got {tuple(w.shape)}")
        if w.dtype != x.dtype or w.device != x.device:
            raise TypeError(f"{name} must be {x.dtype} on {x.device} like x, got {w.dtype} on "
                            f"{w.device}")
    return c


def _supported(x, weights, c):
    """The backends this call can use, and why the others cannot."""
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (x, *weights.values()))
    reasons = []
    if x.is_cuda:
        reasons.append("on CUDA devices the reference's cuDNN convolutions run it")
    if x.dtype not in (torch.float32, torch.float64):
        reasons.append(f"the fused kernel is float32/float64 only, got {x.dtype}")
    if c % CHANNEL_BLOCK:
        reasons.append(f"the fused kernel needs a channel count divisible by {CHANNEL_BLOCK}, "
                       f"got {c}")
    if grad:
        reasons.append("the fused kernel has no backward; a gradient is required")
    return (("torch",), f" ({'; '.join(reasons)})") if reasons else (("numba", "torch"), "")


def decoder_head(x: torch.Tensor, tconv_weight: torch.Tensor, tconv_bias: torch.Tensor,
                 conv_weight: torch.Tensor, conv_bias: torch.Tensor, out_weight: torch.Tensor,
                 out_bias: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    """``conv1x1(silu(conv3(silu(tconv2(x)))))``: (N, Ci, P, Q, R) -> (N, 1, 2P, 2Q, 2R).

    Weights as ``nn.ConvTranspose3d(Ci, C, 2, stride=2)``, ``nn.Conv3d(C, C, 3, padding=1)`` and
    ``nn.Conv3d(C, 1, 1)`` hold them; every tensor of x's dtype and device. ``backend``: "auto"
    (``numba`` where it can run the call: a host tensor, float32/float64, C divisible by 4, no
    gradient; else ``torch``), "numba" or "torch". The result is contiguous and equals the layers'
    to float rounding (the sums run in another order).
    """
    weights = {"tconv_weight": tconv_weight, "tconv_bias": tconv_bias,
               "conv_weight": conv_weight, "conv_bias": conv_bias, "out_weight": out_weight,
               "out_bias": out_bias}
    c = _check(x, weights)
    supported, why = _supported(x, weights, c)
    module = _dispatch.resolve(OP, backend, x.is_cuda, supported, why)
    if module is reference:
        return reference.decoder_head(x, **weights)
    return module.decoder_head(x, **weights)
