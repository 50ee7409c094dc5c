#pragma once
// A persistent thread pool for the products and the model: threads are created once, a call
// hands out work without allocating, and idle workers spin briefly before sleeping so that
// back-to-back products (a model's decode step) do not pay a wake-up each.
//
// A call is a list of tasks that threads *claim* one at a time as they become free, the calling
// thread among them. A thread the host deschedules (another process wants its core) then holds
// back only the task it is on: the others take the rest, and the caller never waits for a
// worker that has not started. Which thread runs a task never changes what the task computes
// (each output is written by exactly one task, in exact integers or in a fixed order), so
// results are bit-identical for any thread count and any timing.
//
// A pool with core_sharing::adaptive (the default pool's) also uses no more threads than the
// host has free cores. When another program keeps a core busy, a pool of one thread per core
// has more runnable threads than cores: the host then takes turns, and whichever of the pool's
// threads is off its core stalls the rest (the caller most of all, which issues every product).
// So every few milliseconds the caller reads how many threads the host has runnable
// (host_load.hpp), subtracts its own, and parks the workers beyond the free cores until the
// other program is gone. A call that runs long (a prompt's GEMMs) still wakes them to help:
// over milliseconds, every thread the host will run gains. Fewer threads never change a
// result (above).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "config.hpp"
#include "error.hpp"
#include "host_load.hpp"

namespace ternary::inline TERNARY_ABI {

/// Whether a pool keeps all its threads at work whatever else runs on the host (fixed), or uses
/// only as many as the host has free cores (adaptive: see the top of this file).
enum class core_sharing { fixed, adaptive };

class thread_pool {
public:
    /// Where an adaptive pool reads the host's load (current_host_load; tests pass their own).
    using load_source = std::optional<host_load> (*)();

    /// A pool of `threads` threads in all, the calling thread included (threads - 1 workers).
    explicit thread_pool(std::size_t threads, core_sharing sharing = core_sharing::fixed,
                         load_source read_load = &current_host_load)
        : threads_(std::max<std::size_t>(threads, 1)), sharing_(sharing), read_load_(read_load),
          active_(threads_) {
        for (std::size_t w = 1; w < threads_; ++w) workers_.emplace_back([this, w] { work(w); });
    }
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;
    ~thread_pool() {
        stopping_.store(true);
        publish(0);
        wake_parked();
        for (auto& t : workers_) t.join();
    }

    /// The threads the pool has, the caller included.
    std::size_t size() const noexcept { return threads_; }
    core_sharing sharing() const noexcept { return sharing_; }
    /// The threads its calls use now: size(), or fewer while an adaptive pool finds the host's
    /// cores busy with other work.
    std::size_t active_threads() const noexcept { return active_.load(std::memory_order_relaxed); }

    /// Runs f(task) for every task in [0, tasks), claimed by whichever thread is free (the
    /// caller included), and returns when all are done. An exception from any task is rethrown
    /// here (the other tasks still run). Calls from several threads are serialized; a call
    /// from inside a task runs all its tasks inline, on that thread.
    template <class F>
    void run(std::size_t tasks, F&& f) {
        if (tasks == 0) return;
        if (tasks == 1 || threads_ == 1 || inside_a_task()) return run_inline(tasks, f);
        std::lock_guard<std::mutex> lock(call_mutex_);
        if (sharing_ == core_sharing::adaptive) adapt_to_host();
        // More tasks than a claim word counts are claimed in equal groups.
        const std::size_t per_claim = (tasks + max_claims - 1) / max_claims;
        job_ = {[](void* fn, std::size_t task) { (*static_cast<std::remove_reference_t<F>*>(fn))(task); },
                static_cast<void*>(&f), tasks, per_claim};
        failure_ = nullptr;
        const auto claims = static_cast<std::uint32_t>((tasks + per_claim - 1) / per_claim);
        done_.store(0);
        caller_waiting_.store(false);
        publish(claims);
        claim_all(work_.load(), /*as_caller=*/true);
        // The tasks other threads claimed: spin a little (they end about when ours did), then
        // sleep, which also frees this core for a worker the host had put aside.
        const auto deadline = std::chrono::steady_clock::now() + caller_spin;
        for (std::size_t spin = 0; done_.load(std::memory_order_acquire) != claims; ++spin) {
            if (spin % 64 == 63 && std::chrono::steady_clock::now() > deadline) {
                std::unique_lock<std::mutex> sleep(sleep_mutex_);
                caller_waiting_.store(true);
                done_changed_.wait(sleep, [&] { return done_.load() == claims; });
            } else {
                cpu_relax();
            }
        }
        if (failure_) std::rethrow_exception(failure_);
    }

