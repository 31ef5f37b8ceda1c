"""The fused latent loss of a Gaussian encoder: reparameterized sample, KL and Fisher term.

:func:`vae_latent_loss` is the public entry point (re-exported as ``porevae.ops.vae_latent_loss``).
Its fused backends run a :class:`FusedLatentLoss` (``torch.autograd.Function``) whose forward is one
pass over the inputs and whose backward is one pass; ``backend="torch"`` is the plain-autograd
reference :func:`porevae.ops.reference_latent.vae_latent_loss`.

Bytes moved (element size b, N x d elements): forward reads mu, logvar, eps and writes z
(4 N d b, plus 2 N b for kl and fisher); backward reads mu, logvar, eps and the gradient of z and
writes the gradients of mu and logvar (6 N d b, plus 2 N b). Backward saves only the inputs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from porevae._validation import check_choice
from porevae.ops import cuda as _cuda
from porevae.ops import reference_latent
from porevae.ops.reference_latent import FISHER_FORMS, FISHER_SCALE, LOGVAR_LIMIT, LOGVAR_RANGE

LATENT_BACKENDS = ("auto", "numba", "torch", "cuda", "numba_cuda")
_HALF = (torch.float16, torch.bfloat16)

__all__ = ["FISHER_FORMS", "LOGVAR_RANGE", "FusedLatentLoss", "bytes_moved", "cuda_status",
           "vae_latent_loss"]


def _numba_forward(mu, logvar, eps, lo, hi, coef, mc):
    from porevae.ops import numba_latent

    n = mu.shape[0]
    z = torch.empty_like(mu)
    kl = mu.new_empty(n)
    fisher = mu.new_empty(n)
    numba_latent.latent_forward(mu.numpy(), logvar.numpy(), eps.numpy(), z.numpy(), kl.numpy(),
                                fisher.numpy(), lo, hi, coef, mc)
    return z, kl, fisher


def _numba_backward(mu, logvar, eps, gz, gkl, gfisher, lo, hi, coef, mc):
    from porevae.ops import numba_latent

    gmu = torch.empty_like(mu)
    glogvar = torch.empty_like(mu)
    numba_latent.latent_backward(mu.numpy(), logvar.numpy(), eps.numpy(), gz.numpy(),
                                 gkl.numpy(), gfisher.numpy(), gmu.numpy(), glogvar.numpy(),
                                 lo, hi, coef, mc)
    return gmu, glogvar


def _cuda_forward(*args):
    return _cuda.latent_loss_forward(*args)


def _cuda_backward(*args):
    return _cuda.latent_loss_backward(*args)


def _numba_cuda_forward(*args):
    from porevae.ops import numba_cuda_latent

    return numba_cuda_latent.latent_loss_forward(*args)


def _numba_cuda_backward(*args):
    from porevae.ops import numba_cuda_latent

    return numba_cuda_latent.latent_loss_backward(*args)


_IMPLS = {"numba": (_numba_forward, _numba_backward), "cuda": (_cuda_forward, _cuda_backward),
          "numba_cuda": (_numba_cuda_forward, _numba_cuda_backward)}


class FusedLatentLoss(torch.autograd.Function):
    """``(mu, logvar, eps, backend, lo, hi, coef, mc) -> (z, kl, fisher)``, one pass each way.

    Inputs: C-contiguous (N, d) tensors of one dtype and device (float32/float64; also
    float16/bfloat16 for backend "cuda", with float32 arithmetic). Saves mu, logvar and eps for the
    backward (no intermediate); ``eps`` gets no gradient; not twice differentiable.
    """

    @staticmethod
    def forward(ctx, mu, logvar, eps, backend, lo, hi, coef, mc):
        z, kl, fisher = _IMPLS[backend][0](mu, logvar, eps, lo, hi, coef, mc)
        ctx.save_for_backward(mu, logvar, eps)
        ctx.args = (backend, lo, hi, coef, mc)
        return z, kl, fisher

    @staticmethod
    @once_differentiable
    def backward(ctx, gz, gkl, gfisher):
        mu, logvar, eps = ctx.saved_tensors
        backend, lo, hi, coef, mc = ctx.args
        gmu, glogvar = _IMPLS[backend][1](mu, logvar, eps, gz.contiguous(), gkl.contiguous(),
                                          gfisher.contiguous(), lo, hi, coef, mc)
        return gmu, glogvar, None, None, None, None, None, None


def _check_inputs(mu, logvar, eps):
    tensors = {"mu": mu, "logvar": logvar, "eps": eps}
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch tensor or NumPy array, got "
                            f"{type(t).__name__}")
        if t.ndim != 2:
            raise ValueError(f"{name} must be 2-D (N, d), got shape {tuple(t.shape)}")
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
    if mu.shape[1] < 1:
        raise ValueError(f"mu must have d >= 1 latent dimensions, got shape {tuple(mu.shape)}")


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


def cuda_status() -> dict:
    """``{"available": bool, "reason": str}`` of the CUDA latent-loss kernels."""
    st = _cuda.status()
    if st["available"] and not hasattr(_cuda.extension(), "latent_loss_forward"):
        return {"available": False, "reason": "porevae._cuda was built without "
                "csrc/ops/latent_loss.cu; rebuild the extension (pip install -e .)"}
    return st


def _numba_cuda_status() -> dict:
    if not torch.cuda.is_available():  # before importing numba.cuda
        return {"available": False, "reason": "torch sees no CUDA device"}
    from porevae.ops import numba_cuda

    return numba_cuda.status()


def _resolve(backend, is_cuda):
    check_choice(backend, "backend", LATENT_BACKENDS)
    if backend == "auto":
        if not is_cuda:
            return "numba"
        if cuda_status()["available"]:
            return "cuda"
        return "numba_cuda" if _numba_cuda_status()["available"] else "torch"
    if backend == "numba" and is_cuda:
        raise ValueError("backend='numba' runs on the host; the inputs are CUDA tensors "
                         "(use backend='cuda' or 'torch')")
    if backend in ("cuda", "numba_cuda"):
        st = cuda_status() if backend == "cuda" else _numba_cuda_status()
        if not st["available"]:
            raise RuntimeError(f"backend={backend!r} is unavailable: {st['reason']}")
        if not is_cuda:
            raise ValueError(f"backend={backend!r} needs CUDA tensors (no implicit host/device "
                             f"copies)")
    return backend


def vae_latent_loss(mu, logvar, eps, fisher: str = "location", backend: str = "auto", *,
                    logvar_range=LOGVAR_RANGE):
    """Reparameterized sample, per-sample KL to N(0, I) and per-sample Fisher information.

    Parameters
    ----------
    mu, logvar, eps : tensors (N, d)
        Encoder mean, log-variance (natural log of sigma^2) and standard-normal noise; one dtype
        (float32, float64; float16/bfloat16 are computed in float32) and one device. NumPy
        arrays are accepted (NumPy out, no gradient).
    fisher : {"location", "location+scale", "mc"}
        ``F = (1/d) sum_j 1/sigma_j^2`` (I(mu) of each coordinate, averaged), ``(1/d) sum_j
        3/sigma_j^2`` (trace over (mu_j, sigma_j): I(mu) + I(sigma) = 1/sigma^2 + 2/sigma^2), or
        the one-sample estimator ``(1/d) sum_j eps_j^2/sigma_j^2`` whose mean is the location form.
    backend : {"auto", "numba", "torch", "cuda", "numba_cuda"}
        "auto": "numba" on the host; for CUDA tensors "cuda" when ``porevae._cuda`` has the
        kernels, else "numba_cuda" when numba.cuda works, else "torch" (the plain-autograd
        reference).
    logvar_range : (low, high), keyword-only, default (-6, 2)
        logvar is clamped to [low, high] inside the loss, as ``torch.clamp``: values outside get
        zero gradient (the boundaries themselves keep theirs). Any range within [-80, 80].

    Returns
    -------
    z : (N, d), ``mu + exp(lv/2) * eps`` with ``lv = clamp(logvar)``, in the input dtype.
    kl : (N,), ``1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - lv_j)``.
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
    be = _resolve(backend, mu.is_cuda)
    if be == "torch":
        out = reference_latent.vae_latent_loss(mu, logvar, eps, fisher, (lo, hi))
    else:
        dtype = mu.dtype
        if dtype in _HALF and be in ("numba", "numba_cuda"):
            mu, logvar, eps = mu.float(), logvar.float(), eps.float()
        coef = FISHER_SCALE[fisher] / mu.shape[1]
        out = FusedLatentLoss.apply(mu.contiguous(), logvar.contiguous(),
                                    eps.detach().contiguous(), be, lo, hi, coef,
                                    fisher == "mc")
        if out[0].dtype != dtype:
            out = (out[0].to(dtype),) + tuple(out[1:])
    if is_numpy:
        return tuple(t.detach().numpy() for t in out)
    return out


def bytes_moved(n: int, d: int, itemsize: int) -> dict:
    """Minimum bytes of one forward and one backward pass (the floor of a memory-bound op)."""
    return {"forward": (4 * n * d + 2 * n) * itemsize,
            "backward": (6 * n * d + 2 * n) * itemsize}

