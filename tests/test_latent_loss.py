"""ops.vae_latent_loss: fused backends vs the plain-autograd reference, Fisher forms, clamp, errors.

Backends: "numba" and "torch" everywhere; "cuda" under ``@pytest.mark.gpu`` (skipped without a
device). The CUDA source is compiled with nvcc for sm_80 where nvcc is present, and the kernels of
csrc/ops/cuda/latent_loss_kernel.cuh run on the host in an emulation (g++, std::thread per CUDA
thread, emulated warp shuffles) against the reference for every storage dtype and both load paths.
"""

import math
import os
import shutil
import signal
import subprocess
import sysconfig
import textwrap

import numpy as np
import pytest
import torch

from porevae import ops
from porevae.ops import _dispatch, latent_loss
from porevae.ops.latent_loss import reference as reference_latent

from cudatools import ROOT, nvcc, run_in_cudasim

CUDA = _dispatch.status("latent_loss", "cuda")["available"]
gpu = pytest.mark.skipif(not CUDA, reason="needs a CUDA device and porevae._cuda built with "
                         "csrc/ops/latent_loss.cu")
gpu_numba = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
FORMS = ("location", "location+scale", "mc")
HOST = ("numba", "torch")


def _inputs(n, d, dtype=torch.float64, seed=0, device="cpu", spread=2.0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(n, d, generator=g, dtype=torch.float64)
    logvar = spread * torch.randn(n, d, generator=g, dtype=torch.float64) - 1.0
    eps = torch.randn(n, d, generator=g, dtype=torch.float64)
    return tuple(t.to(device=device, dtype=dtype) for t in (mu, logvar, eps))


def _away_from_clamp_edges(logvar, lo=-6.0, hi=2.0, gap=1e-3):
    """Move entries within ``gap`` of a clamp boundary (finite differences would straddle it)."""
    near = ((logvar - lo).abs() < gap) | ((logvar - hi).abs() < gap)
    return torch.where(near, logvar + 10 * gap, logvar)


def _value_and_grads(backend, mu, logvar, eps, fisher, seed=1, **kw):
    mu = mu.detach().clone().requires_grad_()
    logvar = logvar.detach().clone().requires_grad_()
    z, kl, f = ops.vae_latent_loss(mu, logvar, eps, fisher=fisher, backend=backend, **kw)
    g = torch.Generator().manual_seed(seed)
    weights = [torch.randn(t.shape, generator=g, dtype=torch.float64).to(t) for t in (z, kl, f)]
    gmu, glv = torch.autograd.grad((z, kl, f), (mu, logvar), weights)
    return [z.detach(), kl.detach(), f.detach(), gmu, glv]




@pytest.fixture(scope="module", autouse=True)
def nvcc_build(tmp_path_factory):
    """nvcc of csrc/ops/latent_loss.cu for sm_80, started with the module so that it runs beside
    the other tests (the build test, last in the file, waits for it); None without nvcc/pybind11."""
    try:
        import pybind11
    except ImportError:
        pybind11 = None
    if nvcc() is None or pybind11 is None:
        yield None
        return
    obj = tmp_path_factory.mktemp("nvcc") / "latent_loss.o"
    cmd = [nvcc(), "-c", str(ROOT / "csrc/ops/latent_loss.cu"), "-o", str(obj),
           "-std=c++17", "-Xcompiler", "-fPIC", "--expt-relaxed-constexpr",
           f"-I{ROOT / 'csrc'}", f"-I{pybind11.get_include()}",
           f"-I{sysconfig.get_paths()['include']}", "-gencode=arch=compute_80,code=sm_80"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    yield proc, obj
    if proc.poll() is None:  # the build test was deselected: stop our own build
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


@pytest.mark.parametrize("backend", HOST + (
    pytest.param("cuda", marks=[pytest.mark.gpu, gpu]),
    pytest.param("numba_cuda", marks=[pytest.mark.gpu, gpu_numba])))
@pytest.mark.parametrize("fisher", FORMS)
def test_gradcheck_float64(backend, fisher):
    device = "cuda" if backend in ("cuda", "numba_cuda") else "cpu"
    mu, logvar, eps = _inputs(6, 5, device=device, spread=3.0)  # some entries outside [-6, 2]
    logvar = _away_from_clamp_edges(logvar)
    mu.requires_grad_()
    logvar.requires_grad_()

    def fn(m, lv):
        return ops.vae_latent_loss(m, lv, eps, fisher=fisher, backend=backend)

    assert torch.autograd.gradcheck(fn, (mu, logvar), eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("fisher", FORMS)
@pytest.mark.parametrize("shape", [(37, 19), (128, 512)])
def test_numba_matches_reference_float32(fisher, shape):
    seed = FORMS.index(fisher) * 1000 + shape[0]
    mu, logvar, eps = _inputs(*shape, dtype=torch.float32, seed=seed)
    fused = _value_and_grads("numba", mu, logvar, eps, fisher)
    ref = _value_and_grads("torch", mu, logvar, eps, fisher)
    for a, b in zip(fused, ref):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=2e-5, atol=2e-6 * float(b.abs().max()))


@pytest.mark.parametrize("dtype, ulps", [(torch.float32, 1.0), (torch.float64, 2.0)])
def test_numba_exp_is_within_an_ulp_over_the_clamp_range(dtype, ulps):
    """z = exp(logvar / 2) for mu = 0, eps = 1, logvar over all of [-80, 80]."""
    logvar = torch.linspace(-80, 80, 100_001, dtype=torch.float64).to(dtype)[None]
    z, _, _ = ops.vae_latent_loss(torch.zeros_like(logvar), logvar, torch.ones_like(logvar),
                                  backend="numba", logvar_range=(-80, 80))
    exact = torch.exp(0.5 * logvar.double())
    rel = ((z.double() - exact) / exact).abs().max()
    assert rel <= ulps * torch.finfo(dtype).eps


def test_float32_tolerance_detects_a_small_error():
    """The tolerance of the comparison above fails on a 1e-3 change of one logvar entry."""
    mu, logvar, eps = _inputs(128, 512, dtype=torch.float32)
    ref = _value_and_grads("torch", mu, logvar, eps, "location")
    bad = logvar.clone()
    bad[3, 7] += 1e-3
    fused = _value_and_grads("numba", mu, bad, eps, "location")
    with pytest.raises(AssertionError):
        for a, b in zip(fused, ref):
            torch.testing.assert_close(a, b, rtol=2e-5, atol=2e-6 * float(b.abs().max()))


def test_values_are_the_formulas():
    mu = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)
    var = torch.tensor([[0.25, 1.0, 4.0]], dtype=torch.float64)
    eps = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    for backend in HOST:
        z, kl, f = ops.vae_latent_loss(mu, var.log(), eps, backend=backend)
        torch.testing.assert_close(z, mu + var.sqrt() * eps)
        torch.testing.assert_close(kl, 0.5 * (mu**2 + var - 1 - var.log()).sum(1))
        torch.testing.assert_close(f, (1 / var).mean(1))


@pytest.mark.parametrize("backend", HOST)
def test_fisher_equals_the_gaussian_information(backend):
    """I(mu) = 1/sigma^2, I(sigma) = 2/sigma^2: "location" and "location+scale" on known sigma."""
    sigma = torch.tensor([[0.5, 1.0, 2.0, 0.1]], dtype=torch.float64)
    logvar = (2 * sigma.log()).expand(3, 4).contiguous()
    mu = torch.zeros_like(logvar)
    eps = torch.randn(logvar.shape, dtype=torch.float64)
    i_mu, i_sigma = 1 / sigma**2, 2 / sigma**2
    _, _, loc = ops.vae_latent_loss(mu, logvar, eps, "location", backend)
    _, _, both = ops.vae_latent_loss(mu, logvar, eps, "location+scale", backend)
    torch.testing.assert_close(loc, i_mu.mean().expand(3), rtol=1e-12, atol=0)
    torch.testing.assert_close(both, (i_mu + i_sigma).mean().expand(3), rtol=1e-12, atol=0)


def test_gaussian_information_from_the_score():
    """E[S^2] of the Gaussian score in mu and sigma is 1/sigma^2 and 2/sigma^2 (CLT bound)."""
    g = torch.Generator().manual_seed(3)
    mu, sigma, n = 0.3, 0.7, 400_000
    x = mu + sigma * torch.randn(n, generator=g, dtype=torch.float64)
    s_mu = (x - mu) / sigma**2
    s_sigma = ((x - mu) ** 2 - sigma**2) / sigma**3
    for s, exact in ((s_mu, 1 / sigma**2), (s_sigma, 2 / sigma**2)):
        sq = s**2
        assert abs(float(sq.mean()) - exact) < 5 * float(sq.std()) / math.sqrt(n)


@pytest.mark.parametrize("backend", HOST)
def test_mc_form_averages_to_the_location_form(backend):
    d, n = 8, 20_000
    g = torch.Generator().manual_seed(4)
    mu = torch.randn(1, d, generator=g, dtype=torch.float64).expand(n, d).contiguous()
    logvar = torch.empty(1, d, dtype=torch.float64).uniform_(-2, 1, generator=g)
    logvar = logvar.expand(n, d).contiguous()
    eps = torch.randn(n, d, generator=g, dtype=torch.float64)
    _, _, mc = ops.vae_latent_loss(mu, logvar, eps, "mc", backend)
    _, _, loc = ops.vae_latent_loss(mu, logvar, eps, "location", backend)
    # Var(eps^2 / sigma^2) = 2 / sigma^4 per coordinate, independent over j
    sd = math.sqrt(float((2 * torch.exp(-2 * logvar[0])).sum()) / d**2 / n)
    assert abs(float(mc.mean()) - float(loc[0])) < 5 * sd
    assert torch.allclose(loc, loc[0])


@pytest.mark.parametrize("backend", HOST)
def test_clamp_values_gradients_and_nan(backend):
    lo, hi = -6.0, 2.0
    logvar = torch.tensor([[-9.0, lo, -1.0, hi, 5.0, float("nan")]], dtype=torch.float64)
    mu = torch.full_like(logvar, 0.3)
    eps = torch.full_like(logvar, -0.7)
    out = _value_and_grads(backend, mu, logvar, eps, "mc")
    ref = _value_and_grads("torch", mu, logvar, eps, "mc")
    z, kl, f, _, glv = out
    torch.testing.assert_close(z[0, :5], 0.3 - 0.7 * torch.exp(0.5 * logvar[0, :5].clamp(lo, hi)))
    assert torch.isnan(z[0, 5]) and torch.isnan(kl[0]) and torch.isnan(f[0])
    assert glv[0, 0] == 0 and glv[0, 4] == 0 and glv[0, 5] == 0  # outside the range, NaN
    assert (glv[0, 1:4] != 0).all()  # boundaries keep their gradient, as torch.clamp
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, equal_nan=True)


