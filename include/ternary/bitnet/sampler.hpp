#pragma once
// Choosing the next token from logits: greedy, or sampling with temperature, top-k and top-p
// from a seeded generator (the same seed gives the same text on every platform).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
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

    /// A token drawn from softmax(logits / temperature), restricted to the top_k most likely
    /// tokens (if top_k is not 0) and then to the fewest most likely ones whose probability
    /// reaches top_p. "Most likely first" is a total order (a larger logit first, on ties the
    /// smaller id), so these sets are well defined, and the draw walks the chosen set in id
    /// order: the same seed gives the same tokens on every platform. value_error for empty
    /// logits or a NaN or infinite logit.
    ///
    /// Nothing sorts the vocabulary (128,256 tokens for Llama 3, where a full sort took a third
    /// of a 2B4T decoding step): the sets are found by selection, in linear time.
    std::size_t sample(std::span<const float> logits) {
        if (logits.empty()) ternary::detail::fail<value_error>("sampler::sample", "no logits");
        if (options_.temperature == 0.0f) return argmax(logits);
        float largest = logits[0];
        for (const float logit : logits) {
            if (!std::isfinite(logit)) ternary::detail::fail<value_error>("sampler::sample", "a logit is ", logit);
            largest = std::max(largest, logit);
        }
        if (options_.top_k != 0 && options_.top_k < logits.size()) {
            keep_top_k(logits);
        } else {
            candidates_.resize(logits.size());
            for (std::size_t i = 0; i < logits.size(); ++i) candidates_[i] = {logits[i], i, 0.0};
        }
        for (candidate& c : candidates_) {
            // The unnormalized probability, at most 1.
            c.weight = std::exp((static_cast<double>(c.logit) - largest) / static_cast<double>(options_.temperature));
        }
        if (options_.top_p < 1.0f) keep_nucleus();
        // Draw from what is left, in id order.
        chosen_weight_.assign(logits.size(), 0.0);
        double mass = 0.0;
        for (const candidate& c : candidates_) mass += chosen_weight_[c.id] = c.weight;
        const double target = uniform() * mass;
        double running = 0.0;
        std::size_t last = 0;
        for (std::size_t id = 0; id < chosen_weight_.size(); ++id) {
            if (chosen_weight_[id] == 0.0) continue;
            running += chosen_weight_[id];
            last = id;
            if (target < running) return id;
        }
        return last;  // rounding left target at the very end
    }

private:
    struct candidate {
        float logit;
        std::size_t id;
        double weight;  // exp((logit - largest) / temperature)
    };
    static bool more_likely(const candidate& a, const candidate& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    }

    /// The top_k most likely tokens as candidates: one pass with a heap of the k best so far,
    /// whose least likely is at the front; most tokens cost one comparison with it.
    void keep_top_k(std::span<const float> logits) {
        candidates_.clear();
        const std::size_t k = options_.top_k;
        for (std::size_t i = 0; i < logits.size(); ++i) {
            const candidate c{logits[i], i, 0.0};
            if (candidates_.size() < k) {
                candidates_.push_back(c);
                std::push_heap(candidates_.begin(), candidates_.end(), more_likely);
            } else if (more_likely(c, candidates_.front())) {
                std::pop_heap(candidates_.begin(), candidates_.end(), more_likely);
                candidates_.back() = c;
                std::push_heap(candidates_.begin(), candidates_.end(), more_likely);
            }
        }
    }

    /// Keeps the fewest most likely candidates whose weight reaches top_p of their total.
    void keep_nucleus() {
        double total = 0.0;
        for (const candidate& c : candidates_) total += c.weight;
        const double needed = static_cast<double>(options_.top_p) * total;
        // A candidate lighter than (1 - p) / (n - 1) of the total is never needed: there are at
        // most n - 1 of them (the most likely, of weight 1, stays), together lighter than 1 - p,
        // so the heavier ones reach p without them. For a peaked distribution few are left.
        if (candidates_.size() > 1) {
            const double light = (total - needed) / static_cast<double>(candidates_.size() - 1);
            std::erase_if(candidates_, [&](const candidate& c) { return c.weight < light && c.weight != 1.0; });
        }
        // Weighted quickselect: [0, low) are more likely than [low, high), which are more likely
        // than the rest; the weight of [0, low) is short of needed, so the cut is in [low, high).
        std::size_t low = 0, high = candidates_.size();
        double above = 0.0;
        const auto at = [&](std::size_t i) { return candidates_.begin() + static_cast<std::ptrdiff_t>(i); };
        while (high - low > 16) {
            const std::size_t middle = low + (high - low) / 2;
            std::nth_element(at(low), at(middle), at(high), more_likely);
            double upper = 0.0;
            for (std::size_t i = low; i < middle; ++i) upper += candidates_[i].weight;
            if (above + upper >= needed) {
                high = middle;
            } else {
                above += upper;
                low = middle;
            }
        }
        std::sort(at(low), at(high), more_likely);
        for (std::size_t i = low; i < high; ++i) {
            above += candidates_[i].weight;
            if (above >= needed) {
                candidates_.resize(i + 1);
                return;
            }
        }
        candidates_.resize(high);  // rounding: the weights never quite reached needed
    }

    /// Uniform in [0, 1) from xorshift64*: fully specified, unlike std:: distributions.
    double uniform() {
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        return static_cast<double>((state_ * 0x2545F4914F6CDD1DULL) >> 11) * 0x1.0p-53;
    }

    sampler_options options_;
    std::uint64_t state_;
    std::vector<candidate> candidates_;
    std::vector<double> chosen_weight_;  // by id: the weight of each token left to draw from, else 0
};

}  // namespace ternary::inline TERNARY_ABI::bitnet