    /// Runs f(begin, end) over [0, count) cut into ranges of `grain` (the last one shorter),
    /// each range a task as in run().
    template <class F>
    void run_ranges(std::size_t count, std::size_t grain, F&& f) {
        grain = std::max<std::size_t>(grain, 1);
        run((count + grain - 1) / grain, [&](std::size_t task) {
            const std::size_t begin = task * grain;
            f(begin, std::min(count, begin + grain));
        });
    }

private:
    struct job {
        void (*call)(void*, std::size_t) = nullptr;
        void* fn = nullptr;
        std::size_t tasks = 0;
        std::size_t per_claim = 1;
    };

    // The claim word: [call number : 32 | claims : 16 | next claim : 16]. A thread claims by
    // compare-and-swap, so a worker that slept through a call can never claim from the next
    // one by mistake, and it reads job_ only after a successful claim (the call cannot return
    // before that claim is done, so job_ is stable while it is read).
    static constexpr std::size_t max_claims = 0xffff;
    static std::uint64_t claims_of(std::uint64_t word) { return (word >> 16) & 0xffff; }
    static std::uint64_t next_of(std::uint64_t word) { return word & 0xffff; }

    /// How long idle workers poll for the next call before they sleep. Waking a sleeping
    /// thread costs tens of microseconds (more in a VM), as much as a whole GEMV; consecutive
    /// products (a model's layers) come closer together than this. Not longer: a worker that
    /// polls holds its core, and when another process wants a core the caller must get one.
    /// (Measured with ternary-model-bench and a busy process: 1 ms of polling gave a 2-thread
    /// decode at 0.83x the quiet 1-thread speed, 100 us 0.97x, 50 us 1.06x; quiet speed alike.)
    static constexpr std::chrono::microseconds worker_spin{100};
    /// How long the caller polls for the tasks other threads still run before it sleeps. Short:
    /// a task lasts microseconds, so a longer wait means its thread was descheduled, and a
    /// sleeping caller lets the host run that thread on this core.
    static constexpr std::chrono::microseconds caller_spin{50};
    /// How often an adaptive pool reads the host's load (each read costs a few microseconds),
    /// and how much one reading moves its estimate of the threads of other programs: about a
    /// dozen milliseconds of steady load, not one passing thread, changes the threads in use.
    static constexpr std::chrono::milliseconds load_interval{2};
    static constexpr double load_smoothing = 1.0 / 8;
    static constexpr double load_margin = 0.75;
    /// How long a call runs on the threads in use before parked workers are woken to help.
    /// Short calls (a decode step's products: tens to hundreds of microseconds) finish on the
    /// free cores alone, where a thread on a busy core would stall them for its time slice;
    /// long ones (a prompt's GEMMs, milliseconds each) gain from every thread the host will
    /// run, even on a shared core. (Measured: ternary-model-bench's contended phases.)
    static constexpr std::chrono::microseconds help_after{1000};

    static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ volatile("yield");
#endif
    }

    static bool& inside_a_task() {
        thread_local bool inside = false;
        return inside;
    }

    /// Runs the tasks on this thread, as a task of this pool (so a nested call runs inline too):
    /// all of them, then the first exception is rethrown.
    template <class F>
    void run_inline(std::size_t tasks, F& f) {
        const bool was_inside = inside_a_task();
        inside_a_task() = true;
        std::exception_ptr first_failure;
        for (std::size_t t = 0; t < tasks; ++t) {
            try {
                f(t);
            } catch (...) {
                if (!first_failure) first_failure = std::current_exception();
            }
        }
        inside_a_task() = was_inside;
        if (first_failure) std::rethrow_exception(first_failure);
    }

