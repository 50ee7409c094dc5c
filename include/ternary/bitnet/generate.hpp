#pragma once
// Generation: run a prompt through the model as one batch, then sample one token at a time.
//
// generate_tokens is the loop on ids, continuing from any position of the KV cache, so a chat
// can add turns to one conversation. generate is llama2.c's run.c on text: the prompt (BOS
// first) is printed and forced, then tokens are sampled until `steps` positions are used or the
// model produces a stop token.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "../tokenizer/tokenizer.hpp"
#include "sampler.hpp"

namespace ternary::inline TERNARY_ABI::bitnet {

/// What a generation did and how long it took.
struct generation_stats {
    std::size_t prompt_tokens = 0;  // tokens run in the prefill
    std::size_t generated = 0;      // tokens sampled (a stop token included)
    double prefill_seconds = 0.0;   // the prompt, run as one batch
    double decode_seconds = 0.0;    // the sampled tokens, one position at a time

    /// Why generation ended: the model sampled a stop token (given in stop_token), the token
    /// budget or the context ran out, or on_token asked to stop.
    enum class end { stop_token, limit, context_full, interrupted } ended = end::limit;
    std::optional<std::size_t> stop_token;
    /// The last token sampled that is not in the KV cache yet (a stop token included): whoever
    /// continues the conversation decides whether to feed it.
    std::optional<std::size_t> unfed;
};

/// Feeds `input` at `position` (the number of positions already in the model's KV cache; it is
/// advanced past what is fed), then samples up to max_new tokens. Each sampled token that is not
/// a stop token goes to on_token(id), which returns false to stop; the token is fed to the model
/// only when another is to be sampled. value_error if input is empty or does not fit the context.
template <class Model, class OnToken>
generation_stats generate_tokens(Model& model, sampler& pick, std::span<const std::size_t> input, std::size_t& position,
                                 std::size_t max_new, std::span<const std::size_t> stop, OnToken&& on_token) {
    using clock = std::chrono::steady_clock;
    const auto seconds_since = [](clock::time_point start) {
        return std::chrono::duration<double>(clock::now() - start).count();
    };
    const std::size_t context = model.config().seq_len;
    if (input.empty()) ternary::detail::fail<value_error>("generate_tokens", "no input tokens");
    if (position > context || input.size() > context - position) {
        ternary::detail::fail<value_error>("generate_tokens", input.size(), " tokens at position ", position,
                                           " do not fit the context of ", context);
    }
    generation_stats stats;
    const auto prefill_start = clock::now();
    std::span<const float> logits = model.forward(input, position);
    position += input.size();
    stats.prompt_tokens = input.size();
    stats.prefill_seconds = seconds_since(prefill_start);

    const auto decode_start = clock::now();
    for (;;) {
        if (stats.generated == max_new) {
            stats.ended = generation_stats::end::limit;
            break;
        }
        const std::size_t next = pick.sample(logits);
        ++stats.generated;
        stats.unfed = next;
        if (std::find(stop.begin(), stop.end(), next) != stop.end()) {
            stats.ended = generation_stats::end::stop_token;
            stats.stop_token = next;
            break;
        }
        if (!on_token(next)) {
            stats.ended = generation_stats::end::interrupted;
            break;
        }
        if (stats.generated == max_new) {
            stats.ended = generation_stats::end::limit;
            break;
        }
        if (position >= context) {
            stats.ended = generation_stats::end::context_full;
            break;
        }
        logits = model.forward(next, position++);
        stats.unfed.reset();
    }
    stats.decode_seconds = seconds_since(decode_start);
    return stats;
}

/// llama2.c's generation on text: the prompt is encoded (with BOS if the tokenizer adds one),
/// its text is printed, and tokens are sampled until `steps` positions (prompt included, at
/// most the context) have each yielded a token or a stop token comes. on_text receives the
/// text as it is decoded (special tokens are not shown).
template <class Model, class OnText>
generation_stats generate(Model& model, const tokenizer::any_tokenizer& tokenizer, sampler& pick, std::string_view prompt,
                          std::size_t steps, OnText&& on_text) {
    std::vector<std::size_t> prompt_tokens = tokenizer.encode(prompt, tokenizer.adds_bos(), false);
    if (prompt_tokens.empty()) ternary::detail::fail<value_error>("generate", "an empty prompt needs a tokenizer with BOS");
    steps = std::min(steps, model.config().seq_len);
    tokenizer::streaming_decoder text(tokenizer, false);
    // The prompt's text, as far as the steps allow.
    const std::size_t shown = std::min(prompt_tokens.size(), steps + 1);
    for (std::size_t i = 0; i < shown; ++i) {
        if (const std::string piece = text.push(prompt_tokens[i]); !piece.empty()) on_text(piece);
    }
    if (prompt_tokens.size() > steps) return {};  // no position left to sample
    std::size_t position = 0;
    const std::size_t budget = steps + 1 - prompt_tokens.size();
    auto stats = generate_tokens(model, pick, std::span<const std::size_t>(prompt_tokens), position, budget,
                                 tokenizer.stop_tokens(), [&](std::size_t id) {
                                     if (const std::string piece = text.push(id); !piece.empty()) on_text(piece);
                                     return true;
                                 });
    if (const std::string rest = text.finish(); !rest.empty()) on_text(rest);
    return stats;
}

}  // namespace ternary::inline TERNARY_ABI::bitnet
