#pragma once
// The shape every kernel policy has.
//
// A product first prepares the activations once (the SIMD policies reorder them into the planes
// their kernel reads, detail/interleave.hpp; the threads each prepare a slice of the tokens),
// then computes exact int32 dot products for ranges of rows, possibly on several threads at
// once, all reading the same prepared activations. A policy provides:
//   name, available()
//   prepared_bytes<P>(w, x, block_cols)          scratch the preparation needs (0: none),
//                                                the same number of bytes for every token
//   prepare<P>(w, x, block_cols, scratch)        -> prepared_activations, token t's planes at
//                                                scratch + t * prepared_bytes / tokens, so a
//                                                batch may be prepared in slices of tokens
//   block_dots_prepared<P>(w, prepared, block_cols, row_begin, row_end, out)
// and inherits block_dots (prepare and compute in one call) from kernel_policy_base.

#include <cstddef>
#include <cstdint>

#include "../activations.hpp"
#include "../aligned_buffer.hpp"
#include "../config.hpp"
#include "../pack/packing.hpp"
#include "../ternary_matrix.hpp"

namespace ternary::inline TERNARY_ABI::simd {

/// Activations as a policy's kernel reads them.
struct prepared_activations {
    activation_batch_view x;              // the tokens (values, scales, sums)
    const std::int8_t* planes = nullptr;  // the policy's own layout, or null: it reads x
    std::size_t plane_stride = 0;         // bytes from one token's planes to the next
};

template <class Policy>
struct kernel_policy_base {
    /// For every token t of x, every row i in [row_begin, row_end) of w and every block b of
    /// block_cols columns (the last block of a row may be shorter):
    ///   out[(t * w.rows() + i) * blocks + b] = sum over j in block b of trit(i, j) * q_t[j]
    /// exactly, in int32 (no overflow: see max_cols), where blocks = ceil(cols / block_cols).
    template <packing P>
    static void block_dots(const ternary_matrix_view<P>& w, const activation_batch_view& x, std::size_t block_cols,
                           std::size_t row_begin, std::size_t row_end, std::int32_t* out) {
        std::int8_t* scratch = per_thread_scratch<std::int8_t>(Policy::prepared_bytes(w, x, block_cols));
        Policy::block_dots_prepared(w, Policy::prepare(w, x, block_cols, scratch), block_cols, row_begin, row_end, out);
    }
};

}  // namespace ternary::inline TERNARY_ABI::simd
