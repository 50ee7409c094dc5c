// Ternary products against Eigen float math on the dequantized operands, and the Eigen interop.

#include <cmath>
#include <vector>

#include <ternary/eigen.hpp>

#include "support.hpp"

using ternary::base3;
using ternary::two_bit;

namespace {

/// Dequantized operands built here from the raw trits and int8 values (not by the library).
Eigen::MatrixXf real_weights(const std::vector<std::int8_t>& trits, std::size_t rows, std::size_t cols, float gamma) {
    Eigen::MatrixXf w(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
    for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j)
            w(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = static_cast<float>(trits[i * cols + j]) * gamma;
    return w;
}

}  // namespace

TEST_CASE_TEMPLATE("GEMV and GEMM agree with Eigen float math within a derived bound", P, two_bit, base3, ternary::base3_window) {
    // Bound. Let e(t, i) = sum_j trit(i,j) q_t[j] * gamma / s_t exactly (double, from int64 dots).
    // Ours: three roundings of e, so |ours - e| <= gamma_3 |e|.
    // Eigen: each term fl(W_ij * fl(q_j / s)) is exact W_ij (= +-gamma or 0) times two roundings,
    // and a float sum of K terms in any order adds gamma_{K-1}: |eigen - e| <= gamma_{K+1} m,
    // with m = sum_j |trit(i,j) q_t[j]| gamma / s_t. So |ours - eigen| <= gamma_3 |e| + gamma_{K+1} m.
    // That is at most ~4.2e-4 m for K = 6912: it catches a wrong scale, token, sign or a lost run
    // of weights, but this worst-case bound is too loose to see one wrong trit at large K; the
    // exact integer comparisons in gemm_test.cpp do that.
    for (std::size_t cols : {7u, 256u, 2560u, 6912u}) {
        CAPTURE(cols);
        const std::size_t rows = 19, tokens = 4;
        const auto trits = test::random_trits(rows * cols);
        const float gamma = 0.37f;
        const auto w = ternary::ternary_matrix<P>::from_trits(trits, rows, cols, ternary::weight_scales::per_matrix(gamma));
        const Eigen::MatrixXf x_float = Eigen::MatrixXf::Random(static_cast<Eigen::Index>(cols), static_cast<Eigen::Index>(tokens));
        const auto x = ternary::eigen::quantize_columns(x_float);

        Eigen::MatrixXf x_real(static_cast<Eigen::Index>(cols), static_cast<Eigen::Index>(tokens));
        for (std::size_t t = 0; t < tokens; ++t)
            for (std::size_t j = 0; j < cols; ++j)
                x_real(static_cast<Eigen::Index>(j), static_cast<Eigen::Index>(t)) = static_cast<float>(x.values(t)[j]) / x.scale(t);
        const Eigen::MatrixXf eigen_y = real_weights(trits, rows, cols, gamma) * x_real;
        const Eigen::MatrixXf ours = ternary::eigen::gemm(w, x);

        for (std::size_t t = 0; t < tokens; ++t) {
            const Eigen::VectorXf ours_gemv = ternary::eigen::gemv(w, x.token(t));
            for (std::size_t i = 0; i < rows; ++i) {
                const auto ti = static_cast<Eigen::Index>(t), ii = static_cast<Eigen::Index>(i);
                double exact = 0.0, magnitude = 0.0;
                for (std::size_t j = 0; j < cols; ++j) {
                    const double term = static_cast<double>(trits[i * cols + j]) * static_cast<double>(x.values(t)[j]);
                    exact += term;
                    magnitude += std::fabs(term);
                }
                const double unit = gamma / static_cast<double>(x.scale(t));
                exact *= unit;
                magnitude *= unit;
                const double bound = test::gamma_n(3) * std::fabs(exact) + test::gamma_n(static_cast<double>(cols) + 1) * magnitude;
                CHECK(std::fabs(double{ours(ii, ti)} - double{eigen_y(ii, ti)}) <= bound);
                CHECK(ours_gemv(ii) == ours(ii, ti));
            }
        }
    }
}

TEST_CASE("ternarize reads any Eigen layout in place and evaluates expressions") {
    const Eigen::MatrixXf w = Eigen::MatrixXf::Random(13, 29);
    const ternary::eigen::row_major_matrix w_rows = w;
    const auto reference = ternary::eigen::ternarize(w);
    CHECK(ternary::eigen::ternarize(w_rows).trits() == reference.trits());
    CHECK(ternary::eigen::ternarize(Eigen::Ref<const Eigen::MatrixXf>(w)).trits() == reference.trits());
    CHECK(ternary::eigen::ternarize<base3>(w).trits() == reference.trits());
    // Twice the weights: the same trits and twice gamma.
    const auto doubled = ternary::eigen::ternarize(w * 2.0f);
    CHECK(doubled.trits() == reference.trits());
    CHECK(doubled.scales().values()[0] == doctest::Approx(2.0f * reference.scales().values()[0]));
    // A block of a larger matrix (outer stride != rows): same as its copy.
    const Eigen::MatrixXf big = Eigen::MatrixXf::Random(40, 40);
    const Eigen::MatrixXf block_copy = big.block(3, 5, 13, 29);
    CHECK(ternary::eigen::ternarize(big.block(3, 5, 13, 29)).trits() == ternary::eigen::ternarize(block_copy).trits());
    // The dequantized matrix is trit * gamma.
    const auto d = ternary::eigen::dequantize(reference);
    const auto trits = reference.trits();
    for (Eigen::Index i = 0; i < 13; ++i)
        for (Eigen::Index j = 0; j < 29; ++j)
            CHECK(d(i, j) == static_cast<float>(trits[static_cast<std::size_t>(i * 29 + j)]) * reference.scales().values()[0]);
}

TEST_CASE("quantize accepts row and column vectors, refuses matrices") {
    const Eigen::VectorXf column = Eigen::VectorXf::Random(50);
    const Eigen::RowVectorXf row = column.transpose();
    const auto a = ternary::eigen::quantize(column);
    const auto b = ternary::eigen::quantize(row);
    const auto c = ternary::quantize(std::span<const float>(column.data(), 50));
    CHECK(std::equal(a.values().begin(), a.values().end(), c.values().begin(), c.values().end()));
    CHECK(std::equal(b.values().begin(), b.values().end(), c.values().begin(), c.values().end()));
    CHECK(a.scale() == c.scale());
    CHECK_THROWS_AS(ternary::eigen::quantize(Eigen::MatrixXf::Random(3, 3)), ternary::shape_error);
    // Dequantized activations are q / s, one token per column.
    const auto dx = ternary::eigen::dequantize(a.view());
    REQUIRE(dx.cols() == 1);
    for (Eigen::Index j = 0; j < 50; ++j) CHECK(dx(j, 0) == static_cast<float>(a.values()[static_cast<std::size_t>(j)]) / a.scale());
}

TEST_CASE("gemv and gemm write into Eigen maps and blocks without temporaries") {
    const Eigen::MatrixXf w_float = Eigen::MatrixXf::Random(8, 30);
    const auto w = ternary::eigen::ternarize(w_float);
    const Eigen::MatrixXf x_float = Eigen::MatrixXf::Random(30, 3);
    const auto x = ternary::eigen::quantize_columns(x_float);
    const Eigen::MatrixXf expected = ternary::eigen::gemm(w, x);

    std::vector<float> storage(8, 0.0f);
    Eigen::Map<Eigen::VectorXf> mapped(storage.data(), 8);
    ternary::eigen::gemv(mapped, w, x.token(1));
    for (Eigen::Index i = 0; i < 8; ++i) CHECK(storage[static_cast<std::size_t>(i)] == expected(i, 1));

    Eigen::MatrixXf big = Eigen::MatrixXf::Constant(12, 5, -9.0f);
    ternary::eigen::gemm(big.block(2, 1, 8, 3), w, x);
    CHECK(big.block(2, 1, 8, 3) == expected);
    CHECK((big.col(0).array() == -9.0f).all());
    CHECK((big.row(0).array() == -9.0f).all());
    CHECK((big.row(11).array() == -9.0f).all());

    CHECK_THROWS_AS(ternary::eigen::gemm(big.block(0, 0, 7, 3), w, x), ternary::shape_error);
}
