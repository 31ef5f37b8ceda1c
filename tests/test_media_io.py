"""The volume-I/O layer: round trips of volumes and stacks in every format, sidecars, checksums,
truncated / corrupt / foreign files, streaming writes, binarisation, crop and subsample."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import tifffile

import porevae.media as pm
from porevae._files import FileIntegrityError, digest_arrays
from porevae.media import VolumeFormatError, io

SUFFIXES = (".npy", ".raw", ".tif", ".h5")


@pytest.fixture
def vol(rng):
    return rng.random((6, 5, 4)) < 0.5


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_and_atomic(tmp_path, vol, suffix):
    path = tmp_path / f"v{suffix}"
    pm.write_volume(path, vol)
    back = pm.read_volume(path, binary=True)
    assert back.dtype == bool and np.array_equal(back, vol)
    grey = pm.read_volume(path)
    assert grey.dtype == np.uint8 and np.array_equal(grey, vol)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([path.name, path.name + ".json"] if suffix in (".raw", ".npy")
                           else [path.name])
    with pytest.raises(FileNotFoundError, match="missing"):
        pm.read_volume(tmp_path / f"missing{suffix}")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pm.write_volume(tmp_path / "no_folder" / f"v{suffix}", vol)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_stacks_stay_stacks(tmp_path, rng, suffix):
    """Four 8^3 samples come back as (4, 8, 8, 8), and a stack of 2-D images as (n, nx, ny)."""
    four = rng.random((4, 8, 8, 8)).astype(np.float32)
    path = tmp_path / f"s{suffix}"
    pm.write_volume(path, four, stack=True, attrs={"seed": 3})
    assert pm.read_volume(path).shape == (4, 8, 8, 8)
    assert np.array_equal(io.read_stack(path), four)
    flat = rng.random((5, 6, 7)).astype(np.float32)
    pm.write_volume(path, flat, stack=True)
    assert io.stored_stack(path) is True
    assert io.read_stack(path).shape == (5, 6, 7)               # every format records the flag
    assert io.read_stack(path, ndim=2).shape == (5, 6, 7)
    pm.write_volume(path, flat)
    assert io.stored_stack(path) is False
    assert io.read_stack(path).shape == (1, 5, 6, 7)            # one 3-D volume
    with pytest.raises(VolumeFormatError, match="expected 2-D images"):
        io.read_stack(path, ndim=2)


def test_foreign_npy_without_sidecar(tmp_path, rng):
    """A .npy from numpy.save (no sidecar): no stack record, so the ``ndim`` hint decides."""
    flat = rng.random((5, 6, 7)).astype(np.float32)
    np.save(tmp_path / "f.npy", flat)
    assert io.stored_stack(tmp_path / "f.npy") is None
    assert io.read_stack(tmp_path / "f.npy").shape == (1, 5, 6, 7)
    assert io.read_stack(tmp_path / "f.npy", ndim=2).shape == (5, 6, 7)
    np.save(tmp_path / "f4.npy", flat[None])
    assert io.read_stack(tmp_path / "f4.npy").shape == (1, 5, 6, 7)


def test_npy_sidecar_checksum(tmp_path, rng):
    """porevae's .npy carries its checksum in NAME.npy.json; a changed .npy is refused."""
    data = rng.random((4, 5))
    pm.write_volume(tmp_path / "c.npy", data)
    meta = json.loads((tmp_path / "c.npy.json").read_text())
    assert meta["sha256"] == digest_arrays({"volume": data}) and meta["stack"] is False
    np.save(tmp_path / "c.npy", data + 1.0)  # replaced behind porevae's back
    with pytest.raises(VolumeFormatError, match=r"c\.npy: corrupt file.*remove that sidecar"):
        pm.read_volume(tmp_path / "c.npy")


