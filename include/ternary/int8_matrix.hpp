#pragma once
// int8 weight matrices with one float scale per row, and their exact products with int8
// activations: the optional int8 output head of a BitNet model (2B4T: 128256 x 2560). The head
// is memory-bound, so reading 1 byte per weight instead of 2 (f16/bf16) halves its time.
//
//   quantize:  s_i = max_j |w(i, j)| / 127,  q(i, j) = clamp(round_half_even(w(i, j) / s_i), -127, 127)
//              (a row whose s_i is 0, all zeros or so small that max / 127 underflows, gets q = 0)
//   dots:      dot_i = sum_j q(i, j) x[j]                 exact int32, by the kernel
//   gemv:      y_i = float(dot_i) * s_i / s_x             x ~= q_x / s_x (activations.hpp)
//
// Layout: row i's cols() weights start at bytes() + i * row_stride(), 64-byte aligned, and are
// zero-padded to row_stride() (a multiple of 64), like a token of an activation_batch; so the
// kernels load whole vectors and never handle a tail. The sum of each row's weights is kept
// for the kernels that feed activations as unsigned bytes.
//
// Weights are symmetric, in [-127, 127]: -128 is never produced (and from_int8 refuses it), so
// negating a weight, as the AVX2 kernel does, is always exact.
//
// Kernels, chosen at run time with the same choice as the ternary products
// (simd::active_policy_name(), TERNARY_ISA), or named by the policy template argument:
//   avx512vnni, avxvnni  vpdpbusd multiplies unsigned by signed bytes: it gets u = x + 128
//                        (x ^ 0x80, formed once per tile of rows) and the signed weights, and
//                        128 * (sum of the row's weights) is subtracted at the end
//   avx2                 vpmaddubsw gets |x| as unsigned and w with x's sign (vpsignb), then
//                        vpmaddwd by ones widens the int16 pair sums to int32
//   neon                 vmull_s8 (int16 products) and vpadalq_s16 (pairs into int32)
//   neon-dotprod         sdot, signed by signed
//   scalar               plain loops (and any policy without an int8 kernel of its own)
// All of them give the exact dot product, so every policy's output is bit-identical.
//
// Why no accumulator overflows, for K = cols <= int8_max_cols = 66311. With w in [-127, 127]
// and x in [-128, 127] (absmax activations may hold -128), every int32 quantity any kernel
// forms is a sum over a subset of one row's K columns of one of these terms:
//   w x            |w x| <= 127 * 128 = 16256          scalar, NEON, sdot, AVX2 lanes, the dot
//   w (x + 128)    |w (x + 128)| <= 127 * 255 = 32385  vpdpbusd lanes and their reduction
//   128 w          |128 w| <= 128 * 127 = 16256         the vpdpbusd correction
// (int16 intermediates: a vpmaddubsw pair is |x| (+-w) + |x| (+-w), at most 2 * 128 * 127 =
// 32512 <= 32767, so it never saturates; a vmull_s8 product is at most 16256.) The widest is
// the second: 32385 K <= 2^31 - 1 holds exactly for K <= 66311 (32385 * 66311 = 2147481735,
// 32385 * 66312 = 2147514120), and -32385 K >= -2^31 allows the same K. The bound is reached:
// w = 127 and x = 127 everywhere give 32385 K. The final subtraction's result is the dot itself,
// |dot| <= 16256 K, so it cannot overflow either. Longer rows are refused with shape_error.

#include "config.hpp"

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "activations.hpp"
#include "aligned_buffer.hpp"
#include "error.hpp"
#include "gemm.hpp"
#include "limits.hpp"
#include "matrix_view.hpp"
#include "rounding.hpp"
#include "scales.hpp"
#include "simd/avx2.hpp"
#include "simd/avx512vbmi.hpp"
#include "simd/avx512vnni.hpp"
#include "simd/avxvnni.hpp"
#include "simd/detail/target.hpp"
#include "simd/dispatch.hpp"
#include "simd/neon.hpp"
#include "simd/neon_dotprod.hpp"
#include "simd/policy.hpp"
#include "thread_pool.hpp"

