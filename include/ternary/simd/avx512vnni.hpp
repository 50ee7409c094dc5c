#pragma once
// The AVX-512 VNNI policy (Zen 4/5, Ice Lake and later): vpdpbusd on 64-byte vectors, four
// unsigned codes times four int8 activations added straight into each int32 lane.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../config.hpp"
#include "../pack/packing.hpp"
#include "cpu.hpp"
#include "detail/simd_policy.hpp"
#include "detail/target.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

TERNARY_TARGET_BEGIN("avx512f,avx512bw,avx512vnni")
namespace ternary::inline TERNARY_ABI::simd::avx512vnni_kernel {

/// The vector operations dot_kernel.inl is written in.
struct ops {
    using vec = __m512i;  // 64 bytes
    using acc = __m512i;  // 16 x int32
    static constexpr std::size_t width = 64;
    // Tiles: GEMV 8 rows (16 accumulators, 8 independent vpdpbusd chains per code plane);
    // GEMM 2 rows x 4 tokens, so each decoded weight vector serves four tokens (measured best
    // of 2x4, 3x3, 4x2, 8x1 on 2560 x 6912, batch 64).
    static constexpr std::size_t gemv_rows = 8, gemm_rows = 2, gemm_tokens = 4;

    static vec load(const void* p) { return _mm512_loadu_si512(p); }
    /// n < 64 bytes; the rest zero. The masked load never touches bytes past n.
    static vec load_partial(const void* p, std::size_t n) {
        return _mm512_maskz_loadu_epi8(static_cast<__mmask64>((std::uint64_t{1} << n) - 1), p);
    }
    static vec bytes(std::uint8_t b) { return _mm512_set1_epi8(static_cast<char>(b)); }
    static vec and_(vec a, vec b) { return _mm512_and_si512(a, b); }
    /// Each byte's high nibble moves to its low nibble (the high nibble is masked off later).
    static vec shift_right4(vec v) { return _mm512_srli_epi16(v, 4); }
    /// Each byte times 3, mod 256.
    static vec times3(vec m) { return _mm512_add_epi8(m, _mm512_add_epi8(m, m)); }
    /// Each byte m to (3 m) >> 8 = [m >= 86] + [m >= 171].
    static vec top_trit(vec m) {
        const vec one = bytes(1);
        const vec t = _mm512_maskz_mov_epi8(_mm512_cmpge_epu8_mask(m, bytes(86)), one);
        return _mm512_mask_add_epi8(t, _mm512_cmpge_epu8_mask(m, bytes(171)), t, one);
    }
    static acc zero() { return _mm512_setzero_si512(); }
    /// acc + sum of 4 (unsigned code x signed activation) products per int32 lane.
    static acc dot(acc a, vec codes, vec activations) { return _mm512_dpbusd_epi32(a, codes, activations); }
    static acc add(acc a, acc b) { return _mm512_add_epi32(a, b); }
    // The zero-masked forms: GCC 12's unmasked _mm512_srai_epi32 and _mm512_reduce_add_epi32
    // trip a false -Wmaybe-uninitialized inside the intrinsics header.
    static acc shift_right2(acc a) { return _mm512_maskz_srai_epi32(0xFFFF, a, 2); }
    static std::int32_t reduce(acc a) {
        const __m256i half = _mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(0xF, a, 0), _mm512_maskz_extracti64x4_epi64(0xF, a, 1));
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(half), _mm256_extracti128_si256(half, 1));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
        return _mm_cvtsi128_si32(s);
    }
};

#include "detail/dot_kernel.inl"

}  // namespace ternary::inline TERNARY_ABI::simd::avx512vnni_kernel
TERNARY_TARGET_END

namespace ternary::inline TERNARY_ABI::simd {

struct avx512vnni : detail::simd_policy<avx512vnni_kernel::entry> {
    static constexpr std::string_view name = "avx512vnni";
    static bool available() noexcept {
        const cpu_features& c = cpu();
        return c.avx512f && c.avx512bw && c.avx512vnni;
    }
};

}  // namespace ternary::inline TERNARY_ABI::simd
#endif
