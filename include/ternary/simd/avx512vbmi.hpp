#pragma once
// The AVX-512 VBMI policy (Zen 4/5, Ice Lake and later): the AVX-512 VNNI kernel, with base3
// bytes decoded by table lookups (vpermi2b) instead of arithmetic, and the base3_window packing,
// whose code is made for vpermb. two_bit runs as in avx512vnni.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../config.hpp"
#include "../pack/base3.hpp"
#include "../pack/base3_window.hpp"
#include "avx512vnni.hpp"
#include "cpu.hpp"
#include "detail/simd_policy.hpp"
#include "detail/target.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace ternary::inline TERNARY_ABI::simd::detail {

/// base3_trits_1_to_4[b]: trits 1..4 of base3 byte b as 2-bit codes, trit 1 + k in bits
/// 2k+1..2k. Bytes that encode nothing (13 of 256) map to 0: validated data never holds them.
inline constexpr auto base3_trits_1_to_4 = [] {
    struct alignas(64) table {
        std::uint8_t bytes[256];
    } t{};
    for (unsigned b = 0; b < 256; ++b) {
        if (!ternary::detail::base3_is_encoding[b]) continue;
        unsigned codes = 0;
        for (std::size_t k = 0; k < 4; ++k) codes |= base3::trit(static_cast<std::uint8_t>(b), k + 1) << (2 * k);
        t.bytes[b] = static_cast<std::uint8_t>(codes);
    }
    return t;
}();

}  // namespace ternary::inline TERNARY_ABI::simd::detail

TERNARY_TARGET_BEGIN("avx512f,avx512bw,avx512vnni,avx512vbmi")
namespace ternary::inline TERNARY_ABI::simd::avx512vbmi_kernel {

struct ops : avx512vnni_kernel::ops {
    // On Zen 5 with 256-bit datapaths (our machines) vpdpbusd, vpermi2b, shifts and compares
    // into masks each take a whole cycle per zmm, while adds, averages, ands and blends take
    // half. So the decode below uses as few of the first kind as it can: three per 64 bytes,
    // against five vpdpbusd. The arithmetic decode (avx512vnni) needs ten compares.
    static constexpr bool base3_by_lookup = true;
    // Four accumulators per (row, token): GEMV 2 rows, GEMM 1 row x 3 tokens (measured best of
    // 1-8 rows and 1x2, 1x3, 1x4, 2x2).
    static constexpr std::size_t base3_gemv_rows = 2, base3_gemm_rows = 1, base3_gemm_tokens = 3;

    /// code[0] = 64 * trit 0, code[1 + k] = 4^k * trit 1 + k (dot_kernel.inl, `decoding`).
    static void decode_base3(vec v, vec (&code)[5]) {
        // Trit 0 is the top trit of v, floor(3v / 256) = floor(floor(3v / 4) / 64). Averages
        // round up, avg(v, avg(v, 1)) - 1 is floor(3v / 4) for every byte (checked for all 256
        // once; the tests run every encoding through the kernel), and its top two bits are
        // 64 * trit 0.
        const vec three_quarters = _mm512_avg_epu8(v, _mm512_avg_epu8(v, bytes(1)));
        code[0] = and_(_mm512_sub_epi8(three_quarters, bytes(1)), bytes(0xC0));
        // Trits 1..4 by a 256-byte table: vpermi2b looks up the low 7 bits in two registers,
        // so two lookups, and the byte's top bit picks one of them.
        const std::uint8_t* table = detail::base3_trits_1_to_4.bytes;
        const vec low_half = _mm512_permutex2var_epi8(load(table), v, load(table + 64));
        const vec high_half = _mm512_permutex2var_epi8(load(table + 128), v, load(table + 192));
        const vec codes = _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), low_half, high_half);
        code[1] = and_(codes, bytes(0x03));
        code[2] = and_(codes, bytes(0x0C));
        code[3] = and_(codes, bytes(0x30));
        code[4] = and_(codes, bytes(0xC0));
    }

    // base3_window: GEMV 2 rows, GEMM 1 row x 3 tokens (measured best of 1-4 rows and 1x3, 1x4,
    // 2x2, 2x3, 1x6: docs/kernels.md, "Tiles").
    static constexpr std::size_t window_gemv_rows = 2, window_gemm_rows = 1, window_gemm_tokens = 3;
    static constexpr int window_shifts[5] = {0, 0, 2, 4, 6};

    /// The window code's codes (pack/base3_window.hpp): two vpermb (64-entry lookups on bits
    /// 0-5 and 2-7 of each byte), a shift, an XOR and five ANDs per 64 bytes. code[0], code[1]
    /// are codes 0 and 1; code[2..4] are codes 2..4 times 4, 16, 64 (the fields in place).
    static void decode_base3_window(vec v, vec (&code)[5]) {
        // vpermb reads only the low 6 bits of each index byte: v itself indexes by bits 0-5, and
        // v shifted right by 2 (as 16-bit lanes: bits from the neighbouring byte land in bits
        // 6-7, which vpermb ignores) by bits 2-7.
        const __mmask64 all = ~__mmask64{0};
        const vec low = _mm512_maskz_permutexvar_epi8(all, v, load(ternary::detail::window_low.bytes));
        const vec high = _mm512_maskz_permutexvar_epi8(all, _mm512_srli_epi16(v, 2), load(ternary::detail::window_high.bytes));
        const vec fields = _mm512_xor_si512(low, high);
        code[0] = and_(low, bytes(0x03));
        code[1] = and_(fields, bytes(0x03));
        code[2] = and_(fields, bytes(0x0C));
        code[3] = and_(fields, bytes(0x30));
        code[4] = and_(fields, bytes(0xC0));
    }
};

#include "detail/dot_kernel.inl"

}  // namespace ternary::inline TERNARY_ABI::simd::avx512vbmi_kernel
TERNARY_TARGET_END

namespace ternary::inline TERNARY_ABI::simd {

struct avx512vbmi : detail::simd_policy<avx512vbmi_kernel::entry> {
    static constexpr std::string_view name = "avx512vbmi";
    static bool available() noexcept { return avx512vnni::available() && cpu().avx512vbmi; }
};

}  // namespace ternary::inline TERNARY_ABI::simd
#endif
