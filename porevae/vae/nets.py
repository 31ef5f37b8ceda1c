"""Convolutional encoder and decoder for 2D (N, 1, H, W) and 3D (N, 1, D, H, W) inputs.

Encoder: ``depth`` stages of [4x4(x4) convolution with stride 2 -> norm -> SiLU], channels
``channels * 2**i`` capped at ``max_channels``, then a linear layer to (mu, raw logvar), each (N, d).
Decoder: a linear layer back to the coarsest grid, ``depth`` stages of 2x upsampling (transposed
4x4 convolution, or nearest resize + 3x3 convolution) -> norm -> SiLU, and a 1x1 convolution to one
output channel (logits or mean). All layers work in either memory format, so the modules may be
converted with ``.to(memory_format=torch.channels_last[_3d])``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from porevae.vae.config import ModelConfig


def _conv(ndim):
    return nn.Conv2d if ndim == 2 else nn.Conv3d


def _norm(kind: str, ndim: int, channels: int) -> nn.Module:
    if kind == "group":
        groups = max(g for g in range(1, 9) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    if kind == "batch":
        return (nn.BatchNorm2d if ndim == 2 else nn.BatchNorm3d)(channels)
    return nn.Identity()


def stage_channels(config: ModelConfig) -> list[int]:
    """Channels after each encoder stage: ``min(channels * 2**i, max_channels)``."""
    return [min(config.channels * 2**i, config.max_channels) for i in range(config.depth)]


class Encoder(nn.Module):
    """x (N, 1, *shape) -> (mu, raw_logvar), each (N, latent_dim); float32 unless autocast."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        nd, chans = config.ndim, stage_channels(config)
        layers, c_in = [], 1
        for c in chans:
            layers += [_conv(nd)(c_in, c, 4, stride=2, padding=1, bias=config.norm == "none"),
                       _norm(config.norm, nd, c), nn.SiLU()]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.coarse = tuple(s // 2**config.depth for s in config.shape)
        self.head = nn.Linear(chans[-1] * math.prod(self.coarse), 2 * config.latent_dim)

    def forward(self, x: torch.Tensor):
        h = self.features(x).flatten(1)
        mu, raw_logvar = self.head(h).chunk(2, dim=1)
        return mu, raw_logvar


class Decoder(nn.Module):
    """z (N, latent_dim) -> (N, 1, *shape): logits (Bernoulli) or mean (Gaussian)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        nd, chans = config.ndim, stage_channels(config)
        self.coarse = tuple(s // 2**config.depth for s in config.shape)
        self.c_top = chans[-1]
        self.fc = nn.Linear(config.latent_dim, self.c_top * math.prod(self.coarse))
        outs = list(reversed(chans[:-1])) + [chans[0]]
        layers, c_in = [nn.SiLU()], self.c_top
        bias = config.norm == "none"
        for c in outs:
            if config.upsample == "transpose":
                tconv = nn.ConvTranspose2d if nd == 2 else nn.ConvTranspose3d
                layers.append(tconv(c_in, c, 4, stride=2, padding=1, bias=bias))
            else:
                layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                           _conv(nd)(c_in, c, 3, padding=1, bias=bias)]
            layers += [_norm(config.norm, nd, c), nn.SiLU()]
            c_in = c
        layers.append(_conv(nd)(c_in, 1, 1))  # 1x1 head: a 3x3 head with one output channel
        # has a very slow weight-gradient path in oneDNN (measured 10x slower on the CPU)
        self.body = nn.Sequential(*layers)
        self.memory_format = torch.contiguous_format

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], self.c_top, *self.coarse)
        return self.body(h.contiguous(memory_format=self.memory_format))
