#pragma once
// Quantizing float rows to ggml's block formats Q8_0, Q6_K and Q4_K (the head formats that
// `--head-type` and `ternary-convert --head-type` offer), written from the layouts in
// ggml_blocks.hpp. The results are valid blocks that llama.cpp reads; they are not bit-identical
// to llama-quantize's, whose k-quant scales come from an error-minimizing search: ours take
// each sub-block's scale from its extremes (absmax for the symmetric formats, min and max for
// Q4_K), then one f16 factor per block so that the largest sub-block scale is exact in 6 or 8
// bits. Measured in docs/model.md (perplexity and speed per head type).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "../config.hpp"
#include "../error.hpp"
#include "../io/half.hpp"
#include "ggml_blocks.hpp"

namespace ternary::inline TERNARY_ABI {

namespace detail::blocks {

inline void store_half(std::uint8_t* p, float v) {
    const std::uint16_t h = io::f16_from_float(v);
    std::memcpy(p, &h, 2);
}

/// round-half-away(v) clamped to [lo, hi], as an int.
inline int nearest(float v, int lo, int hi) { return std::clamp(static_cast<int>(std::lround(v)), lo, hi); }

/// v rounded to the nearest f16, as a float (the factor a block stores).
inline float as_half(float v) { return io::float_from_f16(io::f16_from_float(v)); }

/// Q8_0: d = max|x| / 127, q = round(x / d).
inline void quantize_q8_0(const float* x, std::uint8_t* b) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = as_half(amax / 127.0f);
    store_half(b, d);
    for (int j = 0; j < 32; ++j) {
        b[2 + j] = static_cast<std::uint8_t>(static_cast<std::int8_t>(d == 0.0f ? 0 : nearest(x[j] / d, -127, 127)));
    }
}

/// Q6_K: each 16-value sub-block's scale maps its largest-magnitude value to -32 (as ggml's
/// nmax = 32), the block's d makes the largest |scale| 127; q = round(x / (d scale)) + 32.
inline void quantize_q6_k(const float* x, std::uint8_t* b) {
    float scales[16];
    float max_scale = 0.0f, max_abs_scale = 0.0f;
    for (int s = 0; s < 16; ++s) {
        float extreme = 0.0f;
        for (int j = 16 * s; j < 16 * s + 16; ++j) {
            if (std::fabs(x[j]) > std::fabs(extreme)) extreme = x[j];
        }
        scales[s] = extreme / -32.0f;
        if (std::fabs(scales[s]) > max_abs_scale) max_abs_scale = std::fabs(scales[s]), max_scale = scales[s];
    }
    std::memset(b, 0, 210);
    const float d = as_half(max_scale / -128.0f);
    store_half(b + 208, d);
    if (d == 0.0f) return;  // all zeros: d = 0 makes every value 0
    auto* scale_bytes = reinterpret_cast<std::int8_t*>(b + 192);
    std::uint8_t q[256];
    for (int s = 0; s < 16; ++s) {
        const int sc = nearest(scales[s] / d, -128, 127);
        scale_bytes[s] = static_cast<std::int8_t>(sc);
        const float step = d * static_cast<float>(sc);
        for (int j = 16 * s; j < 16 * s + 16; ++j) q[j] = static_cast<std::uint8_t>((step == 0.0f ? 0 : nearest(x[j] / step, -32, 31)) + 32);
    }
    // Weight 128 h + 32 k + l: nibble k / 2 of ql[64 h + 32 (k % 2) + l], high bits at 2k of qh[32 h + l].
    for (int j = 0; j < 256; ++j) {
        const int h = j / 128, k = (j % 128) / 32, l = j % 32;
        b[64 * h + 32 * (k % 2) + l] |= static_cast<std::uint8_t>((q[j] & 0xF) << (4 * (k / 2)));
        b[128 + 32 * h + l] |= static_cast<std::uint8_t>((q[j] >> 4) << (2 * k));
    }
}

/// Q4_K: each 32-value sub-block is value = scale q - min with min = -min(0, min x) and
/// scale = (max x + min) / 15; the block's d and dmin make the largest scale and min 63.
inline void quantize_q4_k(const float* x, std::uint8_t* b) {
    float scales[8], mins[8];
    float max_scale = 0.0f, max_min = 0.0f;
    for (int s = 0; s < 8; ++s) {
        float lo = 0.0f, hi = 0.0f;
        for (int j = 32 * s; j < 32 * s + 32; ++j) lo = std::min(lo, x[j]), hi = std::max(hi, x[j]);
        mins[s] = -lo;
        scales[s] = (hi - lo) / 15.0f;
        max_scale = std::max(max_scale, scales[s]);
        max_min = std::max(max_min, mins[s]);
    }
    std::memset(b, 0, 144);
    const float d = as_half(max_scale / 63.0f), dmin = as_half(max_min / 63.0f);
    store_half(b, d);
    store_half(b + 2, dmin);
    int sc[8], mn[8];
    for (int s = 0; s < 8; ++s) {
        sc[s] = d == 0.0f ? 0 : nearest(scales[s] / d, 0, 63);
        mn[s] = dmin == 0.0f ? 0 : nearest(mins[s] / dmin, 0, 63);
    }
    // The inverse of k4_scale_min's packing.
    std::uint8_t* packed = b + 4;
    for (int s = 0; s < 4; ++s) {
        packed[s] = static_cast<std::uint8_t>(sc[s] | ((sc[s + 4] >> 4) << 6));
        packed[s + 4] = static_cast<std::uint8_t>(mn[s] | ((mn[s + 4] >> 4) << 6));
        packed[s + 8] = static_cast<std::uint8_t>((sc[s + 4] & 0xF) | ((mn[s + 4] & 0xF) << 4));
    }
    std::uint8_t* qs = b + 16;
    for (int s = 0; s < 8; ++s) {
        const float step = d * static_cast<float>(sc[s]), offset = dmin * static_cast<float>(mn[s]);
        for (int l = 0; l < 32; ++l) {
            const int q = step == 0.0f ? 0 : nearest((x[32 * s + l] + offset) / step, 0, 15);
            qs[32 * (s / 2) + l] |= static_cast<std::uint8_t>(q << (4 * (s % 2)));
        }
    }
}

}  // namespace detail::blocks

