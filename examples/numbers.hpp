// Option values as numbers, the same way in every program: the whole text must be the number
// ("2x", " 2" and "" are refused), so a typo is an error instead of a silent guess.
#pragma once

#include <charconv>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

namespace examples {

/// The number `text` spells in full (decimal; floats also as 1e-3), else std::invalid_argument
/// (a std::logic_error, which the programs report as a bad value for the option).
template <class T>
T parse_number(const char* text) {
    T value{};
    const char* end = text + std::strlen(text);
    const auto [stop, error] = std::from_chars(text, end, value);
    if (error != std::errc() || stop != end || stop == text) throw std::invalid_argument("not a number");
    return value;
}

/// A thread count (-t): a whole number of at least 1.
inline std::size_t parse_threads(const char* text) {
    const auto n = parse_number<std::size_t>(text);
    if (n == 0) throw std::invalid_argument("it needs at least 1 thread");
    return n;
}

}  // namespace examples
