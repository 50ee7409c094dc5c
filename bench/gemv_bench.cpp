// Google Benchmark view of ternary GEMV: every runnable policy and both packings, beside
// Eigen's float GEMV (built with -march=native, native_reference.cpp) on the same shapes, in
// one run. Only ratios within a run mean much on a shared machine.
// Run: build/bench/ternary-gemv-bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include <ternary/ternary.hpp>

#include "native_reference.hpp"

namespace {

constexpr std::size_t shapes[][2] = {{2560, 2560}, {640, 2560}, {6912, 2560}, {2560, 6912}, {4096, 4096}};

std::vector<float> random_floats(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = normal(rng);
    return v;
}

template <class Policy, class Packing>
void ternary_gemv(benchmark::State& state, std::size_t m, std::size_t k) {
    ternary::set_threads(1);
    const auto w_float = random_floats(m * k, 1);
    const auto w = ternary::ternarize<Packing>(ternary::matrix_view<const float>::row_major(w_float.data(), m, k));
    const auto x_float = random_floats(k, 2);
    const auto x = ternary::quantize(std::span<const float>(x_float));
    std::vector<float> y(m);
    for (auto _ : state) {
        ternary::gemv<Policy>(std::span<float>(y), w, x);
        benchmark::DoNotOptimize(y.data());
    }
    state.counters["MAC/s"] = benchmark::Counter(double(m) * double(k), benchmark::Counter::kIsIterationInvariantRate);
}

void eigen_float_gemv(benchmark::State& state, std::size_t m, std::size_t k) {
    const auto w = random_floats(m * k, 1);
    const auto x = random_floats(k, 2);
    std::vector<float> y(m);
    for (auto _ : state) {
        bench::eigen_gemv_rows(w.data(), m, k, x.data(), y.data(), 0, m);
        benchmark::DoNotOptimize(y.data());
    }
    state.counters["MAC/s"] = benchmark::Counter(double(m) * double(k), benchmark::Counter::kIsIterationInvariantRate);
}

template <class Packing>
void register_packing() {
    ternary::simd::compiled_policies::find([](auto policy) {
        using Policy = decltype(policy);
        if (!Policy::available()) return false;
        // A policy without a kernel for Packing runs the scalar oracle: measured as scalar.
        if constexpr (requires { Policy::template has_kernel<Packing>; }) {
            if (!Policy::template has_kernel<Packing>) return false;
        }
        for (const auto& s : shapes) {
            const std::string name = "ternary_gemv/" + std::string(Policy::name) + "/" + std::string(Packing::name) +
                                     "/" + std::to_string(s[0]) + "x" + std::to_string(s[1]);
            benchmark::RegisterBenchmark(name.c_str(), ternary_gemv<Policy, Packing>, s[0], s[1])
                ->Unit(benchmark::kMicrosecond);
        }
        return false;
    });
}

}  // namespace

int main(int argc, char** argv) {
    for (const auto& s : shapes) {
        const std::string name = "eigen_float_gemv/" + std::to_string(s[0]) + "x" + std::to_string(s[1]);
        benchmark::RegisterBenchmark(name.c_str(), eigen_float_gemv, s[0], s[1])->Unit(benchmark::kMicrosecond);
    }
    register_packing<ternary::two_bit>();
    register_packing<ternary::base3>();
    register_packing<ternary::base3_window>();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
