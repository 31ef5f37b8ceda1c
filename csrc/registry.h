// Registration of the operations of porevae._cuda.
//
// Each operation (one file under csrc/ops/) registers its pybind11 bindings with a static
//   static porevae::Registrar reg_<op>(&register_<op>);
// so that adding an operation never touches a shared file. bindings.cu calls every registered
// function when Python imports the module. Bindings take device pointers (uintptr_t) of torch
// tensors and the caller's cudaStream_t (as uintptr_t): no copies, no implicit synchronisation.
#pragma once

#include <pybind11/pybind11.h>

#include <vector>

namespace porevae {

using RegisterFn = void (*)(pybind11::module_&);

inline std::vector<RegisterFn>& registry() {
  static std::vector<RegisterFn> fns;  // function-local: initialised before first use
  return fns;
}

struct Registrar {
  explicit Registrar(RegisterFn fn) { registry().push_back(fn); }
};

}  // namespace porevae
