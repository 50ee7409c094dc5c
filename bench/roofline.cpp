// ternary-roofline: ternary GEMV/GEMM speed, as ratios measured in the same run against the
// scalar policy, Eigen float on the same shape, and this machine's read bandwidth; then the
// int8 output head of BitNet b1.58 2B4T (int8_matrix, 128256 x 2560) against the bandwidth;
// first, the machine's int8 multiply-add peak (vpdpbusd alone), which bounds every product.
// Prints one JSON object per case and line. `--quick` runs a short fixed set (< 60 s).
//
// Modes: `cached` multiplies one matrix over and over (it stays in cache when it fits);
// `dram` rotates through >= 256 MiB of distinct copies, so weights stream from memory as in a
// real model. Times are medians of several trials.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <ternary/ternary.hpp>

#include "bandwidth.hpp"
#include "native_reference.hpp"
#include "vnni_chains.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::size_t dram_bytes = std::size_t{256} << 20;

struct options {
    bool quick = false;
};

/// Median over trials of the time per call; each trial repeats f for >= 20 ms.
template <class F>
double time_us(F&& f) {
    f();  // warm up (pool threads, scratch buffers, caches)
    std::vector<double> trials;
    for (int trial = 0; trial < 5; ++trial) {
        std::size_t calls = 0;
        const auto start = clock_type::now();
        double elapsed = 0.0;
        do {
            f();
            ++calls;
            elapsed = std::chrono::duration<double, std::micro>(clock_type::now() - start).count();
        } while (elapsed < 20000.0);
        trials.push_back(elapsed / static_cast<double>(calls));
    }
    std::sort(trials.begin(), trials.end());
    return trials[trials.size() / 2];
}

/// The operands of one shape: weights (as trits), activations, and their float forms.
struct operands {
    std::size_t m, k, batch;
    std::vector<std::int8_t> trits;
    std::vector<float> w_float;  // row-major m x k, trit * gamma
    std::vector<float> x_float;  // column-major k x batch
    ternary::activation_batch x;
};

operands make_operands(std::size_t m, std::size_t k, std::size_t batch) {
    std::mt19937 rng(static_cast<unsigned>(m * 31 + k * 7 + batch));
    std::uniform_int_distribution<int> trit(-1, 1);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    operands o{m, k, batch, std::vector<std::int8_t>(m * k), std::vector<float>(m * k), std::vector<float>(k * batch),
               ternary::activation_batch(batch, k)};
    for (std::size_t i = 0; i < m * k; ++i) {
        o.trits[i] = static_cast<std::int8_t>(trit(rng));
        o.w_float[i] = 0.5f * o.trits[i];
    }
    for (auto& v : o.x_float) v = normal(rng);
    o.x = ternary::quantize(ternary::matrix_view<const float>::col_major(o.x_float.data(), k, batch).transposed());
    return o;
}

/// Copies of one packed matrix: 1 (cached) or enough to cover dram_bytes (dram).
template <class P>
struct weight_copies {
    ternary::aligned_buffer<std::uint8_t> storage;
    std::vector<ternary::ternary_matrix_view<P>> views;
    float gamma = 0.5f;
    std::size_t bytes_each = 0;

    weight_copies(const operands& o, bool dram) {
        const auto packed = ternary::ternary_matrix<P>::from_trits(o.trits, o.m, o.k, ternary::weight_scales::per_matrix(gamma));
        bytes_each = ternary::round_up(packed.bytes().size(), 64);
        const std::size_t copies = dram ? dram_bytes / bytes_each + 1 : 1;
        storage = ternary::aligned_buffer<std::uint8_t>(copies * bytes_each);
        const ternary::scales_view scales(ternary::scale_kind::per_matrix, {&gamma, 1});
        for (std::size_t c = 0; c < copies; ++c) {
            std::memcpy(storage.data() + c * bytes_each, packed.bytes().data(), packed.bytes().size());
            views.emplace_back(ternary::trusted_bytes, std::span<const std::uint8_t>(storage.data() + c * bytes_each, packed.bytes().size()),
                               o.m, o.k, scales);
        }
    }
};

/// Float copies for Eigen, same residency rule.
struct float_copies {
    std::vector<std::vector<float>> copies;
    float_copies(const operands& o, bool dram) {
        const std::size_t bytes = o.w_float.size() * sizeof(float);
        const std::size_t n = dram ? std::max<std::size_t>(2, dram_bytes / bytes + 1) : 1;
        copies.assign(n, o.w_float);
    }
};

template <class Policy, class P>
double ternary_us(const operands& o, const weight_copies<P>& w, std::vector<float>& y) {
    std::size_t next = 0;
    return time_us([&] {
        const auto& view = w.views[next];
        next = next + 1 == w.views.size() ? 0 : next + 1;
        ternary::gemm<Policy>(ternary::matrix_view<float>::row_major(y.data(), o.batch, o.m), view, o.x);
    });
}

