#pragma once
// Products of block-quantized rows (ggml's formats, quant/ggml_blocks.hpp) with int8
// activations, in place: the blocks are read as stored, never dequantized to a float copy.
//
// The arithmetic, the same for every kernel:
//   per block b of a row:  I1_b, I2_b  exact int32 (block_terms)
//   per row:               acc = sum over b, in block order, of (double(d_b) I1_b + double(m_b) I2_b)
//   the output:            y = float(acc / x_scale)        (x ~= q / x_scale, activations.hpp)
// d_b I1_b and m_b I2_b are exact in double (an f16 factor times |I| <= 2^27), so a compiler
// that fuses a multiply into the add cannot change any value either, and each SIMD kernel
// returns exactly the scalar kernel's acc.
//
// Kernels: AVX2 (used by every x86 policy: avx2, avxvnni, avx512vbmi, avx512vnni) and NEON (neon
// and neon-dotprod) for Q8_0, Q4_K and Q6_K, the formats `--head-type` offers; the other
// formats run the scalar kernel (decode_integers and plain loops).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>
#include <type_traits>

#include "../activations.hpp"
#include "../aligned_buffer.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../gemm.hpp"
#include "../simd/cpu.hpp"
#include "../simd/detail/target.hpp"
#include "../simd/dispatch.hpp"
#include "../simd/policy.hpp"
#include "ggml_blocks.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace ternary::inline TERNARY_ABI {

/// One token's int8 activations prepared for block products: the values, the same widened to
/// int16 and the sum of every 16 consecutive values (cols / 16 of them).
struct block_input {
    const std::int8_t* values;
    const std::int16_t* wide;     // cols values
    const std::int16_t* sums16;   // cols / 16 sums, each |sum| <= 2048
    const std::int16_t* sums32;   // cols / 32 sums (0 where cols is odd in 16s), each |sum| <= 4096
};

namespace detail {

/// out[r] = acc of row r (see the top of this file) for rows [r0, r1) of `blocks` blocks each.
using block_kernel_fn = void (*)(block_type t, const std::uint8_t* w, std::size_t row_bytes, std::size_t blocks,
                                 std::size_t r0, std::size_t r1, const block_input& x, double* out);

inline double block_contribution(float d, std::int32_t i1, float m, std::int32_t i2) {
    return static_cast<double>(d) * i1 + static_cast<double>(m) * i2;
}

/// The scalar kernel, for every format: the reference.
inline void block_rows_scalar(block_type t, const std::uint8_t* w, std::size_t row_bytes, std::size_t blocks,
                              std::size_t r0, std::size_t r1, const block_input& x, double* out) {
    const block_layout l = layout_of(t);
    for (std::size_t r = r0; r < r1; ++r) {
        const std::uint8_t* row = w + r * row_bytes;
        double acc = 0.0;
        for (std::size_t b = 0; b < blocks; ++b) {
            const block_integer_terms terms = block_terms(t, row + b * l.bytes, x.values + b * l.weights);
            float d = 0.0f, m = 0.0f;
            block_factors(t, row + b * l.bytes, d, m);
            acc += block_contribution(d, terms.i1, m, terms.i2);
        }
        out[r] = acc;
    }
}

}  // namespace detail

#if defined(__x86_64__) || defined(__i386__)

TERNARY_TARGET_BEGIN("avx2,fma,f16c")
namespace simd::avx2_blocks {

inline std::int32_t sum_lanes(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

inline __m256i load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

inline float half_at(const std::uint8_t* p) {
    std::uint16_t h;
    std::memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/// A vpshufb control that puts int16 lane a (of 8) in every int16 of the low 128 bits and lane
/// b in every int16 of the high 128 bits.
inline __m256i pick_lanes(int a, int b) {
    const auto lo = static_cast<std::int16_t>((2 * a) | ((2 * a + 1) << 8));
    const auto hi = static_cast<std::int16_t>((2 * b) | ((2 * b + 1) << 8));
    return _mm256_setr_m128i(_mm_set1_epi16(lo), _mm_set1_epi16(hi));
}

/// The integer terms and factors of one block of each format with a kernel here.
template <block_type T>
struct block_kernel;

/// Q8_0 (32 int8 and an f16 d per block): I1 = sum q x, by 16-bit products (exact for every
/// byte, -128 included).
template <>
struct block_kernel<block_type::q8_0> {
    static constexpr bool has_min = false;
    static std::int32_t i1(const std::uint8_t* b, const block_input& x, std::size_t index, std::int32_t&) {
        const std::int16_t* x16 = x.wide + 32 * index;
        const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2)));
        const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 18)));
        return sum_lanes(_mm256_add_epi32(_mm256_madd_epi16(w0, load(x16)), _mm256_madd_epi16(w1, load(x16 + 16))));
    }
    static float d(const std::uint8_t* b) { return half_at(b); }
    static float m(const std::uint8_t*) { return 0.0f; }
};

