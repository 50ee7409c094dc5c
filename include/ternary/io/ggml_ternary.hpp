#pragma once
// The ternary tensor types of GGUF files (formats.md 4.3-4.5), to and from trits in {-1, 0, +1}
// (row-major, rows x cols = ne[1] x ne[0]) and their scales:
//   I2_S  (36, bitnet.cpp)  2 bits, blocks of 128 in 32 bytes, group 0 in the TOP bits, codes
//                           w + 1 (11 invalid); one f32 scale in a 32-byte tail
//   TQ2_0 (35, ggml)        2 bits, blocks of 256 in 64 bytes + f16 scale, group 0 in the LOW bits
//   TQ1_0 (34, ggml)        base 3, blocks of 256 in 48 + 4 bytes + f16 scale
// TQ scales are per block of 256 weights (each block's absmax); I2_S's is per tensor.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "../thread_pool.hpp"
#include "../pack/base3.hpp"
#include "half.hpp"

namespace ternary::inline TERNARY_ABI::io {

/// Trits and scales of a decoded tensor. scales: one (I2_S) or one per 256 weights (TQ),
/// row-major; weight(i, j) = trits[i * cols + j] * scales[(i * cols + j) / block].
struct ternary_tensor {
    std::vector<std::int8_t> trits;
    std::vector<float> scales;
    std::size_t block = 0;  // weights per scale: rows * cols (I2_S) or 256 (TQ)
};

namespace detail {

inline void check_size(const char* type, std::span<const std::uint8_t> bytes, std::size_t expected, std::size_t cols,
                       std::size_t multiple) {
    if (cols % multiple != 0) {
        ternary::detail::fail<format_error>(type, "rows of ", cols, " weights are not a multiple of ", multiple);
    }
    if (bytes.size() != expected) ternary::detail::fail<format_error>(type, "needs ", expected, " bytes, got ", bytes.size());
}

inline std::int8_t trit_of_code(unsigned code, const char* type, std::size_t element) {
    if (code == 3) ternary::detail::fail<format_error>(type, "code 3 (no weight) at element ", element);
    return static_cast<std::int8_t>(static_cast<int>(code) - 1);
}

/// The blocks of a TQ tensor: `block_bytes` each, 256 weights then an f16 scale in the last two
/// bytes. decode(block, trits of the block, block index) fills the block's 256 trits.
template <class DecodeBlock>
ternary_tensor decode_tq_blocks(const char* type, std::span<const std::uint8_t> bytes, std::size_t rows,
                                std::size_t cols, std::size_t block_bytes, DecodeBlock decode) {
    check_size(type, bytes, rows * cols / 256 * block_bytes, cols, 256);
    ternary_tensor t{std::vector<std::int8_t>(rows * cols), {}, 256};
    for (std::size_t b = 0; b < rows * cols / 256; ++b) {
        const std::uint8_t* block = bytes.data() + block_bytes * b;
        decode(block, t.trits.data() + 256 * b, b);
        std::uint16_t d;
        std::memcpy(&d, block + block_bytes - 2, 2);
        t.scales.push_back(float_from_f16(d));
    }
    return t;
}

/// The inverse: encode(block, trits of the block) writes the block's weights; the f16 scale
/// follows in the last two bytes.
template <class EncodeBlock>
std::vector<std::uint8_t> encode_tq_blocks(const char* type, std::span<const std::int8_t> trits, std::size_t rows,
                                           std::size_t cols, std::span<const float> block_scales,
                                           std::size_t block_bytes, EncodeBlock encode) {
    std::vector<std::uint8_t> out(rows * cols / 256 * block_bytes, 0);
    check_size(type, out, out.size(), cols, 256);
    if (block_scales.size() != rows * cols / 256) {
        ternary::detail::fail<value_error>(type, "needs ", rows * cols / 256, " block scales, got ", block_scales.size());
    }
    for (std::size_t b = 0; b < rows * cols / 256; ++b) {
        std::uint8_t* block = out.data() + block_bytes * b;
        encode(block, trits.data() + 256 * b);
        const std::uint16_t d = f16_from_float(block_scales[b]);
        std::memcpy(block + block_bytes - 2, &d, 2);
    }
    return out;
}

}  // namespace detail

// ---- I2_S

inline std::size_t i2_s_bytes(std::size_t rows, std::size_t cols) { return rows * cols / 4 + 32; }

inline ternary_tensor decode_i2_s(std::span<const std::uint8_t> bytes, std::size_t rows, std::size_t cols) {
    detail::check_size("I2_S", bytes, i2_s_bytes(rows, cols), cols, 128);
    ternary_tensor t{std::vector<std::int8_t>(rows * cols), {}, rows * cols};
    for (std::size_t e = 0; e < t.trits.size(); ++e) {
        const std::size_t block = e / 128, g = (e % 128) / 32, j = e % 32;
        t.trits[e] = detail::trit_of_code((bytes[32 * block + j] >> (6 - 2 * g)) & 3u, "I2_S", e);
    }
    float scale;
    std::memcpy(&scale, bytes.data() + rows * cols / 4, 4);
    t.scales = {scale};
    return t;
}

/// I2_S codes rearranged into the two_bit packing (4 weights per byte, LSB first, code w + 1,
/// rows contiguous), which for rows of a multiple of 128 weights is a permutation of the bit
/// pairs inside each 32-byte block: no trit is decoded, so a 2B4T file repacks at memory speed.
/// Code 3 is left for the two_bit validation to refuse. The scale is i2_s_scale().
///
/// Each output byte b of a block holds elements 4b .. 4b+3, which sit in the 2-bit field
/// 6 - 2 (b / 8) of the four input bytes 4 (b % 8) .. 4 (b % 8) + 3: one 32-bit load, a shift,
/// a mask and a fold. Blocks are independent and go to the default thread pool. `out` receives
/// rows * cols / 4 bytes.
inline void i2_s_to_two_bit(std::span<const std::uint8_t> bytes, std::size_t rows, std::size_t cols, std::uint8_t* out) {
    detail::check_size("I2_S", bytes, i2_s_bytes(rows, cols), cols, 128);
    const std::size_t blocks = rows * cols / 4 / 32;
    const auto repack_blocks = [&](std::size_t first, std::size_t last) {
        for (std::size_t block = first; block < last; ++block) {
            const std::uint8_t* in = bytes.data() + 32 * block;
            std::uint8_t* o = out + 32 * block;
            for (std::size_t b = 0; b < 32; ++b) {
                std::uint32_t word;
                std::memcpy(&word, in + 4 * (b % 8), 4);
                // Byte i of word (little-endian) is input byte 4 (b % 8) + i; its field for this
                // group moved to the byte's low 2 bits, then the four folded into one byte.
                const std::uint32_t fields = (word >> (6 - 2 * (b / 8))) & 0x03030303u;
                if constexpr (std::endian::native == std::endian::little) {
                    o[b] = static_cast<std::uint8_t>(fields | fields >> 6 | fields >> 12 | fields >> 18);
                } else {
                    o[b] = static_cast<std::uint8_t>(fields >> 24 | fields >> 14 | fields >> 4 | fields << 6);
                }
            }
        }
    };
    // 8192 blocks (256 KiB) a task.
    default_pool().run_ranges(blocks, blocks < 8192 ? blocks : 8192, repack_blocks);
}

/// The same into a new vector.
inline std::vector<std::uint8_t> i2_s_to_two_bit(std::span<const std::uint8_t> bytes, std::size_t rows, std::size_t cols) {
    detail::check_size("I2_S", bytes, i2_s_bytes(rows, cols), cols, 128);
    std::vector<std::uint8_t> out(rows * cols / 4);
    i2_s_to_two_bit(bytes, rows, cols, out.data());
    return out;
}

/// The per-tensor scale in an I2_S tensor's tail.
inline float i2_s_scale(std::span<const std::uint8_t> bytes, std::size_t rows, std::size_t cols) {
    detail::check_size("I2_S", bytes, i2_s_bytes(rows, cols), cols, 128);
    float scale;
    std::memcpy(&scale, bytes.data() + rows * cols / 4, 4);
    return scale;
}

inline std::vector<std::uint8_t> encode_i2_s(std::span<const std::int8_t> trits, std::size_t rows, std::size_t cols,
                                             float scale) {
    std::vector<std::uint8_t> out(i2_s_bytes(rows, cols), 0);
    detail::check_size("I2_S", out, i2_s_bytes(rows, cols), cols, 128);
    for (std::size_t e = 0; e < rows * cols; ++e) {
        const std::size_t block = e / 128, g = (e % 128) / 32, j = e % 32;
        out[32 * block + j] |= static_cast<std::uint8_t>((trits[e] + 1) << (6 - 2 * g));
    }
    std::memcpy(out.data() + rows * cols / 4, &scale, 4);
    return out;
}

// ---- TQ2_0

inline ternary_tensor decode_tq2_0(std::span<const std::uint8_t> bytes, std::size_t rows, std::size_t cols) {
    return detail::decode_tq_blocks("TQ2_0", bytes, rows, cols, 66, [](const std::uint8_t* block, std::int8_t* trits, std::size_t b) {
        for (std::size_t e = 0; e < 256; ++e) {  // byte 32 (e / 128) + e % 32, bits 2 ((e % 128) / 32)
            const unsigned code = (block[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3u;
            trits[e] = detail::trit_of_code(code, "TQ2_0", 256 * b + e);
        }
    });
}

inline std::vector<std::uint8_t> encode_tq2_0(std::span<const std::int8_t> trits, std::size_t rows, std::size_t cols,
                                              std::span<const float> block_scales) {
    return detail::encode_tq_blocks("TQ2_0", trits, rows, cols, block_scales, 66, [](std::uint8_t* block, const std::int8_t* x) {
        for (std::size_t e = 0; e < 256; ++e) {
            block[32 * (e / 128) + e % 32] |= static_cast<std::uint8_t>((x[e] + 1) << (2 * ((e % 128) / 32)));
        }
    });
}

// ---- TQ1_0

namespace detail {

/// Where element e (0..255) of a TQ1_0 block is: its byte and its trit within the byte.
struct tq1_place {
    std::size_t byte, trit;
};
inline tq1_place tq1_0_place(std::size_t e) {
    if (e < 160) return {e % 32, e / 32};                     // qs[m]: elements m + 32k
    if (e < 240) return {32 + (e - 160) % 16, (e - 160) / 16};  // qs[32 + m]: 160 + m + 16k
    return {48 + (e - 240) % 4, (e - 240) / 4};                 // qh[j]: 240 + j + 4k, 4 trits
}

}  // namespace detail

inline ternary_tensor decode_tq1_0(std::span<const std::uint8_t> bytes, std::size_t rows, std::size_t cols) {
    return detail::decode_tq_blocks("TQ1_0", bytes, rows, cols, 54, [](const std::uint8_t* block, std::int8_t* trits, std::size_t b) {
        for (std::size_t i = 0; i < 52; ++i) {
            // Bytes must be base-3 encodings; qh's fifth trit is always 0 (it was multiplied by 3).
            if (!ternary::detail::base3_is_encoding[block[i]] || (i >= 48 && base3::trit(block[i], 4) != 0)) {
                ternary::detail::fail<format_error>("TQ1_0", "block ", b, " byte ", i, " encodes no trits");
            }
        }
        for (std::size_t e = 0; e < 256; ++e) {
            const auto [byte, trit] = detail::tq1_0_place(e);
            trits[e] = static_cast<std::int8_t>(static_cast<int>(base3::trit(block[byte], trit)) - 1);
        }
    });
}

inline std::vector<std::uint8_t> encode_tq1_0(std::span<const std::int8_t> trits, std::size_t rows, std::size_t cols,
                                              std::span<const float> block_scales) {
    return detail::encode_tq_blocks("TQ1_0", trits, rows, cols, block_scales, 54, [](std::uint8_t* block, const std::int8_t* x) {
        constexpr unsigned place_value[5] = {81, 27, 9, 3, 1};  // first trit most significant
        unsigned n[52] = {};
        for (std::size_t e = 0; e < 256; ++e) {
            const auto [byte, trit] = detail::tq1_0_place(e);
            n[byte] += static_cast<unsigned>(x[e] + 1) * place_value[trit];
        }
        for (std::size_t i = 0; i < 52; ++i) block[i] = base3::encode(n[i]);
    });
}

}  // namespace ternary::inline TERNARY_ABI::io
