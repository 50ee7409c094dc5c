// Every kernel policy this build has and this CPU runs, against the scalar oracle: int32
// dot products bit-identical on random data, ragged shapes, row ranges and worst cases.

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "support.hpp"

using ternary::base3;
using ternary::base3_window;
using ternary::two_bit;

using test::for_each_runnable_policy;

namespace {

template <class Policy, class P>
std::vector<std::int32_t> dots_of(const ternary::ternary_matrix<P>& w, const ternary::activation_batch& x) {
    std::vector<std::int32_t> out(x.tokens() * w.rows());
    ternary::dot_products<Policy>(ternary::matrix_view<std::int32_t>::row_major(out.data(), x.tokens(), w.rows()), w, x);
    return out;
}

ternary::activation_batch batch_from(const std::vector<std::int8_t>& q, std::size_t tokens, std::size_t cols) {
    const std::vector<float> scales(tokens, 1.0f);
    return ternary::activation_batch::from_int8(ternary::matrix_view<const std::int8_t>::row_major(q.data(), tokens, cols), scales);
}

/// Random trits (rows x cols) and random int8 activations (tokens x cols).
template <class P>
struct random_problem {
    ternary::ternary_matrix<P> w;
    ternary::activation_batch x;
    random_problem(std::size_t rows, std::size_t cols, std::size_t tokens)
        : w(ternary::ternary_matrix<P>::from_trits(test::random_trits(rows * cols), rows, cols,
                                                   ternary::weight_scales::per_matrix(1.0f))),
          x(batch_from(test::random_int8(tokens * cols), tokens, cols)) {}
};

/// Every runnable policy's dot products equal the scalar oracle's, bit for bit.
template <class P>
void check_every_policy_matches_scalar(const random_problem<P>& problem) {
    const auto reference = dots_of<ternary::simd::scalar>(problem.w, problem.x);
    for_each_runnable_policy([&](auto policy) {
        using Policy = decltype(policy);
        CAPTURE(Policy::name);
        CHECK(dots_of<Policy>(problem.w, problem.x) == reference);
    });
}

}  // namespace

TEST_CASE("this machine runs at least the scalar policy and names the active one") {
    const int runnable = for_each_runnable_policy([](auto policy) { MESSAGE("runnable policy: ", decltype(policy)::name); });
    CHECK(runnable >= 1);
}

TEST_CASE_TEMPLATE("every policy equals the scalar oracle on ragged shapes", P, two_bit, base3, base3_window) {
    for (std::size_t cols : {1u, 2u, 4u, 5u, 15u, 16u, 17u, 31u, 32u, 33u, 63u, 64u, 65u, 100u, 127u, 128u, 129u,
                             255u, 256u, 257u, 319u, 320u, 321u, 640u, 1000u, 2560u}) {
        for (std::size_t rows : {1u, 3u, 8u, 9u, 17u}) {
            for (std::size_t tokens : {1u, 3u, 4u}) {
                CAPTURE(cols);
                CAPTURE(rows);
                CAPTURE(tokens);
                check_every_policy_matches_scalar(random_problem<P>(rows, cols, tokens));
            }
        }
    }
}

TEST_CASE_TEMPLATE("every policy computes exactly the rows it is given", P, two_bit, base3, base3_window) {
    const std::size_t rows = 23, cols = 777, tokens = 3;
    const random_problem<P> problem(rows, cols, tokens);
    const auto& w = problem.w;
    const auto& x = problem.x;
    const auto all = dots_of<ternary::simd::scalar>(w, x);
    for_each_runnable_policy([&](auto policy) {
        using Policy = decltype(policy);
        CAPTURE(Policy::name);
        std::vector<std::int32_t> out(tokens * rows, 12345);  // sentinel outside [5, 14)
        Policy::block_dots(w.view(), x.view(), cols, 5, 14, out.data());
        for (std::size_t t = 0; t < tokens; ++t)
            for (std::size_t i = 0; i < rows; ++i)
                CHECK(out[t * rows + i] == (i >= 5 && i < 14 ? all[t * rows + i] : 12345));
    });
}