/// Q6_K: I1 = sum_s scale_s sum_j (q_j - 32) x_j, computed as sum_s scale_s (sum_j q_j x_j -
/// 32 sum16_s) with q in [0, 63] unsigned against signed x (vpmaddubsw: pairs <= 2 * 63 * 128,
/// no saturation), then vpmaddwd by the scales, which one vpshufb per 32 weights spreads from
/// a register holding 8 of them.
template <>
struct block_kernel<block_type::q6_k> {
    static constexpr bool has_min = false;
    static std::int32_t i1(const std::uint8_t* b, const block_input& x, std::size_t index, std::int32_t&) {
        const std::uint8_t* ql = b;
        const std::uint8_t* qh = b + 128;
        const std::int8_t* xs = x.values + 256 * index;
        const __m256i scales = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192)));
        const __m256i low4 = _mm256_set1_epi8(0x0F), high2 = _mm256_set1_epi8(0x30);
        __m256i acc = _mm256_setzero_si256();
        TERNARY_UNROLL
        for (int h = 0; h < 2; ++h) {
            // Scales 8h .. 8h + 7 as int16, in both 128-bit halves.
            const __m256i eight = h == 0 ? _mm256_permute2x128_si256(scales, scales, 0x00)
                                         : _mm256_permute2x128_si256(scales, scales, 0x11);
            const __m256i l0 = load(ql + 64 * h), l1 = load(ql + 64 * h + 32), hi = load(qh + 32 * h);
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_and_si256(_mm256_slli_epi16(hi, 4), high2)),
                _mm256_or_si256(_mm256_and_si256(l1, low4), _mm256_and_si256(_mm256_slli_epi16(hi, 2), high2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4), _mm256_and_si256(hi, high2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                                _mm256_and_si256(_mm256_srli_epi16(hi, 2), high2))};
            TERNARY_UNROLL
            for (int k = 0; k < 4; ++k) {
                const __m256i products = _mm256_maddubs_epi16(q[k], load(xs + 128 * h + 32 * k));
                const __m256i scale = _mm256_shuffle_epi8(eight, pick_lanes(2 * k, 2 * k + 1));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(products, scale));
            }
        }
        const __m256i correction = _mm256_madd_epi16(scales, load(x.sums16 + 16 * index));  // sum_s scale_s sum16_s
        return sum_lanes(_mm256_sub_epi32(acc, _mm256_slli_epi32(correction, 5)));
    }
    static float d(const std::uint8_t* b) { return half_at(b + 208); }
    static float m(const std::uint8_t*) { return 0.0f; }
};

