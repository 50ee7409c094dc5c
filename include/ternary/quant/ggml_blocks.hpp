#pragma once
// llama.cpp's (ggml's) block-quantized float formats, as GGUF files store embeddings, output
// heads and float linears: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL (blocks of 32 weights) and the
// "k-quants" Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (super-blocks of 256 in sub-blocks of 16 or 32). The
// layouts were learned from ggml's ggml-common.h and gguf-py's quants.py; layout_of and
// decode_integers below say where each field is, and docs/kernels.md how they are multiplied.
//
// Every format is, per sub-block s of a block, value_j = D_s q_j - M_s with small integers
// q_j, D_s = d * (an integer scale) and M_s = dmin * (an integer min) or 0: f16 factors d and
// dmin per block. Two readings of that are given here:
//
// - dequantize_block: the values as floats with exactly the float arithmetic of ggml's
//   reference dequantizer (gguf-py computes the same): D_s = float(d * scale), then
//   float(D_s * q) - M_s. Each product is formed exactly in double (an f16 times a small
//   integer, or a float times one, has at most 32 significant bits) and rounded once to float,
//   which is what a float multiply does; the explicit rounding also keeps a compiler that
//   fuses multiply-adds from changing any value.
// - block_terms: the integer form used to multiply a block with int8 activations x:
//       sum_j value_j x_j = d * I1 + m * I2
//   with I1 and I2 exact int32 sums (each format's bound is given by block_term_bound), m the
//   block's second factor (dmin, or Q4_1/Q5_1's m; 0 where there is none).

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

#include "../config.hpp"
#include "../io/half.hpp"

