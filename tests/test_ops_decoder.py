"""ops.decoder_head: the fused last decoder stage against the float64 layers, its dispatch and
errors, the decoder that uses it, and the torch thread count that Numba must not reset."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from porevae import ops
from porevae.ops import decoder
from porevae.vae import FisherVAE, decode_chunked
from porevae.vae.generation import latent_map_cells, margin
from porevae.vae.nets import activation_bytes, fuses_head


def _args(rng, n, ci, c, shape, dtype, scale=1.0):
    """Random input (after a SiLU, as in the decoder) and weights of one stage."""
    def t(*s):
        return torch.from_numpy(rng.standard_normal(s)).to(dtype)
    x = torch.nn.functional.silu(2 * t(n, ci, *shape))
    return (x, scale * 0.4 * t(ci, c, 2, 2, 2), t(c), scale * 0.25 * t(c, c, 3, 3, 3), t(c),
            t(1, c, 1, 1, 1), t(1))


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-13), (torch.float32, 3e-6)])
@pytest.mark.parametrize("n, ci, c, shape", [(1, 16, 8, (6, 5, 7)), (2, 12, 4, (1, 1, 1)),
                                             (3, 8, 12, (9, 2, 4)), (1, 3, 8, (20, 3, 5))])
def test_numba_equals_float64_layers(dtype, rtol, n, ci, c, shape, rng):
    args = _args(rng, n, ci, c, shape, dtype, scale=3.0)
    args[2][:2] = torch.tensor([100.0, -100.0])  # SiLU beyond the clamp of exp's argument (80)
    want = ops.reference.decoder_head(*[a.double() for a in args])
    assert want.shape == (n, 1, *(2 * s for s in shape))
    for x in (args[0], args[0].contiguous(memory_format=torch.channels_last_3d),
              args[0][:, :, :, :, :].transpose(2, 4).contiguous().transpose(2, 4)):
        got = ops.decoder_head(x, *args[1:], backend="numba")
        assert got.dtype == dtype and got.is_contiguous()
        err = ((got.double() - want).abs() / want.abs().max()).max().item()
        assert err < rtol, err


def test_empty_input_gives_empty_output(rng):
    args = _args(rng, 2, 8, 4, (0, 3, 2), torch.float32)
    assert ops.decoder_head(*args, backend="numba").shape == (2, 1, 0, 6, 4)


def test_layers_reference_is_the_torch_modules(rng):
    args = _args(rng, 2, 6, 4, (3, 4, 2), torch.float64)
    x, tw, tb, cw, cb, ow, ob = args
    t, c, o = torch.nn.ConvTranspose3d(6, 4, 2, stride=2), torch.nn.Conv3d(4, 4, 3, padding=1), \
        torch.nn.Conv3d(4, 1, 1)
    for m, w, b in ((t, tw, tb), (c, cw, cb), (o, ow, ob)):
        m.double()
        m.weight.data, m.bias.data = w, b
    want = o(torch.nn.functional.silu(c(torch.nn.functional.silu(t(x)))))
    torch.testing.assert_close(ops.reference.decoder_head(*args), want, rtol=0, atol=0)


def test_dispatch_and_gradients(rng):
    args = _args(rng, 1, 8, 8, (3, 3, 3), torch.float64)
    w = args[3].clone().requires_grad_(True)
    grad_args = (*args[:3], w, *args[4:])
    with pytest.raises(ValueError, match="no backward; a gradient is required"):
        ops.decoder_head(*grad_args, backend="numba")
    y = ops.decoder_head(*grad_args)  # auto: the torch layers, differentiable
    y.sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0
    with torch.no_grad():
        fused = ops.decoder_head(*grad_args)
    torch.testing.assert_close(fused, y.detach(), rtol=1e-12, atol=1e-12)
    odd = _args(rng, 1, 8, 6, (2, 2, 2), torch.float32)
    with pytest.raises(ValueError, match="channel count divisible by 4, got 6"):
        ops.decoder_head(*odd, backend="numba")
    torch.testing.assert_close(ops.decoder_head(*odd), ops.reference.decoder_head(*odd))
    with pytest.raises(ValueError, match="backend"):
        ops.decoder_head(*args, backend="gpu")


def test_bad_input_named(rng):
    x, tw, tb, cw, cb, ow, ob = _args(rng, 1, 8, 8, (2, 2, 2), torch.float32)
    with pytest.raises(ValueError, match=r"x must be a floating-point \(N, Ci, P, Q, R\)"):
        ops.decoder_head(x[0], tw, tb, cw, cb, ow, ob)
    with pytest.raises(ValueError, match=r"conv_weight must have shape \(8, 8, 3, 3, 3\)"):
        ops.decoder_head(x, tw, tb, cw[:, :, :2], cb, ow, ob)
    with pytest.raises(ValueError, match=r"tconv_weight must have shape"):
        ops.decoder_head(x, tw[:4], tb, cw, cb, ow, ob)
    with pytest.raises(TypeError, match="out_bias must be torch.float32"):
        ops.decoder_head(x, tw, tb, cw, cb, ow, ob.double())
    with pytest.raises(TypeError, match="tconv_weight must be a torch tensor, got ndarray"):
        ops.decoder_head(x, tw.numpy(), tb, cw, cb, ow, ob)


def test_backends_report_the_missing_device_kernels():
    states = ops.backends("decoder")
    assert states["numba"]["available"] and states["torch"]["available"]
    assert states["cuda"] == {"available": False, "reason": "decoder has no cuda backend"}
    # the package-wide report does not count an operation that never had the backend
    assert "decoder has no" not in ops.backends()["cuda"]["reason"]


def test_flops_and_floor():
    assert decoder.flops((1, 16, 64, 64, 64), 8) == 2 * 8 * (16 + 27 * 8 + 1) * 128**3
    assert decoder.bytes_moved((1, 16, 64, 64, 64)) == 4 * 64**3 * (16 + 8)
    assert decoder.slab_planes(128, 128, 8) == 8 and decoder.slab_planes(4096, 4096, 8) == 2


def test_decoder_runs_the_fused_stage_and_equals_its_layers(rng, monkeypatch):
    torch.manual_seed(int(rng.integers(2**31)))
    model = FisherVAE(ndim=3, size=16, depth=2, channels=8, max_channels=16, latent_channels=4,
                      latent_blocks=1, blocks=1).eval()
    assert model.decoder.fused_head and fuses_head(model.config)
    assert not fuses_head(model.config, "cuda")
    z = torch.randn(2, 4, 5, 3, 4)
    want = model.decoder.body(z).detach()  # with gradients: the plain layers
    called, real = [], ops.decoder_head
    monkeypatch.setattr(ops, "decoder_head", lambda *a, **k: called.append(1) or real(*a, **k))
    for channels_last in (False, True):
        model.set_channels_last(channels_last)
        with torch.no_grad():
            got = model.decoder(z)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert len(called) == 2
    # chunked decoding through the fused stage equals the whole decode
    shape = (37, 22, 29)
    zz = torch.randn(4, *latent_map_cells(model, shape))  # with the margin
    whole = torch.sigmoid(model.decoder.body(zz[None]))[0, 0].detach().numpy()
    lo = margin(model) * model.config.factor
    for chunk in (2, 5):
        got = decode_chunked(model, zz, shape, chunk=chunk)
        np.testing.assert_allclose(got, whole[lo:lo + 37, lo:lo + 22, lo:lo + 29], rtol=0,
                                   atol=1e-5)
    # the memory plan drops the two full-resolution 8-channel maps
    cells = 16**3
    assert activation_bytes(model.config, cells, fused_head=True) < \
        activation_bytes(model.config, cells) / 2
    for kw in ({"blocks": 2}, {"ndim": 2}, {"channels": 6}):
        cfg = FisherVAE(**{"ndim": 3, "size": 16, "depth": 1, "channels": 8, **kw}).config
        assert not fuses_head(cfg)


def test_numba_start_keeps_torch_threads():
    """Starting Numba's OpenMP layer used to reset torch to every core."""
    code = textwrap.dedent("""
        import torch
        torch.set_num_threads(1)
        from porevae import ops
        x = torch.zeros(1, 4, 2, 2, 2)
        ops.decoder_head(x, torch.zeros(4, 4, 2, 2, 2), torch.zeros(4), torch.zeros(4, 4, 3, 3, 3),
                         torch.zeros(4), torch.zeros(1, 4, 1, 1, 1), torch.zeros(1),
                         backend="numba")
        import numba
        print(torch.get_num_threads(), numba.threading_layer())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0] == "1", out
