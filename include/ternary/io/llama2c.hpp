#pragma once
// llama2.c checkpoints (formats.md 5): karpathy's legacy float format (stories260K.bin) and
// bitllama2.c's ternary "ak42" version 1 format.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../bitnet/config.hpp"
#include "../bitnet/linear.hpp"
#include "../bitnet/model.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../pack/two_bit.hpp"
#include "../ternary_matrix.hpp"
#include "file.hpp"

namespace ternary::inline TERNARY_ABI::io {

namespace detail {

/// Reads the 7 int32 of a llama2.c header into a config, refusing absurd values (which also
/// keeps every size computed from them far from overflowing 64 bits).
inline bitnet::model_config read_llama2c_header(byte_reader& in, bool& shared_classifier) {
    std::int32_t h[7];
    for (auto& v : h) v = in.read<std::int32_t>("the header");
    shared_classifier = h[5] > 0;
    const std::int64_t vocab = h[5] < 0 ? -static_cast<std::int64_t>(h[5]) : h[5];
    const std::int64_t limits[7] = {1 << 16, 1 << 20, 1 << 10, 1 << 10, 1 << 10, 1 << 22, 1 << 20};
    const std::int64_t values[7] = {h[0], h[1], h[2], h[3], h[4], vocab, h[6]};
    const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
    for (int i = 0; i < 7; ++i) {
        if (values[i] <= 0 || values[i] > limits[i]) {
            ternary::detail::fail<format_error>(in.name().c_str(), "header field ", names[i], " = ", values[i],
                                                " is not in 1..", limits[i]);
        }
    }
    bitnet::model_config c;
    c.dim = static_cast<std::size_t>(h[0]);
    c.hidden_dim = static_cast<std::size_t>(h[1]);
    c.n_layers = static_cast<std::size_t>(h[2]);
    c.n_heads = static_cast<std::size_t>(h[3]);
    c.n_kv_heads = static_cast<std::size_t>(h[4]);
    c.vocab_size = static_cast<std::size_t>(vocab);
    c.seq_len = static_cast<std::size_t>(h[6]);
    try {
        c.validate();
    } catch (const format_error& e) {
        ternary::detail::fail<format_error>(in.name().c_str(), e.what());
    }
    return c;
}

inline void expect_size(const byte_reader& in, std::size_t expected, const char* format) {
    if (in.remaining() + in.offset() != expected) {
        ternary::detail::fail<format_error>(in.name().c_str(), "a ", format, " file of this header has ", expected,
                                            " bytes, this one has ", in.remaining() + in.offset());
    }
}

}  // namespace detail

/// karpathy/llama2.c's legacy float checkpoint: a Llama 2 model (SwiGLU, RMSNorm eps 1e-5,
/// RoPE theta 10000 on interleaved pairs).
/// `name` names the source in error messages.
inline bitnet::transformer<bitnet::float_linear> load_llama2c(std::span<const std::uint8_t> bytes, const std::string& name) {
    byte_reader in(bytes.data(), bytes.size(), name);
    bool shared = true;
    bitnet::model_config c = detail::read_llama2c_header(in, shared);
    const std::size_t dim = c.dim, kv = c.kv_dim(), hidden = c.hidden_dim, layers = c.n_layers;
    const std::size_t floats = c.vocab_size * dim + layers * (2 * dim + 2 * dim * dim + 2 * kv * dim + 3 * hidden * dim) +
                               dim + c.seq_len * c.head_dim() + (shared ? 0 : c.vocab_size * dim);
    detail::expect_size(in, 28 + 4 * floats, "llama2.c legacy");

    bitnet::model_weights<bitnet::float_linear> w;
    w.token_embedding = bitnet::float_matrix::from_floats(in.floats(c.vocab_size * dim, "token_embedding"), c.vocab_size, dim);
    w.layers.resize(layers);
    // Each kind of tensor is stored for all layers, one after another.
    const auto each_layer = [&](auto member, std::size_t rows, std::size_t cols, const char* what) {
        for (auto& layer : w.layers) layer.*member = bitnet::float_linear(in.floats(rows * cols, what), rows, cols);
    };
    for (auto& layer : w.layers) layer.attn_norm = in.floats(dim, "rms_att");
    each_layer(&bitnet::layer_weights<bitnet::float_linear>::wq, dim, dim, "wq");
    each_layer(&bitnet::layer_weights<bitnet::float_linear>::wk, kv, dim, "wk");
    each_layer(&bitnet::layer_weights<bitnet::float_linear>::wv, kv, dim, "wv");
    each_layer(&bitnet::layer_weights<bitnet::float_linear>::wo, dim, dim, "wo");
    for (auto& layer : w.layers) layer.ffn_norm = in.floats(dim, "rms_ffn");
    each_layer(&bitnet::layer_weights<bitnet::float_linear>::w_gate, hidden, dim, "w1");
    each_layer(&bitnet::layer_weights<bitnet::float_linear>::w_down, dim, hidden, "w2");
    each_layer(&bitnet::layer_weights<bitnet::float_linear>::w_up, hidden, dim, "w3");
    w.final_norm = in.floats(dim, "rms_final");
    in.take(c.seq_len * c.head_dim() * sizeof(float), "the unused RoPE tables");
    if (!shared) w.output = bitnet::float_matrix::from_floats(in.floats(c.vocab_size * dim, "wcls"), c.vocab_size, dim);
    return {c, std::move(w)};
}

inline bitnet::transformer<bitnet::float_linear> load_llama2c(const std::string& path) {
    return load_llama2c(read_file(path), path);
}

/// bitllama2.c's ternary "ak42" v1 checkpoint (formats.md 5.3, 5.4): weightless self-normalizing
/// BitLinear layers, codes 00 = 0, 01 = +1, 11 = -1 packed LSB-first, one scale per matrix.
inline bitnet::transformer<bitnet::ternary_linear<two_bit>> load_bitllama2c(std::span<const std::uint8_t> bytes,
                                                                           const std::string& path) {
    constexpr std::uint32_t magic = 0x616b3432;  // "ak42"
    byte_reader in(bytes.data(), bytes.size(), path);
    if (in.read<std::uint32_t>("the magic") != magic) {
        ternary::detail::fail<format_error>(path.c_str(), "not a bitllama2.c file (no 'ak42' magic)");
    }
    if (const auto version = in.read<std::int32_t>("the version"); version != 1) {
        ternary::detail::fail<format_error>(path.c_str(), "bitllama2.c version ", version, " (only 1 is known)");
    }
    bool shared = true;
    bitnet::model_config c = detail::read_llama2c_header(in, shared);
    const std::uint8_t shared_byte = in.read<std::uint8_t>("shared_classifier");
    if (!shared || shared_byte != 1) {
        ternary::detail::fail<format_error>(path.c_str(), "only shared classifiers are defined for ak42 v1");
    }
    c.linear_self_norm = true;
    const std::size_t dim = c.dim, kv = c.kv_dim(), hidden = c.hidden_dim;
    const std::size_t matrix_bytes =
        c.n_layers * (2 * (4 + dim * dim / 4) + 2 * (4 + kv * dim / 4) + 3 * (4 + hidden * dim / 4));
    // Same magic and version as karpathy's float "version 1" export: the exact size tells them apart.
    detail::expect_size(in, 256 + 4 * dim + 4 * c.vocab_size * dim + matrix_bytes, "bitllama2.c ak42 v1 ternary");
    if ((dim * dim) % 4 != 0 || (kv * dim) % 4 != 0 || (hidden * dim) % 4 != 0) {
        ternary::detail::fail<format_error>(path.c_str(), "matrix sizes are not whole bytes of codes");
    }
    in.take(256 - in.offset(), "the header padding");

    using linear = bitnet::ternary_linear<two_bit>;
    bitnet::model_weights<linear> w;
    w.final_norm = in.floats(dim, "final_norm");
    w.token_embedding = bitnet::float_matrix::from_floats(in.floats(c.vocab_size * dim, "tok_embeddings"), c.vocab_size, dim);
    w.layers.resize(c.n_layers);
    const auto read_matrix = [&](std::size_t rows, std::size_t cols, const char* what) {
        const float scale = in.read<float>(what);
        const std::uint8_t* codes = in.take(rows * cols / 4, what);
        std::vector<std::int8_t> trits(rows * cols);
        for (std::size_t e = 0; e < trits.size(); ++e) {
            switch ((codes[e / 4] >> (2 * (e % 4))) & 3u) {
                case 0: trits[e] = 0; break;
                case 1: trits[e] = 1; break;
                case 3: trits[e] = -1; break;
                default:
                    ternary::detail::fail<format_error>(path.c_str(), what, ": code 10 (no weight) at element ", e);
            }
        }
        return linear(ternary_matrix<two_bit>::from_trits(trits, rows, cols, weight_scales::per_matrix(scale)),
                      /*normalize_input=*/true);
    };
    // Seven groups, each holding all layers: wq, wk, wv, wo, w1, w2, w3.
    for (auto& layer : w.layers) layer.wq = read_matrix(dim, dim, "wq");
    for (auto& layer : w.layers) layer.wk = read_matrix(kv, dim, "wk");
    for (auto& layer : w.layers) layer.wv = read_matrix(kv, dim, "wv");
    for (auto& layer : w.layers) layer.wo = read_matrix(dim, dim, "wo");
    for (auto& layer : w.layers) layer.w_gate = read_matrix(hidden, dim, "w1");
    for (auto& layer : w.layers) layer.w_down = read_matrix(dim, hidden, "w2");
    for (auto& layer : w.layers) layer.w_up = read_matrix(hidden, dim, "w3");
    return {c, std::move(w)};
}

inline bitnet::transformer<bitnet::ternary_linear<two_bit>> load_bitllama2c(const std::string& path) {
    return load_bitllama2c(read_file(path), path);
}

}  // namespace ternary::inline TERNARY_ABI::io
