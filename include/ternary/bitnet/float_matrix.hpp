#pragma once
// Full-precision weight matrices as checkpoints store them (f32, f16 or bf16, row-major, or one
// of ggml's block-quantized formats: quant/ggml_blocks.hpp), used for the token embedding, the
// output head and the linears of float models. The values stay in their stored format,
// possibly in a memory-mapped file (no copy); rows are converted to float as they are used.
//
// Summation order: f32 matrices sum each dot product in index order, as llama2.c's matmul does,
// so a float llama2.c model reproduces its outputs bit for bit. f16 and bf16 matrices (the large
// ones: 2B4T's embedding is 128256 x 2560) use vectorized partial sums. Block-quantized matrices
// multiply int8 activations (each token quantized with absmax, as the ternary layers' are) with
// their blocks in place (quant/block_dot.hpp), as llama.cpp does with these formats.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "../aligned_buffer.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../io/half.hpp"
#include "../matrix_view.hpp"
#include "../quant/absmax.hpp"
#include "../quant/block_dot.hpp"
#include "../quant/ggml_blocks.hpp"
#include "../quant/ggml_quantize.hpp"
#include "../simd/cpu.hpp"
#include "../simd/detail/target.hpp"
#include "../thread_pool.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ternary::inline TERNARY_ABI::bitnet {

/// How a float_matrix stores its values: plain floats, or one of ggml's block formats (the
/// block formats follow in block_type's order).
enum class float_format : std::uint8_t { f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl };

inline constexpr std::size_t first_block_format = static_cast<std::size_t>(float_format::q4_0);

/// The block type of a block format; nullopt for f32, f16, bf16.
inline std::optional<block_type> block_type_of(float_format f) {
    const auto i = static_cast<std::size_t>(f);
    if (i < first_block_format) return std::nullopt;
    return static_cast<block_type>(i - first_block_format);
}
inline float_format format_of(block_type t) {
    return static_cast<float_format>(first_block_format + static_cast<std::size_t>(t));
}
inline bool is_block_format(float_format f) { return block_type_of(f).has_value(); }

/// Bytes of one value of f32, f16 or bf16 (not defined for block formats: see row_bytes_of).
inline std::size_t bytes_per_value(float_format f) { return f == float_format::f32 ? 4 : 2; }

/// Bytes of a stored row of cols values, or 0 when cols is not a whole number of blocks.
inline std::size_t row_bytes_of(float_format f, std::size_t cols) {
    if (const auto t = block_type_of(f)) {
        const block_layout l = layout_of(*t);
        return cols % l.weights == 0 ? cols / l.weights * l.bytes : 0;
    }
    return cols * bytes_per_value(f);
}

