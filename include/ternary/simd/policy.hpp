#pragma once
// Kernel policies and the default one.
//
// A policy is a stateless type with `name`, `available()` (does this CPU run it) and the
// exact-integer primitive `block_dots` (see simd/scalar.hpp). Everything in floating point
// (the rescale by weight and activation scales) is shared code in gemm.hpp, so two policies
// that agree on the int32 dots agree on every float output bit for bit.

#include "../config.hpp"

#include <concepts>
#include <string_view>

#include "dispatch.hpp"
#include "scalar.hpp"

namespace ternary::inline TERNARY_ABI {

template <class Policy>
concept kernel_policy = requires {
    { Policy::name } -> std::convertible_to<std::string_view>;
    { Policy::available() } -> std::same_as<bool>;
};

/// The policy used when none is named: the best one this CPU supports, chosen at run time
/// (or the one TERNARY_ISA names); see simd/dispatch.hpp.
using default_policy = simd::automatic;

}  // namespace ternary::inline TERNARY_ABI
