#pragma once
// References compiled with -march=native (native_reference.cpp), so that Eigen's float GEMV/GEMM
// and the bandwidth probe get every instruction this machine has. Plain pointers only: no Eigen
// or ternary type crosses between the two translation units.

#include <cstddef>
#include <cstdint>

namespace bench {

/// y[r] = sum_j w[r * k + j] * x[j] for rows [r0, r1) of a row-major m x k float matrix.
void eigen_gemv_rows(const float* w, std::size_t m, std::size_t k, const float* x, float* y, std::size_t r0,
                     std::size_t r1);

/// Y = W X for rows [r0, r1): W row-major m x k, X column-major k x n, Y column-major m x n.
void eigen_gemm_rows(const float* w, std::size_t m, std::size_t k, const float* x, std::size_t n, float* y,
                     std::size_t r0, std::size_t r1);

/// Sum of n 64-bit words (vectorized): reading memory as fast as this core can.
std::uint64_t sum_words(const std::uint64_t* p, std::size_t n);

}  // namespace bench