    /// Adaptive pools, at most every load_interval, in a call: other programs' runnable threads
    /// are the host's less this pool's awake ones (the caller, and the workers neither asleep
    /// nor parked), smoothed over readings; the threads in use follow the cores they leave
    /// free, one step at a time, from 1 to size(). Only the caller runs this, under call_mutex_.
    void adapt_to_host() {
        const auto now = std::chrono::steady_clock::now();
        if (now - last_load_read_ < load_interval) return;
        last_load_read_ = now;
        const std::optional<host_load> load = read_load_();
        if (!load) return;
        const std::size_t idle_workers = std::min<std::size_t>(threads_ - 1, sleepers_.load() + parked_.load());
        const std::size_t ours = threads_ - idle_workers;
        const double others = load->runnable > ours ? static_cast<double>(load->runnable - ours) : 0.0;
        other_threads_ += (others - other_threads_) * load_smoothing;
        // One thread fewer once the others need about one of the cores in use, one more once
        // they leave about one more free: the margins keep brief wake-ups (a daemon, a worker
        // between sleeping and spinning) from changing anything.
        const std::size_t active = active_.load(std::memory_order_relaxed);
        const double spare_cores = static_cast<double>(load->cores) - static_cast<double>(active) - other_threads_;
        if (active > 1 && spare_cores <= -load_margin) {
            active_.store(active - 1);
        } else if (active < threads_ && spare_cores >= load_margin) {
            active_.store(active + 1);
            wake_parked();
        }
    }

    void wake_parked() {
        { std::lock_guard<std::mutex> sleep(sleep_mutex_); }
        unparked_.notify_all();
    }

    /// A worker beyond the threads in use sleeps here until it is in use again, a long call
    /// asks for help, or the pool stops.
    void park(std::size_t index) {
        std::unique_lock<std::mutex> sleep(sleep_mutex_);
        const std::uint32_t requests = help_requests_.load();
        parked_.fetch_add(1);
        unparked_.wait(sleep, [&] {
            return stopping_.load() || index < active_.load() || help_requests_.load() != requests;
        });
        parked_.fetch_sub(1);
    }

    /// Starts a new call with `claims` claims (0: none, to wake the workers when stopping).
    void publish(std::uint32_t claims) {
        const std::uint64_t call = (work_.load() >> 32) + 1;
        work_.store((call << 32) | (std::uint64_t{claims} << 16));
        // A worker counts itself a sleeper before it checks work_ a last time, and this reads
        // sleepers_ after the store (both sequentially consistent): either it sees the new
        // call, or it is counted here and woken.
        if (sleepers_.load() > 0) {
            { std::lock_guard<std::mutex> sleep(sleep_mutex_); }
            work_published_.notify_all();
        }
    }

