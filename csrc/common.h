// Helpers shared by the bindings of porevae._cuda, written once.
//
//   ptr<T>(p)          a device pointer (uintptr_t from torch's data_ptr()) as T*
//   as_stream(s)       the caller's cudaStream_t (passed as uintptr_t)
//   check_launch(w)    RuntimeError (std::runtime_error) when the last launch failed
//   with_float(dbl, f) f(double{}) or f(float{}): one place for the float/double dispatch
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace porevae {

template <typename T>
T* ptr(uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

inline cudaStream_t as_stream(uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

inline void check_launch(const char* what) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
  }
}

// Calls f with a value of the element type: f(double{}) when dbl, else f(float{}).
template <typename F>
void with_float(bool dbl, F&& f) {
  if (dbl) {
    f(double{});
  } else {
    f(float{});
  }
}

}  // namespace porevae
