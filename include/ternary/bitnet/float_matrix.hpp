#pragma once
// Full-precision weight matrices as checkpoints store them (f32, f16 or bf16, row-major), used
// for the token embedding, the output head and the linears of float models. The values stay in
// their stored format, possibly in a memory-mapped file (no copy); rows are converted to float
// as they are used.
//
// Summation order: f32 matrices sum each dot product in index order, as llama2.c's matmul does,
// so a float llama2.c model reproduces its outputs bit for bit. f16 and bf16 matrices (the large
// ones: 2B4T's embedding is 128256 x 2560) use vectorized partial sums.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "../aligned_buffer.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../io/half.hpp"
#include "../matrix_view.hpp"
#include "../simd/cpu.hpp"
#include "../simd/detail/target.hpp"
#include "../thread_pool.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ternary::inline TERNARY_ABI::bitnet {

enum class float_format : std::uint8_t { f32, f16, bf16 };

inline std::size_t bytes_per_value(float_format f) { return f == float_format::f32 ? 4 : 2; }
inline const char* format_name(float_format f) {
    return f == float_format::f32 ? "f32" : f == float_format::f16 ? "f16" : "bf16";
}

namespace detail {

/// dst[j] = value j of a stored row, for j < n.
inline void convert_row_portable(float_format format, const std::uint8_t* src, float* dst, std::size_t n) {
    if (format == float_format::f32) {
        std::memcpy(dst, src, n * sizeof(float));
        return;
    }
    for (std::size_t j = 0; j < n; ++j) {
        std::uint16_t h;
        std::memcpy(&h, src + 2 * j, 2);
        dst[j] = format == float_format::f16 ? io::float_from_f16(h) : io::float_from_bf16(h);
    }
}

/// sum_j a[j] b[j] in 16 interleaved partial sums (the compiler vectorizes this form): the
/// portable kernel for half-precision rows.
inline float dot_partial_sums(const float* a, const float* b, std::size_t n) {
    float partial[16] = {};
    std::size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        for (std::size_t l = 0; l < 16; ++l) partial[l] += a[j + l] * b[j + l];
    }
    for (; j < n; ++j) partial[j % 16] += a[j] * b[j];
    float sum = 0.0f;
    for (float p : partial) sum += p;
    return sum;
}

#if defined(__x86_64__) || defined(__i386__)
TERNARY_TARGET_BEGIN("avx2,fma,f16c")
namespace x86_f16c {
inline void convert_row(float_format format, const std::uint8_t* src, float* dst, std::size_t n) {
    std::size_t j = 0;
    if (format == float_format::f16) {
        for (; j + 8 <= n; j += 8) {
            const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * j));
            _mm256_storeu_ps(dst + j, _mm256_cvtph_ps(h));
        }
    } else if (format == float_format::bf16) {
        for (; j + 8 <= n; j += 8) {
            const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * j));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + j), _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
        }
    }
    convert_row_portable(format, src + bytes_per_value(format) * j, dst + j, n - j);
}

