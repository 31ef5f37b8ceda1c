"""Variational auto-encoders for porous media: VAE, beta-VAE and Fisher VAE (DESIGN.md).

- :mod:`~porevae.vae.config`: :class:`ModelConfig`, :class:`TrainConfig`, TOML loading.
- :mod:`~porevae.vae.nets`: 2D/3D convolutional encoder and decoder.
- :mod:`~porevae.vae.models`: :class:`VAE`, :class:`BetaVAE`, :class:`FisherVAE`.
- :mod:`~porevae.vae.data`: random crops with the 8/48 symmetries, seeded.
- :mod:`~porevae.vae.trainer`: :class:`Trainer` (checkpoints, resume, CSV log, DDP).
- :mod:`~porevae.vae.binarize`: binary media from decoded pore probabilities.

Loss convention: reconstruction and KL are per-sample sums averaged over the batch.
"""

from __future__ import annotations

import numpy as np
import torch

from porevae.vae.binarize import CUT_RULES, cut_probabilities
from porevae.vae.config import Config, ModelConfig, TrainConfig, load_config
from porevae.vae.data import CropSampler, apply_symmetry, load_volume, symmetry_transforms
from porevae.vae.models import MODELS, VAE, BetaVAE, FisherVAE
from porevae.vae.trainer import Trainer, load_checkpoint, load_model

__all__ = [
    "CUT_RULES",
    "MODELS",
    "VAE",
    "BetaVAE",
    "Config",
    "CropSampler",
    "FisherVAE",
    "ModelConfig",
    "TrainConfig",
    "Trainer",
    "apply_symmetry",
    "build_model",
    "cut_probabilities",
    "load_checkpoint",
    "load_config",
    "load_model",
    "load_volume",
    "symmetry_transforms",
    "train_demo",
]


def build_model(config: ModelConfig, seed: int | None = None) -> VAE:
    """The model class of ``config.kind``, its parameters initialised under ``seed``."""
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return VAE.from_config(config)
    return VAE.from_config(config)


def train_demo(volume, out_dir=None, steps: int = 200, seed: int = 0, *, kind: str = "fisher",
               size: int = 32, batch_size: int = 8, lr: float = 2e-3, progress: bool = False,
               device: str = "auto", **model_kwargs):
    """Short training run on one binary image (H, W) / volume (D, H, W), or a stack of them.

    ``volume`` (NumPy, 1 = pore) sets ``ndim`` from its number of axes (2 -> 2D model, 3 -> 3D);
    crops are ``size`` per axis (32..128). Defaults make a small Fisher VAE (depth 3, 8 channels,
    latent 16) that trains in seconds to minutes on a CPU. Returns ``(model, history)`` with the
    model in eval mode and ``history`` the list of logged rows (step, total, recon, kl, fisher,
    beta_t, lr, seconds). With ``out_dir`` the checkpoint and ``log.csv`` are written there.
    """
    volume = np.asarray(volume)
    if volume.ndim not in (2, 3):
        raise ValueError(f"volume must have 2 or 3 axes, got shape {volume.shape}")
    params = {"depth": 3, "channels": 8, "max_channels": 64, "latent_dim": 16,
              **model_kwargs, "kind": kind, "ndim": volume.ndim, "size": size}
    if kind == "beta":
        params.setdefault("beta", 4.0)
    if kind == "fisher":
        params.setdefault("gamma", 0.1)
    model = build_model(ModelConfig(**params), seed=seed)
    trainer = Trainer(model, volume.astype(np.float32), TrainConfig(
        steps=steps, batch_size=batch_size, lr=lr, seed=seed, progress=progress,
        device=device, checkpoint_every=0), out_dir=out_dir)
    history = trainer.fit()
    return model.eval(), history
