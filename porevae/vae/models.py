"""VAE, beta-VAE and Fisher VAE with a spatial latent map: one class tree over the fully
convolutional :class:`~porevae.vae.nets.Encoder` / :class:`~porevae.vae.nets.Decoder` and the
fused latent loss :func:`porevae.ops.vae_latent_loss`.

Loss (per batch of N samples; latent map of L = C x cells elements, V voxels per sample)::

    recon_n  = sum_v BCEWithLogits(logit_nv, x_nv)              (Bernoulli)
             = sum_v 0.5 (r_nv / sigma)^2 + V log sigma          (Gaussian, constant dropped)
    r_nv     = (x_nv - data_shift) / data_scale - mean_nv         (standardised residual)
    sigma    = obs_std, or sqrt(mean_{n,v} r_nv^2) of the batch (obs_std None, not
               differentiated: the optimum of sigma, so the value and the gradient are those
               of the loss minimised over sigma)
    KL_n     = 0.5 sum_l (mu_nl^2 + sigma_nl^2 - 1 - logvar_nl)    (sum over all L elements)
    F_n      = (1/L) sum_l 1/sigma_nl^2          (fisher="location": mean over the L elements)
    D        = V sum_{r <= s2_rmax} (mean_m S2_m(r) - S2_data(r))^2   (prior samples m, if on)
             = V sum_{r <= s2_rmax} (C(r) / sqrt C(0) - S2_data(r) / sqrt S2_data(0))^2 + V P
                 (Gaussian: C = mean_m S2_m of the standardised prior decodes less their
                 batch mean at each voxel, times M / (M - 1): the ensemble covariance, what
                 varies with z; P = the unbiased estimate of the squared batch-mean field,
                 averaged over the voxels (the data: 0). The amplitude form is of degree 1 in
                 the field's amplitude, so its gradient does not vanish at a collapsed prior
                 decode; the centring keeps a pattern shared by all samples from passing for
                 variance: with the plain S2 an untrained decoder met the data's S2 with a
                 constant -0.4 or period-2 stripes and stayed there 100-200 steps)
               + euler_weight V (mean_m chi_m / chi_data - 1)^2  (Euler densities, if on)
               + flow_weight V c mean_m mean_x(g_m h_m)  (permeability, if on: ModelConfig)
               + surface_weight V (s / s_data - 1)^2, s = S2(0) - S2(1)  (surface, if on)
    total    = mean_n recon_n + beta_t mean_n KL_n + gamma |mean_n F_n - F*| + s2_weight D
    beta_t   = beta min(1, step / warmup)   (beta if warmup == 0; step = optimiser steps done)

Reconstruction and KL are both *sums per sample, averaged over the batch* (units: nats per
sample), so ``beta = 1`` is the plain negative ELBO; the Fisher term is a per-element mean, so
its target F* does not depend on C or on the crop size. ``D`` is the descriptor loss of
:mod:`porevae.vae.losses` on M decoded prior samples z ~ N(0, I) (S2 of the soft decoded image
along the axes, lags 0..s2_rmax; with ``s2_cut="porosity"`` of the exact cut at the data's
porosity, with a tempered gradient), scaled by V so that it is a per-sample sum like recon.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from porevae import ops
from porevae.vae.config import BetaVAEConfig, FisherVAEConfig, ModelConfig, VAEConfig
from porevae.vae.losses import euler_density, porosity_cut, s2_axes
from porevae.vae.nets import Decoder, Encoder

#: Most data tiles that the ``s2_cut="porosity"`` target is measured on.
TARGET_TILES = 512
#: Most data tiles whose permeability sets the ``flow_weight`` target (one solve per axis each).
FLOW_TILES = 24
#: Weight of the newest step in the running mean of log(k_prior / k_data) of the flow term.
FLOW_RATE = 0.2
#: Smallest observation noise sigma of the "optimal" Gaussian likelihood (standardised units).
MIN_OBS_STD = 1e-3


@contextlib.contextmanager
def evaluating(module: nn.Module):
    """Put ``module`` in eval mode for the block, restoring its mode afterwards."""
    was = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was)


def _ensemble_split(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of M prior decodes (M, 1, *shape) of a Gaussian model (standardised units) ->
    ``(image, pattern)``: ``image`` = (out - mean over the batch at each voxel) sqrt(M / (M - 1)),
    whose S2 is an unbiased estimate of the ensemble covariance (what varies with z), and
    ``pattern`` (M,), whose batch mean ``sum_{m != k} mean_v out_m out_k / (M (M - 1))`` is an
    unbiased estimate of the squared ensemble mean field averaged over the voxels (0 for the
    standardised data: stationary, mean 0). A pattern that every sample shares (a constant,
    the stripes of the stride-2 layers of an untrained decoder) is thus no variance to the S2
    term (it was, and an untrained decoder met the data's S2(0) with it) but costs its squared
    amplitude. M = 1: ``out`` itself (S2 = covariance + squared mean) and a zero pattern."""
    m = out.shape[0]
    if m == 1:
        return out, out.new_zeros(1)
    total = out.sum(0, keepdim=True)
    image = (out - total / m) * (m / (m - 1)) ** 0.5
    pattern = (out * (total - out)).flatten(1).mean(1) / (m - 1)
    return image, pattern


