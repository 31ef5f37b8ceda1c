"""CUDA covariance kernels: nvcc build, Numba CUDA kernels in the simulator, device checks.

CPU side (CI): the .cu sources compile with nvcc for sm_80 and sm_90 where nvcc is present; the
Numba CUDA kernels run under ``NUMBA_ENABLE_CUDASIM=1`` (in a subprocess: the variable must be set
before numba is imported) against the float64 torch reference, with NaN-poisoned outputs; the
CUDA backend reports why it is unavailable. Device side (``@pytest.mark.gpu``, skipped without a
CUDA device): every kernel of ``porevae._cuda`` and of Numba CUDA against float64 references on
fresh random inputs, outputs poisoned with NaN first to catch unwritten elements.
"""

import shutil
import subprocess
import sysconfig
import textwrap

import numpy as np
import pytest
import torch

import porevae as pv
from porevae import ops
from porevae.ops import reference
from porevae.ops.covariance import cuda as ops_cuda

from cudatools import ROOT, nvcc, run_in_cudasim

CUDA = torch.cuda.is_available()
gpu = pytest.mark.skipif(not CUDA, reason="needs a CUDA device (torch.cuda.is_available())")




@pytest.mark.skipif(nvcc() is None, reason="nvcc not found")
def test_covariance_cu_compiles_for_sm80_sm90(tmp_path):
    pybind11 = pytest.importorskip("pybind11")
    cmd = [nvcc(), "-c", str(ROOT / "csrc/ops/covariance.cu"), "-o", str(tmp_path / "cov.o"),
           "-O3", "-std=c++17", "-Xcompiler", "-fPIC", "--threads", "2",
           f"-I{pybind11.get_include()}", f"-I{ROOT / 'csrc'}",
           f"-I{sysconfig.get_paths()['include']}",
           "-gencode=arch=compute_80,code=sm_80", "-gencode=arch=compute_90,code=sm_90"]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
    assert (tmp_path / "cov.o").stat().st_size > 0


def test_backends_report_cuda_reason():
    info = ops.backends()
    assert set(info) >= {"cuda", "numba_cuda"}
    for name in ("cuda", "numba_cuda"):
        assert isinstance(info[name]["available"], bool) and info[name]["reason"]
    if not CUDA:
        assert not info["cuda"]["available"]
        try:
            import porevae._cuda  # noqa: F401
        except ImportError:
            assert "not built" in info["cuda"]["reason"]
        else:
            assert "built but no device" in info["cuda"]["reason"]
        with pytest.raises(RuntimeError, match="unavailable"):
            ops.covariance_matrix(np.zeros((3, 2)), pv.Exponential(0.1), backend="cuda")
        with pytest.raises(RuntimeError, match="unavailable"):
            ops.covariance_matvec(np.zeros((3, 2)), pv.Exponential(0.1), np.zeros(3),
                                  backend="numba_cuda")


def test_extension_exports_the_kernels():
    ext = pytest.importorskip("porevae._cuda")
    for name in ("cov_points_symmetric", "cov_points_cross", "cov_grid_fill",
                 "cov_matvec_points", "cov_matvec_grid"):
        assert hasattr(ext, name), name


