"""Volume readers and writers on valid and broken files; binarisation, crop and subsample."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile

import porevae.media as pm
from porevae.media import VolumeFormatError


@pytest.fixture
def vol():
    return np.random.default_rng(1).random((6, 5, 4)) < 0.5


@pytest.mark.parametrize("suffix", [".npy", ".tif", ".h5"])
def test_round_trip_and_atomic(tmp_path, vol, suffix):
    path = tmp_path / f"v{suffix}"
    pm.write_volume(path, vol)
    back = pm.read_volume(path, binary=True)
    assert back.dtype == bool and np.array_equal(back, vol)
    grey = pm.read_volume(path)
    assert grey.dtype == np.uint8 and np.array_equal(grey, vol)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left
    with pytest.raises(FileNotFoundError):
        pm.read_volume(tmp_path / f"missing{suffix}")
    with pytest.raises(FileNotFoundError):
        pm.write_volume(tmp_path / "no_folder" / f"v{suffix}", vol)


def test_raw(tmp_path, vol):
    data = np.arange(24, dtype=np.uint16).reshape(2, 3, 4)
    path = tmp_path / "v.raw"
    pm.write_raw(path, data, byte_order="big")
    assert path.stat().st_size == 48
    assert np.array_equal(pm.read_raw(path, (2, 3, 4), "uint16", byte_order="big"), data)
    assert not np.array_equal(pm.read_raw(path, (2, 3, 4), "uint16"), data)  # wrong byte order
    pm.write_raw(tmp_path / "f.bin", data, order="F")
    assert np.array_equal(pm.read_volume(tmp_path / "f.bin", shape=(2, 3, 4), dtype="uint16",
                                         order="F"), data)
    with pytest.raises(VolumeFormatError, match="needs 72 bytes, file has 48 bytes"):
        pm.read_raw(path, (3, 3, 4), "uint16")
    with pytest.raises(VolumeFormatError, match="larger than expected.*needs 24 bytes"):
        pm.read_raw(path, (2, 3, 4), "uint8")
    pm.write_raw(tmp_path / "b.raw", vol)
    assert np.array_equal(pm.read_raw(tmp_path / "b.raw", vol.shape, "uint8", binary=True), vol)
    with pytest.raises(VolumeFormatError, match="binary"):
        pm.read_raw(path, (2, 3, 4), "uint16", binary=True)
    with pytest.raises(ValueError, match="dtype"):
        pm.read_raw(path, (3, 2), "complex64")


def test_broken_files(tmp_path, vol):
    for suffix in (".npy", ".tif", ".h5"):
        good = tmp_path / f"good{suffix}"
        pm.write_volume(good, vol.astype(np.float32))
        blob = good.read_bytes()
        bad = tmp_path / f"bad{suffix}"
        bad.write_bytes(blob[: len(blob) // 2])
        with pytest.raises(VolumeFormatError, match="truncated or corrupt"):
            pm.read_volume(bad)
        bad.write_bytes(b"not a volume at all" * 10)
        with pytest.raises(VolumeFormatError):
            pm.read_volume(bad)
    nan = np.zeros((4, 4, 4), np.float32)
    nan[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="1 NaN"):  # the writers refuse NaN too
        pm.write_volume(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "nan.npy", nan)
    tifffile.imwrite(tmp_path / "nan.tif", nan, photometric="minisblack")
    with h5py.File(tmp_path / "nan.h5", "w") as fh:
        fh["volume"] = nan
    for suffix in (".npy", ".tif", ".h5"):
        with pytest.raises(VolumeFormatError, match="1 NaN"):
            pm.read_volume(tmp_path / f"nan{suffix}")
    np.save(tmp_path / "str.npy", np.array(["a", "b"]))
    with pytest.raises(VolumeFormatError, match="dtype"):
        pm.read_npy(tmp_path / "str.npy")
    np.save(tmp_path / "obj.npy", np.array([{}, 1], dtype=object), allow_pickle=True)
    with pytest.raises(VolumeFormatError):
        pm.read_npy(tmp_path / "obj.npy")
    pm.write_hdf5(tmp_path / "d.h5", vol, dataset="images/a")
    with pytest.raises(VolumeFormatError, match="no dataset 'volume'.*images/a"):
        pm.read_hdf5(tmp_path / "d.h5")
    assert np.array_equal(pm.read_volume(tmp_path / "d.h5", dataset="images/a", binary=True),
                          vol)
    grey = np.full((4, 4), 7, np.uint8)
    pm.write_volume(tmp_path / "grey.tif", grey)
    with pytest.raises(VolumeFormatError, match="binary.*7"):
        pm.read_volume(tmp_path / "grey.tif", binary=True)
    with pytest.raises(ValueError, match="suffix"):
        pm.read_volume(tmp_path / "v.vtk")


def test_otsu_binarize_crop_subsample():
    rng = np.random.default_rng(0)
    truth = rng.random((40, 40, 10)) < 0.3
    grey = np.where(truth, 60.0, 180.0) + rng.normal(0, 15, truth.shape)
    t = pm.otsu_threshold(grey)
    assert 90 < t < 150
    assert np.mean(pm.binarize(grey) == truth) > 0.99
    assert np.array_equal(pm.binarize(grey, threshold=120.0, pore="bright"), grey > 120)
    with pytest.raises(ValueError, match="constant"):
        pm.otsu_threshold(np.ones((3, 3)))
    c = pm.crop(truth, (2, None, 1), (10, 20, None))
    assert c.shape == (8, 20, 9) and np.array_equal(c, truth[2:10, :20, 1:])
    with pytest.raises(ValueError, match="axis 1"):
        pm.crop(truth, (0, 30, 0), (5, 20, 5))
    assert pm.subsample(truth, 2).shape == (20, 20, 5)
    blocks = pm.subsample(np.kron(truth[:10, :10, :5], np.ones((2, 2, 2), bool)), 2, "block")
    assert np.array_equal(blocks, truth[:10, :10, :5])
    with pytest.raises(ValueError, match="factor"):
        pm.subsample(truth, 0)
