"""VAE, beta-VAE and Fisher VAE: one class tree over :class:`~porevae.vae.nets.Encoder` /
:class:`~porevae.vae.nets.Decoder` and the fused latent loss :func:`porevae.ops.vae_latent_loss`.

Loss (per batch of N samples, d latent dimensions, V voxels per sample)::

    recon_n  = sum_v BCEWithLogits(logit_nv, x_nv)              (Bernoulli)
             = sum_v 0.5 ((x_nv - mean_nv) / obs_std)^2          (Gaussian, constant dropped)
    KL_n     = 0.5 sum_j (mu_nj^2 + sigma_nj^2 - 1 - logvar_nj)
    F_n      = (1/d) sum_j 1/sigma_nj^2                          (fisher="location"; DESIGN.md)
    total    = mean_n recon_n + beta_t mean_n KL_n + gamma |mean_n F_n - F*|
    beta_t   = beta min(1, step / warmup)   (beta if warmup == 0; step = optimiser steps done)

Reconstruction and KL are both *sums per sample, averaged over the batch* (units: nats per
sample), so ``beta = 1`` is the plain negative ELBO; see :mod:`porevae.vae.config`.
"""

from __future__ import annotations

import contextlib
import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from porevae import ops
from porevae.vae.config import ModelConfig
from porevae.vae.nets import Decoder, Encoder


@contextlib.contextmanager
def _evaluating(module: nn.Module):
    was = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was)


