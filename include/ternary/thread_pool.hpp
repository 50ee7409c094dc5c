#pragma once
// A persistent thread pool for the products: threads are created once, a call hands out work
// without allocating, and workers spin briefly before sleeping so that back-to-back GEMVs
// (a model's decode step) do not pay a wake-up each.
//
// Work is split statically (part p of n always covers the same rows), and every row's result
// is computed by one thread in exact integers, so results are bit-identical for any count.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "config.hpp"
#include "error.hpp"

namespace ternary::inline TERNARY_ABI {

class thread_pool {
public:
    /// A pool of `threads` threads in all, the calling thread included (threads - 1 workers).
    explicit thread_pool(std::size_t threads) : threads_(std::max<std::size_t>(threads, 1)) {
        for (std::size_t w = 1; w < threads_; ++w) workers_.emplace_back([this, w] { work(w); });
    }
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;
    ~thread_pool() {
        stopping_.store(true);
        generation_.fetch_add(1);
        generation_.notify_all();
        for (auto& t : workers_) t.join();
    }

    std::size_t size() const noexcept { return threads_; }

    /// Runs f(part) for every part in [0, parts) (parts <= size()), part 0 on the calling thread,
    /// and returns when all are done. An exception from any part is rethrown here. Calls from
    /// several threads are serialized; a call from inside a part runs all parts inline.
    template <class F>
    void run(std::size_t parts, F&& f) {
        parts = std::min(parts, threads_);
        if (parts <= 1 || inside_a_part()) {
            for (std::size_t p = 0; p < parts; ++p) f(p);
            return;
        }
        std::lock_guard<std::mutex> lock(call_mutex_);
        job_ = {[](void* fn, std::size_t part) { (*static_cast<std::remove_reference_t<F>*>(fn))(part); },
                static_cast<void*>(&f), parts};
        failure_ = nullptr;
        // Every worker acknowledges every call, even one with no part to run, so that when
        // run() returns no worker can still be reading job_.
        pending_.store(threads_ - 1);
        generation_.fetch_add(1, std::memory_order_release);
        generation_.notify_all();
        run_part(0);
        // Wait for the workers: spin first (their parts end about when ours does), then sleep.
        wait_until(pending_, [](std::size_t left) { return left == 0; });
        if (failure_) std::rethrow_exception(failure_);
    }

private:
    struct job {
        void (*call)(void*, std::size_t) = nullptr;
        void* fn = nullptr;
        std::size_t parts = 0;
    };
    /// How long a waiting thread polls before it sleeps. Waking a sleeping thread costs tens of
    /// microseconds (more in a VM), as much as a whole GEMV; consecutive products (a model's
    /// layers) come closer together than this, so their threads never sleep in between.
    static constexpr std::chrono::microseconds spin_time{1000};

    /// Returns once done(value) holds: polls for spin_time, then sleeps until value changes.
    template <class T, class Done>
    static void wait_until(const std::atomic<T>& value, Done done) {
        const auto deadline = std::chrono::steady_clock::now() + spin_time;
        for (std::size_t spin = 0;; ++spin) {
            const T now = value.load(std::memory_order_acquire);
            if (done(now)) return;
            if (spin % 256 == 255 && std::chrono::steady_clock::now() > deadline) {
                value.wait(now, std::memory_order_acquire);
            } else {
                cpu_relax();
            }
        }
    }

    static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ volatile("yield");
#endif
    }

    static bool& inside_a_part() {
        thread_local bool inside = false;
        return inside;
    }

    void run_part(std::size_t part) {
        inside_a_part() = true;
        try {
            job_.call(job_.fn, part);
        } catch (...) {
            std::lock_guard<std::mutex> lock(failure_mutex_);
            if (!failure_) failure_ = std::current_exception();
        }
        inside_a_part() = false;
    }

    void work(std::size_t worker) {
        std::uint64_t seen = 0;
        for (;;) {
            wait_until(generation_, [seen](std::uint64_t g) { return g != seen; });
            seen = generation_.load(std::memory_order_acquire);
            if (stopping_.load()) return;
            if (worker < job_.parts) run_part(worker);
            if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
        }
    }

    std::size_t threads_;
    std::vector<std::thread> workers_;
    std::mutex call_mutex_;
    std::mutex failure_mutex_;
    job job_;
    std::exception_ptr failure_;
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<std::size_t> pending_{0};
    std::atomic<bool> stopping_{false};
};

namespace detail {

inline std::size_t default_thread_count() {
    if (const char* env = std::getenv("TERNARY_THREADS"); env != nullptr && *env != '\0') {
        char* end = nullptr;
        const long n = std::strtol(env, &end, 10);
        if (*end != '\0' || n < 1 || n > 1024) {
            fail<error>("TERNARY_THREADS", "'", env, "' is not a thread count from 1 to 1024");
        }
        return static_cast<std::size_t>(n);
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

inline std::unique_ptr<thread_pool>& pool_slot() {
    static std::unique_ptr<thread_pool> pool;
    return pool;
}

inline std::mutex& pool_mutex() {
    static std::mutex m;
    return m;
}

}  // namespace detail

/// The pool the products use: TERNARY_THREADS threads if set, else one per core.
inline thread_pool& default_pool() {
    std::lock_guard<std::mutex> lock(detail::pool_mutex());
    auto& pool = detail::pool_slot();
    if (!pool) pool = std::make_unique<thread_pool>(detail::default_thread_count());
    return *pool;
}

/// Sets the number of threads the products use (>= 1). Not while a product is running.
inline void set_threads(std::size_t threads) {
    if (threads < 1) detail::fail<error>("set_threads", "needs at least one thread");
    std::lock_guard<std::mutex> lock(detail::pool_mutex());
    detail::pool_slot() = std::make_unique<thread_pool>(threads);
}

/// The number of threads the products use.
inline std::size_t threads() { return default_pool().size(); }

}  // namespace ternary::inline TERNARY_ABI
