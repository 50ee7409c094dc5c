// int8_matrix: quantization against a std::nearbyint reference, exact int32 dots on every
// policy against int64 sums (ragged shapes, worst cases up to int8_max_cols), the float gemv
// against double math, refusals, TERNARY_ISA and threads.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string_view>
#include <type_traits>
#include <vector>

#include "support.hpp"

using ternary::int8_matrix;

namespace {

/// n uniform weights in [-127, 127].
std::vector<std::int8_t> random_weights(std::size_t n) {
    std::uniform_int_distribution<int> dist(-127, 127);
    std::vector<std::int8_t> out(n);
    for (auto& v : out) v = static_cast<std::int8_t>(dist(test::rng()));
    return out;
}

int8_matrix matrix_of(const std::vector<std::int8_t>& q, std::size_t rows, std::size_t cols) {
    const std::vector<float> scales(rows, 1.0f);
    return int8_matrix::from_int8(ternary::matrix_view<const std::int8_t>::row_major(q.data(), rows, cols), scales);
}

/// sum_j w(i, j) x[j] for every row, in int64.
std::vector<std::int64_t> exact_dots(const std::vector<std::int8_t>& w, const std::vector<std::int8_t>& x,
                                     std::size_t rows) {
    const std::size_t cols = x.size();
    std::vector<std::int64_t> out(rows);
    for (std::size_t i = 0; i < rows; ++i) {
        for (std::size_t j = 0; j < cols; ++j) out[i] += std::int64_t{w[i * cols + j]} * std::int64_t{x[j]};
    }
    return out;
}

template <class Policy = ternary::default_policy>
std::vector<std::int64_t> dots_of(const int8_matrix& w, const ternary::activation_batch_view& x) {
    std::vector<std::int32_t> out(w.rows());
    ternary::dots<Policy>(out, w, x);
    return {out.begin(), out.end()};
}

template <class Policy = ternary::default_policy>
std::vector<float> gemv_of(const int8_matrix& w, const ternary::activation_batch_view& x) {
    std::vector<float> out(w.rows());
    ternary::gemv<Policy>(out, w, x);
    return out;
}

/// The default policy and every runnable one give exactly `expected`.
void check_every_policy(const int8_matrix& w, const ternary::activation_batch_view& x,
                        const std::vector<std::int64_t>& expected) {
    CHECK(dots_of(w, x) == expected);
    test::for_each_runnable_policy([&](auto policy) {
        using Policy = decltype(policy);
        CAPTURE(Policy::name);
        CHECK(dots_of<Policy>(w, x) == expected);
    });
}

/// The quantizer's definition, written with std::nearbyint (ties to even in the default
/// rounding mode).
struct reference_quantization {
    std::vector<std::int8_t> q;
    std::vector<float> scales;
    reference_quantization(const std::vector<float>& w, std::size_t rows, std::size_t cols)
        : q(rows * cols), scales(rows) {
        for (std::size_t i = 0; i < rows; ++i) {
            float absmax = 0.0f;
            for (std::size_t j = 0; j < cols; ++j) absmax = std::max(absmax, std::fabs(w[i * cols + j]));
            scales[i] = absmax / 127.0f;
            for (std::size_t j = 0; j < cols && scales[i] != 0.0f; ++j) {
                const float r = std::nearbyint(w[i * cols + j] / scales[i]);
                q[i * cols + j] = static_cast<std::int8_t>(std::min(127.0f, std::max(-127.0f, r)));
            }
        }
    }
};

}  // namespace