namespace ternary::inline TERNARY_ABI {

enum class block_type : std::uint8_t { q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl };

struct block_layout {
    std::string_view name;      // as ggml writes it: "Q4_0", "Q6_K", ...
    std::uint32_t ggml_id;      // the type id in GGUF files
    std::size_t weights;        // per block
    std::size_t bytes;          // per block
};

inline constexpr std::array<block_type, 11> all_block_types = {
    block_type::q4_0, block_type::q4_1, block_type::q5_0, block_type::q5_1, block_type::q8_0, block_type::q2_k,
    block_type::q3_k, block_type::q4_k, block_type::q5_k, block_type::q6_k, block_type::iq4_nl};

constexpr block_layout layout_of(block_type t) {
    switch (t) {
        case block_type::q4_0: return {"Q4_0", 2, 32, 18};     // f16 d, 16 bytes of nibbles
        case block_type::q4_1: return {"Q4_1", 3, 32, 20};     // f16 d, f16 m, 16 bytes of nibbles
        case block_type::q5_0: return {"Q5_0", 6, 32, 22};     // f16 d, 4 bytes of high bits, 16 of nibbles
        case block_type::q5_1: return {"Q5_1", 7, 32, 24};     // f16 d, f16 m, 4 + 16 bytes
        case block_type::q8_0: return {"Q8_0", 8, 32, 34};     // f16 d, 32 int8
        case block_type::q2_k: return {"Q2_K", 10, 256, 84};   // 16 scale bytes, 64 bytes of 2-bit, f16 d, dmin
        case block_type::q3_k: return {"Q3_K", 11, 256, 110};  // 32 bytes high bits, 64 of 2-bit, 12 scales, f16 d
        case block_type::q4_k: return {"Q4_K", 12, 256, 144};  // f16 d, dmin, 12 scale bytes, 128 of nibbles
        case block_type::q5_k: return {"Q5_K", 13, 256, 176};  // as Q4_K plus 32 bytes of high bits
        case block_type::q6_k: return {"Q6_K", 14, 256, 210};  // 128 bytes low nibbles, 64 high 2-bit, 16 int8 scales, f16 d
        case block_type::iq4_nl: return {"IQ4_NL", 20, 32, 18};  // f16 d, 16 bytes of indices into a table
    }
    return {"?", 0, 1, 1};
}

/// The block type of a GGUF type id, if it is one of these.
constexpr std::optional<block_type> block_type_of_ggml(std::uint32_t id) {
    for (block_type t : all_block_types) {
        if (layout_of(t).ggml_id == id) return t;
    }
    return std::nullopt;
}

/// The block type named `name` (ggml's spelling, any case: "q6_k", "Q6_K").
constexpr std::optional<block_type> block_type_named(std::string_view name) {
    for (block_type t : all_block_types) {
        const std::string_view n = layout_of(t).name;
        if (n.size() != name.size()) continue;
        bool same = true;
        for (std::size_t i = 0; i < n.size(); ++i) {
            const char c = name[i] >= 'a' && name[i] <= 'z' ? static_cast<char>(name[i] - 'a' + 'A') : name[i];
            same = same && c == n[i];
        }
        if (same) return t;
    }
    return std::nullopt;
}

namespace detail::blocks {

inline float half_at(const std::uint8_t* p) {
    std::uint16_t h;
    std::memcpy(&h, p, 2);
    return io::float_from_f16(h);
}

/// float(a * b) for a float a and a small integer b: the exact product, rounded once.
inline float times(float a, int b) { return static_cast<float>(static_cast<double>(a) * b); }

/// IQ4_NL's 16 values (ggml's kvalues_iq4nl).
inline constexpr std::array<std::int8_t, 16> iq4nl_values = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                             1,    13,   25,  38,  53,  69,  89,  113};

/// The 6-bit scale and min of sub-block j (0..7) of Q4_K / Q5_K (12 packed bytes: 0-3 hold the
/// low 6 bits of scales 0-3 and their top 2 bits for scales 4-7, 4-7 the same for mins, 8-11
/// the low nibbles of scales and mins 4-7).
inline void k4_scale_min(const std::uint8_t* s, int j, int& scale, int& min) {
    if (j < 4) {
        scale = s[j] & 63;
        min = s[j + 4] & 63;
    } else {
        scale = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
        min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/// Q3_K's 16 signed scales (6 bits, minus 32): bytes 0-7 hold low nibbles (scales 0-7 in the
/// low halves, 8-15 in the high halves), bytes 8-11 the top 2 bits (scale i in byte 8 + i % 4,
/// at bit 2 (i / 4)).
inline void q3k_scales(const std::uint8_t* s, int* out) {
    for (int i = 0; i < 16; ++i) {
        const int low = (s[i % 8] >> (4 * (i / 8))) & 0xF;
        const int high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        out[i] = (low | (high << 4)) - 32;
    }
}

/// The small integer q_j of each of a block's weights and, per sub-block, the integer scale and
/// min, as `f(j, q_j)`, `sub(s, scale, min)` (sub-blocks of sub_size consecutive weights).
struct integer_block {
    std::int8_t q[256];
    std::int16_t scale[16];  // per sub-block (1 for the 32-weight formats, whose d is the scale)
    std::int16_t min[16];    // per sub-block (K-quants with dmin), else 0
    std::size_t sub_size;    // 16 or 32 (a 32-weight format is one sub-block)
    std::size_t subs;
    float d;
    float m;                 // dmin, or Q4_1 / Q5_1's m; 0 if none
};

/// Decodes a block into its integers. For every format, value_j = D_s q_j - M_s with
/// D_s = d * scale[s] and M_s = m * min[s] (Q4_1 / Q5_1: M = -m, min = -1).
inline void decode_integers(block_type t, const std::uint8_t* b, integer_block& out) {
    out.m = 0.0f;
    out.subs = 1;
    out.sub_size = 32;
    out.scale[0] = 1;
    out.min[0] = 0;
    switch (t) {
        case block_type::q4_0:
        case block_type::q4_1: {
            const bool with_min = t == block_type::q4_1;
            out.d = half_at(b);
            if (with_min) {
                out.m = half_at(b + 2);
                out.min[0] = -1;
            }
            const std::uint8_t* qs = b + (with_min ? 4 : 2);
            const int offset = with_min ? 0 : 8;
            for (int j = 0; j < 16; ++j) {
                out.q[j] = static_cast<std::int8_t>((qs[j] & 0xF) - offset);
                out.q[j + 16] = static_cast<std::int8_t>((qs[j] >> 4) - offset);
            }
            return;
        }
        case block_type::q5_0:
        case block_type::q5_1: {
            const bool with_min = t == block_type::q5_1;
            out.d = half_at(b);
            if (with_min) {
                out.m = half_at(b + 2);
                out.min[0] = -1;
            }
            const std::uint8_t* p = b + (with_min ? 4 : 2);
            std::uint32_t qh;
            std::memcpy(&qh, p, 4);
            const std::uint8_t* qs = p + 4;
            const int offset = with_min ? 0 : 16;
            for (int j = 0; j < 16; ++j) {
                const int high0 = static_cast<int>((qh >> j) & 1) << 4, high1 = static_cast<int>((qh >> (j + 16)) & 1) << 4;
                out.q[j] = static_cast<std::int8_t>(((qs[j] & 0xF) | high0) - offset);
                out.q[j + 16] = static_cast<std::int8_t>(((qs[j] >> 4) | high1) - offset);
            }
            return;
        }
        case block_type::q8_0:
            out.d = half_at(b);
            std::memcpy(out.q, b + 2, 32);
            return;
        case block_type::iq4_nl:
            out.d = half_at(b);
            for (int j = 0; j < 16; ++j) {
                out.q[j] = iq4nl_values[b[2 + j] & 0xF];
                out.q[j + 16] = iq4nl_values[b[2 + j] >> 4];
            }
            return;
        case block_type::q2_k: {
            const std::uint8_t* scales = b;
            const std::uint8_t* qs = b + 16;
            out.d = half_at(b + 80);
            out.m = half_at(b + 82);
            out.sub_size = 16;
            out.subs = 16;
            for (int s = 0; s < 16; ++s) {
                out.scale[s] = scales[s] & 0xF;
                out.min[s] = scales[s] >> 4;
            }
            // Weight 128 h + 32 k + l (h < 2, k < 4, l < 32) is bits 2k of byte 32 h + l.
            for (int j = 0; j < 256; ++j) {
                const int h = j / 128, k = (j % 128) / 32, l = j % 32;
                out.q[j] = static_cast<std::int8_t>((qs[32 * h + l] >> (2 * k)) & 3);
            }
            return;
        }
        case block_type::q3_k: {
            const std::uint8_t* hmask = b;
            const std::uint8_t* qs = b + 32;
            out.d = half_at(b + 108);
            out.sub_size = 16;
            out.subs = 16;
            int scales[16];
            q3k_scales(b + 96, scales);
            for (int s = 0; s < 16; ++s) out.scale[s] = static_cast<std::int16_t>(scales[s]), out.min[s] = 0;
            // Weight j = 128 h + 32 k + l: 2 low bits as in Q2_K, minus 4 unless bit j / 32 of
            // hmask[l] is set.
            for (int j = 0; j < 256; ++j) {
                const int h = j / 128, k = (j % 128) / 32, l = j % 32;
                const int low = (qs[32 * h + l] >> (2 * k)) & 3;
                const int high_set = (hmask[l] >> (j / 32)) & 1;
                out.q[j] = static_cast<std::int8_t>(low - (high_set ? 0 : 4));
            }
            return;
        }
        case block_type::q4_k:
        case block_type::q5_k: {
            const bool five = t == block_type::q5_k;
            out.d = half_at(b);
            out.m = half_at(b + 2);
            out.subs = 8;
            for (int s = 0; s < 8; ++s) {
                int scale = 0, min = 0;
                k4_scale_min(b + 4, s, scale, min);
                out.scale[s] = static_cast<std::int16_t>(scale);
                out.min[s] = static_cast<std::int16_t>(min);
            }
            const std::uint8_t* qh = b + 16;
            const std::uint8_t* qs = b + (five ? 48 : 16);
            // Weight 64 g + 32 n + l (g < 4, n < 2): nibble n of byte 32 g + l; Q5_K's fifth bit
            // is bit j / 32 of qh[l].
            for (int j = 0; j < 256; ++j) {
                const int g = j / 64, n = (j % 64) / 32, l = j % 32;
                int q = (qs[32 * g + l] >> (4 * n)) & 0xF;
                if (five) q |= ((qh[l] >> (j / 32)) & 1) << 4;
                out.q[j] = static_cast<std::int8_t>(q);
            }
            return;
        }
        case block_type::q6_k: {
            const std::uint8_t* ql = b;
            const std::uint8_t* qh = b + 128;
            const auto* scales = reinterpret_cast<const std::int8_t*>(b + 192);
            out.d = half_at(b + 208);
            out.sub_size = 16;
            out.subs = 16;
            for (int s = 0; s < 16; ++s) out.scale[s] = scales[s], out.min[s] = 0;
            // Weight 128 h + 32 k + l (h < 2, k < 4, l < 32): nibble k / 2 of ql[64 h + 32 (k % 2)
            // + l], high 2 bits at bit 2k of qh[32 h + l], minus 32.
            for (int j = 0; j < 256; ++j) {
                const int h = j / 128, k = (j % 128) / 32, l = j % 32;
                const int low = (ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0xF;
                const int high = (qh[32 * h + l] >> (2 * k)) & 3;
                out.q[j] = static_cast<std::int8_t>((low | (high << 4)) - 32);
            }
            return;
        }
    }
}

}  // namespace detail::blocks

/// The weights of one block as floats (layout_of(t).weights of them), with ggml's arithmetic.
inline void dequantize_block(block_type t, const std::uint8_t* block, float* out) {
    detail::blocks::integer_block b;
    detail::blocks::decode_integers(t, block, b);
    for (std::size_t s = 0; s < b.subs; ++s) {
        const float* const end = out + b.sub_size;
        const std::int8_t* q = b.q + s * b.sub_size;
        if (t == block_type::q4_1 || t == block_type::q5_1) {
            for (; out != end; ++q) *out++ = detail::blocks::times(b.d, *q) + b.m;  // d q + m
        } else if (t == block_type::q2_k || t == block_type::q4_k || t == block_type::q5_k) {
            const float scale = detail::blocks::times(b.d, b.scale[s]), min = detail::blocks::times(b.m, b.min[s]);
            for (; out != end; ++q) *out++ = detail::blocks::times(scale, *q) - min;  // (d sc) q - dmin m
        } else if (b.subs == 1) {
            for (; out != end; ++q) *out++ = detail::blocks::times(b.d, *q);  // d q
        } else {
            const float scale = detail::blocks::times(b.d, b.scale[s]);
            for (; out != end; ++q) *out++ = detail::blocks::times(scale, *q);  // (d sc) q
        }
    }
}

/// n weights (a multiple of the block size) from consecutive blocks at `row`.
inline void dequantize_row(block_type t, const std::uint8_t* row, float* out, std::size_t n) {
    const block_layout l = layout_of(t);
    for (std::size_t i = 0; i < n / l.weights; ++i) dequantize_block(t, row + i * l.bytes, out + i * l.weights);
}

/// A block's factors d and m (see the top of this file): both finite in a sound block.
inline void block_factors(block_type t, const std::uint8_t* b, float& d, float& m) {
    using detail::blocks::half_at;
    m = 0.0f;
    switch (t) {
        case block_type::q4_0:
        case block_type::q5_0:
        case block_type::q8_0:
        case block_type::iq4_nl: d = half_at(b); return;
        case block_type::q4_1:
        case block_type::q5_1:
        case block_type::q4_k:
        case block_type::q5_k: d = half_at(b), m = half_at(b + 2); return;
        case block_type::q2_k: d = half_at(b + 80), m = half_at(b + 82); return;
        case block_type::q3_k: d = half_at(b + 108); return;
        case block_type::q6_k: d = half_at(b + 208); return;
    }
    d = 0.0f;
}

/// A block's exact integer terms against int8 activations x (layout_of(t).weights of them):
/// sum_j value_j x_j = d * I1 + m * I2 (see block_factors). The scalar reference every kernel
/// matches.
struct block_integer_terms {
    std::int32_t i1;
    std::int32_t i2;
};

inline block_integer_terms block_terms(block_type t, const std::uint8_t* block, const std::int8_t* x) {
    detail::blocks::integer_block b;
    detail::blocks::decode_integers(t, block, b);
    block_integer_terms terms{0, 0};
    for (std::size_t s = 0; s < b.subs; ++s) {
        std::int32_t qx = 0, xs = 0;
        for (std::size_t j = s * b.sub_size; j < (s + 1) * b.sub_size; ++j) {
            qx += b.q[j] * x[j];
            xs += x[j];
        }
        terms.i1 += b.scale[s] * qx;
        terms.i2 -= b.min[s] * xs;  // K-quants: - dmin m_s sum x; Q4_1/Q5_1 (min -1): + m sum x
    }
    return terms;
}

/// The largest |I1| or |I2| any block can give with x in [-128, 127]: all fit int32 with room.
///   Q6_K: 16 sub-blocks * 128 (|scale|) * 16 * 32 * 128 (|q x|) = 2^27
///   Q3_K: 16 * 32 * 16 * 4 * 128 = 2^24; Q2_K: 16 * 15 * 16 * 3 * 128 = 1.5 * 2^20
///   Q4_K, Q5_K: 8 * 63 * 32 * 31 * 128 = 16 M (mins: 8 * 63 * 32 * 128 = 2 M)
///   Q8_0, IQ4_NL: 32 * 128 * 128 = 2^19; Q4_x, Q5_x: less
inline constexpr std::int64_t block_term_bound = std::int64_t{1} << 27;

}  // namespace ternary::inline TERNARY_ABI
