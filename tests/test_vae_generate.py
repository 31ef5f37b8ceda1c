"""Generation at any shape: chunked decoding equals whole decoding, seeding by sample and latent
block, the latent margin (stationary samples: a face voxel is computed as an interior one),
non-cubic shapes from a model trained on small crops, the default cut at the training data's
porosity, memory refusals before allocation, files through porevae.media.io."""

import json
import time

import numpy as np
import pytest
import torch

from porevae.media.io import read_stack, read_volume, stored_stack
from porevae.vae import (
    FisherVAE,
    Trainer,
    cut_probabilities,
    decode_chunked,
    generate,
    generation_memory,
)
from porevae.vae.generation import (
    BLOCK,
    check_generation_memory,
    chunk_grid,
    decode_region,
    generate_file,
    generate_volume,
    latent_map_cells,
    latent_noise,
    margin,
)

TINY3 = {"ndim": 3, "size": 16, "depth": 2, "channels": 3, "max_channels": 6,
         "latent_channels": 2, "latent_blocks": 1}


def _model(rng, scale=2.5, **kw):
    torch.manual_seed(int(rng.integers(2**31)))
    model = FisherVAE(**{**TINY3, **kw}).eval()
    with torch.no_grad():  # larger weights than at init: far cells matter, as after training
        for p in model.decoder.parameters():
            p.mul_(scale)
    return model


@pytest.mark.parametrize("ndim, shape, chunks", [(3, (37, 50, 23), (3, 7)),
                                                 (2, (90, 61), (1, 3, 7))])
def test_chunked_decoding_equals_whole_decoding(ndim, shape, chunks, rng):
    model = _model(rng, ndim=ndim, blocks=2)
    f, m = model.config.factor, margin(model)
    z = torch.from_numpy(rng.standard_normal((2, *latent_map_cells(model, shape)),
                                             dtype=np.float32))
    whole = model.decode(z[None])[0, 0].detach().numpy()[
        tuple(slice(m * f, m * f + s) for s in shape)]
    for chunk in chunks:
        got = decode_chunked(model, z, shape, chunk=chunk)
        np.testing.assert_allclose(got, whole, rtol=0, atol=1e-5)
    # the halo is what makes it exact: one cell less and chunk borders differ
    broken = np.empty(shape, np.float32)
    for region in chunk_grid(model.latent_cells(shape), 3):
        out = decode_region(model, lambda r: z[(slice(None),) + tuple(slice(a, b) for a, b in r)],
                            region, shape, halo=model.config.halo - 1)
        broken[tuple(slice(a * f, min(b * f, s)) for (a, b), s in zip(region, shape))] = \
            torch.sigmoid(out[0, 0]).numpy()
    assert np.abs(broken - whole).max() > 1e-3
    with pytest.raises(ValueError, match=r"latent map must have shape \(2, "):
        decode_chunked(model, z[:, 1:], shape)


def test_faces_are_decoded_as_interior_voxels(rng):
    """A sample's latent map carries the decoder's margin: embedded anywhere inside a larger
    random map, its decode is the same, face voxels included (without the margin the faces see
    the decoder's zero padding: the boundary artefact of issue 26)."""
    model = _model(rng)
    shape, seed = (24, 20, 28), int(rng.integers(2**31))
    f, m = model.config.factor, margin(model)
    sample = generate(model, 1, shape, seed=seed, cut="none")[0]
    own = latent_noise(seed, 0, 2, [(0, c) for c in latent_map_cells(model, shape)])
    pad = 3
    big = torch.from_numpy(rng.standard_normal(
        (2, *(c + 2 * pad for c in own.shape[1:])), dtype=np.float32))
    big[(slice(None),) + tuple(slice(pad, pad + c) for c in own.shape[1:])] = own
    with torch.no_grad():
        inside = model.decode(big[None])[0, 0].numpy()[
            tuple(slice((pad + m) * f, (pad + m) * f + s) for s in shape)]
    np.testing.assert_allclose(sample, inside, rtol=0, atol=2e-6)
    cells = model.latent_cells(shape)  # the same noise without the margin: faces differ
    with torch.no_grad():
        bare = model.decode(own[(slice(None),) + tuple(slice(m, m + c) for c in cells)][None])
    bare = bare[0, 0].numpy()[tuple(slice(s) for s in shape)]
    assert np.abs(bare[0] - sample[0]).max() > 1e-2


