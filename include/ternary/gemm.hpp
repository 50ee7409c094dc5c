#pragma once
// Ternary matrix times quantized activations: GEMV (one token) and GEMM (a batch of tokens).
//
//   dot(t, i)  = sum_j trit(i, j) * q_t[j]                  exact int32, by the policy
//   y(t, i)    = (sum_b float(dot_b(t, i)) * scale(i, b)) / s_t
// where b runs over the scale blocks of row i (one block for per-matrix and per-row scales, so
// y = float(dot) * gamma / s_t) and s_t is token t's absmax scale.

#include "config.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "activations.hpp"
#include "aligned_buffer.hpp"
#include "error.hpp"
#include "matrix_view.hpp"
#include "simd/policy.hpp"
#include "thread_pool.hpp"
#include "ternary_matrix.hpp"

namespace ternary::inline TERNARY_ABI {

namespace detail {

template <packing P>
const ternary_matrix_view<P>& as_view(const ternary_matrix_view<P>& w) { return w; }
template <packing P>
ternary_matrix_view<P> as_view(const ternary_matrix<P>& w) { return w.view(); }

template <class Policy, packing P>
void check_operands(const char* where, const ternary_matrix_view<P>& w, const activation_batch_view& x) {
    if (!Policy::available()) {
        fail<error>(where, "policy '", Policy::name, "' is not supported by this CPU");
    }
    if (w.cols() != x.cols()) {
        fail<shape_error>(where, "the matrix has ", w.cols(), " columns but the activations have ",
                          x.cols());
    }
}

template <class T>
void check_output(const char* where, matrix_view<T> out, std::size_t tokens, std::size_t rows) {
    if (out.rows() != tokens || out.cols() != rows) {
        fail<shape_error>(where, "output is ", out.rows(), " x ", out.cols(), ", expected ", tokens,
                          " tokens x ", rows, " rows");
    }
}

/// Products smaller than this many multiply-adds run on the calling thread alone: below it,
/// handing out work costs more than it saves.
inline constexpr std::size_t parallel_threshold = std::size_t{1} << 20;

/// Rows are handed out in multiples of this (the kernels' row tiles).
inline constexpr std::size_t row_quantum = 8;

/// Rows per task when `rows` rows of `row_bytes` bytes each are shared by `threads` threads:
/// about 8 tasks per thread, so that a thread the host deschedules holds back an eighth of its
/// share (the others take the rest), but at least 64 KiB of weights, so that claiming a task
/// and starting its stream from memory cost little against running it (2-thread streaming of
/// the 2B4T layers: 27-31 GB/s, against 22-26 with 16 tasks a thread of 32 KiB or more).
/// Always a multiple of row_quantum.
inline std::size_t rows_per_task(std::size_t rows, std::size_t row_bytes, std::size_t threads) {
    const std::size_t by_count = rows / (threads * 8);
    const std::size_t by_bytes = (std::size_t{64} << 10) / std::max<std::size_t>(row_bytes, 1);
    const std::size_t n = std::max({by_count, by_bytes, row_quantum});
    return (n + row_quantum - 1) / row_quantum * row_quantum;
}

/// The most matrices one gemm_shared call takes (its task tables live on the stack).
inline constexpr std::size_t max_shared_matrices = 8;

/// The block dot products of one matrix, into `out` (tokens x rows x blocks).
template <packing P>
struct dots_target {
    const ternary_matrix_view<P>* w;
    std::int32_t* out;
};

/// All rows' block dot products of one or more matrices that read the same activations (the
/// same packing, columns and scale blocks), on the default thread pool: the activations are
/// prepared once (each thread a slice of the tokens), then threads claim ranges of rows of any
/// of the matrices, all reading the same preparation, in one call: one wait for the slowest
/// thread, and the weights stream from memory without a stop between matrices. A row's dots
/// are the same whichever thread computes them.
template <class Policy, packing P>
void parallel_block_dots(std::span<const dots_target<P>> targets, const activation_batch_view& x,
                         std::size_t block_cols) {
    thread_pool& pool = default_pool();
    const ternary_matrix_view<P>& first = *targets.front().w;
    std::size_t macs = 0;
    for (const dots_target<P>& t : targets) macs += t.w->rows() * t.w->cols() * x.tokens();
    const std::size_t threads = macs < parallel_threshold ? 1 : pool.size();

    const std::size_t bytes = Policy::prepared_bytes(first, x, block_cols);
    std::int8_t* planes = per_thread_scratch<std::int8_t>(bytes);
    const std::size_t per_token = bytes / x.tokens();
    const std::size_t preparers = std::min(threads, x.tokens());
    pool.run(preparers, [&](std::size_t part) {
        const std::size_t begin = x.tokens() * part / preparers, end = x.tokens() * (part + 1) / preparers;
        if (begin < end) Policy::prepare(first, x.tokens(begin, end - begin), block_cols, planes + begin * per_token);
    });
    const simd::prepared_activations prepared{x, bytes == 0 ? nullptr : planes, per_token};
    if (threads == 1) {
        for (const dots_target<P>& t : targets) Policy::block_dots_prepared(*t.w, prepared, block_cols, 0, t.w->rows(), t.out);
        return;
    }

    // The tasks of all the matrices, numbered one after the other (gemm_shared checked the count).
    std::size_t grain[max_shared_matrices] = {}, first_task[max_shared_matrices + 1] = {};
    for (std::size_t m = 0; m < targets.size(); ++m) {
        const ternary_matrix_view<P>& w = *targets[m].w;
        grain[m] = rows_per_task(w.rows(), P::storage_bytes(1, w.cols()), threads);
        first_task[m + 1] = first_task[m] + (w.rows() + grain[m] - 1) / grain[m];
    }
    pool.run(first_task[targets.size()], [&](std::size_t task) {
        std::size_t m = 0;
        while (task >= first_task[m + 1]) ++m;
        const ternary_matrix_view<P>& w = *targets[m].w;
        const std::size_t begin = (task - first_task[m]) * grain[m];
        Policy::block_dots_prepared(w, prepared, block_cols, begin, std::min(w.rows(), begin + grain[m]), targets[m].out);
    });
}

/// The float epilogue shared by every policy (see the top of this file).
inline float rescale(const std::int32_t* block_dots, std::size_t blocks, const scales_view& scales,
                     std::size_t row, float activation_scale) {
    float acc = 0.0f;
    for (std::size_t b = 0; b < blocks; ++b) acc += static_cast<float>(block_dots[b]) * scales(row, b);
    return acc / activation_scale;
}

/// The same arithmetic as rescale for one-block scales (per matrix or per row), over a
/// contiguous output row, in a loop the compiler vectorizes: a division per output costs as
/// much as a tenth of a cached GEMV when done one at a time.
inline void rescale_row(float* out, const std::int32_t* dots, std::size_t rows, const scales_view& scales,
                        float activation_scale) {
    if (scales.kind() == scale_kind::per_matrix) {
        const float gamma = scales.values()[0];
        for (std::size_t i = 0; i < rows; ++i) out[i] = static_cast<float>(dots[i]) * gamma / activation_scale;
    } else {
        const float* gamma = scales.values().data();
        for (std::size_t i = 0; i < rows; ++i) out[i] = static_cast<float>(dots[i]) * gamma[i] / activation_scale;
    }
}

}  // namespace detail

/// Matrices accepted by the products: a ternary_matrix_view or an owning ternary_matrix.
template <class M>
concept ternary_matrix_like = requires(const M& m) { detail::as_view(m); };

/// Exact integer products without scales: out(t, i) = sum_j trit(i, j) * q_t[j]
/// (out is tokens x rows).
template <kernel_policy Policy = default_policy, ternary_matrix_like Matrix>
void dot_products(matrix_view<std::int32_t> out, const Matrix& matrix, const activation_batch_view& x) {
    const auto& w = detail::as_view(matrix);
    detail::check_operands<Policy>("dot_products", w, x);
    detail::check_output("dot_products", out, x.tokens(), w.rows());
    std::int32_t* dots = per_thread_scratch<std::int32_t>(x.tokens() * w.rows());
    const detail::dots_target<typename std::remove_cvref_t<decltype(w)>::packing_type> target{&w, dots};
    detail::parallel_block_dots<Policy>(std::span(&target, 1), x, w.cols());
    for (std::size_t t = 0; t < x.tokens(); ++t) {
        for (std::size_t i = 0; i < w.rows(); ++i) out(t, i) = dots[t * w.rows() + i];
    }
}

/// One product of gemm_shared: out = weights x.
template <packing P>
struct gemm_target {
    matrix_view<float> out;
    ternary_matrix_view<P> weights;
};

/// out_m = W_m X for matrices that read the same activations (a transformer block's q, k and v;
/// its gate and up): the same results as one gemm per matrix, but where the matrices have the
/// same columns and scale blocks the activations are prepared once and the rows of all of them
/// go to the thread pool in one call (one wait for the slowest thread instead of one per
/// matrix, and an unbroken stream of weights from memory). At most 8 matrices.
template <kernel_policy Policy = default_policy, packing P>
void gemm_shared(std::span<const gemm_target<P>> targets, const activation_batch_view& x) {
    constexpr std::size_t max_targets = detail::max_shared_matrices;
    if (targets.empty()) return;
    if (targets.size() > max_targets) detail::fail<shape_error>("gemm", "more than ", max_targets, " matrices at once");
    const ternary_matrix_view<P>& first = targets.front().weights;
    const std::size_t block_cols = first.scales().block_cols(first.cols());
    std::size_t dot_count = 0;
    bool alike = true;
    for (const gemm_target<P>& t : targets) {
        detail::check_operands<Policy>("gemm", t.weights, x);
        detail::check_output("gemm", t.out, x.tokens(), t.weights.rows());
        alike = alike && t.weights.scales().block_cols(t.weights.cols()) == block_cols;
        dot_count += x.tokens() * t.weights.rows() * t.weights.scales().blocks_per_row(t.weights.cols());
    }
    if (!alike) {
        for (const gemm_target<P>& t : targets) gemm_shared<Policy>(std::span(&t, 1), x);
        return;
    }
    std::int32_t* dots = per_thread_scratch<std::int32_t>(dot_count);
    detail::dots_target<P> dot_targets[max_targets] = {};
    for (std::size_t m = 0, offset = 0; m < targets.size(); ++m) {
        const ternary_matrix_view<P>& w = targets[m].weights;
        dot_targets[m] = {&w, dots + offset};
        offset += x.tokens() * w.rows() * w.scales().blocks_per_row(w.cols());
    }
    detail::parallel_block_dots<Policy>(std::span<const detail::dots_target<P>>(dot_targets, targets.size()), x, block_cols);

    for (std::size_t m = 0; m < targets.size(); ++m) {
        const ternary_matrix_view<P>& w = targets[m].weights;
        const matrix_view<float> out = targets[m].out;
        const std::size_t blocks = w.scales().blocks_per_row(w.cols());
        for (std::size_t t = 0; t < x.tokens(); ++t) {
            const std::int32_t* token_dots = dot_targets[m].out + t * w.rows() * blocks;
            if (blocks == 1 && out.stride(1) == 1) {
                detail::rescale_row(&out(t, 0), token_dots, w.rows(), w.scales(), x.scale(t));
                continue;
            }
            for (std::size_t i = 0; i < w.rows(); ++i) {
                out(t, i) = detail::rescale(token_dots + i * blocks, blocks, w.scales(), i, x.scale(t));
            }
        }
    }
}

/// Y = W X for a batch: out(t, i) is output i of token t (out is tokens x rows, any layout).
template <kernel_policy Policy = default_policy, ternary_matrix_like Matrix>
void gemm(matrix_view<float> out, const Matrix& matrix, const activation_batch_view& x) {
    const auto& w = detail::as_view(matrix);
    using P = typename std::remove_cvref_t<decltype(w)>::packing_type;
    const gemm_target<P> target{out, w};
    gemm_shared<Policy>(std::span(&target, 1), x);
}

/// y = W x for one token (x has exactly one token; out has rows() elements).
template <kernel_policy Policy = default_policy, ternary_matrix_like Matrix>
void gemv(std::span<float> out, const Matrix& matrix, const activation_batch_view& x) {
    if (x.tokens() != 1) {
        detail::fail<shape_error>("gemv", "needs one token, got ", x.tokens(), " (use gemm)");
    }
    gemm<Policy>(matrix_view<float>::row_major(out.data(), 1, out.size()), matrix, x);
}

/// y = W x, returned.
template <kernel_policy Policy = default_policy, ternary_matrix_like Matrix>
std::vector<float> gemv(const Matrix& matrix, const activation_batch_view& x) {
    std::vector<float> out(detail::as_view(matrix).rows());
    gemv<Policy>(std::span<float>(out), matrix, x);
    return out;
}

}  // namespace ternary::inline TERNARY_ABI
