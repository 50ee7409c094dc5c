// A consumer of the package: a 3 x 4 ternary GEMV checked against exact integer arithmetic.
#include <cmath>
#include <cstdio>
#include <vector>

#include <ternary/ternary.hpp>
#ifdef CONSUMER_USES_EIGEN
#include <ternary/eigen.hpp>
#endif

int main() {
    const std::vector<std::int8_t> trits{1, 0, -1, 1, /**/ -1, -1, 0, 1, /**/ 0, 1, 1, 1};
    const float gamma = 0.5f;
    const auto w = ternary::ternary_matrix<ternary::base3>::from_trits(trits, 3, 4, ternary::weight_scales::per_matrix(gamma));
    // max |x| = 127, so s = 1 and q = x.
    const std::vector<float> x{127.0f, -3.0f, 10.0f, 1.0f};
    const auto q = ternary::quantize(std::span<const float>(x));
    const std::vector<float> y = ternary::gemv(w, q);
    // Rows times x: 127 - 10 + 1 = 118; -127 + 3 + 1 = -123; -3 + 10 + 1 = 8; times gamma / s.
    const float expected[3] = {59.0f, -61.5f, 4.0f};
    for (int i = 0; i < 3; ++i) {
        if (y[static_cast<std::size_t>(i)] != expected[i]) {
            std::printf("consumer: y[%d] = %g, expected %g\n", i, double(y[static_cast<std::size_t>(i)]), double(expected[i]));
            return 1;
        }
    }
#ifdef CONSUMER_USES_EIGEN
    const Eigen::VectorXf ye = ternary::eigen::gemv(w, ternary::eigen::quantize(Eigen::Map<const Eigen::VectorXf>(x.data(), 4)));
    for (int i = 0; i < 3; ++i) {
        if (ye(i) != expected[i]) {
            std::printf("consumer: eigen y[%d] = %g, expected %g\n", i, double(ye(i)), double(expected[i]));
            return 1;
        }
    }
#endif
    std::printf("consumer: ternary %d.%d.%d works\n", ternary::version.major, ternary::version.minor, ternary::version.patch);
    return 0;
}