TEST_CASE("int8_matrix::quantize matches its definition, with rows padded and aligned") {
    const std::size_t cols = 77;
    std::vector<float> w = test::random_floats(7 * cols);
    for (std::size_t j = 0; j < cols; ++j) {
        w[1 * cols + j] = 0.0f;                                  // all zero: scale 0
        w[2 * cols + j] *= 1e-30f;                               // tiny
        w[3 * cols + j] = j == 40 ? -3.0f : 0.0f;                // one value, negative
        w[4 * cols + j] = 0.5f * static_cast<float>(j % 11) - 2.5f;  // ties: k + 0.5 at scale 1 ...
        w[6 * cols + j] = j % 2 == 0 ? 0x1p-144f : -0x1p-145f;     // max / 127 underflows to 0
    }
    w[4 * cols] = 127.0f;                                        // ... since max|row| = 127
    w[5 * cols + 3] = 4000.0f;
    const std::size_t rows = w.size() / cols;
    std::vector<std::size_t> asked;
    const auto m = int8_matrix::quantize(rows, cols, [&](std::size_t i, std::span<float> out) {
        asked.push_back(i);
        REQUIRE(out.size() == cols);
        std::copy(w.begin() + static_cast<std::ptrdiff_t>(i * cols), w.begin() + static_cast<std::ptrdiff_t>((i + 1) * cols),
                  out.begin());
    });
    CHECK(asked == std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6});
    const reference_quantization ref(w, rows, cols);
    REQUIRE(m.rows() == rows);
    REQUIRE(m.cols() == cols);
    CHECK(m.row_stride() == 128);
    CHECK(m.bytes().size() == rows * m.row_stride());
    CHECK(m.scale(1) == 0.0f);
    CHECK(m.scale(2) > 0.0f);
    CHECK(m.scale(6) == 0.0f);
    CHECK(m.scale(4) == 1.0f);
    for (std::size_t i = 0; i < rows; ++i) {
        CAPTURE(i);
        CHECK(reinterpret_cast<std::uintptr_t>(m.row(i).data()) % 64 == 0);
        CHECK(m.row(i).size() == cols);
        CHECK(m.scale(i) == ref.scales[i]);
        CHECK(m.scales()[i] == ref.scales[i]);
        std::int32_t sum = 0;
        for (std::size_t j = 0; j < cols; ++j) {
            CHECK(int{m.row(i)[j]} == int{ref.q[i * cols + j]});
            sum += ref.q[i * cols + j];
        }
        CHECK(m.row_sums()[i] == sum);
        for (std::size_t j = cols; j < m.row_stride(); ++j) CHECK(int{m.bytes()[i * m.row_stride() + j]} == 0);
    }
    // Row 4 holds -2.5 + j/2 at scale 1: ties go to even (std::round would give -1, 1, 3, -3).
    CHECK(int{m.row(4)[1]} == -2);   // -2.0
    CHECK(int{m.row(4)[2]} == -2);   // -1.5
    CHECK(int{m.row(4)[4]} == 0);    // -0.5
    CHECK(int{m.row(4)[6]} == 0);    // 0.5
    CHECK(int{m.row(4)[8]} == 2);    // 1.5
    CHECK(int{m.row(4)[10]} == 2);   // 2.5
    CHECK(int{m.row(4)[11]} == -2);  // -2.5
    CHECK(int{m.row(3)[40]} == -127);
    CHECK(int{m.row(5)[3]} == 127);
    // The float-matrix overload reads any layout the same way.
    const auto by_view = int8_matrix::quantize(ternary::matrix_view<const float>::row_major(w.data(), rows, cols));
    CHECK(std::equal(by_view.bytes().begin(), by_view.bytes().end(), m.bytes().begin()));
}

