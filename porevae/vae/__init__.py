"""Variational auto-encoders for porous media: VAE, beta-VAE and Fisher VAE, fully
convolutional with a spatial latent map, generating any shape.

- :mod:`~porevae.vae.config`: :class:`ModelConfig` (one config class per kind: :class:`VAEConfig`,
  :class:`BetaVAEConfig`, :class:`FisherVAEConfig`), :class:`TrainConfig`, TOML loading.
- :mod:`~porevae.vae.presets`: multi-stage training recipes (``porevae train --preset rock``).
- :mod:`~porevae.vae.nets`: 2D/3D fully convolutional encoder and decoder (local ops only).
- :mod:`~porevae.vae.models`: :class:`VAE`, :class:`BetaVAE`, :class:`FisherVAE` and
  :data:`REGISTRY` (kind -> model class, config class).
- :mod:`~porevae.vae.losses`: differentiable S2 for the descriptor loss on prior samples.
- :mod:`~porevae.vae.data`: random crops with the 8/48 symmetries, seeded.
- :mod:`~porevae.vae.trainer`: :class:`Trainer` (checksummed checkpoints, resume, CSV log, DDP).
- :mod:`~porevae.vae.generation`: any shape, chunked decoding, memory plans, exact-porosity cuts.
- :mod:`~porevae.vae.binarize`: binary media from decoded pore probabilities.

Every name is imported on first use (PEP 562), so that the configs and the presets' names are
importable without torch (``porevae train --help``).

Loss convention: reconstruction and KL are per-sample sums (over voxels / latent elements)
averaged over the batch; the Fisher term is a mean over latent elements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from porevae._lazy import lazy_exports

if TYPE_CHECKING:  # pragma: no cover
    from porevae.vae.binarize import cut_probabilities
    from porevae.vae.config import (
        CUT_RULES,
        BetaVAEConfig,
        Config,
        FisherVAEConfig,
        ModelConfig,
        TrainConfig,
        VAEConfig,
        load_config,
    )
    from porevae.vae.data import CropSampler, apply_symmetry, symmetry_transforms
    from porevae.vae.generation import decode_chunked, generate, generation_memory
    from porevae.vae.models import REGISTRY, VAE, BetaVAE, FisherVAE, build_model
    from porevae.vae.trainer import Trainer, export_model, load_checkpoint, load_model

# public name -> the module that defines it
_MODULES = {
    "porevae.vae.binarize": ("cut_probabilities",),
    "porevae.vae.config": ("CUT_RULES", "BetaVAEConfig", "Config", "FisherVAEConfig",
                           "ModelConfig", "TrainConfig", "VAEConfig", "load_config"),
    "porevae.vae.data": ("CropSampler", "apply_symmetry", "symmetry_transforms"),
    "porevae.vae.generation": ("decode_chunked", "generate", "generation_memory"),
    "porevae.vae.models": ("REGISTRY", "VAE", "BetaVAE", "FisherVAE", "build_model"),
    "porevae.vae.trainer": ("Trainer", "export_model", "load_checkpoint", "load_model"),
}
_NAMES = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "CUT_RULES",
    "REGISTRY",
    "VAE",
    "BetaVAE",
    "BetaVAEConfig",
    "Config",
    "CropSampler",
    "FisherVAE",
    "FisherVAEConfig",
    "ModelConfig",
    "TrainConfig",
    "Trainer",
    "VAEConfig",
    "apply_symmetry",
    "build_model",
    "cut_probabilities",
    "decode_chunked",
    "export_model",
    "generate",
    "generation_memory",
    "load_checkpoint",
    "load_config",
    "load_model",
    "symmetry_transforms",
    "train_demo",
]


def train_demo(volume, out_dir=None, steps: int = 200, seed: int = 0, *, kind: str = "fisher",
               size: int = 32, batch_size: int = 8, lr: float = 2e-3, progress: bool = False,
               device: str = "auto", **model_kwargs):
    """Short training run on one binary image (H, W) / volume (D, H, W), or a stack of them.

    ``volume`` (NumPy, 1 = pore) sets ``ndim`` from its number of axes (2 -> 2D model, 3 -> 3D);
    crops are ``size`` per axis. The model is the class of ``kind`` (:data:`REGISTRY`) with its
    config class's defaults (e.g. FisherVAE's gamma = 0.1) and ``model_kwargs`` on top.
    Returns ``(model, history)`` with the model in eval mode and ``history`` the list of
    logged rows (LOG_FIELDS of the trainer).
    With ``out_dir`` the checkpoint and ``log.csv`` are written there.
    """
    from porevae.vae.config import ModelConfig, TrainConfig
    from porevae.vae.models import build_model
    from porevae.vae.trainer import Trainer

    volume = np.asarray(volume)
    if volume.ndim not in (2, 3):
        raise ValueError(f"volume must have 2 or 3 axes, got shape {volume.shape}")
    model = build_model(ModelConfig(kind=kind, **model_kwargs, ndim=volume.ndim, size=size),
                        seed=seed)
    trainer = Trainer(model, volume.astype(np.float32), TrainConfig(
        steps=steps, batch_size=batch_size, lr=lr, seed=seed, progress=progress,
        device=device, checkpoint_every=0), out_dir=out_dir)
    history = trainer.fit()
    return model.eval(), history


__getattr__, __dir__ = lazy_exports(__name__, _NAMES, __all__)
