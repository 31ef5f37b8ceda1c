"""Random crops with the square/cube symmetries: distinct transforms, seeding, file formats."""

import h5py
import numpy as np
import pytest
import tifffile

from porevae.vae import CropSampler, apply_symmetry, symmetry_transforms


@pytest.mark.parametrize("ndim, count", [(2, 8), (3, 48)])
def test_symmetries_are_distinct_and_a_group(ndim, count, rng):
    ts = symmetry_transforms(ndim)
    assert len(ts) == count
    a = rng.random((5,) * ndim)
    images = [apply_symmetry(a, t) for t in ts]
    keys = {im.tobytes() for im in images}
    assert len(keys) == count
    for im in images:  # closed under composition
        for t in ts[:: max(1, count // 8)]:
            assert apply_symmetry(im, t).tobytes() in keys
    assert np.array_equal(images[0], a)


def test_sampler_augments_with_all_symmetries_of_a_cubic_crop(rng):
    vol = rng.random((8, 8, 8)).astype(np.float32)
    s = CropSampler(vol, 3, (8, 8, 8), augment=True, seed=0)
    seen = {s.crops([(0, (0, 0, 0), t)])[0, 0].numpy().tobytes() for t in range(48)}
    assert len(s.transforms) == 48 and len(seen) == 48
    flat = CropSampler(vol, 3, (4, 8, 8), augment=True, seed=0)
    assert len(flat.transforms) == 16  # a non-cubic crop keeps only shape-preserving ones
    assert len(CropSampler(vol, 3, (8, 8, 8), augment=False).transforms) == 1


def test_sampler_seeded_state_and_slices(rng):
    img = rng.random((3, 40, 50))
    a = CropSampler(img, 2, (32, 32), seed=5)
    b = CropSampler(img, 2, (32, 32), seed=5)
    x = a.sample(4)
    assert x.shape == (4, 1, 32, 32) and x.dtype.is_floating_point
    assert np.array_equal(x.numpy(), b.sample(4).numpy())
    state = a.state_dict()
    nxt = a.sample(4)
    a.load_state_dict(state)
    assert np.array_equal(nxt.numpy(), a.sample(4).numpy())
    halves = [CropSampler(img, 2, (32, 32), seed=9).sample(4, rank=r, world_size=2)
              for r in (0, 1)]
    full = CropSampler(img, 2, (32, 32), seed=9).sample(4)
    assert np.array_equal(np.concatenate(halves), full.numpy())


def test_files_and_errors(tmp_path, rng):
    vol = (rng.random((10, 12, 14)) < 0.5).astype(np.uint8)
    np.save(tmp_path / "v.npy", vol)
    with h5py.File(tmp_path / "v.h5", "w") as f:
        f["image"] = vol
    tifffile.imwrite(tmp_path / "v.tif", vol)
    for name, key in (("v.npy", None), ("v.h5", "image"), ("v.tif", None)):
        s = CropSampler(tmp_path / name, 3, (10, 12, 14), augment=False, key=key, binary=True)
        assert np.array_equal(s.items[0], vol), name  # read through porevae.media.io
    s = CropSampler([tmp_path / "v.npy", vol], 3, (8, 8, 8), seed=0, binary=True)
    assert s.sample(3).shape == (3, 1, 8, 8, 8)
    with pytest.raises(ValueError, match="smaller than the crop"):
        CropSampler(vol, 3, (16, 8, 8))
    with pytest.raises(ValueError, match="must hold only 0 and 1"):
        CropSampler(vol * 2.5, 3, (8, 8, 8), binary=True)
    with pytest.raises(ValueError, match="must have 3 or 4 axes"):
        CropSampler(vol[0], 3, (8, 8, 8))
    with pytest.raises(FileNotFoundError):
        CropSampler(tmp_path / "missing.npy", 3, (8, 8, 8))
    (tmp_path / "t.npy").write_bytes((tmp_path / "v.npy").read_bytes()[:300])  # truncated
    with pytest.raises(ValueError, match="t.npy"):
        CropSampler(tmp_path / "t.npy", 3, (8, 8, 8))
    with pytest.raises(ValueError, match="suffix"):
        (tmp_path / "v.txt").write_text("1")
        CropSampler(tmp_path / "v.txt", 3, (8, 8, 8))
