#pragma once
// The NEON policy (every AArch64 CPU): vmull_s8 multiplies codes by int8 activations into
// int16 (|product| <= 8 * 128 = 1024), vpadalq_s16 adds pairs of them into int32 lanes at once.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../config.hpp"
#include "cpu.hpp"
#include "detail/neon_common.hpp"
#include "detail/simd_policy.hpp"
#include "detail/target.hpp"

#if defined(__aarch64__)

namespace ternary::inline TERNARY_ABI::simd::neon_kernel {

struct ops : neon_common::common_ops {
    static acc dot(acc a, vec codes, vec activations) {
        const int8x16_t c = vreinterpretq_s8_u8(codes), x = vreinterpretq_s8_u8(activations);
        a = vpadalq_s16(a, vmull_s8(vget_low_s8(c), vget_low_s8(x)));
        return vpadalq_s16(a, vmull_high_s8(c, x));
    }
};

#include "detail/dot_kernel.inl"

}  // namespace ternary::inline TERNARY_ABI::simd::neon_kernel

namespace ternary::inline TERNARY_ABI::simd {

struct neon : detail::simd_policy<neon_kernel::entry> {
    static constexpr std::string_view name = "neon";
    static bool available() noexcept { return cpu().neon; }
};

}  // namespace ternary::inline TERNARY_ABI::simd
#endif
