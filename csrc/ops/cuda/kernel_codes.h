// Closed-form covariances the kernels know: the values of porevae.covariance.KernelCode
// (tests/test_ops_covariance.py checks that the two lists agree).
#pragma once

namespace porevae {
namespace cuda {

enum KernelCode : int {
  kExponential = 0,         // exp(-r)
  kSquaredExponential = 1,  // exp(-p r^2)
  kMatern32 = 2,            // (1 + s) exp(-s), s = sqrt(3) r
  kMatern52 = 3,            // (1 + s + s^2/3) exp(-s), s = sqrt(5) r
  kNumKernelCodes = 4,
};

}  // namespace cuda
}  // namespace porevae