TEST_CASE_TEMPLATE("worst cases: extreme weights and activations, up to the longest row", P, two_bit, base3, base3_window) {
    // Rows: all +1, all -1, all 0, alternating +1/-1. Tokens: all -128, all +127, alternating.
    for (std::size_t cols : {std::size_t{6912}, std::size_t{6913}, ternary::max_cols}) {
        CAPTURE(cols);
        std::vector<std::int8_t> trits(4 * cols);
        std::vector<std::int8_t> q(3 * cols);
        for (std::size_t j = 0; j < cols; ++j) {
            trits[j] = 1;
            trits[cols + j] = -1;
            trits[2 * cols + j] = 0;
            trits[3 * cols + j] = j % 2 == 0 ? 1 : -1;
            q[j] = -128;
            q[cols + j] = 127;
            q[2 * cols + j] = j % 2 == 0 ? 127 : -128;
        }
        const auto w = ternary::ternary_matrix<P>::from_trits(trits, 4, cols, ternary::weight_scales::per_matrix(1.0f));
        // All three tokens at once (the GEMM tiles), then each alone (the GEMV tiles).
        for (std::size_t first = 0, tokens = 3; first < 3; first += tokens, tokens = 1) {
            CAPTURE(first);
            CAPTURE(tokens);
            const std::vector<std::int8_t> q_tokens(q.data() + first * cols, q.data() + (first + tokens) * cols);
            const auto x = batch_from(q_tokens, tokens, cols);
            // Expected values from the definition, in int64.
            std::vector<std::int64_t> expected;
            for (std::size_t t = first; t < first + tokens; ++t)
                for (std::size_t i = 0; i < 4; ++i) expected.push_back(test::exact_dot(&trits[i * cols], &q[t * cols], cols));
            CHECK(expected[0] == (first == 0 ? -128 : 127) * static_cast<std::int64_t>(cols));
            for_each_runnable_policy([&](auto policy) {
                using Policy = decltype(policy);
                CAPTURE(Policy::name);
                const auto got = dots_of<Policy>(w, x);
                for (std::size_t k = 0; k < expected.size(); ++k) CHECK(got[k] == expected[k]);
            });
        }
    }
}

namespace {

/// Code k (w + 1 of weight k) of byte v, from each packing's definition: base3's trits by the
/// arithmetic of pack/base3.hpp, the window code by its two tables read here byte by byte.
template <class P>
int code_by_definition(std::uint8_t v, std::size_t k) {
    if constexpr (std::is_same_v<P, base3>) {
        return static_cast<int>(base3::trit(v, k));
    } else {
        const unsigned low = ternary::detail::window_low.bytes[v & 63u];
        const unsigned fields = k == 0 ? low : (low ^ ternary::detail::window_high.bytes[v >> 2]) >> (2 * (k - 1));
        return static_cast<int>(fields & 3u);
    }
}

}  // namespace

