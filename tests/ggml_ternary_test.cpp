// GGUF's ternary tensor types and f16: layouts written here from formats.md's wording, compared
// byte for byte with the library's encoders; decoders by round trip and on invalid codes.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <ternary/io/ggml_ternary.hpp>
#include <ternary/io/half.hpp>

#include "support.hpp"

using namespace ternary::io;

TEST_CASE("f16: every bit pattern decodes to its value and encodes back") {
    for (unsigned h = 0; h < 65536; ++h) {
        const unsigned sign = h >> 15, exponent = (h >> 10) & 31, mantissa = h & 1023;
        const float got = float_from_f16(static_cast<std::uint16_t>(h));
        if (exponent == 31) {
            CHECK((mantissa == 0 ? std::isinf(got) : std::isnan(got)));
            continue;
        }
        // (-1)^s 2^(e-15) (1 + m/1024), or 2^-14 (m/1024) for e = 0.
        const double magnitude = exponent == 0 ? std::ldexp(mantissa / 1024.0, -14)
                                               : std::ldexp(1.0 + mantissa / 1024.0, static_cast<int>(exponent) - 15);
        CHECK(static_cast<double>(got) == (sign != 0 ? -magnitude : magnitude));
        CHECK(f16_from_float(got) == h);
    }
    // Rounding between f16 values: ties to even, overflow to Inf.
    CHECK(f16_from_float(2049.0f) == 0x6800);  // 2048 and 2050 are neighbours: the tie goes to 2048
    CHECK(f16_from_float(2051.0f) == 0x6802);  // tie between 2050 and 2052 goes to 2052 (even)
    CHECK(f16_from_float(65519.0f) == 0x7BFF);
    CHECK(f16_from_float(65520.0f) == 0x7C00);
    CHECK(float_from_bf16(0x3F80) == 1.0f);
}

TEST_CASE("I2_S: element 128b + 32g + j in byte 32b + j, bits [7-2g : 6-2g], scale in a 32-byte tail") {
    const std::size_t rows = 3, cols = 256;
    const auto trits = test::random_trits(rows * cols);
    std::vector<std::uint8_t> expected(rows * cols / 4 + 32, 0);
    for (std::size_t e = 0; e < rows * cols; ++e) {
        const std::size_t b = e / 128, g = (e % 128) / 32, j = e % 32;
        expected[32 * b + j] = static_cast<std::uint8_t>(expected[32 * b + j] | (trits[e] + 1) << (6 - 2 * g));
    }
    const float scale = 0.731f;
    std::memcpy(expected.data() + rows * cols / 4, &scale, 4);
    CHECK(encode_i2_s(trits, rows, cols, scale) == expected);
    const auto decoded = decode_i2_s(expected, rows, cols);
    CHECK(decoded.trits == trits);
    CHECK(decoded.scales == std::vector<float>{scale});
    auto bad = expected;
    bad[5] |= 0xC0;  // code 11
    CHECK_THROWS_WITH_AS(decode_i2_s(bad, rows, cols), doctest::Contains("code 3"), ternary::format_error);
    CHECK_THROWS_AS(decode_i2_s(expected, rows, 192), ternary::format_error);  // rows not a multiple of 128
    CHECK_THROWS_AS(decode_i2_s(std::span(expected).first(expected.size() - 1), rows, cols), ternary::format_error);

    // The direct repack to two_bit (no trit decoded) gives the bytes two_bit packs from the trits.
    const auto packed = ternary::ternary_matrix<ternary::two_bit>::from_trits(trits, rows, cols,
                                                                              ternary::weight_scales::per_matrix(scale));
    const std::vector<std::uint8_t> repacked = i2_s_to_two_bit(expected, rows, cols);
    CHECK(std::equal(repacked.begin(), repacked.end(), packed.bytes().begin(), packed.bytes().end()));
    CHECK(i2_s_scale(expected, rows, cols) == scale);
    CHECK_THROWS_AS(i2_s_to_two_bit(expected, rows, 192), ternary::format_error);
}

