"""Configuration of the VAE family and of its training: dataclasses with validated defaults.

A TOML file holds a ``[model]`` and a ``[train]`` table whose keys are the field names below;
:func:`load_config` reads it (``tomllib``), and unknown keys are errors (a typo is never ignored).

Loss weighting (the convention of the whole package, stated once): the reconstruction term and the
KL term are each **summed over the voxels / latent elements of one sample and averaged over the
batch**, i.e. ``total = mean_n recon_n + beta_t * mean_n KL_n + gamma * |mean_n F_n - F*|
+ s2_weight * D``. This is the negative ELBO per sample (for ``beta = 1``); it is *not* a
per-voxel mean, so the KL weight does not silently shrink as the images grow. With a spatial
latent map (C channels x cells) "latent elements" are all C x cells values: KL_n sums the
per-element KL over all of them, and the Fisher term ``F_n`` is the **mean** over them, so ``F*``
depends neither on C nor on the crop size.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from porevae._validation import check_choice, check_int, check_real
from porevae.ops._choices import BACKENDS as LATENT_BACKENDS
from porevae.ops._choices import FISHER_FORMS, LOGVAR_RANGE

LIKELIHOODS = ("bernoulli", "gaussian")
S2_CUTS = ("soft", "porosity")
SCHEDULERS = ("none", "cosine")
AMP_MODES = ("auto", "off", "fp16", "bf16")
TRISTATE = ("auto", "on", "off")
#: Cut rules of generation (:mod:`porevae.vae.binarize`): "connected" (the default: the
#: connected cut at a given porosity, the training data's by default), "data" (the global
#: threshold at that porosity), "mean", "half", "sample", and "none" (no cut: the probabilities).
CUT_RULES = ("connected", "data", "mean", "half", "sample", "none")

LOGVAR_LIMIT = 30.0
#: Default descriptor-loss weight of Gaussian models (``s2_weight`` None) and default largest lag.
GAUSSIAN_S2_WEIGHT = 3.0
S2_RMAX = 16
#: Fields of :class:`ModelConfig` that fix the networks' parameters (their names and shapes):
#: weights transfer (``--init``) between configurations that agree on these.
ARCHITECTURE = ("ndim", "depth", "channels", "max_channels", "latent_channels", "blocks",
                "latent_blocks", "likelihood")


#: The kinds of VAE: kind -> its config class (filled by each subclass of
#: :class:`ModelConfig` as it is defined; :data:`porevae.vae.models.REGISTRY` pairs each with
#: its model class).
CONFIGS: dict = {}


@dataclass
class ModelConfig:
    """Architecture and loss of one fully convolutional VAE with a spatial latent map.

    The base of one config class per kind (:class:`VAEConfig`, :class:`BetaVAEConfig`,
    :class:`FisherVAEConfig`), each with its kind's defaults: ``ModelConfig(kind="fisher",
    ...)`` builds a :class:`FisherVAEConfig` (gamma 0.1), whatever the path (API, TOML, CLI,
    checkpoint), so a kind always starts from the same defaults.

    The latent of an input (N, 1, *shape) is a map (N, latent_channels, *shape / f) with
    f = 2**depth, and the prior is N(0, 1) i.i.d. per latent element, so the decoder (only local
    operations: 3x3(x3) convolutions, 2x2(x2) stride-2 transposed convolutions, SiLU) turns a
    larger latent map into a larger volume: any shape, decoded in chunks (:mod:`porevae.vae.
    generate`). There is no normalisation layer (a norm over the volume is not local).

    Attributes
    ----------
    kind : "vae" | "beta" | "fisher"
        Loss family (the config class, :data:`CONFIGS`): reconstruction + KL (``beta`` 1 for
        "vae"), + ``beta`` KL (default 4), or + ``beta_t`` KL + ``gamma`` |F - F*| (default
        gamma 0.1).
    ndim : 2 | 3
        Spatial dimensions; inputs are (N, 1, H, W) or (N, 1, D, H, W).
    size : int or tuple
        Training crop size per axis (voxels), each in [8, 256] and divisible by f = 2**depth;
        an int means the same size on every axis. It fixes nothing in the networks: any
        multiple of f is accepted by ``encode``, any shape by ``sample``.
    depth : int in [1, 5]
        Stride-2 stages: latent cell = f = 2**depth voxels per axis (2: f = 4).
    channels : int in [1, 512]
        Width of the full-resolution stage; doubled each stage, capped at ``max_channels``.
    max_channels : int in [1, 1024]
        Width of the widest stages.
    latent_channels : int in [1, 512]
        C, latent channels per latent cell. The latent size of a crop is
        ``C * prod(size / f)`` (:attr:`latent_size`).
    blocks : int in [0, 8]
        3x3(x3) convolutions after each upsampling stage of the decoder.
    latent_blocks : int in [0, 8]
        3x3(x3) convolutions at the latent resolution (after the input convolution); they set
        most of the decoder's receptive field (:attr:`halo`).
    likelihood : "bernoulli" | "gaussian"
        p(x|z): Bernoulli with logits (binary media, values in {0, 1}) or Gaussian
        (continuous fields). A Gaussian model works on the data standardised by the training
        data's mean and standard deviation (the model's ``data_shift`` / ``data_scale``,
        set by the trainer and saved with the weights): ``encode`` takes and ``decode``
        returns values in the data's units.
    obs_std : float > 0 | None
        Gaussian likelihood only, the observation noise sigma in standardised units: recon =
        sum 0.5 (r / sigma)^2 + V log sigma over the V voxels of a sample, r the standardised
        residual. None (default) = the "optimal" sigma of the batch, sigma^2 = mean r^2 over
        the batch's voxels (calibrated decoder, Rybkin et al. 2021): the reconstruction
        keeps its weight against the KL as the fit improves, so the posterior does not collapse
        (a fixed sigma = 1 on unit-variance fields lets KL -> 0 and every sample be the mean).
    beta : float >= 0
        KL weight (must be 1 for kind vae).
    gamma : float >= 0
        Fisher-term weight (must be 0 unless kind is fisher).
    fisher_target : float > 0
        F* of the Fisher term.
    fisher : "location" | "location+scale" | "mc"
        Form of the per-sample Fisher information F_n (mean over latent elements).
    warmup : int >= 0
        KL warm-up in training steps: beta_t = beta * min(1, step / warmup); 0 = none.
    logvar_min, logvar_max : float
        logvar is squashed smoothly into (logvar_min, logvar_max) and the
        same range is passed to :func:`porevae.ops.vae_latent_loss` as ``logvar_range``, so every
        value the encoder can produce keeps its gradient. Each within [-30, 30].
    latent_backend : "auto" | "numba" | "torch" | "cuda" | "numba_cuda"
        Backend of :func:`porevae.ops.vae_latent_loss`; "torch" is the plain-autograd reference.
    s2_weight : float >= 0 | None
        Weight lambda of the descriptor loss on decoded *prior* samples (0 = off): lambda V
        sum_{r=0..s2_rmax} (S2_model(r) - S2_data(r))^2, S2 the two-point correlation along the
        axes (averaged over axes and over the prior batch) of the decoded pore probability
        (Gaussian: the covariance of the standardised field over the prior batch, in amplitude
        form, plus the squared mean field that all the prior samples share; see
        :mod:`porevae.vae.models`), V the voxels of one crop. It makes z ~ N(0, I) decode to
        media with the data's S2, fields with the data's variance and covariance. None
        (default): 0 for Bernoulli models, 3 for Gaussian ones (:data:`GAUSSIAN_S2_WEIGHT`;
        without it the prior samples of a Gaussian model are close to the mean field: 96 % too
        little variance in the README's example).
    s2_rmax : int >= 1 | None
        Largest lag of the descriptor loss, voxels (at most size - 1 when s2_weight > 0).
        None (default): 16, or min(s2 shape) - 1 when that is smaller.
    s2_cut : "soft" | "porosity"
        Image whose S2 the descriptor loss takes: "soft" the decoded pore probability;
        "porosity" the exact-porosity cut at the data's porosity, the image
        ``generate(..., porosity=...)`` writes, with the gradient of a tempered cut
        (:func:`porevae.vae.losses.porosity_cut`). Bernoulli models only.
    s2_size : int | tuple of ndim ints | None
        Shape of the decoded prior samples of the descriptor loss, voxels (each 8..256 and
        divisible by 2**depth); None (default) = the training crop shape. A larger shape lets S2
        and the Euler term see structure beyond the training crop (the ``s2_cut="porosity"``
        target is measured on data tiles of this shape), at the cost of decoding it.
    euler_weight : float >= 0
        Weight w_chi of the Euler-density term inside D (0 = off; needs ``s2_weight`` > 0):
        D += w_chi V (mean_m chi_m / chi_data - 1)^2, chi_m the Euler density of the same
        image of prior sample m and chi_data the data's, both by the window estimator
        :func:`porevae.vae.losses.euler_density` (not biased by the crop's box).
    flow_weight : float >= 0
        Weight w_k of the permeability term inside D (0 = off; needs ``s2_weight`` > 0,
        ``s2_cut="porosity"`` and ndim 3): prior sample m's cut h_m is solved for Stokes flow
        along axis m mod 3 (:func:`porevae.media.permeability_sensitivity`, tol 1e-2), giving
        k_m and the sensitivity g_m of k to each voxel; then D += w_k V c mean_m mean_x(g_m h_m)
        with c = clip(rho, -1, 1), rho a running mean (weight 0.2 per step) of
        log(mean_m k_m / k_data) and k_data the mean permeability of data tiles of the prior
        samples' shape along that axis. Its gradient, c g_m times the cut's, moves pore voxels
        to where flow is fast (the topology derivative of k) while k is below the data's, and
        away while above. Costs three Stokes solves per step (1-3 s each at 64^3 on 2 cores).
    surface_weight : float >= 0
        Weight w_s of the specific-surface term inside D (0 = off; needs ``s2_weight`` > 0 and
        ``s2_cut="porosity"``): D += w_s V (s / s_data - 1)^2 with s = S2(0) - S2(1) of the
        prior samples' cut (the S2 of D, mean over the axes and the samples: half the fraction
        of neighbour pairs that cross the pore-solid interface, proportional to the specific
        surface) and s_data the data's. Holds the specific surface where another term (the
        permeability term) would coarsen the pore space.
    """

    kind: str = "vae"
    ndim: int = 3
    size: int | tuple = 32
    depth: int = 2
    channels: int = 8
    max_channels: int = 64
    latent_channels: int = 8
    blocks: int = 1
    latent_blocks: int = 2
    likelihood: str = "bernoulli"
    obs_std: float | None = None
    beta: float = 1.0
    gamma: float = 0.0
    fisher_target: float = 5.0
    fisher: str = "location"
    warmup: int = 0
    logvar_min: float = LOGVAR_RANGE[0]
    logvar_max: float = LOGVAR_RANGE[1]
    latent_backend: str = "auto"
    s2_weight: float | None = None
    s2_rmax: int | None = None
    s2_cut: str = "soft"
    s2_size: int | tuple | None = None
    euler_weight: float = 0.0
    flow_weight: float = 0.0
    surface_weight: float = 0.0

    def __new__(cls, *args, **kwargs):
        if cls is ModelConfig:  # dispatch to the kind's config class
            kind = args[0] if args else kwargs.get("kind", "vae")
            cls = CONFIGS[check_choice(kind, "kind", KINDS)]
        return super().__new__(cls)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        CONFIGS[cls.kind] = cls

    def __post_init__(self):
        check_choice(self.kind, "kind", KINDS)
        if CONFIGS[self.kind] is not type(self):
            raise ValueError(f"kind must be {type(self).kind!r} for {type(self).__name__} "
                             f"(use {CONFIGS[self.kind].__name__}), got {self.kind!r}")
        check_int(self.ndim, "ndim", 2, 3)
        check_int(self.depth, "depth", 1, 5)
        self.size = self.shape  # normalises and validates
        check_int(self.channels, "channels", 1, 512)
        check_int(self.max_channels, "max_channels", 1, 1024)
        check_int(self.latent_channels, "latent_channels", 1, 512)
        check_int(self.blocks, "blocks", 0, 8)
        check_int(self.latent_blocks, "latent_blocks", 0, 8)
        check_choice(self.likelihood, "likelihood", LIKELIHOODS)
        if self.obs_std is not None:
            check_real(self.obs_std, "obs_std", 0.0, low_open=True)
        check_real(self.beta, "beta", 0.0)
        check_real(self.gamma, "gamma", 0.0)
        check_real(self.fisher_target, "fisher_target", 0.0, low_open=True)
        check_choice(self.fisher, "fisher", FISHER_FORMS)
        check_int(self.warmup, "warmup", 0)
        check_real(self.logvar_min, "logvar_min", -LOGVAR_LIMIT, 0.0)
        check_real(self.logvar_max, "logvar_max", 0.0, LOGVAR_LIMIT)
        if self.logvar_max - self.logvar_min < 1.0:
            raise ValueError(f"logvar_max - logvar_min must be >= 1, got "
                             f"{self.logvar_max - self.logvar_min}")
        check_choice(self.latent_backend, "latent_backend", LATENT_BACKENDS)
        if self.s2_weight is None:
            self.s2_weight = GAUSSIAN_S2_WEIGHT if self.likelihood == "gaussian" else 0.0
        check_real(self.s2_weight, "s2_weight", 0.0)
        if self.s2_size is not None:
            self.s2_size = self._check_shape("s2_size", self.s2_size)
        if self.s2_rmax is None:
            self.s2_rmax = min(S2_RMAX, min(self.s2_shape) - 1)
        check_int(self.s2_rmax, "s2_rmax", 1,
                  min(self.s2_shape) - 1 if self.s2_weight else None)
        check_choice(self.s2_cut, "s2_cut", S2_CUTS)
        check_real(self.euler_weight, "euler_weight", 0.0)
        if self.euler_weight and not self.s2_weight:
            raise ValueError(f"euler_weight needs s2_weight > 0 (it weights a term inside the "
                             f"descriptor loss), got euler_weight={self.euler_weight}")
        check_real(self.flow_weight, "flow_weight", 0.0)
        if self.flow_weight and not (self.s2_weight and self.s2_cut == "porosity"
                                     and self.ndim == 3):
            raise ValueError(f"flow_weight needs s2_weight > 0, s2_cut='porosity' and ndim=3 "
                             f"(it weights a term on the prior samples' cut), got "
                             f"flow_weight={self.flow_weight}")
        check_real(self.surface_weight, "surface_weight", 0.0)
        if self.surface_weight and not (self.s2_weight and self.s2_cut == "porosity"):
            raise ValueError(f"surface_weight needs s2_weight > 0 and s2_cut='porosity' (it "
                             f"weights a term on the prior samples' cut), got "
                             f"surface_weight={self.surface_weight}")
        if self.s2_cut == "porosity" and self.likelihood != "bernoulli":
            raise ValueError("s2_cut='porosity' needs likelihood='bernoulli', got "
                             f"{self.likelihood!r}")
        if self.kind == "vae" and self.beta != 1.0:
            raise ValueError(f"beta must be 1 for kind='vae' (use kind='beta'), got {self.beta}")
        if self.kind != "fisher" and self.gamma != 0.0:
            raise ValueError(f"gamma must be 0 unless kind='fisher', got {self.gamma}")

    @property
    def factor(self) -> int:
        """f = 2**depth: voxels per latent cell along each axis."""
        return 2**self.depth

    @property
    def shape(self) -> tuple:
        """Training crop shape, one size per axis."""
        return self._check_shape("size", self.size)

    @property
    def s2_shape(self) -> tuple:
        """Shape of the descriptor loss's prior samples: ``s2_size``, or the training shape."""
        return self.shape if self.s2_size is None else self._check_shape("s2_size", self.s2_size)

    def _check_shape(self, name: str, value) -> tuple:
        size = value
        if isinstance(size, int) and not isinstance(size, bool):
            size = (size,) * self.ndim
        size = tuple(size) if isinstance(size, (list, tuple)) else size
        if not isinstance(size, tuple) or len(size) != self.ndim:
            raise ValueError(f"{name} must be an int or {self.ndim} ints (one per axis), "
                             f"got {value!r}")
        for s in size:
            check_int(s, name, 8, 256)
            if s % 2**self.depth:
                raise ValueError(f"{name} must be divisible by 2**depth = {2**self.depth}, "
                                 f"got {value} (depth={self.depth})")
        return size

    @property
    def latent_size(self) -> int:
        """Latent elements of one training crop: C * prod(size / f) (the "d" of a vector VAE)."""
        return self.latent_channels * math.prod(s // self.factor for s in self.shape)

    @property
    def halo(self) -> int:
        """Decoder receptive-field radius in latent cells: an output voxel depends only on the
        latent cells within this distance (per axis) of its own cell. Each 3x3 convolution at
        resolution f / 2**k adds 2**-k cells; the stride-2 transposed convolutions add none."""
        r = 1 + self.latent_blocks + sum(self.blocks / 2**k for k in range(1, self.depth + 1))
        return math.ceil(r)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["size"] = list(self.shape)
        return d


@dataclass
class VAEConfig(ModelConfig):
    """The plain VAE: reconstruction + KL, ``beta`` = 1, no Fisher term."""

    kind: str = "vae"


@dataclass
class BetaVAEConfig(ModelConfig):
    """beta-VAE (Higgins et al. 2017): reconstruction + ``beta`` KL, default ``beta`` = 4."""

    kind: str = "beta"
    beta: float = 4.0


@dataclass
class FisherVAEConfig(ModelConfig):
    """Fisher VAE: reconstruction + ``beta_t`` KL + ``gamma`` |mean F - F*|, defaults
    ``beta`` = 1, ``gamma`` = 0.1, ``fisher_target`` = 5, ``fisher`` = "location"."""

    kind: str = "fisher"
    gamma: float = 0.1


KINDS = tuple(CONFIGS)


@dataclass
class TrainConfig:
    """Optimisation, data sampling, checkpoints and logging of one training run.

    Attributes
    ----------
    steps : int >= 1
        Total optimiser steps (a resumed run continues up to this number).
    batch_size : int >= 1
        Global batch (split evenly over data-parallel processes).
    prior_batch : int >= 0
        Prior samples z ~ N(0, I) decoded per step for the descriptor loss (only used when the
        model's ``s2_weight`` > 0); 0 = ``batch_size``.
    lr : float > 0
        AdamW learning rate.
    weight_decay : float >= 0
        AdamW decoupled weight decay.
    betas : (float, float)
        AdamW moment coefficients, each in [0, 1) (default (0.9, 0.999)).
    scheduler : "none" | "cosine"
        Learning-rate schedule: constant, or cosine decay to ``lr * min_lr_ratio`` over ``steps``.
    min_lr_ratio : float in [0, 1]
        Final learning rate of the cosine schedule, as a fraction of ``lr``.
    grad_clip : float >= 0
        Clip the global gradient norm to this value; 0 = no clipping.
    augment : bool
        Apply a random one of the 48 cube (3D) / 8 square (2D) symmetries to every crop.
    seed : int >= 0
        Seeds the model initialisation, the data sampler and the latent noise.
    checkpoint_every : int >= 0
        Write ``checkpoint.pt`` every this many steps (and always at the end); 0 = only at the end.
    log_every : int >= 1
        Steps between CSV rows (``log.csv``) and progress-bar updates.
    amp : "auto" | "off" | "fp16" | "bf16"
        Mixed precision (CUDA only): "auto" = bf16 when supported, else fp16 with a GradScaler.
        On the CPU it is always off.
    channels_last : "auto" | "on" | "off"
        Channels-last memory format; "auto" = on for CUDA and for 3-D models on the CPU (a 64^3
        training step 1.4x faster there, bench/RESULTS.md), off for 2-D models on the CPU
        (not measured).
    device : str
        "auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:1", ...
    progress : bool
        Show a progress bar with the loss terms (rank 0 only; :func:`porevae._progress.
        progress`: one line every 30 s when stderr is not a terminal).
    """

    steps: int = 1000
    batch_size: int = 8
    prior_batch: int = 0
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple = (0.9, 0.999)
    scheduler: str = "none"
    min_lr_ratio: float = 0.01
    grad_clip: float = 0.0
    augment: bool = True
    seed: int = 0
    checkpoint_every: int = 500
    log_every: int = 1
    amp: str = "auto"
    channels_last: str = "auto"
    device: str = "auto"
    progress: bool = True

    def __post_init__(self):
        check_int(self.steps, "steps", 1)
        check_int(self.batch_size, "batch_size", 1)
        check_int(self.prior_batch, "prior_batch", 0)
        check_real(self.lr, "lr", 0.0, low_open=True)
        check_real(self.weight_decay, "weight_decay", 0.0)
        if not isinstance(self.betas, (list, tuple)) or len(self.betas) != 2 or any(
                isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 <= b < 1
                for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        self.betas = tuple(float(b) for b in self.betas)
        check_choice(self.scheduler, "scheduler", SCHEDULERS)
        check_real(self.min_lr_ratio, "min_lr_ratio", 0.0, 1.0)
        check_real(self.grad_clip, "grad_clip", 0.0)
        if not isinstance(self.augment, bool):
            raise TypeError(f"augment must be true or false, got {self.augment!r}")
        if not isinstance(self.progress, bool):
            raise TypeError(f"progress must be true or false, got {self.progress!r}")
        check_int(self.seed, "seed", 0, 2**63 - 1)
        check_int(self.checkpoint_every, "checkpoint_every", 0)
        check_int(self.log_every, "log_every", 1)
        check_choice(self.amp, "amp", AMP_MODES)
        check_choice(self.channels_last, "channels_last", TRISTATE)
        if not isinstance(self.device, str) or not (
                self.device in ("auto", "cpu") or self.device.startswith("cuda")):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:<index>', got "
                             f"{self.device!r}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d


@dataclass
class Config:
    """A model and a training configuration together (the ``[model]`` and ``[train]`` tables of
    a TOML file); ``about`` (the optional ``[stage]`` table's ``about`` key) says in words what
    a preset's stage optimises (:mod:`porevae.vae.presets`)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    about: str = ""

    def to_dict(self) -> dict:
        return {"model": self.model.to_dict(), "train": self.train.to_dict()}


def _build(cls, table: dict, where: str):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; allowed: {sorted(names)}")
    return cls(**table)


def config_from_dict(data: dict, where: str = "config") -> Config:
    """``{"model": {...}, "train": {...}, "stage": {"about": ...}}`` -> :class:`Config`.

    Missing keys take the defaults of the kind's config class (``[model] kind``, default
    "vae": :data:`CONFIGS`), so ``kind = "fisher"`` alone gives FisherVAEConfig's gamma 0.1
    on every path (API, TOML, CLI)."""
    unknown = sorted(set(data) - {"model", "train", "stage"})
    if unknown:
        raise ValueError(f"unknown table(s) {unknown} in {where}; allowed: ['model', 'stage', "
                         f"'train']")
    stage = dict(data.get("stage", {}))
    extra = sorted(set(stage) - {"about"})
    if extra or not isinstance(stage.get("about", ""), str):
        raise ValueError(f"{where} [stage] takes one key, about (a string); got {stage}")
    return Config(_build(ModelConfig, dict(data.get("model", {})), f"{where} [model]"),
                  _build(TrainConfig, dict(data.get("train", {})), f"{where} [train]"),
                  stage.get("about", ""))


def read_toml(path) -> dict:
    """The tables of a TOML config file (checked to exist and parse)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    with open(path, "rb") as fh:
        try:
            return tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML: {exc}") from None


def load_config(path, overrides: dict | None = None) -> Config:
    """Read a TOML file with ``[model]`` and ``[train]`` tables; ``overrides`` (same layout,
    e.g. from command-line flags) take precedence key by key."""
    data = read_toml(path)
    for table, values in (overrides or {}).items():
        data.setdefault(table, {}).update(values)
    return config_from_dict(data, str(path))
