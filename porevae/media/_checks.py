"""Input checks specific to binary images (the media modules); the generic checks live in
:mod:`porevae._validation`, the one place for them, and are imported here under the names the
media modules use."""

from __future__ import annotations

import numpy as np

from porevae._validation import check_axis, check_fraction, check_numeric, check_shape

__all__ = ["as3d", "as_binary", "check_axis", "check_connectivity", "check_fraction",
           "check_numeric", "check_shape", "from_torch", "like_input"]


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