TEST_CASE("TQ2_0: element e at byte 32(e/128) + e%32, bits 2((e%128)/32), then an f16 scale") {
    const std::size_t rows = 2, cols = 512;  // 4 blocks
    const auto trits = test::random_trits(rows * cols);
    const std::vector<float> scales{0.5f, 1.25f, 0.0f, 3.0f};  // exact in f16
    std::vector<std::uint8_t> expected;
    for (std::size_t b = 0; b < 4; ++b) {
        std::uint8_t block[66] = {};
        for (std::size_t e = 0; e < 256; ++e) {
            const std::size_t r = e % 128;
            block[32 * (e / 128) + r % 32] =
                static_cast<std::uint8_t>(block[32 * (e / 128) + r % 32] | (trits[256 * b + e] + 1) << (2 * (r / 32)));
        }
        const std::uint16_t d = f16_from_float(scales[b]);
        std::memcpy(block + 64, &d, 2);
        expected.insert(expected.end(), block, block + 66);
    }
    CHECK(encode_tq2_0(trits, rows, cols, scales) == expected);
    const auto decoded = decode_tq2_0(expected, rows, cols);
    CHECK(decoded.trits == trits);
    CHECK(decoded.scales == scales);
    CHECK(decoded.block == 256);
    CHECK_THROWS_AS(encode_tq2_0(trits, rows, cols, std::span(scales).first(3)), ternary::value_error);
    auto bad = expected;
    bad[66 + 3] = 0xFF;
    CHECK_THROWS_AS(decode_tq2_0(bad, rows, cols), ternary::format_error);
}

TEST_CASE("TQ1_0: qs[m] holds m + 32k, qs[32 + m] holds 160 + m + 16k, qh[j] holds 240 + j + 4k (times 3)") {
    const std::size_t rows = 1, cols = 768;  // 3 blocks
    const auto trits = test::random_trits(rows * cols);
    const std::vector<float> scales{0.5f, 2.0f, 0.75f};
    std::vector<std::uint8_t> expected;
    const auto ceil_scaled = [](unsigned n) { return static_cast<std::uint8_t>((n * 256 + 242) / 243); };
    for (std::size_t b = 0; b < 3; ++b) {
        const std::int8_t* x = trits.data() + 256 * b;
        std::uint8_t block[54] = {};
        for (std::size_t m = 0; m < 32; ++m) {
            unsigned n = 0;
            for (std::size_t k = 0; k < 5; ++k) n = n * 3 + static_cast<unsigned>(x[m + 32 * k] + 1);
            block[m] = ceil_scaled(n);
        }
        for (std::size_t m = 0; m < 16; ++m) {
            unsigned n = 0;
            for (std::size_t k = 0; k < 5; ++k) n = n * 3 + static_cast<unsigned>(x[160 + m + 16 * k] + 1);
            block[32 + m] = ceil_scaled(n);
        }
        for (std::size_t j = 0; j < 4; ++j) {
            unsigned n = 0;
            for (std::size_t k = 0; k < 4; ++k) n = n * 3 + static_cast<unsigned>(x[240 + j + 4 * k] + 1);
            block[48 + j] = ceil_scaled(n * 3);
        }
        const std::uint16_t d = f16_from_float(scales[b]);
        std::memcpy(block + 52, &d, 2);
        expected.insert(expected.end(), block, block + 54);
    }
    CHECK(encode_tq1_0(trits, rows, cols, scales) == expected);
    const auto decoded = decode_tq1_0(expected, rows, cols);
    CHECK(decoded.trits == trits);
    CHECK(decoded.scales == scales);
    auto bad = expected;
    bad[7] = 1;  // 1 is not a base-3 encoding
    CHECK_THROWS_WITH_AS(decode_tq1_0(bad, rows, cols), doctest::Contains("byte 7"), ternary::format_error);
    bad = expected;
    bad[48] = ternary::base3::encode(1);  // qh with a non-zero fifth trit
    CHECK_THROWS_AS(decode_tq1_0(bad, rows, cols), ternary::format_error);
}

TEST_CASE("the three formats hold the same trits: TQ1_0 and TQ2_0 convert into each other losslessly") {
    const std::size_t rows = 4, cols = 256;
    const auto trits = test::random_trits(rows * cols);
    const std::vector<float> scales(4, 0.375f);
    const auto from_tq2 = decode_tq2_0(encode_tq2_0(trits, rows, cols, scales), rows, cols);
    const auto tq1 = encode_tq1_0(from_tq2.trits, rows, cols, from_tq2.scales);
    const auto back = decode_tq1_0(tq1, rows, cols);
    CHECK(back.trits == trits);
    CHECK(back.scales == scales);
    CHECK(decode_i2_s(encode_i2_s(back.trits, rows, cols, 0.375f), rows, cols).trits == trits);
}