TEST_CASE("int8_matrix::quantize_parallel gives quantize's matrix, padding and zero rows included") {
    const std::size_t rows = 1000, cols = 100;  // cols pad to 128; many tasks on 3 threads
    const auto w = test::random_floats(rows * cols);
    const auto source = [&](std::size_t i, std::span<float> out) {
        for (std::size_t j = 0; j < cols; ++j) out[j] = i % 97 == 5 ? 0.0f : w[i * cols + j];  // some all-zero rows
    };
    const std::size_t original = ternary::threads();
    ternary::set_threads(3);
    const auto parallel = int8_matrix::quantize_parallel(rows, cols, source);
    ternary::set_threads(original);
    const auto serial = int8_matrix::quantize(rows, cols, source);
    CHECK(std::equal(parallel.bytes().begin(), parallel.bytes().end(), serial.bytes().begin(), serial.bytes().end()));
    CHECK(std::equal(parallel.scales().begin(), parallel.scales().end(), serial.scales().begin(), serial.scales().end()));
    CHECK(std::equal(parallel.row_sums().begin(), parallel.row_sums().end(), serial.row_sums().begin(),
                     serial.row_sums().end()));
    CHECK(int{parallel.row(5)[0]} == 0);
    CHECK(std::all_of(parallel.bytes().begin() + cols, parallel.bytes().begin() + 128, [](std::int8_t v) { return v == 0; }));
    CHECK_THROWS_WITH_AS(int8_matrix::quantize_parallel(rows, cols, [&](std::size_t i, std::span<float> out) {
                             source(i, out);
                             if (i == 700) out[3] = std::nanf("");
                         }),
                         doctest::Contains("row 700, element 3"), ternary::value_error);
}

TEST_CASE("int8_matrix refuses NaN, Inf, -128, bad scales, empty shapes and rows over int8_max_cols") {
    const auto fill = [](float bad) {
        return [bad](std::size_t i, std::span<float> out) {
            for (auto& v : out) v = 1.0f;
            if (i == 2) out[5] = bad;
        };
    };
    CHECK_THROWS_WITH_AS(int8_matrix::quantize(4, 9, fill(std::nanf(""))), doctest::Contains("row 2, element 5"),
                         ternary::value_error);
    CHECK_THROWS_WITH_AS(int8_matrix::quantize(4, 9, fill(-std::numeric_limits<float>::infinity())),
                         doctest::Contains("row 2"), ternary::value_error);
    CHECK_THROWS_AS(int8_matrix::quantize(0, 9, fill(0.0f)), ternary::shape_error);
    CHECK_THROWS_AS(int8_matrix::quantize(4, 0, fill(0.0f)), ternary::shape_error);
    CHECK_THROWS_WITH_AS(int8_matrix::quantize(1, ternary::int8_max_cols + 1, fill(0.0f)),
                         doctest::Contains("int8_max_cols"), ternary::shape_error);

    std::vector<std::int8_t> q(3 * 5, 1);
    const auto view = [&](std::size_t cols) {
        return ternary::matrix_view<const std::int8_t>::row_major(q.data(), q.size() / cols, cols);
    };
    const std::vector<float> ok(3, 0.5f);
    CHECK_NOTHROW(int8_matrix::from_int8(view(5), ok));
    CHECK_NOTHROW(int8_matrix::from_int8(view(5), std::vector<float>{0.0f, 1.0f, 2.0f}));  // 0 is a scale
    CHECK_THROWS_AS(int8_matrix::from_int8(view(5), std::vector<float>(2, 1.0f)), ternary::shape_error);
    for (float bad : {-1.0f, std::nanf(""), std::numeric_limits<float>::infinity()}) {
        CAPTURE(bad);
        CHECK_THROWS_WITH_AS(int8_matrix::from_int8(view(5), std::vector<float>{1.0f, bad, 1.0f}),
                             doctest::Contains("row 1"), ternary::value_error);
    }
    q[2 * 5 + 3] = -128;
    CHECK_THROWS_WITH_AS(int8_matrix::from_int8(view(5), ok), doctest::Contains("(2, 3) is -128"), ternary::value_error);
    q[2 * 5 + 3] = -127;
    CHECK_NOTHROW(int8_matrix::from_int8(view(5), ok));

    std::vector<std::int8_t> long_row(ternary::int8_max_cols + 1, 0);
    CHECK_THROWS_WITH_AS(int8_matrix::from_int8(ternary::matrix_view<const std::int8_t>::row_major(long_row.data(), 1,
                                                                                                   long_row.size()),
                                                std::vector<float>{1.0f}),
                         doctest::Contains("int8_max_cols"), ternary::shape_error);
}

