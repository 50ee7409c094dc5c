// GEMV / GEMM against independent references: int64 dot products computed here from the
// trits and int8 values, and the float epilogue checked against double arithmetic with a
// derived error bound.

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "support.hpp"

using ternary::base3;
using ternary::base3_window;
using ternary::two_bit;

namespace {

struct problem {
    std::size_t rows, cols, tokens;
    std::vector<std::int8_t> trits;            // rows x cols
    std::vector<std::vector<std::int8_t>> q;   // tokens x cols
    std::vector<float> x_scales;               // per token
    ternary::activation_batch batch;
};

problem make_problem(std::size_t rows, std::size_t cols, std::size_t tokens) {
    problem p{rows, cols, tokens, test::random_trits(rows * cols), {}, {}, ternary::activation_batch(tokens, cols)};
    std::vector<std::int8_t> all;
    for (std::size_t t = 0; t < tokens; ++t) {
        p.q.push_back(test::random_int8(cols));
        all.insert(all.end(), p.q.back().begin(), p.q.back().end());
        p.x_scales.push_back(127.0f / (0.5f + static_cast<float>(t)));
    }
    p.batch = ternary::activation_batch::from_int8(
        ternary::matrix_view<const std::int8_t>::row_major(all.data(), tokens, cols), p.x_scales);
    return p;
}

/// A policy this machine never has: the products must refuse it.
struct unavailable_policy : ternary::simd::scalar {
    static constexpr std::string_view name = "unavailable";
    static bool available() noexcept { return false; }
};

}  // namespace

TEST_CASE_TEMPLATE("dot products equal int64 reference dots on ragged shapes", P, two_bit, base3, base3_window) {
    for (std::size_t cols : {1u, 3u, 4u, 5u, 31u, 64u, 65u, 255u, 256u, 257u, 1000u, 2560u}) {
        CAPTURE(cols);
        const auto p = make_problem(7, cols, 3);
        const auto w = ternary::ternary_matrix<P>::from_trits(p.trits, p.rows, cols, ternary::weight_scales::per_matrix(1.0f));
        std::vector<std::int32_t> dots(p.tokens * p.rows);
        ternary::dot_products(ternary::matrix_view<std::int32_t>::row_major(dots.data(), p.tokens, p.rows), w, p.batch);
        for (std::size_t t = 0; t < p.tokens; ++t)
            for (std::size_t i = 0; i < p.rows; ++i)
                CHECK(dots[t * p.rows + i] == test::exact_dot(&p.trits[i * cols], p.q[t].data(), cols));
    }
}

TEST_CASE_TEMPLATE("int32 worst case at the longest legal row", P, two_bit, base3, base3_window) {
    // Rows of all +1 and all -1 against tokens of all -128 and all +127, K = max_cols = 2^23:
    // |dot| reaches 128 * 2^23 = 2^30 and must come back exact.
    const std::size_t cols = ternary::max_cols;
    std::vector<std::int8_t> trits(2 * cols, 1);
    std::fill(trits.begin() + static_cast<std::ptrdiff_t>(cols), trits.end(), std::int8_t{-1});
    const auto w = ternary::ternary_matrix<P>::from_trits(trits, 2, cols, ternary::weight_scales::per_matrix(1.0f));
    trits.clear();
    trits.shrink_to_fit();

    std::vector<std::int8_t> q(2 * cols, -128);
    std::fill(q.begin() + static_cast<std::ptrdiff_t>(cols), q.end(), std::int8_t{127});
    const std::vector<float> scales{1.0f, 1.0f};
    const auto x = ternary::activation_batch::from_int8(
        ternary::matrix_view<const std::int8_t>::row_major(q.data(), 2, cols), scales);
    CHECK(x.sum(0) == -128 * static_cast<std::int64_t>(cols));
    CHECK(x.sum(1) == 127 * static_cast<std::int64_t>(cols));

    std::vector<std::int32_t> dots(4);
    ternary::dot_products(ternary::matrix_view<std::int32_t>::row_major(dots.data(), 2, 2), w, x);
    const std::int64_t k = static_cast<std::int64_t>(cols);
    CHECK(dots[0] == -128 * k);  // token -128, row +1
    CHECK(dots[1] == 128 * k);   // token -128, row -1
    CHECK(dots[2] == 127 * k);   // token +127, row +1
    CHECK(dots[3] == -127 * k);  // token +127, row -1

    // And in floats: y = dot * 1 / 1, exactly representable (2^30 and 127 * 2^23).
    std::vector<float> y(4);
    ternary::gemm(ternary::matrix_view<float>::row_major(y.data(), 2, 2), w, x);
    CHECK(y[0] == -1073741824.0f);
    CHECK(y[3] == -1065353216.0f);
}

