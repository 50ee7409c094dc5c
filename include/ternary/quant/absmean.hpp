#pragma once
// BitNet b1.58 weight quantization (arXiv 2402.17764, eq. 1-3): absmean ternarization with
// one scale per matrix.
//
//   gamma = mean |W|              over the whole matrix (not per row)
//   s_w   = 1 / max(gamma, 1e-5)
//   W_q   = clamp(round_half_even(W * s_w), -1, 1)
//   W    ~= W_q / s_w             (= W_q * max(gamma, 1e-5), up to one rounding)
//
// The order of operations is the reference code's (transformers WeightQuant, BitNet's
// convert-hf-to-gguf weight_quant): multiply by the clamped reciprocal, then round.

#include "../config.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../error.hpp"
#include "../limits.hpp"
#include "../matrix_view.hpp"
#include "../pack/two_bit.hpp"
#include "../rounding.hpp"
#include "../ternary_matrix.hpp"

namespace ternary::inline TERNARY_ABI {

inline constexpr float absmean_epsilon = 1e-5f;

/// mean |W| over all elements, summed in double; throws value_error on NaN or Inf.
inline float absmean(matrix_view<const float> w) {
    detail::check_shape("absmean", w.rows(), w.cols());
    double total = 0.0;
    for (std::size_t i = 0; i < w.rows(); ++i) {
        for (std::size_t j = 0; j < w.cols(); ++j) {
            const float v = w(i, j);
            if (!std::isfinite(v)) {
                detail::fail<value_error>("absmean", "weight (", i, ", ", j, ") is ", v);
            }
            total += std::fabs(v);
        }
    }
    return static_cast<float>(total / (static_cast<double>(w.rows()) * static_cast<double>(w.cols())));
}

/// The trit of one weight given s_w = 1 / max(gamma, eps).
inline std::int8_t ternarize_weight(float w, float inv_gamma) {
    return static_cast<std::int8_t>(std::clamp(round_half_even(w * inv_gamma), -1.0f, 1.0f));
}

/// Ternarizes W (rows = out features, cols = in features) with one absmean scale.
template <packing P = two_bit>
ternary_matrix<P> ternarize(matrix_view<const float> w) {
    const float gamma = absmean(w);
    const float inv_gamma = 1.0f / std::max(gamma, absmean_epsilon);
    std::vector<std::int8_t> trits(w.rows() * w.cols());
    for (std::size_t i = 0; i < w.rows(); ++i) {
        for (std::size_t j = 0; j < w.cols(); ++j) {
            trits[i * w.cols() + j] = ternarize_weight(w(i, j), inv_gamma);
        }
    }
    return ternary_matrix<P>::from_trits(trits, w.rows(), w.cols(),
                                         weight_scales::per_matrix(1.0f / inv_gamma));
}

}  // namespace ternary::inline TERNARY_ABI
