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

from porevae.ops import BACKENDS as LATENT_BACKENDS
from porevae.ops.latent_loss import FISHER_FORMS, LOGVAR_RANGE

KINDS = ("vae", "beta", "fisher")
LIKELIHOODS = ("bernoulli", "gaussian")
S2_CUTS = ("soft", "porosity")
SCHEDULERS = ("none", "cosine")
AMP_MODES = ("auto", "off", "fp16", "bf16")
TRISTATE = ("auto", "on", "off")
LOGVAR_LIMIT = 30.0


def _range_error(name, value, allowed):
    return ValueError(f"{name} must be {allowed}, got {value!r}")


def _int(name, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        hi = "inf" if high is None else high
        raise _range_error(name, value, f"an integer in [{low}, {hi}]")


def _float(name, value, low=-math.inf, high=math.inf, low_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _range_error(name, value, "a finite number")
    if value < low or value > high or (low_open and value == low):
        lo = "(" if low_open else "["
        raise _range_error(name, value, f"in {lo}{low}, {high}]")


def _choice(name, value, choices):
    if value not in choices:
        raise _range_error(name, value, f"one of {list(choices)}")


@dataclass
class ModelConfig:
    """Architecture and loss of one fully convolutional VAE with a spatial latent map.

    The latent of an input (N, 1, *shape) is a map (N, latent_channels, *shape / f) with
    f = 2**depth, and the prior is N(0, 1) i.i.d. per latent element, so the decoder (only local
    operations: 3x3(x3) convolutions, 2x2(x2) stride-2 transposed convolutions, SiLU) turns a
    larger latent map into a larger volume: any shape, decoded in chunks (:mod:`porevae.vae.
    generate`). There is no normalisation layer (a norm over the volume is not local).

    Attributes
    ----------
    kind : "vae" | "beta" | "fisher"
        Loss family: reconstruction + KL (``beta`` forced to 1 for "vae"), + ``beta`` KL, or
        + ``beta_t`` KL + ``gamma`` |F - F*|.
    ndim : 2 | 3
        Spatial dimensions; inputs are (N, 1, H, W) or (N, 1, D, H, W).
    size : int or tuple
        Training crop size per axis (voxels), each in [8, 256] and divisible by f = 2**depth;
        an int means the same size on every axis. It fixes nothing in the networks: any
        multiple of f is accepted by ``encode``, any shape by ``sample``. Default 32.
    depth : int in [1, 5]
        Stride-2 stages: latent cell = f = 2**depth voxels per axis. Default 2 (f = 4).
    channels : int in [1, 512]
        Width of the full-resolution stage; doubled each stage, capped at ``max_channels``.
    max_channels : int in [1, 1024]
        Default 64.
    latent_channels : int in [1, 512]
        C, latent channels per latent cell. The latent size of a crop is
        ``C * prod(size / f)`` (:attr:`latent_size`). Default 8.
    blocks : int in [0, 8]
        3x3(x3) convolutions after each upsampling stage of the decoder. Default 1.
    latent_blocks : int in [0, 8]
        3x3(x3) convolutions at the latent resolution (after the input convolution); they set
        most of the decoder's receptive field (:attr:`halo`). Default 2.
    likelihood : "bernoulli" | "gaussian"
        p(x|z): Bernoulli with logits (binary media, values in {0, 1}) or Gaussian with fixed
        standard deviation ``obs_std`` (continuous fields).
    obs_std : float > 0
        Gaussian likelihood only: recon = sum 0.5 ((x - mean) / obs_std)^2 (constant dropped).
    beta : float >= 0
        KL weight (VAE: 1; BetaVAE default 4).
    gamma : float >= 0
        Fisher-term weight (FisherVAE default 0.1; 0 for the others).
    fisher_target : float > 0
        F* of the Fisher term, default 5.0.
    fisher : "location" | "location+scale" | "mc"
        Form of the per-sample Fisher information F_n (mean over latent elements).
    warmup : int >= 0
        KL warm-up in training steps: beta_t = beta * min(1, step / warmup); 0 = none.
    logvar_min, logvar_max : float
        logvar is squashed smoothly into (logvar_min, logvar_max) (default (-6, 2)) and the
        same range is passed to :func:`porevae.ops.vae_latent_loss` as ``logvar_range``, so every
        value the encoder can produce keeps its gradient. Each within [-30, 30].
    latent_backend : "auto" | "numba" | "torch" | "cuda" | "numba_cuda"
        Backend of :func:`porevae.ops.vae_latent_loss`; "torch" is the plain-autograd reference.
    s2_weight : float >= 0
        Weight lambda of the descriptor loss on decoded *prior* samples (0 = off): lambda V
        sum_{r=0..s2_rmax} (S2_model(r) - S2_data(r))^2, S2 the two-point correlation along the
        axes (averaged over axes and over the prior batch) of the decoded pore probability, V the
        voxels of one crop. It makes z ~ N(0, I) decode to sharp media with the data's S2.
    s2_rmax : int >= 1
        Largest lag of the descriptor loss, voxels (at most size - 1 when s2_weight > 0).
        Default 16.
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
    obs_std: float = 1.0
    beta: float = 1.0
    gamma: float = 0.0
    fisher_target: float = 5.0
    fisher: str = "location"
    warmup: int = 0
    logvar_min: float = LOGVAR_RANGE[0]
    logvar_max: float = LOGVAR_RANGE[1]
    latent_backend: str = "auto"
    s2_weight: float = 0.0
    s2_rmax: int = 16
    s2_cut: str = "soft"
    s2_size: int | tuple | None = None
    euler_weight: float = 0.0

    def __post_init__(self):
        _choice("kind", self.kind, KINDS)
        if self.ndim not in (2, 3) or isinstance(self.ndim, bool):
            raise _range_error("ndim", self.ndim, "2 or 3")
        _int("depth", self.depth, 1, 5)
        self.size = self.shape  # normalises and validates
        _int("channels", self.channels, 1, 512)
        _int("max_channels", self.max_channels, 1, 1024)
        _int("latent_channels", self.latent_channels, 1, 512)
        _int("blocks", self.blocks, 0, 8)
        _int("latent_blocks", self.latent_blocks, 0, 8)
        _choice("likelihood", self.likelihood, LIKELIHOODS)
        _float("obs_std", self.obs_std, 0.0, low_open=True)
        _float("beta", self.beta, 0.0)
        _float("gamma", self.gamma, 0.0)
        _float("fisher_target", self.fisher_target, 0.0, low_open=True)
        _choice("fisher", self.fisher, FISHER_FORMS)
        _int("warmup", self.warmup, 0)
        _float("logvar_min", self.logvar_min, -LOGVAR_LIMIT, 0.0)
        _float("logvar_max", self.logvar_max, 0.0, LOGVAR_LIMIT)
        if self.logvar_max - self.logvar_min < 1.0:
            raise _range_error("logvar_max - logvar_min", self.logvar_max - self.logvar_min,
                               ">= 1")
        _choice("latent_backend", self.latent_backend, LATENT_BACKENDS)
        _float("s2_weight", self.s2_weight, 0.0)
        if self.s2_size is not None:
            self.s2_size = self._check_shape("s2_size", self.s2_size)
        _int("s2_rmax", self.s2_rmax, 1, min(self.s2_shape) - 1 if self.s2_weight else None)
        _choice("s2_cut", self.s2_cut, S2_CUTS)
        _float("euler_weight", self.euler_weight, 0.0)
        if self.euler_weight and not self.s2_weight:
            raise ValueError(f"euler_weight needs s2_weight > 0 (it weights a term inside the "
                             f"descriptor loss), got euler_weight={self.euler_weight}")
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
            raise _range_error(name, value, f"an int or {self.ndim} ints (one per axis)")
        for s in size:
            _int(name, s, 8, 256)
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
class TrainConfig:
    """Optimisation, data sampling, checkpoints and logging of one training run.

    Attributes
    ----------
    steps : int >= 1
        Total optimiser steps (a resumed run continues up to this number). Default 1000.
    batch_size : int >= 1
        Global batch (split evenly over data-parallel processes). Default 8.
    prior_batch : int >= 0
        Prior samples z ~ N(0, I) decoded per step for the descriptor loss (only used when the
        model's ``s2_weight`` > 0); 0 = ``batch_size``.
    lr : float > 0
        AdamW learning rate, default 1e-3.
    weight_decay : float >= 0
        AdamW decoupled weight decay, default 0.0.
    betas : (float, float)
        AdamW moment coefficients, each in [0, 1); default (0.9, 0.999).
    scheduler : "none" | "cosine"
        Learning-rate schedule: constant, or cosine decay to ``lr * min_lr_ratio`` over ``steps``.
    min_lr_ratio : float in [0, 1]
        Default 0.01.
    grad_clip : float >= 0
        Clip the global gradient norm to this value; 0 = no clipping (default).
    augment : bool
        Apply a random one of the 48 cube (3D) / 8 square (2D) symmetries to every crop.
    seed : int >= 0
        Seeds the model initialisation, the data sampler and the latent noise.
    checkpoint_every : int >= 0
        Write ``checkpoint.pt`` every this many steps (and always at the end); 0 = only at the end.
    log_every : int >= 1
        Steps between CSV rows (``log.csv``) and progress-bar updates. Default 1.
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
        Show a tqdm bar with the loss terms (rank 0 only).
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
        _int("steps", self.steps, 1)
        _int("batch_size", self.batch_size, 1)
        _int("prior_batch", self.prior_batch, 0)
        _float("lr", self.lr, 0.0, low_open=True)
        _float("weight_decay", self.weight_decay, 0.0)
        if not isinstance(self.betas, (list, tuple)) or len(self.betas) != 2:
            raise _range_error("betas", self.betas, "two numbers in [0, 1)")
        self.betas = tuple(self.betas)
        for b in self.betas:
            _float("betas", b, 0.0, 1.0)
            if b >= 1.0:
                raise _range_error("betas", self.betas, "two numbers in [0, 1)")
        _choice("scheduler", self.scheduler, SCHEDULERS)
        _float("min_lr_ratio", self.min_lr_ratio, 0.0, 1.0)
        _float("grad_clip", self.grad_clip, 0.0)
        if not isinstance(self.augment, bool):
            raise TypeError(f"augment must be true or false, got {self.augment!r}")
        if not isinstance(self.progress, bool):
            raise TypeError(f"progress must be true or false, got {self.progress!r}")
        _int("seed", self.seed, 0, 2**63 - 1)
        _int("checkpoint_every", self.checkpoint_every, 0)
        _int("log_every", self.log_every, 1)
        _choice("amp", self.amp, AMP_MODES)
        _choice("channels_last", self.channels_last, TRISTATE)
        if not isinstance(self.device, str) or not (
                self.device in ("auto", "cpu") or self.device.startswith("cuda")):
            raise _range_error("device", self.device, "'auto', 'cpu', 'cuda' or 'cuda:<index>'")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d


@dataclass
class Config:
    """A model and a training configuration together (the two tables of a TOML file)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return {"model": self.model.to_dict(), "train": self.train.to_dict()}


def _build(cls, table: dict, where: str):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; allowed: {sorted(names)}")
    return cls(**table)


def config_from_dict(data: dict, where: str = "config") -> Config:
    """``{"model": {...}, "train": {...}}`` -> :class:`Config` (missing keys take defaults)."""
    unknown = sorted(set(data) - {"model", "train"})
    if unknown:
        raise ValueError(f"unknown table(s) {unknown} in {where}; allowed: ['model', 'train']")
    return Config(_build(ModelConfig, dict(data.get("model", {})), f"{where} [model]"),
                  _build(TrainConfig, dict(data.get("train", {})), f"{where} [train]"))


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
