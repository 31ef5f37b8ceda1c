"""CUDA backend of the fused latent loss: thin wrappers of ``porevae._cuda`` (``csrc/ops/``).

Storage float32, float64, float16 or bfloat16 (arithmetic in float32, float64 for float64);
the per-row outputs kl, fisher (and their gradients) are float64 for float64, float32 otherwise.
"""

from __future__ import annotations

import torch

from porevae.ops import _cuda_ext
from porevae.ops._common import check_device_tensor

FUNCTIONS = ("latent_loss_forward", "latent_loss_backward")
_DTYPES = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3}


def status() -> dict:
    return _cuda_ext.status(*FUNCTIONS)


def _acc(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


def forward(mu, logvar, eps, lo, hi, coef, mc):
    """Fused forward on C-contiguous CUDA tensors (N, D) of one dtype, one kernel launch."""
    ext = _cuda_ext.extension(*FUNCTIONS)
    n, d = mu.shape
    for name, t in (("mu", mu), ("logvar", logvar), ("eps", eps)):
        check_device_tensor(t, name, mu.dtype, (n, d))
    z = torch.empty_like(mu)
    kl = torch.empty(n, dtype=_acc(mu.dtype), device=mu.device)
    fisher = torch.empty_like(kl)
    with torch.cuda.device(mu.device):
        ext.latent_loss_forward(mu=mu.data_ptr(), logvar=logvar.data_ptr(), eps=eps.data_ptr(),
                                z=z.data_ptr(), kl=kl.data_ptr(), fisher=fisher.data_ptr(), n=n,
                                d=d, lo=lo, hi=hi, coef=coef, mc=bool(mc),
                                dtype=_DTYPES[mu.dtype], stream=_cuda_ext.stream())
    return z, kl, fisher


def backward(mu, logvar, eps, gz, gkl, gfisher, lo, hi, coef, mc):
    """Fused backward: ``(gmu, glogvar)`` (N, D) in the dtype of mu."""
    ext = _cuda_ext.extension(*FUNCTIONS)
    n, d = mu.shape
    gz = gz.to(mu.dtype).contiguous()
    gkl = gkl.to(_acc(mu.dtype)).contiguous()
    gfisher = gfisher.to(_acc(mu.dtype)).contiguous()
    check_device_tensor(gz, "gz", mu.dtype, (n, d))
    gmu = torch.empty_like(mu)
    glogvar = torch.empty_like(mu)
    with torch.cuda.device(mu.device):
        ext.latent_loss_backward(mu=mu.data_ptr(), logvar=logvar.data_ptr(), eps=eps.data_ptr(),
                                 gz=gz.data_ptr(), gkl=gkl.data_ptr(), gfisher=gfisher.data_ptr(),
                                 gmu=gmu.data_ptr(), glogvar=glogvar.data_ptr(), n=n, d=d, lo=lo,
                                 hi=hi, coef=coef, mc=bool(mc), dtype=_DTYPES[mu.dtype],
                                 stream=_cuda_ext.stream())
    return gmu, glogvar
