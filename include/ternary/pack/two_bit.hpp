#pragma once
// The 2-bit packing: 4 weights per byte, 2 bits each.

#include "../config.hpp"

#include <cstddef>
#include <cstring>
#include <cstdint>
#include <string_view>

#include "packing.hpp"

namespace ternary::inline TERNARY_ABI {

/// Each row occupies ceil(cols / 4) bytes. Weight k of a row sits in byte k / 4, bits
/// [2(k%4)+1 : 2(k%4)] (the first weight in the low bits), as the code c = w + 1:
/// 0 -> -1, 1 -> 0, 2 -> +1 (the codes of I2_S, TQ2_0 and the HF packing; maddubs/dpbusd
/// need unsigned codes). Code 3 is invalid. A row whose length is not a multiple of 4 is padded
/// with code 1 (weight 0), so a kernel may process whole bytes.
struct two_bit : row_wise_packing<two_bit> {
    static constexpr std::string_view name = "two_bit";
    static constexpr std::size_t weights_per_byte = 4;

    static constexpr std::size_t row_bytes(std::size_t cols) {
        return (cols + weights_per_byte - 1) / weights_per_byte;
    }

    static void encode_row(const std::int8_t* trits, std::size_t cols, std::uint8_t* out) {
        for (std::size_t b = 0; b < row_bytes(cols); ++b) {
            unsigned byte = 0;
            for (std::size_t k = 0; k < weights_per_byte; ++k) {
                const std::size_t col = b * weights_per_byte + k;
                const unsigned code = col < cols ? static_cast<unsigned>(trits[col] + 1) : 1u;
                byte |= code << (2 * k);
            }
            out[b] = static_cast<std::uint8_t>(byte);
        }
    }

    static void decode_row(const std::uint8_t* in, std::size_t cols, std::int8_t* out) {
        for (std::size_t col = 0; col < cols; ++col) {
            const unsigned code = (in[col / weights_per_byte] >> (2 * (col % weights_per_byte))) & 3u;
            out[col] = static_cast<std::int8_t>(static_cast<int>(code) - 1);
        }
    }

    static std::size_t first_invalid_byte(const std::uint8_t* in, std::size_t cols) {
        // Whole bytes 8 at a time: a pair of bits is code 3 iff both its bits are set, so
        // w & (w >> 1) has a bit at an even position (mask 0x55..) exactly there. The exact
        // byte (and the padding rules) come from the byte loop below, from the first bad word on.
        std::size_t b = 0;
        for (const std::size_t whole = cols / weights_per_byte; b + 8 <= whole; b += 8) {
            std::uint64_t w;
            std::memcpy(&w, in + b, 8);
            if ((w & (w >> 1) & 0x5555555555555555ull) != 0) break;
        }
        for (; b < row_bytes(cols); ++b) {
            for (std::size_t k = 0; k < weights_per_byte; ++k) {
                const unsigned code = (in[b] >> (2 * k)) & 3u;
                const bool padding = b * weights_per_byte + k >= cols;
                if (code == 3 || (padding && code != 1)) return b;
            }
        }
        return row_bytes(cols);
    }
};

}  // namespace ternary::inline TERNARY_ABI