/// Q4_K: I1 = sum_s scale_s sum_j q_j x_j (q in [0, 15]), I2 = -sum_s min_s sum32_s. The 8
/// scales and 8 mins (6 bits each, packed in 12 bytes: see k4_scale_min) are unpacked four at
/// a time with 32-bit masks.
template <>
struct block_kernel<block_type::q4_k> {
    static constexpr bool has_min = true;
    static std::int32_t i1(const std::uint8_t* b, const block_input& x, std::size_t index, std::int32_t& i2) {
        std::uint32_t packed[3];
        std::memcpy(packed, b + 4, 12);
        constexpr std::uint32_t low6 = 0x3F3F3F3Fu, low4 = 0x0F0F0F0Fu, low2 = 0x03030303u;
        const std::uint32_t unpacked[4] = {
            packed[0] & low6,                                              // scales 0-3
            (packed[2] & low4) | (((packed[0] >> 6) & low2) << 4),         // scales 4-7
            packed[1] & low6,                                              // mins 0-3
            ((packed[2] >> 4) & low4) | (((packed[1] >> 6) & low2) << 4)};  // mins 4-7
        // Built in registers: four 4-byte stores read back as one vector would stall.
        const __m128i bytes = _mm_setr_epi32(static_cast<int>(unpacked[0]), static_cast<int>(unpacked[1]),
                                             static_cast<int>(unpacked[2]), static_cast<int>(unpacked[3]));
        const __m128i scales = _mm_cvtepu8_epi16(bytes), mins = _mm_cvtepu8_epi16(_mm_srli_si128(bytes, 8));
        const __m256i both = _mm256_broadcastsi128_si256(scales);
        const std::uint8_t* qs = b + 16;
        const std::int8_t* xs = x.values + 256 * index;
        const __m256i mask = _mm256_set1_epi8(0x0F);
        __m256i acc = _mm256_setzero_si256();
        TERNARY_UNROLL
        for (int g = 0; g < 4; ++g) {
            const __m256i v = load(qs + 32 * g);
            const __m256i lo = _mm256_and_si256(v, mask), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
            const __m256i lo_scale = _mm256_shuffle_epi8(both, pick_lanes(2 * g, 2 * g));
            const __m256i hi_scale = _mm256_shuffle_epi8(both, pick_lanes(2 * g + 1, 2 * g + 1));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load(xs + 64 * g)), lo_scale));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load(xs + 64 * g + 32)), hi_scale));
        }
        const __m128i min_sums = _mm_madd_epi16(mins, _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.sums32 + 8 * index)));
        __m128i s = _mm_add_epi32(min_sums, _mm_shuffle_epi32(min_sums, 0x4E));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
        i2 = -_mm_cvtsi128_si32(s);
        return sum_lanes(acc);
    }
    static float d(const std::uint8_t* b) { return half_at(b); }
    static float m(const std::uint8_t* b) { return half_at(b + 2); }
};

/// Rows of format T: each row's blocks four at a time, their terms turned into exact double
/// products by vector multiplies, then added to the row's sum one by one in block order.
/// How far ahead rows are prefetched into L2: measured on the 2B4T head (128256 x 2560) in
/// Q6_K, Q4_K and Q8_0, 1 row ahead read 11-18 GB/s at 1 thread, 4-8 rows (8-16 KB) 15-22.
inline constexpr std::size_t prefetch_bytes = 16384;

template <block_type T>
void rows_of(const std::uint8_t* w, std::size_t row_bytes, std::size_t blocks, std::size_t r0, std::size_t r1,
             const block_input& x, double* out) {
    using K = block_kernel<T>;
    constexpr std::size_t block_bytes = layout_of(T).bytes;
    const std::size_t prefetch_rows = std::max<std::size_t>(1, prefetch_bytes / row_bytes);
    for (std::size_t r = r0; r < r1; ++r) {
        const std::uint8_t* row = w + r * row_bytes;
        // The row about prefetch_bytes ahead into L2 (the hardware prefetcher alone reads
        // these streams at about half the bandwidth).
        if (r + prefetch_rows < r1) {
            for (std::size_t off = 0; off < row_bytes; off += 64) {
                _mm_prefetch(reinterpret_cast<const char*>(row + prefetch_rows * row_bytes + off), _MM_HINT_T1);
            }
        }
        double acc = 0.0;
        std::size_t b = 0;
        for (; b + 4 <= blocks; b += 4) {
            std::int32_t i1[4], i2[4] = {0, 0, 0, 0};
            float d[4], m[4];
            TERNARY_UNROLL
            for (std::size_t k = 0; k < 4; ++k) {
                const std::uint8_t* block = row + (b + k) * block_bytes;
                i1[k] = K::i1(block, x, b + k, i2[k]);
                d[k] = K::d(block);
                m[k] = K::m(block);
            }
            // Vectors made in registers (_mm_setr_*): scalar stores read back as one vector would
            // stall store forwarding.
            __m256d c = _mm256_mul_pd(_mm256_cvtps_pd(_mm_setr_ps(d[0], d[1], d[2], d[3])),
                                      _mm256_cvtepi32_pd(_mm_setr_epi32(i1[0], i1[1], i1[2], i1[3])));
            if constexpr (K::has_min) {
                c = _mm256_add_pd(c, _mm256_mul_pd(_mm256_cvtps_pd(_mm_setr_ps(m[0], m[1], m[2], m[3])),
                                                   _mm256_cvtepi32_pd(_mm_setr_epi32(i2[0], i2[1], i2[2], i2[3]))));
            }
            alignas(32) double contribution[4];
            _mm256_store_pd(contribution, c);
            acc += contribution[0];
            acc += contribution[1];
            acc += contribution[2];
            acc += contribution[3];
        }
        for (; b < blocks; ++b) {
            const std::uint8_t* block = row + b * block_bytes;
            std::int32_t i2 = 0;
            const std::int32_t i1 = K::i1(block, x, b, i2);
            acc += ternary::detail::block_contribution(K::d(block), i1, K::m(block), i2);
        }
        out[r] = acc;
    }
}

