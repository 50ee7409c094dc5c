// ternary-serve-bench: what batching many sequences' decode steps buys. One model (the 2B4T
// shapes with random weights by default, int8 head), several sequences decoding together:
// each step feeds one new token per sequence in one batched forward pass, so every linear
// runs as a GEMM over the sequences instead of a GEMV per sequence, and the weights are read
// once per step for all of them. For each number of sequences, the decode rate in aggregate
// and per sequence, and vs_single: the aggregate over the 1-sequence rate of the same run.
// Rounds are interleaved over the sequence counts, so that a noisy moment hits them all; the
// median round is reported. One JSON object per line.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <ternary/bitnet/random_model.hpp>
#include <ternary/ternary.hpp>

#include "packing_option.hpp"

namespace {

namespace bn = ternary::bitnet;
using clock_type = std::chrono::steady_clock;

struct options {
    std::string preset = "2b4t";
    std::string packing = "auto";
    std::vector<std::size_t> sequences = {1, 4, 16, 64};
    std::size_t threads = 2;
    std::size_t prompt = 16;  // tokens prefilled per sequence before decoding
    std::size_t steps = 8;    // decode steps per round
    std::size_t rounds = 3;
};

std::size_t number(std::string_view text, const char* what) {
    std::size_t value = 0;
    if (text.empty() || text.size() > 9) throw std::invalid_argument(std::string(what) + " needs a number");
    for (char ch : text) {
        if (ch < '0' || ch > '9') throw std::invalid_argument(std::string(what) + " needs a number, not '" + std::string(text) + "'");
        value = value * 10 + static_cast<std::size_t>(ch - '0');
    }
    if (value == 0) throw std::invalid_argument(std::string(what) + " must be at least 1");
    return value;
}

/// The group of sequences of one size, decoding together.
template <class Model>
struct group {
    std::vector<bn::sequence> seqs;
    std::vector<std::size_t> next;  // each sequence's next token
    bn::workspace work;
    std::vector<double> round_seconds;
    double prefill_seconds = 0.0;

    group(const Model& model, std::size_t n, std::size_t prompt) {
        const std::size_t vocab = model.config().vocab_size;
        std::vector<std::vector<std::size_t>> prompts(n);
        std::vector<bn::sequence_step> batch;
        for (std::size_t s = 0; s < n; ++s) {
            seqs.push_back(model.new_sequence());
            for (std::size_t i = 0; i < prompt; ++i) prompts[s].push_back((s * 7919 + i * 104729 + 1) % vocab);
        }
        for (std::size_t s = 0; s < n; ++s) batch.push_back({seqs[s], prompts[s]});
        const auto start = clock_type::now();
        model.forward(std::span<const bn::sequence_step>(batch), work);
        prefill_seconds = std::chrono::duration<double>(clock_type::now() - start).count();
        for (std::size_t s = 0; s < n; ++s) next.push_back((s * 31 + 5) % vocab);
        step(model);  // warm: the workspace grows to its decode size
    }