inline const char* format_name(float_format f) {
    static constexpr const char* names[] = {"f32",  "f16",  "bf16", "q4_0", "q4_1", "q5_0", "q5_1",
                                            "q8_0", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl"};
    return names[static_cast<std::size_t>(f)];
}

/// The format named `name` ("f16", "q6_k", ...; block formats in any case, as ggml writes them).
inline std::optional<float_format> float_format_named(std::string_view name) {
    for (const float_format f : {float_format::f32, float_format::f16, float_format::bf16}) {
        if (name == format_name(f)) return f;
    }
    if (const auto t = block_type_named(name)) return format_of(*t);
    return std::nullopt;
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

/// values as a stored f32, f16 or bf16 row at out (each rounded to nearest, ties to even).
inline void store_row(float_format format, std::span<const float> values, std::uint8_t* out) {
    for (std::size_t j = 0; j < values.size(); ++j) {
        if (format == float_format::f32) {
            std::memcpy(out + 4 * j, &values[j], 4);
            continue;
        }
        const std::uint16_t h = format == float_format::f16 ? io::f16_from_float(values[j]) : io::bf16_from_float(values[j]);
        std::memcpy(out + 2 * j, &h, 2);
    }
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
        const std::size_t row_bytes = row_bytes_of(format, cols);
        if (row_bytes == 0) {
            ternary::detail::fail<shape_error>("float_matrix", "rows of ", cols, " values are not whole ",
                                               format_name(format), " blocks");
        }
        if (rows == 0 || bytes.size() / row_bytes != rows || bytes.size() % row_bytes != 0) {
            ternary::detail::fail<shape_error>("float_matrix", rows, " x ", cols, " ", format_name(format), " values need ",
                                               rows * row_bytes, " bytes, got ", bytes.size());
        }
        if (const auto t = block_type_of(format)) check_block_factors(*t, bytes);
        float_matrix m;
        m.format_ = format;
        m.data_ = bytes.data();
        m.rows_ = rows;
        m.cols_ = cols;
        m.owner_ = std::move(owner);
        m.release_ = std::move(release);
        return m;
    }

    /// The same values stored in another format, an owning copy made row by row on the default
    /// pool: f32 (exact), f16 or bf16 (each value rounded to nearest), Q8_0, Q6_K or Q4_K
    /// (quant/ggml_quantize.hpp). Throws value_error for other block formats or NaN/Inf values.
    static float_matrix converted(const float_matrix& m, float_format to) {
        const std::size_t row_bytes = row_bytes_of(to, m.cols());
        if (row_bytes == 0) {
            ternary::detail::fail<shape_error>("float_matrix::converted", "rows of ", m.cols(), " values are not whole ",
                                               format_name(to), " blocks");
        }
        const std::optional<block_type> block = block_type_of(to);
        if (block && !can_quantize_to(*block)) {
            ternary::detail::fail<value_error>("float_matrix::converted", "quantizing to ", format_name(to), " is not supported");
        }
        auto owner = std::make_shared<std::vector<std::uint8_t>>(m.rows() * row_bytes);
        default_pool().run_ranges(m.rows(), std::max<std::size_t>(64, m.rows() / (8 * default_pool().size())),
                                  [&](std::size_t begin, std::size_t end) {
            std::vector<float> row(m.cols());
            for (std::size_t i = begin; i < end; ++i) {
                m.row(i, row);
                std::uint8_t* out = owner->data() + i * row_bytes;
                if (block) {
                    quantize_row(*block, row, {out, row_bytes});
                } else {
                    detail::store_row(to, row, out);
                }
            }
        });
        const std::span<const std::uint8_t> bytes(owner->data(), owner->size());
        return over(to, bytes, m.rows(), m.cols(), std::move(owner));
    }

    std::size_t rows() const noexcept { return rows_; }
    std::size_t cols() const noexcept { return cols_; }
    float_format format() const noexcept { return format_; }
    std::size_t stored_bytes() const noexcept { return rows_ * row_bytes_of(format_, cols_); }
    /// The stored values (rows() rows of row_bytes_of(format(), cols()) bytes).
    std::span<const std::uint8_t> stored() const noexcept { return {data_, stored_bytes()}; }

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
        if (const auto t = block_type_of(format_)) {
            dequantize_row(*t, row_bytes(i), out.data(), cols_);
        } else {
            detail::convert_row(format_, row_bytes(i), out.data(), cols_);
        }
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
        if (is_block_format(format_)) {
            multiply_blocks(out, matrix_view<const float>::row_major(tokens, x.rows(), cols_));
            return;
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
    const std::uint8_t* row_bytes(std::size_t i) const { return data_ + i * row_bytes_of(format_, cols_); }

    /// Throws value_error unless every block's factors are finite: a NaN or Inf there would turn
    /// whole rows of the output into NaN.
    static void check_block_factors(block_type t, std::span<const std::uint8_t> bytes) {
        const block_layout l = layout_of(t);
        for (std::size_t b = 0; b < bytes.size() / l.bytes; ++b) {
            float d = 0.0f, m = 0.0f;
            block_factors(t, bytes.data() + b * l.bytes, d, m);
            if (!std::isfinite(d) || !std::isfinite(m)) {
                ternary::detail::fail<value_error>("float_matrix", l.name, " block ", b, " (byte ", b * l.bytes,
                                                   ") has scale ", d, " and min ", m, "; both must be finite");
            }
        }
    }

    /// The block formats' product: each token quantized to int8 (absmax), then every row's
    /// blocks against it in place (quant/block_dot.hpp). Threads claim ranges of rows; with
    /// several tokens, tiles of 64 rows stay in cache while every token reads them, as in
    /// multiply's float path.
    void multiply_blocks(matrix_view<float> out, matrix_view<const float> x) const {
        const block_type type = *block_type_of(format_);
        activation_batch quantized(x.rows(), cols_);
        quantize_into(quantized, x);
        std::vector<block_activations> tokens;
        tokens.reserve(x.rows());
        for (std::size_t t = 0; t < x.rows(); ++t) tokens.emplace_back(quantized.view(), t);
        const ternary::detail::block_kernel_fn kernel = ternary::detail::block_kernel<default_policy>();
        const std::size_t row_bytes = row_bytes_of(format_, cols_), blocks = cols_ / layout_of(type).weights;
        constexpr std::size_t tile = 64;
        thread_pool& pool = default_pool();
        const std::size_t work = rows_ * cols_ * x.rows();
        const std::size_t grain = work < (std::size_t{1} << 18) ? rows_
                                  : x.rows() == 1 ? ternary::detail::rows_per_task(rows_, row_bytes, pool.size())
                                                  : tile;
        pool.run_ranges(rows_, grain, [&](std::size_t begin, std::size_t end) {
            double* acc = per_thread_scratch<double>(rows_);  // indexed by row
            // One token: the whole range in one call (the kernel prefetches rows ahead within it).
            const std::size_t step = x.rows() == 1 ? end - begin : tile;
            for (std::size_t first = begin; first < end; first += step) {
                const std::size_t last = std::min(end, first + step);
                for (std::size_t t = 0; t < x.rows(); ++t) {
                    kernel(type, data_, row_bytes, blocks, first, last, tokens[t].input(), acc);
                    const double scale = tokens[t].scale();
                    for (std::size_t i = first; i < last; ++i) out(t, i) = static_cast<float>(acc[i] / scale);
                }
            }
        });
    }

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