double eigen_us(const operands& o, const float_copies& w, std::size_t threads, std::vector<float>& y) {
    ternary::thread_pool pool(threads);
    std::size_t next = 0;
    return time_us([&] {
        const float* weights = w.copies[next].data();
        next = next + 1 == w.copies.size() ? 0 : next + 1;
        pool.run(threads, [&](std::size_t part) {
            const std::size_t r0 = o.m * part / threads, r1 = o.m * (part + 1) / threads;
            if (o.batch == 1) {
                bench::eigen_gemv_rows(weights, o.m, o.k, o.x_float.data(), y.data(), r0, r1);
            } else {
                bench::eigen_gemm_rows(weights, o.m, o.k, o.x_float.data(), o.batch, y.data(), r0, r1);
            }
        });
    });
}

struct run_case {
    std::size_t m, k, batch, threads;
    bool dram;
};

/// One JSON line. eigen <= 0: no Eigen reference for this case (vs_eigen left out).
void report(const run_case& c, std::string_view isa, std::string_view packing, double us, std::size_t weight_bytes,
            double bandwidth, double eigen, double scalar) {
    const double macs = static_cast<double>(c.m) * static_cast<double>(c.k) * static_cast<double>(c.batch);
    const double gbps = static_cast<double>(weight_bytes) / us / 1e3;
    std::printf(
        "{\"op\":\"%s\",\"m\":%zu,\"k\":%zu,\"batch\":%zu,\"threads\":%zu,\"mode\":\"%s\",\"isa\":\"%.*s\","
        "\"packing\":\"%.*s\",\"us\":%.2f,\"gmacs\":%.1f,\"weight_gbps\":%.2f,\"read_gbps\":%.1f,"
        "\"bw_fraction\":%.3f,",
        c.batch == 1 ? "gemv" : "gemm", c.m, c.k, c.batch, c.threads, c.dram ? "dram" : "cached",
        static_cast<int>(isa.size()), isa.data(), static_cast<int>(packing.size()), packing.data(), us, macs / us / 1e3,
        gbps, bandwidth, gbps / bandwidth);
    if (eigen > 0) std::printf("\"vs_eigen\":%.2f,", eigen / us);
    std::printf("\"vs_scalar\":%.1f}\n", scalar / us);
    std::fflush(stdout);
}

/// Calls f(Policy{}) for every policy this CPU runs that --isa selects (all of them without --isa).
template <class F>
void for_each_wanted_policy(const std::vector<std::string>& isas, F&& f) {
    ternary::simd::compiled_policies::find([&](auto policy) {
        using Policy = decltype(policy);
        const bool wanted = isas.empty() || std::find(isas.begin(), isas.end(), Policy::name) != isas.end();
        if (Policy::available() && wanted) f(policy);
        return false;
    });
}

/// Every runnable policy on one case and packing, with the scalar and Eigen references.
template <class P>
void measure(const run_case& c, const operands& o, double eigen, const std::vector<std::string>& isas) {
    const weight_copies<P> w(o, c.dram);
    std::vector<float> y(o.m * o.batch);
    const double scalar = ternary_us<ternary::simd::scalar>(o, w, y);
    for_each_wanted_policy(isas, [&](auto policy) {
        using Policy = decltype(policy);
        // A policy without a kernel for P runs the scalar oracle: measured already.
        if constexpr (requires { Policy::template has_kernel<P>; }) {
            if (!Policy::template has_kernel<P>) return;
        }
        const double before = bench::read_bandwidth(c.threads);
        const double us = std::is_same_v<Policy, ternary::simd::scalar> ? scalar : ternary_us<Policy>(o, w, y);
        const double after = bench::read_bandwidth(c.threads);
        report(c, Policy::name, P::name, us, P::storage_bytes(o.m, o.k), (before + after) / 2, eigen, scalar);
    });
}

void run(const std::vector<run_case>& cases, const std::vector<std::string>& isas) {
    for (const run_case& c : cases) {
        ternary::set_threads(c.threads);
        const operands o = make_operands(c.m, c.k, c.batch);
        std::vector<float> y(o.m * o.batch);
        const double eigen = eigen_us(o, float_copies(o, c.dram), c.threads, y);
        measure<ternary::two_bit>(c, o, eigen, isas);
        measure<ternary::base3>(c, o, eigen, isas);
        measure<ternary::base3_window>(c, o, eigen, isas);
    }
}

/// The int8 output head of BitNet b1.58 2B4T (128256 x 2560 int8 weights, one scale per row,
/// ternary::int8_matrix): 328 MB per GEMV, so it always streams from memory. Reported as
/// packing "int8", mode "dram", at 1 and 2 threads, against the read bandwidth measured right
/// before and after.
void measure_int8_head(const std::vector<std::string>& isas) {
    const std::size_t m = 128256, k = 2560;
    std::uint32_t state = 1;  // a linear congruential generator: 328 M weights, quickly
    const auto w = ternary::int8_matrix::quantize(m, k, [&](std::size_t, std::span<float> row) {
        for (float& v : row) {
            state = state * 1664525u + 1013904223u;
            v = static_cast<float>(static_cast<std::int32_t>(state)) * 0x1p-31f;
        }
    });
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x_float(k);
    for (float& v : x_float) v = normal(rng);
    const auto x = ternary::quantize(x_float);
    std::vector<float> y(m);
    for (std::size_t threads : {1u, 2u}) {
        ternary::set_threads(threads);
        const run_case c{m, k, 1, threads, true};
        const double scalar = time_us([&] { ternary::gemv<ternary::simd::scalar>(y, w, x); });
        for_each_wanted_policy(isas, [&](auto policy) {
            using Policy = decltype(policy);
            const double before = bench::read_bandwidth(threads);
            const double us = std::is_same_v<Policy, ternary::simd::scalar>
                                  ? scalar
                                  : time_us([&] { ternary::gemv<Policy>(y, w, x); });
            const double after = bench::read_bandwidth(threads);
            report(c, Policy::name, "int8", us, w.bytes().size(), (before + after) / 2, 0.0, scalar);
        });
    }
}