TEST_CASE_TEMPLATE("GEMV and GEMM outputs: dot * gamma / s within a derived bound", P, two_bit, base3, base3_window) {
    // y = fl(fl(fl(float(dot)) * gamma) / s): three roundings, so |y - exact| <= gamma_3 |exact|
    // (exact in double from the int64 dot; double's own error is ~1e-16 relative, added).
    const auto p = make_problem(33, 700, 5);
    const float gamma = 0.8125f;
    const auto w = ternary::ternary_matrix<P>::from_trits(p.trits, p.rows, p.cols, ternary::weight_scales::per_matrix(gamma));
    std::vector<float> y(p.tokens * p.rows);
    ternary::gemm(ternary::matrix_view<float>::row_major(y.data(), p.tokens, p.rows), w, p.batch);
    for (std::size_t t = 0; t < p.tokens; ++t) {
        const auto one = ternary::gemv(w, p.batch.token(t));  // GEMV of token t alone
        for (std::size_t i = 0; i < p.rows; ++i) {
            const double exact = static_cast<double>(test::exact_dot(&p.trits[i * p.cols], p.q[t].data(), p.cols)) *
                                 gamma / static_cast<double>(p.x_scales[t]);
            const double bound = (test::gamma_n(3) + 1e-15) * std::fabs(exact);
            CHECK(std::fabs(y[t * p.rows + i] - exact) <= bound);
            CHECK(one[i] == y[t * p.rows + i]);  // the same arithmetic, bit for bit
        }
    }
}

TEST_CASE_TEMPLATE("per-row and per-block scales", P, two_bit, base3, base3_window) {
    const auto p = make_problem(6, 600, 2);
    std::vector<float> row_scales(p.rows), block_scales(p.rows * 3);  // blocks of 256: 256, 256, 88
    for (std::size_t i = 0; i < row_scales.size(); ++i) row_scales[i] = 0.1f + 0.3f * static_cast<float>(i);
    for (std::size_t k = 0; k < block_scales.size(); ++k) block_scales[k] = 1.0f / static_cast<float>(k + 2);
    const auto by_row = ternary::ternary_matrix<P>::from_trits(p.trits, p.rows, p.cols, ternary::weight_scales::per_row(row_scales));
    const auto by_block = ternary::ternary_matrix<P>::from_trits(p.trits, p.rows, p.cols,
                                                                 ternary::weight_scales::per_block(256, block_scales));
    for (std::size_t t = 0; t < p.tokens; ++t) {
        const auto yr = ternary::gemv(by_row, p.batch.token(t));
        const auto yb = ternary::gemv(by_block, p.batch.token(t));
        for (std::size_t i = 0; i < p.rows; ++i) {
            const std::int8_t* row = &p.trits[i * p.cols];
            const double s = p.x_scales[t];
            const double exact_r = static_cast<double>(test::exact_dot(row, p.q[t].data(), p.cols)) * row_scales[i] / s;
            CHECK(std::fabs(yr[i] - exact_r) <= (test::gamma_n(3) + 1e-15) * std::fabs(exact_r));
            // Blocks: each term fl(fl(dot_b) * scale_b) has 2 roundings, a float sum of 3 terms
            // adds gamma_2 of sum |terms|, the division one more: gamma_5 * sum |terms| / s.
            double exact_b = 0.0, magnitude = 0.0;
            for (std::size_t b = 0; b < 3; ++b) {
                const std::size_t begin = b * 256, n = std::min<std::size_t>(256, p.cols - begin);
                const double term = static_cast<double>(test::exact_dot(row + begin, p.q[t].data() + begin, n)) *
                                    block_scales[i * 3 + b];
                exact_b += term;
                magnitude += std::fabs(term);
            }
            CHECK(std::fabs(yb[i] - exact_b / s) <= (test::gamma_n(5) + 1e-15) * magnitude / s);
        }
    }
}

