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
#include <vector>

#include "../activations.hpp"
#include "../error.hpp"
#include "../matrix_view.hpp"
#include "../rounding.hpp"
#include "../simd/cpu.hpp"
#include "../simd/detail/target.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ternary::inline TERNARY_ABI {

inline constexpr float absmax_epsilon = 1e-5f;

namespace detail {

/// max |x[j]|, or a non-finite value if some x[j] is NaN or infinite.
inline float absmax_portable(const float* x, std::size_t n) {
    float absmax = 0.0f, poison = 0.0f;
    for (std::size_t j = 0; j < n; ++j) {
        absmax = std::max(absmax, std::fabs(x[j]));
        poison += x[j] * 0.0f;  // NaN once any x[j] is NaN or infinite
    }
    return absmax + poison;
}

/// q[j] = clamp(round_half_even(x[j] * scale), -128, 127); returns the sum of q.
inline std::int32_t quantize_row_portable(const float* x, std::size_t n, float scale, std::int8_t* q) {
    std::int32_t sum = 0;
    for (std::size_t j = 0; j < n; ++j) {
        q[j] = static_cast<std::int8_t>(std::clamp(round_half_even(x[j] * scale), -128.0f, 127.0f));
        sum += q[j];
    }
    return sum;
}

#if defined(__x86_64__) || defined(__i386__)
// The same arithmetic 32 values at a time: the rounding instruction is told to round to
// nearest even explicitly, so, like round_half_even, it ignores the rounding mode.
TERNARY_TARGET_BEGIN("avx2")
namespace x86_avx2 {
inline float absmax(const float* x, std::size_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f), infinity = _mm256_set1_ps(INFINITY);
    __m256 m = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
    std::size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j));
        m = _mm256_max_ps(m, a);
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, infinity, _CMP_NLT_UQ));  // >= inf, or NaN
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, m);
    float result = 0.0f;
    for (float v : lanes) result = std::max(result, v);
    if (_mm256_movemask_ps(bad) != 0) return NAN;
    const float tail = absmax_portable(x + j, n - j);
    return std::isfinite(tail) ? std::max(result, tail) : tail;
}

inline std::int32_t quantize_row(const float* x, std::size_t n, float scale, std::int8_t* q) {
    const __m256 s = _mm256_set1_ps(scale), low = _mm256_set1_ps(-128.0f), high = _mm256_set1_ps(127.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256i sums = _mm256_setzero_si256();
    const auto convert = [&](std::size_t j) {
        const __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j), s), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m256i v = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(r, low), high));
        sums = _mm256_add_epi32(sums, v);
        return v;
    };
    std::size_t j = 0;
    for (; j + 32 <= n; j += 32) {
        const __m256i a = convert(j), b = convert(j + 8), c = convert(j + 16), d = convert(j + 24);
        const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + j), _mm256_permutevar8x32_epi32(bytes, order));
    }
    std::int32_t lanes[8];
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes), sums);
    std::int32_t sum = 0;
    for (std::int32_t v : lanes) sum += v;
    return sum + quantize_row_portable(x + j, n - j, scale, q + j);
}
}  // namespace x86_avx2
TERNARY_TARGET_END
#endif

inline float absmax_of(const float* x, std::size_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (simd::cpu().avx2) return x86_avx2::absmax(x, n);
#endif
    return absmax_portable(x, n);
}

inline std::int32_t quantize_row(const float* x, std::size_t n, float scale, std::int8_t* q) {
#if defined(__x86_64__) || defined(__i386__)
    if (simd::cpu().avx2) return x86_avx2::quantize_row(x, n, scale, q);
#endif
    return quantize_row_portable(x, n, scale, q);
}

}  // namespace detail

/// Quantizes x (tokens x cols, any layout) into `out`, whose shape must match; reuses its
/// storage. Throws value_error on NaN or Inf.
inline void quantize_into(activation_batch& out, matrix_view<const float> x) {
    if (x.rows() != out.tokens() || x.cols() != out.cols()) {
        detail::fail<shape_error>("quantize_into", "input is ", x.rows(), " x ", x.cols(),
                                  " but the batch is ", out.tokens(), " x ", out.cols());
    }
    std::vector<float> copy;  // a contiguous copy of a strided token
    for (std::size_t t = 0; t < x.rows(); ++t) {
        const float* row = &x(t, 0);
        if (x.stride(1) != 1) {
            copy.resize(x.cols());
            for (std::size_t j = 0; j < x.cols(); ++j) copy[j] = x(t, j);
            row = copy.data();
        }
        const float absmax = detail::absmax_of(row, x.cols());
        if (!std::isfinite(absmax)) {
            for (std::size_t j = 0; j < x.cols(); ++j) {
                if (!std::isfinite(row[j])) detail::fail<value_error>("quantize", "token ", t, ", element ", j, " is ", row[j]);
            }
        }
        const float scale = 127.0f / std::max(absmax, absmax_epsilon);
        const std::int32_t sum = detail::quantize_row(row, x.cols(), scale, detail::activation_writer::values(out, t));
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
