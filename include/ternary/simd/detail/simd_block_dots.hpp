#pragma once
// block_dots for the SIMD policies, shared: reorder the activations into planes, run the
// policy's kernel on the canonical packings, subtract each token's sum of q.

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../../activations.hpp"
#include "../../config.hpp"
#include "../../pack/base3.hpp"
#include "../../pack/two_bit.hpp"
#include "../../ternary_matrix.hpp"
#include "../scalar.hpp"
#include "interleave.hpp"

namespace ternary::inline TERNARY_ABI::simd::detail {

template <class P>
inline constexpr bool has_simd_kernel = std::is_same_v<P, two_bit> || std::is_same_v<P, base3>;

/// Kernel: a policy's `entry` type (see dot_kernel.inl): `width` and `run<G>(...)`.
template <class Kernel, packing P>
void simd_block_dots(const ternary_matrix_view<P>& w, const activation_batch_view& x, std::size_t block_cols,
                     std::size_t row_begin, std::size_t row_end, std::int32_t* out) {
    if constexpr (!has_simd_kernel<P>) {
        scalar::block_dots(w, x, block_cols, row_begin, row_end, out);
    } else {
        // Scales per block of columns (imported formats) are rare: the oracle serves them.
        if (block_cols != w.cols()) {
            scalar::block_dots(w, x, block_cols, row_begin, row_end, out);
            return;
        }
        constexpr std::size_t g = P::weights_per_byte;
        const std::size_t cols = w.cols();
        const std::size_t stride = planes_length(cols, g, Kernel::width);
        std::int8_t* planes = scratch(stride * x.tokens());
        for (std::size_t t = 0; t < x.tokens(); ++t) {
            interleave_token(x.values(t).data(), cols, g, Kernel::width, planes + t * stride);
        }
        Kernel::template run<g>(w.bytes().data(), P::row_bytes(cols), row_begin, row_end, planes,
                                                  stride, x.tokens(), out, w.rows());
        // sum (w + 1) q - sum q = sum w q (codes are w + 1).
        for (std::size_t t = 0; t < x.tokens(); ++t) {
            for (std::size_t i = row_begin; i < row_end; ++i) out[t * w.rows() + i] -= x.sum(t);
        }
    }
}

/// What a SIMD policy inherits: block_dots through its kernel's entry point.
template <class Kernel>
struct simd_policy {
    template <packing P>
    static void block_dots(const ternary_matrix_view<P>& w, const activation_batch_view& x, std::size_t block_cols,
                           std::size_t row_begin, std::size_t row_end, std::int32_t* out) {
        simd_block_dots<Kernel>(w, x, block_cols, row_begin, row_end, out);
    }
};

}  // namespace ternary::inline TERNARY_ABI::simd::detail
