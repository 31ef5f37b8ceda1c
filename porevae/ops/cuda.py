"""Loader and thin wrappers of the optional CUDA extension ``porevae._cuda`` (built from csrc/).

The wrappers pass device pointers of torch tensors and the current CUDA stream to the extension:
no host/device copies and no synchronisation beyond what the caller asks for.
"""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=1)
def _load():
    try:
        from porevae import _cuda  # noqa: PLC0415
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
                "reason": "porevae._cuda is built but torch sees no CUDA device"}
    return {"available": True, "reason": f"porevae._cuda on {torch.cuda.get_device_name()}"}


def extension():
    """The loaded extension module; RuntimeError with the reason when unavailable."""
    st = status()
    if not st["available"]:
        raise RuntimeError(f"the CUDA backend is unavailable: {st['reason']}")
    return _load()[0]


def _unavailable(name):
    def fn(*args, **kwargs):
        ext = extension()
        if not hasattr(ext, name):
            raise RuntimeError(f"porevae._cuda has no kernel {name!r} in this build")
        return getattr(ext, name)(*args, **kwargs)

    fn.__name__ = name
    return fn


covariance_matrix = _unavailable("covariance_matrix")
grid_covariance_matrix = _unavailable("grid_covariance_matrix")
covariance_matvec = _unavailable("covariance_matvec")
