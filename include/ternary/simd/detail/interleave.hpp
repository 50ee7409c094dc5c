#pragma once
// Activation planes: the order in which the SIMD kernels read activations.
//
// In a packing with G weights per byte (two_bit 4, base3 5), a vector of W packed bytes holds
// G*W consecutive weights, byte j holding weights G*j .. G*j+G-1. The kernels decode such a
// vector into G vectors of codes, the p-th holding weight G*j+p in lane j. To multiply them
// lane by lane, the activations of each chunk of G*W weights are reordered once per call
// (K bytes per token, against M*K/G weight bytes) into G planes:
//   planes[c*G*W + p*W + j] = q[c*G*W + G*j + p]       (0 past the end of the row)
// A row's planes cover all its bytes, padding included (base3_window pads rows to 64 bytes).

#include <cstddef>
#include <cstdint>

#include "../../aligned_buffer.hpp"
#include "../../config.hpp"

namespace ternary::inline TERNARY_ABI::simd::detail {

/// Bytes of one token's planes for rows of row_bytes bytes: the row's G * row_bytes weight
/// places rounded up to whole chunks of G*W.
constexpr std::size_t planes_length(std::size_t row_bytes, std::size_t g, std::size_t w) {
    return round_up(row_bytes * g, g * w);
}

/// One token's K = cols activations as planes for rows of row_bytes bytes.
inline void interleave_token(const std::int8_t* q, std::size_t cols, std::size_t row_bytes, std::size_t g,
                             std::size_t w, std::int8_t* planes) {
    const std::size_t chunk = g * w;
    const std::size_t length = planes_length(row_bytes, g, w);
    for (std::size_t base = 0; base < length; base += chunk) {
        for (std::size_t p = 0; p < g; ++p) {
            for (std::size_t j = 0; j < w; ++j) {
                const std::size_t k = base + g * j + p;
                planes[base + p * w + j] = k < cols ? q[k] : std::int8_t{0};
            }
        }
    }
}

}  // namespace ternary::inline TERNARY_ABI::simd::detail
