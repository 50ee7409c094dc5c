#pragma once
// Rows of one row-wise packing rewritten in another, without a matrix of trits in between:
// what repack<To>(matrix) runs on each thread's rows. two_bit -> base3 or base3_window (the
// model's layers loaded from I2_S, TQ2_0 or TQ1_0 files and run in 1.6 bits) goes by a table of
// every five 2-bit codes, base3 <-> base3_window by a table of the 256 bytes; any other pair
// decodes a row to trits and encodes it again.

#include "../config.hpp"

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "base3.hpp"
#include "base3_window.hpp"
#include "five_trits.hpp"
#include "packing.hpp"
#include "two_bit.hpp"

namespace ternary::inline TERNARY_ABI {

/// Whether P stores each row on its own (row_wise_packing), so rows can be converted one by one.
template <class P>
concept row_wise = std::derived_from<P, row_wise_packing<P>>;

namespace detail {

/// A packing of five trits per byte in a byte code (base3, base3_window: five_trits.hpp).
template <class P>
concept five_trit_byte_code = requires { P::row_align; } && std::derived_from<P, five_trit_packing<P, P::row_align>>;

/// A byte To's validation refuses: what the tables below give for input that holds no weights
/// (validated input never does, so this only makes a bad input fail loudly later).
template <five_trit_byte_code To>
constexpr std::uint8_t not_an_encoding() {
    unsigned b = 0;
    while (To::is_encoding(static_cast<std::uint8_t>(b))) ++b;
    return static_cast<std::uint8_t>(b);
}

/// five_trits_of_two_bit_codes<To>[q]: the To byte of five weights whose two_bit codes are the
/// 10 bits of q (first weight lowest, as two_bit stores them). A quintuple holding code 3 maps
/// to a byte To's validation refuses.
template <five_trit_byte_code To>
inline constexpr std::array<std::uint8_t, 1024> five_trits_of_two_bit_codes = [] {
    std::array<std::uint8_t, 1024> table{};
    for (unsigned q = 0; q < 1024; ++q) {
        unsigned n = 0;
        bool valid = true;
        for (unsigned k = 0; k < 5; ++k) {
            const unsigned code = (q >> (2 * k)) & 3u;
            valid = valid && code != 3;
            n = n * 3 + code;
        }
        table[q] = valid ? To::encode(n) : not_an_encoding<To>();
    }
    return table;
}();

/// five_trit_byte_map<To, From>[b]: the To byte of From byte b's five trits (a byte From refuses
/// maps to one To refuses).
template <five_trit_byte_code To, five_trit_byte_code From>
inline constexpr std::array<std::uint8_t, 256> five_trit_byte_map = [] {
    std::array<std::uint8_t, 256> table{};
    for (unsigned b = 0; b < 256; ++b) {
        const auto byte = static_cast<std::uint8_t>(b);
        unsigned n = 0;
        for (std::size_t k = 0; k < 5; ++k) n = n * 3 + From::trit(byte, k);
        table[b] = From::is_encoding(byte) ? To::encode(n) : not_an_encoding<To>();
    }
    return table;
}();

/// One two_bit row to a five-trit code: every 5 input bytes (20 weights) are exactly 4 output
/// bytes, each a table lookup of 10 bits; the last weights go through trits.
template <five_trit_byte_code To>
void two_bit_row_to_five_trits(const std::uint8_t* in, std::size_t cols, std::uint8_t* out) {
    const auto& table = five_trits_of_two_bit_codes<To>;
    const std::size_t groups = cols / 20;
    std::size_t g = 0;
    // 8-byte loads (of which 5 are used) while 8 bytes remain in the row, then 5-byte copies.
    for (const std::size_t wide = (two_bit::row_bytes(cols) >= 8 ? (two_bit::row_bytes(cols) - 8) / 5 + 1 : 0);
         g < std::min(groups, wide); ++g) {
        std::uint64_t bits;
        std::memcpy(&bits, in + 5 * g, 8);  // little-endian: weight 4j + k at bits 8j + 2k
        for (std::size_t j = 0; j < 4; ++j) out[4 * g + j] = table[(bits >> (10 * j)) & 1023u];
    }
    for (; g < groups; ++g) {
        std::uint64_t bits = 0;
        std::memcpy(&bits, in + 5 * g, 5);
        for (std::size_t j = 0; j < 4; ++j) out[4 * g + j] = table[(bits >> (10 * j)) & 1023u];
    }
    // The last weights (fewer than 20: the tail starts on a two_bit byte, 5 bytes a group) and
    // the row's padding bytes, through trits.
    std::int8_t tail[20];
    const std::size_t rest = cols - 20 * groups;
    two_bit::decode_row(in + 5 * groups, rest, tail);
    To::encode_bytes(tail, rest, 0, To::row_bytes(cols) - 4 * groups, out + 4 * groups);
}

}  // namespace detail

/// Rows [begin, end) of a rows x cols From-packed matrix (`in`, whole matrix) into the To-packed
/// matrix `out` (whole matrix): the same trits. Both packings row-wise; `in` validated.
template <row_wise To, row_wise From>
void repack_rows(const std::uint8_t* in, std::size_t cols, std::size_t begin, std::size_t end, std::uint8_t* out) {
    const std::size_t in_bytes = From::row_bytes(cols), out_bytes = To::row_bytes(cols);
    if constexpr (std::is_same_v<From, To>) {
        std::memcpy(out + begin * out_bytes, in + begin * in_bytes, (end - begin) * in_bytes);
    } else if constexpr (std::is_same_v<From, two_bit> && detail::five_trit_byte_code<To>) {
        for (std::size_t i = begin; i < end; ++i) detail::two_bit_row_to_five_trits<To>(in + i * in_bytes, cols, out + i * out_bytes);
    } else if constexpr (detail::five_trit_byte_code<From> && detail::five_trit_byte_code<To>) {
        // The bytes of weights, each mapped (padding trits are 1 in both, so they stay 1), then
        // To's padding bytes, if it pads rows further (all trits 1: the base-3 number 121).
        const auto& map = detail::five_trit_byte_map<To, From>;
        const std::size_t weight_bytes = To::weight_bytes(cols);
        const std::uint8_t padding = To::encode(121);
        for (std::size_t i = begin; i < end; ++i) {
            const std::uint8_t* row_in = in + i * in_bytes;
            std::uint8_t* row_out = out + i * out_bytes;
            for (std::size_t b = 0; b < weight_bytes; ++b) row_out[b] = map[row_in[b]];
            std::fill(row_out + weight_bytes, row_out + out_bytes, padding);
        }
    } else {
        std::vector<std::int8_t> trits(cols);
        for (std::size_t i = begin; i < end; ++i) {
            From::decode_row(in + i * in_bytes, cols, trits.data());
            To::encode_row(trits.data(), cols, out + i * out_bytes);
        }
    }
}

}  // namespace ternary::inline TERNARY_ABI
