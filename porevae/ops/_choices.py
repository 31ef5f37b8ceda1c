"""The choices the operations accept, importable without torch.

The configuration classes and the command line validate against these names before any work
(``porevae train --help`` lists them) without importing the kernels; the kernels import them
from here, so each is written once.
"""

BACKENDS = ("auto", "torch", "numba", "numba_cuda", "cuda")
"""Backends of every operation (:mod:`porevae.ops._dispatch`); "auto" picks one per device."""

FISHER_FORMS = ("location", "location+scale", "mc")
"""Fisher forms of :func:`porevae.ops.vae_latent_loss`: (1/d) sum 1/sigma^2; (1/d) sum
3/sigma^2; (1/d) sum eps^2/sigma^2."""

LOGVAR_RANGE = (-6.0, 2.0)
"""Default clamp of logvar inside the latent loss: 1/sigma^2 <= e^6, sigma^2 <= e^2."""
