// Covariance assembly and matrix-free products: the bindings of porevae._cuda.
//
// Every function takes device pointers (uintptr_t of torch's data_ptr()) of C-contiguous arrays,
// a dtype flag (double or float) and the caller's cudaStream_t as uintptr_t; it launches on that
// stream and returns without synchronising. Launch errors raise RuntimeError; errors of the
// asynchronous execution surface at the caller's next synchronisation, as with torch.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "common.h"
#include "ops/cuda/covariance_kernels.cuh"
#include "ops/cuda/kernel_codes.h"
#include "registry.h"

namespace py = pybind11;

namespace porevae {
namespace {

using cuda::kMvM;
using cuda::kMvN;
using cuda::kMvThreads;
using cuda::kRowsPerPass;
using cuda::kTile;

void check_dims(int64_t n, int d, int code) {
  if (n < 1) throw std::invalid_argument("n must be >= 1");
  if (d < 1 || d > 3) throw std::invalid_argument("d must be 1, 2 or 3");
  if (code < 0 || code >= cuda::kNumKernelCodes) {
    throw std::invalid_argument("unknown kernel code " + std::to_string(code) +
                                " (porevae.covariance.KernelCode)");
  }
}

template <typename T>
void points_symmetric(uintptr_t x, int64_t n, int d, int code, double param, bool l1,
                      double variance, uintptr_t out, cudaStream_t stream) {
  const int64_t nt = (n + kTile - 1) / kTile;
  const int64_t pairs = nt * (nt + 1) / 2;
  if (pairs > 0x7fffffffLL) throw std::invalid_argument("matrix too large for one launch");
  cuda::cov_points_symmetric_kernel<T>
      <<<static_cast<unsigned>(pairs), dim3(kTile, kRowsPerPass), 0, stream>>>(
          ptr<const T>(x), n, d, code, static_cast<T>(param), l1, static_cast<T>(variance),
          ptr<T>(out));
  check_launch("cov_points_symmetric");
}

template <typename T>
void points_cross(uintptr_t xa, uintptr_t xb, int64_t n, int64_t m, int d, int code,
                  double param, bool l1, double variance, uintptr_t out, cudaStream_t stream) {
  const int64_t by = (n + kTile - 1) / kTile;
  if (by > 65535) throw std::invalid_argument("too many rows for one launch (max 2,097,120)");
  const dim3 grid(static_cast<unsigned>((m + kTile - 1) / kTile), static_cast<unsigned>(by));
  cuda::cov_points_cross_kernel<T><<<grid, dim3(kTile, kRowsPerPass), 0, stream>>>(
      ptr<const T>(xa), ptr<const T>(xb), n, m, d, code, static_cast<T>(param), l1,
      static_cast<T>(variance), ptr<T>(out));
  check_launch("cov_points_cross");
}

template <typename T>
void grid_fill(uintptr_t table, int nx, int ny, int nz, uintptr_t out, cudaStream_t stream) {
  const int64_t n = static_cast<int64_t>(nx) * ny * nz;
  constexpr int kThreads = 256;  // 8 warps, one row each
  const int64_t blocks = std::min<int64_t>((n + 7) / 8, 1 << 20);
  cuda::cov_grid_fill_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      ptr<const T>(table), nx, ny, nz, ptr<T>(out));
  check_launch("cov_grid_fill");
}

template <typename T, typename Entry>
void matvec(const Entry& entry, int64_t n, uintptr_t x, int64_t k, uintptr_t y,
            cudaStream_t stream) {
  const int64_t by = (n + kMvM - 1) / kMvM;
  const int64_t bx = (k + kMvN - 1) / kMvN;
  if (by > 65535) throw std::invalid_argument("too many rows for one launch (max 4,194,240)");
  if (bx > 0x7fffffffLL) throw std::invalid_argument("too many columns");
  const dim3 grid(static_cast<unsigned>(bx), static_cast<unsigned>(by));
  cuda::cov_matvec_kernel<T, Entry><<<grid, dim3(kMvThreads, kMvThreads), 0, stream>>>(
      entry, n, ptr<const T>(x), k, ptr<T>(y));
  check_launch("cov_matvec");
}

template <typename T>
void matvec_points(uintptr_t pts, int64_t n, int d, int code, double param, bool l1,
                   double variance, uintptr_t x, int64_t k, uintptr_t y, cudaStream_t stream) {
  cuda::PointsEntry<T> e{ptr<const T>(pts), d, code, static_cast<T>(param),
                         static_cast<T>(variance), l1};
  matvec<T>(e, n, x, k, y, stream);
}

template <typename T>
void matvec_grid(uintptr_t table, int nx, int ny, int nz, uintptr_t x, int64_t k, uintptr_t y,
                 cudaStream_t stream) {
  cuda::GridEntry<T> e{ptr<const T>(table), nx, ny};
  matvec<T>(e, static_cast<int64_t>(nx) * ny * nz, x, k, y, stream);
}

void check_grid(int nx, int ny, int nz) {
  if (nx < 1 || ny < 1 || nz < 1) throw std::invalid_argument("grid sizes must be >= 1");
}

void register_covariance(py::module_& m) {
  m.def(
      "cov_points_symmetric",
      [](uintptr_t x, int64_t n, int d, int code, double param, bool l1, double variance,
         uintptr_t out, bool dbl, uintptr_t stream) {
        check_dims(n, d, code);
        auto s = as_stream(stream);
        with_float(dbl, [&](auto t) {
          points_symmetric<decltype(t)>(x, n, d, code, param, l1, variance, out, s);
        });
      },
      py::arg("x"), py::arg("n"), py::arg("d"), py::arg("code"), py::arg("param"), py::arg("l1"),
      py::arg("variance"), py::arg("out"), py::arg("double"), py::arg("stream"),
      "out (n, n) = C(x, x) for scaled points x (n, d); one triangle of tiles computed, mirrored.");
  m.def(
      "cov_points_cross",
      [](uintptr_t xa, uintptr_t xb, int64_t n, int64_t mm, int d, int code, double param,
         bool l1, double variance, uintptr_t out, bool dbl, uintptr_t stream) {
        check_dims(n, d, code);
        if (mm < 1) throw std::invalid_argument("m must be >= 1");
        auto s = as_stream(stream);
        with_float(dbl, [&](auto t) {
          points_cross<decltype(t)>(xa, xb, n, mm, d, code, param, l1, variance, out, s);
        });
      },
      py::arg("xa"), py::arg("xb"), py::arg("n"), py::arg("m"), py::arg("d"), py::arg("code"),
      py::arg("param"), py::arg("l1"), py::arg("variance"), py::arg("out"), py::arg("double"),
      py::arg("stream"), "out (n, m) = C(xa, xb) for scaled points xa (n, d), xb (m, d).");
  m.def(
      "cov_grid_fill",
      [](uintptr_t table, int nx, int ny, int nz, uintptr_t out, bool dbl, uintptr_t stream) {
        check_grid(nx, ny, nz);
        auto s = as_stream(stream);
        with_float(dbl, [&](auto t) {
          grid_fill<decltype(t)>(table, nx, ny, nz, out, s);
        });
      },
      py::arg("table"), py::arg("nx"), py::arg("ny"), py::arg("nz"), py::arg("out"),
      py::arg("double"), py::arg("stream"),
      "out (n, n), n = nx ny nz: a regular grid's covariance copied from its offset table "
      "(nz, ny, 2 nx - 1).");
  m.def(
      "cov_matvec_points",
      [](uintptr_t pts, int64_t n, int d, int code, double param, bool l1, double variance,
         uintptr_t x, int64_t k, uintptr_t y, bool dbl, uintptr_t stream) {
        check_dims(n, d, code);
        if (k < 1) throw std::invalid_argument("k must be >= 1");
        auto s = as_stream(stream);
        with_float(dbl, [&](auto t) {
          matvec_points<decltype(t)>(pts, n, d, code, param, l1, variance, x, k, y, s);
        });
      },
      py::arg("points"), py::arg("n"), py::arg("d"), py::arg("code"), py::arg("param"),
      py::arg("l1"), py::arg("variance"), py::arg("x"), py::arg("k"), py::arg("y"),
      py::arg("double"), py::arg("stream"),
      "y (n, k) = C x (n, k) for scaled points (n, d), C never stored.");
  m.def(
      "cov_matvec_grid",
      [](uintptr_t table, int nx, int ny, int nz, uintptr_t x, int64_t k, uintptr_t y, bool dbl,
         uintptr_t stream) {
        check_grid(nx, ny, nz);
        if (k < 1) throw std::invalid_argument("k must be >= 1");
        auto s = as_stream(stream);
        with_float(dbl, [&](auto t) {
          matvec_grid<decltype(t)>(table, nx, ny, nz, x, k, y, s);
        });
      },
      py::arg("table"), py::arg("nx"), py::arg("ny"), py::arg("nz"), py::arg("x"), py::arg("k"),
      py::arg("y"), py::arg("double"), py::arg("stream"),
      "y (n, k) = C x (n, k) for a regular grid, entries read from its offset table.");
}

const Registrar reg_covariance(&register_covariance);

}  // namespace
}  // namespace porevae
