#pragma once
// Operations on 32-byte vectors shared by the AVX2 and AVX-VNNI policies (AVX2 only, so both
// regions may inline them).

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../config.hpp"
#include "target.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

TERNARY_TARGET_BEGIN("avx2")
namespace ternary::inline TERNARY_ABI::simd::ymm {

struct common_ops {
    using vec = __m256i;  // 32 bytes
    using acc = __m256i;  // 8 x int32
    static constexpr std::size_t width = 32;

    static vec load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
    /// n < 32 bytes; the rest zero (copied through a local buffer: AVX2 has no byte-masked load).
    static vec load_partial(const void* p, std::size_t n) {
        alignas(32) std::uint8_t buffer[32] = {};
        std::memcpy(buffer, p, n);
        return load(buffer);
    }
    static vec bytes(std::uint8_t b) { return _mm256_set1_epi8(static_cast<char>(b)); }
    static vec and_(vec a, vec b) { return _mm256_and_si256(a, b); }
    static vec shift_right4(vec v) { return _mm256_srli_epi16(v, 4); }
    static vec times3(vec m) { return _mm256_add_epi8(m, _mm256_add_epi8(m, m)); }
    /// 64 * ((3m) >> 8), the top trit of m times 64, by averages (which round up):
    /// avg(m, avg(m, 1)) - 1 = floor(3m / 4) for every byte, and its top two bits are
    /// 64 * floor(3m / 256). Four of the cheapest instructions, no compares.
    static constexpr int top_trit_shift = 6;
    static vec top_trit(vec m) {
        const vec one = bytes(1);
        const vec three_quarters = _mm256_sub_epi8(_mm256_avg_epu8(m, _mm256_avg_epu8(m, one)), one);
        return _mm256_and_si256(three_quarters, bytes(0xC0));
    }
    static acc zero() { return _mm256_setzero_si256(); }
    static acc add(acc a, acc b) { return _mm256_add_epi32(a, b); }
    static acc shift_right2(acc a) { return _mm256_srai_epi32(a, 2); }
    static std::int32_t reduce(acc a) {
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
        return _mm_cvtsi128_si32(s);
    }
};

}  // namespace ternary::inline TERNARY_ABI::simd::ymm
TERNARY_TARGET_END
#endif