inline void block_rows(block_type t, const std::uint8_t* w, std::size_t row_bytes, std::size_t blocks, std::size_t r0,
                       std::size_t r1, const block_input& x, double* out) {
    switch (t) {
        case block_type::q8_0: return rows_of<block_type::q8_0>(w, row_bytes, blocks, r0, r1, x, out);
        case block_type::q6_k: return rows_of<block_type::q6_k>(w, row_bytes, blocks, r0, r1, x, out);
        case block_type::q4_k: return rows_of<block_type::q4_k>(w, row_bytes, blocks, r0, r1, x, out);
        default: return ternary::detail::block_rows_scalar(t, w, row_bytes, blocks, r0, r1, x, out);
    }
}

}  // namespace simd::avx2_blocks
TERNARY_TARGET_END

#elif defined(__aarch64__)

// NEON (every AArch64 CPU; the neon and neon-dotprod policies): the codes as signed bytes
// (Q6_K's minus 32 applied first, so no correction term), vmull_s8 products into int16, the 16
// of a sub-block added pairwise into 8 int16 lanes (|lane| <= 2 * 32 * 128 = 8192), then
// vmlal_n_s16 by the sub-block's scale into int32 (|product| <= 8192 * 128 = 2^20).
namespace simd::neon_blocks {

/// sum over 16 lanes of q x as 8 int16 lanes (pairs of products).
inline int16x8_t products16(int8x16_t q, int8x16_t x) {
    return vaddq_s16(vmull_s8(vget_low_s8(q), vget_low_s8(x)), vmull_high_s8(q, x));
}

/// acc + scale * (the 8 int16 lanes of p), in int32.
inline int32x4_t scaled(int32x4_t acc, int16x8_t p, std::int16_t scale) {
    return vmlal_high_n_s16(vmlal_n_s16(acc, vget_low_s16(p), scale), p, scale);
}

inline std::int32_t q8_0_i1(const std::uint8_t* b, const std::int8_t* x) {
    const int8x16_t w0 = vld1q_s8(reinterpret_cast<const std::int8_t*>(b + 2)),
                    w1 = vld1q_s8(reinterpret_cast<const std::int8_t*>(b + 18));
    const int8x16_t x0 = vld1q_s8(x), x1 = vld1q_s8(x + 16);
    // |q x| <= 128 * 128 = 16384: each product fits int16, so widen before adding pairs.
    int32x4_t acc = vpaddlq_s16(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)));
    acc = vpadalq_s16(acc, vmull_high_s8(w0, x0));
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(w1), vget_low_s8(x1)));
    acc = vpadalq_s16(acc, vmull_high_s8(w1, x1));
    return vaddvq_s32(acc);
}