SIM_SCRIPT = textwrap.dedent(r"""
    import numpy as np, torch
    import porevae as pv
    from porevae.ops import reference, grid_offset_table
    from porevae.ops.covariance import numba_cuda as nc
    assert nc.simulator()
    rng = np.random.default_rng(20261201)  # fixed: a failure reproduces

    def models(d):
        ls = tuple(rng.uniform(0.2, 0.8, d))
        return [pv.Exponential(ls), pv.SquaredExponential(ls, variance=1.7),
                pv.Matern(ls, nu=1.5), pv.Matern(ls, nu=2.5, metric="l1")]

    def dense_ref(grid, model):
        return reference.covariance_matrix(torch.from_numpy(grid.cell_centers()), model).numpy()

    # grid fill from the offset table, 1D/2D/3D, float64 and float32, poisoned output
    for shape in [(int(rng.integers(20, 40)),), tuple(rng.integers(3, 8, 2)),
                  tuple(rng.integers(2, 5, 3))]:
        grid = pv.Grid(tuple(int(s) for s in shape), spacing=tuple(rng.uniform(0.05, 0.2,
                                                                          len(shape))))
        for model in models(grid.ndim)[grid.ndim - 1:grid.ndim + 1]:
            ref = dense_ref(grid, model)
            for dt, tol in ((np.float64, 1e-14), (np.float32, 1e-6)):
                out = np.full(ref.shape, np.nan, dtype=dt)
                shape3 = tuple(grid.shape) + (1,) * (3 - grid.ndim)
                nc.launch_grid_fill(grid_offset_table(grid, model, dt), shape3, out)
                assert np.isfinite(out).all(), "unwritten elements"
                err = np.abs(out - ref).max() / model.variance
                assert err < tol, (shape, model, dt, err)

    # symmetric and cross point assembly (every closed form once), poisoned output
    for i in range(4):
        d = 1 + i % 3
        n = int(rng.integers(17, 36))
        pts = torch.from_numpy(rng.uniform(0, 1, (n, d)))
        pb = torch.from_numpy(rng.uniform(0, 1, (int(rng.integers(5, 20)), d)))
        for model in models(d)[i:i + 1]:
            ref = reference.covariance_matrix(pts, model).numpy()
            for dt, tol in ((torch.float64, 1e-13), (torch.float32, 1e-6)):
                out = torch.full((n, n), float("nan"), dtype=dt)
                res = nc.covariance_matrix(pts, model, out=out)
                assert res is out and torch.isfinite(out).all()
                assert np.abs(out.double().numpy() - ref).max() < tol * model.variance
                assert torch.equal(out, out.T)
            refc = reference.covariance_matrix(pts, model, pb).numpy()
            out = torch.full((n, len(pb)), float("nan"), dtype=torch.float64)
            nc.covariance_matrix(pts, model, pb, out=out)
            assert np.abs(out.numpy() - refc).max() < 1e-13 * model.variance

    # tiled matvec, points and grid (offset table), non-multiple-of-tile sizes
    for d in (1, 2, 3):
        n = int(rng.integers(17, 34))
        pts = torch.from_numpy(rng.uniform(0, 1, (n, d)))
        model = models(d)[int(rng.integers(0, 4))]
        c = reference.covariance_matrix(pts, model)
        for dt, tol in ((torch.float64, 1e-13), (torch.float32, 1e-5)):
            x = torch.randn(n, int(rng.integers(1, 18)), dtype=torch.float64)
            y = nc.covariance_matvec(pts, model, x.to(dt))
            assert y.dtype == dt and y.shape == x.shape
            scale = (c.abs() @ x.abs()).max()
            assert ((y.double() - c @ x).abs().max() / scale) < tol
    grid = pv.Grid(tuple(int(s) for s in rng.integers(3, 6, 2)) + (2,))
    model = pv.Matern(tuple(rng.uniform(0.2, 0.8, 3)), nu=2.5)
    c = torch.from_numpy(dense_ref(grid, model))
    x = torch.randn(grid.n_cells, 3, dtype=torch.float64)
    assert (nc.grid_covariance_matvec(grid, model, x) - c @ x).abs().max() < \
        1e-13 * c.abs().sum()
    print("cudasim kernels ok")
""")


def test_numba_cuda_kernels_in_simulator():
    run_in_cudasim(SIM_SCRIPT, "cudasim kernels ok", timeout=600)


