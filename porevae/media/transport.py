"""Transport of the pore space: tortuosity factor and effective diffusivity by TauFactor.

Optional dependency: ``taufactor`` (Kench & Cooper, SoftwareX 2021; MIT), a finite-difference
solver of steady diffusion through the voxels of a binary image in PyTorch (CPU or CUDA). Chosen
over a pore-network permeability (porespy + openpnm) because it solves on the voxels themselves
(no network extraction whose parameters would differ between the real and the generated rock),
has one small dependency tree on top of torch, which porevae already needs, and takes ~10 s for
a 128^3 volume on one CPU core. Install it with ``pip install taufactor``; without it
:func:`transport_available` is False and :func:`transport_statistics` raises ImportError, and
:func:`porevae.media.compare` leaves the transport rows out.

Definitions (TauFactor's): with a unit concentration drop across the image along ``axis``
(Dirichlet faces, no-flux sides), D_eff / D_0 = (epsilon / tau), epsilon the porosity and tau
the tortuosity factor; tau = inf and D_eff = 0 when no pore path crosses the image.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np

from porevae.media._checks import as_binary, from_torch

TRANSPORT = {"tortuosity_factor": "TauFactor tortuosity factor of the pore space along axis 0",
             "effective_diffusivity": "D_eff / D_0 = porosity / tortuosity, along axis 0"}


def transport_available() -> bool:
    """Whether ``taufactor`` can be imported."""
    return importlib.util.find_spec("taufactor") is not None


def transport_statistics(image, axis: int = 0, device: str = "cpu",
                         conv_crit: float = 0.01) -> dict:
    """Tortuosity factor and effective diffusivity of the pore space of a binary 3D (or 2D)
    image (1 = pore) along ``axis``: ``{"tortuosity_factor", "effective_diffusivity"}``
    (floats; inf and 0 when no pore path crosses the image). ``conv_crit``: TauFactor's
    convergence criterion (relative)."""
    if not transport_available():
        raise ImportError("transport statistics need taufactor: pip install taufactor")
    import taufactor

    from porevae.media.connectivity import connected_fraction

    img = as_binary(from_torch(image))
    if img.ndim not in (2, 3):
        raise ValueError(f"image must be 2D or 3D, got shape {img.shape}")
    img = np.moveaxis(img, axis, 0)
    if not np.any(img) or connected_fraction(img)[0] == 0.0:
        return {"tortuosity_factor": math.inf, "effective_diffusivity": 0.0}
    solver = taufactor.Solver(np.ascontiguousarray(img, dtype=np.float32), device=device)
    solver.solve(verbose=False, conv_crit=conv_crit)
    tau = float(np.asarray(solver.tau).ravel()[0])
    d_eff = float(np.asarray(solver.D_eff).ravel()[0])
    return {"tortuosity_factor": tau, "effective_diffusivity": d_eff}