class VAE(nn.Module):
    """Variational auto-encoder, loss = reconstruction + KL (``beta`` = 1).

    Parameters
    ----------
    beta : float
        KL weight; must be 1 for the plain VAE (use :class:`BetaVAE` otherwise).
    **kwargs
        Any other field of :class:`~porevae.vae.config.ModelConfig` (``ndim``, ``size``,
        ``depth``, ``channels``, ``latent_dim``, ``likelihood``, ``norm``, ...).
    """

    kind = "vae"

    def __init__(self, beta: float = 1.0, **kwargs):
        super().__init__()
        self.config = ModelConfig(kind=self.kind, beta=beta, **kwargs)
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)
        self.memory_format = torch.contiguous_format

    @staticmethod
    def from_config(config: ModelConfig) -> VAE:
        """Build the class of ``config.kind`` ("vae", "beta", "fisher") from a config."""
        fields = {k: v for k, v in dataclasses.asdict(config).items() if k != "kind"}
        return MODELS[config.kind](**fields)

    # -- layout -------------------------------------------------------------------------------
    def set_channels_last(self, enabled: bool) -> VAE:
        """Use channels-last (``channels_last`` / ``channels_last_3d``) activations and weights."""
        fmt = (torch.channels_last if self.config.ndim == 2 else torch.channels_last_3d) \
            if enabled else torch.contiguous_format
        self.memory_format = fmt
        self.decoder.memory_format = fmt
        self.to(memory_format=fmt)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        want = (1, *self.config.shape)
        if x.ndim != self.config.ndim + 2 or tuple(x.shape[1:]) != want:
            raise ValueError(f"x must have shape (N, {', '.join(map(str, want))}), got "
                             f"{tuple(x.shape)}")
        return x.contiguous(memory_format=self.memory_format)

    # -- the maps -----------------------------------------------------------------------------
    def encode(self, x: torch.Tensor):
        """x (N, 1, *shape) -> (mu, logvar), each (N, d); differentiable, batched.

        logvar is squashed smoothly into (logvar_min, logvar_max).
        """
        mu, raw = self.encoder(self._check_input(x))
        lo, hi = self.config.logvar_min, self.config.logvar_max
        logvar = hi - F.softplus(hi - lo - F.softplus(raw.float() - lo))
        return mu.float(), logvar

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, d) -> decoder output (N, 1, *shape): logits (Bernoulli) or mean (Gaussian)."""
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"z must have shape (N, {self.config.latent_dim}), got "
                             f"{tuple(z.shape)}")
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, d) -> mean of p(x|z), (N, 1, *shape): pore probability in [0, 1] (Bernoulli)
        or the field value (Gaussian); differentiable, batched."""
        out = self.decode_logits(z).float()
        return torch.sigmoid(out) if self.config.likelihood == "bernoulli" else out

    def recon_per_sample(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) summed over voxels (constant dropped for Gaussian): (N,), in nats."""
        out, x = out.float(), x.float()
        if self.config.likelihood == "bernoulli":
            err = F.binary_cross_entropy_with_logits(out, x, reduction="none")
        else:
            err = 0.5 * ((x - out) / self.config.obs_std) ** 2
        return err.flatten(1).sum(1)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per sample, (N,) (Gaussian: up to a constant); differentiable in z."""
        return -self.recon_per_sample(self.decode_logits(z), x)

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> dict:
        """Per-sample loss terms, each (N,): ``recon``, ``kl``, ``fisher``; and ``z`` (N, d).

        eps : (N, d) standard normal noise of the reparameterization (drawn with ``generator``
        when not given).
        """
        mu, logvar = self.encode(x)
        if eps is None:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z, kl, fisher = ops.vae_latent_loss(mu.contiguous(), logvar.contiguous(),
                                            eps.to(mu.dtype).contiguous(),
                                            fisher=self.config.fisher,
                                            backend=self.config.latent_backend)
        recon = self.recon_per_sample(self.decode_logits(z), x)
        return {"recon": recon, "kl": kl, "fisher": fisher, "z": z}

    def beta_at(self, step: int) -> float:
        """beta_t = beta * min(1, step / warmup) (beta when warmup is 0)."""
        w = self.config.warmup
        return self.config.beta * (min(1.0, step / w) if w else 1.0)

    def combine(self, terms: dict, step: int = 0, fisher_mean: torch.Tensor | None = None
                ) -> dict:
        """Batch loss from per-sample terms: scalars ``total``, ``recon``, ``kl``, ``fisher``
        (batch means) and the float ``beta_t``. ``fisher_mean`` replaces the batch mean of F
        (data-parallel training passes the mean over all processes)."""
        recon, kl = terms["recon"].mean(), terms["kl"].mean()
        fbar = terms["fisher"].mean() if fisher_mean is None else fisher_mean
        beta_t = self.beta_at(step)
        total = recon + beta_t * kl
        if self.config.gamma:
            total = total + self.config.gamma * (fbar - self.config.fisher_target).abs()
        return {"total": total, "recon": recon, "kl": kl, "fisher": fbar, "beta_t": beta_t}

    def loss(self, x: torch.Tensor, step: int = 0, eps: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> dict:
        """Loss of a batch x (N, 1, *shape) at optimiser step ``step`` (for the KL warm-up):
        ``{"total", "recon", "kl", "fisher"}`` (0-d tensors, batch means) and ``"beta_t"``."""
        return self.combine(self(x, eps, generator), step)

    # -- generation ---------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, device=None) -> torch.Tensor:
        """n draws z ~ N(0, I) (seeded on the CPU, so the same on every device) decoded to the
        mean of p(x|z): (n, 1, *shape), float32, in eval mode."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(n, self.config.latent_dim, generator=gen)
        with _evaluating(self):
            return self.decode(z.to(device or self.device))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """decode(mu(x)): (N, 1, *shape), in eval mode."""
        with _evaluating(self):
            return self.decode(self.encode(x)[0])

    @torch.no_grad()
    def interpolate(self, x0: torch.Tensor, x1: torch.Tensor, steps: int = 8) -> torch.Tensor:
        """Decode ``steps`` points on the line between mu(x0) and mu(x1): (steps, 1, *shape).

        x0, x1: one input each, shaped (*shape), (1, *shape) or (1, 1, *shape).
        """
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
        shape = self.config.shape
        xs = torch.stack([torch.as_tensor(x).reshape(1, *shape) for x in (x0, x1)])
        with _evaluating(self):
            mu = self.encode(xs.to(self.device, torch.float32))[0]
            t = torch.linspace(0, 1, steps, device=mu.device)[:, None]
            return self.decode((1 - t) * mu[0] + t * mu[1])


class BetaVAE(VAE):
    """beta-VAE (Higgins et al.): reconstruction + beta KL, default beta = 4."""

    kind = "beta"

    def __init__(self, beta: float = 4.0, **kwargs):
        super().__init__(beta=beta, **kwargs)


class FisherVAE(BetaVAE):
    """Fisher VAE: reconstruction + beta_t KL + gamma |mean F - F*| (DESIGN.md).

    Parameters: ``beta`` (1.0), ``gamma`` (0.1), ``fisher_target`` F* (5.0), ``fisher`` form
    ("location"), ``warmup`` steps of linear KL warm-up (0), and any ModelConfig field.
    """

    kind = "fisher"

    def __init__(self, beta: float = 1.0, gamma: float = 0.1, fisher_target: float = 5.0,
                 fisher: str = "location", warmup: int = 0, **kwargs):
        super().__init__(beta=beta, gamma=gamma, fisher_target=fisher_target, fisher=fisher,
                         warmup=warmup, **kwargs)


MODELS = {"vae": VAE, "beta": BetaVAE, "fisher": FisherVAE}