    /// Claims and runs tasks of the call whose claim word was `word` until none is left;
    /// returns the last claim word seen. The caller (`as_caller`) also wakes the parked workers
    /// to help once its call has run help_after with claims left.
    std::uint64_t claim_all(std::uint64_t word, bool as_caller = false) {
        const auto start = as_caller ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
        bool may_ask_for_help = as_caller;
        while (next_of(word) < claims_of(word)) {
            if (!work_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel)) continue;
            run_claim(static_cast<std::size_t>(next_of(word)), static_cast<std::uint32_t>(claims_of(word)));
            if (may_ask_for_help && parked_.load() > 0 && std::chrono::steady_clock::now() - start > help_after) {
                may_ask_for_help = false;
                help_requests_.fetch_add(1);
                wake_parked();
            }
            word = work_.load(std::memory_order_acquire);
        }
        return word;
    }

    void run_claim(std::size_t claim, std::uint32_t claims) {
        inside_a_task() = true;
        const std::size_t first = claim * job_.per_claim, last = std::min(job_.tasks, first + job_.per_claim);
        for (std::size_t task = first; task < last; ++task) {
            try {
                job_.call(job_.fn, task);
            } catch (...) {
                std::lock_guard<std::mutex> lock(failure_mutex_);
                if (!failure_) failure_ = std::current_exception();
            }
        }
        inside_a_task() = false;
        if (done_.fetch_add(1) + 1 == claims && caller_waiting_.load()) {
            { std::lock_guard<std::mutex> sleep(sleep_mutex_); }
            done_changed_.notify_one();
        }
    }

    /// Worker `index` (1 to size() - 1; the caller is thread 0).
    void work(std::size_t index) {
        // The word the pool started with, not the word now: a worker that starts late must
        // still see the calls (or the stop) published before it ran.
        std::uint64_t seen = 0;
        for (;;) {
            // The stop may be the word claim_all saw last (its claims are 0): it is published
            // after stopping_ is set, so seeing it means seeing stopping_.
            if (stopping_.load()) return;
            if (index >= active_.load()) {
                park(index);
                // Woken to help with a long call (or unparked): take what is left of it.
                if (!stopping_.load()) seen = claim_all(work_.load(std::memory_order_acquire));
                continue;
            }
            // Wait for a new call: poll for worker_spin, then sleep until published.
            const auto deadline = std::chrono::steady_clock::now() + worker_spin;
            for (std::size_t spin = 0; work_.load(std::memory_order_acquire) == seen; ++spin) {
                if (spin % 256 == 255 && std::chrono::steady_clock::now() > deadline) {
                    std::unique_lock<std::mutex> sleep(sleep_mutex_);
                    sleepers_.fetch_add(1);
                    work_published_.wait(sleep, [&] { return work_.load() != seen; });
                    sleepers_.fetch_sub(1);
                } else {
                    cpu_relax();
                }
            }
            // A worker the pool stopped using during the wait leaves the call to the others.
            const std::uint64_t word = work_.load(std::memory_order_acquire);
            seen = index < active_.load() ? claim_all(word) : word;
        }
    }

    std::size_t threads_;
    core_sharing sharing_;
    load_source read_load_;
    std::atomic<std::size_t> active_;  // threads in use: the caller and workers 1 .. active_ - 1
    // The caller's estimate of other programs' runnable threads, and when it last read the load.
    double other_threads_ = 0.0;
    std::chrono::steady_clock::time_point last_load_read_{};
    std::vector<std::thread> workers_;
    std::mutex call_mutex_;
    std::mutex failure_mutex_;
    job job_;
    std::exception_ptr failure_;
    std::atomic<std::uint64_t> work_{0};    // the claim word (above)
    std::atomic<std::uint32_t> done_{0};    // claims of the current call finished
    // Sleeping (after the spinning) goes through a mutex and condition variables: the slow
    // path, so plain and portable beats clever.
    std::mutex sleep_mutex_;
    std::condition_variable work_published_, done_changed_, unparked_;
    std::atomic<bool> caller_waiting_{false};
    std::atomic<std::uint32_t> sleepers_{0};  // workers asleep or about to sleep
    std::atomic<std::uint32_t> parked_{0};    // workers parked (beyond the threads in use)
    std::atomic<std::uint32_t> help_requests_{0};  // long calls that woke the parked workers
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

/// adaptive unless TERNARY_CORE_SHARING=fixed.
inline core_sharing default_core_sharing() {
    const char* env = std::getenv("TERNARY_CORE_SHARING");
    if (env == nullptr || *env == '\0' || std::string_view(env) == "adaptive") return core_sharing::adaptive;
    if (std::string_view(env) == "fixed") return core_sharing::fixed;
    fail<error>("TERNARY_CORE_SHARING", "'", env, "' is neither 'adaptive' nor 'fixed'");
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

/// The pool the products use: TERNARY_THREADS threads if set, else one per core; adaptive
/// (fewer while other programs keep cores busy) unless TERNARY_CORE_SHARING=fixed.
inline thread_pool& default_pool() {
    std::lock_guard<std::mutex> lock(detail::pool_mutex());
    auto& pool = detail::pool_slot();
    if (!pool) pool = std::make_unique<thread_pool>(detail::default_thread_count(), detail::default_core_sharing());
    return *pool;
}

/// Sets the number of threads the products use (>= 1), and whether they share busy cores
/// (default: as TERNARY_CORE_SHARING says, else adaptive). Not while a product is running.
inline void set_threads(std::size_t threads, std::optional<core_sharing> sharing = std::nullopt) {
    if (threads < 1) detail::fail<error>("set_threads", "needs at least one thread");
    const core_sharing chosen = sharing ? *sharing : detail::default_core_sharing();
    std::lock_guard<std::mutex> lock(detail::pool_mutex());
    detail::pool_slot() = std::make_unique<thread_pool>(threads, chosen);
}

/// The number of threads the products use (the pool's size; see thread_pool::active_threads
/// for how many an adaptive pool uses at the moment).
inline std::size_t threads() { return default_pool().size(); }

}  // namespace ternary::inline TERNARY_ABI