TEST_CASE("int8 dots and gemv check their operands") {
    const auto w = matrix_of(random_weights(5 * 40), 5, 40);
    const auto x = test::batch_of(test::random_int8(40), 1.0f);
    std::vector<std::int32_t> dots(5);
    std::vector<float> y(5);
    CHECK_NOTHROW(ternary::dots(dots, w, x));
    CHECK_NOTHROW(ternary::gemv(y, w, x));
    std::vector<std::int32_t> short_dots(4);
    std::vector<float> long_y(6);
    CHECK_THROWS_AS(ternary::dots(short_dots, w, x), ternary::shape_error);
    CHECK_THROWS_AS(ternary::gemv(long_y, w, x), ternary::shape_error);
    const auto x39 = test::batch_of(test::random_int8(39), 1.0f);
    CHECK_THROWS_AS(ternary::dots(dots, w, x39), ternary::shape_error);
    const auto two = ternary::activation_batch(2, 40);
    CHECK_THROWS_WITH_AS(ternary::gemv(y, w, two), doctest::Contains("one token"), ternary::shape_error);
}

TEST_CASE("every policy's int8 dots equal int64 sums on ragged shapes") {
    for (std::size_t cols : {1u, 2u, 15u, 16u, 17u, 31u, 32u, 33u, 63u, 64u, 65u, 100u, 127u, 128u, 129u, 255u,
                             256u, 257u, 1000u, 2560u, 2561u}) {
        for (std::size_t rows : {1u, 3u, 4u, 5u, 7u, 8u, 9u, 17u}) {
            CAPTURE(cols);
            CAPTURE(rows);
            const auto q = random_weights(rows * cols);
            const auto xq = test::random_int8(cols);
            const auto w = matrix_of(q, rows, cols);
            const auto x = test::batch_of(xq, 1.0f);
            check_every_policy(w, x, exact_dots(q, xq, rows));
        }
    }
}

TEST_CASE("worst cases: weights +-127 against activations -128 and +127, up to int8_max_cols") {
    // Rows: all +127, all -127, alternating +127/-127, all 0. Tokens: all -128, all +127,
    // alternating +127/-128. +127 x +127 is where vpdpbusd's sum of w (x + 128) peaks:
    // 127 * 255 * K = 2147481735 at K = int8_max_cols.
    for (std::size_t cols : {std::size_t{6913}, ternary::int8_max_cols}) {
        CAPTURE(cols);
        const std::size_t rows = 4;
        std::vector<std::int8_t> q(rows * cols, 0);
        std::vector<std::vector<std::int8_t>> tokens(3, std::vector<std::int8_t>(cols));
        for (std::size_t j = 0; j < cols; ++j) {
            q[j] = 127;
            q[cols + j] = -127;
            q[2 * cols + j] = j % 2 == 0 ? 127 : -127;
            tokens[0][j] = -128;
            tokens[1][j] = 127;
            tokens[2][j] = j % 2 == 0 ? 127 : -128;
        }
        const auto w = matrix_of(q, rows, cols);
        const auto k = static_cast<std::int64_t>(cols);
        for (std::size_t t = 0; t < tokens.size(); ++t) {
            CAPTURE(t);
            const auto x = test::batch_of(tokens[t], 1.0f);
            const auto expected = exact_dots(q, tokens[t], rows);
            if (t == 0) CHECK(expected[0] == -16256 * k);
            if (t == 0) CHECK(expected[1] == 16256 * k);
            if (t == 1) CHECK(expected[0] == 16129 * k);
            check_every_policy(w, x, expected);
        }
    }
}