TEST_CASE_TEMPLATE("gemm_shared: several matrices on one input give each matrix's exact products", P, two_bit, base3, base3_window) {
    // q, k and v of a small model: one input, rows 600 + 136 + 136 (ragged tasks), enough
    // multiply-adds to go to the thread pool; the third matrix's scales come in blocks.
    const std::size_t cols = 640, tokens = 3;
    const std::vector<std::size_t> rows = {600, 136, 136};
    const auto input = make_problem(1, cols, tokens);
    std::vector<std::vector<std::int8_t>> trits;
    std::vector<std::vector<float>> gammas;
    std::vector<ternary::ternary_matrix<P>> w;
    for (std::size_t m = 0; m < rows.size(); ++m) {
        trits.push_back(test::random_trits(rows[m] * cols));
        gammas.emplace_back(rows[m]);
        for (std::size_t i = 0; i < rows[m]; ++i) gammas[m][i] = 0.25f + 0.01f * static_cast<float>(i + m);
        w.push_back(ternary::ternary_matrix<P>::from_trits(trits[m], rows[m], cols, ternary::weight_scales::per_row(gammas[m])));
    }
    const auto per_block = ternary::ternary_matrix<P>::from_trits(
        trits[2], rows[2], cols, ternary::weight_scales::per_block(256, std::vector<float>(rows[2] * 3, 0.5f)));
    const std::size_t original = ternary::threads();
    for (const std::size_t threads : {1u, 2u, 3u}) {
        CAPTURE(threads);
        ternary::set_threads(threads);
        for (const bool mixed : {false, true}) {
            CAPTURE(mixed);
            std::vector<std::vector<float>> out;
            std::vector<ternary::gemm_target<P>> targets;
            for (std::size_t m = 0; m < rows.size(); ++m) out.emplace_back(tokens * rows[m], -1.0f);
            for (std::size_t m = 0; m < rows.size(); ++m) {
                const auto& matrix = mixed && m == 2 ? per_block : w[m];
                targets.push_back({ternary::matrix_view<float>::row_major(out[m].data(), tokens, rows[m]), matrix.view()});
            }
            ternary::gemm_shared(std::span<const ternary::gemm_target<P>>(targets), input.batch);
            for (std::size_t m = 0; m < rows.size(); ++m) {
                std::vector<float> alone(tokens * rows[m]);
                ternary::gemm(ternary::matrix_view<float>::row_major(alone.data(), tokens, rows[m]), targets[m].weights, input.batch);
                CHECK(out[m] == alone);  // bit for bit: the same integer products and epilogue
                if (mixed && m == 2) continue;
                bool exact = true;
                for (std::size_t t = 0; t < tokens; ++t) {
                    for (std::size_t i = 0; i < rows[m]; ++i) {
                        const double e = static_cast<double>(test::exact_dot(&trits[m][i * cols], input.q[t].data(), cols)) *
                                         gammas[m][i] / input.x_scales[t];
                        exact = exact && std::fabs(out[m][t * rows[m] + i] - e) <= (test::gamma_n(3) + 1e-15) * std::fabs(e);
                    }
                }
                CHECK(exact);
            }
        }
    }
    ternary::set_threads(original);
    std::vector<ternary::gemm_target<P>> too_many;
    std::vector<float> sink(tokens * rows[1]);
    for (int m = 0; m < 9; ++m) too_many.push_back({ternary::matrix_view<float>::row_major(sink.data(), tokens, rows[1]), w[1].view()});
    CHECK_THROWS_AS(ternary::gemm_shared(std::span<const ternary::gemm_target<P>>(too_many), input.batch), ternary::shape_error);
}

