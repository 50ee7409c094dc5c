// GEMV timings that only mean something as ratios measured in the same run: the scalar
// reference policy on both packings against Eigen's float GEMV on the same shape.
// Run: build/bench/ternary-gemv-bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <random>

#include <Eigen/Core>
#include <ternary/eigen.hpp>

namespace {

struct shape {
    Eigen::Index rows, cols;
};

Eigen::MatrixXf random_matrix(shape s) {
    return Eigen::MatrixXf::Random(s.rows, s.cols);
}

template <class Packing>
void ternary_gemv(benchmark::State& state) {
    const shape s{state.range(0), state.range(1)};
    const auto w = ternary::eigen::ternarize<Packing>(random_matrix(s));
    const auto x = ternary::eigen::quantize(Eigen::VectorXf::Random(s.cols));
    Eigen::VectorXf y(s.rows);
    for (auto _ : state) {
        ternary::eigen::gemv<ternary::simd::scalar>(y, w, x);
        benchmark::DoNotOptimize(y.data());
    }
    state.counters["MAC/s"] = benchmark::Counter(double(s.rows) * double(s.cols), benchmark::Counter::kIsIterationInvariantRate);
}

void eigen_float_gemv(benchmark::State& state) {
    const shape s{state.range(0), state.range(1)};
    const Eigen::MatrixXf w = random_matrix(s);
    const Eigen::VectorXf x = Eigen::VectorXf::Random(s.cols);
    Eigen::VectorXf y(s.rows);
    for (auto _ : state) {
        y.noalias() = w * x;
        benchmark::DoNotOptimize(y.data());
    }
    state.counters["MAC/s"] = benchmark::Counter(double(s.rows) * double(s.cols), benchmark::Counter::kIsIterationInvariantRate);
}

void shapes(benchmark::internal::Benchmark* b) {
    b->Args({2560, 2560})->Args({6912, 2560})->Args({2560, 6912})->Args({4096, 4096})->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(ternary_gemv<ternary::two_bit>)->Apply(shapes);
BENCHMARK(ternary_gemv<ternary::base3>)->Apply(shapes);
BENCHMARK(eigen_float_gemv)->Apply(shapes);

BENCHMARK_MAIN();
