// The module porevae._cuda: calls the bindings that each csrc/ops/*.cu file registered.
#include "registry.h"

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "porevae CUDA kernels (optional; see porevae.ops.backends())";
  for (auto fn : porevae::registry()) fn(m);
}
