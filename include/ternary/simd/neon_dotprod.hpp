#pragma once
// The NEON dot-product policy (Armv8.2-A +dotprod: Cortex-A55/A76 and later, Apple M1,
// Neoverse): sdot adds four int8 x int8 products into each int32 lane. Codes (<= 8) fit int8.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../config.hpp"
#include "cpu.hpp"
#include "detail/neon_common.hpp"
#include "detail/simd_policy.hpp"
#include "detail/target.hpp"

#if defined(__aarch64__)

TERNARY_TARGET_BEGIN("arch=armv8.2-a+dotprod")
namespace ternary::inline TERNARY_ABI::simd::neon_dotprod_kernel {

struct ops : neon_common::common_ops {
    static acc dot(acc a, vec codes, vec activations) {
        return vdotq_s32(a, vreinterpretq_s8_u8(codes), vreinterpretq_s8_u8(activations));
    }
};

#include "detail/dot_kernel.inl"

}  // namespace ternary::inline TERNARY_ABI::simd::neon_dotprod_kernel
TERNARY_TARGET_END

namespace ternary::inline TERNARY_ABI::simd {

struct neon_dotprod : detail::simd_policy<neon_dotprod_kernel::entry> {
    static constexpr std::string_view name = "neon-dotprod";
    static bool available() noexcept { return cpu().neon && cpu().dotprod; }
};

}  // namespace ternary::inline TERNARY_ABI::simd
#endif