namespace ternary::inline TERNARY_ABI {

/// Longest row, in weights, of an int8_matrix: 66311 (see the top of this file).
inline constexpr std::size_t int8_max_cols = 66311;

static_assert(32385 * static_cast<std::int64_t>(int8_max_cols) <= std::numeric_limits<std::int32_t>::max());
static_assert(32385 * static_cast<std::int64_t>(int8_max_cols + 1) > std::numeric_limits<std::int32_t>::max());

namespace detail {

/// Throws shape_error unless 1 <= rows, 1 <= cols <= int8_max_cols and the storage is addressable.
inline void check_int8_shape(const char* where, std::size_t rows, std::size_t cols) {
    check_shape(where, rows, cols);  // not empty
    if (cols > int8_max_cols) {
        fail<shape_error>(where, "rows of ", cols, " columns exceed the limit of ", int8_max_cols,
                          " (ternary::int8_max_cols), beyond which int32 dot products could overflow");
    }
    if (rows > static_cast<std::size_t>(-1) / round_up(cols, storage_alignment)) {
        fail<shape_error>(where, rows, " rows are more than can be addressed");
    }
}

}  // namespace detail

/// rows x cols int8 weights in [-127, 127], one float scale per row: w(i, j) ~= q(i, j) * scale(i).
class int8_matrix {
public:
    /// Quantizes rows x cols float weights, one row at a time: source(i, out) writes row i's
    /// cols floats into out (so f16/bf16 rows can be converted row by row, without a float copy
    /// of the matrix). scale(i) = max|row| / 127; q = round_half_even(x / scale(i)) clamped to
    /// [-127, 127]; a row whose scale is 0 (all zeros, or every |x| < 2^-143 so that
    /// max|row| / 127 underflows) gets zeros. Throws value_error on NaN or
    /// Inf, shape_error on an empty shape or cols > int8_max_cols. Calls source from this
    /// thread only, rows in order.
    template <class RowSource>
        requires std::invocable<RowSource&, std::size_t, std::span<float>>
    static int8_matrix quantize(std::size_t rows, std::size_t cols, RowSource&& source) {
        int8_matrix m(rows, cols, "int8_matrix::quantize", uninitialized);
        std::vector<float> row(cols);
        for (std::size_t i = 0; i < rows; ++i) {
            source(i, std::span<float>(row));
            m.quantize_row(i, row);
        }
        return m;
    }

    /// The same, with rows handed out to the default thread pool: source is called from several
    /// threads at once, for rows in any order (it must be safe for that, as float_matrix::row
    /// is). The result is the same as quantize's; on NaN or Inf the error names one bad row.
    template <class RowSource>
        requires std::invocable<const RowSource&, std::size_t, std::span<float>>
    static int8_matrix quantize_parallel(std::size_t rows, std::size_t cols, const RowSource& source) {
        int8_matrix m(rows, cols, "int8_matrix::quantize_parallel", uninitialized);
        thread_pool& pool = default_pool();
        const std::size_t grain = std::max<std::size_t>(64, rows / (8 * pool.size()));
        pool.run_ranges(rows, grain, [&](std::size_t begin, std::size_t end) {
            std::vector<float> row(cols);  // not per-thread scratch, which source may use itself
            for (std::size_t i = begin; i < end; ++i) {
                source(i, std::span<float>(row));
                m.quantize_row(i, row);
            }
        });
        return m;
    }

    /// Quantizes a float matrix (any layout), as above.
    static int8_matrix quantize(matrix_view<const float> w) {
        return quantize(w.rows(), w.cols(), [&](std::size_t i, std::span<float> out) {
            for (std::size_t j = 0; j < out.size(); ++j) out[j] = w(i, j);
        });
    }

    /// Copies already-quantized weights (rows x cols, any layout, each in [-127, 127]) with
    /// one scale per row (finite, >= 0). Throws value_error on -128 or a bad scale.
    static int8_matrix from_int8(matrix_view<const std::int8_t> q, std::span<const float> scales) {
        int8_matrix m(q.rows(), q.cols(), "int8_matrix::from_int8");
        if (scales.size() != q.rows()) {
            detail::fail<shape_error>("int8_matrix::from_int8", q.rows(), " rows need ", q.rows(), " scales, got ",
                                      scales.size());
        }
        for (std::size_t i = 0; i < q.rows(); ++i) {
            if (!(std::isfinite(scales[i]) && scales[i] >= 0.0f)) {
                detail::fail<value_error>("int8_matrix::from_int8", "row ", i, " has scale ", scales[i],
                                          "; scales must be finite and >= 0");
            }
            std::int8_t* row = m.values_.data() + i * m.row_stride_;
            std::int32_t sum = 0;
            for (std::size_t j = 0; j < q.cols(); ++j) {
                if (q(i, j) == -128) {
                    detail::fail<value_error>("int8_matrix::from_int8", "weight (", i, ", ", j,
                                              ") is -128; int8_matrix weights are in [-127, 127]");
                }
                row[j] = q(i, j);
                sum += q(i, j);
            }
            m.scales_[i] = scales[i];
            m.row_sums_[i] = sum;
        }
        return m;
    }

