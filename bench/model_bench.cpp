// ternary-model-bench: a whole model's speed, end to end, against the limits measured in the
// same run: prefill against the speed of the very GEMMs it runs (its linears over a batch of
// the same tokens, alone), decode against the machine's read bandwidth (a decoded token reads
// every weight once). Then the same 2-thread decode (and without --quick a 64-token prefill), and
// a 2-thread 4096 x 4096 GEMV, while a busy-looping process of normal priority (started and
// stopped here) takes a core, as on a laptop or a shared server: once with the pool as it comes
// (core_sharing::adaptive, thread_pool.hpp) and once with both threads kept at work (fixed).
// One JSON object per line.
//
// Default model: the BitNet b1.58 2B4T shapes with random weights, built in memory, with the
// int8 head (--f16-head keeps the f16 one). --model FILE loads any checkpoint instead.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <ternary/bitnet/random_model.hpp>
#include <ternary/io/load.hpp>
#include <ternary/ternary.hpp>

#include "bandwidth.hpp"
#include "native_reference.hpp"
#include "packing_option.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

struct options {
    bool quick = false;
    bool f16_head = false;
    bool heads = true;        // the heads phase
    bool heads_only = false;  // only the heads phase
    std::string packing = "auto";  // the layers' packing for the main phases
    std::string model;   // empty: the 2b4t preset, random weights
    std::string preset = "2b4t";
};

