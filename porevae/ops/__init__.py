"""Custom kernels: one folder per operation, one public function each, one dispatch.

Layout (the shape of torchvision's ``ops``)::

    ops/_dispatch.py           backends, their availability and the choice of one
    ops/_common.py             dtype / tensor / output checks shared by every operation
    ops/_cuda_ext.py           loading the optional extension porevae._cuda (csrc/)
    ops/_host_memory.py        large host outputs: mappings kept for reuse (release_host_memory)
    ops/covariance/            covariance_matrix, covariance_matvec, grid_offset_table
        reference.py numba_cpu.py numba_cuda.py cuda.py     (same names in each)
    ops/latent_loss/           vae_latent_loss (fused reparameterization + KL + Fisher)
        reference.py numba_cpu.py numba_cuda.py cuda.py     (same names in each)
    ops/decoder/               decoder_head (the VAE decoder's last stage, fused; generation)
        reference.py numba_cpu.py                           (cuDNN serves CUDA devices)
    ops/reference.py           the pure-PyTorch version of every operation, in one namespace

``backend="auto"`` picks the fastest available backend for the inputs' device (see
:mod:`porevae.ops._dispatch`); :func:`backends` says which are usable and why not. NumPy arrays
in give NumPy arrays out; torch tensors in give torch tensors out on their device.

Every name is imported on first use (PEP 562): the choices the operations accept
(:mod:`porevae.ops._choices`) are importable without torch, for the configs and the CLI's help.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from porevae._lazy import lazy_exports

if TYPE_CHECKING:  # pragma: no cover
    from porevae.ops import reference
    from porevae.ops._choices import BACKENDS
    from porevae.ops._dispatch import backends
    from porevae.ops._host_memory import release_host_memory
    from porevae.ops.covariance import covariance_matrix, covariance_matvec, grid_offset_table
    from porevae.ops.decoder import decoder_head
    from porevae.ops.latent_loss import vae_latent_loss

# public name -> the module that defines it
_NAMES = {"BACKENDS": "porevae.ops._choices", "backends": "porevae.ops._dispatch",
          "release_host_memory": "porevae.ops._host_memory",
          "covariance_matrix": "porevae.ops.covariance",
          "covariance_matvec": "porevae.ops.covariance",
          "grid_offset_table": "porevae.ops.covariance", "decoder_head": "porevae.ops.decoder",
          "vae_latent_loss": "porevae.ops.latent_loss"}

__all__ = ["BACKENDS", "backends", "covariance_matrix", "covariance_matvec", "decoder_head",
           "grid_offset_table", "reference", "release_host_memory", "vae_latent_loss"]


__getattr__, __dir__ = lazy_exports(__name__, _NAMES, __all__, modules=("reference",))
