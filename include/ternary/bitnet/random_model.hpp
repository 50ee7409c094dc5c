#pragma once
// Models of any shape with random weights, for speed and memory measurements without a file
// (`ternary-generate --random 2b4t`) and for tests that need a model of a given structure.
// Configurations are named presets, optionally followed by overrides:
//   "2b4t"                     BitNet b1.58 2B4T's shapes and variant (formats.md 2)
//   "2b4t,layers=2,vocab=512"  the same with fewer layers and a smaller vocabulary

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "../io/half.hpp"
#include "../pack/two_bit.hpp"
#include "../ternary_matrix.hpp"
#include "config.hpp"
#include "float_matrix.hpp"
#include "linear.hpp"
#include "model.hpp"

namespace ternary::inline TERNARY_ABI::bitnet {

/// The configuration a spec names: "2b4t" or "llama2c-260k" (stories260K's shapes), then any of
/// ",dim=N", ",hidden=N", ",layers=N", ",heads=N", ",kv_heads=N", ",vocab=N", ",seq=N".
inline model_config preset_config(std::string_view spec) {
    const std::size_t comma = spec.find(',');
    const std::string_view name = spec.substr(0, comma);
    model_config c;
    if (name == "2b4t") {
        c = {.dim = 2560, .hidden_dim = 6912, .n_layers = 30, .n_heads = 20, .n_kv_heads = 5, .vocab_size = 128256,
             .seq_len = 4096, .norm_eps = 1e-5f, .rope_theta = 500000.0f, .rope = rope_style::half_split,
             .activation = ffn_activation::relu_squared, .sub_norms = true};
    } else if (name == "llama2c-260k") {
        c = {.dim = 64, .hidden_dim = 172, .n_layers = 5, .n_heads = 8, .n_kv_heads = 4, .vocab_size = 512, .seq_len = 512};
    } else {
        ternary::detail::fail<value_error>("preset_config", "unknown preset '", name, "' (2b4t, llama2c-260k)");
    }
    std::string_view rest = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    while (!rest.empty()) {
        const std::size_t end = rest.find(',');
        const std::string_view item = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
        const std::size_t eq = item.find('=');
        const std::string_view key = item.substr(0, eq);
        std::size_t value = 0;
        bool digits = eq != std::string_view::npos && eq + 1 < item.size() && item.size() - eq <= 10;
        for (std::size_t i = eq + 1; digits && i < item.size(); ++i) {
            digits = item[i] >= '0' && item[i] <= '9';
            value = value * 10 + static_cast<std::size_t>(item[i] - '0');
        }
        if (!digits) ternary::detail::fail<value_error>("preset_config", "'", item, "' is not key=number");
        if (key == "dim") c.dim = value;
        else if (key == "hidden") c.hidden_dim = value;
        else if (key == "layers") c.n_layers = value;
        else if (key == "heads") c.n_heads = value;
        else if (key == "kv_heads") c.n_kv_heads = value;
        else if (key == "vocab") c.vocab_size = value;
        else if (key == "seq") c.seq_len = value;
        else ternary::detail::fail<value_error>("preset_config", "unknown key '", key, "' (dim, hidden, layers, heads, kv_heads, vocab, seq)");
    }
    try {
        c.validate();
    } catch (const format_error& e) {
        ternary::detail::fail<value_error>("preset_config", e.what());
    }
    return c;
}

namespace detail {

/// splitmix64: fast, seeded, the same on every platform.
struct random_bits {
    std::uint64_t state;
    std::uint64_t next() {
        std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    /// Uniform in [-1, 1).
    float uniform() { return static_cast<float>(next() >> 40) * (2.0f / 16777216.0f) - 1.0f; }
};

/// rows x cols f16 values uniform in [-spread, spread).
inline float_matrix random_f16_matrix(random_bits& bits, std::size_t rows, std::size_t cols, float spread) {
    auto values = std::make_shared<std::vector<std::uint16_t>>(rows * cols);
    for (auto& v : *values) v = io::f16_from_float(bits.uniform() * spread);
    const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(values->data()), values->size() * 2);
    return float_matrix::over(float_format::f16, bytes, rows, cols, std::move(values));
}

}  // namespace detail

/// A model of configuration c with random weights: uniform trits (ternary) or f16 weights of
/// spread 1/sqrt(cols) (float), f16 embedding (tied head), unit norms. Ternary scales are powers
/// of two, so every file format stores them exactly. The same seed gives the same model.
template <class Linear>
transformer<Linear> random_model(const model_config& c, std::uint64_t seed) {
    c.validate();
    detail::random_bits bits{seed};
    const auto linear = [&](std::size_t rows, std::size_t cols) {
        if constexpr (std::is_same_v<Linear, float_linear>) {
            return float_linear(detail::random_f16_matrix(bits, rows, cols, 1.0f / std::sqrt(static_cast<float>(cols))));
        } else {
            std::vector<std::int8_t> trits(rows * cols);
            std::size_t e = 0;
            while (e < trits.size()) {
                std::uint64_t r = bits.next();
                for (int k = 0; k < 32 && e < trits.size(); ++k, r >>= 2) {
                    const unsigned code = r & 3u;  // 0, 1, 2 -> -1, 0, +1; 3 -> 0 (zeros are the most common trit anyway)
                    trits[e++] = static_cast<std::int8_t>(code == 3 ? 0 : static_cast<int>(code) - 1);
                }
            }
            const float scale = 1.0f / static_cast<float>(1u << (2 + bits.next() % 3));  // 1/4 .. 1/16
            using matrix = std::remove_cvref_t<decltype(std::declval<const Linear&>().weights())>;
            return Linear(matrix::from_trits(trits, rows, cols, weight_scales::per_matrix(scale)));
        }
    };
    model_weights<Linear> w;
    w.token_embedding = detail::random_f16_matrix(bits, c.vocab_size, c.dim, 1.0f);
    w.final_norm.assign(c.dim, 1.0f);
    w.layers.resize(c.n_layers);
    for (auto& layer : w.layers) {
        if (!c.linear_self_norm) {
            layer.attn_norm.assign(c.dim, 1.0f);
            layer.ffn_norm.assign(c.dim, 1.0f);
        }
        if (c.sub_norms) {
            layer.attn_sub_norm.assign(c.dim, 1.0f);
            layer.ffn_sub_norm.assign(c.hidden_dim, 1.0f);
        }
        layer.wq = linear(c.dim, c.dim);
        layer.wk = linear(c.kv_dim(), c.dim);
        layer.wv = linear(c.kv_dim(), c.dim);
        layer.wo = linear(c.dim, c.dim);
        layer.w_gate = linear(c.hidden_dim, c.dim);
        layer.w_up = linear(c.hidden_dim, c.dim);
        layer.w_down = linear(c.dim, c.hidden_dim);
    }
    return {c, std::move(w)};
}

}  // namespace ternary::inline TERNARY_ABI::bitnet