TEST_CASE_TEMPLATE("base3 codes: every valid byte value in every position of a vector, for every policy", P, base3,
                   base3_window) {
    // The base3 kernels decode bytes by arithmetic or by table lookups (avx512vbmi): rows made
    // of every byte that validates (base3: the 243 encodings; base3_window: 250 bytes, 7 of them
    // a second byte of a pattern), each row shifted by one, so every byte meets every lane.
    // A byte validates if a row of 5 weights starting with it does (base3_window's rows go on
    // with padding bytes, all weights 0: the base-3 number 121).
    std::vector<std::uint8_t> valid;
    std::vector<std::uint8_t> row(P::row_bytes(5), P::encode(121));
    for (unsigned b = 0; b < 256; ++b) {
        row[0] = static_cast<std::uint8_t>(b);
        try {
            P::validate(row.data(), 1, 5);
            valid.push_back(row[0]);
        } catch (const ternary::value_error&) {
        }
    }
    CHECK(valid.size() == (std::is_same_v<P, base3> ? 243u : 250u));
    const std::size_t n = valid.size(), rows = 67, cols = 5 * n, row_bytes = P::row_bytes(cols);
    const auto w = ternary::ternary_matrix<P>::from_packed(rows, cols, ternary::weight_scales::per_matrix(1.0f),
                                                           [&](std::uint8_t* out) {
                                                               for (std::size_t i = 0; i < rows; ++i)
                                                                   for (std::size_t j = 0; j < row_bytes; ++j)
                                                                       out[i * row_bytes + j] =
                                                                           j < n ? valid[(i + j) % n] : P::encode(121);
                                                           });
    for (std::size_t tokens : {std::size_t{1}, std::size_t{5}}) {
        CAPTURE(tokens);
        const auto x = batch_from(test::random_int8(tokens * cols), tokens, cols);
        const auto reference = dots_of<ternary::simd::scalar>(w, x);
        // The scalar oracle itself against the definition.
        for (std::size_t i = 0; i < rows; i += 11) {
            std::int64_t dot = 0;
            for (std::size_t j = 0; j < cols; ++j) dot += (code_by_definition<P>(valid[(i + j / 5) % n], j % 5) - 1) * x.values(0)[j];
            CHECK(reference[i] == dot);
        }
        for_each_runnable_policy([&](auto policy) {
            using Policy = decltype(policy);
            CAPTURE(Policy::name);
            CHECK(dots_of<Policy>(w, x) == reference);
        });
    }
}

TEST_CASE_TEMPLATE("float outputs are bit-identical across policies, for every kind of scale", P, two_bit, base3, base3_window) {
    const std::size_t rows = 13, cols = 600, tokens = 5;
    const auto trits = test::random_trits(rows * cols);
    std::vector<float> row_scales(rows), block_scales(rows * 3);
    for (std::size_t i = 0; i < rows; ++i) row_scales[i] = 0.01f * static_cast<float>(i + 1);
    for (std::size_t k = 0; k < block_scales.size(); ++k) block_scales[k] = 0.5f + 0.001f * static_cast<float>(k);
    const std::vector<ternary::weight_scales> kinds{ternary::weight_scales::per_matrix(0.3f),
                                                    ternary::weight_scales::per_row(row_scales),
                                                    ternary::weight_scales::per_block(256, block_scales)};
    const auto x_float = test::random_floats(tokens * cols);
    const auto x = ternary::quantize(ternary::matrix_view<const float>::row_major(x_float.data(), tokens, cols));
    for (const auto& scales : kinds) {
        const auto w = ternary::ternary_matrix<P>::from_trits(trits, rows, cols, scales);
        std::vector<float> reference(tokens * rows);
        ternary::gemm<ternary::simd::scalar>(ternary::matrix_view<float>::row_major(reference.data(), tokens, rows), w, x);
        for_each_runnable_policy([&](auto policy) {
            using Policy = decltype(policy);
            CAPTURE(Policy::name);
            std::vector<float> y(tokens * rows);
            ternary::gemm<Policy>(ternary::matrix_view<float>::row_major(y.data(), tokens, rows), w, x);
            CHECK(y == reference);
        });
    }
}

TEST_CASE("TERNARY_ISA chooses the default policy, and a bad choice is a clear error") {
    // ctest runs this case once per instruction set name (and once with a bogus name).
    const auto [requested, known, runs, best] = test::read_isa_request();
    const auto w = ternary::ternary_matrix<two_bit>::from_trits(test::random_trits(4 * 300), 4, 300,
                                                                ternary::weight_scales::per_matrix(1.0f));
    const auto x = test::batch_of(test::random_int8(300), 2.0f);
    if (requested.empty()) {
        CHECK(ternary::simd::active_policy_name() == best);
    } else if (!known) {
        CHECK_THROWS_WITH_AS(ternary::simd::active_policy_name(), doctest::Contains("unknown instruction set"), ternary::error);
        CHECK_THROWS_AS(ternary::gemv(w, x), ternary::error);
    } else if (!runs) {
        CHECK_THROWS_WITH_AS(ternary::simd::active_policy_name(), doctest::Contains("cannot run it"), ternary::error);
    } else {
        CHECK(ternary::simd::active_policy_name() == requested);
        CHECK(ternary::gemv(w, x) == ternary::gemv<ternary::simd::scalar>(w, x));
    }
}

