"""Input checks shared by the media modules: clear errors naming the parameter and allowed range."""

from __future__ import annotations

import numpy as np


def check_shape(shape, name="shape") -> tuple[int, ...]:
    """A 2D or 3D shape of positive integers, returned as a tuple."""
    try:
        out = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of 2 or 3 positive integers, got {shape!r}") \
            from None
    if len(out) not in (2, 3) or any(s < 1 for s in out) or \
            any(int(s) != s for s in np.asarray(shape, dtype=float)):
        raise ValueError(f"{name} must be 2 or 3 positive integers, got {shape!r}")
    return out


def check_fraction(value, name) -> float:
    """A number strictly inside (0, 1), e.g. a target porosity."""
    v = float(value)
    if not 0.0 < v < 1.0:
        raise ValueError(f"{name} must be in the open interval (0, 1), got {value!r}")
    return v


def check_numeric(volume, name="volume") -> np.ndarray:
    """A bool/integer/float array without NaN or inf (other dtypes are rejected)."""
    arr = np.asarray(volume)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must have a bool, integer or float dtype, got {arr.dtype}")
    if arr.dtype.kind == "f":
        bad = np.count_nonzero(~np.isfinite(arr))
        if bad:
            raise ValueError(f"{name} contains {bad} NaN or infinite values")
    return arr


def as_binary(image, name="image") -> np.ndarray:
    """Validate a 2D or 3D binary image (1/True = pore) and return it as a C-contiguous bool array.

    Accepts bool arrays and numeric arrays whose values are all 0 or 1; anything else (NaN, grey
    levels, other dimensionalities, empty arrays) raises with a message naming ``name``.
    """
    arr = check_numeric(image, name)
    if arr.ndim not in (2, 3):
        raise ValueError(f"{name} must be a 2D or 3D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if arr.dtype.kind != "b":
        ok = (arr == 0) | (arr == 1)
        if not ok.all():
            bad = np.unique(arr[~ok])[:5]
            raise ValueError(f"{name} must be binary (0 = solid, 1 = pore); found "
                             f"{np.count_nonzero(~ok)} other values, e.g. {bad.tolist()}")
        arr = arr != 0
    return np.ascontiguousarray(arr)


def check_axis(axis, ndim, name="axis") -> int:
    """An integer axis in [-ndim, ndim), returned non-negative."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name} must be in [{-ndim}, {ndim - 1}] for a {ndim}D image, got {axis}")
    return int(axis) % ndim


def check_connectivity(connectivity, ndim, default: str) -> int:
    """Voxel adjacency for a ``ndim``-D image: face (6 in 3D, 4 in 2D) or full (26 / 8);
    ``None`` gives ``default`` (``"face"`` or ``"full"``)."""
    face, full = (6, 26) if ndim == 3 else (4, 8)
    if connectivity is None:
        return face if default == "face" else full
    if connectivity not in (face, full):
        raise ValueError(f"connectivity must be {face} or {full} for a {ndim}D image, "
                         f"got {connectivity!r}")
    return connectivity


def as3d(image: np.ndarray) -> np.ndarray:
    """View a 2D image (nx, ny) as (nx, ny, 1) so the 3D kernels serve both dimensionalities."""
    return image if image.ndim == 3 else image.reshape(image.shape + (1,))


def from_torch(x):
    """A torch tensor (any device) as a NumPy array; anything else unchanged."""
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    return x


def like_input(original, result: np.ndarray):
    """``result`` as a torch tensor on ``original``'s device when ``original`` is a tensor."""
    if type(original).__module__.startswith("torch"):
        import torch

        return torch.as_tensor(result, device=original.device)
    return result