    std::size_t rows() const noexcept { return rows_; }
    std::size_t cols() const noexcept { return cols_; }
    /// Bytes from one row to the next: a multiple of 64, zero-padded after cols().
    std::size_t row_stride() const noexcept { return row_stride_; }
    /// Row i's cols() weights (64-byte aligned).
    std::span<const std::int8_t> row(std::size_t i) const noexcept {
        return {values_.data() + i * row_stride_, cols_};
    }
    float scale(std::size_t i) const noexcept { return scales_[i]; }
    std::span<const float> scales() const noexcept { return scales_; }
    /// The sum of each row's weights (the unsigned-activation kernels subtract 128 times it).
    std::span<const std::int32_t> row_sums() const noexcept { return row_sums_; }
    /// All storage: rows() rows of row_stride() bytes.
    std::span<const std::int8_t> bytes() const noexcept { return values_.span(); }

private:
    /// Storage for rows x cols: the values are not zeroed here, because quantize_row writes
    /// every byte of its row, padding included.
    int8_matrix(std::size_t rows, std::size_t cols, const char* where, uninitialized_t)
        : rows_(rows), cols_(cols), row_stride_(round_up(cols, storage_alignment)),
          values_((detail::check_int8_shape(where, rows, cols), rows * row_stride_), uninitialized), scales_(rows),
          row_sums_(rows) {}
    int8_matrix(std::size_t rows, std::size_t cols, const char* where) : int8_matrix(rows, cols, where, uninitialized) {
        std::fill(values_.data(), values_.data() + values_.size(), std::int8_t{0});
    }

    /// Row i from its cols floats (see quantize), its padding zeroed.
    void quantize_row(std::size_t i, std::span<const float> row) {
        float absmax = 0.0f;
        for (std::size_t j = 0; j < cols_; ++j) {
            if (!std::isfinite(row[j])) {
                detail::fail<value_error>("int8_matrix::quantize", "row ", i, ", element ", j, " is ", row[j]);
            }
            absmax = std::max(absmax, std::fabs(row[j]));
        }
        const float scale = absmax / 127.0f;
        std::int8_t* q = values_.data() + i * row_stride_;
        std::int32_t sum = 0;
        for (std::size_t j = 0; j < cols_; ++j) {
            q[j] = scale == 0.0f ? std::int8_t{0}
                                 : static_cast<std::int8_t>(std::clamp(round_half_even(row[j] / scale), -127.0f, 127.0f));
            sum += q[j];
        }
        std::fill(q + cols_, q + row_stride_, std::int8_t{0});
        scales_[i] = scale;
        row_sums_[i] = sum;
    }

