"""Pure-PyTorch versions of every custom kernel: the oracle in tests and the baseline in bench/.

Written the way one would without custom kernels (``torch.cdist`` + element-wise formula, ordinary
autograd), on any device torch supports.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from porevae.covariance import CovarianceModel


def correlation_torch(model: CovarianceModel, r: torch.Tensor) -> torch.Tensor:
    """``rho(r)`` of ``model`` on a tensor of scaled distances (in place where possible)."""
    code = model.kernel_code
    if code == 0:
        return r.neg_().exp_()
    if code == 1:
        return r.square_().mul_(-model.kernel_param).exp_()
    if code == 2:
        s = r.mul_(math.sqrt(3.0))
        return (1.0 + s) * torch.exp(-s)
    if code == 3:
        s = r.mul_(math.sqrt(5.0))
        return (1.0 + s + s * s / 3.0) * torch.exp(-s)
    # general Matern: no torch Bessel K_nu, evaluate the formula through SciPy on the host
    vals = model.correlation(r.detach().cpu().double().numpy())
    return torch.from_numpy(np.ascontiguousarray(vals)).to(device=r.device, dtype=r.dtype)


def _scaled(points: torch.Tensor, model: CovarianceModel) -> torch.Tensor:
    ls = torch.as_tensor(model.length_scales(points.shape[-1]), dtype=points.dtype,
                         device=points.device)
    return points / ls


def covariance_matrix(points: torch.Tensor, model: CovarianceModel,
                      points_b: torch.Tensor | None = None) -> torch.Tensor:
    """Dense covariance ``C[i, j] = C(x_i - y_j)``: (n, d), (m, d) -> (n, m), dtype of ``points``."""
    a = _scaled(points, model)
    b = a if points_b is None else _scaled(points_b, model)
    p = 2.0 if model.metric == "euclidean" else 1.0
    r = torch.cdist(a, b, p=p, compute_mode="donot_use_mm_for_euclid_dist")
    return correlation_torch(model, r).mul_(model.variance)


def covariance_matvec(points: torch.Tensor, model: CovarianceModel, x: torch.Tensor,
                      tile: int = 2048) -> torch.Tensor:
    """``C @ x`` for (n, d) points and x of shape (n, k), ``tile`` rows of C at a time."""
    out = torch.empty_like(x)
    for start in range(0, points.shape[0], tile):
        block = covariance_matrix(points[start:start + tile], model, points)
        out[start:start + tile] = block @ x
    return out