/// 8 stored f16 or bf16 values at p as floats.
inline __m256 load8(float_format format, const std::uint8_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if (format == float_format::f16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

inline float horizontal_sum(__m256 v) {
    const __m128 sum4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    float lanes[4];
    _mm_storeu_ps(lanes, sum4);
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

/// out[r] = row r . x for `rows` consecutive stored rows of n half-precision values (f16 or
/// bf16), converted on the fly: 4 rows at a time share each load of x and keep 4 streams of
/// memory reads in flight; the rows 4 ahead are prefetched.
inline void half_rows_dot(float_format format, const std::uint8_t* w, std::size_t rows, std::size_t n, const float* x,
                          float* out) {
    const std::size_t row_bytes = 2 * n;
    std::size_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        const std::uint8_t* p = w + r * row_bytes;
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        std::size_t j = 0;
        for (; j + 8 <= n; j += 8) {
            if (j % 32 == 0) {
                for (std::size_t k = 0; k < 4; ++k) _mm_prefetch(reinterpret_cast<const char*>(p + (4 + k) * row_bytes + 2 * j), _MM_HINT_T0);
            }
            const __m256 xj = _mm256_loadu_ps(x + j);
            for (std::size_t k = 0; k < 4; ++k) acc[k] = _mm256_fmadd_ps(load8(format, p + k * row_bytes + 2 * j), xj, acc[k]);
        }
        for (std::size_t k = 0; k < 4; ++k) {
            float sum = horizontal_sum(acc[k]);
            std::uint16_t h;
            for (std::size_t t = j; t < n; ++t) {
                std::memcpy(&h, p + k * row_bytes + 2 * t, 2);
                sum += (format == float_format::f16 ? io::float_from_f16(h) : io::float_from_bf16(h)) * x[t];
            }
            out[r + k] = sum;
        }
    }
    for (; r < rows; ++r) {
        const std::uint8_t* p = w + r * row_bytes;
        __m256 acc = _mm256_setzero_ps();
        std::size_t j = 0;
        for (; j + 8 <= n; j += 8) acc = _mm256_fmadd_ps(load8(format, p + 2 * j), _mm256_loadu_ps(x + j), acc);
        float sum = horizontal_sum(acc);
        std::uint16_t h;
        for (std::size_t t = j; t < n; ++t) {
            std::memcpy(&h, p + 2 * t, 2);
            sum += (format == float_format::f16 ? io::float_from_f16(h) : io::float_from_bf16(h)) * x[t];
        }
        out[r] = sum;
    }
}
}  // namespace x86_f16c
TERNARY_TARGET_END
#endif

/// The fused half-precision kernel, when the CPU has one: true if it ran.
inline bool half_rows_dot(float_format format, const std::uint8_t* w, std::size_t rows, std::size_t n, const float* x,
                          float* out) {
#if defined(__x86_64__) || defined(__i386__)
    if (format != float_format::f32 && simd::cpu().avx2 && simd::cpu().fma && simd::cpu().f16c) {
        x86_f16c::half_rows_dot(format, w, rows, n, x, out);
        return true;
    }
#endif
    (void)format, (void)w, (void)rows, (void)n, (void)x, (void)out;
    return false;
}

inline void convert_row(float_format format, const std::uint8_t* src, float* dst, std::size_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (format != float_format::f32 && simd::cpu().avx2 && simd::cpu().f16c) {
        x86_f16c::convert_row(format, src, dst, n);
        return;
    }
#endif
    convert_row_portable(format, src, dst, n);
}

}  // namespace detail

class float_matrix {
public:
    float_matrix() = default;