class VAE(nn.Module):
    """Fully convolutional variational auto-encoder, loss = reconstruction + KL (``beta`` = 1).

    Parameters
    ----------
    **kwargs
        Fields of the class's config (:attr:`config_class`, a
        :class:`~porevae.vae.config.ModelConfig`: ``ndim``, ``size``, ``depth``, ``channels``,
        ``latent_channels``, ``likelihood``, ``s2_weight``, ...), each defaulting to the kind's
        own default (:class:`BetaVAE`: beta 4; :class:`FisherVAE`: gamma 0.1).

    The buffer ``s2_target`` (s2_rmax + 1,) holds the data's S2 along the axes for the
    descriptor loss and ``euler_target`` (0-d, not saved) the data's Euler density;
    :meth:`set_descriptor_targets` fills them from the training data. A Gaussian model also
    has the saved 0-d buffers ``data_shift`` and ``data_scale`` (the training data's mean and
    standard deviation, :meth:`set_data_scaling`): it encodes ``(x - data_shift) / data_scale``
    and decodes back to the data's units, so generation needs nothing else.
    ``data_info`` (a dict) is what the checkpoint recorded about the training data
    (:func:`porevae.vae.trainer.load_model`; empty for a new model).
    """

    config_class = VAEConfig

    def __init__(self, **kwargs):
        super().__init__()
        self.config = self.config_class(**kwargs)
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)
        self.register_buffer("s2_target", torch.zeros(self.config.s2_rmax + 1))
        self.register_buffer("euler_target", torch.zeros((), dtype=torch.float64),
                             persistent=False)
        self.register_buffer("flow_target", torch.zeros(3, dtype=torch.float64),
                             persistent=False)
        # saved with a model that trains the flow term, so that a resumed run goes on with it
        self.register_buffer("flow_log_ratio", torch.full((), float("nan"), dtype=torch.float64),
                             persistent=bool(self.config.flow_weight))
        if self.config.likelihood == "gaussian":
            self.register_buffer("data_shift", torch.zeros(()))
            self.register_buffer("data_scale", torch.ones(()))
        self.memory_format = torch.contiguous_format
        self.data_info: dict = {}

    @property
    def kind(self) -> str:
        """The kind of VAE ("vae", "beta", "fisher"): the config class's."""
        return self.config.kind

    @staticmethod
    def from_config(config: ModelConfig) -> VAE:
        """Build the model class of ``config.kind`` (:data:`REGISTRY`) from a config."""
        fields = {k: v for k, v in dataclasses.asdict(config).items() if k != "kind"}
        return REGISTRY[config.kind][0](**fields)

    @torch.no_grad()
    def set_data_scaling(self, volumes) -> tuple[float, float]:
        """Gaussian models: ``data_shift`` / ``data_scale`` = mean / standard deviation of all
        values of ``volumes`` (arrays), accumulated in float64. Returns them."""
        if self.config.likelihood != "gaussian":
            raise ValueError("set_data_scaling is for Gaussian-likelihood models")
        n = sum(np.size(v) for v in volumes)
        mean = sum(float(np.sum(v, dtype=np.float64)) for v in volumes) / n
        var = sum(float(np.sum((np.asarray(v, np.float64) - mean) ** 2)) for v in volumes) / n
        if not var > 0:
            raise ValueError("Gaussian-likelihood data is constant: there is nothing to learn")
        self.data_shift.fill_(mean)
        self.data_scale.fill_(var**0.5)
        return mean, var**0.5

    # -- layout -------------------------------------------------------------------------------
    def set_channels_last(self, enabled: bool) -> VAE:
        """Use channels-last (``channels_last`` / ``channels_last_3d``) activations and weights."""
        fmt = (torch.channels_last if self.config.ndim == 2 else torch.channels_last_3d) \
            if enabled else torch.contiguous_format
        self.memory_format = fmt
        self.decoder.memory_format = fmt
        self.encoder.to(memory_format=fmt)
        self.decoder.to(memory_format=fmt)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def latent_cells(self, shape) -> tuple:
        """Latent map cells for an output of ``shape`` voxels: ceil(shape / f) per axis."""
        f = self.config.factor
        return tuple(-(-int(s) // f) for s in shape)

    def _tiles(self, volumes) -> list:
        """Non-overlapping tiles of the descriptor loss's shape (``config.s2_shape``) of the
        volumes (at most :data:`TARGET_TILES`, evenly spread)."""
        shape = self.config.s2_shape
        corners = [(v, c) for v in volumes for c in itertools.product(
            *(range(0, n - s + 1, s) for n, s in zip(np.shape(v), shape)))]
        if len(corners) > TARGET_TILES:
            corners = [corners[i] for i in
                       np.linspace(0, len(corners) - 1, TARGET_TILES).astype(int)]
        return [np.asarray(v)[tuple(slice(a, a + s) for a, s in zip(c, shape))]
                for v, c in corners]

    def set_descriptor_targets(self, volumes) -> torch.Tensor:
        """Fill ``s2_target`` (lags 0..s2_rmax) and, with ``euler_weight``, ``euler_target``
        from the binary training volume(s): one array (*shape) or a list of them.

        ``s2_cut="soft"``: the S2 along the axes, averaged over axes and volumes.
        ``s2_cut="porosity"``: the S2 that a prior sample (shape ``config.s2_shape``) cut at
        exactly the data's porosity phi has when it is correlated like the data's crops of that
        shape, ``phi^2 + phi (1 - phi) rho(r)`` with ``rho(r) = sum_c (S2_c(r) - phi_c^2) /
        sum_c (phi_c - phi_c^2)`` over non-overlapping tiles c of that shape (at most
        :data:`TARGET_TILES`, evenly spread) with porosity phi_c: the prior samples' S2 is
        measured on that shape too, so the finite-crop bias of S2 at long lags, and
        the spread of porosity between crops, are the same on both sides.
        ``euler_target``: the Euler density of the data by the estimator of the prior samples'
        (:func:`~porevae.vae.losses.euler_density`), over the whole volumes.
        ``flow_target`` (with ``flow_weight``): the mean permeability (voxel^2) along each axis
        of at most :data:`FLOW_TILES` of those tiles, evenly spread (one Stokes solve per tile
        and axis, tol 1e-2).
        Returns ``s2_target``.
        """
        if isinstance(volumes, np.ndarray) and volumes.ndim == self.config.ndim:
            volumes = [volumes]
        r_max = self.config.s2_rmax
        if self.config.flow_weight:
            from porevae.media import permeability

            tiles = self._tiles(volumes)
            tiles = [tiles[i] for i in np.unique(np.linspace(0, len(tiles) - 1, FLOW_TILES)
                                                 .astype(int))] if tiles else []
            k = np.array([[permeability(t, axis=a, tol=1e-2).k_voxel2 for a in range(3)]
                          for t in tiles]).reshape(-1, 3)
            if not len(k) or (k.mean(0) <= 0).any():
                raise ValueError(f"flow_weight > 0 needs data tiles of {self.config.s2_shape} "
                                 f"voxels that percolate along every axis")
            self.flow_target.copy_(torch.as_tensor(k.mean(0)))
            self.flow_log_ratio.fill_(float("nan"))
        if self.config.euler_weight:
            chi = np.mean([float(euler_density(torch.as_tensor(np.asarray(v))[None]))
                           for v in volumes])
            if chi == 0:
                raise ValueError("euler_weight > 0 needs training data whose Euler density is "
                                 "not 0")
            self.euler_target.fill_(float(chi))
        if self.config.s2_cut == "soft":
            shift, scale = ((float(self.data_shift), float(self.data_scale))
                            if self.config.likelihood == "gaussian" else (0.0, 1.0))
            acc = [s2_axes((torch.as_tensor(np.asarray(v), dtype=torch.float64)[None] - shift)
                           / scale, r_max)[0] for v in volumes]
            self.s2_target.copy_(torch.stack(acc).mean(0).to(self.s2_target.dtype))
            return self.s2_target
        cov = torch.zeros(r_max + 1, dtype=torch.float64)
        pore = 0.0
        tiles = self._tiles(volumes)
        if not tiles:
            raise ValueError(f"s2_size {self.config.s2_shape} must fit in a training volume "
                             f"(shapes {[np.shape(v) for v in volumes]})")
        for tile in tiles:
            s2 = s2_axes(torch.as_tensor(tile, dtype=torch.float64)[None], r_max)[0]
            cov += s2 - s2[0] ** 2
            pore += float(s2[0])
        phi = pore / len(tiles)
        if not 0.0 < phi < 1.0 or cov[0] <= 0:
            raise ValueError("s2_cut='porosity' needs training data with both phases")
        target = phi**2 + phi * (1.0 - phi) * cov / cov[0]
        self.s2_target.copy_(target.to(self.s2_target.dtype))
        return self.s2_target

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        f = self.config.factor
        if x.ndim != self.config.ndim + 2 or x.shape[1] != 1 or any(s % f for s in x.shape[2:]):
            raise ValueError(f"x must have shape (N, 1, *shape) with {self.config.ndim} spatial "
                             f"axes, each divisible by f = {f}; got {tuple(x.shape)}")
        return x.contiguous(memory_format=self.memory_format)

    def _check_latent(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != self.config.ndim + 2 or z.shape[1] != self.config.latent_channels:
            raise ValueError(f"z must have shape (N, {self.config.latent_channels}, *cells) with "
                             f"{self.config.ndim} spatial axes, got {tuple(z.shape)}")
        return z

    # -- the maps -----------------------------------------------------------------------------
    def encode(self, x: torch.Tensor):
        """x (N, 1, *shape) -> (mu, logvar), each (N, C, *shape / f); differentiable, batched.

        logvar is squashed smoothly into (logvar_min, logvar_max).
        """
        x = self._check_input(x)
        if self.config.likelihood == "gaussian":
            x = (x - self.data_shift) / self.data_scale
        mu, raw = self.encoder(x)
        lo, hi = self.config.logvar_min, self.config.logvar_max
        logvar = hi - F.softplus(hi - lo - F.softplus(raw.float() - lo))
        return mu.float(), logvar

    def decode_logits(self, z: torch.Tensor, trim: int = 0) -> torch.Tensor:
        """z (N, C, *cells) -> decoder output (N, 1, *(cells f)): logits (Bernoulli) or mean
        (Gaussian). ``trim`` = t > 0 keeps the voxels [t f, (cells - t) f) per axis, decoded
        as in the interior of the map when t >= ``config.halo`` (the latent margin of
        :mod:`porevae.vae.generation`; see :meth:`porevae.vae.nets.Decoder.forward`)."""
        return self.decoder(self._check_latent(z), trim=trim)

    def mean_of(self, out: torch.Tensor, into: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder output -> mean of p(x|z): sigmoid of the logits (Bernoulli) or
        ``data_shift + data_scale * out`` in the data's units (Gaussian); written into ``into``
        (a tensor of that shape, e.g. a view of the output volume) when given, without a
        temporary."""
        out = out.float()
        if self.config.likelihood == "bernoulli":
            return torch.sigmoid(out) if into is None else torch.sigmoid(out, out=into)
        shift, scale = self.data_shift.to(out.device), self.data_scale.to(out.device)
        if into is None:
            return torch.addcmul(shift, out, scale)
        return into.copy_(out).mul_(scale).add_(shift)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, C, *cells) -> mean of p(x|z), (N, 1, *(cells f)): pore probability in [0, 1]
        (Bernoulli) or the field value (Gaussian); differentiable, batched."""
        return self.mean_of(self.decode_logits(z))

    def recon_per_sample(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) summed over voxels (Gaussian: up to the constant V log sqrt(2 pi) and
        in standardised units, see the module docstring): (N,), in nats. x in the data's
        units; for the Gaussian with ``obs_std`` None, sigma is the batch's RMS residual."""
        out, x = out.float(), x.float()
        if self.config.likelihood == "bernoulli":
            err = F.binary_cross_entropy_with_logits(out, x, reduction="none")
            return err.flatten(1).sum(1)
        r = ((x - self.data_shift) / self.data_scale - out).flatten(1)
        sigma = self.config.obs_std
        if sigma is None:
            sigma = float(r.detach().square().mean().sqrt().clamp_min(MIN_OBS_STD))
        return 0.5 * (r / sigma).square().sum(1) + r.shape[1] * float(np.log(sigma))

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per sample, (N,) (Gaussian: up to a constant); differentiable in z."""
        return -self.recon_per_sample(self.decode_logits(z), x)

    def latent_loss(self, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor):
        """(z, kl, fisher) of the latent map by :func:`porevae.ops.vae_latent_loss` with this
        model's ``logvar_range``: z like mu (N, C, *cells), kl (N,) summed over the latent
        elements, fisher (N,) averaged over them."""
        n = mu.shape[0]
        z, kl, fisher = ops.vae_latent_loss(
            mu.reshape(n, -1), logvar.reshape(n, -1), eps.to(mu.dtype).reshape(n, -1),
            fisher=self.config.fisher, backend=self.config.latent_backend,
            logvar_range=(self.config.logvar_min, self.config.logvar_max))
        return z.reshape(mu.shape), kl, fisher

    def prior_descriptors(self, eps_prior: torch.Tensor) -> dict:
        """Descriptors of decoded prior samples, differentiable in the decoder's parameters:
        ``s2`` (M, s2_rmax + 1), the S2 along the axes, and with ``euler_weight`` ``euler``
        (M,), the Euler density (:func:`~porevae.vae.losses.euler_density`); with
        ``flow_weight`` ``flow`` (M,), mean_x(g_m h_m) with g_m the permeability sensitivity of
        sample m's cut h_m along axis m mod 3 (:func:`porevae.media.permeability_sensitivity`,
        no gradient through g), and ``flow_k`` (M,), its k over the data's (no gradient).

        eps_prior : (M, C, *(cells + 2 halo)) latent maps with generation's margin
            (:func:`porevae.vae.generation.latent_map_cells`; cells = ``s2_shape`` / f): each
            sample is the decode of its map trimmed by ``config.halo`` cells per face, exactly
            the voxels that generation writes, so that no face sees the decoder's zero padding.
        The image is the pore probability, or with ``s2_cut="porosity"`` its exact cut at the
        data's porosity ``s2_target[0]`` (:func:`~porevae.vae.losses.porosity_cut`)."""
        out = self.decode_logits(eps_prior, trim=self.config.halo)
        if self.config.s2_cut == "porosity":
            image = porosity_cut(out, float(self.s2_target[0]))
        elif self.config.likelihood == "gaussian":
            image, pattern = _ensemble_split(out)
        else:
            image = self.mean_of(out)
        out = {"s2": s2_axes(image, self.config.s2_rmax)}
        if self.config.likelihood == "gaussian":
            out["pattern"] = pattern
        if self.config.euler_weight:
            out["euler"] = euler_density(image)
        if self.config.flow_weight:
            out["flow"], out["flow_k"] = self._flow_terms(image)
        return out

    def _flow_terms(self, image: torch.Tensor) -> tuple:
        """(flow, flow_k) of :meth:`prior_descriptors` for the cut ``image`` (M, 1, *shape)."""
        from porevae.media import permeability_sensitivity

        terms, ratios = [], []
        for m in range(image.shape[0]):
            axis = m % 3
            res, g = permeability_sensitivity(image[m, 0].detach().cpu().numpy() > 0.5, axis)
            ratios.append(res.k_voxel2 / float(self.flow_target[axis]))
            terms.append((torch.as_tensor(g, dtype=image.dtype, device=image.device)
                          * image[m, 0]).mean())
        return torch.stack(terms), torch.tensor(ratios, dtype=torch.float64)

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None = None,
                generator: torch.Generator | None = None,
                eps_prior: torch.Tensor | None = None) -> dict:
        """Per-sample loss terms, each (N,): ``recon``, ``kl``, ``fisher``; ``z`` (N, C, *cells);
        and the :meth:`prior_descriptors` of decoded prior samples (``s2``, ``euler``) when
        ``eps_prior`` is given.

        eps : (N, C, *cells) standard normal noise of the reparameterization (drawn with
        ``generator`` when not given).
        """
        mu, logvar = self.encode(x)
        if eps is None:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z, kl, fisher = self.latent_loss(mu, logvar, eps)
        recon = self.recon_per_sample(self.decode_logits(z), x)
        terms = {"recon": recon, "kl": kl, "fisher": fisher, "z": z}
        if eps_prior is not None:
            terms.update(self.prior_descriptors(eps_prior))
        return terms

    def beta_at(self, step: int) -> float:
        """beta_t = beta * min(1, step / warmup) (beta when warmup is 0)."""
        w = self.config.warmup
        return self.config.beta * (min(1.0, step / w) if w else 1.0)

    def combine(self, terms: dict, step: int = 0, fisher_mean: torch.Tensor | None = None,
                s2_mean: torch.Tensor | None = None,
                euler_mean: torch.Tensor | None = None,
                pattern_mean: torch.Tensor | None = None) -> dict:
        """Batch loss from per-sample terms (with the flow term, one call per training step: it
        updates the running mean ``flow_log_ratio``): 0-d tensors ``total``, ``recon``, ``kl``,
        ``fisher`` (batch means), ``s2`` (descriptor loss D, 0 when off) and the float
        ``beta_t``. ``fisher_mean`` / ``s2_mean`` / ``euler_mean`` / ``pattern_mean`` replace
        the batch means of F and of the prior samples' S2, Euler density and (Gaussian)
        ``pattern`` (data-parallel training passes the means over all processes)."""
        cfg = self.config
        recon, kl = terms["recon"].mean(), terms["kl"].mean()
        fbar = terms["fisher"].mean() if fisher_mean is None else fisher_mean
        beta_t = self.beta_at(step)
        total = recon + beta_t * kl
        if cfg.gamma:
            total = total + cfg.gamma * (fbar - cfg.fisher_target).abs()
        desc = torch.zeros((), device=recon.device)
        if "s2" in terms:
            s2 = terms["s2"].mean(0) if s2_mean is None else s2_mean
            target = self.s2_target.to(s2.dtype)
            voxels = float(np.prod(terms["z"].shape[2:])) * cfg.factor**cfg.ndim
            if cfg.likelihood == "gaussian":  # centred amplitude form, see the module docstring
                pbar = terms["pattern"].mean() if pattern_mean is None else pattern_mean
                s2 = s2 / s2[0].clamp_min(torch.finfo(s2.dtype).tiny).sqrt()
                target = target / target[0].sqrt()  # the data's mean is 0 when standardised
                desc = voxels * (((s2 - target) ** 2).sum() + pbar.to(s2.dtype))
            else:
                desc = voxels * ((s2 - target) ** 2).sum()
            if "euler" in terms:
                chi = terms["euler"].mean() if euler_mean is None else euler_mean
                desc = desc + cfg.euler_weight * voxels * (chi / self.euler_target - 1.0) ** 2
            if "flow" in terms:
                desc = desc + cfg.flow_weight * voxels * self._flow_sign(terms["flow_k"]) \
                    * terms["flow"].mean()
            if cfg.surface_weight:
                rel = (s2[0] - s2[1]) / (target[0] - target[1]) - 1.0
                desc = desc + cfg.surface_weight * voxels * rel**2
            total = total + cfg.s2_weight * desc
        return {"total": total, "recon": recon, "kl": kl, "fisher": fbar, "s2": desc,
                "beta_t": beta_t}

    def _flow_sign(self, ratios: torch.Tensor) -> float:
        """c of the flow term: the running mean ``flow_log_ratio`` of log(mean k / k_data),
        updated with this batch's ``ratios`` (weight :data:`FLOW_RATE`), clipped to [-1, 1]."""
        r = float(np.log(max(float(ratios.mean()), 1e-3)))
        old = float(self.flow_log_ratio)
        self.flow_log_ratio.fill_(r if np.isnan(old) else (1 - FLOW_RATE) * old + FLOW_RATE * r)
        return float(np.clip(float(self.flow_log_ratio), -1.0, 1.0))

    def loss_formula(self) -> str:
        """The loss this model trains, every term with its weight (for logs)."""
        cfg = self.config
        beta = "beta_t" if cfg.warmup else f"{cfg.beta:g}"
        text = f"loss = mean_n recon_n + {beta} mean_n KL_n"
        if cfg.warmup:
            text += f" (beta_t = {cfg.beta:g} min(1, step / {cfg.warmup}))"
        if cfg.gamma:
            text += f" + {cfg.gamma:g} |mean_n F_n - {cfg.fisher_target:g}| (F: {cfg.fisher})"
        if cfg.s2_weight:
            image = ("their exact-porosity cut" if cfg.s2_cut == "porosity" else
                     "their pore probability")
            euler = (f"; + {cfg.euler_weight:g} V (chi_m / chi_data - 1)^2, chi the Euler "
                     "density" if cfg.euler_weight else "")
            if cfg.flow_weight:
                euler += (f"; + {cfg.flow_weight:g} V c mean(g_m h_m), g the Stokes sensitivity "
                          "of k, c the running log(k_m / k_data) clipped to [-1, 1]")
            if cfg.surface_weight:
                euler += (f"; + {cfg.surface_weight:g} V (s / s_data - 1)^2, s = S2(0) - S2(1), "
                          "the specific surface")
            text += (f" + {cfg.s2_weight:g} D (S2 of decoded prior samples vs data, "
                     f"lags 0..{cfg.s2_rmax}, of {image}{euler})")
        return text

    def loss(self, x: torch.Tensor, step: int = 0, eps: torch.Tensor | None = None,
             generator: torch.Generator | None = None,
             eps_prior: torch.Tensor | None = None) -> dict:
        """Loss of a batch x (N, 1, *shape) at optimiser step ``step`` (for the KL warm-up):
        see :meth:`combine`. The descriptor term needs ``eps_prior`` (M, C, *cells)."""
        return self.combine(self(x, eps, generator, eps_prior), step)

    # -- generation ---------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, shape=None, seed: int | None = None, device=None,
               chunk: int | None = None, progress: bool = False) -> torch.Tensor:
        """n prior samples decoded to the mean of p(x|z): (n, 1, *shape) float32 on the CPU.

        ``shape`` (voxels per axis, any positive ints; default the training crop) is decoded
        from a latent map of ceil(shape / f) cells and cropped. The latent noise is drawn per
        sample and per latent block from ``seed`` (:func:`porevae.vae.generation.latent_noise`),
        so sample i is the same whatever ``n``, ``chunk`` and device, and a larger shape extends
        a smaller one. ``chunk``: latent cells per axis decoded at a time (None: the whole map),
        with the decoder's halo, so the result equals the whole-map decode.
        """
        from porevae.vae.generation import sample_means

        return sample_means(self, n, shape=shape, seed=seed, device=device, chunk=chunk,
                            progress=progress)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """decode(mu(x)): (N, 1, *shape), in eval mode."""
        with evaluating(self):
            return self.decode(self.encode(x)[0])

    @torch.no_grad()
    def interpolate(self, x0: torch.Tensor, x1: torch.Tensor, steps: int = 8) -> torch.Tensor:
        """Decode ``steps`` points on the line between mu(x0) and mu(x1): (steps, 1, *shape).

        x0, x1: one input each of the same shape, shaped (*shape), (1, *shape) or
        (1, 1, *shape).
        """
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
        a, b = (torch.as_tensor(x) for x in (x0, x1))
        shape = a.shape[-self.config.ndim:]
        xs = torch.stack([t.reshape(1, *shape) for t in (a, b)])
        with evaluating(self):
            mu = self.encode(xs.to(self.device, torch.float32))[0]
            t = torch.linspace(0, 1, steps, device=mu.device).reshape(-1, *[1] * (mu.ndim - 1))
            return self.decode((1 - t) * mu[0] + t * mu[1])


class BetaVAE(VAE):
    """beta-VAE (Higgins et al.): reconstruction + beta KL; defaults of
    :class:`~porevae.vae.config.BetaVAEConfig` (beta 4)."""

    config_class = BetaVAEConfig


class FisherVAE(BetaVAE):
    """Fisher VAE: reconstruction + beta_t KL + gamma |mean F - F*|; defaults of
    :class:`~porevae.vae.config.FisherVAEConfig`: ``beta`` 1, ``gamma`` 0.1,
    ``fisher_target`` F* 5, ``fisher`` "location", ``warmup`` 0."""

    config_class = FisherVAEConfig


def build_model(config: ModelConfig, seed: int | None = None) -> VAE:
    """The model class of ``config.kind``, its parameters initialised under ``seed``."""
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return VAE.from_config(config)
    return VAE.from_config(config)


#: The one registry of VAE kinds: kind -> (model class, config class). The kinds are those of
#: :data:`porevae.vae.config.CONFIGS` (each config class registers itself); the CLI's
#: ``--kind`` choices, ``load_config`` and checkpoints all go through it.
REGISTRY = {cls.config_class.kind: (cls, cls.config_class) for cls in (VAE, BetaVAE, FisherVAE)}