@pytest.mark.parametrize("backend", HOST)
def test_custom_clamp_range(backend):
    mu, logvar, eps = _inputs(9, 7, spread=3.0)
    kw = {"logvar_range": (-1.0, 0.5)}
    out = _value_and_grads(backend, mu, logvar, eps, "location", **kw)
    ref = _value_and_grads("torch", mu, logvar.clamp(-1.0, 0.5), eps, "location",
                           logvar_range=(-80, 80))
    for a, b in zip(out[:4], ref[:4]):
        torch.testing.assert_close(a, b)
    inside = (logvar >= -1.0) & (logvar <= 0.5)
    torch.testing.assert_close(out[4], torch.where(inside, ref[4], 0.0))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_inputs_accumulate_in_float32(dtype):
    mu, logvar, eps = _inputs(16, 64, dtype=dtype)
    z, kl, f = _value_and_grads("numba", mu, logvar, eps, "location")[:3]
    rz, rkl, rf = _value_and_grads("torch", mu.float(), logvar.float(), eps.float(),
                                   "location")[:3]
    assert z.dtype == dtype and kl.dtype == torch.float32 and f.dtype == torch.float32
    torch.testing.assert_close(z, rz.to(dtype))
    torch.testing.assert_close(kl, rkl, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(f, rf, rtol=1e-6, atol=1e-6)
    mu.requires_grad_()
    z, kl, f = ops.vae_latent_loss(mu, logvar, eps)
    (z.float().sum() + kl.sum()).backward()
    assert mu.grad.dtype == dtype


def test_backward_saves_only_the_inputs():
    mu, logvar, eps = _inputs(4, 3)
    mu.requires_grad_()
    logvar.requires_grad_()
    z, _, _ = ops.vae_latent_loss(mu, logvar, eps, backend="numba")
    saved = z.grad_fn.saved_tensors
    assert [t.data_ptr() for t in saved] == [t.data_ptr() for t in (mu, logvar, eps)]


def test_numpy_in_numpy_out_and_eps_gets_no_gradient():
    mu, logvar, eps = (t.numpy() for t in _inputs(5, 4))
    z, kl, f = ops.vae_latent_loss(mu, logvar, eps)
    assert all(isinstance(a, np.ndarray) for a in (z, kl, f))
    assert z.shape == (5, 4) and kl.shape == (5,) and f.shape == (5,)
    m, lv, e = (torch.from_numpy(a).requires_grad_() for a in (mu, logvar, eps))
    for backend in HOST:
        z, kl, f = ops.vae_latent_loss(m, lv, e, "mc", backend=backend)
        assert torch.autograd.grad((z.sum() + kl.sum() + f.sum()), e, allow_unused=True)[0] \
            is None


def test_bad_inputs_name_the_parameter():
    mu, logvar, eps = _inputs(3, 4)
    cases = [
        ((mu, logvar[:, :3], eps), {}, ValueError, "logvar must have the shape"),
        ((mu[0], logvar, eps), {}, ValueError, r"mu must be \(N, d\) or a latent map"),
        ((mu, logvar, eps.to(torch.int64)), {}, TypeError, "eps must be floating"),
        ((mu, logvar.float(), eps), {}, TypeError, "logvar must have the dtype"),
        ((mu, logvar, [[0.0]]), {}, TypeError, "eps must be a torch tensor"),
        ((mu, logvar, eps.to("meta")), {}, ValueError, "eps must be on the device"),
        ((mu, logvar, eps), {"fisher": "scale"}, ValueError, "fisher must be one of"),
        ((mu, logvar, eps), {"backend": "gpu"}, ValueError, "backend must be one of"),
        ((mu, logvar, eps), {"logvar_range": (2.0, -6.0)}, ValueError, "logvar_range"),
        ((mu, logvar, eps), {"logvar_range": (-100.0, 2.0)}, ValueError, "logvar_range"),
        ((mu[:, :0], logvar[:, :0], eps[:, :0]), {}, ValueError, "at least one latent element"),
    ]
    for args, kw, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            ops.vae_latent_loss(*args, **kw)
    if not CUDA:
        with pytest.raises(RuntimeError, match="unavailable"):
            ops.vae_latent_loss(mu, logvar, eps, backend="cuda")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="numba_cuda.*unavailable"):
            ops.vae_latent_loss(mu, logvar, eps, backend="numba_cuda")


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_latent_map_matches_reference_without_copies(layout, rng):
    """A spatial latent (N, C, D, H, W), as the fully convolutional models give it: values and
    gradients against the plain-autograd reference; a channels-last map is used as it is (z
    keeps its layout) and float64 gradcheck ties the fused backward to it."""
    shape = (3, int(rng.integers(1, 5)), *(int(v) for v in rng.integers(2, 6, 3)))
    fmt = torch.channels_last_3d if layout == "channels_last" else torch.contiguous_format
    g = torch.Generator().manual_seed(int(rng.integers(2**31)))
    mu, lv, eps = (torch.randn(shape, generator=g, dtype=torch.float64).contiguous(
        memory_format=fmt) for _ in range(3))
    lv = (3 * lv - 1).contiguous(memory_format=fmt)
    w = (torch.randn(shape, generator=g, dtype=torch.float64),
         torch.randn(3, generator=g, dtype=torch.float64),
         torch.randn(3, generator=g, dtype=torch.float64))
    for fisher in ("location", "location+scale", "mc"):
        res = []
        for backend in ("numba", "torch"):
            m, lg = mu.clone().requires_grad_(), lv.clone().requires_grad_()
            z, kl, f = ops.vae_latent_loss(m, lg, eps, fisher, backend=backend,
                                           logvar_range=(-3.0, 1.5))
            gm, gl = torch.autograd.grad((z, kl, f), (m, lg), w)
            res.append((z, kl, f, gm, gl))
            if backend == "numba":
                assert z.shape == mu.shape and z.is_contiguous(memory_format=fmt)
        for a, b in zip(*res):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    small = tuple(min(s, 2) for s in shape)
    m = torch.randn(small, dtype=torch.float64).contiguous(memory_format=fmt).requires_grad_()
    lg = torch.randn(small, dtype=torch.float64).contiguous(memory_format=fmt).requires_grad_()
    e = torch.randn(small, dtype=torch.float64).contiguous(memory_format=fmt)
    assert torch.autograd.gradcheck(
        lambda a, b: ops.vae_latent_loss(a, b, e, "mc", backend="numba"), (m, lg))


