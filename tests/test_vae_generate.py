"""Generation at any shape: chunked decoding equals whole decoding, seeding by sample and latent
block, non-cubic shapes from a model trained on small crops, memory refusals before allocation,
HDF5 streaming."""

import time

import h5py
import numpy as np
import pytest
import torch

from porevae.vae import FisherVAE, Trainer, decode_chunked, generate, generation_memory
from porevae.vae.generation import BLOCK, check_generation_memory, generate_hdf5, latent_noise

TINY3 = {"ndim": 3, "size": 16, "depth": 2, "channels": 3, "max_channels": 6,
         "latent_channels": 2, "latent_blocks": 1}


def _model(rng, **kw):
    torch.manual_seed(int(rng.integers(2**31)))
    return FisherVAE(**{**TINY3, **kw}).eval()


@pytest.mark.parametrize("ndim, shape", [(3, (37, 50, 23)), (2, (90, 61))])
def test_chunked_decoding_equals_whole_decoding(ndim, shape, rng):
    model = _model(rng, ndim=ndim, blocks=2)
    with torch.no_grad():  # larger weights than at init: far cells matter, as after training
        for p in model.decoder.parameters():
            p.mul_(2.5)
    cells = model.latent_cells(shape)
    z = torch.from_numpy(rng.standard_normal((2, *cells), dtype=np.float32))
    whole = model.decode(z[None])[0, 0].detach().numpy()[tuple(slice(s) for s in shape)]
    for chunk in (1, 3, 7):
        got = decode_chunked(model, z, shape, chunk=chunk)
        np.testing.assert_allclose(got, whole, rtol=0, atol=1e-5)
    # the halo is what makes it exact: one cell less and chunk borders differ
    from porevae.vae.generation import chunk_grid, decode_region

    f = model.config.factor
    broken = np.empty(shape, np.float32)
    for region in chunk_grid(cells, 3):
        out = decode_region(model, lambda r: z[(slice(None),) + tuple(slice(a, b) for a, b in r)],
                            region, shape, halo=model.config.halo - 1)
        broken[tuple(slice(a * f, min(b * f, s)) for (a, b), s in zip(region, shape))] = \
            torch.sigmoid(out[0, 0]).numpy()
    assert np.abs(broken - whole).max() > 1e-3


def test_latent_noise_by_blocks_is_region_independent(rng):
    seed = int(rng.integers(2**31))
    full = latent_noise(seed, 3, 2, [(0, 40), (0, 20), (0, 33)])
    part = latent_noise(seed, 3, 2, [(13, 37), (5, 20), (16, 17)])
    assert torch.equal(part, full[:, 13:37, 5:20, 16:17])
    assert not torch.equal(latent_noise(seed, 4, 2, [(0, BLOCK)] * 3),
                           full[:, :BLOCK, :BLOCK, :BLOCK])
    z = full.numpy()
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02


def test_model_trained_on_small_crops_generates_any_shape(rng):
    torch.manual_seed(int(rng.integers(2**31)))
    vol = rng.random((40, 40, 40)) < 0.3
    model = FisherVAE(**{**TINY3, "size": 32})
    Trainer(model, vol.astype(np.float32), steps=2, batch_size=2, progress=False,
            checkpoint_every=0).fit()
    model.eval()
    s = model.sample(2, shape=(48, 64, 80), seed=5)
    assert s.shape == (2, 1, 48, 64, 80) and torch.isfinite(s).all()
    one = model.sample(1, shape=(48, 64, 80), seed=5, chunk=4)  # sample 0 alone, chunked
    torch.testing.assert_close(one[0], s[0], rtol=0, atol=2e-6)
    small = model.sample(1, shape=(20, 20, 20), seed=5)  # a larger shape extends a smaller one
    f, halo = model.config.factor, model.config.halo
    inner = 20 - f * halo  # voxels whose receptive field lies inside the small map
    torch.testing.assert_close(small[0, 0, :inner, :inner, :inner],
                               s[0, 0, :inner, :inner, :inner], rtol=0, atol=2e-6)
    g = generate(model, 2, (33, 17, 9), seed=1, porosity=0.3)
    assert g.shape == (2, 33, 17, 9) and g.dtype == np.uint8
    assert (g.reshape(2, -1).sum(1) == round(0.3 * 33 * 17 * 9)).all()


def test_oversize_generation_refused_before_allocation(rng):
    model = _model(rng)
    t0 = time.perf_counter()
    with pytest.raises(MemoryError, match=r"needs .* \(\d+ bytes"):
        generate(model, 100_000_000, (32, 32, 32))
    with pytest.raises(MemoryError, match="only 1.0 KiB is available"):
        check_generation_memory(model, 1, (16, 16, 16), limit=1024)
    assert time.perf_counter() - t0 < 1.0
    need = generation_memory(model, 100_000_000, (32, 32, 32))
    assert need["result"] == 100_000_000 * 32**3
    assert generation_memory(model, 10, (64,) * 3, keep=False)["result"] == 0


def test_hdf5_streaming_equals_in_memory(tmp_path, rng):
    model = _model(rng)
    want = generate(model, 3, (20, 24, 12), seed=4)
    generate_hdf5(model, tmp_path / "g.h5", 3, (20, 24, 12), seed=4, dataset="rock")
    with h5py.File(tmp_path / "g.h5") as fh:
        assert np.array_equal(fh["rock"][()], want)


def test_volume_larger_than_memory_path_local_and_dask(tmp_path, rng):
    from porevae.vae.generation import generate_volume_hdf5

    model = _model(rng)
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.mul_(2.5)
    shape = (40, 36, 28)
    info = generate_volume_hdf5(model, tmp_path / "v.h5", shape, seed=2, porosity=0.3, chunk=3)
    with h5py.File(tmp_path / "v.h5") as fh:
        local = fh["volume"][()]
    assert info["porosity"] == local.mean() and local.sum() == round(0.3 * local.size)
    whole = generate(model, 1, shape, seed=2, porosity=0.3)[0]
    assert np.mean(local != whole) < 1e-3  # only ties within one histogram bin may differ
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1,
                            dashboard_address=None) as client:
        generate_volume_hdf5(model, tmp_path / "d.h5", shape, seed=2, porosity=0.3, chunk=3,
                             dask=client)
    with h5py.File(tmp_path / "d.h5") as fh:
        assert np.array_equal(fh["volume"][()], local)
