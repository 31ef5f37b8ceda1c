"""The fused latent loss of a Gaussian encoder: reparameterized sample, KL and Fisher term.

:func:`vae_latent_loss` is the public entry point (``porevae.ops.vae_latent_loss``). Its fused
backends (``numba_cpu``, ``numba_cuda``, ``cuda`` beside this file) run :class:`FusedLatentLoss`
(a ``torch.autograd.Function``: one pass forward, one pass backward); ``backend="torch"`` is the
plain-autograd :func:`.reference.vae_latent_loss`.

The latent is a vector (N, d) or a spatial map (N, C, *s) in any dense layout (contiguous or
channels-last): per-sample sums and means do not depend on the order of a sample's elements, so
the kernels run on the storage as it is, without a copy, and ``z`` comes back in the layout of
``mu``.

Bytes moved (element size b, N x D elements, D per sample): forward reads mu, logvar, eps and
writes z (4 N D b, plus 2 N b for kl and fisher); backward reads mu, logvar, eps and the gradient
of z and writes the gradients of mu and logvar (6 N D b, plus 2 N b). Backward saves only the
inputs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from porevae._validation import check_choice
from porevae.ops import _dispatch
from porevae.ops._choices import FISHER_FORMS, LOGVAR_RANGE
from porevae.ops.latent_loss import reference
from porevae.ops.latent_loss.reference import FISHER_SCALE, LOGVAR_LIMIT

OP = "latent_loss"
_HALF = (torch.float16, torch.bfloat16)

__all__ = ["FISHER_FORMS", "LOGVAR_LIMIT", "LOGVAR_RANGE", "FusedLatentLoss", "bytes_moved",
           "vae_latent_loss"]


class FusedLatentLoss(torch.autograd.Function):
    """``(mu, logvar, eps, module, lo, hi, coef, mc) -> (z, kl, fisher)``, one pass each way.

    Inputs: C-contiguous (N, D) tensors of one dtype and device; ``module`` the backend module
    (its ``forward``/``backward``). Saves mu, logvar and eps for the backward (no intermediate);
    ``eps`` gets no gradient; not twice differentiable.
    """

    @staticmethod
    def forward(ctx, mu, logvar, eps, module, lo, hi, coef, mc):
        z, kl, fisher = module.forward(mu, logvar, eps, lo, hi, coef, mc)
        ctx.save_for_backward(mu, logvar, eps)
        ctx.args = (module, lo, hi, coef, mc)
        return z, kl, fisher

    @staticmethod
    @once_differentiable
    def backward(ctx, gz, gkl, gfisher):
        mu, logvar, eps = ctx.saved_tensors
        module, lo, hi, coef, mc = ctx.args
        gmu, glogvar = module.backward(mu, logvar, eps, gz.contiguous(), gkl.contiguous(),
                                       gfisher.contiguous(), lo, hi, coef, mc)
        return gmu, glogvar, None, None, None, None, None, None


def _check_inputs(mu, logvar, eps):
    tensors = {"mu": mu, "logvar": logvar, "eps": eps}
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch tensor or NumPy array, got "
                            f"{type(t).__name__}")
        if t.ndim < 2:
            raise ValueError(f"{name} must be (N, d) or a latent map (N, C, ...), got shape "
                             f"{tuple(t.shape)}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be floating point, got {t.dtype}")
    for name in ("logvar", "eps"):
        t = tensors[name]
        if t.shape != mu.shape:
            raise ValueError(f"{name} must have the shape of mu {tuple(mu.shape)}, got "
                             f"{tuple(t.shape)}")
        if t.dtype != mu.dtype:
            raise TypeError(f"{name} must have the dtype of mu ({mu.dtype}), got {t.dtype}")
        if t.device != mu.device:
            raise ValueError(f"{name} must be on the device of mu ({mu.device}), got {t.device}")
    if mu[0].numel() < 1:
        raise ValueError(f"mu must have at least one latent element per sample, got shape "
                         f"{tuple(mu.shape)}")


def _check_range(logvar_range):
    try:
        lo, hi = (float(v) for v in logvar_range)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"logvar_range must be a pair (low, high), got {logvar_range!r}") \
            from exc
    if not (-LOGVAR_LIMIT <= lo < hi <= LOGVAR_LIMIT):
        raise ValueError(f"logvar_range must satisfy -{LOGVAR_LIMIT:g} <= low < high <= "
                         f"{LOGVAR_LIMIT:g}, got {logvar_range!r}")
    return lo, hi


def _storage_order(t: torch.Tensor):
    """The axis permutation under which ``t`` is C-contiguous with the batch axis first
    (``None`` when there is none: then a contiguous copy is used)."""
    if t.is_contiguous():
        return tuple(range(t.ndim))
    strides = t.stride()
    rest = sorted(range(1, t.ndim), key=lambda a: (-strides[a], a))
    perm = (0, *rest)
    return perm if t.permute(perm).is_contiguous() else None


def _rows(t: torch.Tensor, perm) -> torch.Tensor:
    """(N, D) C-contiguous view of ``t`` in storage order (a copy only for a sparse layout)."""
    if t.ndim == 2 and perm == (0, 1):
        return t.contiguous()
    if perm != tuple(range(t.ndim)):
        t = t.permute(perm)
    return t.reshape(t.shape[0], -1).contiguous()


def vae_latent_loss(mu, logvar, eps, fisher: str = "location", backend: str = "auto", *,
                    logvar_range=LOGVAR_RANGE):
    """Reparameterized sample, per-sample KL to N(0, I) and per-sample Fisher information.

    Parameters
    ----------
    mu, logvar, eps : tensors (N, d) or latent maps (N, C, *s)
        Encoder mean, log-variance (natural log of sigma^2) and standard-normal noise; one shape,
        dtype (float32, float64; float16/bfloat16 are computed in float32) and device. Any dense
        layout (contiguous, channels-last) is used as it is. NumPy arrays are accepted (NumPy
        out, no gradient).
    fisher : {"location", "location+scale", "mc"}
        ``F = (1/D) sum_j 1/sigma_j^2`` (I(mu) of each latent element, averaged over the D
        elements of a sample), ``(1/D) sum_j 3/sigma_j^2`` (trace over (mu_j, sigma_j): I(mu) +
        I(sigma) = 1/sigma^2 + 2/sigma^2), or the one-sample estimator ``(1/D) sum_j
        eps_j^2/sigma_j^2`` whose mean is the location form.
    backend : {"auto", "numba", "torch", "cuda", "numba_cuda"}
        "auto": "numba" on the host; for CUDA tensors "cuda" when ``porevae._cuda`` has the
        kernels, else "numba_cuda" when numba.cuda works, else "torch" (the plain-autograd
        reference).
    logvar_range : (low, high), keyword-only, default (-6, 2)
        logvar is clamped to [low, high] inside the loss, as ``torch.clamp``: values outside get
        zero gradient (the boundaries themselves keep theirs). Any range within [-80, 80].

    Returns
    -------
    z : shape and layout of ``mu``, ``mu + exp(lv/2) * eps`` with ``lv = clamp(logvar)``.
    kl : (N,), ``1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - lv_j)`` over the D elements of a sample.
    fisher : (N,), the chosen Fisher form.
    kl and fisher have the input dtype, float32 for float16/bfloat16 inputs (accumulated in
    float32). Gradients flow to mu and logvar; eps is a constant (no gradient).
    """
    is_numpy = isinstance(mu, np.ndarray)
    if is_numpy:
        mu, logvar, eps = (torch.from_numpy(np.ascontiguousarray(a))
                           if isinstance(a, np.ndarray) else a for a in (mu, logvar, eps))
    _check_inputs(mu, logvar, eps)
    check_choice(fisher, "fisher", FISHER_FORMS)
    lo, hi = _check_range(logvar_range)
    module = _dispatch.resolve(OP, backend, mu.is_cuda)
    if module is reference:
        out = reference.vae_latent_loss(mu, logvar, eps, fisher, (lo, hi))
    else:
        dtype = mu.dtype
        if dtype in _HALF and not module.__name__.endswith(".cuda"):  # Numba: float32 math
            mu, logvar, eps = mu.float(), logvar.float(), eps.float()
        perm = _storage_order(mu)
        if perm is None or _storage_order(logvar) != perm or _storage_order(eps) != perm:
            perm = tuple(range(mu.ndim))  # mixed or sparse layouts: contiguous copies
        coef = FISHER_SCALE[fisher] / mu[0].numel()
        z, kl, fisher_n = FusedLatentLoss.apply(
            _rows(mu, perm), _rows(logvar, perm), _rows(eps.detach(), perm), module, lo, hi,
            coef, fisher == "mc")
        if mu.ndim > 2:  # back to the latent map, in mu's layout
            z = z.view([mu.shape[a] for a in perm])
            if perm != tuple(range(mu.ndim)):
                z = z.permute(tuple(int(i) for i in np.argsort(perm)))
        out = (z.to(dtype) if z.dtype != dtype else z, kl, fisher_n)
    if is_numpy:
        return tuple(t.detach().numpy() for t in out)
    return out


def bytes_moved(n: int, d: int, itemsize: int) -> dict:
    """Minimum bytes of one forward and one backward pass (the floor of a memory-bound op)."""
    return {"forward": (4 * n * d + 2 * n) * itemsize,
            "backward": (6 * n * d + 2 * n) * itemsize}