std::vector<run_case> quick_cases() {
    return {{4096, 4096, 1, 1, false}, {4096, 4096, 1, 2, true}, {2560, 6912, 64, 2, false}};
}

std::vector<run_case> full_cases() {
    std::vector<run_case> cases;
    const std::size_t shapes[][2] = {{4096, 4096}, {2560, 2560}, {640, 2560}, {6912, 2560}, {2560, 6912}};
    for (const auto& s : shapes)
        for (std::size_t batch : {1u, 8u, 64u})
            for (std::size_t threads : {1u, 2u})
                for (bool dram : {false, true}) cases.push_back({s[0], s[1], batch, threads, dram});
    return cases;
}

#if defined(__x86_64__)
/// The most int8 multiply-adds one core can do: vpdpbusd alone (bench::vnni_chains_seconds).
/// What any int8 product, ternary or not, can reach at most on this machine.
double vnni_peak_gmacs_one_thread() {
    constexpr long iterations = 20'000'000;
    const double seconds = bench::vnni_chains_seconds(iterations);
    return 64.0 * bench::vnni_chains * static_cast<double>(iterations) / seconds / 1e9;
}

/// The VNNI peak at 1 and 2 threads (each thread its own chains), one JSON line each.
void measure_vnni_peak() {
    if (!ternary::simd::cpu().avx512vnni) return;
    for (std::size_t threads : {1u, 2u}) {
        std::vector<double> rates(threads);
        std::vector<std::thread> others;
        for (std::size_t t = 1; t < threads; ++t) others.emplace_back([&rates, t] { rates[t] = vnni_peak_gmacs_one_thread(); });
        rates[0] = vnni_peak_gmacs_one_thread();
        for (std::thread& t : others) t.join();
        double total = 0.0;
        for (double r : rates) total += r;
        std::printf("{\"op\":\"vnni_peak\",\"isa\":\"avx512vnni\",\"threads\":%zu,\"gmacs\":%.1f}\n", threads, total);
        std::fflush(stdout);
    }
}
#else
void measure_vnni_peak() {}
#endif

}  // namespace

/// "M,K,BATCH,THREADS,MODE" (MODE cached or dram) as a case; false if it is not one.
bool parse_case(std::string_view text, run_case& c) {
    char mode[8] = {};
    const std::string copy(text);
    if (std::sscanf(copy.c_str(), "%zu,%zu,%zu,%zu,%7s", &c.m, &c.k, &c.batch, &c.threads, mode) != 5) return false;
    const std::string_view m(mode);
    c.dram = m == "dram";
    return (m == "dram" || m == "cached") && c.m > 0 && c.k > 0 && c.batch > 0 && c.threads > 0;
}

int main(int argc, char** argv) {
    bool quick = false;
    std::vector<std::string> isas;
    std::vector<run_case> chosen;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--quick") {
            quick = true;
        } else if (arg == "--isa" && i + 1 < argc) {
            isas.emplace_back(argv[++i]);
        } else if (run_case c{}; arg == "--case" && i + 1 < argc && parse_case(argv[i + 1], c)) {
            chosen.push_back(c);
            ++i;
        } else {
            std::fprintf(stderr,
                         "usage: ternary-roofline [--quick] [--isa NAME]... [--case M,K,BATCH,THREADS,MODE]...\n"
                         "  --quick     a short fixed set of cases (under a minute)\n"
                         "  --isa NAME  only this policy (repeatable; the scalar reference always runs)\n"
                         "  --case ...  only these cases (repeatable; MODE cached or dram), e.g. 2560,6912,1,2,dram;\n"
                         "              no peak and no int8 head then\n"
                         "Prints one JSON object per case: op, m, k, batch, threads, mode, isa, packing, us,\n"
                         "gmacs, weight_gbps, read_gbps, bw_fraction, vs_eigen (not for packing int8), vs_scalar;\n"
                         "first, with AVX-512 VNNI, the int8 multiply-add peak (op vnni_peak, gmacs) at 1 and 2 threads.\n");
            return arg == "--help" || arg == "-h" ? 0 : 2;
        }
    }
    if (!chosen.empty()) {
        run(chosen, isas);
        return 0;
    }
    measure_vnni_peak();
    run(quick ? quick_cases() : full_cases(), isas);
    measure_int8_head(isas);
    return 0;
}