/// A busy-looping child process of normal priority, for as long as this object lives: the
/// "other program" that takes one of the machine's cores.
class competitor {
public:
    competitor() {
        pid_ = fork();
        if (pid_ == 0) {
            std::atomic<std::uint64_t> spins{0};  // an atomic: a loop of them is forward progress
            for (;;) spins.fetch_add(1, std::memory_order_relaxed);
        }
        if (pid_ < 0) std::perror("fork");
        // Let the scheduler see it running before anything is measured.
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ~competitor() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    }
    competitor(const competitor&) = delete;
    competitor& operator=(const competitor&) = delete;

private:
    pid_t pid_ = -1;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

double quantile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

/// The prompt of n tokens the runs use: fixed ids spread over the vocabulary.
std::vector<std::size_t> prompt_of(std::size_t n, std::size_t vocab_size) {
    std::vector<std::size_t> ids(n);
    for (std::size_t i = 0; i < n; ++i) ids[i] = (1 + i * 7919) % vocab_size;
    return ids;
}

/// Seconds the model's linears take over a batch of `tokens` tokens, alone: each ternary layer's
/// GEMM once, on one activation batch quantized beforehand (the median of 3 passes). Prefill
/// runs these same GEMMs and everything else besides, so tokens over this is its bound.
template <class Model>
double gemm_seconds(const Model& model, std::size_t tokens) {
    const auto& c = model.config();
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const auto batch_of = [&](std::size_t cols) {
        std::vector<float> x(tokens * cols);
        for (float& v : x) v = normal(rng);
        return ternary::quantize(ternary::matrix_view<const float>::row_major(x.data(), tokens, cols));
    };
    const auto x_dim = batch_of(c.dim), x_hidden = batch_of(c.hidden_dim);
    std::vector<float> out(tokens * std::max(c.dim, c.hidden_dim));
    std::vector<double> passes;
    for (int pass = 0; pass < 3; ++pass) {
        const auto start = clock_type::now();
        for (const auto& w : model.weights().layers) {
            for (const auto* l : {&w.wq, &w.wk, &w.wv, &w.wo, &w.w_gate, &w.w_up, &w.w_down}) {
                const auto& x = l->cols() == c.dim ? x_dim : x_hidden;
                ternary::gemm(ternary::matrix_view<float>::row_major(out.data(), tokens, l->rows()), l->weights(), x);
            }
        }
        passes.push_back(seconds_since(start));
    }
    return median(passes);
}

template <class Model>
std::size_t macs_per_token(const Model& model) {
    std::size_t macs = 0;
    for (const auto& w : model.weights().layers) {
        for (const auto* l : {&w.wq, &w.wk, &w.wv, &w.wo, &w.w_gate, &w.w_up, &w.w_down}) macs += l->rows() * l->cols();
    }
    return macs;
}

/// Prefill of n tokens at position 0: the best of `rounds` (the KV cache is simply overwritten).
template <class Model>
double prefill_tokens_per_s(Model& model, std::size_t n, int rounds) {
    const auto prompt = prompt_of(n, model.config().vocab_size);
    double best = 0.0;
    for (int r = 0; r < rounds; ++r) {
        const auto start = clock_type::now();
        model.forward(std::span<const std::size_t>(prompt), 0);
        best = std::max(best, static_cast<double>(n) / seconds_since(start));
    }
    return best;
}

/// Decode speed: `n` tokens one at a time at positions `position` on, the model's cache
/// holding the positions before (fixed ids: no sampling).
template <class Model>
double decode_from(Model& model, std::size_t n, std::size_t position) {
    const auto ids = prompt_of(n, model.config().vocab_size);
    model.forward(ids[0], position);  // warm: the first decode step sizes its buffers
    const auto start = clock_type::now();
    for (std::size_t i = 1; i < n; ++i) model.forward(ids[i], position + i);
    return static_cast<double>(n - 1) / seconds_since(start);
}

/// The prompt before the decodes at a short context.
constexpr std::size_t short_prompt = 8;

/// Decode speed: `n` tokens one at a time after a prompt of short_prompt tokens, not timed.
template <class Model>
double decode_tokens_per_s(Model& model, std::size_t n) {
    const auto ids = prompt_of(short_prompt, model.config().vocab_size);
    model.forward(std::span<const std::size_t>(ids), 0);
    return decode_from(model, n, short_prompt);
}

/// A 4096 x 4096 two_bit GEMV repeated: per-call microseconds of `reps` repetitions of about
/// 20 ms each (as the trials of ternary-roofline): a thread descheduled for a time slice or two shows as a slow repetition.
std::vector<double> gemv_reps(std::size_t reps) {
    const std::size_t n = 4096;
    std::mt19937 rng(11);
    std::uniform_int_distribution<int> trit(-1, 1);
    std::vector<std::int8_t> trits(n * n);
    for (auto& t : trits) t = static_cast<std::int8_t>(trit(rng));
    const auto w = ternary::ternary_matrix<ternary::two_bit>::from_trits(trits, n, n, ternary::weight_scales::per_matrix(0.5f));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x_float(n), y(n);
    for (float& v : x_float) v = normal(rng);
    const auto x = ternary::quantize(x_float);
    for (int i = 0; i < 50; ++i) ternary::gemv(std::span<float>(y), w, x);  // warm
    std::vector<double> us;
    for (std::size_t r = 0; r < reps; ++r) {
        std::size_t calls = 0;
        const auto start = clock_type::now();
        double elapsed = 0.0;
        do {
            ternary::gemv(std::span<float>(y), w, x);
            ++calls;
            elapsed = seconds_since(start) * 1e6;
        } while (elapsed < 20000.0);
        us.push_back(elapsed / static_cast<double>(calls));
    }
    return us;
}

/// The contended runs' pools, in order: as the programs get it, then with both threads kept.
constexpr ternary::core_sharing contended_sharing[2] = {ternary::core_sharing::adaptive, ternary::core_sharing::fixed};

/// The default pool's sharing and the threads it uses at the moment, as JSON fields.
std::string pool_state() {
    const ternary::thread_pool& pool = ternary::default_pool();
    return std::string("\"sharing\":\"") + (pool.sharing() == ternary::core_sharing::adaptive ? "adaptive" : "fixed") +
           "\",\"threads_in_use\":" + std::to_string(pool.active_threads());
}

void report_gemv(std::size_t threads, bool contended, const std::vector<double>& us) {
    std::printf("{\"phase\":\"gemv\",\"m\":4096,\"k\":4096,\"threads\":%zu,%s,\"contended\":%s,\"reps\":%zu,"
                "\"us_median\":%.1f,\"us_p90\":%.1f,\"us_best\":%.1f,\"us_worst\":%.1f}\n",
                threads, pool_state().c_str(), contended ? "true" : "false", us.size(), median(us), quantile(us, 0.9),
                *std::min_element(us.begin(), us.end()), *std::max_element(us.begin(), us.end()));
    std::fflush(stdout);
}

template <class Model>
void run(Model& model, const options& o, std::string_view name) {
    constexpr bool ternary_layers = requires(const Model& m) { m.weights().layers[0].wq.weights().bytes(); };
    const std::size_t bytes = model.weight_bytes_per_token();
    const std::size_t macs = macs_per_token(model);
    const std::size_t decoded = o.quick ? 32 : 128;
    const std::string head = model.has_int8_head() ? "int8" : "stored";
    const std::string_view layers = ternary::bitnet::linear_kind<std::remove_cvref_t<decltype(model.weights().layers[0].wq)>>;
    // A decode line: `tokens` decoded after a prompt of `context`; kv_bytes, the keys and
    // values each of them read (on average), count in bytes_per_token.
    const auto report_decode = [&](std::size_t threads, bool contended, double tps, double gbps,
                                   std::size_t tokens = 0, std::size_t context = short_prompt, std::size_t kv_bytes = 0) {
        if (tokens == 0) tokens = decoded;
        const std::size_t read = bytes + kv_bytes;
        std::printf("{\"phase\":\"decode\",\"model\":\"%.*s\",\"layers\":\"%s\",\"head\":\"%s\",\"threads\":%zu,%s,\"contended\":%s,"
                    "\"context\":%zu,\"tokens\":%zu,\"tokens_per_s\":%.2f,\"bytes_per_token\":%zu,\"kv_bytes_per_token\":%zu,"
                    "\"read_gbps\":%.1f,\"bw_fraction\":%.3f}\n",
                    static_cast<int>(name.size()), name.data(), layers.data(), head.c_str(), threads, pool_state().c_str(),
                    contended ? "true" : "false", context, tokens, tps, read, kv_bytes, gbps,
                    static_cast<double>(read) * tps / (gbps * 1e9));
        std::fflush(stdout);
    };
    const auto report_prefill = [&](std::size_t threads, bool contended, std::size_t n, double tps) {
        std::printf("{\"phase\":\"prefill\",\"model\":\"%.*s\",\"layers\":\"%s\",\"threads\":%zu,%s,\"contended\":%s,"
                    "\"tokens\":%zu,\"tokens_per_s\":%.2f",
                    static_cast<int>(name.size()), name.data(), layers.data(), threads, pool_state().c_str(),
                    contended ? "true" : "false", n, tps);
    };
    // A 2-thread decode deep in a context, its cache holding `context` positions: each token
    // also reads the keys and values of every earlier position (a sequence's bytes a
    // position), and attention grows with them.
    const std::size_t in_context_tokens = o.quick ? 16 : 64;
    const auto fits_in_context = [&](std::size_t context) { return context + in_context_tokens <= model.config().seq_len; };
    const auto decode_in_context = [&](std::size_t context) {
        if (!fits_in_context(context)) return;
        const std::size_t n = in_context_tokens;
        const double gbps_before = bench::read_bandwidth(2);
        const double tps = decode_from(model, n, context);
        const double gbps = (gbps_before + bench::read_bandwidth(2)) / 2;
        const std::size_t kv_bytes = ternary::bitnet::sequence(model.config()).bytes_per_position() * (context + n / 2);
        report_decode(2, false, tps, gbps, n, context, kv_bytes);
    };
    double decode_1t = 0.0;
    for (std::size_t threads : {1u, 2u}) {
        ternary::set_threads(threads);
        const double gbps_before = bench::read_bandwidth(threads);
        const double tps = decode_tokens_per_s(model, decoded);
        const double gbps = (gbps_before + bench::read_bandwidth(threads)) / 2;
        if (threads == 1) decode_1t = tps;
        report_decode(threads, false, tps, gbps);

        std::vector<std::size_t> prompts{64};
        if (!o.quick || threads == 2) prompts.push_back(512);
        for (std::size_t n : prompts) {
            if (n > model.config().seq_len) continue;
            const int rounds = n > 64 ? 2 : 3;  // the first pass of a length also sizes the run buffers
            const double prefill = prefill_tokens_per_s(model, n, rounds);
            report_prefill(threads, false, n, prefill);
            if constexpr (ternary_layers) {
                const double gemm = gemm_seconds(model, 64);
                const double bound = 64.0 / gemm;
                std::printf(",\"macs_per_token\":%zu,\"gemm_gmacs\":%.1f,\"gemm_bound_tokens_per_s\":%.2f,\"gemm_fraction\":%.3f",
                            macs, static_cast<double>(macs) * 64.0 / gemm / 1e9, bound, prefill / bound);
            }
            std::printf("}\n");
            std::fflush(stdout);
            if (threads == 2 && n == 512) decode_in_context(n);  // the cache holds this prompt
        }
    }
    if (!o.quick) {
        const std::size_t context = 2048;
        if (fits_in_context(context)) {  // else the prompt would be wasted
            const auto prompt = prompt_of(context, model.config().vocab_size);
            model.forward(std::span<const std::size_t>(prompt), 0);
            decode_in_context(context);
        }
    }
    // A core taken by another process: the pool as it comes (adaptive), then with both its
    // threads kept at work (fixed), for comparison.
    double contended_tps[2] = {};
    {
        const competitor busy;
        const double gbps = bench::read_bandwidth(2);
        for (std::size_t s = 0; s < 2; ++s) {
            ternary::set_threads(2, contended_sharing[s]);
            contended_tps[s] = decode_tokens_per_s(model, decoded);
            report_decode(2, true, contended_tps[s], gbps);
            if (!o.quick && model.config().seq_len >= 64) {  // a prompt: long calls, where parked workers help
                report_prefill(2, true, 64, prefill_tokens_per_s(model, 64, 3));
                std::printf("}\n");
                std::fflush(stdout);
            }
        }
    }
    ternary::set_threads(2);
    std::printf("{\"phase\":\"contention\",\"contended_2t_decode_vs_1t\":%.3f,\"fixed_contended_2t_decode_vs_1t\":%.3f}\n",
                decode_1t > 0 ? contended_tps[0] / decode_1t : 0.0, decode_1t > 0 ? contended_tps[1] / decode_1t : 0.0);
    std::fflush(stdout);
}

/// The packing of a model's ternary layers.
template <class Model>
struct packing_of_model;
template <class P>
struct packing_of_model<ternary::bitnet::transformer<ternary::bitnet::ternary_linear<P>>> {
    using type = P;
};
template <class Model>
using packing_of = typename packing_of_model<Model>::type;

/// The same layers in two_bit, base3 and base3_window (the same trits: repacked), decoding in
/// turn in this one run, so that the machine's noise falls on all alike: the median of the
/// rounds at 1 and 2 threads, then a 64-token prefill at 2 threads. Each line gives every
/// packing's tokens/s and its ratio to two_bit.
template <class TwoBitModel, class... Others>
void compare_packings(const options& o, std::string_view name, TwoBitModel& two_bit_model, Others&... others) {
    const int rounds = o.quick ? 3 : 5;
    // Per packing, the median over the rounds of measure(model); the packings in turn each round.
    const auto medians = [&](auto measure) {
        std::vector<std::vector<double>> runs(1 + sizeof...(Others));
        for (int r = 0; r < rounds; ++r) {
            std::size_t k = 0;
            runs[k++].push_back(measure(two_bit_model));
            ((runs[k++].push_back(measure(others))), ...);
        }
        std::vector<double> m;
        for (auto& v : runs) m.push_back(median(v));
        return m;
    };
    const auto number = [](const char* format, double value) {
        char text[32];
        std::snprintf(text, sizeof text, format, value);
        return std::string(text);
    };
    // "<packing>_tokens_per_s" and "<packing>_vs_two_bit" for every packing.
    const auto fields = [&](const std::vector<double>& tps) {
        std::string out = "\"two_bit_tokens_per_s\":" + number("%.2f", tps[0]);
        std::size_t k = 1;
        ((out += ",\"" + std::string(packing_of<Others>::name) + "_tokens_per_s\":" + number("%.2f", tps[k]) + ",\"" +
                 std::string(packing_of<Others>::name) + "_vs_two_bit\":" + number("%.3f", tps[k] / tps[0]),
          ++k),
         ...);
        return out;
    };
    const std::size_t decoded = o.quick ? 32 : 128;
    for (std::size_t threads : {1u, 2u}) {
        ternary::set_threads(threads);
        const auto tps = medians([&](auto& model) { return decode_tokens_per_s(model, decoded); });
        std::string bytes = "\"two_bit_bytes_per_token\":" + std::to_string(two_bit_model.weight_bytes_per_token());
        ((bytes += ",\"" + std::string(packing_of<Others>::name) + "_bytes_per_token\":" +
                   std::to_string(others.weight_bytes_per_token())),
         ...);
        std::printf("{\"phase\":\"packing\",\"op\":\"decode\",\"model\":\"%.*s\",\"head\":\"%s\",\"threads\":%zu,"
                    "\"rounds\":%d,%s,%s}\n",
                    static_cast<int>(name.size()), name.data(), two_bit_model.has_int8_head() ? "int8" : "stored", threads,
                    rounds, fields(tps).c_str(), bytes.c_str());
        std::fflush(stdout);
    }
    if (64 <= two_bit_model.config().seq_len) {
        ternary::set_threads(2);
        const auto tps = medians([&](auto& model) { return prefill_tokens_per_s(model, 64, 1); });
        std::printf("{\"phase\":\"packing\",\"op\":\"prefill\",\"model\":\"%.*s\",\"threads\":2,\"tokens\":64,"
                    "\"rounds\":%d,%s}\n",
                    static_cast<int>(name.size()), name.data(), rounds, fields(tps).c_str());
        std::fflush(stdout);
    }
}

/// Decode with the head as int8 and in the block formats Q6_K and Q4_K, alternated round by
/// round in the same minutes (phase heads), at 1 and 2 threads; leaves the int8 head in use.
template <class Model>
void compare_heads(Model& model, const options& o, std::string_view name) {
    if (model.config().dim % 256 != 0) return;  // the k-quants need rows of whole 256-blocks
    const std::size_t decoded = o.quick ? 32 : 128;
    const int rounds = o.quick ? 2 : 3;
    const std::vector<std::string_view> heads = {"int8", "q6_k", "q4_k"};
    for (std::size_t threads : {1u, 2u}) {
        ternary::set_threads(threads);
        std::vector<std::vector<double>> tps(heads.size());
        std::vector<std::size_t> bytes(heads.size());
        for (int r = 0; r < rounds; ++r) {
            for (std::size_t h = 0; h < heads.size(); ++h) {
                if (heads[h] == "int8") model.use_int8_head();
                else model.use_head_format(*ternary::bitnet::float_format_named(heads[h]));
                bytes[h] = model.weight_bytes_per_token();
                tps[h].push_back(decode_tokens_per_s(model, decoded));
            }
        }
        std::printf("{\"phase\":\"heads\",\"op\":\"decode\",\"model\":\"%.*s\",\"threads\":%zu,\"rounds\":%d",
                    static_cast<int>(name.size()), name.data(), threads, rounds);
        for (std::size_t h = 0; h < heads.size(); ++h) {
            std::printf(",\"%s_tokens_per_s\":%.2f,\"%s_bytes_per_token\":%zu", heads[h].data(), median(tps[h]), heads[h].data(), bytes[h]);
        }
        std::printf(",\"q6_k_vs_int8\":%.3f,\"q4_k_vs_int8\":%.3f}\n", median(tps[1]) / median(tps[0]), median(tps[2]) / median(tps[0]));
        std::fflush(stdout);
    }
    model.use_int8_head();
}

void gemv_contention(const options& o) {
    const std::size_t reps = o.quick ? 25 : 100;
    std::vector<double> single;
    for (std::size_t threads : {1u, 2u}) {
        ternary::set_threads(threads);
        const auto us = gemv_reps(reps);
        if (threads == 1) single = us;
        report_gemv(threads, false, us);
    }
    std::vector<double> contended[2];
    {
        const competitor busy;
        for (std::size_t s = 0; s < 2; ++s) {
            ternary::set_threads(2, contended_sharing[s]);
            contended[s] = gemv_reps(reps);
            report_gemv(2, true, contended[s]);
        }
    }
    ternary::set_threads(2);
    std::printf("{\"phase\":\"contention\",\"contended_2t_gemv_p90_vs_median\":%.3f,"
                "\"contended_2t_gemv_p90_vs_1t_median\":%.3f,\"fixed_contended_2t_gemv_p90_vs_median\":%.3f,"
                "\"fixed_contended_2t_gemv_p90_vs_1t_median\":%.3f}\n",
                quantile(contended[0], 0.9) / median(contended[0]), quantile(contended[0], 0.9) / median(single),
                quantile(contended[1], 0.9) / median(contended[1]), quantile(contended[1], 0.9) / median(single));
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--quick") {
            o.quick = true;
            o.heads = false;
        } else if (arg == "--f16-head") {
            o.f16_head = true;
        } else if (arg == "--heads-only") {
            o.heads_only = true;
        } else if (arg == "--no-heads") {
            o.heads = false;
        } else if ((arg == "--model" || arg == "--preset") && i + 1 < argc) {
            (arg == "--model" ? o.model : o.preset) = argv[++i];
        } else if (arg == "--packing" && i + 1 < argc && examples::valid_packing(argv[i + 1])) {
            o.packing = argv[++i];
        } else {
            std::fprintf(stderr,
                         "usage: ternary-model-bench [--quick] [--model FILE | --preset CONFIG] [--f16-head]\n"
                         "                           [--packing auto|two_bit|base3|base3_window]\n"
                         "  --quick          fewer tokens and repetitions, no heads phase (under 90 s)\n"
                         "  --model FILE     a checkpoint (GGUF, safetensors, llama2.c); default: random weights\n"
                         "  --preset CONFIG  the random model's shape (default 2b4t; see ternary-generate --random)\n"
                         "  --f16-head       keep the head as stored (default: the int8 head)\n"
                         "  --no-heads       skip the heads phase (decode with int8, Q6_K and Q4_K heads)\n"
                         "  --heads-only     only the heads phase\n"
                         "  --packing P      the ternary layers' packing in the main phases: two_bit, base3,\n"
                         "                   base3_window or auto (default: as the programs choose)\n"
                         "Prints one JSON object per line: decode and prefill at 1 and 2 threads (tokens_per_s,\n"
                         "bytes_per_token, read_gbps, bw_fraction; gemm_bound_tokens_per_s, gemm_fraction), a\n"
                         "2-thread decode after a prompt of 512 tokens (and of 2048 without --quick: context,\n"
                         "kv_bytes_per_token, counted in bytes_per_token), the 8-token-prompt decode (and a\n"
                         "64-token prefill without --quick) and a 4096 x 4096 GEMV with a\n"
                         "busy process on one core (contended: true; the pool adaptive, then fixed: \"sharing\");\n"
                         "for ternary layers, decode and prefill with them in two_bit, base3 and base3_window, in\n"
                         "turn (phase packing: base3_vs_two_bit, base3_window_vs_two_bit); decode with the head\n"
                         "in int8, Q6_K and Q4_K, alternated (phase heads: q6_k_vs_int8, q4_k_vs_int8).\n");
            return arg == "--help" || arg == "-h" ? 0 : 2;
        }
    }
    if (o.heads_only) o.heads = true;
    try {
        const auto start = clock_type::now();
        const auto prepare = [&](auto& model, std::string_view name) {
            if (!o.f16_head) model.use_int8_head();
            std::fprintf(stderr, "model-bench: %.*s ready in %.1f s\n", static_cast<int>(name.size()), name.data(),
                         seconds_since(start));
            if (!o.heads_only) run(model, o, name);
        };
        using two_bit_model = ternary::bitnet::transformer<ternary::bitnet::ternary_linear<ternary::two_bit>>;
        const auto two_bit_layers = [&]() -> two_bit_model {
            if (o.model.empty()) {
                return ternary::bitnet::random_model<ternary::bitnet::ternary_linear<ternary::two_bit>>(
                    ternary::bitnet::preset_config(o.preset), 42);
            }
            return std::get<two_bit_model>(ternary::io::load_model(o.model));
        };
        const std::string name = o.model.empty() ? o.preset : o.model;
        std::optional<ternary::io::any_model> loaded;
        if (!o.model.empty()) loaded = ternary::io::load_model(o.model);
        if (!loaded || std::holds_alternative<two_bit_model>(*loaded)) {
            // Ternary layers: the model three times, in two_bit, base3 and base3_window (copies,
            // repacked). The main phases run the one --packing names; the others get the int8
            // head for the packing phase.
            two_bit_model two_bit = loaded ? std::get<two_bit_model>(std::move(*loaded)) : two_bit_layers();
            auto base3 = ternary::bitnet::repacked<ternary::base3>(two_bit_model(two_bit));
            auto window = ternary::bitnet::repacked<ternary::base3_window>(two_bit_model(two_bit));
            const std::string_view main_packing = examples::resolved_packing(o.packing);
            const auto main_phases = [&](auto& model) {
                if (main_packing != packing_of<std::decay_t<decltype(model)>>::name) {
                    if (!o.f16_head) model.use_int8_head();
                    return;
                }
                prepare(model, name);
                if (o.heads) compare_heads(model, o, name);
            };
            main_phases(two_bit);
            main_phases(base3);
            main_phases(window);
            if (!o.heads_only) compare_packings(o, name, two_bit, base3, window);
        } else {
            std::visit([&](auto& model) { prepare(model, name); }, *loaded);
        }
        if (!o.heads_only) gemv_contention(o);
        std::fprintf(stderr, "model-bench: done in %.1f s\n", seconds_since(start));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ternary-model-bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
