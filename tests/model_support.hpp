#pragma once
// Helpers shared by the model-file tests (GGUF, safetensors): random models whose norms are
// not all ones, the logits that compare two models, and the alternative a loader returned.

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <variant>
#include <vector>

#include <ternary/bitnet/model.hpp>
#include <ternary/bitnet/random_model.hpp>
#include <ternary/io/gguf_model.hpp>

#include "support.hpp"

namespace test {

/// The random model of c with random norm weights (so a norm read from the wrong tensor shows).
template <class Linear>
ternary::bitnet::transformer<Linear> model_with_norms(const ternary::bitnet::model_config& c, std::uint64_t seed) {
    auto weights = ternary::bitnet::random_model<Linear>(c, seed).weights();
    std::uniform_real_distribution<float> dist(0.5f, 1.5f);
    const auto randomize = [&](std::vector<float>& v) {
        for (float& x : v) x = dist(rng());
    };
    randomize(weights.final_norm);
    for (auto& layer : weights.layers) {
        for (auto* v : {&layer.attn_norm, &layer.ffn_norm, &layer.attn_sub_norm, &layer.ffn_sub_norm}) randomize(*v);
    }
    return {c, std::move(weights)};
}

/// The logits of a prompt run as one batch, then of two decoded tokens.
template <class Model>
std::vector<float> logits_of(Model& model) {
    const std::vector<std::size_t> prompt = {1, 17, 250, 3, 99};
    std::vector<float> all;
    const auto append = [&](std::span<const float> v) { all.insert(all.end(), v.begin(), v.end()); };
    append(model.forward(std::span<const std::size_t>(prompt), 0, true));
    append(model.forward(42, prompt.size()));
    append(model.forward(7, prompt.size() + 1));
    return all;
}

/// The model a loader returned, which must be a Model.
template <class Model>
Model& as(ternary::io::any_model& loaded) {
    REQUIRE(std::holds_alternative<Model>(loaded));
    return std::get<Model>(loaded);
}

}  // namespace test