def test_exported():
    assert "vae_latent_loss" in ops.__all__
    assert ops.vae_latent_loss is latent_loss.vae_latent_loss
    assert reference_latent.LOGVAR_RANGE == latent_loss.LOGVAR_RANGE == (-6.0, 2.0)


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("shape", [(33, 7), (256, 512)])
def test_cuda_matches_reference(dtype, shape):
    mu, logvar, eps = _inputs(*shape, dtype=dtype, device="cuda")
    fused = _value_and_grads("cuda", mu, logvar, eps, "mc")
    ref = _value_and_grads("torch", mu, logvar, eps, "mc")
    tol = {torch.float32: 2e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}[dtype]
    for a, b in zip(fused, ref):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a.float(), b.float(), rtol=tol,
                                   atol=tol * float(b.float().abs().max()))


EMU_PRELUDE = r"""
// Host emulation of csrc/ops/cuda/latent_loss_kernel.cuh (tests only): one block at a time, its
// threads are std::threads; __shfl_xor_sync exchanges through a per-warp buffer and barrier.
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>
using std::exp;
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
struct Warp {
  std::barrier<> bar{32};
  double buf[32];
};
thread_local dim3 threadIdx, blockIdx;
thread_local Warp* t_warp = nullptr;
dim3 blockDim;
#define __global__
#define __device__
#define __forceinline__ inline
template <class T>
T __shfl_xor_sync(unsigned, T x, int off, int width) {
  const int lane = threadIdx.x % 32;
  t_warp->buf[lane] = static_cast<double>(x);
  t_warp->bar.arrive_and_wait();
  const int src = lane ^ off;
  const T y = (src / width == lane / width) ? static_cast<T>(t_warp->buf[src]) : x;
  t_warp->bar.arrive_and_wait();
  return y;
}
"""

