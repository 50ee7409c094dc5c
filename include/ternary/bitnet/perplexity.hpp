#pragma once
// Perplexity by teacher forcing: how well the model predicts each next token of a text.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"

namespace ternary::inline TERNARY_ABI::bitnet {

struct perplexity_result {
    double nll = 0.0;         // mean negative log-likelihood per predicted token (nats)
    double perplexity = 0.0;  // exp(nll)
    std::size_t tokens = 0;   // predicted tokens
};

/// Splits text on `separator`, trims whitespace around each piece and skips empty ones, encodes
/// each with BOS in front, keeps BOS + at most seq_len - 1 tokens, and scores every token after
/// BOS given those before it. Each piece starts from position 0 (a fresh context).
template <class Model, class Tokenizer>
perplexity_result perplexity(Model& model, const Tokenizer& tokenizer, std::string_view text,
                             std::string_view separator) {
    perplexity_result result;
    double total = 0.0;
    const auto trim = [](std::string_view s) {
        const auto space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; };
        while (!s.empty() && space(s.front())) s.remove_prefix(1);
        while (!s.empty() && space(s.back())) s.remove_suffix(1);
        return s;
    };
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t found = separator.empty() ? std::string_view::npos : text.find(separator, start);
        const std::size_t end = found == std::string_view::npos ? text.size() : found;
        const std::string_view piece = trim(text.substr(start, end - start));
        start = found == std::string_view::npos ? text.size() + 1 : found + separator.size();
        if (piece.empty()) continue;
        std::vector<std::size_t> tokens = tokenizer.encode(piece, true, false);
        tokens.resize(std::min(tokens.size(), model.config().seq_len));
        // Runs of up to 64 positions at a time: batched like a prompt, with the logits of each.
        const std::size_t vocab = model.config().vocab_size;
        for (std::size_t pos = 0; pos + 1 < tokens.size(); pos += 64) {
            const std::size_t run = std::min<std::size_t>(64, tokens.size() - 1 - pos);
            const auto logits = model.forward(std::span<const std::size_t>(tokens).subspan(pos, run), pos, true);
            for (std::size_t t = 0; t < run; ++t) {
                const std::span<const float> row = logits.subspan(t * vocab, vocab);
                // -log softmax(row)[next], with the max subtracted so exp cannot overflow.
                const float max = *std::max_element(row.begin(), row.end());
                double sum = 0.0;
                for (float v : row) sum += std::exp(static_cast<double>(v - max));
                total += std::log(sum) - static_cast<double>(row[tokens[pos + t + 1]] - max);
                ++result.tokens;
            }
        }
    }
    if (result.tokens == 0) ternary::detail::fail<value_error>("perplexity", "the text has no token to predict");
    result.nll = total / static_cast<double>(result.tokens);
    result.perplexity = std::exp(result.nll);
    return result;
}

}  // namespace ternary::inline TERNARY_ABI::bitnet