inline std::int32_t q6_k_i1(const std::uint8_t* b, const std::int8_t* x) {
    const std::uint8_t* ql = b;
    const std::uint8_t* qh = b + 128;
    const auto* scales = reinterpret_cast<const std::int8_t*>(b + 192);
    const uint8x16_t low4 = vdupq_n_u8(0x0F), three = vdupq_n_u8(3);
    const int8x16_t offset = vdupq_n_s8(32);
    int32x4_t acc = vdupq_n_s32(0);
    for (int h = 0; h < 2; ++h) {
        for (int half = 0; half < 2; ++half) {  // weights l = 16 half .. 16 half + 15 of each 32
            const int l = 16 * half;
            const uint8x16_t l0 = vld1q_u8(ql + 64 * h + l), l1 = vld1q_u8(ql + 64 * h + 32 + l);
            const uint8x16_t hi = vld1q_u8(qh + 32 * h + l);
            const uint8x16_t q[4] = {
                vorrq_u8(vandq_u8(l0, low4), vshlq_n_u8(vandq_u8(hi, three), 4)),
                vorrq_u8(vandq_u8(l1, low4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hi, 2), three), 4)),
                vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hi, 4), three), 4)),
                vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(hi, 6), 4))};
            for (int k = 0; k < 4; ++k) {
                const int first = 128 * h + 32 * k + l;  // sub-block first / 16
                const int8x16_t signed_q = vsubq_s8(vreinterpretq_s8_u8(q[k]), offset);
                acc = scaled(acc, products16(signed_q, vld1q_s8(x + first)), scales[first / 16]);
            }
        }
    }
    return vaddvq_s32(acc);
}

inline std::int32_t q4_k_i1(const std::uint8_t* b, const std::int8_t* x, const std::int16_t* sums32, std::int32_t& i2) {
    int scale[8], min[8];
    for (int s = 0; s < 8; ++s) ternary::detail::blocks::k4_scale_min(b + 4, s, scale[s], min[s]);
    const std::uint8_t* qs = b + 16;
    const uint8x16_t low4 = vdupq_n_u8(0x0F);
    int32x4_t acc = vdupq_n_s32(0);
    for (int g = 0; g < 4; ++g) {
        for (int half = 0; half < 2; ++half) {
            const uint8x16_t v = vld1q_u8(qs + 32 * g + 16 * half);
            const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(v, low4)), hi = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
            acc = scaled(acc, products16(lo, vld1q_s8(x + 64 * g + 16 * half)), static_cast<std::int16_t>(scale[2 * g]));
            acc = scaled(acc, products16(hi, vld1q_s8(x + 64 * g + 32 + 16 * half)), static_cast<std::int16_t>(scale[2 * g + 1]));
        }
    }
    i2 = 0;
    for (int s = 0; s < 8; ++s) i2 -= min[s] * sums32[s];
    return vaddvq_s32(acc);
}

inline void block_rows(block_type t, const std::uint8_t* w, std::size_t row_bytes, std::size_t blocks, std::size_t r0,
                       std::size_t r1, const block_input& x, double* out) {
    if (t != block_type::q8_0 && t != block_type::q6_k && t != block_type::q4_k) {
        return ternary::detail::block_rows_scalar(t, w, row_bytes, blocks, r0, r1, x, out);
    }
    const block_layout l = layout_of(t);
    for (std::size_t r = r0; r < r1; ++r) {
        const std::uint8_t* row = w + r * row_bytes;
        double acc = 0.0;
        for (std::size_t b = 0; b < blocks; ++b) {
            const std::uint8_t* block = row + b * l.bytes;
            std::int32_t i1 = 0, i2 = 0;
            if (t == block_type::q8_0) i1 = q8_0_i1(block, x.values + 32 * b);
            else if (t == block_type::q6_k) i1 = q6_k_i1(block, x.values + 256 * b);
            else i1 = q4_k_i1(block, x.values + 256 * b, x.sums32 + 8 * b, i2);
            float d = 0.0f, m = 0.0f;
            block_factors(t, block, d, m);
            acc += ternary::detail::block_contribution(d, i1, m, i2);
        }
        out[r] = acc;
    }
}

}  // namespace simd::neon_blocks

#endif

