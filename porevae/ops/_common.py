"""Helpers shared by the operations and their backends, written once.

Conventions: NumPy arrays at the API surface are wrapped as CPU tensors without a copy
(:func:`as_tensor`); results go back to NumPy when NumPy came in. dtypes are torch dtypes inside.
"""

from __future__ import annotations

import numpy as np
import torch

from porevae.ops import _host_memory

FLOAT_DTYPES = (torch.float32, torch.float64)


def torch_dtype(dtype, name: str = "dtype") -> torch.dtype:
    """torch float32/float64 from a torch, NumPy or string dtype; ValueError otherwise."""
    if dtype in FLOAT_DTYPES:
        return dtype
    try:
        np_name = np.dtype(dtype).name
    except TypeError:
        np_name = None
    if np_name not in ("float32", "float64"):
        raise ValueError(f"{name} must be float32 or float64, got {dtype!r}")
    return getattr(torch, np_name)


def as_tensor(x, name: str) -> torch.Tensor:
    """A tensor view of ``x`` (NumPy arrays are wrapped without a copy when contiguous)."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise TypeError(f"{name} must be a NumPy array or a torch tensor, got {type(x).__name__}")


def empty(shape, dtype: torch.dtype, device) -> torch.Tensor:
    """An uninitialised tensor for a large output. On the host it comes from
    :mod:`porevae.ops._host_memory`: huge pages, and the memory of a freed output of the same
    size is reused without page faults (the first touch of fresh memory costs 2-9 s for the
    7.33 GB covariance of 30,276 points on the 2-core CI machine, a write into kept memory
    0.3 s; bench/RESULTS.md)."""
    if torch.device(device).type != "cpu":
        return torch.empty(shape, dtype=dtype, device=device)
    return torch.from_numpy(_host_memory.empty(shape, str(dtype).removeprefix("torch.")))


def check_out(out, shape, dtype: torch.dtype) -> torch.Tensor:
    """Validate a preallocated output (NumPy array or tensor): shape, dtype, C-contiguity.

    Returns it as a tensor (a view of a NumPy array); its device is where the work runs."""
    contiguous = out.is_contiguous() if isinstance(out, torch.Tensor) else \
        isinstance(out, np.ndarray) and out.flags.c_contiguous
    if not contiguous:
        raise ValueError("out must be C-contiguous")
    t = as_tensor(out, "out")
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"out must have shape {tuple(shape)}, got {tuple(t.shape)}")
    if t.dtype != dtype:
        raise ValueError(f"out must be {dtype}, got {t.dtype}")
    return t


def check_device_tensor(t, name, dtype=None, shape=None) -> None:
    """Raise unless ``t`` is a C-contiguous CUDA tensor (of ``dtype`` and ``shape`` if given)."""
    if not isinstance(t, torch.Tensor) or not t.is_cuda:
        where = f" on {t.device}" if isinstance(t, torch.Tensor) else ""
        raise TypeError(f"{name} must be a CUDA tensor for a device backend (no implicit "
                        f"host/device copies); got {type(t).__name__}{where}")
    if dtype is not None and t.dtype != dtype:
        raise TypeError(f"{name} must be {dtype}, got {t.dtype}")
    if shape is not None and tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(t.shape)}")
    if not t.is_contiguous():
        raise ValueError(f"{name} must be C-contiguous")