TEST_CASE("int8 gemv: float(dot) * scale(i) / x.scale, within three roundings of double math") {
    // y_i = fl(fl(fl(dot_i) * s_i) / s_x): three roundings, each of relative error <= u, so
    // |y_i - dot_i s_i / s_x| <= gamma_3 |dot_i s_i / s_x| (the double reference adds < 2^-50).
    const std::size_t rows = 37, cols = 2561;
    const auto w_float = test::random_floats(rows * cols, 0.02f);
    const auto x_float = test::random_floats(cols);
    const auto w = int8_matrix::quantize(ternary::matrix_view<const float>::row_major(w_float.data(), rows, cols));
    const auto x = ternary::quantize(x_float);
    std::vector<std::int8_t> q(rows * cols), xq(x.values().begin(), x.values().end());
    for (std::size_t i = 0; i < rows; ++i) std::copy(w.row(i).begin(), w.row(i).end(), q.begin() + static_cast<std::ptrdiff_t>(i * cols));
    const auto exact = exact_dots(q, xq, rows);
    const double bound = test::gamma_n(3) + std::ldexp(1.0, -50);
    double x_l1 = 0.0;  // sum_j |x_j| of the dequantized activations
    for (std::int8_t v : xq) x_l1 += std::abs(static_cast<double>(v)) / double{x.scale()};
    const auto y = gemv_of(w, x);
    test::for_each_runnable_policy([&](auto policy) {
        using Policy = decltype(policy);
        CAPTURE(Policy::name);
        CHECK(gemv_of<Policy>(w, x) == y);
    });
    for (std::size_t i = 0; i < rows; ++i) {
        CAPTURE(i);
        const double reference = static_cast<double>(exact[i]) * double{w.scale(i)} / double{x.scale()};
        CHECK(std::fabs(double{y[i]} - reference) <= bound * std::fabs(reference));
        CHECK(y[i] == static_cast<float>(exact[i]) * w.scale(i) / x.scale());
        // Against the float weights: q = round(fl(w / s)) with |fl(w / s) - w / s| <= 127 (1 + 2u) u
        // < 128 u (s = fl(max|w| / 127) is within a factor 1 + u of its exact value), so
        // |w - q s| <= s (1/2 + 128 u) and the product is off by at most that times sum |x|.
        double float_product = 0.0;
        for (std::size_t j = 0; j < cols; ++j) float_product += double{w_float[i * cols + j]} * static_cast<double>(xq[j]) / double{x.scale()};
        const double quantization = double{w.scale(i)} * (0.5 + 128 * test::unit_roundoff) * x_l1;
        CHECK(std::fabs(double{y[i]} - float_product) <= quantization + bound * std::fabs(reference) + 1e-12);
    }
}

TEST_CASE("TERNARY_ISA also chooses the int8 kernel") {
    // ctest runs this case once per instruction set name (and once with a bogus name).
    const auto [requested, known, runs, best] = test::read_isa_request();
    const auto q = random_weights(9 * 300);
    const auto xq = test::random_int8(300);
    const auto w = matrix_of(q, 9, 300);
    const auto x = test::batch_of(xq, 2.0f);
    if (!requested.empty() && !(known && runs)) {
        CHECK_THROWS_AS(dots_of(w, x), ternary::error);
        return;
    }
    const std::string_view chosen = requested.empty() ? best : requested;
    const bool same_kernel =
        ternary::detail::int8_kernel<ternary::simd::automatic>() == ternary::detail::int8_kernel_named(chosen);
    CHECK(same_kernel);
    CHECK(dots_of(w, x) == exact_dots(q, xq, 9));
}

TEST_CASE("every SIMD policy has int8 kernels of its own (one token, several), not the scalar fallback") {
    // A policy without one still gives exact results (the scalar loops), only slowly: the
    // 2B4T head at a quarter of the speed, which no other test would notice.
    test::for_each_runnable_policy([](auto policy) {
        using Policy = decltype(policy);
        CAPTURE(Policy::name);
        if constexpr (!std::is_same_v<Policy, ternary::simd::scalar>) {
            const auto kernels = ternary::detail::int8_kernels_named(Policy::name);
            const bool own_kernel = kernels.rows != &ternary::detail::int8_rows_scalar;
            const bool own_tokens_kernel = kernels.rows_tokens != &ternary::detail::int8_rows_tokens_scalar;
            CHECK(own_kernel);
            CHECK(own_tokens_kernel);
        }
    });
}

