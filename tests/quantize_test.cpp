// Quantizers against the paper's formulas, written here independently (std::nearbyint, which
// rounds ties to even in the default rounding mode, instead of ternary::round_half_even).

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "support.hpp"

namespace {

float nearest_even(float x) {
    REQUIRE(std::fegetround() == FE_TONEAREST);
    return std::nearbyint(x);
}

}  // namespace

TEST_CASE("round_half_even: ties go to the even neighbour") {
    // Literal expectations from the definition.
    CHECK(ternary::round_half_even(0.5f) == 0.0f);
    CHECK(ternary::round_half_even(1.5f) == 2.0f);
    CHECK(ternary::round_half_even(2.5f) == 2.0f);
    CHECK(ternary::round_half_even(-0.5f) == 0.0f);
    CHECK(ternary::round_half_even(-1.5f) == -2.0f);
    CHECK(ternary::round_half_even(-2.5f) == -2.0f);
    CHECK(ternary::round_half_even(126.5f) == 126.0f);
    CHECK(ternary::round_half_even(127.5f) == 128.0f);
    CHECK(ternary::round_half_even(0.49999997f) == 0.0f);
    // Against the C library on many values, ties included.
    for (int k = -300; k <= 300; ++k) {
        const float tie = static_cast<float>(k) + 0.5f;
        CHECK(ternary::round_half_even(tie) == nearest_even(tie));
    }
    for (float v : test::random_floats(10000, 200.0f)) CHECK(ternary::round_half_even(v) == nearest_even(v));
}

TEST_CASE("absmax quantization matches the formula per token") {
    const std::size_t tokens = 6, cols = 333;
    auto x = test::random_floats(tokens * cols, 3.0f);
    std::fill(x.begin() + 4 * static_cast<std::ptrdiff_t>(cols), x.begin() + 5 * static_cast<std::ptrdiff_t>(cols), 0.0f);
    x[5 * cols + 7] = 1e-7f;  // a token far below the 1e-5 floor
    const auto batch = ternary::quantize(ternary::matrix_view<const float>::row_major(x.data(), tokens, cols));
    REQUIRE(batch.tokens() == tokens);
    REQUIRE(batch.cols() == cols);
    CHECK(batch.row_stride() % 64 == 0);
    for (std::size_t t = 0; t < tokens; ++t) {
        CAPTURE(t);
        float absmax = 0.0f;
        for (std::size_t j = 0; j < cols; ++j) absmax = std::max(absmax, std::fabs(x[t * cols + j]));
        const float s = 127.0f / std::max(absmax, 1e-5f);
        CHECK(batch.scale(t) == s);
        std::int64_t sum = 0;
        for (std::size_t j = 0; j < cols; ++j) {
            const float expected = std::clamp(nearest_even(x[t * cols + j] * s), -128.0f, 127.0f);
            CHECK(batch.values(t)[j] == static_cast<int>(expected));
            sum += batch.values(t)[j];
        }
        CHECK(batch.sum(t) == sum);
        // Padding after the last value is zero.
        const std::int8_t* row = batch.view().data() + t * batch.row_stride();
        CHECK(std::all_of(row + cols, row + batch.row_stride(), [](std::int8_t v) { return v == 0; }));
    }
    CHECK(batch.scale(4) == 127.0f / 1e-5f);  // all zero: no division by zero
    CHECK(batch.sum(4) == 0);
}

TEST_CASE("absmax: the largest magnitude maps to +-127 and ties round to even") {
    // s = 127 / 127 = 1, so x * s = x exactly and the ties are visible.
    const std::vector<float> x{127.0f, 0.5f, 1.5f, 2.5f, -2.5f, -127.0f, 3.49f};
    const auto q = ternary::quantize(std::span<const float>(x));
    CHECK(q.scale() == 1.0f);
    const std::vector<std::int8_t> expected{127, 0, 2, 2, -2, -127, 3};
    CHECK(std::equal(q.values().begin(), q.values().end(), expected.begin(), expected.end()));
    CHECK(q.sum() == 127 + 0 + 2 + 2 - 2 - 127 + 3);
}

TEST_CASE("absmax input layouts: strided and column-major views give the same batch") {
    const std::size_t tokens = 3, cols = 50;
    const auto x = test::random_floats(tokens * cols);
    std::vector<float> col_major(tokens * cols);
    for (std::size_t t = 0; t < tokens; ++t)
        for (std::size_t j = 0; j < cols; ++j) col_major[j * tokens + t] = x[t * cols + j];
    const auto a = ternary::quantize(ternary::matrix_view<const float>::row_major(x.data(), tokens, cols));
    const auto b = ternary::quantize(ternary::matrix_view<const float>::col_major(col_major.data(), tokens, cols));
    for (std::size_t t = 0; t < tokens; ++t) {
        CHECK(std::equal(a.values(t).begin(), a.values(t).end(), b.values(t).begin(), b.values(t).end()));
        CHECK(a.scale(t) == b.scale(t));
    }
}

TEST_CASE("absmax refuses NaN, Inf, empty input and mismatched batches") {
    std::vector<float> x(10, 1.0f);
    x[3] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH_AS(ternary::quantize(std::span<const float>(x)), doctest::Contains("element 3"),
                         ternary::value_error);
    x[3] = -std::numeric_limits<float>::infinity();
    CHECK_THROWS_AS(ternary::quantize(std::span<const float>(x)), ternary::value_error);
    // In the vectorized part of a longer token and in its tail, with values around them.
    for (std::size_t at : {0u, 17u, 40u, 95u, 99u}) {
        for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()}) {
            std::vector<float> y = test::random_floats(100, 5.0f);
            y[at] = bad;
            CAPTURE(at);
            const std::string element = "element " + std::to_string(at) + " is";
            CHECK_THROWS_WITH_AS(ternary::quantize(std::span<const float>(y)), doctest::Contains(element.c_str()),
                                 ternary::value_error);
        }
    }
    CHECK_THROWS_AS(ternary::quantize(std::span<const float>()), ternary::shape_error);
    ternary::activation_batch batch(2, 5);
    CHECK_THROWS_AS(ternary::quantize_into(batch, ternary::matrix_view<const float>::row_major(x.data(), 2, 4)),
                    ternary::shape_error);
}