TEST_CASE("GEMM writes into any output layout") {
    const auto p = make_problem(4, 45, 3);
    const auto w = ternary::ternary_matrix<two_bit>::from_trits(p.trits, p.rows, p.cols, ternary::weight_scales::per_matrix(1.0f));
    std::vector<float> dense(p.tokens * p.rows);
    ternary::gemm(ternary::matrix_view<float>::row_major(dense.data(), p.tokens, p.rows), w, p.batch);
    // Column-major with a padded leading dimension of 5: untouched padding stays put.
    std::vector<float> strided(5 * p.tokens, -7.0f);
    ternary::gemm(ternary::matrix_view<float>(strided.data(), p.tokens, p.rows, 5, 1), w, p.batch);
    for (std::size_t t = 0; t < p.tokens; ++t) {
        for (std::size_t i = 0; i < p.rows; ++i) CHECK(strided[t * 5 + i] == dense[t * p.rows + i]);
        CHECK(strided[t * 5 + 4] == -7.0f);
    }
}

TEST_CASE("products refuse mismatched shapes, empty views and unavailable policies") {
    const auto p = make_problem(3, 10, 2);
    const auto w = ternary::ternary_matrix<two_bit>::from_trits(p.trits, 3, 10, ternary::weight_scales::per_matrix(1.0f));
    std::vector<float> y(3);
    const auto wrong_k = test::batch_of(test::random_int8(11), 1.0f);
    CHECK_THROWS_WITH_AS(ternary::gemv(std::span<float>(y), w, wrong_k),
                         doctest::Contains("10 columns but the activations have 11"), ternary::shape_error);
    CHECK_THROWS_WITH_AS(ternary::gemv(std::span<float>(y), w, p.batch), doctest::Contains("one token"),
                         ternary::shape_error);
    CHECK_THROWS_AS(ternary::gemv(std::span<float>(y.data(), 2), w, p.batch.token(0)), ternary::shape_error);
    std::vector<float> yy(6);
    CHECK_THROWS_AS(ternary::gemm(ternary::matrix_view<float>::row_major(yy.data(), 3, 2), w, p.batch),
                    ternary::shape_error);
    CHECK_THROWS_AS(p.batch.token(2), ternary::shape_error);
    CHECK_THROWS_AS(p.batch.view().tokens(1, 2), ternary::shape_error);
    CHECK_THROWS_AS(p.batch.view().tokens(0, 0), ternary::shape_error);
    const auto second = p.batch.view().tokens(1, 1);
    CHECK(second.scale(0) == p.batch.scale(1));
    CHECK(second.sum(0) == p.batch.sum(1));
    CHECK(second.values(0).data() == p.batch.values(1).data());
    CHECK_THROWS_WITH_AS(ternary::gemv<unavailable_policy>(std::span<float>(y), w, p.batch.token(0)),
                         doctest::Contains("'unavailable' is not supported"), ternary::error);
    CHECK_NOTHROW(ternary::gemv<ternary::simd::scalar>(std::span<float>(y), w, p.batch.token(0)));
}

TEST_CASE("external scales: count, values and alignment are checked") {
    const auto trits = test::random_trits(2 * 8);
    const auto m = ternary::ternary_matrix<two_bit>::from_trits(trits, 2, 8, ternary::weight_scales::per_matrix(1.0f));
    const std::vector<float> two{1.0f, 2.0f};
    using view = ternary::ternary_matrix_view<two_bit>;
    CHECK_NOTHROW(view(m.bytes(), 2, 8, ternary::scales_view(ternary::scale_kind::per_row, two)));
    CHECK_THROWS_AS(view(m.bytes(), 2, 8, ternary::scales_view(ternary::scale_kind::per_matrix, two)),
                    ternary::shape_error);
    const std::vector<float> nan{std::numeric_limits<float>::quiet_NaN(), 1.0f};
    CHECK_THROWS_AS(view(m.bytes(), 2, 8, ternary::scales_view(ternary::scale_kind::per_row, nan)), ternary::value_error);
    // A float array one byte off its alignment, as a careless file mapping could produce.
    alignas(4) unsigned char raw[16] = {};
    const auto* misaligned = reinterpret_cast<const float*>(raw + 1);
    CHECK_THROWS_AS(ternary::scales_view(ternary::scale_kind::per_row, std::span<const float>(misaligned, 2)),
                    ternary::alignment_error);
}
