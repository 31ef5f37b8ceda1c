"""Differentiable descriptors of (soft) media for the descriptor loss of the VAE family.

``S2`` of a soft image p in [0, 1] is ``E[p(x) p(x + r e_a)]``; for a binary image it is the
two-point correlation of :func:`porevae.media.two_point_correlation` along axis a (the
non-periodic, unbiased estimator: zero padding, each lag divided by its number of pairs).
For a soft image S2(0) = mean(p^2) <= mean(p), with equality only where p is 0 or 1, so matching
the data's S2(0) = porosity also drives the decoder's output to sharp (binary-like) values.
"""

from __future__ import annotations

from itertools import combinations

import torch

#: Temperature tau (logit units) of the gradient of :func:`porosity_cut`: the tempered cut goes
#: from 0.12 to 0.88 within +-2 tau of the threshold logit.
CUT_TEMPERATURE = 0.25


def porosity_cut(logits: torch.Tensor, porosity: float,
                 temperature: float = CUT_TEMPERATURE) -> torch.Tensor:
    """Exact-porosity cut of pore logits with the gradient of its tempered version.

    logits : (N, ...) tensor; porosity : float in (0, 1). t_n is sample n's threshold of the
    exact cut (the logit above which round(porosity V) of its V voxels lie). The value is that
    cut, the binary image ``generate(..., porosity=...)`` writes (so the descriptors of the
    loss are those of the generated rock, not of a blurred version with another S2(1) and
    hence another specific surface); the gradient is that of the tempered cut
    ``h = sigmoid((l - t_n) / tau)`` (straight-through), which reaches the decoder only within
    a few tau of each interface. The threshold moves with the logits as the cut's porosity
    constraint demands, ``dt_n / dl_x = w_x / sum_y w_y`` with ``w = h (1 - h)`` (the implicit
    derivative of ``sum_x h_x = const``): raising every logit of a sample by the same amount
    leaves the cut as it is, and the gradient has no component along that direction (which
    would only fight the reconstruction term).
    Returns a tensor like ``logits`` with values 0 and 1.
    """
    if not 0.0 < porosity < 1.0:
        raise ValueError(f"porosity must be in (0, 1), got {porosity}")
    n = logits.shape[0]
    flat = logits.detach().reshape(n, -1)
    solid = min(max(round((1.0 - porosity) * flat.shape[1]), 1), flat.shape[1] - 1)
    lo = flat.kthvalue(solid, dim=1).values
    hi = flat.kthvalue(solid + 1, dim=1).values
    shape = (-1, *([1] * (logits.ndim - 1)))
    t = (0.5 * (lo + hi)).reshape(shape)
    with torch.no_grad():
        h = torch.sigmoid((logits - t) / temperature)
        w = (h * (1.0 - h)).reshape(n, -1)
        w = w / w.sum(dim=1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)
    moved = (w * (logits - logits.detach()).reshape(n, -1)).sum(dim=1).reshape(shape)
    soft = torch.sigmoid((logits - (t + moved)) / temperature)
    return soft + ((logits.detach() > t).to(soft.dtype) - soft.detach())


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


def euler_density(p: torch.Tensor) -> torch.Tensor:
    """Euler characteristic per voxel of the pore space of each image, estimated from the
    windows inside the image, differentiable in p.

    p : (N, 1, *shape) or (N, *shape) tensor, values in [0, 1] (2D or 3D). Returns (N,)
    float64: ``chi_V = sum_j (-1)^j sum_{axes} mean_x cell_j(x)`` over the cells of the union of
    closed pore voxels (full adjacency, as :func:`porevae.media.euler_characteristic`), where
    the j-cell between the 2^(d-j) voxels of a window of 2 along d - j axes is present when
    any of them is pore, and each mean runs over the windows that lie inside the image. For a
    binary image this is the local (window-count) estimator of the Euler density of a
    stationary medium: unlike ``euler_characteristic(image) / image.size``, the pore space
    cut at the box does not bias it, so a 64^3 crop estimates what a 400^3 volume has. For a
    soft image each cell counts ``1 - prod s`` over its voxels, s = 1 - p.
    """
    if p.ndim >= 3 and p.shape[1] == 1:
        p = p[:, 0]
    d = p.ndim - 1
    if d not in (2, 3):
        raise ValueError(f"p must be a batch of 2D or 3D images, got shape {tuple(p.shape)}")
    solid = 1.0 - p.double()
    dims = tuple(range(1, d + 1))
    chi = torch.zeros(p.shape[0], dtype=torch.float64, device=p.device)
    for j in range(d + 1):  # j-cells: windows of 2 along d - j of the axes
        for axes in combinations(dims, d - j):
            prod = solid
            for a in axes:
                n = prod.shape[a]
                prod = prod.narrow(a, 0, n - 1) * prod.narrow(a, 1, n - 1)
            chi = chi + (-1) ** j * (1.0 - prod).mean(dim=dims)
    return chi
