"""Differentiable descriptors of (soft) media for the descriptor loss of the VAE family.

``S2`` of a soft image p in [0, 1] is ``E[p(x) p(x + r e_a)]``; for a binary image it is the
two-point correlation of :func:`porevae.media.two_point_correlation` along axis a (the
non-periodic, unbiased estimator: zero padding, each lag divided by its number of pairs).
For a soft image S2(0) = mean(p^2) <= mean(p), with equality only where p is 0 or 1, so matching
the data's S2(0) = porosity also drives the decoder's output to sharp (binary-like) values.
"""

from __future__ import annotations

import torch


def s2_axes(p: torch.Tensor, r_max: int) -> torch.Tensor:
    """Two-point correlation along each spatial axis, averaged over the axes.

    p : (N, 1, *shape) or (N, *shape) tensor (float), values in [0, 1].
    Returns (N, r_max + 1), lags 0..r_max voxels (r_max < every axis length): for each axis a,
    ``sum_x p(x) p(x + r e_a) / (number of pairs)`` by a zero-padded real FFT along that axis;
    differentiable in p.
    """
    if p.ndim >= 3 and p.shape[1] == 1:
        p = p[:, 0]
    dims = list(range(1, p.ndim))
    if r_max >= min(p.shape[d] for d in dims):
        raise ValueError(f"r_max must be < every axis length {tuple(p.shape[1:])}, got {r_max}")
    p = p.float()
    out = 0.0
    for d in dims:
        n = p.shape[d]
        m = n + r_max  # zero padding: no wrap-around up to lag r_max
        f = torch.fft.rfft(p, n=m, dim=d)
        ac = torch.fft.irfft(f.real**2 + f.imag**2, n=m, dim=d).narrow(d, 0, r_max + 1)
        others = [e for e in dims if e != d]
        total = ac.sum(dim=others) if others else ac
        pairs = (n - torch.arange(r_max + 1, device=p.device, dtype=p.dtype))
        for e in others:
            pairs = pairs * p.shape[e]
        out = out + total / pairs
    return out / len(dims)
