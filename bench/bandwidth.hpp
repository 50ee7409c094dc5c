#pragma once
// The machine's read bandwidth, the reference the benchmarks measure memory-bound work against.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include <ternary/thread_pool.hpp>

#include "native_reference.hpp"

namespace bench {

/// Read bandwidth in GB/s with `threads` threads summing a 1 GiB buffer: the median of 5
/// passes, the same statistic as the products' times. The host's bandwidth drifts by 2x from
/// minute to minute, so callers measure it right before and right after each case, and compare
/// the case with the mean of the two.
inline double read_bandwidth(std::size_t threads) {
    using clock_type = std::chrono::steady_clock;
    static std::vector<std::uint64_t> buffer(std::size_t{1} << 27, 1);  // 1 GiB, touched once
    ternary::thread_pool pool(threads);
    std::vector<std::uint64_t> sums(threads);
    std::vector<double> passes;
    for (int pass = 0; pass < 5; ++pass) {
        const auto start = clock_type::now();
        pool.run(threads, [&](std::size_t part) {
            const std::size_t n = buffer.size() / threads;
            sums[part] = sum_words(buffer.data() + part * n, n);
        });
        const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
        passes.push_back(static_cast<double>(buffer.size() * 8) / seconds / 1e9);
    }
    if (sums[0] == 0) std::puts("impossible");  // keep the sums alive
    std::sort(passes.begin(), passes.end());
    return passes[passes.size() / 2];
}

}  // namespace bench
