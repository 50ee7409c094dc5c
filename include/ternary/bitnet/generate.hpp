#pragma once
// The generation loop of llama2.c's run.c: the prompt's tokens (BOS first) are fed one position
// at a time, then sampled tokens; each of the `steps` positions (BOS's included, at most the
// context length) yields one token, and generation stops early if the model produces BOS.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "../tokenizer/llama2c.hpp"
#include "sampler.hpp"

namespace ternary::inline TERNARY_ABI::bitnet {

/// Whether llama2.c would print a piece: not a lone byte that is neither printable nor space.
inline bool printable(std::string_view piece) {
    if (piece.size() != 1) return !piece.empty();
    const auto byte = static_cast<unsigned char>(piece[0]);
    return std::isprint(byte) || std::isspace(byte);
}

/// Runs model on prompt and samples until `steps` positions; on_text(piece) receives each
/// generated piece that is printed. Returns the number of tokens generated.
template <class Model, class OnText>
std::size_t generate(Model& model, const tokenizer::llama2c_tokenizer& tokenizer, sampler& pick,
                     std::string_view prompt, std::size_t steps, OnText&& on_text) {
    const std::vector<std::size_t> prompt_tokens = tokenizer.encode(prompt, true, false);
    steps = std::min(steps, model.config().seq_len);
    std::size_t token = prompt_tokens[0], generated = 0;
    for (std::size_t pos = 0; pos < steps; ++pos) {
        const auto logits = model.forward(token, pos);
        const bool in_prompt = pos + 1 < prompt_tokens.size();
        const std::size_t next = in_prompt ? prompt_tokens[pos + 1] : pick.sample(logits);
        if (!in_prompt) ++generated;
        if (next == tokenizer::llama2c_tokenizer::bos) break;
        const std::string piece = tokenizer.decode(token, next);
        if (printable(piece)) on_text(piece);
        token = next;
    }
    return generated;
}

}  // namespace ternary::inline TERNARY_ABI::bitnet
