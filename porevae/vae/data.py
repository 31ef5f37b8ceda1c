"""Training data: random sub-volume crops of in-memory arrays or volumes on disk, with the
symmetries of the square (8) / cube (48) as augmentation, reproducible from a seed.

:class:`CropSampler` draws a *global* batch's parameters (source, corner, symmetry) from one NumPy
``Generator``; a data-parallel process materialises only its slice, so every process sees the same
global batch as a single process would, and the sampler state (saved in checkpoints) resumes the
stream bit for bit.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch

from porevae.media.io import HDF5_SUFFIXES, read_volume


def symmetry_transforms(ndim: int) -> list[tuple[tuple[int, ...], tuple[bool, ...]]]:
    """The symmetries of the square (ndim=2, 8) or cube (ndim=3, 48) as (axis permutation,
    flip per output axis); the identity first."""
    if ndim not in (2, 3):
        raise ValueError(f"ndim must be 2 or 3, got {ndim!r}")
    return [(perm, flips) for perm in itertools.permutations(range(ndim))
            for flips in itertools.product((False, True), repeat=ndim)]


def apply_symmetry(a: np.ndarray, transform) -> np.ndarray:
    """Apply one (permutation, flips) transform to the last ``len(perm)`` axes of ``a``."""
    perm, flips = transform
    lead = a.ndim - len(perm)
    a = np.transpose(a, tuple(range(lead)) + tuple(lead + p for p in perm))
    axes = tuple(lead + i for i, f in enumerate(flips) if f)
    return np.flip(a, axes) if axes else a


def _read(path, key, binary) -> np.ndarray:
    path = Path(path)
    kwargs = {"dataset": key} if key and path.suffix.lower() in HDF5_SUFFIXES else {}
    return read_volume(path, binary=binary, **kwargs)


class CropSampler:
    """Random crops of shape ``crop`` from one or more arrays, as float32 tensors (B, 1, *crop).

    Parameters
    ----------
    sources : array, path, or a list of them
        ndim=2: (H, W) images or (K, H, W) stacks; ndim=3: (D, H, W) volumes or (K, D, H, W)
        stacks. Paths are read with :func:`porevae.media.io.read_volume` (raw files through
        their ``.json`` sidecar).
    ndim : 2 or 3
    crop : tuple of ints
        Crop shape; every image/volume must be at least this large on each axis.
    augment : bool
        Apply one of the symmetries that keep ``crop`` unchanged, uniformly at random (all 8/48
        for a square/cubic crop).
    seed : int
    binary : bool
        Require values in {0, 1} (Bernoulli likelihood).
    key : str, optional
        HDF5 dataset name.

    ``porosity`` is the fraction of voxels that are 1 over all items (binary data), else None.
    """

    def __init__(self, sources, ndim: int, crop, augment: bool = True, seed: int = 0,
                 binary: bool = False, key: str | None = None):
        if ndim not in (2, 3):
            raise ValueError(f"ndim must be 2 or 3, got {ndim!r}")
        self.ndim, self.crop = ndim, tuple(int(c) for c in crop)
        if len(self.crop) != ndim or min(self.crop) < 1:
            raise ValueError(f"crop must be {ndim} positive ints, got {crop!r}")
        if isinstance(sources, (str, Path, np.ndarray, torch.Tensor)):
            sources = [sources]
        self.items = []  # list of ndim-dimensional arrays
        self.porosity: float | None = None
        for src in sources:
            arr = _read(src, key, binary) if isinstance(src, (str, Path)) else src
            if isinstance(arr, torch.Tensor):
                arr = arr.detach().cpu().numpy()
            arr = np.asarray(arr) if not isinstance(arr, np.memmap) else arr
            if arr.ndim == ndim:
                self.items.append(arr)
            elif arr.ndim == ndim + 1:
                self.items.extend(arr[i] for i in range(arr.shape[0]))
            else:
                raise ValueError(f"data arrays must have {ndim} or {ndim + 1} axes for ndim={ndim},"
                                 f" got shape {arr.shape}")
        if not self.items:
            raise ValueError("no data: sources is empty")
        for a in self.items:
            if any(s < c for s, c in zip(a.shape, self.crop)):
                raise ValueError(f"data of shape {a.shape} is smaller than the crop {self.crop}")
            if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
                raise ValueError(f"data must be numeric, got dtype {a.dtype}")
        if binary:
            for a in self.items:
                if not ((a == 0) | (a == 1)).all():
                    raise ValueError("binary data (Bernoulli likelihood) must hold only 0 and 1")
            pore = sum(int(np.count_nonzero(a)) for a in self.items)
            total = sum(a.size for a in self.items)
            if pore in (0, total):
                raise ValueError(f"binary data is all {'solid' if pore == 0 else 'pore'} "
                                 f"(porosity {pore / total:g}): there is nothing to learn")
            self.porosity = pore / total
        else:
            for a in self.items:
                if not np.isfinite(a).all():
                    raise ValueError("data holds NaN or infinite values")
        self.transforms = [t for t in symmetry_transforms(ndim)
                           if tuple(self.crop[p] for p in t[0]) == self.crop] if augment else \
            symmetry_transforms(ndim)[:1]
        self.rng = np.random.default_rng(seed)

    def draw(self, batch: int) -> list[tuple[int, tuple[int, ...], int]]:
        """Parameters of ``batch`` crops: (item index, corner, transform index) each."""
        out = []
        for _ in range(batch):
            i = int(self.rng.integers(len(self.items)))
            shape = self.items[i].shape
            corner = tuple(int(self.rng.integers(s - c + 1)) for s, c in zip(shape, self.crop))
            out.append((i, corner, int(self.rng.integers(len(self.transforms)))))
        return out

    def crops(self, params) -> torch.Tensor:
        """Materialise crops from :meth:`draw` parameters: (B, 1, *crop) float32."""
        out = np.empty((len(params), 1, *self.crop), dtype=np.float32)
        for b, (i, corner, t) in enumerate(params):
            sl = tuple(slice(c0, c0 + c) for c0, c in zip(corner, self.crop))
            out[b, 0] = apply_symmetry(np.asarray(self.items[i][sl]), self.transforms[t])
        return torch.from_numpy(out)

    def sample(self, batch: int, rank: int = 0, world_size: int = 1) -> torch.Tensor:
        """A global batch of ``batch`` crops; returns this process's contiguous slice
        (B / world_size, 1, *crop)."""
        params = self.draw(batch)
        per = batch // world_size
        return self.crops(params[rank * per:(rank + 1) * per])

    def state_dict(self) -> dict:
        return {"bit_generator": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["bit_generator"]
