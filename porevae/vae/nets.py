"""Fully convolutional encoder and decoder for 2D (N, 1, H, W) and 3D (N, 1, D, H, W) inputs.

Only local operations, so a model trained on small crops encodes / decodes any shape:

Encoder: ``depth`` stages of [4x4(x4) convolution, stride 2, padding 1 -> SiLU] (widths
``channels * 2**i`` capped at ``max_channels``), then one 3x3(x3) convolution to 2C channels:
(mu, raw logvar), each (N, C, *shape / f), f = 2**depth.

Decoder: 3x3(x3) convolution C -> top width, ``latent_blocks`` 3x3 convolutions, then per stage a
2x2(x2) stride-2 transposed convolution (every output voxel has exactly one parent cell: no
overlap, no checkerboard) followed by ``blocks`` 3x3 convolutions, SiLU after each, and a 1x1
convolution to one channel (logits or mean). Zero padding; no normalisation layer, so an output
voxel depends only on the latent cells within ``config.halo`` cells of its own: decoding a
latent map in chunks with that halo reproduces the whole-map decode (:mod:`porevae.vae.generation`).
All layers work in either memory format (``channels_last[_3d]``). Without gradients (generation)
the decoder applies SiLU in place and runs float32 host convolutions through oneDNN directly; a
3D decoder with one block per stage hands its last stage (transposed convolution, SiLU, 3x3x3
convolution, SiLU, 1x1 convolution) to the fused :func:`porevae.ops.decoder_head` (on the host:
the two full-resolution maps stay in cache), and otherwise computes the last 1x1 convolution of a
channels-last map as one matrix product. Same arithmetic, fewer passes (a 128^3 decode on one
thread: 0.50 -> 0.37 s -> 0.24-0.29 s, bench/RESULTS.md).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from porevae import ops
from porevae.ops.decoder import CHANNEL_BLOCK, workspace_bytes
from porevae.vae.config import ModelConfig


def _conv(ndim):
    return nn.Conv2d if ndim == 2 else nn.Conv3d


def stage_channels(config: ModelConfig) -> list[int]:
    """Width of each resolution, full resolution first: ``min(channels * 2**i, max_channels)``
    for i = 0..depth (i = depth is the latent resolution)."""
    return [min(config.channels * 2**i, config.max_channels) for i in range(config.depth + 1)]


class Encoder(nn.Module):
    """x (N, 1, *shape) -> (mu, raw_logvar), each (N, C, *shape / f); shape divisible by f."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        nd, widths = config.ndim, stage_channels(config)
        layers, c_in = [], 1
        for c in widths[1:]:
            layers += [_conv(nd)(c_in, c, 4, stride=2, padding=1), nn.SiLU()]
            c_in = c
        layers.append(_conv(nd)(c_in, 2 * config.latent_channels, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor):
        mu, raw_logvar = self.body(x).chunk(2, dim=1)
        return mu, raw_logvar


class Decoder(nn.Module):
    """z (N, C, *cells) -> (N, 1, *(cells * f)): logits (Bernoulli) or mean (Gaussian)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        nd, widths = config.ndim, stage_channels(config)
        conv = _conv(nd)
        tconv = nn.ConvTranspose2d if nd == 2 else nn.ConvTranspose3d
        c = widths[-1]
        layers = [conv(config.latent_channels, c, 3, padding=1), nn.SiLU()]
        for _ in range(config.latent_blocks):
            layers += [conv(c, c, 3, padding=1), nn.SiLU()]
        for c_out in reversed(widths[:-1]):
            layers += [tconv(c, c_out, 2, stride=2), nn.SiLU()]
            c = c_out
            for _ in range(config.blocks):
                layers += [conv(c, c, 3, padding=1), nn.SiLU()]
        layers.append(conv(c, 1, 1))
        self.body = nn.Sequential(*layers)
        self.memory_format = torch.contiguous_format
        self.fused_head = nd == 3 and config.blocks == 1  # the body ends in decoder_head's layers
        # extras[k]: units (of layer k's input resolution) beyond the kept voxels that layer k's
        # input must cover for the kept output to be exact; scales[k]: that resolution's units
        # per latent cell. Backwards from the output: a convolution of padding p adds p, a
        # stride-2 transposed convolution halves (rounded up).
        self.extras, self.scales = [0] * len(layers), [1] * len(layers)
        extra = 0
        for k in reversed(range(len(layers))):
            layer = layers[k]
            if isinstance(layer, (nn.ConvTranspose2d, nn.ConvTranspose3d)):
                extra = -(-extra // 2)
            elif isinstance(layer, (nn.Conv2d, nn.Conv3d)):
                extra += layer.padding[0]
            self.extras[k] = extra
        for k in range(1, len(layers)):
            up = isinstance(layers[k - 1], (nn.ConvTranspose2d, nn.ConvTranspose3d))
            self.scales[k] = self.scales[k - 1] * (2 if up else 1)

    def forward(self, z: torch.Tensor, trim: int = 0) -> torch.Tensor:
        """Decode z (N, C, *cells); with ``trim`` = t > 0 only the voxels [t f, (cells - t) f)
        per axis, (N, 1, *((cells - 2 t) f)).

        Trimmed, each layer's input is first cropped to the kept voxels plus what the layers
        after it reach (:attr:`extras`), so the margin is decoded at the latent resolution only
        and the full-resolution layers work on the kept voxels plus a few: with t >= ``halo``
        the result equals the untrimmed decode cropped (float rounding aside) at a fraction of
        its cost; with t < ``halo`` the kept faces see the zero padding (inexact).
        """
        x = z.contiguous(memory_format=self.memory_format)
        cells = x.shape[2:]
        if trim and any(2 * trim >= c for c in cells):
            raise ValueError(f"trim must leave cells to decode: 2 x trim < every latent axis "
                             f"{tuple(cells)}, got trim={trim}")
        grad = torch.is_grad_enabled()
        *layers, last = self.body
        fused = self.fused_head and not grad
        if fused:
            *layers, tconv, _, conv, _ = layers
        for k, layer in enumerate(layers):
            x = self._crop(x, k, trim, cells)
            if grad:
                x = layer(x)
            else:
                x = nn.functional.silu(x, inplace=True) if isinstance(layer, nn.SiLU) else \
                    _inference_layer(layer, x)
        if fused:
            x = self._crop(x, len(layers), trim, cells)
            x = ops.decoder_head(x, tconv.weight, tconv.bias, conv.weight, conv.bias,
                                 last.weight, last.bias)
            return self._crop(x, len(self.body), trim, cells)
        x = self._crop(x, len(self.body) - 1, trim, cells)
        if not grad and x.dim() > 2 and x.stride(1) == 1 and x.shape[1] > 1:  # channels-last
            w = last.weight.flatten(1)  # (1, C): the 1x1 convolution as a GEMM
            return torch.addmm(last.bias, x.movedim(1, -1).reshape(-1, w.shape[1]), w.t()) \
                .view(*x.shape[:1], *x.shape[2:], 1).movedim(-1, 1)
        return last(x)

    def _crop(self, x: torch.Tensor, k: int, trim: int, cells) -> torch.Tensor:
        """x (the input of layer k, or the output when k = len(body)) cropped symmetrically to
        the kept voxels plus ``extras[k]`` units per side (nothing to crop: x itself)."""
        if not trim:
            return x
        extra = self.extras[k] if k < len(self.body) else 0
        scale = self.scales[k] if k < len(self.body) else self.scales[-1]
        cut = [(n - (c - 2 * trim) * scale) // 2 - extra for n, c in zip(x.shape[2:], cells)]
        if all(c <= 0 for c in cut):
            return x
        keep = tuple(slice(max(c, 0), n - max(c, 0)) for c, n in zip(cut, x.shape[2:]))
        return x[(slice(None), slice(None)) + keep].contiguous(memory_format=self.memory_format)


def _inference_layer(layer, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)``; a convolution of a float32 host map goes to oneDNN directly. torch's own
    choice sends a single small map (N C D H <= 20,480 values: the decoder's first layer, at
    128^3 and in every chunk) to its im2col convolution: 16 ms against 4 ms for 8 -> 32 channels
    at 32^3 on one thread."""
    if isinstance(layer, (nn.Conv2d, nn.Conv3d)) and x.device.type == "cpu" and \
            x.dtype == torch.float32 and layer.padding_mode == "zeros" and \
            torch.backends.mkldnn.is_available() and hasattr(torch, "mkldnn_convolution"):
        return torch.mkldnn_convolution(x, layer.weight, layer.bias, layer.padding, layer.stride,
                                        layer.dilation, layer.groups)
    return layer(x)


def fuses_head(config: ModelConfig, device="cpu") -> bool:
    """Whether decoding on ``device`` runs the last stage in the fused host kernel of
    :func:`porevae.ops.decoder_head`: a 3D decoder with one block per stage, a full-resolution
    width divisible by ``CHANNEL_BLOCK``, on the host."""
    return torch.device(device).type == "cpu" and config.ndim == 3 and config.blocks == 1 and \
        stage_channels(config)[0] % CHANNEL_BLOCK == 0


def activation_bytes(config: ModelConfig, cells: int, batch: int = 1,
                     fused_head: bool = False) -> int:
    """Peak bytes of float32 activations when decoding ``batch`` latent maps of ``cells`` cells
    in inference: the two largest consecutive layer outputs (input and output of one layer).
    ``fused_head`` (:func:`fuses_head`): the two full-resolution maps of the last stage are never
    stored; its per-thread buffers (:func:`porevae.ops.decoder.workspace_bytes`, for a cube of
    ``cells``) are counted instead."""
    widths = stage_channels(config)
    sizes = [widths[-1] * cells]
    for k, w in enumerate(reversed(widths[:-1]), start=1):
        sizes.append(w * cells * 2**(config.ndim * k))
    sizes.append(cells * 2**(config.ndim * config.depth))
    extra = 0
    if fused_head:
        del sizes[-2]
        side = math.ceil(cells ** (1 / config.ndim)) * config.factor
        extra = workspace_bytes(side, side, widths[0])
    peak = max(max(2 * s for s in sizes), max(a + b for a, b in itertools.pairwise(sizes)))
    return 4 * batch * peak + extra
