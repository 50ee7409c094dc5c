#pragma once
// What the two 1.6-bit packings (base3, base3_window) share: five weights per byte in a byte
// code, rows packed one after another. Only the code and the row padding differ.

#include "../config.hpp"

#include <cstddef>
#include <cstdint>

#include "packing.hpp"

namespace ternary::inline TERNARY_ABI {

/// A row-wise packing of five weights per byte; byte b of a row holds weights 5b .. 5b+4. A row
/// has ceil(cols / 5) bytes of weights, rounded up to a multiple of RowAlign bytes. Code
/// provides the byte code:
///   Code::encode(n)       the byte of the five trits t = w + 1 whose base-3 number (first
///                         weight most significant) is n < 243;
///   Code::trit(byte, k)   trit k (0 = first weight), in {0, 1, 2} for valid bytes;
///   Code::is_encoding(b)  whether byte b decodes to five valid trits.
/// Weights past cols (the rest of the last byte, and the bytes up to RowAlign) are padding:
/// trit 1, weight 0, so a kernel may process a row's bytes whole.
template <class Code, std::size_t RowAlign = 1>
struct five_trit_packing : row_wise_packing<Code> {
    static constexpr std::size_t weights_per_byte = 5;
    static constexpr std::size_t row_align = RowAlign;

    /// Bytes that hold weights of a row of cols weights (the rest of a row is padding).
    static constexpr std::size_t weight_bytes(std::size_t cols) {
        return (cols + weights_per_byte - 1) / weights_per_byte;
    }

    static constexpr std::size_t row_bytes(std::size_t cols) {
        return (weight_bytes(cols) + RowAlign - 1) / RowAlign * RowAlign;
    }

    /// Bytes [first_byte, last_byte) of a row of cols weights (padding past cols).
    static void encode_bytes(const std::int8_t* trits, std::size_t cols, std::size_t first_byte,
                             std::size_t last_byte, std::uint8_t* out) {
        for (std::size_t b = first_byte; b < last_byte; ++b) {
            unsigned n = 0;
            for (std::size_t k = 0; k < weights_per_byte; ++k) {
                const std::size_t col = b * weights_per_byte + k;
                n = n * 3 + (col < cols ? static_cast<unsigned>(trits[col] + 1) : 1u);
            }
            out[b] = Code::encode(n);
        }
    }

    static void encode_row(const std::int8_t* trits, std::size_t cols, std::uint8_t* out) {
        encode_bytes(trits, cols, 0, row_bytes(cols), out);
    }

    static void decode_row(const std::uint8_t* in, std::size_t cols, std::int8_t* out) {
        for (std::size_t col = 0; col < cols; ++col) {
            const unsigned t = Code::trit(in[col / weights_per_byte], col % weights_per_byte);
            out[col] = static_cast<std::int8_t>(static_cast<int>(t) - 1);
        }
    }

    static std::size_t first_invalid_byte(const std::uint8_t* in, std::size_t cols) {
        const std::size_t bytes = row_bytes(cols);
        for (std::size_t b = 0; b < bytes; ++b) {
            if (!Code::is_encoding(in[b])) return b;
        }
        // Padding (weights past cols) must be trit 1: from the byte holding weight cols on.
        for (std::size_t b = cols / weights_per_byte; b < bytes; ++b) {
            for (std::size_t k = 0; k < weights_per_byte; ++k) {
                if (b * weights_per_byte + k >= cols && Code::trit(in[b], k) != 1) return b;
            }
        }
        return bytes;
    }
};

}  // namespace ternary::inline TERNARY_ABI
