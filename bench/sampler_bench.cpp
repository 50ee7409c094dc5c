// Google Benchmark view of bitnet::sampler on a Llama 3-sized vocabulary (128,256 logits),
// beside the obvious implementation it replaces (sort every token, then cut), in one run.
// "flat" logits are a random-weight model's (a nucleus of most of the vocabulary); "peaked"
// ones a trained model's. A 2B4T decoding step takes about 25 ms on 2 threads.
// Run: build/bench/ternary-sampler-bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include <ternary/bitnet/sampler.hpp>

namespace {

std::vector<float> logits_of_spread(float spread) {
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, spread);
    std::vector<float> logits(128256);
    for (auto& l : logits) l = normal(rng);
    return logits;
}

/// The reference: sort all ids by logit, softmax, cut at top-k and top-p, draw.
std::size_t sort_everything(const std::vector<float>& logits, const ternary::bitnet::sampler_options& o, double uniform) {
    std::vector<std::size_t> order(logits.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    std::size_t keep = o.top_k == 0 ? order.size() : std::min(o.top_k, order.size());
    std::vector<double> weight(keep);
    double total = 0.0;
    for (std::size_t i = 0; i < keep; ++i) total += weight[i] = std::exp((logits[order[i]] - logits[order[0]]) / o.temperature);
    double cumulative = 0.0;
    for (std::size_t i = 0; i < keep; ++i) {
        cumulative += weight[i];
        if (cumulative >= o.top_p * total) {
            keep = i + 1;
            break;
        }
    }
    const double target = uniform * std::accumulate(weight.begin(), weight.begin() + static_cast<std::ptrdiff_t>(keep), 0.0);
    double running = 0.0;
    for (std::size_t i = 0; i < keep; ++i) {
        running += weight[i];
        if (target < running) return order[i];
    }
    return order[keep - 1];
}

const ternary::bitnet::sampler_options top_p_09{.temperature = 0.7f, .top_k = 0, .top_p = 0.9f, .seed = 1};
const ternary::bitnet::sampler_options top_k_40{.temperature = 1.0f, .top_k = 40, .top_p = 1.0f, .seed = 1};
const ternary::bitnet::sampler_options every_token{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 1};

void sampler(benchmark::State& state, float spread, ternary::bitnet::sampler_options options) {
    const auto logits = logits_of_spread(spread);
    ternary::bitnet::sampler s(options);
    for (auto _ : state) benchmark::DoNotOptimize(s.sample(logits));
}

void full_sort(benchmark::State& state, float spread, ternary::bitnet::sampler_options options) {
    const auto logits = logits_of_spread(spread);
    for (auto _ : state) benchmark::DoNotOptimize(sort_everything(logits, options, 0.5));
}

}  // namespace

BENCHMARK_CAPTURE(sampler, flat_top_p_0_9, 0.5f, top_p_09)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(full_sort, flat_top_p_0_9, 0.5f, top_p_09)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(sampler, peaked_top_p_0_9, 8.0f, top_p_09)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(full_sort, peaked_top_p_0_9, 8.0f, top_p_09)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(sampler, top_k_40, 8.0f, top_k_40)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(full_sort, top_k_40, 8.0f, top_k_40)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(sampler, every_token, 8.0f, every_token)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(full_sort, every_token, 8.0f, every_token)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
