// Fused latent loss (reparameterization, KL, Fisher term): the bindings of porevae._cuda.
//
// Each function takes device pointers (uintptr_t of torch's data_ptr()) of C-contiguous arrays,
// a dtype code (0 float32, 1 float64, 2 float16, 3 bfloat16: the storage of the (n, d) arrays;
// the per-row arrays kl, fisher and their gradients are float64 for float64, float32 otherwise)
// and the caller's cudaStream_t as uintptr_t; it launches on that stream and returns without
// synchronising. Launch errors raise RuntimeError.
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>

#include "common.h"
#include "ops/cuda/latent_loss_kernel.cuh"
#include "registry.h"

namespace py = pybind11;

namespace porevae {
namespace {

constexpr int kThreads = 256;

// Threads per row: the smallest power of two covering the row's packs, at most a warp.
int group_for(int64_t packs) {
  int g = 1;
  while (g < 32 && g < packs) g *= 2;
  return g;
}

struct Shape {
  int64_t n, d;
  unsigned blocks;
  int group;
};

template <typename T, int V>
Shape launch_shape(int64_t n, int64_t d) {
  if (n < 1 || d < 1) throw std::invalid_argument("n and d must be >= 1");
  const int group = group_for((d + V - 1) / V);
  const int64_t blocks = (n * group + kThreads - 1) / kThreads;
  if (blocks > 0x7fffffffLL) throw std::invalid_argument("too many rows for one launch");
  return {n, d, static_cast<unsigned>(blocks), group};
}

bool vectorizable(int64_t d, int bytes, std::initializer_list<uintptr_t> ptrs) {
  const int v = 16 / bytes;
  if (d % v != 0) return false;
  for (uintptr_t p : ptrs)
    if (p % 16 != 0) return false;
  return true;
}

template <typename T>
void forward(uintptr_t mu, uintptr_t logvar, uintptr_t eps, uintptr_t z, uintptr_t kl,
             uintptr_t fisher, int64_t n, int64_t d, double lo, double hi, double coef, bool mc,
             cudaStream_t stream) {
  using A = typename cuda::AccOf<T>::type;
  constexpr int V = 16 / sizeof(T);
  const A alo = static_cast<A>(lo), ahi = static_cast<A>(hi), acoef = static_cast<A>(coef);
  if (vectorizable(d, sizeof(T), {mu, logvar, eps, z})) {
    const Shape s = launch_shape<T, V>(n, d);
    cuda::latent_forward_kernel<T, V><<<s.blocks, kThreads, 0, stream>>>(
        ptr<const T>(mu), ptr<const T>(logvar), ptr<const T>(eps), ptr<T>(z), ptr<A>(kl),
        ptr<A>(fisher), n, d, s.group, alo, ahi, acoef, mc);
  } else {
    const Shape s = launch_shape<T, 1>(n, d);
    cuda::latent_forward_kernel<T, 1><<<s.blocks, kThreads, 0, stream>>>(
        ptr<const T>(mu), ptr<const T>(logvar), ptr<const T>(eps), ptr<T>(z), ptr<A>(kl),
        ptr<A>(fisher), n, d, s.group, alo, ahi, acoef, mc);
  }
  check_launch("latent_loss_forward");
}

template <typename T>
void backward(uintptr_t mu, uintptr_t logvar, uintptr_t eps, uintptr_t gz, uintptr_t gkl,
              uintptr_t gfisher, uintptr_t gmu, uintptr_t glogvar, int64_t n, int64_t d,
              double lo, double hi, double coef, bool mc, cudaStream_t stream) {
  using A = typename cuda::AccOf<T>::type;
  constexpr int V = 16 / sizeof(T);
  const A alo = static_cast<A>(lo), ahi = static_cast<A>(hi), acoef = static_cast<A>(coef);
  if (vectorizable(d, sizeof(T), {mu, logvar, eps, gz, gmu, glogvar})) {
    const Shape s = launch_shape<T, V>(n, d);
    cuda::latent_backward_kernel<T, V><<<s.blocks, kThreads, 0, stream>>>(
        ptr<const T>(mu), ptr<const T>(logvar), ptr<const T>(eps), ptr<const T>(gz),
        ptr<const A>(gkl), ptr<const A>(gfisher), ptr<T>(gmu), ptr<T>(glogvar), n, d, s.group,
        alo, ahi, acoef, mc);
  } else {
    const Shape s = launch_shape<T, 1>(n, d);
    cuda::latent_backward_kernel<T, 1><<<s.blocks, kThreads, 0, stream>>>(
        ptr<const T>(mu), ptr<const T>(logvar), ptr<const T>(eps), ptr<const T>(gz),
        ptr<const A>(gkl), ptr<const A>(gfisher), ptr<T>(gmu), ptr<T>(glogvar), n, d, s.group,
        alo, ahi, acoef, mc);
  }
  check_launch("latent_loss_backward");
}

void register_latent_loss(py::module_& m) {
  m.def(
      "latent_loss_forward",
      [](uintptr_t mu, uintptr_t logvar, uintptr_t eps, uintptr_t z, uintptr_t kl,
         uintptr_t fisher, int64_t n, int64_t d, double lo, double hi, double coef, bool mc,
         int dtype, uintptr_t stream) {
        auto s = as_stream(stream);
        switch (dtype) {
          case 0: return forward<float>(mu, logvar, eps, z, kl, fisher, n, d, lo, hi, coef, mc, s);
          case 1: return forward<double>(mu, logvar, eps, z, kl, fisher, n, d, lo, hi, coef, mc, s);
          case 2: return forward<__half>(mu, logvar, eps, z, kl, fisher, n, d, lo, hi, coef, mc, s);
          case 3:
            return forward<__nv_bfloat16>(mu, logvar, eps, z, kl, fisher, n, d, lo, hi, coef, mc,
                                          s);
          default: throw std::invalid_argument("dtype code must be 0..3");
        }
      },
      py::arg("mu"), py::arg("logvar"), py::arg("eps"), py::arg("z"), py::arg("kl"),
      py::arg("fisher"), py::arg("n"), py::arg("d"), py::arg("lo"), py::arg("hi"),
      py::arg("coef"), py::arg("mc"), py::arg("dtype"), py::arg("stream"),
      "z (n, d), kl (n,), fisher (n,) from mu, logvar, eps (n, d); one pass.");
  m.def(
      "latent_loss_backward",
      [](uintptr_t mu, uintptr_t logvar, uintptr_t eps, uintptr_t gz, uintptr_t gkl,
         uintptr_t gfisher, uintptr_t gmu, uintptr_t glogvar, int64_t n, int64_t d, double lo,
         double hi, double coef, bool mc, int dtype, uintptr_t stream) {
        auto s = as_stream(stream);
        switch (dtype) {
          case 0:
            return backward<float>(mu, logvar, eps, gz, gkl, gfisher, gmu, glogvar, n, d, lo, hi,
                                   coef, mc, s);
          case 1:
            return backward<double>(mu, logvar, eps, gz, gkl, gfisher, gmu, glogvar, n, d, lo,
                                    hi, coef, mc, s);
          case 2:
            return backward<__half>(mu, logvar, eps, gz, gkl, gfisher, gmu, glogvar, n, d, lo,
                                    hi, coef, mc, s);
          case 3:
            return backward<__nv_bfloat16>(mu, logvar, eps, gz, gkl, gfisher, gmu, glogvar, n, d,
                                           lo, hi, coef, mc, s);
          default: throw std::invalid_argument("dtype code must be 0..3");
        }
      },
      py::arg("mu"), py::arg("logvar"), py::arg("eps"), py::arg("gz"), py::arg("gkl"),
      py::arg("gfisher"), py::arg("gmu"), py::arg("glogvar"), py::arg("n"), py::arg("d"),
      py::arg("lo"), py::arg("hi"), py::arg("coef"), py::arg("mc"), py::arg("dtype"),
      py::arg("stream"), "gmu, glogvar (n, d) from the saved inputs and the output gradients.");
}

const Registrar reg_latent_loss(&register_latent_loss);

}  // namespace
}  // namespace porevae
