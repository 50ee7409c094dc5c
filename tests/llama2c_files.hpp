#pragma once
// Tiny, valid llama2.c legacy, bitllama2.c ak42 and tokenizer files, built byte by byte from
// formats.md 5: for the malformed-file tests (which corrupt them) and the fuzzers' seeds.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace test::llama2c {

using bytes = std::vector<std::uint8_t>;

template <class T>
void put(bytes& b, T value) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&value);
    b.insert(b.end(), p, p + sizeof(T));
}

inline void put_floats(bytes& b, std::size_t n, float value = 0.01f) {
    for (std::size_t i = 0; i < n; ++i) put(b, value * static_cast<float>(i % 7));
}

// dim 8, hidden 16, 1 layer, 2 heads, 1 kv head (head 4, kv 4), vocab 8, seq 4.
constexpr std::int32_t dim = 8, hidden = 16, layers = 1, heads = 2, kv_heads = 1, vocab = 8, seq = 4, kv = 4;

inline bytes legacy_header(std::int32_t vocab_field = vocab) {
    bytes b;
    for (std::int32_t v : {dim, hidden, layers, heads, kv_heads, vocab_field, seq}) put(b, v);
    return b;
}

inline bytes legacy_file(bool shared = true) {
    bytes b = legacy_header(shared ? vocab : -vocab);
    put_floats(b, vocab * dim + layers * (2 * dim + 2 * dim * dim + 2 * kv * dim + 3 * hidden * dim) + dim + seq * 4);
    if (!shared) put_floats(b, vocab * dim);
    return b;
}

inline bytes ak42_file(std::uint8_t code = 0b01) {
    bytes b;
    put(b, std::uint32_t{0x616b3432});
    put(b, std::int32_t{1});
    for (std::int32_t v : {dim, hidden, layers, heads, kv_heads, vocab, seq}) put(b, v);
    put(b, std::uint8_t{1});
    b.resize(256, 0);
    put_floats(b, dim + vocab * dim);
    const auto matrix = [&](std::size_t rows, std::size_t cols) {
        put(b, 0.5f);
        b.insert(b.end(), rows * cols / 4, static_cast<std::uint8_t>(code | code << 2 | code << 4 | code << 6));
    };
    for (auto [rows, cols] : {std::pair{dim, dim}, {kv, dim}, {kv, dim}, {dim, dim}, {hidden, dim}, {dim, hidden}, {hidden, dim}}) {
        matrix(static_cast<std::size_t>(rows), static_cast<std::size_t>(cols));
    }
    return b;
}

/// Pieces <unk> <s> </s> " " a b " a" ab <0x63>, scores 0..8, max_token_length 8.
inline const std::vector<std::string> tokenizer_pieces{"<unk>", "<s>", "</s>", " ", "a", "b", " a", "ab", "<0x63>"};

inline bytes tokenizer_file() {
    bytes b;
    put(b, std::int32_t{8});  // max_token_length
    for (std::size_t i = 0; i < tokenizer_pieces.size(); ++i) {
        put(b, static_cast<float>(i));
        put(b, static_cast<std::int32_t>(tokenizer_pieces[i].size()));
        b.insert(b.end(), tokenizer_pieces[i].begin(), tokenizer_pieces[i].end());
    }
    return b;
}

}  // namespace test::llama2c
