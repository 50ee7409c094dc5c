#pragma once
// The base-3 packing: 5 weights per byte, 1.6 bits each (TQ1_0's encoding, formats.md 4.5).

#include "../config.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "five_trits.hpp"

namespace ternary::inline TERNARY_ABI {

namespace detail {

/// The byte that stores the base-3 number n (0 <= n < 243): ceil(n * 256 / 243).
constexpr std::uint8_t base3_encode(unsigned n) { return static_cast<std::uint8_t>((n * 256 + 242) / 243); }

/// base3_is_encoding[b]: whether byte b is one of the 243 encodings.
inline constexpr std::array<bool, 256> base3_is_encoding = [] {
    std::array<bool, 256> table{};
    for (unsigned n = 0; n < 243; ++n) table[base3_encode(n)] = true;
    return table;
}();

}  // namespace detail

/// Each row occupies ceil(cols / 5) bytes; byte b holds weights 5b .. 5b+4 as trits t = w + 1.
/// The five trits form n = sum_k t_k * 3^(4-k) (first weight most significant, 0 <= n <= 242),
/// stored as the 8-bit fixed-point fraction ceil(n * 256 / 243). Trit k comes back as
/// ((byte * 3^k) mod 256 * 3) >> 8: multiplying by 3^k shifts the base-3 digits left, so the
/// wanted digit becomes the top one, and * 3 >> 8 reads it. Multiplies and shifts only, so it
/// vectorizes. Only 243 of the 256 byte values are encodings; the other 13 are invalid.
/// A row whose length is not a multiple of 5 is padded with trit 1 (weight 0).
struct base3 : five_trit_packing<base3> {
    static constexpr std::string_view name = "base3";

    static constexpr std::uint8_t encode(unsigned n) { return detail::base3_encode(n); }

    /// Whether byte b is one of the 243 encodings.
    static constexpr bool is_encoding(std::uint8_t b) { return detail::base3_is_encoding[b]; }

    /// Trit k (0 = first weight) of a byte, in {0, 1, 2}.
    static constexpr unsigned trit(std::uint8_t byte, std::size_t k) {
        constexpr std::array<unsigned, weights_per_byte> powers{1, 3, 9, 27, 81};
        const unsigned shifted = (byte * powers[k]) & 0xFFu;
        return (shifted * 3) >> 8;
    }
};

}  // namespace ternary::inline TERNARY_ABI
