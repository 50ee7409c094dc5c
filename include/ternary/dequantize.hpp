#pragma once
// Back to floats, for tests and users: weight(i, j) = trit(i, j) * scale, x_j = q_j / s.

#include "config.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

#include "activations.hpp"
#include "error.hpp"
#include "matrix_view.hpp"
#include "ternary_matrix.hpp"

namespace ternary::inline TERNARY_ABI {

/// Writes the real weights of w into out (rows x cols, any layout).
template <packing P>
void dequantize(matrix_view<float> out, const ternary_matrix_view<P>& w) {
    if (out.rows() != w.rows() || out.cols() != w.cols()) {
        detail::fail<shape_error>("dequantize", "output is ", out.rows(), " x ", out.cols(),
                                  ", the matrix ", w.rows(), " x ", w.cols());
    }
    const std::size_t block_cols = w.scales().block_cols(w.cols());
    std::vector<std::int8_t> trits(w.cols());
    for (std::size_t i = 0; i < w.rows(); ++i) {
        w.unpack_row(i, trits);
        for (std::size_t j = 0; j < w.cols(); ++j) {
            out(i, j) = static_cast<float>(trits[j]) * w.scales()(i, j / block_cols);
        }
    }
}

/// Writes the real activations into out (tokens x cols, any layout).
inline void dequantize(matrix_view<float> out, const activation_batch_view& x) {
    if (out.rows() != x.tokens() || out.cols() != x.cols()) {
        detail::fail<shape_error>("dequantize", "output is ", out.rows(), " x ", out.cols(),
                                  ", the activations ", x.tokens(), " x ", x.cols());
    }
    for (std::size_t t = 0; t < x.tokens(); ++t) {
        for (std::size_t j = 0; j < x.cols(); ++j) {
            out(t, j) = static_cast<float>(x.values(t)[j]) / x.scale(t);
        }
    }
}

/// The real weights, row-major.
template <packing P>
std::vector<float> dequantize(const ternary_matrix_view<P>& w) {
    std::vector<float> out(w.rows() * w.cols());
    dequantize(matrix_view<float>::row_major(out.data(), w.rows(), w.cols()), w);
    return out;
}

template <packing P>
std::vector<float> dequantize(const ternary_matrix<P>& w) { return dequantize(w.view()); }

/// The real activations, tokens x cols row-major.
inline std::vector<float> dequantize(const activation_batch_view& x) {
    std::vector<float> out(x.tokens() * x.cols());
    dequantize(matrix_view<float>::row_major(out.data(), x.tokens(), x.cols()), x);
    return out;
}

}  // namespace ternary::inline TERNARY_ABI
