#pragma once
// The exceptions the library throws. Every message starts with "ternary: <function>: ".

#include "config.hpp"

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace ternary::inline TERNARY_ABI {

/// Base of every exception thrown by the library.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Dimensions that do not fit together, empty inputs, rows longer than `max_cols`.
class shape_error : public error {
public:
    using error::error;
};

/// Values that no formula or format accepts: NaN or Inf, a trit outside {-1, 0, +1},
/// a byte that encodes no weights, a non-positive activation scale.
class value_error : public error {
public:
    using error::error;
};

/// A file that is not what it claims to be: wrong magic, truncated, sizes that do not add up.
class format_error : public error {
public:
    using error::error;
};

/// A memory budget that a request would exceed: the KV caches of all sequences together
/// (bitnet::kv_budget). Nothing is wrong with the request itself; it fits once others finish.
class capacity_error : public error {
public:
    using error::error;
};

/// A typed pointer into caller-owned memory that is not aligned for its element type.
class alignment_error : public error {
public:
    using error::error;
};

namespace detail {

/// Concatenates its arguments with operator<< into one message.
template <class... Parts>
std::string message(const Parts&... parts) {
    std::ostringstream out;
    (out << ... << parts);
    return out.str();
}

template <class Error, class... Parts>
[[noreturn]] void fail(const char* where, const Parts&... parts) {
    throw Error(message("ternary: ", where, ": ", parts...));
}

}  // namespace detail
}  // namespace ternary::inline TERNARY_ABI