def test_stack_writer_streams_blocks(tmp_path, rng):
    data = rng.random((10, 3, 4))
    for suffix in SUFFIXES:
        path = tmp_path / f"w{suffix}"
        with io.StackWriter(path, data.shape, data.dtype, attrs={"n": 10}) as w:
            for k in range(0, 10, 3):
                w.write(data[k:k + 3])
                assert not path.exists()  # only the temporary exists while writing
        assert np.array_equal(io.read_stack(path, ndim=2), data)
    with pytest.raises(ValueError, match="4 of 10 rows"), \
            io.StackWriter(tmp_path / "short.h5", data.shape, data.dtype) as w:
        w.write(data[:4])
    with pytest.raises(RuntimeError), \
            io.StackWriter(tmp_path / "boom.h5", data.shape, data.dtype) as w:
        w.write(data[:4])
        raise RuntimeError
    assert not any(p.name.startswith((".short", ".boom", "short", "boom"))
                   for p in tmp_path.iterdir())
    with h5py.File(tmp_path / "w.h5") as f:
        assert list(f) == ["volume"] and f["volume"].attrs["stack"]


def test_raw_sidecar_and_foreign_raw(tmp_path, vol):
    data = np.arange(24, dtype=np.uint16).reshape(2, 3, 4)
    path = tmp_path / "v.raw"
    pm.write_raw(path, data, byte_order="big")
    assert path.stat().st_size == 48
    assert np.array_equal(pm.read_volume(path), data)            # the sidecar says it all
    assert np.array_equal(pm.read_raw(path, (2, 3, 4), "uint16", byte_order="big"), data)
    assert not np.array_equal(pm.read_raw(path, (2, 3, 4), "uint16", byte_order="little"), data)
    pm.write_raw(tmp_path / "f.bin", data, order="F")
    assert np.array_equal(pm.read_volume(tmp_path / "f.bin"), data)
    foreign = tmp_path / "foreign.raw"
    data.tofile(foreign)
    with pytest.raises(ValueError, match="without a sidecar.*--raw-shape"):
        pm.read_volume(foreign)
    with pytest.raises(VolumeFormatError, match="needs 72 bytes, file has 48 bytes"):
        pm.read_raw(foreign, (3, 3, 4), "uint16")
    with pytest.raises(VolumeFormatError, match="larger than expected.*needs 24 bytes"):
        pm.read_raw(foreign, (2, 3, 4), "uint8")
    with pytest.raises(VolumeFormatError, match="binary"):
        pm.read_raw(foreign, (2, 3, 4), "uint16", binary=True)
    with pytest.raises(ValueError, match="dtype"):
        pm.read_raw(foreign, (3, 2), "complex64")
    (tmp_path / "v.raw.json").write_text("{not json")
    with pytest.raises(VolumeFormatError, match=r"v\.raw\.json: corrupt sidecar"):
        pm.read_volume(path)
    with pytest.raises(ValueError, match="do not apply to .tif"):
        pm.read_volume(tmp_path / "x.tif", dataset="a")


def _flip_middle(path, nbytes=16):
    blob = bytearray(path.read_bytes())
    mid = len(blob) * 3 // 4
    blob[mid:mid + nbytes] = bytes(255 - b for b in blob[mid:mid + nbytes])
    path.write_bytes(bytes(blob))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_truncated_corrupt_and_foreign_files(tmp_path, rng, suffix):
    """Every reader refuses with one line naming the file; checksums catch flipped bytes."""
    good = tmp_path / f"good{suffix}"
    pm.write_volume(good, rng.random((16, 16, 16)).astype(np.float32), compression=None) \
        if suffix in (".h5", ".tif") else pm.write_volume(good, rng.random((16, 16, 16)))
    blob = good.read_bytes()
    bad = tmp_path / f"bad{suffix}"
    if suffix == ".raw":
        (tmp_path / "bad.raw.json").write_bytes((tmp_path / "good.raw.json").read_bytes())
    bad.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(FileIntegrityError, match=f"bad{suffix}.*truncated") as exc:
        pm.read_volume(bad)
    assert "\n" not in str(exc.value)
    if suffix == ".npy":  # the memory-mapped path names the file too
        with pytest.raises(VolumeFormatError, match="bad.npy: truncated"):
            pm.read_npy(bad, mmap=True)
    if suffix != ".npy":  # .npy has no room for a checksum
        bad.write_bytes(blob)
        _flip_middle(bad)
        with pytest.raises(VolumeFormatError, match=f"bad{suffix}.*(checksum|corrupt)"):
            pm.read_volume(bad)
    bad.write_bytes(b"not a volume at all" * 10)
    if suffix == ".raw":
        (tmp_path / "bad.raw.json").unlink()
        with pytest.raises(ValueError, match="bad.raw"):
            pm.read_volume(bad)
    else:
        with pytest.raises(VolumeFormatError, match=f"bad{suffix}"):
            pm.read_volume(bad)