namespace detail {

/// The block kernel of the policy named `policy` (the scalar one where it has none).
inline block_kernel_fn block_kernel_named(std::string_view policy) {
#if defined(__x86_64__) || defined(__i386__)
    if (policy == simd::avx512vbmi::name || policy == simd::avx512vnni::name || policy == simd::avxvnni::name ||
        policy == simd::avx2::name) {
        return &simd::avx2_blocks::block_rows;
    }
#elif defined(__aarch64__)
    if (policy == simd::neon::name || policy == simd::neon_dotprod::name) return &simd::neon_blocks::block_rows;
#endif
    (void)policy;
    return &block_rows_scalar;
}

/// The kernel for Policy; for simd::automatic, that of the policy the ternary products run.
template <class Policy>
block_kernel_fn block_kernel() {
    if constexpr (std::is_same_v<Policy, simd::automatic>) {
        static const block_kernel_fn chosen = block_kernel_named(simd::active_policy_name());
        return chosen;
    } else {
        return block_kernel_named(Policy::name);
    }
}

}  // namespace detail

/// A token prepared for block products (block_input, owning its buffers).
class block_activations {
public:
    /// Token t of x, whose cols() must be a multiple of 16.
    block_activations(const activation_batch_view& x, std::size_t t)
        : values_(x.values(t).data()), wide_(x.cols()), sums16_(x.cols() / 16), sums32_(x.cols() / 32 + 1),
          scale_(x.scale(t)) {
        if (x.cols() % 16 != 0) {
            detail::fail<shape_error>("block_activations", "rows of ", x.cols(), " values are not whole blocks");
        }
        for (std::size_t j = 0; j < x.cols(); ++j) wide_[j] = values_[j];
        for (std::size_t s = 0; s < sums16_.size(); ++s) {
            int sum = 0;
            for (std::size_t j = 16 * s; j < 16 * s + 16; ++j) sum += values_[j];
            sums16_[s] = static_cast<std::int16_t>(sum);
        }
        for (std::size_t s = 0; s + 1 < sums32_.size(); ++s) {
            sums32_[s] = static_cast<std::int16_t>(sums16_[2 * s] + sums16_[2 * s + 1]);
        }
    }
    block_input input() const { return {values_, wide_.data(), sums16_.data(), sums32_.data()}; }
    float scale() const noexcept { return scale_; }

private:
    const std::int8_t* values_;
    std::vector<std::int16_t> wide_;
    std::vector<std::int16_t> sums16_;
    std::vector<std::int16_t> sums32_;
    float scale_;
};

/// Rows of blocks as a GGUF file stores them: rows x cols weights of type `type`, row-major,
/// each row cols / block weights consecutive blocks.
struct block_rows_view {
    block_type type;
    std::span<const std::uint8_t> bytes;
    std::size_t rows;
    std::size_t cols;

    std::size_t row_bytes() const noexcept { return cols / layout_of(type).weights * layout_of(type).bytes; }
};

/// acc of every row against one prepared token (see the top of this file) into out[rows]
/// (threads claim ranges of rows, as in the other products).
template <kernel_policy Policy = default_policy>
void block_dots(std::span<double> out, const block_rows_view& w, const block_activations& x) {
    if (!Policy::available()) detail::fail<error>("block_dots", "policy '", Policy::name, "' is not supported by this CPU");
    const block_layout l = layout_of(w.type);
    if (w.cols % l.weights != 0 || w.bytes.size() != w.rows * w.row_bytes() || out.size() != w.rows) {
        detail::fail<shape_error>("block_dots", w.rows, " x ", w.cols, " ", l.name, " weights in ", w.bytes.size(),
                                  " bytes into ", out.size(), " outputs");
    }
    const detail::block_kernel_fn kernel = detail::block_kernel<Policy>();
    thread_pool& pool = default_pool();
    const bool parallel = w.rows * w.cols >= detail::parallel_threshold && pool.size() > 1;
    const std::size_t grain = parallel ? detail::rows_per_task(w.rows, w.row_bytes(), pool.size()) : w.rows;
    const block_input input = x.input();
    pool.run_ranges(w.rows, grain, [&](std::size_t begin, std::size_t end) {
        kernel(w.type, w.bytes.data(), w.row_bytes(), w.cols / l.weights, begin, end, input, out.data());
    });
}

}  // namespace ternary::inline TERNARY_ABI