def test_face_planes_have_the_interior_porosity(rng):
    """Statistically: over samples cut at one porosity, the mean pore fraction of the outer
    voxel planes equals the interior's (a biased face would differ by far more)."""
    model = _model(rng, scale=3.0)
    with torch.no_grad():  # a large output bias: zero padding at a face would shift it a lot
        model.decoder.body[-1].bias.fill_(-1.0)
    vol = generate(model, 6, (40, 40, 40), seed=1, porosity=0.3).astype(float)
    faces = np.mean([np.concatenate([np.take(v, k, a).ravel() for a in range(3)
                                     for k in (0, 1, -2, -1)]).mean() for v in vol])
    inner = vol[:, 8:-8, 8:-8, 8:-8].mean()
    assert abs(faces - inner) < 0.02, (faces, inner)


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
    small = model.sample(1, shape=(20, 21, 22), seed=5)  # a larger shape extends a smaller one
    torch.testing.assert_close(small[0, 0], s[0, 0, :20, :21, :22], rtol=0, atol=2e-6)
    g = generate(model, 2, (33, 17, 9), seed=1, porosity=0.3)
    assert g.shape == (2, 33, 17, 9) and g.dtype == np.uint8
    assert (g.reshape(2, -1).sum(1) == round(0.3 * 33 * 17 * 9)).all()


def test_default_cut_is_the_recorded_data_porosity(tmp_path, rng):
    """The checkpoint records the training data's porosity; a loaded model's samples are cut at
    it by default, ``cut="mean"`` keeps each sample's mean probability, a model without the
    record falls back to "mean"."""
    from porevae.vae import load_model

    torch.manual_seed(int(rng.integers(2**31)))
    vol = rng.random((32, 32, 32)) < 0.27
    trainer = Trainer(FisherVAE(**TINY3), vol.astype(np.float32), steps=1, batch_size=2,
                      progress=False, out_dir=tmp_path)
    trainer.fit()
    model = load_model(tmp_path)
    phi = model.data_info["porosity"]
    assert phi == pytest.approx(vol.mean())
    shape = (20, 24, 28)
    got = generate(model, 3, shape, seed=2)
    assert (got.reshape(3, -1).sum(1) == round(phi * np.prod(shape))).all()
    mean = generate(model, 3, shape, seed=2, cut="mean")
    probs = generate(model, 3, shape, seed=2, cut="none")
    # the default is the connected cut of the probabilities; "data" their global threshold
    np.testing.assert_array_equal(got, cut_probabilities(probs, "connected", porosity=phi))
    plain = generate(model, 3, shape, seed=2, cut="data")
    np.testing.assert_array_equal(plain, cut_probabilities(probs, "data", porosity=phi))
    assert not np.array_equal(got, plain)  # so that the two assertions above tell them apart
    want = [round(float(p.mean(dtype=np.float64)) * p.size) for p in probs]
    assert mean.reshape(3, -1).sum(1).tolist() == want
    del model.data_info
    assert np.array_equal(generate(model, 3, shape, seed=2), mean)


@pytest.mark.parametrize("kwargs, message", [
    ({"porosity": 1.5}, r"porosity must be in \(0, 1\), got 1.5"),
    ({"cut": "half", "porosity": 0.2}, "porosity is the exact count of cut='connected'"),
    ({"cut": "otsu"}, "cut must be one of"),
    ({"n": 0}, r"n must be in \[1, inf\]"),
    ({"chunk": 0}, r"chunk \(latent cells per axis\) must be in \[1, inf\]"),
    ({"shape": (8, 0, 8)}, r"shape entry \(voxels\) must be in \[1, inf\]"),
    ({"shape": (8, 8)}, "shape must be 3 positive integers"),
])
def test_bad_parameters_refused_before_decoding(kwargs, message, rng, monkeypatch):
    import porevae.vae.generation as gen

    model = _model(rng)

    def no_decode(*a, **k):
        raise AssertionError("decoded before refusing")

    monkeypatch.setattr(gen, "decode_chunked", no_decode)
    with pytest.raises(ValueError, match=message):
        generate(model, **{"n": 1, "shape": (8, 8, 8), **kwargs})


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
    # the connected cut's plan follows the porosity asked for; the global threshold's does not
    plan = {(rule, phi): generation_memory(model, 1, (64,) * 3, rule=rule, porosity=phi)["sample"]
            for rule in ("connected", "data") for phi in (0.1, 0.4)}
    voxels = 64**3
    assert plan["connected", 0.1] == 4 * voxels + int(voxels * (17 + 26 * 0.25))
    assert plan["connected", 0.4] == 4 * voxels + voxels * (17 + 26)
    assert plan["data", 0.1] == plan["data", 0.4] == 8 * voxels


@pytest.mark.parametrize("suffix", [".h5", ".tif", ".npy", ".raw"])
def test_files_are_stacks_through_media_io(tmp_path, rng, suffix):
    model = _model(rng)
    want = generate(model, 3, (20, 24, 12), seed=4, porosity=0.3)
    path = generate_file(model, tmp_path / f"g{suffix}", 3, (20, 24, 12), seed=4,
                         porosity=0.3, attrs={"seed": 4})
    assert stored_stack(path) is True
    assert np.array_equal(read_stack(path), want)
    one = generate_file(model, tmp_path / f"one{suffix}", 1, (20, 24, 12), seed=4,
                        porosity=0.3)
    assert np.array_equal(read_volume(one), want[0]) and read_stack(one).shape == (1, 20, 24, 12)