    /// An owning matrix of rows x cols floats (row-major).
    static float_matrix from_floats(std::vector<float> values, std::size_t rows, std::size_t cols) {
        if (values.size() != rows * cols) {
            ternary::detail::fail<shape_error>("float_matrix", rows, " x ", cols, " values, got ", values.size());
        }
        auto owner = std::make_shared<std::vector<float>>(std::move(values));
        const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(owner->data()),
                                                  owner->size() * sizeof(float));
        return over(float_format::f32, bytes, rows, cols, std::move(owner));
    }

    /// A matrix over stored values (rows x cols, row-major, little-endian) that `owner` keeps
    /// valid: a memory-mapped file or a buffer. No copy is made.
    /// `release`, if given, is told when the values will not be read again soon (a mapped
    /// file's pages can then leave resident memory).
    static float_matrix over(float_format format, std::span<const std::uint8_t> bytes, std::size_t rows,
                             std::size_t cols, std::shared_ptr<const void> owner,
                             std::function<void(std::span<const std::uint8_t>)> release = {}) {
        if (rows == 0 || cols == 0 || bytes.size() / bytes_per_value(format) / cols != rows ||
            bytes.size() % (bytes_per_value(format) * cols) != 0) {
            ternary::detail::fail<shape_error>("float_matrix", rows, " x ", cols, " ", format_name(format), " values need ",
                                               rows * cols * bytes_per_value(format), " bytes, got ", bytes.size());
        }
        float_matrix m;
        m.format_ = format;
        m.data_ = bytes.data();
        m.rows_ = rows;
        m.cols_ = cols;
        m.owner_ = std::move(owner);
        m.release_ = std::move(release);
        return m;
    }

    std::size_t rows() const noexcept { return rows_; }
    std::size_t cols() const noexcept { return cols_; }
    float_format format() const noexcept { return format_; }
    std::size_t stored_bytes() const noexcept { return rows_ * cols_ * bytes_per_value(format_); }

    /// Says the values will not be read again soon (see over); a no-op for owned matrices.
    void release_pages() const {
        if (release_) release_({data_, stored_bytes()});
    }

    /// Row i as floats into out (cols() values).
    void row(std::size_t i, std::span<float> out) const {
        if (i >= rows_ || out.size() != cols_) {
            ternary::detail::fail<shape_error>("float_matrix::row", "row ", i, " of ", rows_, " into ", out.size(),
                                               " values (needs ", cols_, ")");
        }
        detail::convert_row(format_, row_bytes(i), out.data(), cols_);
    }

    /// out(t, i) = sum_j W(i, j) x(t, j) for each token t: out is tokens x rows, x tokens x cols.
    /// Rows are split over the default thread pool.
    void multiply(matrix_view<float> out, matrix_view<const float> x) const {
        if (x.cols() != cols_ || out.rows() != x.rows() || out.cols() != rows_) {
            ternary::detail::fail<shape_error>("float_matrix::multiply", rows_, " x ", cols_, " weights, ", x.rows(),
                                               " x ", x.cols(), " input, ", out.rows(), " x ", out.cols(), " output");
        }
        // The tokens as contiguous rows (a copy only for strided inputs).
        std::vector<float> copy;
        const float* tokens = &x(0, 0);
        if (x.stride(1) != 1 || static_cast<std::size_t>(x.stride(0)) != cols_) {
            copy.resize(x.rows() * cols_);
            for (std::size_t t = 0; t < x.rows(); ++t) {
                for (std::size_t j = 0; j < cols_; ++j) copy[t * cols_ + j] = x(t, j);
            }
            tokens = copy.data();
        }
        // Threads claim blocks of rows small enough to stay in L2 while every token reads them;
        // each token's dot products are computed the same way whatever the number of tokens.
        constexpr std::size_t block = 64;
        const std::size_t work = rows_ * cols_ * std::max<std::size_t>(x.rows(), 1);
        const std::size_t grain = work < (std::size_t{1} << 18) ? rows_ : block;
        default_pool().run_ranges(rows_, grain, [&](std::size_t begin, std::size_t end) {
            float results[block];
            for (std::size_t first = begin; first < end; first += block) {
                const std::size_t n = std::min(block, end - first);
                for (std::size_t t = 0; t < x.rows(); ++t) {
                    rows_dot(first, n, tokens + t * cols_, results);
                    for (std::size_t r = 0; r < n; ++r) out(t, first + r) = results[r];
                }
            }
        });
    }

    /// out = W x for one vector.
    void multiply(std::span<float> out, std::span<const float> x) const {
        multiply(matrix_view<float>::row_major(out.data(), 1, out.size()),
                 matrix_view<const float>::row_major(x.data(), 1, x.size()));
    }

private:
    const std::uint8_t* row_bytes(std::size_t i) const { return data_ + i * cols_ * bytes_per_value(format_); }

    /// out[r] = row (first + r) . x for r < n.
    void rows_dot(std::size_t first, std::size_t n, const float* x, float* out) const {
        if (detail::half_rows_dot(format_, row_bytes(first), n, cols_, x, out)) return;
        float* converted = per_thread_scratch<float>(cols_);
        for (std::size_t r = 0; r < n; ++r) {
            const float* w = reinterpret_cast<const float*>(row_bytes(first + r));
            if (format_ != float_format::f32 || reinterpret_cast<std::uintptr_t>(w) % alignof(float) != 0) {
                detail::convert_row(format_, row_bytes(first + r), converted, cols_);
                w = converted;
            }
            out[r] = format_ == float_format::f32 ? dot_in_order(w, x) : detail::dot_partial_sums(w, x, cols_);
        }
    }

    float dot_in_order(const float* w, const float* x) const {
        float sum = 0.0f;
        for (std::size_t j = 0; j < cols_; ++j) sum += w[j] * x[j];
        return sum;
    }

    float_format format_ = float_format::f32;
    const std::uint8_t* data_ = nullptr;
    std::size_t rows_ = 0;
    std::size_t cols_ = 0;
    std::shared_ptr<const void> owner_;
    std::function<void(std::span<const std::uint8_t>)> release_;
};

}  // namespace ternary::inline TERNARY_ABI::bitnet
