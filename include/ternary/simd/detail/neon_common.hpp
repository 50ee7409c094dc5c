#pragma once
// Operations on 16-byte NEON vectors shared by the two NEON policies.

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../config.hpp"
#include "../../pack/base3_window.hpp"

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

    // base3_window: the window code's two 64-entry tables (pack/base3_window.hpp) in four
    // registers each, looked up by vqtbl4q_u8. Codes stay <= 8 (sdot and vmull_s8 take int8),
    // so the upper two fields are shifted down first: codes times 1, 1, 4, 1, 4.
    static constexpr std::size_t window_gemv_rows = 4, window_gemm_rows = 4, window_gemm_tokens = 2;
    static constexpr int window_shifts[5] = {0, 0, 2, 0, 2};
    static void decode_base3_window(vec v, vec (&code)[5]) {
        const uint8x16x4_t low_table = vld1q_u8_x4(ternary::detail::window_low.bytes);
        const uint8x16x4_t high_table = vld1q_u8_x4(ternary::detail::window_high.bytes);
        // vqtbl4q_u8 gives 0 for indices >= 64: bits 0-5 by a mask, bits 2-7 by a shift.
        const vec low = vqtbl4q_u8(low_table, vandq_u8(v, bytes(63)));
        const vec fields = veorq_u8(low, vqtbl4q_u8(high_table, vshrq_n_u8(v, 2)));
        const vec upper = vshrq_n_u8(fields, 4);
        code[0] = and_(low, bytes(0x03));
        code[1] = and_(fields, bytes(0x03));
        code[2] = and_(fields, bytes(0x0C));
        code[3] = and_(upper, bytes(0x03));
        code[4] = and_(upper, bytes(0x0C));
    }

    static acc zero() { return vdupq_n_s32(0); }
    static acc add(acc a, acc b) { return vaddq_s32(a, b); }
    static acc shift_right2(acc a) { return vshrq_n_s32(a, 2); }
    static std::int32_t reduce(acc a) { return vaddvq_s32(a); }
};

}  // namespace ternary::inline TERNARY_ABI::simd::neon_common
#endif
