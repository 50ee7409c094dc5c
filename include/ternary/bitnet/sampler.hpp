#pragma once
// Choosing the next token from logits: greedy, or sampling with temperature, top-k and top-p
// from a seeded generator (the same seed gives the same text on every platform).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"

namespace ternary::inline TERNARY_ABI::bitnet {

struct sampler_options {
    float temperature = 1.0f;  // 0: greedy (argmax)
    std::size_t top_k = 0;     // keep the k most likely tokens; 0: all
    float top_p = 1.0f;        // keep the smallest set whose probability reaches p; 1: all
    std::uint64_t seed = 42;
};

class sampler {
public:
    explicit sampler(sampler_options options = {}) : options_(options), state_(options.seed | 1) {
        if (!(options.temperature >= 0.0f) || !(options.top_p > 0.0f && options.top_p <= 1.0f)) {
            ternary::detail::fail<value_error>("sampler", "temperature must be >= 0 and top_p in (0, 1]");
        }
    }

    /// The index of the largest logit (the first one on ties).
    static std::size_t argmax(std::span<const float> logits) {
        std::size_t best = 0;
        for (std::size_t i = 1; i < logits.size(); ++i) {
            if (logits[i] > logits[best]) best = i;
        }
        return best;
    }

    std::size_t sample(std::span<const float> logits) {
        if (options_.temperature == 0.0f) return argmax(logits);
        // Softmax of logits / T over the candidates, most likely first.
        order_.resize(logits.size());
        std::iota(order_.begin(), order_.end(), std::size_t{0});
        std::sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) {
            return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
        });
        std::size_t keep = options_.top_k == 0 ? order_.size() : std::min(options_.top_k, order_.size());
        probabilities_.resize(keep);
        double total = 0.0;
        for (std::size_t i = 0; i < keep; ++i) {
            probabilities_[i] = std::exp(static_cast<double>((logits[order_[i]] - logits[order_[0]]) / options_.temperature));
            total += probabilities_[i];
        }
        // Top-p: the shortest prefix whose share reaches p.
        double cumulative = 0.0;
        for (std::size_t i = 0; i < keep; ++i) {
            cumulative += probabilities_[i] / total;
            if (cumulative >= options_.top_p) {
                keep = i + 1;
                break;
            }
        }
        double mass = 0.0;
        for (std::size_t i = 0; i < keep; ++i) mass += probabilities_[i];
        const double target = uniform() * mass;
        double running = 0.0;
        for (std::size_t i = 0; i < keep; ++i) {
            running += probabilities_[i];
            if (target < running) return order_[i];
        }
        return order_[keep - 1];
    }

private:
    /// Uniform in [0, 1) from xorshift64*: fully specified, unlike std:: distributions.
    double uniform() {
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        return static_cast<double>((state_ * 0x2545F4914F6CDD1DULL) >> 11) * 0x1.0p-53;
    }

    sampler_options options_;
    std::uint64_t state_;
    std::vector<std::size_t> order_;
    std::vector<double> probabilities_;
};

}  // namespace ternary::inline TERNARY_ABI::bitnet