    /// One decode step: every sequence's next token in one batch; its greedy pick is next.
    void step(const Model& model) {
        const std::size_t vocab = model.config().vocab_size;
        std::vector<bn::sequence_step> batch;
        for (std::size_t s = 0; s < seqs.size(); ++s) batch.push_back({seqs[s], std::span(&next[s], 1)});
        const auto logits = model.forward(std::span<const bn::sequence_step>(batch), work);
        for (std::size_t s = 0; s < seqs.size(); ++s) {
            const auto row = logits.subspan(s * vocab, vocab);
            next[s] = static_cast<std::size_t>(std::max_element(row.begin(), row.end()) - row.begin());
        }
    }
};

template <class Model>
void run(const Model& model, const options& o) {
    std::vector<group<Model>> groups;
    for (std::size_t n : o.sequences) {
        groups.emplace_back(model, n, o.prompt);
        std::fprintf(stderr, "serve-bench: %zu sequences prefilled (%zu tokens each) in %.2f s\n", n, o.prompt,
                     groups.back().prefill_seconds);
    }
    for (std::size_t round = 0; round < o.rounds; ++round) {
        for (auto& g : groups) {
            const auto start = clock_type::now();
            for (std::size_t i = 0; i < o.steps; ++i) g.step(model);
            g.round_seconds.push_back(std::chrono::duration<double>(clock_type::now() - start).count());
        }
    }
    double single = 0.0;
    for (std::size_t i = 0; i < groups.size(); ++i) {
        auto& g = groups[i];
        std::sort(g.round_seconds.begin(), g.round_seconds.end());
        const double seconds = g.round_seconds[g.round_seconds.size() / 2];
        const double aggregate = static_cast<double>(o.steps * g.seqs.size()) / seconds;
        if (o.sequences[i] == 1) single = aggregate;
        std::printf("{\"bench\":\"serve\",\"threads\":%zu,\"sequences\":%zu,\"aggregate_tokens_per_s\":%.2f,"
                    "\"per_sequence_tokens_per_s\":%.2f,\"step_ms\":%.2f,\"prefill_tokens_per_s\":%.1f",
                    o.threads, g.seqs.size(), aggregate, aggregate / static_cast<double>(g.seqs.size()),
                    1e3 * seconds / static_cast<double>(o.steps),
                    static_cast<double>(o.prompt * g.seqs.size()) / g.prefill_seconds);
        if (single > 0.0) std::printf(",\"vs_single\":%.2f", aggregate / single);
        std::printf("}\n");
        std::fflush(stdout);
    }
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string_view arg = argv[i];
            const bool has_value = i + 1 < argc;
            if (arg == "--preset" && has_value) {
                o.preset = argv[++i];
            } else if (arg == "--packing" && has_value) {
                o.packing = argv[++i];
                if (!examples::valid_packing(o.packing)) {
                    throw std::invalid_argument("--packing takes auto, two_bit, base3 or base3_window");
                }
            } else if (arg == "--sequences" && has_value) {
                o.sequences.clear();
                std::string_view list = argv[++i];
                while (!list.empty()) {
                    const std::size_t comma = list.find(',');
                    o.sequences.push_back(number(list.substr(0, comma), "--sequences"));
                    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
                }
                if (o.sequences.empty()) throw std::invalid_argument("--sequences needs a list");
            } else if ((arg == "-t" || arg == "--threads") && has_value) {
                o.threads = number(argv[++i], "-t");
            } else if (arg == "--prompt" && has_value) {
                o.prompt = number(argv[++i], "--prompt");
            } else if (arg == "--steps" && has_value) {
                o.steps = number(argv[++i], "--steps");
            } else if (arg == "--rounds" && has_value) {
                o.rounds = number(argv[++i], "--rounds");
            } else {
                std::fprintf(stderr,
                             "usage: ternary-serve-bench [--preset CONFIG] [--packing auto|two_bit|base3|base3_window]\n"
                             "                           [-t THREADS] [--sequences 1,4,16,64] [--prompt N] [--steps N]\n"
                             "                           [--rounds N]\n"
                             "  --preset CONFIG  the random model's shape (default 2b4t; see ternary-generate --random)\n"
                             "  --sequences L    the numbers of sequences decoding together (default 1,4,16,64)\n"
                             "  --prompt N       tokens prefilled per sequence first (default 16)\n"
                             "  --steps N        decode steps per round (default 8); --rounds N rounds (default 3)\n"
                             "Prints one JSON line per number of sequences: aggregate and per-sequence tokens/s,\n"
                             "vs_single (aggregate over the 1-sequence rate of the same run).\n");
                return arg == "--help" || arg == "-h" ? 0 : 2;
            }
        }
        ternary::set_threads(o.threads);
        const auto config = bn::preset_config(o.preset);
        auto model = bn::random_model<bn::ternary_linear<ternary::two_bit>>(config, 42);
        const std::string_view packing = examples::resolved_packing(o.packing);
        std::fprintf(stderr, "serve-bench: %s, %.*s layers, int8 head, %zu threads\n", o.preset.c_str(),
                     static_cast<int>(packing.size()), packing.data(), o.threads);
        examples::with_packing(model, o.packing, [&](auto& m) {
            m.use_int8_head();
            run(m, o);
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ternary-serve-bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
