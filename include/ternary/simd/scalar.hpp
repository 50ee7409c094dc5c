#pragma once
// The scalar policy: plain loops, obviously right. It is the oracle every other policy is
// tested against, so it stays simple rather than fast.

#include "../config.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "../activations.hpp"
#include "../pack/packing.hpp"
#include "../ternary_matrix.hpp"
#include "prepared.hpp"

namespace ternary::inline TERNARY_ABI::simd {

struct scalar : kernel_policy_base<scalar> {
    static constexpr std::string_view name = "scalar";
    static bool available() noexcept { return true; }

    template <packing P>
    static std::size_t prepared_bytes(const ternary_matrix_view<P>&, const activation_batch_view&, std::size_t) {
        return 0;
    }
    template <packing P>
    static prepared_activations prepare(const ternary_matrix_view<P>&, const activation_batch_view& x, std::size_t,
                                        std::int8_t*) {
        return {x};
    }

    /// Unpacks each row and multiplies it out, block by block (see kernel_policy_base).
    template <packing P>
    static void block_dots_prepared(const ternary_matrix_view<P>& w, const prepared_activations& prepared,
                                    std::size_t block_cols, std::size_t row_begin, std::size_t row_end,
                                    std::int32_t* out) {
        const activation_batch_view& x = prepared.x;
        const std::size_t cols = w.cols();
        const std::size_t blocks = (cols + block_cols - 1) / block_cols;
        std::vector<std::int8_t> trits(cols);
        for (std::size_t i = row_begin; i < row_end; ++i) {
            w.unpack_row(i, trits);
            for (std::size_t t = 0; t < x.tokens(); ++t) {
                const std::int8_t* q = x.values(t).data();
                for (std::size_t b = 0; b < blocks; ++b) {
                    const std::size_t end = std::min(cols, (b + 1) * block_cols);
                    std::int32_t dot = 0;
                    for (std::size_t j = b * block_cols; j < end; ++j) dot += trits[j] * q[j];
                    out[(t * w.rows() + i) * blocks + b] = dot;
                }
            }
        }
    }
};

}  // namespace ternary::inline TERNARY_ABI::simd