/// Whether quantize_row can write type t (Q8_0, Q6_K, Q4_K).
constexpr bool can_quantize_to(block_type t) {
    return t == block_type::q8_0 || t == block_type::q6_k || t == block_type::q4_k;
}

/// n floats (finite; n a multiple of the block size) as blocks of type t into out
/// (n / weights * bytes bytes). Throws value_error on NaN or Inf and for other types.
inline void quantize_row(block_type t, std::span<const float> x, std::span<std::uint8_t> out) {
    const block_layout l = layout_of(t);
    if (!can_quantize_to(t)) detail::fail<value_error>("quantize_row", "quantizing to ", l.name, " is not supported");
    if (x.size() % l.weights != 0 || out.size() != x.size() / l.weights * l.bytes) {
        detail::fail<shape_error>("quantize_row", x.size(), " values to ", out.size(), " bytes of ", l.name, " blocks");
    }
    for (std::size_t j = 0; j < x.size(); ++j) {
        if (!std::isfinite(x[j])) detail::fail<value_error>("quantize_row", "value ", j, " is ", x[j]);
    }
    for (std::size_t b = 0; b < x.size() / l.weights; ++b) {
        const float* in = x.data() + b * l.weights;
        std::uint8_t* block = out.data() + b * l.bytes;
        if (t == block_type::q8_0) detail::blocks::quantize_q8_0(in, block);
        if (t == block_type::q6_k) detail::blocks::quantize_q6_k(in, block);
        if (t == block_type::q4_k) detail::blocks::quantize_q4_k(in, block);
    }
}

}  // namespace ternary::inline TERNARY_ABI