def test_values_dtypes_and_datasets(tmp_path, vol):
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
    with pytest.raises(VolumeFormatError, match="obj.npy.*objects"):
        pm.read_npy(tmp_path / "obj.npy")
    pm.write_hdf5(tmp_path / "d.h5", vol, dataset="images/a")
    assert np.array_equal(pm.read_volume(tmp_path / "d.h5", binary=True), vol)  # the only one
    with pytest.raises(VolumeFormatError, match="no dataset 'b'.*images/a"):
        pm.read_hdf5(tmp_path / "d.h5", dataset="b")
    with h5py.File(tmp_path / "two.h5", "w") as fh:
        fh["a"], fh["b"] = vol, vol
    with pytest.raises(VolumeFormatError, match="several.*--dataset"):
        pm.read_volume(tmp_path / "two.h5")
    grey = np.full((4, 4), 7, np.uint8)
    pm.write_volume(tmp_path / "grey.tif", grey)
    with pytest.raises(VolumeFormatError, match="binary.*7"):
        pm.read_volume(tmp_path / "grey.tif", binary=True)
    with pytest.raises(ValueError, match="suffix"):
        pm.read_volume(tmp_path / "v.vtk")
    with pytest.raises(ValueError, match="--out must end in"):
        io.check_volume_path(tmp_path / "v.vtk")


def test_otsu_binarize_crop_subsample(rng):
    truth = rng.random((40, 40, 10)) < 0.3
    grey = np.where(truth, 60.0, 180.0) + rng.normal(0, 15, truth.shape)
    t = pm.otsu_threshold(grey)
    assert 90 < t < 150
    assert np.mean(pm.binarize(grey) == truth) > 0.99
    assert np.array_equal(pm.binarize(grey, threshold=120.0, pore="bright"), grey > 120)
    with pytest.raises(ValueError, match="constant"):
        pm.otsu_threshold(np.ones((3, 3)))
    with pytest.raises(ValueError, match="threshold must be finite"):
        pm.binarize(grey, threshold=float("nan"))
    c = pm.crop(truth, (2, None, 1), (10, 20, None))
    assert c.shape == (8, 20, 9) and np.array_equal(c, truth[2:10, :20, 1:])
    with pytest.raises(ValueError, match="axis 1"):
        pm.crop(truth, (0, 30, 0), (5, 20, 5))
    assert pm.subsample(truth, 2).shape == (20, 20, 5)
    blocks = pm.subsample(np.kron(truth[:10, :10, :5], np.ones((2, 2, 2), bool)), 2, "block")
    assert np.array_equal(blocks, truth[:10, :10, :5])
    with pytest.raises(ValueError, match="factor"):
        pm.subsample(truth, 0)


def test_segment_binary_conventions(rng):
    truth = rng.random((12, 10, 8)) < 0.3
    for data, pore_value in ((truth, None), (truth.astype(np.uint8), 1), (truth * 1.0, None),
                             ((~truth).astype(np.uint8), 0), (np.where(truth, 0, 255), 0),
                             (np.where(truth, 255, 0).astype(np.uint8), "255"),
                             (np.where(truth, 3, 7), "dark"), (np.where(truth, 7, 3), "bright")):
        pore, text = pm.segment(data, pore_value, name="volume in a.tif")
        assert pore.dtype == bool and pore.shape == truth.shape
        assert np.array_equal(pore, truth), (data.dtype, pore_value)
        assert text.startswith("volume in a.tif: binary") and f"{truth.mean():.4f}" in text
    assert "porevae's convention" in pm.segment(truth)[1]
    # a constant volume: no pore unless its value is named pore
    assert not pm.segment(np.zeros((4, 4)))[0].any()
    assert pm.segment(np.zeros((4, 4)), 0)[0].all()