EMULATION_CPP = r"""
// Host emulation of the CUDA kernels of csrc/ops/cuda/covariance_kernels.cuh (tests only).
// One block at a time; its threads are std::threads, __syncthreads is a std::barrier, __shared__
// arrays are function statics (shared by the block's threads). Launch shapes as covariance.cu.
#include <barrier>
#include <cmath>
#include <math.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
thread_local dim3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
std::barrier<>* g_bar = nullptr;
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
inline void __syncthreads() { g_bar->arrive_and_wait(); }
template <class T>
inline T __ldg(const T* p) { return *p; }
#include "ops/cuda/covariance_kernels.cuh"

using namespace porevae::cuda;

template <class F>
void launch(dim3 grid, dim3 block, F f) {
  blockDim = block;
  gridDim = grid;
  const unsigned nt = block.x * block.y * block.z;
  for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      std::barrier<> bar(nt);
      g_bar = &bar;
      std::vector<std::thread> ts;
      for (unsigned ty = 0; ty < block.y; ++ty)
        for (unsigned tx = 0; tx < block.x; ++tx)
          ts.emplace_back([=] {
            threadIdx = dim3{tx, ty, 1};
            blockIdx = dim3{bx, by, 1};
            f();
          });
      for (auto& t : ts) t.join();
    }
}

template <class T>
std::vector<T> load(const char* path, size_t count) {
  std::vector<T> v(count);
  FILE* f = std::fopen(path, "rb");
  if (!f || std::fread(v.data(), sizeof(T), count, f) != count) std::exit(3);
  std::fclose(f);
  return v;
}

template <class T>
void save(const char* path, const std::vector<T>& v) {
  FILE* f = std::fopen(path, "wb");
  std::fwrite(v.data(), sizeof(T), v.size(), f);
  std::fclose(f);
}

template <class T>
int run(int argc, char** argv) {
  const std::string mode = argv[1];
  auto I = [&](int i) { return std::atoll(argv[i]); };
  auto D = [&](int i) { return std::atof(argv[i]); };
  const T nan = std::numeric_limits<T>::quiet_NaN();
  if (mode == "sym" || mode == "cross") {  // n m d code param l1 var xa xb out
    const int64_t n = I(3), m = I(4);
    const int d = I(5), code = I(6);
    const T param = D(7), var = D(9);
    const bool l1 = I(8);
    auto xa = load<T>(argv[10], n * d);
    auto xb = load<T>(argv[11], m * d);
    std::vector<T> out(n * m, nan);
    if (mode == "sym") {
      const int64_t t = (n + kTile - 1) / kTile;
      launch(dim3{unsigned(t * (t + 1) / 2), 1, 1}, dim3{kTile, kRowsPerPass, 1}, [&] {
        cov_points_symmetric_kernel<T>(xa.data(), n, d, code, param, l1, var, out.data());
      });
    } else {
      launch(dim3{unsigned((m + kTile - 1) / kTile), unsigned((n + kTile - 1) / kTile), 1},
             dim3{kTile, kRowsPerPass, 1}, [&] {
               cov_points_cross_kernel<T>(xa.data(), xb.data(), n, m, d, code, param, l1, var,
                                          out.data());
             });
    }
    save(argv[12], out);
  } else if (mode == "fill") {  // nx ny nz table out
    const int nx = I(3), ny = I(4), nz = I(5);
    const int64_t n = int64_t(nx) * ny * nz;
    auto table = load<T>(argv[6], size_t(nz) * ny * (2 * nx - 1));
    std::vector<T> out(n * n, nan);
    launch(dim3{unsigned((n + 7) / 8), 1, 1}, dim3{256, 1, 1},
           [&] { cov_grid_fill_kernel<T>(table.data(), nx, ny, nz, out.data()); });
    save(argv[7], out);
  } else if (mode == "mvp" || mode == "mvg") {
    // mvp: n d code param l1 var pts k x y ; mvg: nx ny nz table k x y
    const bool pts = mode == "mvp";
    const int64_t n = pts ? I(3) : int64_t(I(3)) * I(4) * I(5);
    const int64_t k = pts ? I(10) : I(7);
    auto x = load<T>(argv[pts ? 11 : 8], n * k);
    std::vector<T> y(n * k, nan);
    const dim3 grid{unsigned((k + kMvN - 1) / kMvN), unsigned((n + kMvM - 1) / kMvM), 1};
    const dim3 block{kMvThreads, kMvThreads, 1};
    if (pts) {
      const int d = I(4);
      auto p = load<T>(argv[9], n * d);
      PointsEntry<T> e{p.data(), d, int(I(5)), T(D(6)), T(D(8)), bool(I(7))};
      launch(grid, block, [&] { cov_matvec_kernel<T>(e, n, x.data(), k, y.data()); });
    } else {
      const int nx = I(3), ny = I(4), nz = I(5);
      auto table = load<T>(argv[6], size_t(nz) * ny * (2 * nx - 1));
      GridEntry<T> e{table.data(), nx, ny};
      launch(grid, block, [&] { cov_matvec_kernel<T>(e, n, x.data(), k, y.data()); });
    }
    save(argv[pts ? 12 : 9], y);
  } else {
    return 2;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  return std::strcmp(argv[2], "f64") == 0 ? run<double>(argc, argv) : run<float>(argc, argv);
}
"""


