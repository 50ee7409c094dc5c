#pragma once
// The generation loop of llama2.c's run.c: the prompt's tokens (BOS first) are forced, then
// tokens are sampled; each of the `steps` positions (BOS's included, at most the context
// length) yields one token, and generation stops early if the model produces BOS.

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "sampler.hpp"

namespace ternary::inline TERNARY_ABI::bitnet {

/// Whether llama2.c would print a piece: not a lone byte that is neither printable nor space.
inline bool printable(std::string_view piece) {
    if (piece.size() != 1) return !piece.empty();
    const auto byte = static_cast<unsigned char>(piece[0]);
    return std::isprint(byte) || std::isspace(byte);
}

/// What a generation did and how long it took.
struct generation_stats {
    std::size_t prompt_tokens = 0;  // tokens run in the prefill (BOS included)
    std::size_t generated = 0;      // tokens sampled
    double prefill_seconds = 0.0;   // the prompt, run as one batch
    double decode_seconds = 0.0;    // the sampled tokens, one position at a time
};

/// Runs model on prompt and samples until `steps` positions; on_text(piece) receives each
/// piece that is printed (the prompt's, then the generated ones). The whole prompt runs as one
/// batch (its logits at positions before the last are not needed), which gives the same logits
/// as feeding it one position at a time. Tokenizer: encode(text, add_bos, add_eos),
/// decode(previous, token) and a `bos` id.
template <class Model, class Tokenizer, class OnText>
generation_stats generate(Model& model, const Tokenizer& tokenizer, sampler& pick, std::string_view prompt,
                          std::size_t steps, OnText&& on_text) {
    using clock = std::chrono::steady_clock;
    const auto seconds_since = [](clock::time_point start) {
        return std::chrono::duration<double>(clock::now() - start).count();
    };
    const std::vector<std::size_t> prompt_tokens = tokenizer.encode(prompt, true, false);
    steps = std::min(steps, model.config().seq_len);
    generation_stats stats;
    // The prompt: its pieces are printed as llama2.c does (each with the token before it).
    const std::size_t forced = std::min(prompt_tokens.size() - 1, steps);
    for (std::size_t pos = 0; pos < forced; ++pos) {
        if (prompt_tokens[pos + 1] == Tokenizer::bos) return stats;
        const std::string piece = tokenizer.decode(prompt_tokens[pos], prompt_tokens[pos + 1]);
        if (printable(piece)) on_text(piece);
    }
    if (prompt_tokens.size() > steps) return stats;  // no position left to sample

    const auto prefill_start = clock::now();
    std::span<const float> logits = model.forward(std::span<const std::size_t>(prompt_tokens), 0);
    stats.prompt_tokens = prompt_tokens.size();
    stats.prefill_seconds = seconds_since(prefill_start);

    const auto decode_start = clock::now();
    std::size_t token = prompt_tokens.back();
    for (std::size_t pos = prompt_tokens.size() - 1;;) {
        const std::size_t next = pick.sample(logits);
        ++stats.generated;
        if (next == Tokenizer::bos) break;
        const std::string piece = tokenizer.decode(token, next);
        if (printable(piece)) on_text(piece);
        token = next;
        if (++pos >= steps) break;
        logits = model.forward(token, pos);
    }
    stats.decode_seconds = seconds_since(decode_start);
    return stats;
}

}  // namespace ternary::inline TERNARY_ABI::bitnet
