"""porevae.ops._host_memory: large host outputs on kept mappings (reuse, lifetime, release)."""

import gc
import subprocess
import sys

import numpy as np
import pytest
import torch

import porevae as pv
from porevae.ops import _host_memory as hm

pytestmark = pytest.mark.skipif(hm._LIBC is None, reason="kept mappings need Linux")

SHAPE = (hm.MIN_BYTES // 8 // 1000 + 1, 1000)  # just over MIN_BYTES of float64


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    monkeypatch.delenv("POREVAE_KEEP_HOST_MEMORY", raising=False)
    hm.release_host_memory()
    yield
    gc.collect()
    hm.release_host_memory()


def _address(a):
    return a.__array_interface__["data"][0]


def test_large_request_is_an_aligned_writable_mapping():
    a = hm.empty(SHAPE, np.float64)
    assert a.shape == SHAPE and a.dtype == np.float64 and a.flags.c_contiguous
    assert a.flags.writeable and _address(a) % hm.ALIGN == 0
    a[:] = 3.0
    a[-1, -1] = 7.0
    assert a.sum() == 3.0 * (a.size - 1) + 7.0


def test_freed_mapping_is_reused_for_the_same_size():
    a = hm.empty(SHAPE, np.float64)
    addr = _address(a)
    del a
    size = -(-SHAPE[0] * SHAPE[1] * 8 // hm.ALIGN) * hm.ALIGN
    assert hm.kept_bytes() == size
    b = hm.empty(SHAPE, np.float64)
    assert _address(b) == addr and hm.kept_bytes() == 0
    del b
    c = hm.empty((3 * SHAPE[0], SHAPE[1]), np.float32)  # another size: the kept one goes first
    assert hm.kept_bytes() == 0 and c.nbytes == 3 * SHAPE[0] * SHAPE[1] * 4
    del c
    assert hm.kept_bytes() > size


def test_a_view_keeps_the_mapping_alive():
    a = hm.empty(SHAPE, np.float64)
    a[:] = 1.5
    view = a[10:20, 5]
    t = torch.from_numpy(a[:3])
    del a
    gc.collect()
    assert hm.kept_bytes() == 0  # still in use through the views
    other = hm.empty(SHAPE, np.float64)  # must not land on the memory the views use
    other[:] = -1.0
    assert np.all(view == 1.5) and torch.all(t == 1.5)
    del view, t, other
    gc.collect()
    assert hm.kept_bytes() > 0


def test_release_unmaps_and_reports_bytes():
    a = hm.empty(SHAPE, np.float64)
    size = hm.kept_bytes()
    del a
    kept = hm.kept_bytes()
    assert size == 0 and kept >= SHAPE[0] * SHAPE[1] * 8
    assert hm.release_host_memory() == kept and hm.kept_bytes() == 0
    assert pv.ops.release_host_memory() == 0  # the public name


def test_keeping_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("POREVAE_KEEP_HOST_MEMORY", "0")
    assert not hm.keeping()
    a = hm.empty(SHAPE, np.float64)
    del a
    assert hm.kept_bytes() == 0


def test_small_requests_go_to_numpy():
    a = hm.empty((10, 10), np.float64)
    assert a.flags.owndata and a.shape == (10, 10)


def test_covariance_matrix_reuses_its_freed_output():
    pts = np.random.default_rng(3).uniform(size=(3000, 2))  # 72 MB of float64
    model = pv.Exponential(0.2)
    c = pv.ops.covariance_matrix(pts, model)
    addr, first = _address(c), c.copy()
    del c
    c2 = pv.ops.covariance_matrix(pts, model)
    assert _address(c2) == addr
    np.testing.assert_array_equal(c2, first)  # every entry rewritten
    ref = pv.ops.reference.covariance_matrix(torch.from_numpy(pts), model).numpy()
    np.testing.assert_allclose(c2, ref, rtol=1e-14, atol=1e-15)


def test_kept_pages_count_as_available_memory():
    """MADV_FREE pages are reclaimable: /proc/meminfo's MemAvailable keeps counting them, so
    the up-front memory checks are not misled by what is kept."""
    code = (
        "import numpy as np, porevae.ops._host_memory as hm\n"
        "from porevae._validation import available_memory\n"
        "n = 256 << 20\n"
        "a = hm.empty((n // 8,), np.float64); a[:] = 1.0\n"
        "held = available_memory()\n"
        "del a\n"
        "kept = available_memory()\n"
        "print(hm.kept_bytes() >= n, kept - held > n // 2)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]