TEST_CASE("int8 products are bit-identical for any number of threads") {
    const std::size_t rows = 1001, cols = 2000;  // > parallel_threshold multiply-adds; rows not a multiple of 8
    const auto w = int8_matrix::quantize(rows, cols, [](std::size_t, std::span<float> out) {
        const auto v = test::random_floats(out.size());
        std::copy(v.begin(), v.end(), out.begin());
    });
    const auto x = ternary::quantize(test::random_floats(cols));
    const std::size_t original = ternary::threads();
    ternary::set_threads(1);
    const auto dots_1 = dots_of(w, x);
    const auto y_1 = gemv_of(w, x);
    CHECK(dots_1 == dots_of<ternary::simd::scalar>(w, x));
    for (std::size_t n : {2u, 3u, 5u, 8u}) {
        CAPTURE(n);
        ternary::set_threads(n);
        CHECK(dots_of(w, x) == dots_1);
        CHECK(gemv_of(w, x) == y_1);
        test::for_each_runnable_policy([&](auto policy) {
            using Policy = decltype(policy);
            CAPTURE(Policy::name);
            CHECK(gemv_of<Policy>(w, x) == y_1);
        });
    }
    ternary::set_threads(original);
}

TEST_CASE("int8 gemm over several tokens: each token's row bit-identical to its gemv, every policy") {
    // Enough rows for several tiles and threads (a 2B4T-like head, fewer rows), and ragged
    // shapes with one partial tile; the tokens include the worst-case extremes.
    for (const std::array<std::size_t, 3>& shape : {std::array<std::size_t, 3>{3000, 640, 5}, {37, 2561, 3}, {1, 17, 2}, {130, 64, 9}}) {
        const std::size_t rows = shape[0], cols = shape[1], tokens = shape[2];
        CAPTURE(rows);
        CAPTURE(cols);
        const auto w_float = test::random_floats(rows * cols, 0.02f);
        const auto w = int8_matrix::quantize(ternary::matrix_view<const float>::row_major(w_float.data(), rows, cols));
        auto x_float = test::random_floats(tokens * cols);
        for (std::size_t j = 0; j < cols; ++j) x_float[j] = j % 2 == 0 ? 1.0f : -1.0f;  // token 0: +-127 only
        const auto x = ternary::quantize(ternary::matrix_view<const float>::row_major(x_float.data(), tokens, cols));
        const auto check = [&](auto policy) {
            using Policy = decltype(policy);
            CAPTURE(Policy::name);
            std::vector<float> out(tokens * rows);
            ternary::gemm<Policy>(ternary::matrix_view<float>::row_major(out.data(), tokens, rows), w, x.view());
            for (std::size_t t = 0; t < tokens; ++t) {
                CAPTURE(t);
                const auto one = gemv_of<Policy>(w, x.view().token(t));
                CHECK(std::equal(one.begin(), one.end(), out.begin() + static_cast<std::ptrdiff_t>(t * rows)));
            }
        };
        check(ternary::default_policy{});
        test::for_each_runnable_policy(check);
    }
    const auto w = matrix_of(random_weights(5 * 40), 5, 40);
    const auto x = ternary::activation_batch(2, 40);
    std::vector<float> out(3 * 5);
    CHECK_THROWS_WITH_AS(ternary::gemm(ternary::matrix_view<float>::row_major(out.data(), 3, 5), w, x.view()),
                         doctest::Contains("3 rows for 2 tokens"), ternary::shape_error);
    CHECK_THROWS_AS(ternary::gemm(ternary::matrix_view<float>::row_major(out.data(), 2, 4), w, x.view()), ternary::shape_error);
}
