"""Pure-PyTorch latent loss of a Gaussian encoder, ordinary autograd: the oracle and the baseline.

Same mathematics as the fused :func:`porevae.ops.vae_latent_loss`, written the way one would
without a custom kernel. Shapes: ``mu``, ``logvar``, ``eps`` (N, ...) (a vector (N, d) or a latent
map (N, C, *s)); returns ``z`` (N, ...) and the per-sample ``kl`` (N,), the sum over the latent
elements, and ``fisher`` (N,), the mean over them.
"""

from __future__ import annotations

import torch

from porevae.ops._choices import LOGVAR_RANGE

LOGVAR_LIMIT = 80.0
"""|logvar| bound of any clamp range: sigma^2 and 1/sigma^2 stay finite in float32 (e^80)."""

FISHER_SCALE = {"location": 1.0, "location+scale": 3.0, "mc": 1.0}
"""Multiplier of (1/d) sum w_j / sigma_j^2 (w_j = 1, or eps_j^2 for "mc")."""


def vae_latent_loss(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor,
                    fisher: str = "location", logvar_range=LOGVAR_RANGE):
    """Reparameterized sample, KL to N(0, I) and Fisher term, by plain autograd.

    ``lv = clamp(logvar, *logvar_range)`` (``torch.clamp``: gradient zero outside the range),
    ``sigma = exp(lv / 2)``, ``z = mu + sigma * eps``, ``kl = 1/2 sum_j (mu^2 + sigma^2 - 1 - lv)``,
    ``fisher = (c/d) sum_j w_j / sigma^2`` (see :data:`FISHER_SCALE`). ``eps`` is treated as a
    constant (detached). bfloat16/float16 inputs are computed in float32; ``z`` is returned in the
    input dtype, ``kl`` and ``fisher`` in float32.
    """
    out_dtype = mu.dtype
    if out_dtype in (torch.float16, torch.bfloat16):
        mu, logvar, eps = mu.float(), logvar.float(), eps.float()
    eps = eps.detach()
    lv = torch.clamp(logvar, *logvar_range)
    std = torch.exp(0.5 * lv)
    z = mu + std * eps
    var = std * std
    dims = tuple(range(1, mu.ndim))
    kl = 0.5 * (mu * mu + var - 1.0 - lv).sum(dim=dims)
    inv_var = 1.0 / var
    if fisher == "mc":
        inv_var = eps * eps * inv_var
    f = FISHER_SCALE[fisher] * inv_var.mean(dim=dims)
    return z.to(out_dtype), kl, f


def status() -> dict:
    return {"available": True, "reason": f"torch {torch.__version__}"}
