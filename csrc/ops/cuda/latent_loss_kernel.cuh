// Fused latent loss kernels of porevae._cuda (float, double, half, bfloat16 storage).
//
// Arrays are row-major (n, d); each row is one latent vector. A group of G threads (G a power of
// two <= 32, sub-warp) owns a row: it streams the row with V-element vector loads (16 bytes when
// the pointers are 16-byte aligned and d % V == 0, else scalar) and reduces KL and the Fisher term
// with warp shuffles. Arithmetic is in Acc (float, or double for double storage).
//   forward:  lv = clamp(logvar, lo, hi), s = exp(lv/2), z = mu + s eps,
//             kl = 1/2 sum (mu^2 + s^2 - 1 - lv), fisher = coef sum w / s^2, w = mc ? eps^2 : 1
//   backward: gmu = gz + gkl mu,
//             glv = [lo <= logvar <= hi] (gz s eps / 2 + gkl (s^2 - 1) / 2 - gf coef w / s^2)
// The clamp keeps NaN (as torch.clamp), and so does the gradient mask (NaN -> 0, as torch).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace porevae {
namespace cuda {

template <typename T>
struct AccOf {
  using type = float;
};
template <>
struct AccOf<double> {
  using type = double;
};

__device__ __forceinline__ float load_acc(float x) { return x; }
__device__ __forceinline__ double load_acc(double x) { return x; }
__device__ __forceinline__ float load_acc(__half x) { return __half2float(x); }
__device__ __forceinline__ float load_acc(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T>
__device__ __forceinline__ T store_as(typename AccOf<T>::type x) {
  return static_cast<T>(x);
}
template <>
__device__ __forceinline__ __half store_as<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 store_as<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <typename A>
__device__ __forceinline__ A clamp_keep_nan(A x, A lo, A hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

// Sum over the G threads of a group (G a power of two, groups aligned within the warp).
template <typename A>
__device__ __forceinline__ A group_sum(A x, int group) {
  for (int off = group / 2; off > 0; off /= 2) x += __shfl_xor_sync(0xffffffffu, x, off, group);
  return x;
}

template <typename T, int V>
__global__ void latent_forward_kernel(const T* __restrict__ mu, const T* __restrict__ logvar,
                                      const T* __restrict__ eps, T* __restrict__ z,
                                      typename AccOf<T>::type* __restrict__ kl,
                                      typename AccOf<T>::type* __restrict__ fisher, int64_t n,
                                      int64_t d, int group, typename AccOf<T>::type lo,
                                      typename AccOf<T>::type hi, typename AccOf<T>::type coef,
                                      bool mc) {
  using A = typename AccOf<T>::type;
  using P = Pack<T, V>;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t row = tid / group;
  const int lane = static_cast<int>(tid % group);
  const bool active = row < n;  // inactive threads still join the shuffles
  const A half = A(0.5), one = A(1);
  const A wmc = mc ? one : A(0), wone = one - wmc;
  A skl = A(0), sf = A(0);
  if (active) {
    const int64_t base = row * d;
    for (int64_t j = static_cast<int64_t>(lane) * V; j < d; j += static_cast<int64_t>(group) * V) {
      const P m = *reinterpret_cast<const P*>(mu + base + j);
      const P l = *reinterpret_cast<const P*>(logvar + base + j);
      const P e = *reinterpret_cast<const P*>(eps + base + j);
      P out;
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const A mk = load_acc(m.v[k]), ek = load_acc(e.v[k]);
        const A lv = clamp_keep_nan(load_acc(l.v[k]), lo, hi);
        const A s = exp(half * lv);
        const A v = s * s;
        out.v[k] = store_as<T>(mk + s * ek);
        skl += mk * mk + v - one - lv;
        sf += (wmc * ek * ek + wone) / v;
      }
      *reinterpret_cast<P*>(z + base + j) = out;
    }
  }
  skl = group_sum(skl, group);
  sf = group_sum(sf, group);
  if (active && lane == 0) {
    kl[row] = half * skl;
    fisher[row] = coef * sf;
  }
}

template <typename T, int V>
__global__ void latent_backward_kernel(const T* __restrict__ mu, const T* __restrict__ logvar,
                                       const T* __restrict__ eps, const T* __restrict__ gz,
                                       const typename AccOf<T>::type* __restrict__ gkl,
                                       const typename AccOf<T>::type* __restrict__ gfisher,
                                       T* __restrict__ gmu, T* __restrict__ glogvar, int64_t n,
                                       int64_t d, int group, typename AccOf<T>::type lo,
                                       typename AccOf<T>::type hi, typename AccOf<T>::type coef,
                                       bool mc) {
  using A = typename AccOf<T>::type;
  using P = Pack<T, V>;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t row = tid / group;
  if (row >= n) return;  // no shuffles in the backward
  const int lane = static_cast<int>(tid % group);
  const A half = A(0.5), one = A(1);
  const A wmc = mc ? one : A(0), wone = one - wmc;
  const A gk = gkl[row], hk = half * gk, cf = coef * gfisher[row];
  const int64_t base = row * d;
  for (int64_t j = static_cast<int64_t>(lane) * V; j < d; j += static_cast<int64_t>(group) * V) {
    const P m = *reinterpret_cast<const P*>(mu + base + j);
    const P l = *reinterpret_cast<const P*>(logvar + base + j);
    const P e = *reinterpret_cast<const P*>(eps + base + j);
    const P g = *reinterpret_cast<const P*>(gz + base + j);
    P om, ol;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const A mk = load_acc(m.v[k]), ek = load_acc(e.v[k]), gk_z = load_acc(g.v[k]);
      const A raw = load_acc(l.v[k]);
      const A s = exp(half * clamp_keep_nan(raw, lo, hi));
      const A v = s * s;
      const A dl = half * s * ek * gk_z + hk * (v - one) - cf * (wmc * ek * ek + wone) / v;
      om.v[k] = store_as<T>(gk_z + gk * mk);
      ol.v[k] = store_as<T>((raw >= lo && raw <= hi) ? dl : A(0));
    }
    *reinterpret_cast<P*>(gmu + base + j) = om;
    *reinterpret_cast<P*>(glogvar + base + j) = ol;
  }
}

}  // namespace cuda
}  // namespace porevae