EMU_FP16 = r"""
#pragma once
struct __half { _Float16 h; };
inline float __half2float(__half x) { return static_cast<float>(x.h); }
inline __half __float2half_rn(float f) { return __half{static_cast<_Float16>(f)}; }
"""

EMU_BF16 = r"""
#pragma once
#include <cstdint>
#include <cstring>
struct __nv_bfloat16 { uint16_t b; };
inline float __bfloat162float(__nv_bfloat16 x) {
  uint32_t u = uint32_t(x.b) << 16; float f; std::memcpy(&f, &u, 4); return f;
}
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  uint32_t u; std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return {uint16_t(0x7fc0)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return {uint16_t(u >> 16)};
}
"""

EMU_DRIVER = r"""
#include "ops/cuda/latent_loss_kernel.cuh"
using namespace porevae::cuda;

template <class F>
void launch(int64_t blocks, unsigned threads, F f) {
  blockDim = dim3{threads, 1, 1};
  for (int64_t b = 0; b < blocks; ++b) {
    std::vector<std::unique_ptr<Warp>> warps;
    for (unsigned w = 0; w < threads / 32; ++w) warps.emplace_back(new Warp);
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < threads; ++t)
      ts.emplace_back([&, t, b] {
        threadIdx = dim3{t, 1, 1};
        blockIdx = dim3{unsigned(b), 1, 1};
        t_warp = warps[t / 32].get();
        f();
      });
    for (auto& t : ts) t.join();
  }
}

std::vector<double> load(const char* dir, const char* name, size_t count) {
  std::vector<double> v(count);
  std::string path = std::string(dir) + "/" + name;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f || std::fread(v.data(), 8, count, f) != count) std::exit(3);
  std::fclose(f);
  return v;
}

template <class T>
void save(const char* dir, const char* name, const T* p, size_t count) {
  std::vector<double> v(count);
  for (size_t i = 0; i < count; ++i) v[i] = static_cast<double>(load_acc(p[i]));
  std::string path = std::string(dir) + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(v.data(), 8, count, f);
  std::fclose(f);
}

// Storage with an optional one-element offset (misaligned: the scalar path of latent_loss.cu).
template <class T>
T* store(const std::vector<double>& v, int offset) {
  T* p = static_cast<T*>(std::aligned_alloc(64, (v.size() + 64) * sizeof(T))) + offset;
  for (size_t i = 0; i < v.size(); ++i)
    p[i] = store_as<T>(static_cast<typename AccOf<T>::type>(v[i]));
  return p;
}

int group_for(int64_t packs) {  // as latent_loss.cu
  int g = 1;
  while (g < 32 && g < packs) g *= 2;
  return g;
}

template <class T, int V>
void go(int64_t n, int64_t d, bool mc, double lo, double hi, double coef, int offset,
        const char* dir) {
  using A = typename AccOf<T>::type;
  const size_t nd = n * d;
  T *mu = store<T>(load(dir, "mu", nd), offset), *lv = store<T>(load(dir, "logvar", nd), offset),
    *eps = store<T>(load(dir, "eps", nd), offset), *gz = store<T>(load(dir, "gz", nd), offset);
  std::vector<double> nan(nd, NAN), nanr(n, NAN);
  T *z = store<T>(nan, offset), *gmu = store<T>(nan, offset), *glv = store<T>(nan, offset);
  A *kl = store<A>(nanr, 0), *fi = store<A>(nanr, 0);
  A *gkl = store<A>(load(dir, "gkl", n), 0), *gfi = store<A>(load(dir, "gfisher", n), 0);
  const int group = group_for((d + V - 1) / V);
  const int64_t blocks = (n * group + 255) / 256;
  launch(blocks, 256, [&] {
    latent_forward_kernel<T, V>(mu, lv, eps, z, kl, fi, n, d, group, A(lo), A(hi), A(coef), mc);
  });
  launch(blocks, 256, [&] {
    latent_backward_kernel<T, V>(mu, lv, eps, gz, gkl, gfi, gmu, glv, n, d, group, A(lo), A(hi),
                                 A(coef), mc);
  });
  save(dir, "z", z, nd); save(dir, "kl", kl, n); save(dir, "fisher", fi, n);
  save(dir, "gmu", gmu, nd); save(dir, "glogvar", glv, nd);
  std::printf("V=%d group=%d blocks=%lld\n", V, group, static_cast<long long>(blocks));
}

template <class T>
void run(int64_t n, int64_t d, bool mc, double lo, double hi, double coef, int offset,
         const char* dir) {
  constexpr int V = 16 / sizeof(T);
  if (offset == 0 && d % V == 0) go<T, V>(n, d, mc, lo, hi, coef, offset, dir);
  else go<T, 1>(n, d, mc, lo, hi, coef, offset, dir);
}

int main(int argc, char** argv) {  // dtype n d mc lo hi coef offset dir
  if (argc != 10) return 2;
  const int dt = std::atoi(argv[1]);
  const int64_t n = std::atoll(argv[2]), d = std::atoll(argv[3]);
  const bool mc = std::atoi(argv[4]);
  const double lo = std::atof(argv[5]), hi = std::atof(argv[6]), coef = std::atof(argv[7]);
  const int offset = std::atoi(argv[8]);
  switch (dt) {
    case 0: run<float>(n, d, mc, lo, hi, coef, offset, argv[9]); break;
    case 1: run<double>(n, d, mc, lo, hi, coef, offset, argv[9]); break;
    case 2: run<__half>(n, d, mc, lo, hi, coef, offset, argv[9]); break;
    default: run<__nv_bfloat16>(n, d, mc, lo, hi, coef, offset, argv[9]); break;
  }
  return 0;
}
"""


