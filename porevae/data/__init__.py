"""Data shipped inside the package: the Berea sandstone image and pretrained models.

- :func:`berea`: the 400^3 Berea sandstone micro-CT image (bool, 1 = pore, porosity 0.196),
  stored as ``berea/berea_pore.bits.xz`` (``np.packbits`` of the C-order volume, then xz;
  1.4 MiB) with ``berea/berea.json`` (shape, sha256 of the packed file and of the uint8
  volume, source, citation) and the MIT licence ``berea/LICENSE-PorousMediaGAN``. Source: the
  PorousMediaGAN repository (Mosser, Dubrule & Blunt, Phys. Rev. E 96, 043309, 2017); the scan is
  from the Imperial College London pore-scale modelling group.
- :func:`pretrained_path` / :data:`PRETRAINED`: checkpoints of trained models, each in
  ``models/NAME/`` with ``checkpoint.pt`` and ``README.md`` (training command, data checksum,
  training time and figures).
"""

from __future__ import annotations

import hashlib
import json
import lzma
from importlib import resources
from pathlib import Path

import numpy as np

from porevae._files import FileIntegrityError

__all__ = ["PRETRAINED", "berea", "berea_info", "pretrained_path"]

#: Shipped models: ``berea`` (the Berea sandstone image) and ``spheres`` (the synthetic
#: overlapping-sphere medium of ``porevae study reconstruction``: solid spheres of radius 4
#: voxels, porosity 0.4).
PRETRAINED = ("berea", "spheres")


def _root() -> Path:
    return Path(str(resources.files(__name__)))


def berea_info() -> dict:
    """The metadata of the shipped Berea image (``berea/berea.json``)."""
    return json.loads((_root() / "berea" / "berea.json").read_text())


def berea() -> np.ndarray:
    """The Berea sandstone image: (400, 400, 400) bool, 1 = pore, axes as stored in the source
    TIFF (pages first). The packed file's sha256 is checked (FileIntegrityError when it
    differs)."""
    info = berea_info()
    path = _root() / "berea" / "berea_pore.bits.xz"
    blob = path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != info["sha256_xz"]:
        raise FileIntegrityError(f"{path}: sha256 differs from berea.json; the file is corrupt")
    shape = tuple(info["shape"])
    bits = np.frombuffer(lzma.decompress(blob), dtype=np.uint8)
    return np.unpackbits(bits, count=int(np.prod(shape))).astype(bool).reshape(shape)


def pretrained_path(name: str) -> Path:
    """Checkpoint file of the shipped model ``name`` (one of :data:`PRETRAINED`)."""
    if name not in PRETRAINED:
        raise ValueError(f"model must be one of {list(PRETRAINED)}, got {name!r}")
    path = _root() / "models" / name / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"the shipped model {name!r} is missing: {path}")
    return path