TEST_CASE("results are bit-identical for any number of threads") {
    const std::size_t rows = 301, cols = 2000, tokens = 3;  // > parallel_threshold MACs
    const auto w = ternary::ternary_matrix<two_bit>::from_trits(test::random_trits(rows * cols), rows, cols,
                                                                ternary::weight_scales::per_matrix(0.7f));
    const auto x_float = test::random_floats(tokens * cols);
    const auto x = ternary::quantize(ternary::matrix_view<const float>::row_major(x_float.data(), tokens, cols));
    const std::size_t original = ternary::threads();
    std::vector<float> reference(tokens * rows);
    ternary::gemm<ternary::simd::scalar>(ternary::matrix_view<float>::row_major(reference.data(), tokens, rows), w, x);
    for (std::size_t n : {1u, 2u, 3u, 5u, 8u}) {
        CAPTURE(n);
        ternary::set_threads(n);
        CHECK(ternary::threads() == n);
        std::vector<float> y(tokens * rows);
        ternary::gemm(ternary::matrix_view<float>::row_major(y.data(), tokens, rows), w, x);
        CHECK(y == reference);
    }
    ternary::set_threads(original);
    CHECK_THROWS_AS(ternary::set_threads(0), ternary::error);
    // Sharing: as TERNARY_CORE_SHARING says (tests/main.cpp sets "fixed"), unless given.
    ternary::set_threads(2, ternary::core_sharing::adaptive);
    CHECK(ternary::default_pool().sharing() == ternary::core_sharing::adaptive);
    const char* const set_before = std::getenv("TERNARY_CORE_SHARING");
    const std::string before = set_before != nullptr ? set_before : "";
    setenv("TERNARY_CORE_SHARING", "adaptive", 1);
    ternary::set_threads(2);
    CHECK(ternary::default_pool().sharing() == ternary::core_sharing::adaptive);
    setenv("TERNARY_CORE_SHARING", "sometimes", 1);
    CHECK_THROWS_WITH_AS(ternary::set_threads(2), doctest::Contains("TERNARY_CORE_SHARING"), ternary::error);
    setenv("TERNARY_CORE_SHARING", "fixed", 1);
    ternary::set_threads(2);
    CHECK(ternary::default_pool().sharing() == ternary::core_sharing::fixed);
    if (set_before != nullptr) {
        setenv("TERNARY_CORE_SHARING", before.c_str(), 1);
    } else {
        unsetenv("TERNARY_CORE_SHARING");
    }
    ternary::set_threads(original);
}

TEST_CASE("the thread pool runs every task once, rethrows failures and allows nesting") {
    ternary::thread_pool pool(4);
    for (std::size_t tasks : {2u, 3u, 4u, 7u, 100u, 70000u}) {  // fewer, as many and more tasks than threads
        CAPTURE(tasks);
        for (int round = 0; round < 50; ++round) {  // many back-to-back calls: no lost wake-ups
            std::vector<std::atomic<int>> hits(tasks);
            pool.run(tasks, [&](std::size_t task) { hits[task].fetch_add(1); });
            bool once = true;
            for (auto& h : hits) once = once && h.load() == 1;
            CHECK(once);
        }
    }
    std::vector<int> ranges(10, 0);
    pool.run_ranges(10, 3, [&](std::size_t begin, std::size_t end) {
        for (std::size_t i = begin; i < end; ++i) ranges[i] += static_cast<int>(end - begin);
    });
    CHECK(ranges == std::vector<int>{3, 3, 3, 3, 3, 3, 3, 3, 3, 1});
    std::atomic<int> ran{0};
    CHECK_THROWS_WITH(pool.run(40, [&](std::size_t task) {
        ++ran;
        if (task == 2) throw std::runtime_error("task 2 failed");
    }), "task 2 failed");
    CHECK(ran == 40);  // the other tasks still ran
    std::atomic<int> inner{0};
    pool.run(3, [&](std::size_t) { pool.run(3, [&](std::size_t) { ++inner; }); });
    CHECK(inner == 9);
}