@pytest.fixture(scope="module")
def emulated_kernels(tmp_path_factory):
    """The CUDA kernels compiled for the host (g++ -std=c++20) with emulated threads/shuffles."""
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ not found")
    root = tmp_path_factory.mktemp("latent_emu")
    (root / "cuda_fp16.h").write_text(EMU_FP16)
    (root / "cuda_bf16.h").write_text(EMU_BF16)
    (root / "emu.cpp").write_text(EMU_PRELUDE + EMU_DRIVER)
    cmd = [gxx, "-std=c++20", "-O1", "-pthread", f"-I{root}", f"-I{ROOT / 'csrc'}",
           str(root / "emu.cpp"), "-o", str(root / "emu")]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-4000:]
    return root / "emu"


@pytest.mark.parametrize("dtype, shape, offset, fisher", [
    (torch.float32, (37, 19), 0, "mc"),          # scalar path (d % 4 != 0), 32-thread groups
    (torch.float32, (45, 64), 0, "location"),    # 16-byte packs, 16-thread groups
    (torch.float32, (9, 64), 1, "mc"),           # misaligned pointers: scalar path
    (torch.float64, (21, 6), 0, "location+scale"),  # double2 packs, 4-thread groups
    (torch.float64, (300, 1), 0, "mc"),          # d = 1: one thread per row, 2 blocks
    (torch.float16, (13, 40), 0, "mc"),          # 8 halves per pack
    (torch.bfloat16, (11, 24), 0, "location"),
])
def test_cuda_kernels_in_host_emulation(emulated_kernels, tmp_path, dtype, shape, offset,
                                        fisher):
    """latent_loss_kernel.cuh (the code that runs on the GPU) against the reference, on the host.

    Inputs are rounded to the storage dtype first; outputs start as NaN (unwritten elements fail).
    """
    n, d = shape
    mu, logvar, eps = _inputs(n, d, seed=n * d, spread=3.0)
    logvar[0, 0] = float("nan") if n > 1 else logvar[0, 0]
    g = torch.Generator().manual_seed(9)
    gz, gkl, gf = (torch.randn(s, generator=g, dtype=torch.float64) for s in ((n, d), n, n))
    acc = torch.float64 if dtype == torch.float64 else torch.float32
    mu, logvar, eps, gz = (t.to(dtype).double() for t in (mu, logvar, eps, gz))
    gkl, gf = gkl.to(acc).double(), gf.to(acc).double()
    for name, t in (("mu", mu), ("logvar", logvar), ("eps", eps), ("gz", gz), ("gkl", gkl),
                    ("gfisher", gf)):
        t.numpy().tofile(tmp_path / name)
    code = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3}[dtype]
    coef = reference_latent.FISHER_SCALE[fisher] / d
    res = subprocess.run([str(emulated_kernels), str(code), str(n), str(d),
                          str(int(fisher == "mc")), "-6", "2", repr(coef), str(offset),
                          str(tmp_path)], check=False, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    got = {k: torch.from_numpy(np.fromfile(tmp_path / k)) for k in
           ("z", "kl", "fisher", "gmu", "glogvar")}
    m, lv = (t.to(acc).requires_grad_() for t in (mu, logvar))
    z, kl, f = reference_latent.vae_latent_loss(m, lv, eps.to(acc), fisher)
    gmu, glv = torch.autograd.grad((z, kl, f), (m, lv), (gz.to(acc), gkl.to(acc), gf.to(acc)))
    ref = {"z": z.to(dtype), "kl": kl, "fisher": f, "gmu": gmu.to(dtype), "glogvar": glv.to(dtype)}
    tol = {torch.float32: 2e-6, torch.float64: 1e-13, torch.float16: 1e-3,
           torch.bfloat16: 8e-3}[dtype]
    for k, r in ref.items():
        r = r.double().reshape(got[k].shape).detach()
        atol = tol * float(r.nan_to_num().abs().max())
        torch.testing.assert_close(got[k], r, rtol=tol, atol=atol, equal_nan=True,
                                   msg=lambda s, k=k: f"{k}: {s}")


SIM_SCRIPT = textwrap.dedent("""
    import torch
    from porevae.ops.latent_loss import FusedLatentLoss
    from porevae.ops.latent_loss import numba_cuda as K
    from porevae.ops.latent_loss import reference as R
    assert K.simulator()
    cases = [(torch.float64, 5, 37, "mc"), (torch.float32, 6, 3, "location"),
             (torch.float64, 1, 1, "location+scale")]
    for dtype, n, d, fisher in cases:
        g = torch.Generator().manual_seed(n * d)
        mu, lv, eps, gz = (torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(4))
        lv = 3 * lv - 1
        if n * d > 1:
            lv[0, 0] = float("nan")
        w = [gz, torch.randn(n, generator=g, dtype=torch.float64),
             torch.randn(n, generator=g, dtype=torch.float64)]
        mu, lv, eps, *w = (t.to(dtype) for t in (mu, lv, eps, *w))
        res = []
        for fused in (True, False):
            m, l = mu.clone().requires_grad_(), lv.clone().requires_grad_()
            if fused:
                out = FusedLatentLoss.apply(m, l, eps, K, -6.0, 2.0,
                                            R.FISHER_SCALE[fisher] / d, fisher == "mc")
            else:
                out = R.vae_latent_loss(m, l, eps, fisher)
            res.append([t.detach() for t in out] + list(torch.autograd.grad(out, (m, l), w)))
        tol = 1e-12 if dtype == torch.float64 else 2e-6
        for a, b in zip(*res):
            assert a.dtype == b.dtype and a.shape == b.shape
            torch.testing.assert_close(a, b, rtol=tol, atol=tol * float(b.nan_to_num().abs().max()),
                                       equal_nan=True)
    print("cudasim latent ok")
""")


def test_numba_cuda_kernels_in_simulator():
    run_in_cudasim(SIM_SCRIPT, "cudasim latent ok", timeout=300)


@pytest.mark.parametrize("t", ["float32", "float64"])
def test_numba_cuda_kernels_compile_to_ptx(t):
    """Typing and lowering for the real CUDA target (no device needed; needs libNVVM)."""
    from numba import cuda

    from porevae.ops.latent_loss import numba_cuda as numba_cuda_latent

    a, r = f"{t}[:, ::1]", f"{t}[::1]"
    sigs = {numba_cuda_latent._forward_kernel: f"({a},{a},{a},{a},{r},{r},{t},{t},{t},boolean)",
            numba_cuda_latent._backward_kernel:
                f"({a},{a},{a},{a},{r},{r},{a},{a},{t},{t},{t},boolean)"}
    for kernel, sig in sigs.items():
        try:
            ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(8, 0))
        except Exception as exc:  # no NVVM in this environment: skip, anything else: fail
            if "NVVM" in str(exc) or "libnvvm" in str(exc).lower():
                pytest.skip(f"libNVVM unavailable: {exc}")
            raise
        assert ".entry" in ptx


@pytest.mark.skipif(nvcc() is None, reason="nvcc not found")
def test_latent_loss_cu_compiles_for_sm80(nvcc_build):
    if nvcc_build is None:
        pytest.skip("pybind11 not importable")
    proc, obj = nvcc_build
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-4000:]
    assert obj.stat().st_size > 0