    std::size_t rows_;
    std::size_t cols_;
    std::size_t row_stride_;
    aligned_buffer<std::int8_t> values_;
    std::vector<float> scales_;
    std::vector<std::int32_t> row_sums_;
};

// The kernels, one namespace per instruction set (simd/detail/int8_kernel.inl), each reusing
// the vector operations of the ternary policy compiled for the same instruction set.
//
// Tiles and prefetch, measured on the 2B4T head (128256 x 2560, 328 MB, one thread, Zen 5):
// AVX-512 takes 8-row tiles and prefetches the next tile into L2 (prefetcht1): 20-23 GB/s
// against 15-17 with the hardware prefetcher alone, alternated in one run on a host that
// read 26 GB/s (2 threads: 31-32 against 27-29). An earlier, quieter host streamed 40 GB/s
// without prefetch, and prefetching into L1 (prefetcht0) cut that to 33-35. The 32-byte kernels reach only 16-20 GB/s
// without software prefetch, and 32-35 with one row per tile and the next row prefetched
// (28-30 with 2 or 4 rows). The NEON kernels prefetch one 4-row tile ahead, as the ternary
// kernels do (not measured: no AArch64 hardware here).

#if defined(__x86_64__) || defined(__i386__)

TERNARY_TARGET_BEGIN("avx512f,avx512bw,avx512vnni")
namespace simd::avx512vnni_int8 {
struct ops : avx512vnni_kernel::ops {
    static constexpr std::size_t rows_per_tile = 8;
    static constexpr std::size_t token_tile_rows = 4, token_tile_tokens = 4;  // 16 accumulators
    static constexpr bool prefetch = true;
    static constexpr std::int32_t activation_offset = 128;
    using act = vec;  // x + 128 as unsigned bytes
    static act activations(const std::int8_t* x) { return _mm512_xor_si512(load(x), bytes(0x80)); }
    static acc multiply_add(acc a, act u, vec w) { return dot(a, u, w); }  // vpdpbusd
};
#include "simd/detail/int8_kernel.inl"
}  // namespace simd::avx512vnni_int8
TERNARY_TARGET_END

TERNARY_TARGET_BEGIN("avx2,avxvnni")
namespace simd::avxvnni_int8 {
struct ops : avxvnni_kernel::ops {
    static constexpr std::size_t rows_per_tile = 1;
    static constexpr std::size_t token_tile_rows = 2, token_tile_tokens = 4;  // 8 accumulators of 16 registers
    static constexpr bool prefetch = true;
    static constexpr std::int32_t activation_offset = 128;
    using act = vec;  // x + 128 as unsigned bytes
    static act activations(const std::int8_t* x) { return _mm256_xor_si256(load(x), bytes(0x80)); }
    static acc multiply_add(acc a, act u, vec w) { return dot(a, u, w); }  // vpdpbusd
};
#include "simd/detail/int8_kernel.inl"
}  // namespace simd::avxvnni_int8
TERNARY_TARGET_END

TERNARY_TARGET_BEGIN("avx2")
namespace simd::avx2_int8 {
struct ops : avx2_kernel::ops {
    static constexpr std::size_t rows_per_tile = 1;
    static constexpr std::size_t token_tile_rows = 2, token_tile_tokens = 2;  // each token's act is 2 registers
    static constexpr bool prefetch = true;
    static constexpr std::int32_t activation_offset = 0;
    struct act {
        vec x;
        vec magnitude;  // |x| as unsigned bytes (|-128| = 128 = 0x80)
    };
    static act activations(const std::int8_t* x) {
        const vec v = load(x);
        return {v, _mm256_abs_epi8(v)};
    }
    /// |x| * (w with x's sign) = w x; -w is exact because w != -128.
    static acc multiply_add(acc a, const act& x, vec w) { return dot(a, x.magnitude, _mm256_sign_epi8(w, x.x)); }
};
#include "simd/detail/int8_kernel.inl"
}  // namespace simd::avx2_int8
TERNARY_TARGET_END

#elif defined(__aarch64__)

namespace simd::neon_int8 {
struct ops : neon_kernel::ops {
    static constexpr std::size_t rows_per_tile = 4;
    static constexpr std::size_t token_tile_rows = 4, token_tile_tokens = 4;  // 16 accumulators of 32 registers
    static constexpr bool prefetch = true;
    static constexpr std::int32_t activation_offset = 0;
    using act = vec;
    static act activations(const std::int8_t* x) { return load(x); }
    static acc multiply_add(acc a, act x, vec w) { return dot(a, w, x); }  // vmull_s8 + vpadalq_s16
};
#include "simd/detail/int8_kernel.inl"
}  // namespace simd::neon_int8

TERNARY_TARGET_BEGIN("arch=armv8.2-a+dotprod")
namespace simd::neon_dotprod_int8 {
struct ops : neon_dotprod_kernel::ops {
    static constexpr std::size_t rows_per_tile = 4;
    static constexpr std::size_t token_tile_rows = 4, token_tile_tokens = 4;  // 16 accumulators of 32 registers
    static constexpr bool prefetch = true;
    static constexpr std::int32_t activation_offset = 0;
    using act = vec;
    static act activations(const std::int8_t* x) { return load(x); }
    static acc multiply_add(acc a, act x, vec w) { return dot(a, w, x); }  // sdot
};
#include "simd/detail/int8_kernel.inl"
}  // namespace simd::neon_dotprod_int8
TERNARY_TARGET_END

#endif

namespace detail {

/// A kernel: out[i] = sum_j w(i, j) x[j] for rows [r0, r1) (see simd/detail/int8_kernel.inl).
using int8_kernel_fn = void (*)(const std::int8_t* w, std::size_t stride, std::size_t cols,
                                const std::int32_t* row_sums, std::size_t r0, std::size_t r1, const std::int8_t* x,
                                std::int32_t* out);

/// A kernel over several tokens: out[t * out_stride + i] = sum_j w(i, j) x_t[j] for rows
/// [r0, r1) and tokens t < tokens, token t's values at x + t * x_stride (see int8_kernel.inl).
using int8_tokens_kernel_fn = void (*)(const std::int8_t* w, std::size_t stride, std::size_t cols,
                                       const std::int32_t* row_sums, std::size_t r0, std::size_t r1,
                                       const std::int8_t* x, std::size_t x_stride, std::size_t tokens,
                                       std::int32_t* out, std::size_t out_stride);

/// The scalar kernel: plain loops.
inline void int8_rows_scalar(const std::int8_t* w, std::size_t stride, std::size_t cols, const std::int32_t*,
                             std::size_t r0, std::size_t r1, const std::int8_t* x, std::int32_t* out) {
    for (std::size_t i = r0; i < r1; ++i) {
        const std::int8_t* row = w + i * stride;
        std::int32_t dot = 0;
        for (std::size_t j = 0; j < cols; ++j) dot += row[j] * x[j];
        out[i] = dot;
    }
}

/// The scalar kernel over several tokens: the one-token kernel for each.
inline void int8_rows_tokens_scalar(const std::int8_t* w, std::size_t stride, std::size_t cols, const std::int32_t* row_sums,
                                    std::size_t r0, std::size_t r1, const std::int8_t* x, std::size_t x_stride,
                                    std::size_t tokens, std::int32_t* out, std::size_t out_stride) {
    for (std::size_t t = 0; t < tokens; ++t) int8_rows_scalar(w, stride, cols, row_sums, r0, r1, x + t * x_stride, out + t * out_stride);
}

/// A policy's kernels: one token, and several tokens over a tile of rows.
struct int8_kernels {
    int8_kernel_fn rows = &int8_rows_scalar;
    int8_tokens_kernel_fn rows_tokens = &int8_rows_tokens_scalar;
};

/// The kernels of the policy named `policy`; the scalar ones for a policy without its own.
inline int8_kernels int8_kernels_named(std::string_view policy) {
#if defined(__x86_64__) || defined(__i386__)
    // avx512vbmi differs from avx512vnni only in its 1.6-bit decodes: the same int8 kernels.
    if (policy == simd::avx512vbmi::name || policy == simd::avx512vnni::name) {
        return {&simd::avx512vnni_int8::int8_rows, &simd::avx512vnni_int8::int8_rows_tokens};
    }
    if (policy == simd::avxvnni::name) return {&simd::avxvnni_int8::int8_rows, &simd::avxvnni_int8::int8_rows_tokens};
    if (policy == simd::avx2::name) return {&simd::avx2_int8::int8_rows, &simd::avx2_int8::int8_rows_tokens};
#elif defined(__aarch64__)
    if (policy == simd::neon_dotprod::name) return {&simd::neon_dotprod_int8::int8_rows, &simd::neon_dotprod_int8::int8_rows_tokens};
    if (policy == simd::neon::name) return {&simd::neon_int8::int8_rows, &simd::neon_int8::int8_rows_tokens};
#endif
    return {};
}

/// The one-token kernel of the policy named `policy`.
inline int8_kernel_fn int8_kernel_named(std::string_view policy) { return int8_kernels_named(policy).rows; }

/// The kernels for Policy; for simd::automatic, those of the policy the ternary products run
/// (chosen once).
template <class Policy>
int8_kernels int8_kernels_for() {
    if constexpr (std::is_same_v<Policy, simd::automatic>) {
        static const int8_kernels chosen = int8_kernels_named(simd::active_policy_name());
        return chosen;
    } else {
        return int8_kernels_named(Policy::name);
    }
}

/// The one-token kernel for Policy.
template <class Policy>
int8_kernel_fn int8_kernel() {
    return int8_kernels_for<Policy>().rows;
}

template <class Policy>
void check_int8_operands(const char* where, std::size_t out_size, const int8_matrix& w,
                         const activation_batch_view& x) {
    if (!Policy::available()) {
        fail<error>(where, "policy '", Policy::name, "' is not supported by this CPU");
    }
    if (x.tokens() != 1) {
        fail<shape_error>(where, "needs one token, got ", x.tokens());
    }
    if (w.cols() != x.cols()) {
        fail<shape_error>(where, "the matrix has ", w.cols(), " columns but the activations have ", x.cols());
    }
    if (out_size != w.rows()) {
        fail<shape_error>(where, "output has ", out_size, " elements, the matrix ", w.rows(), " rows");
    }
}

/// All rows' dots into out, on the default pool: threads claim ranges of rows (as in the
/// ternary products), then finish(begin, end) on the same thread for those rows.
template <class Finish>
void int8_parallel_dots(int8_kernel_fn kernel, const int8_matrix& w, const activation_batch_view& x,
                        std::int32_t* out, Finish&& finish) {
    thread_pool& pool = default_pool();
    const bool parallel = w.rows() * w.cols() >= parallel_threshold && pool.size() > 1;
    const std::size_t grain = parallel ? rows_per_task(w.rows(), w.row_stride(), pool.size()) : w.rows();
    pool.run_ranges(w.rows(), grain, [&](std::size_t begin, std::size_t end) {
        kernel(w.bytes().data(), w.row_stride(), w.cols(), w.row_sums().data(), begin, end, x.data(), out);
        finish(begin, end);
    });
}

}  // namespace detail

/// Exact int32 dot products of every row with one token: out[i] = sum_j q(i, j) x[j]
/// (out has rows() elements; x exactly one token).
template <kernel_policy Policy = default_policy>
void dots(std::span<std::int32_t> out, const int8_matrix& w, const activation_batch_view& x) {
    detail::check_int8_operands<Policy>("dots", out.size(), w, x);
    detail::int8_parallel_dots(detail::int8_kernel<Policy>(), w, x, out.data(), [](std::size_t, std::size_t) {});
}

/// y = W x for one token: out[i] = float(dot_i) * scale(i) / x.scale(0), the same float
/// arithmetic as the ternary gemv with per-row scales.
template <kernel_policy Policy = default_policy>
void gemv(std::span<float> out, const int8_matrix& w, const activation_batch_view& x) {
    detail::check_int8_operands<Policy>("gemv", out.size(), w, x);
    std::int32_t* dot_values = per_thread_scratch<std::int32_t>(w.rows());
    const float x_scale = x.scale(0);
    detail::int8_parallel_dots(detail::int8_kernel<Policy>(), w, x, dot_values, [&](std::size_t begin, std::size_t end) {
        const scales_view row_scales(scale_kind::per_row, w.scales().subspan(begin, end - begin));
        detail::rescale_row(out.data() + begin, dot_values + begin, end - begin, row_scales, x_scale);
    });
}

/// Y = W X for several tokens: out(t, i) = float(dot_ti) * scale(i) / x.scale(t), each value
/// bit-identical to gemv of token t alone (the dots are exact). out is tokens x rows. Threads
/// claim ranges of rows; each range runs in tiles of rows small enough to stay in L2 while
/// every token passes over them, so the matrix is read from memory once for all the tokens
/// (a batch of sequences decoding together, or a prompt's logits).
template <kernel_policy Policy = default_policy>
void gemm(matrix_view<float> out, const int8_matrix& w, const activation_batch_view& x) {
    if (x.tokens() == 0 || out.rows() != x.tokens()) {
        detail::fail<shape_error>("gemm", "output has ", out.rows(), " rows for ", x.tokens(), " tokens");
    }
    detail::check_int8_operands<Policy>("gemm", out.cols(), w, x.token(0));
    const detail::int8_tokens_kernel_fn kernel = detail::int8_kernels_for<Policy>().rows_tokens;
    // 128 KB of weights a tile: small beside L2, large beside the per-token overhead.
    const std::size_t tile = std::max<std::size_t>(1, (std::size_t{128} << 10) / w.row_stride());
    thread_pool& pool = default_pool();
    const bool parallel = w.rows() * w.cols() * x.tokens() >= detail::parallel_threshold && pool.size() > 1;
    const std::size_t grain = parallel ? std::min(w.rows(), std::max(tile, detail::rows_per_task(w.rows(), w.row_stride(), pool.size()))) : w.rows();
    pool.run_ranges(w.rows(), grain, [&](std::size_t begin, std::size_t end) {
        std::int32_t* tile_dots = per_thread_scratch<std::int32_t>(tile * x.tokens());  // tokens x tile rows
        for (std::size_t r0 = begin; r0 < end; r0 += tile) {
            const std::size_t r1 = std::min(end, r0 + tile), n = r1 - r0;
            kernel(w.bytes().data() + r0 * w.row_stride(), w.row_stride(), w.cols(), w.row_sums().data() + r0, 0, n,
                   x.data(), x.row_stride(), x.tokens(), tile_dots, n);
            const scales_view row_scales(scale_kind::per_row, w.scales().subspan(r0, n));
            for (std::size_t t = 0; t < x.tokens(); ++t) detail::rescale_row(&out(t, r0), tile_dots + t * n, n, row_scales, x.scale(t));
        }
    });
}

}  // namespace ternary::inline TERNARY_ABI
