#pragma once
// Round half to even, as torch.round and ggml's nearest_int do (C's round() does not).

#include "config.hpp"

#include <cmath>

namespace ternary::inline TERNARY_ABI {

/// Nearest integer, ties to even; independent of the floating-point rounding mode.
inline float round_half_even(float x) {
    const float nearest = std::round(x);  // ties away from zero
    if (std::fabs(x - std::trunc(x)) == 0.5f) {
        return 2.0f * std::round(0.5f * x);  // a tie: take the even neighbour
    }
    return nearest;
}

}  // namespace ternary::inline TERNARY_ABI
