"""Pure-PyTorch last decoder stage: the oracle and the baseline of :func:`porevae.ops.decoder_head`.

The layers exactly as ``nn.ConvTranspose3d`` / ``nn.Conv3d`` / ``nn.SiLU`` compute them (any
device, any dtype, autograd).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def decoder_head(x: torch.Tensor, tconv_weight: torch.Tensor, tconv_bias: torch.Tensor,
                 conv_weight: torch.Tensor, conv_bias: torch.Tensor, out_weight: torch.Tensor,
                 out_bias: torch.Tensor) -> torch.Tensor:
    """``conv1x1(silu(conv3(silu(tconv2(x)))))``: (N, Ci, P, Q, R) -> (N, 1, 2P, 2Q, 2R)."""
    t = F.silu(F.conv_transpose3d(x, tconv_weight, tconv_bias, stride=2))
    u = F.silu(F.conv3d(t, conv_weight, conv_bias, padding=1))
    return F.conv3d(u, out_weight, out_bias)


def status() -> dict:
    return {"available": True, "reason": f"torch {torch.__version__}"}
