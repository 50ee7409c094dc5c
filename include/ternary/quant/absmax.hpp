#pragma once
// BitNet b1.58 activation quantization: per-token absmax to int8 (arXiv 2402.17764 eq. 4-5,
// transformers ActQuant, bitnet.cpp quantize_row_i8_s).
//
//   s = 127 / max(max_j |x_j|, 1e-5)
//   q = clamp(round_half_even(x * s), -128, 127)
//   x ~= q / s
// An all-zero token gets s = 1.27e7 and q = 0: no division by zero.

#include "../config.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

#include "../activations.hpp"
#include "../error.hpp"
#include "../matrix_view.hpp"
#include "../rounding.hpp"

namespace ternary::inline TERNARY_ABI {

inline constexpr float absmax_epsilon = 1e-5f;

/// Quantizes x (tokens x cols, any layout) into `out`, whose shape must match; reuses its
/// storage. Throws value_error on NaN or Inf.
inline void quantize_into(activation_batch& out, matrix_view<const float> x) {
    if (x.rows() != out.tokens() || x.cols() != out.cols()) {
        detail::fail<shape_error>("quantize_into", "input is ", x.rows(), " x ", x.cols(),
                                  " but the batch is ", out.tokens(), " x ", out.cols());
    }
    for (std::size_t t = 0; t < x.rows(); ++t) {
        float absmax = 0.0f;
        for (std::size_t j = 0; j < x.cols(); ++j) {
            const float v = x(t, j);
            if (!std::isfinite(v)) {
                detail::fail<value_error>("quantize", "token ", t, ", element ", j, " is ", v);
            }
            absmax = std::max(absmax, std::fabs(v));
        }
        const float scale = 127.0f / std::max(absmax, absmax_epsilon);
        std::int8_t* q = detail::activation_writer::values(out, t);
        std::int32_t sum = 0;
        for (std::size_t j = 0; j < x.cols(); ++j) {
            q[j] = static_cast<std::int8_t>(std::clamp(round_half_even(x(t, j) * scale), -128.0f, 127.0f));
            sum += q[j];
        }
        detail::activation_writer::set(out, t, scale, sum);
    }
}

/// Quantizes each row of x (tokens x cols) as one token.
inline activation_batch quantize(matrix_view<const float> x) {
    activation_batch batch(x.rows(), x.cols());
    quantize_into(batch, x);
    return batch;
}

/// Quantizes one token.
inline quantized_vector quantize(std::span<const float> x) {
    quantized_vector v(x.size());
    quantize_into(v.batch(), matrix_view<const float>::row_major(x.data(), 1, x.size()));
    return v;
}

}  // namespace ternary::inline TERNARY_ABI
