#pragma once
// IEEE 754 binary16 (f16) and bfloat16 to and from float, exactly (no compiler extension).

#include <bit>
#include <cmath>
#include <cstdint>

#include "../config.hpp"

namespace ternary::inline TERNARY_ABI::io {

/// The float of an f16 bit pattern (every f16 is exactly a float).
inline float float_from_f16(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exponent = (h >> 10) & 0x1Fu, mantissa = h & 0x3FFu;
    if (exponent == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));  // Inf, NaN
    if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24
        const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
        return sign != 0 ? -magnitude : magnitude;
    }
    return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

/// The nearest f16 (ties to even); overflow gives Inf.
inline std::uint16_t f16_from_float(float f) {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
    const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
    if (std::isnan(f)) return static_cast<std::uint16_t>(sign | 0x7E00u);
    const float magnitude = std::fabs(f);
    if (magnitude >= 65520.0f) return static_cast<std::uint16_t>(sign | 0x7C00u);  // rounds to Inf
    if (magnitude < std::ldexp(1.0f, -14)) {  // subnormal: a multiple of 2^-24, rounded to even
        const float units = std::nearbyint(std::ldexp(magnitude, 24));
        return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(units));
    }
    // Normal: drop 13 mantissa bits with round-to-nearest-even (a carry may bump the exponent).
    std::uint32_t m = (bits & 0x7FFFFFFFu) - (112u << 23);
    m += 0xFFFu + ((m >> 13) & 1u);
    return static_cast<std::uint16_t>(sign | (m >> 13));
}

/// The float of a bfloat16 bit pattern (the top half of a float).
inline float float_from_bf16(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

/// The nearest bfloat16 (ties to even); NaN stays a (quiet) NaN. A float that came from a
/// bfloat16 gives back exactly its bits.
inline std::uint16_t bf16_from_float(float f) {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
    if (std::isnan(f)) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
    return static_cast<std::uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

}  // namespace ternary::inline TERNARY_ABI::io
