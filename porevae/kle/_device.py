"""Where the arrays of a KLE solve live: the host (NumPy, SciPy, Numba) or a torch device.

Every solver takes ``device``: ``None`` (the host: NumPy arrays, SciPy/LAPACK, Numba kernels) or a
torch device (``"cuda"``, ``"cuda:1"``, ``"cpu"``: the same algorithm on torch tensors there; on
``"cpu"`` it is how CI tests the device code). The helpers here are the only place that tells
the two apart: conversions, the memory budget, and the refusal of a request that exceeds it.
"""

from __future__ import annotations

import numpy as np

from porevae._lazy import lazy_module
from porevae._validation import available_memory, format_bytes

torch = lazy_module("torch")


def resolve(device) -> torch.device | None:
    """``None`` for the host, else the ``torch.device``."""
    return None if device is None else torch.device(device)


def solve_device(device) -> torch.device | None:
    """Where a solve on ``device`` runs: ``None`` (the host) for ``None`` or a CPU device, else
    the ``torch.device``. ``"cpu"`` is answered without loading torch."""
    if device is None or device == "cpu":
        return None
    device = torch.device(device)
    return None if device.type == "cpu" else device


def name(device) -> str:
    """Human-readable name of a resolved device (``"the host"`` for ``None``)."""
    return "the host" if device is None else str(device)


def asarray(x, device):
    """``x`` (array, tensor or list) as a host NumPy array (``device=None``) or a torch tensor on
    ``device``, keeping its dtype (no copy where none is needed)."""
    if device is None:
        return to_numpy(x)
    if isinstance(x, np.ndarray):
        plain = x.flags.c_contiguous and min(x.strides, default=0) >= 0
        x = torch.from_numpy(x if plain else x.copy())
    return torch.as_tensor(x, device=device)


def to_numpy(x) -> np.ndarray:
    """A host NumPy array from a NumPy array or a tensor on any device."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def empty(shape, device, zeros=False):
    """A float64 array (host) or tensor (device) of ``shape``."""
    if device is None:
        return np.zeros(shape) if zeros else np.empty(shape)
    f = torch.zeros if zeros else torch.empty
    return f(shape, dtype=torch.float64, device=device)


def budget(device) -> int:
    """Memory budget in bytes: the host's available memory (``None`` or a CPU device), or the
    free memory of a CUDA device (``torch.cuda.mem_get_info``)."""
    if device is not None and device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return available_memory()


def check_budget(nbytes: int, what: str, device, hint: str = "", limit: int | None = None):
    """Refuse up front (``MemoryError``) a request of ``nbytes`` over ``limit`` (default
    :func:`budget`), naming the figure; ``hint`` is appended (e.g. a solver that would fit)."""
    avail = budget(device) if limit is None else int(limit)
    if nbytes > avail:
        raise MemoryError(f"{what} needs {format_bytes(nbytes)} ({nbytes} bytes) on "
                          f"{name(device)} but only {format_bytes(avail)} is available"
                          + (f"; {hint}" if hint else ""))
