#pragma once
// What a packing is: a lossless byte layout of a rows x cols matrix of trits in {-1, 0, +1}.
//
// A packing is a traits type (no state). Matrix-level functions, so that layouts which
// interleave several rows (the SIMD packings) are packings too:
//   P::name                                   a short identifier ("two_bit")
//   P::storage_bytes(rows, cols)              bytes of a packed matrix
//   P::pack(trits, rows, cols, out)           trits: rows*cols row-major values in {-1,0,+1}
//   P::unpack_row(data, rows, cols, i, out)   writes row i's cols trits to out
//   P::validate(data, rows, cols)             throws value_error if any byte encodes no trits,
//                                             or if padding is not zero weights
// Kernels may rely on validated data: codes are legal and padding weights are 0.

#include "../config.hpp"

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../error.hpp"

namespace ternary::inline TERNARY_ABI {

template <class P>
concept packing = requires(const std::int8_t* trits, std::int8_t* trits_out, const std::uint8_t* data,
                           std::uint8_t* out, std::size_t n) {
    { P::name } -> std::convertible_to<std::string_view>;
    { P::storage_bytes(n, n) } -> std::same_as<std::size_t>;
    P::pack(trits, n, n, out);
    P::unpack_row(data, n, n, n, trits_out);
    P::validate(data, n, n);
};

/// Implements the matrix-level packing functions for layouts in which every row is packed on
/// its own into Row::row_bytes(cols) bytes and rows follow each other. Row provides:
///   row_bytes(cols), encode_row(trits, cols, out), decode_row(in, cols, out),
///   first_invalid_byte(in, cols) -> index of the first bad byte of a row, or row_bytes(cols).
template <class Row>
struct row_wise_packing {
    static constexpr std::size_t storage_bytes(std::size_t rows, std::size_t cols) {
        return rows * Row::row_bytes(cols);
    }

    static void pack(const std::int8_t* trits, std::size_t rows, std::size_t cols, std::uint8_t* out) {
        for (std::size_t i = 0; i < rows; ++i) {
            Row::encode_row(trits + i * cols, cols, out + i * Row::row_bytes(cols));
        }
    }

    static void unpack_row(const std::uint8_t* data, std::size_t /*rows*/, std::size_t cols,
                           std::size_t row, std::int8_t* out) {
        Row::decode_row(data + row * Row::row_bytes(cols), cols, out);
    }

    static void validate(const std::uint8_t* data, std::size_t rows, std::size_t cols) {
        validate_rows(data, rows, cols, 0, rows);
    }

    /// validate for rows [begin, end) of the matrix only (so that threads may share the work).
    static void validate_rows(const std::uint8_t* data, std::size_t rows, std::size_t cols, std::size_t begin,
                              std::size_t end) {
        const std::size_t row_bytes = Row::row_bytes(cols);
        for (std::size_t i = begin; i < end; ++i) {
            const std::uint8_t* row = data + i * row_bytes;
            const std::size_t bad = Row::first_invalid_byte(row, cols);
            if (bad != row_bytes) {
                detail::fail<value_error>("validate", Row::name, " matrix ", rows, " x ", cols,
                                          ": row ", i, ", byte ", bad, " (0x", std::hex,
                                          unsigned{row[bad]}, std::dec,
                                          ") encodes no weights or has non-zero padding");
            }
        }
    }
};

}  // namespace ternary::inline TERNARY_ABI
