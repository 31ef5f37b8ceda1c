// Covariance kernels of porevae._cuda (float and double).
//
// Covariance codes: KernelCode of kernel_codes.h (= porevae.covariance.KernelCode) on the scaled
// distance r. The bindings refuse any other code before launching; inside a kernel an unknown
// code gives NaN, never another model's value.
// Points are already divided by the per-axis length scales, row-major (n, d), d in 1..3.
// Matrices are row-major (C-contiguous). A grid's offset table is (nz, ny, 2 nx - 1) with
// table[dz, dy, t] = C(t - (nx - 1), dy, dz) in cells (porevae.ops.grid_offset_table).
#pragma once

#include <cmath>
#include <cstdint>

#include "ops/cuda/kernel_codes.h"

namespace porevae {
namespace cuda {

constexpr int kTile = 32;       // symmetric / cross assembly tile (kTile x kTile entries)
constexpr int kRowsPerPass = 8;  // assembly block is kTile x kRowsPerPass threads
constexpr int kMvM = 64;        // matvec: rows of C per block
constexpr int kMvN = 64;        // matvec: columns of X per block
constexpr int kMvK = 32;        // matvec: columns of C per step
constexpr int kMvThreads = 16;  // matvec block is 16 x 16 threads, 4 x 4 outputs each

template <typename T>
__device__ __forceinline__ T correlation(int code, T param, T r2, T r) {
  switch (code) {
    case kExponential:
      return exp(-r);
    case kSquaredExponential:
      return exp(-param * r2);
    case kMatern32: {
      const T s = T(1.7320508075688772) * r;
      return (T(1) + s) * exp(-s);
    }
    case kMatern52: {
      const T s = T(2.23606797749979) * r;
      return (T(1) + s + s * s / T(3)) * exp(-s);
    }
    default:
      return T(NAN);
  }
}

// Covariance between two scaled points a and b (d coordinates each).
template <typename T>
__device__ __forceinline__ T point_cov(const T* a, const T* b, int d, int code, T param, bool l1,
                                       T variance) {
  T acc = T(0);
  if (l1) {
    for (int k = 0; k < d; ++k) acc += fabs(a[k] - b[k]);
    return variance * correlation(code, param, acc * acc, acc);
  }
  for (int k = 0; k < d; ++k) {
    const T t = a[k] - b[k];
    acc += t * t;
  }
  return variance * correlation(code, param, acc, sqrt(acc));
}

// Symmetric C(x, x), n x n. One block per tile pair (ti >= tj) of the lower triangle, numbered
// row-major; blockDim = (kTile, kRowsPerPass). The tile is written row by row (coalesced) and,
// off the diagonal, mirrored through shared memory so that the transposed writes are coalesced.
template <typename T>
__global__ void cov_points_symmetric_kernel(const T* __restrict__ x, int64_t n, int d, int code,
                                            T param, bool l1, T variance, T* __restrict__ out) {
  const int64_t p = blockIdx.x;
  int64_t ti = static_cast<int64_t>((sqrt(8.0 * static_cast<double>(p) + 1.0) - 1.0) / 2.0);
  while (ti * (ti + 1) / 2 > p) --ti;
  while ((ti + 1) * (ti + 2) / 2 <= p) ++ti;
  const int64_t tj = p - ti * (ti + 1) / 2;
  const int64_t i0 = ti * kTile, j0 = tj * kTile;

  __shared__ T xi[kTile][3];
  __shared__ T xj[kTile][3];
  __shared__ T tile[kTile][kTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int t = ty * kTile + tx; t < kTile * 3; t += kTile * kRowsPerPass) {
    const int r = t / 3, a = t % 3;
    xi[r][a] = (i0 + r < n && a < d) ? x[(i0 + r) * d + a] : T(0);
    xj[r][a] = (j0 + r < n && a < d) ? x[(j0 + r) * d + a] : T(0);
  }
  __syncthreads();
  const int64_t j = j0 + tx;
  for (int r = ty; r < kTile; r += kRowsPerPass) {
    const T v = point_cov(xi[r], xj[tx], d, code, param, l1, variance);
    tile[r][tx] = v;
    const int64_t i = i0 + r;
    if (i < n && j < n) out[i * n + j] = v;
  }
  if (ti == tj) return;  // the diagonal tile was written whole
  __syncthreads();
  const int64_t ic = i0 + tx;
  for (int r = ty; r < kTile; r += kRowsPerPass) {
    const int64_t jr = j0 + r;
    if (jr < n && ic < n) out[jr * n + ic] = tile[tx][r];
  }
}

// Cross covariance C(xa, xb), n x m. Grid (ceil(m / kTile), ceil(n / kTile)).
template <typename T>
__global__ void cov_points_cross_kernel(const T* __restrict__ xa, const T* __restrict__ xb,
                                        int64_t n, int64_t m, int d, int code, T param, bool l1,
                                        T variance, T* __restrict__ out) {
  const int64_t i0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const int64_t j0 = static_cast<int64_t>(blockIdx.x) * kTile;
  __shared__ T xi[kTile][3];
  __shared__ T xj[kTile][3];
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int t = ty * kTile + tx; t < kTile * 3; t += kTile * kRowsPerPass) {
    const int r = t / 3, a = t % 3;
    xi[r][a] = (i0 + r < n && a < d) ? xa[(i0 + r) * d + a] : T(0);
    xj[r][a] = (j0 + r < m && a < d) ? xb[(j0 + r) * d + a] : T(0);
  }
  __syncthreads();
  const int64_t j = j0 + tx;
  if (j >= m) return;
  for (int r = ty; r < kTile; r += kRowsPerPass) {
    const int64_t i = i0 + r;
    if (i < n) out[i * m + j] = point_cov(xi[r], xj[tx], d, code, param, l1, variance);
  }
}

// Grid covariance from the offset table: a memory-bound copy. One warp per row i (grid-stride
// over rows); the row is ny nz contiguous segments of nx entries, each a contiguous slice of the
// table, copied by the 32 lanes (coalesced reads and writes). No division in the inner loops.
template <typename T>
__global__ void cov_grid_fill_kernel(const T* __restrict__ table, int nx, int ny, int nz,
                                     T* __restrict__ out) {
  const int64_t n = static_cast<int64_t>(nx) * ny * nz;
  const int64_t w = 2 * static_cast<int64_t>(nx) - 1;
  const int lane = threadIdx.x & 31;
  const int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  for (int64_t i = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; i < n;
       i += warps) {
    const int ix = static_cast<int>(i % nx);
    const int64_t iyz = i / nx;
    const int iy = static_cast<int>(iyz % ny);
    const int iz = static_cast<int>(iyz / ny);
    T* dst = out + i * n;
    const T* base = table + (nx - 1 - ix);
    for (int jz = 0; jz < nz; ++jz) {
      const T* plane = base + static_cast<int64_t>(abs(iz - jz)) * ny * w;
      for (int jy = 0; jy < ny; ++jy) {
        const T* src = plane + abs(iy - jy) * w;
#pragma unroll 4
        for (int jx = lane; jx < nx; jx += 32) dst[jx] = __ldg(src + jx);
        dst += nx;
      }
    }
  }
}

// Entry C[i, j] of scaled points (matvec operand).
template <typename T>
struct PointsEntry {
  const T* x;
  int d, code;
  T param, variance;
  bool l1;
  __device__ __forceinline__ T operator()(int64_t i, int64_t j) const {
    return point_cov(x + i * d, x + j * d, d, code, param, l1, variance);
  }
};

// Entry C[i, j] of a regular grid from its offset table (matvec operand).
template <typename T>
struct GridEntry {
  const T* table;
  int nx, ny;
  __device__ __forceinline__ T operator()(int64_t i, int64_t j) const {
    const int ix = static_cast<int>(i % nx), jx = static_cast<int>(j % nx);
    const int64_t iyz = i / nx, jyz = j / nx;
    const int iy = static_cast<int>(iyz % ny), jy = static_cast<int>(jyz % ny);
    const int iz = static_cast<int>(iyz / ny), jz = static_cast<int>(jyz / ny);
    const int64_t w = 2 * static_cast<int64_t>(nx) - 1;
    return __ldg(table + (static_cast<int64_t>(abs(iz - jz)) * ny + abs(iy - jy)) * w +
                 (jx - ix + nx - 1));
  }
};

// Y = C X without storing C: X, Y row-major (n, k). Grid (ceil(k / kMvN), ceil(n / kMvM)),
// block (kMvThreads, kMvThreads). Each step builds a kMvM x kMvK tile of C in shared memory
// (transposed), stages the kMvK x kMvN tile of X, and accumulates 4 x 4 outputs per thread.
template <typename T, typename Entry>
__global__ void cov_matvec_kernel(Entry entry, int64_t n, const T* __restrict__ x, int64_t k,
                                  T* __restrict__ y) {
  __shared__ T cs[kMvK][kMvM + 1];
  __shared__ T xs[kMvK][kMvN];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int tid = ty * kMvThreads + tx;
  constexpr int kThreads = kMvThreads * kMvThreads;
  const int64_t i0 = static_cast<int64_t>(blockIdx.y) * kMvM;
  const int64_t c0 = static_cast<int64_t>(blockIdx.x) * kMvN;
  T acc[4][4];
#pragma unroll
  for (int r = 0; r < 4; ++r)
#pragma unroll
    for (int c = 0; c < 4; ++c) acc[r][c] = T(0);

  for (int64_t j0 = 0; j0 < n; j0 += kMvK) {
    for (int t = tid; t < kMvM * kMvK; t += kThreads) {
      const int ii = t % kMvM, jj = t / kMvM;
      const int64_t i = i0 + ii, j = j0 + jj;
      cs[jj][ii] = (i < n && j < n) ? entry(i, j) : T(0);
    }
    for (int t = tid; t < kMvK * kMvN; t += kThreads) {
      const int jj = t / kMvN, cc = t % kMvN;
      const int64_t j = j0 + jj, c = c0 + cc;
      xs[jj][cc] = (j < n && c < k) ? x[j * k + c] : T(0);
    }
    __syncthreads();
#pragma unroll 8
    for (int jj = 0; jj < kMvK; ++jj) {
      T a[4], b[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) a[r] = cs[jj][ty + kMvThreads * r];
#pragma unroll
      for (int c = 0; c < 4; ++c) b[c] = xs[jj][tx + kMvThreads * c];
#pragma unroll
      for (int r = 0; r < 4; ++r)
#pragma unroll
        for (int c = 0; c < 4; ++c) acc[r][c] += a[r] * b[c];
    }
    __syncthreads();
  }
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const int64_t i = i0 + ty + kMvThreads * r;
    if (i >= n) continue;
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const int64_t col = c0 + tx + kMvThreads * c;
      if (col < k) y[i * k + col] = acc[r][c];
    }
  }
}

}  // namespace cuda
}  // namespace porevae