def test_segment_refuses_ambiguous_and_inconsistent(rng):
    truth = rng.random((10, 10)) < 0.4
    with pytest.raises(ValueError, match=r"0 and 255: say which is pore with --pore-value 0 or"):
        pm.segment(np.where(truth, 0, 255).astype(np.uint8))
    with pytest.raises(ValueError, match="pore_value 255 does not occur in rock, which holds "
                                         "the values 0 and 1"):
        pm.segment(truth, 255, name="rock")
    with pytest.raises(ValueError, match="pore_value 0 does not occur"):
        pm.segment(np.where(truth, 1, 255), 0)
    with pytest.raises(ValueError, match="dark .the lower. or bright"):
        pm.segment(np.where(truth, 2, 5))
    with pytest.raises(ValueError, match=r"must be one of 0, 1, 255, 'dark', 'bright', got 2"):
        pm.segment(truth, 2)
    with pytest.raises(ValueError, match=r"must be one of .* got True"):
        pm.segment(truth, True)
    grey = rng.normal(size=(10, 10))
    with pytest.raises(ValueError, match=r"grey levels .* --pore-value dark or bright"):
        pm.segment(grey)
    with pytest.raises(ValueError, match="pore_value 1 names no phase"):
        pm.segment(grey, 1)
    with pytest.raises(ValueError, match="NaN"):
        pm.segment(np.full((3, 3), np.nan), "dark")
    with pytest.raises(ValueError, match="empty"):
        pm.segment(np.zeros((0, 3)))


def test_segment_grey_levels_at_otsu(rng):
    truth = rng.random((40, 40, 10)) < 0.3
    grey = np.where(truth, 60.0, 180.0) + rng.normal(0, 15, truth.shape)
    t = pm.otsu_threshold(grey)
    pore, text = pm.segment(grey, "dark")
    assert np.array_equal(pore, grey <= t) and np.mean(pore == truth) > 0.99
    assert f"Otsu's threshold {t:.6g}" in text and "pore = dark" in text
    pore, text = pm.segment(grey, "bright")
    assert np.array_equal(pore, grey > t) and "pore = bright" in text
    # an explicit threshold (a Gaussian field cut at 0): dark unless told otherwise
    field = rng.normal(size=(20, 20))
    assert np.array_equal(pm.segment(field, threshold=0.0)[0], field <= 0)
    assert np.array_equal(pm.segment(field, "bright", threshold=0.5)[0], field > 0.5)
    # a threshold is never applied to two-valued data
    assert np.array_equal(pm.segment(truth, threshold=0.0)[0], truth)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_four_d_arrays_are_stacks(tmp_path, rng, suffix):
    """A 4-D array is recorded as a stack by default, stack=False for it is refused, and a 4-D
    file that an older writer marked "not a stack" is still read as the stack it can only be."""
    four = rng.random((2, 4, 3, 5)) < 0.5
    path = tmp_path / f"g{suffix}"
    pm.write_volume(path, four)
    assert io.stored_stack(path) is True and io.read_stack(path).shape == (2, 4, 3, 5)
    with pytest.raises(ValueError, match=r"stack=False for an array of shape \(2, 4, 3, 5\)"):
        pm.write_volume(tmp_path / f"h{suffix}", four, stack=False)
    assert not (tmp_path / f"h{suffix}").exists()
    if suffix == ".h5":
        with h5py.File(path, "r+") as fh:
            fh["volume"].attrs["stack"] = False
        assert io.read_stack(path).shape == (2, 4, 3, 5)


def test_public_names_resolve_to_the_functions():
    """Every public name of porevae.media is the function or class, also after its module of
    the same name is loaded (porevae.media.permeability)."""
    import importlib
    import types

    for module in ("permeability", "report", "io", "synthetic"):
        importlib.import_module(f"porevae.media.{module}")
    assert sorted(pm.__all__) == sorted(pm._NAMES)
    for name in pm.__all__:
        assert not isinstance(getattr(pm, name), types.ModuleType), name
    assert pm.permeability.__module__ == "porevae.media.permeability"
