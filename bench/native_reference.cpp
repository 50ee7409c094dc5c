// Compiled with -march=native: see native_reference.hpp.
#include "native_reference.hpp"

#include <Eigen/Core>

namespace bench {

using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void eigen_gemv_rows(const float* w, std::size_t m, std::size_t k, const float* x, float* y, std::size_t r0,
                     std::size_t r1) {
    const Eigen::Map<const row_major> W(w, static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(k));
    const Eigen::Map<const Eigen::VectorXf> X(x, static_cast<Eigen::Index>(k));
    Eigen::Map<Eigen::VectorXf> Y(y, static_cast<Eigen::Index>(m));
    const auto rows = static_cast<Eigen::Index>(r1 - r0), first = static_cast<Eigen::Index>(r0);
    Y.segment(first, rows).noalias() = W.middleRows(first, rows) * X;
}

void eigen_gemm_rows(const float* w, std::size_t m, std::size_t k, const float* x, std::size_t n, float* y,
                     std::size_t r0, std::size_t r1) {
    const Eigen::Map<const row_major> W(w, static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(k));
    const Eigen::Map<const Eigen::MatrixXf> X(x, static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(n));
    Eigen::Map<Eigen::MatrixXf> Y(y, static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(n));
    const auto rows = static_cast<Eigen::Index>(r1 - r0), first = static_cast<Eigen::Index>(r0);
    Y.middleRows(first, rows).noalias() = W.middleRows(first, rows) * X;
}

std::uint64_t sum_words(const std::uint64_t* p, std::size_t n) {
    std::uint64_t a = 0, b = 0, c = 0, d = 0;
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        a += p[i];
        b += p[i + 1];
        c += p[i + 2];
        d += p[i + 3];
    }
    for (; i < n; ++i) a += p[i];
    return a + b + c + d;
}

}  // namespace bench