def _run_emulated(exe, tmp, mode, dt, args, inputs, out_shape):
    """Write ``inputs`` (arrays of ``dt``), run ``exe mode dt args... inputs... out``, read out."""
    paths = []
    for i, arr in enumerate(inputs):
        path = tmp / f"in{i}.bin"
        np.ascontiguousarray(arr, dtype=dt).tofile(path)
        paths.append(str(path))
    out = tmp / "out.bin"
    tag = "f64" if dt == np.float64 else "f32"
    cmd = [str(exe), mode, tag, *map(str, args[:-1]), *paths[:-1], *map(str, args[-1:]),
           *paths[-1:], str(out)] if mode in ("mvp", "mvg") else \
        [str(exe), mode, tag, *map(str, args), *paths, str(out)]
    subprocess.run(cmd, check=True, timeout=300)
    return np.fromfile(out, dtype=dt).reshape(out_shape)


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not found")
def test_cuda_kernels_host_emulation(tmp_path, rng):
    """The CUDA C++ kernels themselves (not a port), run on the host: blocks one at a time, each
    thread a std::thread, __syncthreads a std::barrier, NaN-poisoned outputs; vs float64 torch."""
    src = tmp_path / "emu.cpp"
    src.write_text(EMULATION_CPP)
    exe = tmp_path / "emu"
    res = subprocess.run(["g++", "-std=c++20", "-O1", "-pthread", "-Wno-unknown-pragmas",
                          f"-I{ROOT / 'csrc'}", str(src), "-o", str(exe)], check=False,
                         capture_output=True, text=True, timeout=300)
    if res.returncode != 0 and "barrier" in res.stderr:
        pytest.skip("g++ without C++20 <barrier>")
    assert res.returncode == 0, res.stderr[-3000:]
    for i, dt in enumerate((np.float64, np.float32, np.float64, np.float32)):
        d = 1 + i % 3
        tol = 1e-13 if dt == np.float64 else 1e-5
        ls = tuple(rng.uniform(0.2, 0.8, d))
        model = [pv.Exponential(ls), pv.SquaredExponential(ls, variance=1.7),
                 pv.Matern(ls, nu=1.5), pv.Matern(ls, nu=2.5, metric="l1")][i]
        n, m = int(rng.integers(33, 70)), int(rng.integers(20, 50))
        xa, xb = rng.uniform(0, 1, (n, d)), rng.uniform(0, 1, (m, d))
        la = model.length_scales(d)
        head = [model.kernel_code, model.kernel_param, int(model.metric == "l1"), model.variance]
        ref = reference.covariance_matrix(torch.from_numpy(xa), model).numpy()
        out = _run_emulated(exe, tmp_path, "sym", dt, [n, n, d, *head], [xa / la, xa / la], (n, n))
        assert np.isfinite(out).all() and np.array_equal(out, out.T)
        assert np.abs(out - ref).max() < tol * model.variance
        refc = reference.covariance_matrix(torch.from_numpy(xa), model,
                                           torch.from_numpy(xb)).numpy()
        out = _run_emulated(exe, tmp_path, "cross", dt, [n, m, d, *head], [xa / la, xb / la],
                            (n, m))
        assert np.isfinite(out).all() and np.abs(out - refc).max() < tol * model.variance
        k = int(rng.integers(1, 90))
        x = rng.standard_normal((n, k))
        y = _run_emulated(exe, tmp_path, "mvp", dt, [n, d, *head, k], [xa / la, x], (n, k))
        assert np.isfinite(y).all()
        assert np.abs(y - ref @ x).max() < 10 * tol * (np.abs(ref) @ np.abs(x)).max()
        shape = tuple(int(v) for v in rng.integers(2, 6, d))
        grid = pv.Grid(shape, spacing=tuple(rng.uniform(0.05, 0.3, d)))
        shape3 = shape + (1,) * (3 - d)
        cg = reference.covariance_matrix(torch.from_numpy(grid.cell_centers()), model).numpy()
        table = ops.grid_offset_table(grid, model)
        out = _run_emulated(exe, tmp_path, "fill", dt, list(shape3), [table], cg.shape)
        assert np.isfinite(out).all() and np.abs(out - cg).max() < tol * model.variance
        x = rng.standard_normal((grid.n_cells, k))
        y = _run_emulated(exe, tmp_path, "mvg", dt, [*shape3, k], [table, x], x.shape)
        assert np.isfinite(y).all()
        assert np.abs(y - cg @ x).max() < 10 * tol * (np.abs(cg) @ np.abs(x)).max()


# ---- device tests -------------------------------------------------------------------------------
def _device_models(rng, d):
    ls = tuple(rng.uniform(0.1, 0.6, d))
    return [pv.Exponential(ls), pv.SquaredExponential(ls, variance=2.3, convention="sklearn"),
            pv.Matern(ls, nu=1.5), pv.Matern(ls, nu=2.5), pv.Exponential(ls, metric="l1")]