def test_volume_larger_than_memory_path_local_and_dask(tmp_path, rng):
    model = _model(rng)
    shape = (40, 36, 28)
    info = generate_volume(model, tmp_path / "v.h5", shape, seed=2, porosity=0.3, chunk=3)
    local = read_volume(tmp_path / "v.h5")  # checksum verified
    assert stored_stack(tmp_path / "v.h5") is False
    assert info["porosity"] == local.mean() and local.sum() == round(0.3 * local.size)
    whole = generate(model, 1, shape, seed=2, porosity=0.3, cut="data")[0]  # its cut
    assert np.mean(local != whole) < 1e-3  # only ties within one histogram bin may differ
    generate_volume(model, tmp_path / "v.npy", shape, seed=2, porosity=0.3, chunk=3, jobs=2)
    assert np.array_equal(read_volume(tmp_path / "v.npy"), local)  # local processes: the same
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1,
                            dashboard_address=None) as client:
        generate_volume(model, tmp_path / "d.h5", shape, seed=2, porosity=0.3, chunk=3,
                        dask=client)
    assert np.array_equal(read_volume(tmp_path / "d.h5"), local)


# -- the command ------------------------------------------------------------------------------
@pytest.fixture
def checkpoint(tmp_path_factory):
    rng = np.random.default_rng(7)
    out = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    vol = rng.random((32, 32, 32)) < 0.3
    Trainer(FisherVAE(**TINY3), vol.astype(np.float32), steps=1, batch_size=2,
            progress=False, out_dir=out).fit()
    return out / "checkpoint.pt"


@pytest.mark.parametrize("suffix", [".h5", ".tif", ".npy", ".raw"])
def test_generated_stacks_read_back_by_stats(tmp_path, checkpoint, capsys, suffix):
    from porevae.cli import main

    out = tmp_path / f"g{suffix}"
    assert main(["generate", str(checkpoint), "-n", "2", "--shape", "24", "20", "16",
                 "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["stats", str(out), "--json", "--no-progress"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 2 and res["shape"] == [24, 20, 16]
    assert main(["generate", str(checkpoint), "--shape", "16", "--out",
                 str(tmp_path / f"one{suffix}"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["stats", str(tmp_path / f"one{suffix}"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 1 and res["shape"] == [16, 16, 16]


def test_generate_command_refusals_come_before_loading(tmp_path, checkpoint, capsys,
                                                       monkeypatch):
    import porevae.vae
    from porevae.cli import main

    out = tmp_path / "g.npy"
    out.write_bytes(b"mine")
    base = ["generate", str(checkpoint), "--shape", "16", "--no-progress"]
    assert main(base + ["--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"mine"
    assert main(base + ["--out", str(checkpoint), "--overwrite"]) == 2
    assert "is also an input" in capsys.readouterr().err

    def no_load(*a, **k):
        raise AssertionError("loaded the model before refusing")

    monkeypatch.setattr(porevae.vae, "load_model", no_load)
    for extra, message in ((["--porosity", "1.5"], r"porosity must be in (0, 1), got 1.5"),
                           (["--cut", "half", "--porosity", "0.2"], "porosity is the exact count"),
                           (["-n", "0"], "n must be in [1, inf]"),
                           (["--chunk", "0"], "chunk (latent cells per axis) must be"),
                           (["--shape", "16", "0", "16"], "shape entry (voxels) must be")):
        assert main(base + ["--out", str(tmp_path / "new.npy")] + extra) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "new.npy").exists()


def test_generate_command_default_is_the_training_porosity(tmp_path, checkpoint, capsys):
    from porevae.cli import main
    from porevae.vae.trainer import load_checkpoint

    phi = load_checkpoint(checkpoint)["data"]["porosity"]
    out = tmp_path / "s.npy"
    assert main(["generate", str(checkpoint), "-n", "2", "--shape", "16", "--out", str(out),
                 "--no-progress"]) == 0
    assert "the training data's, recorded in the checkpoint" in capsys.readouterr().out
    got = read_stack(out)
    assert (got.reshape(2, -1).sum(1) == round(phi * 16**3)).all()
    # the command's default is the connected cut of the probabilities, --cut data their global
    # threshold, both at the recorded porosity
    from porevae.vae import load_model

    probs = generate(load_model(checkpoint), 2, (16,) * 3, seed=0, cut="none")
    np.testing.assert_array_equal(got, cut_probabilities(probs, "connected", porosity=phi))
    plain = tmp_path / "plain.npy"
    assert main(["generate", str(checkpoint), "-n", "2", "--shape", "16", "--out", str(plain),
                 "--cut", "data", "--no-progress"]) == 0
    assert "global threshold" in capsys.readouterr().out
    np.testing.assert_array_equal(read_stack(plain),
                                  cut_probabilities(probs, "data", porosity=phi))
    assert not np.array_equal(read_stack(plain), got)
