#pragma once
// Kernel policies and the default one.
//
// A policy is a stateless type with `name`, `available()` (does this CPU run it) and the
// exact-integer primitive `block_dots` (see simd/scalar.hpp). Everything in floating point
// (the rescale by weight and activation scales) is shared code in gemm.hpp, so two policies
// that agree on the int32 dots agree on every float output bit for bit.

#include <concepts>
#include <string_view>

#include "scalar.hpp"

namespace ternary::inline v0 {

template <class Policy>
concept kernel_policy = requires {
    { Policy::name } -> std::convertible_to<std::string_view>;
    { Policy::available() } -> std::same_as<bool>;
};

/// The policy used when none is named. Scalar for now; the SIMD issue makes it the best policy
/// the CPU supports, chosen at run time.
using default_policy = simd::scalar;

}  // namespace ternary::inline v0
