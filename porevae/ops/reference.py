"""The pure-PyTorch version of every operation, in one namespace: the oracle in tests and the
baseline in ``bench/`` (each lives in ``ops/<op>/reference.py`` beside its fused backends)."""

from porevae.ops.covariance.reference import (
    covariance_matrix,
    covariance_matvec,
    grid_covariance_matrix,
    grid_covariance_matvec,
)
from porevae.ops.decoder.reference import decoder_head
from porevae.ops.latent_loss.reference import vae_latent_loss

__all__ = ["covariance_matrix", "covariance_matvec", "decoder_head", "grid_covariance_matrix",
           "grid_covariance_matvec", "vae_latent_loss"]
