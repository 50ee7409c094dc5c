#pragma once
// The largest row length (K, number of columns) the library accepts, and why.

#include "config.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>

#include "error.hpp"

namespace ternary::inline TERNARY_ABI {

/// Longest row, in weights, of any ternary matrix or quantized activation: 2^23 = 8,388,608.
///
/// Kernels form three int32 quantities over a row of K weights w in {-1,0,+1} and
/// activations q in [-128, 127]:
///   sum w*q        in [-128 K, 128 K]   (the dot product itself)
///   sum q          in [-128 K, 127 K]   (cached per token)
///   sum (w+1)*q    in [-256 K, 254 K]   (the unsigned-code form that maddubs/dpbusd kernels use)
/// The last is the widest: -256 K >= -2^31 holds exactly for K <= 2^23. The plain dot alone
/// would allow K <= 16,777,215, but one limit for every kernel keeps all of them exact.
inline constexpr std::size_t max_cols = std::size_t{1} << 23;

static_assert(-256 * static_cast<std::int64_t>(max_cols) >=
              std::numeric_limits<std::int32_t>::min());
static_assert(254 * static_cast<std::int64_t>(max_cols) <=
              std::numeric_limits<std::int32_t>::max());

namespace detail {

/// Throws shape_error unless 1 <= rows and 1 <= cols <= max_cols.
inline void check_shape(const char* where, std::size_t rows, std::size_t cols) {
    if (rows == 0 || cols == 0) {
        fail<shape_error>(where, "empty matrix (", rows, " x ", cols, ")");
    }
    if (cols > max_cols) {
        fail<shape_error>(where, "rows of ", cols, " columns exceed the limit of ", max_cols,
                          " (ternary::max_cols), beyond which int32 dot products could overflow");
    }
}

}  // namespace detail
}  // namespace ternary::inline TERNARY_ABI
