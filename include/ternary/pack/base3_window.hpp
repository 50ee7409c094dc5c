#pragma once
// The window packing: 5 weights per byte like base3 (1.6 bits each), in a byte code of our own
// that decodes by two 64-entry table lookups instead of arithmetic (docs/packings.md).

#include "../config.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "five_trits.hpp"

namespace ternary::inline TERNARY_ABI {

namespace detail {

// The two tables of the window code, 64 entries each: a byte v decodes through
// window_low[v & 63] (its bits 0-5) and window_high[v >> 2] (its bits 2-7). They were found by
// simulated annealing over their 1024 bits, scoring the number of distinct five-trit patterns
// the 256 bytes decode to, until all 243 were there (docs/performance.md, "Which packing").
// 64 entries is what one AVX-512 VBMI vpermb (or one NEON vqtbl4q_u8) looks up.
struct alignas(64) window_table {
    std::uint8_t bytes[64];
};

inline constexpr window_table window_low{{
     90, 205, 202, 138,  50,   9, 114,   5, 241,  85, 177, 113,  16, 209, 208, 221,
     66,  78, 129, 170,  88, 156, 152,  92,  93,  29, 221,  81,  88,  72, 120, 122,
     38,  25,  21,  42,  29,  69, 221,  93, 230,  84,  68, 100, 124, 208, 242, 192,
    254, 238,  50,  34, 172, 161, 100,  80,  98, 110, 114, 126, 137,  40,   8,  24}};
inline constexpr window_table window_high{{
    203,  80, 211, 184,  11,  12,  27,  30, 115,  93,  68, 214, 170,   5, 251,  13,
    218,  35, 240, 153, 228,  56, 125,  18,  15,  77,  70, 218, 120, 245, 119, 141,
    200,  83, 208, 152,  40, 221, 117,  92,   0,  76, 198,  86, 184,  53, 102,   0,
    202,  32, 243,  72,  43, 216,  69,  26, 143,  79,  69,  90, 122, 197, 120,   1}};

/// The five 2-bit fields of byte v in the window code, packed: code k (of weight k) in bits
/// 2k+1..2k. Field 0 is window_low's low two bits; fields 1-4 are the four fields of
/// f = window_low[v & 63] ^ window_high[v >> 2].
constexpr unsigned window_fields(unsigned v) {
    const unsigned low = window_low.bytes[v & 63u], f = low ^ window_high.bytes[v >> 2];
    return (low & 3u) | (f << 2);
}

/// Whether every field of `fields` (five 2-bit fields) is a code 0, 1 or 2.
constexpr bool all_codes_valid(unsigned fields) {
    for (unsigned k = 0; k < 5; ++k) {
        if (((fields >> (2 * k)) & 3u) == 3u) return false;
    }
    return true;
}

/// window_is_encoding[v]: whether byte v decodes to five valid codes (250 of the 256 bytes do).
inline constexpr std::array<bool, 256> window_is_encoding = [] {
    std::array<bool, 256> table{};
    for (unsigned v = 0; v < 256; ++v) table[v] = all_codes_valid(window_fields(v));
    return table;
}();

/// window_byte_of[n]: the smallest byte whose codes, read as a base-3 number (first weight most
/// significant), are n. Every n < 243 has one: checked below, at compile time.
inline constexpr std::array<std::uint8_t, 243> window_byte_of = [] {
    std::array<std::uint8_t, 243> table{};
    std::array<bool, 243> found{};
    for (unsigned v = 256; v-- > 0;) {
        if (!window_is_encoding[v]) continue;
        unsigned n = 0;
        for (unsigned k = 0; k < 5; ++k) n = n * 3 + ((window_fields(v) >> (2 * k)) & 3u);
        table[n] = static_cast<std::uint8_t>(v);
        found[n] = true;
    }
    for (bool f : found) {
        if (!f) throw "the window code misses a five-trit pattern";  // not a constant expression: a compile error
    }
    return table;
}();

}  // namespace detail

/// Byte b of a row holds weights 5b .. 5b+4; rows are padded with code 1 (weight 0) to a
/// multiple of 64 bytes, ceil(ceil(cols / 5) / 64) * 64 bytes, so that every row starts on a
/// cache line of the (64-byte aligned) matrix: a 64-byte load that straddles two lines costs
/// two. A 2560 x 6912 GEMV on one thread ran 10-13% faster from cache and 13-26% faster from
/// memory with its rows padded from 1383 to 1408 bytes (0.5% more bytes for 2B4T's layers).
///
/// A byte's codes c = w + 1 come from two lookups: low = window_low[byte & 63],
/// f = low ^ window_high[byte >> 2]; code 0 = low & 3, code 1 + k = (f >> 2k) & 3. Of the 256
/// byte values 250 decode to valid codes (all 243 patterns; 7 patterns have two bytes, both
/// accepted) and 6 hold a code 3: invalid.
///
/// Why not base3's own code (TQ1_0's)? Reading a trit from it takes a multiply or a 256-entry
/// lookup; here, one 64-byte vector decodes with two vpermb, a shift, an XOR and five ANDs
/// (avx512vbmi): 1.2-1.3x faster than base3's lookup decode (docs/performance.md).
struct base3_window : five_trit_packing<base3_window, 64> {
    static constexpr std::string_view name = "base3_window";

    /// The byte of the five codes whose base-3 number (first most significant) is n < 243.
    static constexpr std::uint8_t encode(unsigned n) { return detail::window_byte_of[n]; }

    /// Whether byte b decodes to five valid codes.
    static constexpr bool is_encoding(std::uint8_t b) { return detail::window_is_encoding[b]; }

    /// Trit k (code w + 1 of weight k, 0 = first weight) of a byte, in {0, 1, 2} for valid bytes.
    static constexpr unsigned trit(std::uint8_t byte, std::size_t k) {
        return (detail::window_fields(byte) >> (2 * k)) & 3u;
    }
};

}  // namespace ternary::inline TERNARY_ABI