TEST_CASE("activation_batch::from_int8 keeps values, checks scales, computes sums") {
    const auto q = test::random_int8(3 * 21);
    const std::vector<float> scales{1.0f, 2.0f, 0.5f};
    const auto batch = ternary::activation_batch::from_int8(
        ternary::matrix_view<const std::int8_t>::row_major(q.data(), 3, 21), scales);
    for (std::size_t t = 0; t < 3; ++t) {
        std::int64_t sum = 0;
        for (std::size_t j = 0; j < 21; ++j) {
            CHECK(batch.values(t)[j] == q[t * 21 + j]);
            sum += q[t * 21 + j];
        }
        CHECK(batch.sum(t) == sum);
        CHECK(batch.scale(t) == scales[t]);
    }
    for (float bad : {0.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
        CHECK_THROWS_AS(ternary::quantized_vector::from_int8(std::span<const std::int8_t>(q.data(), 4), bad),
                        ternary::value_error);
    }
    CHECK_THROWS_AS(ternary::activation_batch::from_int8(
                        ternary::matrix_view<const std::int8_t>::row_major(q.data(), 3, 21), {scales.data(), 2}),
                    ternary::shape_error);
}

TEST_CASE_TEMPLATE("absmean ternarization matches the formula", P, ternary::two_bit, ternary::base3) {
    const std::size_t rows = 17, cols = 91;
    const auto w = test::random_floats(rows * cols, 0.7f);
    const auto m = ternary::ternarize<P>(ternary::matrix_view<const float>::row_major(w.data(), rows, cols));
    double total = 0.0;
    for (float v : w) total += std::fabs(v);
    const float gamma = static_cast<float>(total / static_cast<double>(w.size()));
    const float inv = 1.0f / std::max(gamma, 1e-5f);
    const auto trits = m.trits();
    for (std::size_t k = 0; k < w.size(); ++k) {
        CHECK(trits[k] == static_cast<int>(std::clamp(nearest_even(w[k] * inv), -1.0f, 1.0f)));
    }
    REQUIRE(m.scales().kind() == ternary::scale_kind::per_matrix);
    CHECK(m.scales().values()[0] == 1.0f / inv);
    CHECK(m.scales().values()[0] == doctest::Approx(gamma).epsilon(1e-6));
}

TEST_CASE("absmean by hand, an all-zero matrix, a tiny gamma, and bad input") {
    // gamma = (0.5 + 1 + 0 + 2 + 0.1 + 0.3) / 6 = 0.65; W / gamma = .77 -1.54 0 3.08 .15 -.46
    const std::vector<float> w{0.5f, -1.0f, 0.0f, 2.0f, 0.1f, -0.3f};
    const auto m = ternary::ternarize(ternary::matrix_view<const float>::row_major(w.data(), 2, 3));
    CHECK(m.trits() == std::vector<std::int8_t>{1, -1, 0, 1, 0, 0});
    CHECK(m.scales().values()[0] == doctest::Approx(0.65f));

    const std::vector<float> zeros(12, 0.0f);
    const auto z = ternary::ternarize(ternary::matrix_view<const float>::row_major(zeros.data(), 3, 4));
    CHECK(z.trits() == std::vector<std::int8_t>(12, 0));

    // gamma = 1e-6 < eps: the reference quantizes with 1 / 1e-5, so 1e-4 becomes +1 with scale 1e-5.
    std::vector<float> tiny(100, 0.0f);
    tiny[0] = 1e-4f;
    const auto t = ternary::ternarize(ternary::matrix_view<const float>::row_major(tiny.data(), 1, 100));
    CHECK(t.trits()[0] == 1);
    CHECK(t.scales().values()[0] == doctest::Approx(1e-5f));

    std::vector<float> bad = w;
    bad[4] = std::numeric_limits<float>::infinity();
    CHECK_THROWS_WITH_AS(ternary::ternarize(ternary::matrix_view<const float>::row_major(bad.data(), 2, 3)),
                         doctest::Contains("weight (1, 1)"), ternary::value_error);
    CHECK_THROWS_AS(ternary::ternarize(ternary::matrix_view<const float>::row_major(bad.data(), 0, 3)),
                    ternary::shape_error);
}

TEST_CASE("dequantize gives trit * scale and q / s") {
    const auto trits = test::random_trits(4 * 10);
    std::vector<float> block_scales(4 * 3);
    for (std::size_t k = 0; k < block_scales.size(); ++k) block_scales[k] = 0.1f * static_cast<float>(k + 1);
    const auto m = ternary::ternary_matrix<ternary::base3>::from_trits(
        trits, 4, 10, ternary::weight_scales::per_block(4, block_scales));
    const auto d = ternary::dequantize(m);
    for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t j = 0; j < 10; ++j)
            CHECK(d[i * 10 + j] == static_cast<float>(trits[i * 10 + j]) * block_scales[i * 3 + j / 4]);

    const auto q = test::random_int8(9);
    const auto x = test::batch_of(q, 3.0f);
    const auto dx = ternary::dequantize(x.view());
    for (std::size_t j = 0; j < 9; ++j) CHECK(dx[j] == static_cast<float>(q[j]) / 3.0f);
}
