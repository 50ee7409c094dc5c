#pragma once
// The kernel policy functions shared by the SIMD policies: reorder the activations into planes,
// run the policy's kernel on the canonical packings, subtract each token's sum of q.

#include <cstddef>
#include <cstdint>

#include "../../activations.hpp"
#include "../../config.hpp"
#include "../../pack/base3.hpp"
#include "../../pack/base3_window.hpp"
#include "../../pack/two_bit.hpp"
#include "../../ternary_matrix.hpp"
#include "../scalar.hpp"
#include "../prepared.hpp"
#include "interleave.hpp"

namespace ternary::inline TERNARY_ABI::simd::detail {

/// What a SIMD policy inherits: the kernel policy functions around its kernel's entry point
/// (Kernel: `width`, `serves<P>` and `run<P>(...)`, see dot_kernel.inl).
template <class Kernel>
struct simd_policy : kernel_policy_base<simd_policy<Kernel>> {
    /// Whether this policy has a kernel of its own for packing P (else it runs the scalar oracle).
    template <packing P>
    static constexpr bool has_kernel = Kernel::template serves<P>;

    /// Whether the kernel serves this product: a packing it decodes, one scale block per row.
    /// (Scales per block of columns, from imported formats, are rare: the oracle serves them.)
    template <packing P>
    static bool kernel_serves(const ternary_matrix_view<P>& w, std::size_t block_cols) {
        if constexpr (has_kernel<P>) {
            return block_cols == w.cols();
        } else {
            return false;
        }
    }

    template <packing P>
    static std::size_t prepared_bytes(const ternary_matrix_view<P>& w, const activation_batch_view& x,
                                      std::size_t block_cols) {
        if (!kernel_serves(w, block_cols)) return 0;
        return planes_length(P::row_bytes(w.cols()), P::weights_per_byte, Kernel::width) * x.tokens();
    }

    template <packing P>
    static prepared_activations prepare(const ternary_matrix_view<P>& w, const activation_batch_view& x,
                                        std::size_t block_cols, std::int8_t* scratch) {
        if (!kernel_serves(w, block_cols)) return {x};
        const std::size_t row_bytes = P::row_bytes(w.cols());
        const std::size_t stride = planes_length(row_bytes, P::weights_per_byte, Kernel::width);
        for (std::size_t t = 0; t < x.tokens(); ++t) {
            interleave_token(x.values(t).data(), w.cols(), row_bytes, P::weights_per_byte, Kernel::width,
                             scratch + t * stride);
        }
        return {x, scratch, stride};
    }

    template <packing P>
    static void block_dots_prepared(const ternary_matrix_view<P>& w, const prepared_activations& prepared,
                                    std::size_t block_cols, std::size_t row_begin, std::size_t row_end,
                                    std::int32_t* out) {
        if constexpr (has_kernel<P>) {
            if (prepared.planes != nullptr) {
                Kernel::template run<P>(w.bytes().data(), P::row_bytes(w.cols()), row_begin, row_end, prepared.planes,
                                        prepared.plane_stride, prepared.x.tokens(), out, w.rows());
                // sum (w + 1) q - sum q = sum w q (codes are w + 1).
                for (std::size_t t = 0; t < prepared.x.tokens(); ++t) {
                    for (std::size_t i = row_begin; i < row_end; ++i) out[t * w.rows() + i] -= prepared.x.sum(t);
                }
                return;
            }
        }
        scalar::block_dots_prepared(w, prepared, block_cols, row_begin, row_end, out);
    }
};

}  // namespace ternary::inline TERNARY_ABI::simd::detail