def _device_backends():
    return [b for b in ("cuda", "numba_cuda") if ops.backends()[b]["available"]]


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-13), (torch.float32, 1e-5)])
def test_device_point_assembly(dtype, tol, rng):
    backends = _device_backends()
    assert backends, ops.backends()
    for backend in backends:
        for d in (1, 2, 3):
            n = int(rng.integers(200, 700))
            pts = torch.from_numpy(rng.uniform(0, 1, (n, d))).cuda()
            pb = torch.from_numpy(rng.uniform(0, 1, (int(rng.integers(50, 300)), d))).cuda()
            for model in _device_models(rng, d):
                ref = reference.covariance_matrix(pts, model)
                out = torch.full((n, n), float("nan"), dtype=dtype, device="cuda")
                res = ops.covariance_matrix(pts, model, out=out, backend=backend)
                assert res is out and bool(torch.isfinite(out).all())
                assert float((out.double() - ref).abs().max()) < tol * model.variance
                assert torch.equal(out, out.T)
                refc = reference.covariance_matrix(pts, model, pb)
                outc = torch.full(refc.shape, float("nan"), dtype=dtype, device="cuda")
                ops.covariance_matrix(pts, model, pb, out=outc, backend=backend)
                assert float((outc.double() - refc).abs().max()) < tol * model.variance
                shift = torch.tensor([4.5e5, 6.7e6, 1.7e3][:d], dtype=pts.dtype, device="cuda")
                ops.covariance_matrix(pts + shift, model, pb + shift, out=outc, backend=backend)
                assert float((outc.double() - refc).abs().max()) < tol * model.variance, \
                    "UTM-sized coordinates: the points are centred before the cast"


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_device_grid_assembly(dtype, rng):
    for backend in _device_backends():
        for shape in [(int(rng.integers(300, 900)),), tuple(rng.integers(10, 40, 2)),
                      tuple(rng.integers(4, 11, 3))]:
            shape = tuple(int(s) for s in shape)
            grid = pv.Grid(shape, spacing=tuple(rng.uniform(0.5, 2, len(shape)) / shape))
            model = _device_models(rng, grid.ndim)[int(rng.integers(0, 5))]
            ref = reference.covariance_matrix(torch.from_numpy(grid.cell_centers()).cuda(),
                                              model)
            n = grid.n_cells
            out = torch.full((n, n), float("nan"), dtype=dtype, device="cuda")
            res = ops.covariance_matrix(grid, model, out=out, backend=backend)
            assert res is out and bool(torch.isfinite(out).all())
            tol = 1e-14 if dtype == torch.float64 else 1e-6
            assert float((out.double() - ref).abs().max()) < tol * model.variance


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 3e-5)])
def test_device_matvec(dtype, tol, rng):
    for backend in _device_backends():
        for d in (1, 2, 3):
            n = int(rng.integers(100, 1500))
            pts = torch.from_numpy(rng.uniform(0, 1, (n, d))).cuda()
            model = _device_models(rng, d)[int(rng.integers(0, 5))]
            c = reference.covariance_matrix(pts, model)
            for k in (1, int(rng.integers(2, 200))):
                x = torch.randn(n, k, dtype=torch.float64, device="cuda")
                y = ops.covariance_matvec(pts, model, x.to(dtype), backend=backend)
                scale = float((c.abs() @ x.abs()).max())
                assert y.dtype == dtype and bool(torch.isfinite(y).all())
                assert float((y.double() - c @ x).abs().max()) < tol * scale
        grid = pv.Grid(tuple(int(s) for s in rng.integers(8, 30, 2)))
        model = _device_models(rng, 2)[int(rng.integers(0, 5))]
        c = reference.covariance_matrix(torch.from_numpy(grid.cell_centers()).cuda(), model)
        x = torch.randn(grid.n_cells, 37, dtype=torch.float64, device="cuda")
        y = ops.covariance_matvec(grid, model, x.to(dtype), backend=backend)
        scale = float((c.abs() @ x.abs()).max())
        assert float((y.double() - c @ x).abs().max()) < tol * scale


@pytest.mark.gpu
@gpu
def test_device_wrappers_validate():
    if not ops.backends()["cuda"]["available"]:
        pytest.skip("porevae._cuda not built")
    pts = torch.rand(10, 2, device="cuda", dtype=torch.float64)
    with pytest.raises(ValueError, match="contiguous"):
        bad = torch.empty(10, 20, device="cuda", dtype=torch.float64)[:, ::2]
        ops_cuda.covariance_matrix(pts, pv.Exponential(0.1), out=bad)
    with pytest.raises(TypeError, match="CUDA tensor"):
        ops_cuda.covariance_matrix(pts.cpu(), pv.Exponential(0.1))
    with pytest.raises(ValueError, match="closed form"):
        ops_cuda.covariance_matrix(pts, pv.Matern(0.1, nu=0.7))