TEST_CASE("a stalled thread holds back only its own task: the others take the rest") {
    // Task 0 stalls until every other task is done. With a fixed split the stalled thread's
    // share would wait for it (here: until the deadline); with tasks claimed as threads become
    // free, the other threads run all 99 while it waits.
    for (std::size_t threads : {2u, 3u}) {
        CAPTURE(threads);
        ternary::thread_pool pool(threads);
        constexpr std::size_t tasks = 100;
        std::atomic<std::size_t> done{0};
        bool others_finished_first = false;
        pool.run(tasks, [&](std::size_t task) {
            if (task == 0) {
                const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
                while (done.load() < tasks - 1 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
                others_finished_first = done.load() == tasks - 1;
            } else {
                std::this_thread::sleep_for(std::chrono::microseconds(50));
            }
            ++done;
        });
        CHECK(others_finished_first);
        CHECK(done == tasks);
    }
}

TEST_CASE("the thread pool under sleeping workers and racing callers") {
    ternary::thread_pool pool(3);
    std::atomic<long> total{0};
    // Calls far apart (the workers fall asleep in between) and calls from two threads at once.
    for (int round = 0; round < 3; ++round) {
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
        pool.run(5, [&](std::size_t task) { total += static_cast<long>(task); });
    }
    CHECK(total == 30);
    std::thread other([&] {
        for (int round = 0; round < 200; ++round) pool.run(8, [&](std::size_t) { ++total; });
    });
    for (int round = 0; round < 200; ++round) pool.run(8, [&](std::size_t) { ++total; });
    other.join();
    CHECK(total == 30 + 2 * 200 * 8);
    // A pool stopped right after a call, while its worker may still be looking for a task
    // (it once took the stop for a call already seen and waited forever).
    for (int round = 0; round < 300; ++round) {
        ternary::thread_pool short_lived(2);
        short_lived.run(2, [&](std::size_t) { ++total; });
    }
    CHECK(total == 30 + 2 * 200 * 8 + 600);
}

TEST_CASE("the host's runnable threads are read from /proc/loadavg's fourth field") {
    using ternary::detail::parse_loadavg_runnable;
    CHECK(parse_loadavg_runnable("0.52 0.58 0.59 3/812 40123\n") == std::optional<std::size_t>(3));
    CHECK(parse_loadavg_runnable("12.00 9.50 7.25 17/1203 99") == std::optional<std::size_t>(17));
    for (const char* bad : {"", "0.52 0.58 0.59", "0.52 0.58 0.59 ", "0.52 0.58 0.59 /812", "0.52 0.58 0.59 x/812",
                            "0.52 0.58 0.59 3", "0.52 0.58 0.59 3 812", "0.52 0.58 0.59 12345678901234/5"}) {
        CAPTURE(bad);
        CHECK(!parse_loadavg_runnable(bad));
    }
#if defined(__linux__)
    const auto load = ternary::current_host_load();
    REQUIRE(load);
    CHECK(load->cores == std::thread::hardware_concurrency());
    CHECK(load->runnable >= 1);  // the reading thread itself
#endif
}

namespace {
// The host an adaptive pool sees in the test below: two cores, and as many runnable threads as
// the test says (the pool's own included, as in /proc/loadavg).
std::atomic<std::size_t> fake_runnable{0};
std::optional<ternary::host_load> fake_host_load() { return ternary::host_load{2, fake_runnable.load()}; }
}  // namespace

TEST_CASE("an adaptive pool uses only the cores other programs leave free, and every task still runs once") {
    // Calls about every 3 ms until the pool uses `wanted` threads (at most 2 s). Each call's
    // tasks must all run once; returns the threads that ran tasks in the last call.
    const auto settle = [](ternary::thread_pool& pool, std::size_t wanted) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        std::set<std::thread::id> runners;
        bool every_task_once = true;
        do {
            std::this_thread::sleep_for(std::chrono::milliseconds(3));
            std::vector<std::atomic<int>> hits(16);
            std::mutex runners_mutex;
            runners.clear();
            pool.run(hits.size(), [&](std::size_t task) {
                hits[task].fetch_add(1);
                std::lock_guard<std::mutex> lock(runners_mutex);
                runners.insert(std::this_thread::get_id());
            });
            for (auto& h : hits) every_task_once = every_task_once && h.load() == 1;
        } while (pool.active_threads() != wanted && std::chrono::steady_clock::now() < deadline);
        CHECK(every_task_once);
        CHECK(pool.active_threads() == wanted);
        return runners;
    };
    for (std::size_t threads : {2u, 3u}) {
        CAPTURE(threads);
        fake_runnable = 1;  // an idle host: only the caller runs
        ternary::thread_pool pool(threads, ternary::core_sharing::adaptive, &fake_host_load);
        CHECK(pool.active_threads() == threads);
        // Another program's thread on top of all of ours: at most one core is free.
        fake_runnable = threads + 1;
        settle(pool, 1);
        // Short calls then run on the caller alone (a call the host holds up for over a
        // millisecond may still get help: hence "at least one of 20").
        bool caller_alone = false;
        for (int round = 0; round < 20; ++round) {
            caller_alone = caller_alone || settle(pool, 1) == std::set<std::thread::id>{std::this_thread::get_id()};
        }
        CHECK(caller_alone);
        // A long call gets help from the parked workers once it has run a while.
        const auto caller = std::this_thread::get_id();
        std::atomic<bool> helped{false};
        pool.run(1000, [&](std::size_t) {  // at most 1 s without help
            if (std::this_thread::get_id() != caller) helped = true;
            if (!helped) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        });
        CHECK(helped);
        CHECK(pool.active_threads() == 1);
        // Nested calls still run (inline) while the pool uses one thread.
        std::atomic<int> inner{0};
        pool.run(3, [&](std::size_t) { pool.run(3, [&](std::size_t) { ++inner; }); });
        CHECK(inner == 9);
        // The other program is gone: the pool uses both cores again (it has no more threads than 2).
        fake_runnable = 1;
        settle(pool, 2);
        // And a worker takes tasks again: slow tasks, so the caller cannot take them all.
        bool worker_ran = false;
        for (int round = 0; round < 100 && !worker_ran; ++round) {
            std::atomic<bool> other{false};
            pool.run(8, [&](std::size_t) {
                std::this_thread::sleep_for(std::chrono::microseconds(200));
                if (std::this_thread::get_id() != caller) other = true;
            });
            worker_ran = other.load();
        }
        CHECK(worker_ran);
    }
    // A fixed pool ignores the host.
    fake_runnable = 10;
    ternary::thread_pool fixed(2, ternary::core_sharing::fixed, &fake_host_load);
    for (int round = 0; round < 10; ++round) {
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
        fixed.run(4, [](std::size_t) {});
    }
    CHECK(fixed.active_threads() == 2);
}

TEST_CASE_TEMPLATE("GEMM over several row blocks with a remainder of tokens", P, two_bit, base3, base3_window) {
    // 700 rows of 1000 columns are several ~96 KiB row blocks; 7 and 8 tokens are full tiles
    // (of 4, 3 or 2 tokens) and remainders of 1 and 2 tokens, for every policy's tile shapes.
    for (std::size_t tokens : {std::size_t{7}, std::size_t{8}}) {
        CAPTURE(tokens);
        check_every_policy_matches_scalar(random_problem<P>(700, 1000, tokens));
    }
}
