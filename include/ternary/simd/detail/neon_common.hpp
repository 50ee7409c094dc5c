#pragma once
// Operations on 16-byte NEON vectors shared by the two NEON policies.

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../config.hpp"

#if defined(__aarch64__)
#include <arm_neon.h>

namespace ternary::inline TERNARY_ABI::simd::neon_common {

struct common_ops {
    using vec = uint8x16_t;  // 16 bytes
    using acc = int32x4_t;   // 4 x int32
    static constexpr std::size_t width = 16;
    // 32 vector registers.
    static constexpr std::size_t gemv_rows = 4, gemm_rows = 4, gemm_tokens = 2;

    static vec load(const void* p) { return vld1q_u8(static_cast<const std::uint8_t*>(p)); }
    /// n < 16 bytes; the rest zero.
    static vec load_partial(const void* p, std::size_t n) {
        std::uint8_t buffer[16] = {};
        std::memcpy(buffer, p, n);
        return load(buffer);
    }
    static vec bytes(std::uint8_t b) { return vdupq_n_u8(b); }
    static vec and_(vec a, vec b) { return vandq_u8(a, b); }
    static vec shift_right4(vec v) { return vshrq_n_u8(v, 4); }
    static vec times3(vec m) { return vmulq_u8(m, vdupq_n_u8(3)); }
    /// [m >= 86] + [m >= 171]: each compare gives 0 or 0xFF, and 0 - 0xFF = 1 mod 256.
    static vec top_trit(vec m) {
        return vsubq_u8(vsubq_u8(vdupq_n_u8(0), vcgeq_u8(m, vdupq_n_u8(86))), vcgeq_u8(m, vdupq_n_u8(171)));
    }
    static acc zero() { return vdupq_n_s32(0); }
    static acc add(acc a, acc b) { return vaddq_s32(a, b); }
    static acc shift_right2(acc a) { return vshrq_n_s32(a, 2); }
    static std::int32_t reduce(acc a) { return vaddvq_s32(a); }
};

}  // namespace ternary::inline TERNARY_ABI::simd::neon_common
#endif
