"""Loader and thin wrappers of the optional CUDA extension ``porevae._cuda`` (built from csrc/).

The wrappers pass device pointers of torch tensors and the current CUDA stream to the extension:
no host/device copies and no synchronisation beyond what the caller asks for.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from porevae.grid import Grid


@functools.lru_cache(maxsize=1)
def _load():
    try:
        from porevae import _cuda
    except ImportError as exc:
        return None, (f"porevae._cuda is not built ({exc}); reinstall with a CUDA toolkit "
                      f"(nvcc) present, or PORVAE_CUDA=1 to force the build")
    return _cuda, ""


def status() -> dict:
    """``{"available": bool, "reason": str}`` for the CUDA backend."""
    ext, reason = _load()
    if ext is None:
        return {"available": False, "reason": reason}
    if not torch.cuda.is_available():
        return {"available": False,
                "reason": "porevae._cuda is built but no device: torch sees no CUDA device"}
    return {"available": True, "reason": f"porevae._cuda on {torch.cuda.get_device_name()}"}


def extension():
    """The loaded extension module; RuntimeError with the reason when unavailable."""
    st = status()
    if not st["available"]:
        raise RuntimeError(f"the CUDA backend is unavailable: {st['reason']}")
    return _load()[0]


def _stream() -> int:
    """The current CUDA stream of torch as an integer handle (``cudaStream_t``)."""
    return torch.cuda.current_stream().cuda_stream


def _torch_dtype(dtype) -> torch.dtype:
    """torch float32/float64 from a torch, NumPy or string dtype; ValueError otherwise."""
    if dtype in (torch.float32, torch.float64):
        return dtype
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return getattr(torch, name)


def _check_device_tensor(t, name, dtype=None, shape=None):
    """Raise unless ``t`` is a C-contiguous CUDA tensor (of ``dtype`` and ``shape`` if given)."""
    if not isinstance(t, torch.Tensor) or not t.is_cuda:
        raise TypeError(f"{name} must be a CUDA tensor for backend='cuda' (no implicit "
                        f"host/device copies); got {type(t).__name__}"
                        f"{'' if not isinstance(t, torch.Tensor) else ' on ' + str(t.device)}")
    if dtype is not None and t.dtype != dtype:
        raise TypeError(f"{name} must be {dtype}, got {t.dtype}")
    if shape is not None and tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(t.shape)}")
    if not t.is_contiguous():
        raise ValueError(f"{name} must be C-contiguous")


def scaled_points(points, model, dtype, device) -> torch.Tensor:
    """Points divided by the per-axis length scales: contiguous (n, d) tensor on ``device``.

    Scaled in float64, then cast to ``dtype``; a host array is uploaded (n d values).
    """
    p = torch.as_tensor(points).to(device=device, dtype=torch.float64)
    ls = torch.as_tensor(model.length_scales(p.shape[1]), dtype=torch.float64, device=device)
    return (p / ls).to(dtype).contiguous()


def offset_table(grid, model, dtype, device) -> torch.Tensor:
    """``ops.grid_offset_table`` (computed on the host in float64, n values) on ``device``."""
    from porevae.ops import grid_offset_table  # ops imports this module: import at call time

    return torch.as_tensor(grid_offset_table(grid, model), dtype=dtype, device=device)


def _closed_form(model):
    if model.kernel_code is None:
        raise ValueError(f"backend='cuda' has no closed form for {model!r} on points; use a "
                         f"Grid (offset table) or backend='torch'")


def covariance_matrix(points, model, points_b=None, out=None, dtype=None) -> torch.Tensor:
    """Dense ``C(points, points_b)`` on the device of ``points`` (CUDA tensor (n, d)).

    Symmetric case: one triangle of 32 x 32 tiles is computed and mirrored. ``out``: optional
    C-contiguous CUDA tensor (n, m) of ``dtype`` (float32 or float64; default: points' dtype).
    Launches on torch's current stream without synchronising.
    """
    ext = extension()
    _closed_form(model)
    _check_device_tensor(points, "points")
    tdt = _torch_dtype(dtype if dtype is not None else points.dtype)
    n, d = points.shape
    xa = scaled_points(points, model, tdt, points.device)
    xb = None
    if points_b is not None:
        _check_device_tensor(points_b, "points_b")
        xb = scaled_points(points_b, model, tdt, points.device)
    m = n if xb is None else xb.shape[0]
    if out is None:
        out = torch.empty((n, m), dtype=tdt, device=points.device)
    _check_device_tensor(out, "out", tdt, (n, m))
    common = {"code": model.kernel_code, "param": model.kernel_param,
              "l1": model.metric == "l1", "variance": model.variance, "out": out.data_ptr(),
              "double": tdt == torch.float64, "stream": _stream()}
    with torch.cuda.device(points.device):
        if xb is None:
            ext.cov_points_symmetric(x=xa.data_ptr(), n=n, d=d, **common)
        else:
            ext.cov_points_cross(xa=xa.data_ptr(), xb=xb.data_ptr(), n=n, m=m, d=d, **common)
    return out


def grid_covariance_matrix(grid, model, out=None, dtype=None) -> torch.Tensor:
    """Dense covariance (n, n) of a regular grid, copied from its offset table on the device.

    ``out``: optional C-contiguous CUDA tensor; otherwise allocated on the current CUDA device.
    Any stationary model works (the table is evaluated by the model on the host, n values).
    """
    ext = extension()
    tdt = _torch_dtype(dtype if dtype is not None else (out.dtype if out is not None
                                                        else "float64"))
    n = grid.n_cells
    device = out.device if out is not None else torch.device("cuda", torch.cuda.current_device())
    if out is None:
        out = torch.empty((n, n), dtype=tdt, device=device)
    _check_device_tensor(out, "out", tdt, (n, n))
    nx, ny, nz = tuple(grid.shape) + (1,) * (3 - grid.ndim)
    table = offset_table(grid, model, tdt, device)
    with torch.cuda.device(device):
        ext.cov_grid_fill(table=table.data_ptr(), nx=nx, ny=ny, nz=nz, out=out.data_ptr(),
                          double=tdt == torch.float64, stream=_stream())
    return out


def covariance_matvec(points, model, x) -> torch.Tensor:
    """``C @ x`` for x a CUDA tensor (n,) or (n, k), float32/float64; C never stored.

    ``points``: a Grid (entries read from its offset table, any stationary model) or (n, d)
    points (closed-form models). A non-contiguous ``x`` is copied to a contiguous one first.
    """
    ext = extension()
    if not isinstance(x, torch.Tensor) or not x.is_cuda:
        raise TypeError(f"x must be a CUDA tensor for backend='cuda', got "
                        f"{type(x).__name__}")
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"x must be float32 or float64, got {x.dtype}")
    vec = x.ndim == 1
    x2 = (x[:, None] if vec else x).contiguous()
    n, k = x2.shape
    y = torch.empty_like(x2)
    dbl = x.dtype == torch.float64
    with torch.cuda.device(x.device):
        if isinstance(points, Grid):
            nx, ny, nz = tuple(points.shape) + (1,) * (3 - points.ndim)
            table = offset_table(points, model, x.dtype, x.device)
            ext.cov_matvec_grid(table=table.data_ptr(), nx=nx, ny=ny, nz=nz, x=x2.data_ptr(),
                                k=k, y=y.data_ptr(), double=dbl, stream=_stream())
        else:
            _closed_form(model)
            pts = scaled_points(points, model, x.dtype, x.device)
            ext.cov_matvec_points(points=pts.data_ptr(), n=n, d=pts.shape[1],
                                  code=model.kernel_code, param=model.kernel_param,
                                  l1=model.metric == "l1", variance=model.variance,
                                  x=x2.data_ptr(), k=k, y=y.data_ptr(), double=dbl,
                                  stream=_stream())
    return y[:, 0] if vec else y


_LATENT_DTYPES = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3}


def latent_loss_forward(mu, logvar, eps, lo, hi, coef, mc):
    """Fused forward of ``ops.vae_latent_loss`` on CUDA tensors (N, d), one kernel launch.

    ``mu``, ``logvar``, ``eps``: C-contiguous, one dtype (float32/64, float16, bfloat16).
    Returns z (N, d) in that dtype and kl, fisher (N,) in float64 for float64, float32 otherwise.
    """
    ext = extension()
    n, d = mu.shape
    acc = torch.float64 if mu.dtype == torch.float64 else torch.float32
    for name, t in (("mu", mu), ("logvar", logvar), ("eps", eps)):
        _check_device_tensor(t, name, mu.dtype, (n, d))
    z = torch.empty_like(mu)
    kl = torch.empty(n, dtype=acc, device=mu.device)
    fisher = torch.empty(n, dtype=acc, device=mu.device)
    with torch.cuda.device(mu.device):
        ext.latent_loss_forward(mu=mu.data_ptr(), logvar=logvar.data_ptr(), eps=eps.data_ptr(),
                                z=z.data_ptr(), kl=kl.data_ptr(), fisher=fisher.data_ptr(), n=n,
                                d=d, lo=lo, hi=hi, coef=coef, mc=bool(mc),
                                dtype=_LATENT_DTYPES[mu.dtype], stream=_stream())
    return z, kl, fisher


def latent_loss_backward(mu, logvar, eps, gz, gkl, gfisher, lo, hi, coef, mc):
    """Fused backward of ``ops.vae_latent_loss``: (gmu, glogvar), (N, d) in the dtype of mu.

    ``gz`` (N, d) in mu's dtype; ``gkl``, ``gfisher`` (N,) in the dtype of kl (converted if not).
    """
    ext = extension()
    n, d = mu.shape
    acc = torch.float64 if mu.dtype == torch.float64 else torch.float32
    gz = gz.to(mu.dtype).contiguous()
    gkl = gkl.to(acc).contiguous()
    gfisher = gfisher.to(acc).contiguous()
    _check_device_tensor(gz, "gz", mu.dtype, (n, d))
    gmu = torch.empty_like(mu)
    glogvar = torch.empty_like(mu)
    with torch.cuda.device(mu.device):
        ext.latent_loss_backward(mu=mu.data_ptr(), logvar=logvar.data_ptr(), eps=eps.data_ptr(),
                                 gz=gz.data_ptr(), gkl=gkl.data_ptr(), gfisher=gfisher.data_ptr(),
                                 gmu=gmu.data_ptr(), glogvar=glogvar.data_ptr(), n=n, d=d, lo=lo,
                                 hi=hi, coef=coef, mc=bool(mc), dtype=_LATENT_DTYPES[mu.dtype],
                                 stream=_stream())
    return gmu, glogvar
