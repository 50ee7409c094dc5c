#pragma once
// Writing a transformer as a Hugging Face checkpoint (config.json + model.safetensors) that
// load_safetensors reads back, laid out as microsoft/bitnet-b1.58-2B-4T is (formats.md 3):
//   - ternary models with sub-norms as model_type `bitnet`, without as `llama`, both with
//     `quantization_config {quant_method: bitnet, linear_class: autobitlinear,
//     quantization_mode: offline}`: each projection as U8 [rows/4, cols] in row-quarter packing
//     plus its `.weight_scale` [1] = the matrix scale (multiplying), BF16 when the value is a
//     bfloat16, else F32. Trits and scales round-trip exactly; matrices with one scale per row
//     or per block have no such form (value_error);
//   - float models as model_type `llama` without quantization_config, each matrix in its own
//     format (F32, F16 or BF16);
//   - the embedding and an untied head in their own format; norms as BF16 when every value is a
//     bfloat16, else F32 (so every value is kept exactly).
// HF applies RoPE to half-split pairs: a model with interleaved RoPE (llama2.c) is written with
// the rows of q_proj and k_proj reordered (as transformers' Llama converter permutes them),
// which computes the same function; the attention scores then sum in another order, so logits
// agree to rounding only. bitllama2.c's self-normalizing linears have no HF form (value_error).

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../bitnet/config.hpp"
#include "../bitnet/float_matrix.hpp"
#include "../bitnet/linear.hpp"
#include "../bitnet/model.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../scales.hpp"
#include "../ternary_matrix.hpp"
#include "gguf_save.hpp"
#include "json.hpp"
#include "safetensors.hpp"
#include "weights.hpp"

namespace ternary::inline TERNARY_ABI::io {

struct safetensors_save_options {
    /// Called after each tensor of the model with (tensors done, tensors in all): for progress
    /// bars. A packed projection and its weight_scale count as one.
    std::function<void(std::size_t, std::size_t)> progress;
};

/// A checkpoint in memory: config.json's text and model.safetensors.
struct safetensors_checkpoint {
    std::string config;
    safetensors_writer weights;
};

namespace detail {

/// The shortest decimal that reads back (as a double, then rounded to float) as v.
inline std::string json_number(float v) {
    char text[64];
    const auto result = std::to_chars(text, text + sizeof text, v);
    std::string out(text, result.ptr);
    if (static_cast<float>(std::strtod(out.c_str(), nullptr)) != v) {
        const auto exact = std::to_chars(text, text + sizeof text, static_cast<double>(v));
        out.assign(text, exact.ptr);
    }
    return out;
}

inline bool is_bf16(float v) { return (std::bit_cast<std::uint32_t>(v) & 0xFFFFu) == 0; }

/// Float values as BF16 bytes when every one is a bfloat16, else as F32 bytes.
inline std::pair<safetensors_dtype, std::vector<std::uint8_t>> stored_values(std::span<const float> v) {
    bool bf16 = true;
    for (float x : v) bf16 = bf16 && is_bf16(x);
    if (!bf16) return {safetensors_dtype::f32, bytes_of_floats(v)};
    std::vector<std::uint8_t> out;
    out.reserve(2 * v.size());
    for (float x : v) {
        const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
        out.push_back(static_cast<std::uint8_t>(bits >> 16));
        out.push_back(static_cast<std::uint8_t>(bits >> 24));
    }
    return {safetensors_dtype::bf16, std::move(out)};
}

/// Where HF's order takes each row of q_proj or k_proj from, for a model with interleaved RoPE:
/// within each head, HF row j * head_dim/2 + i is row 2i + j (pairs (2i, 2i+1) become
/// (i, i + head_dim/2)).
inline std::vector<std::size_t> half_split_row_order(std::size_t rows, std::size_t head_dim) {
    std::vector<std::size_t> from(rows);
    const std::size_t half = head_dim / 2;
    for (std::size_t r = 0; r < rows; ++r) {
        const std::size_t head = r / head_dim, j = r % head_dim / half, i = r % half;
        from[r] = head * head_dim + 2 * i + j;
    }
    return from;
}

/// The rows (of row_size elements) of v in the order `from` gives (row r = old row from[r]).
template <class T>
std::vector<T> reordered_rows(const std::vector<T>& v, std::size_t row_size, const std::vector<std::size_t>& from) {
    std::vector<T> out(v.size());
    for (std::size_t r = 0; r < from.size(); ++r) {
        std::copy_n(v.begin() + static_cast<std::ptrdiff_t>(from[r] * row_size), row_size,
                    out.begin() + static_cast<std::ptrdiff_t>(r * row_size));
    }
    return out;
}

/// Trits (rows x cols, rows a multiple of 4) in row-quarter packing (formats.md 3): byte [p][k]
/// holds code trit + 1 of row i * rows/4 + p in bits 2i, 2i+1.
inline std::vector<std::uint8_t> pack_row_quarters(std::span<const std::int8_t> trits, std::size_t rows, std::size_t cols) {
    const std::size_t quarter = rows / 4;
    std::vector<std::uint8_t> packed(quarter * cols, 0);
    for (std::size_t p = 0; p < quarter; ++p) {
        std::uint8_t* out = packed.data() + p * cols;
        for (unsigned i = 0; i < 4; ++i) {
            const std::int8_t* row = trits.data() + (i * quarter + p) * cols;
            for (std::size_t k = 0; k < cols; ++k) out[k] = static_cast<std::uint8_t>(out[k] | (row[k] + 1) << (2 * i));
        }
    }
    return packed;
}

inline safetensors_dtype dtype_of(ggml_type type) {
    return type == ggml_type::f32 ? safetensors_dtype::f32 : type == ggml_type::f16 ? safetensors_dtype::f16 : safetensors_dtype::bf16;
}

}  // namespace detail

/// The checkpoint of a model (see the top of this file for what is supported).
template <class Linear>
safetensors_checkpoint safetensors_of(const bitnet::transformer<Linear>& model, const safetensors_save_options& options = {}) {
    const bitnet::model_config& c = model.config();
    constexpr bool ternary = !std::is_same_v<Linear, bitnet::float_linear>;
    if (c.linear_self_norm) {
        ternary::detail::fail<value_error>("safetensors_of", "self-normalizing BitLinear layers (bitllama2.c) have no Hugging Face form");
    }
    if (!ternary && c.sub_norms) {
        ternary::detail::fail<value_error>("safetensors_of", "a float model with sub-norms has no Hugging Face form here");
    }
    const auto& w = model.weights();
    const bool bitnet_type = ternary && c.sub_norms;
    const bool reorder = c.rope == bitnet::rope_style::interleaved;

    // config.json
    std::vector<std::pair<std::string, std::string>> keys = {
        {"architectures", bitnet_type ? "[\"BitNetForCausalLM\"]" : "[\"LlamaForCausalLM\"]"},
        {"model_type", bitnet_type ? "\"bitnet\"" : "\"llama\""},
        {"hidden_size", std::to_string(c.dim)},
        {"intermediate_size", std::to_string(c.hidden_dim)},
        {"num_hidden_layers", std::to_string(c.n_layers)},
        {"num_attention_heads", std::to_string(c.n_heads)},
        {"num_key_value_heads", std::to_string(c.n_kv_heads)},
        {"head_dim", std::to_string(c.head_dim())},
        {"vocab_size", std::to_string(c.vocab_size)},
        {"max_position_embeddings", std::to_string(c.seq_len)},
        {"rms_norm_eps", detail::json_number(c.norm_eps)},
        {"rope_theta", detail::json_number(c.rope_theta)},
        {"rope_scaling", "null"},
        {"hidden_act", c.activation == bitnet::ffn_activation::relu_squared ? "\"relu2\"" : "\"silu\""},
        {"attention_bias", "false"},
        {"mlp_bias", "false"},
        {"tie_word_embeddings", w.output ? "false" : "true"},
        {"torch_dtype", json_quote(w.token_embedding.format() == bitnet::float_format::f32 ||
                                           bitnet::is_block_format(w.token_embedding.format())
                                       ? "float32"
                                   : w.token_embedding.format() == bitnet::float_format::f16 ? "float16"
                                                                                             : "bfloat16")},
    };
    if (ternary) {
        keys.emplace_back("quantization_config", "{\n    \"quant_method\": \"bitnet\",\n    \"linear_class\": \"autobitlinear\",\n"
                                                 "    \"quantization_mode\": \"offline\"\n  }");
    }
    safetensors_checkpoint out;
    out.config = "{\n";
    for (std::size_t i = 0; i < keys.size(); ++i) {
        out.config += "  " + json_quote(keys[i].first) + ": " + keys[i].second + (i + 1 < keys.size() ? ",\n" : "\n");
    }
    out.config += "}\n";

    // model.safetensors
    out.weights.metadata("format", "pt");  // what transformers expects of its files
    const std::size_t total = 2 + (w.output ? 1 : 0) + c.n_layers * (9 + (c.sub_norms ? 2u : 0u));
    std::size_t done = 0;
    const auto step = [&] {
        if (options.progress) options.progress(++done, total);
    };
    const auto add = [&](const std::string& name, std::vector<std::size_t> shape,
                         const std::pair<safetensors_dtype, std::vector<std::uint8_t>>& data) {
        out.weights.add(name, data.first, std::move(shape), data.second);
    };
    const auto add_float = [&](const std::string& name, std::vector<std::size_t> shape,
                               const std::pair<ggml_type, std::vector<std::uint8_t>>& data) {
        out.weights.add(name, detail::dtype_of(data.first), std::move(shape), data.second);
    };
    const auto add_vector = [&](const std::string& name, const std::vector<float>& v) {
        add(name, {v.size()}, detail::stored_values(v));
        step();
    };
    // safetensors has no block formats: block-quantized matrices are written dequantized, as
    // f32 (exactly their values).
    const auto plain = [](const bitnet::float_matrix& m) {
        return bitnet::is_block_format(m.format()) ? std::optional(bitnet::float_format::f32) : std::nullopt;
    };
    const auto add_matrix = [&](const std::string& name, const bitnet::float_matrix& m) {
        add_float(name, {m.rows(), m.cols()}, detail::stored_matrix(m, plain(m)));
        step();
    };
    // rope_rows: the head size of q_proj or k_proj, whose rows follow RoPE's pairs; else 0.
    const auto add_linear = [&](const std::string& name, const Linear& linear, std::size_t rope_rows) {
        const std::size_t rows = linear.rows(), cols = linear.cols();
        const bool reordered = reorder && rope_rows != 0;
        if constexpr (ternary) {
            const scales_view s = linear.weights().view().scales();
            if (s.kind() != scale_kind::per_matrix) {
                ternary::detail::fail<value_error>("safetensors_of", name, ": weight_scale is one scale per matrix; this one has more");
            }
            if (rows % 4 != 0) {
                ternary::detail::fail<value_error>("safetensors_of", name, ": packing by quarters needs a multiple of 4 rows, not ", rows);
            }
            std::vector<std::int8_t> trits = linear.weights().trits();
            if (reordered) trits = detail::reordered_rows(trits, cols, detail::half_split_row_order(rows, rope_rows));
            add(name, {rows / 4, cols}, {safetensors_dtype::u8, detail::pack_row_quarters(trits, rows, cols)});
            const float scale = s.values()[0];
            add(name.substr(0, name.size() - std::string_view(".weight").size()) + ".weight_scale", {1},
                detail::stored_values(std::span(&scale, 1)));
        } else {
            const auto to = plain(linear.weights());
            auto stored = detail::stored_matrix(linear.weights(), to);
            if (reordered) {
                stored.second = detail::reordered_rows(stored.second, cols * bitnet::bytes_per_value(to.value_or(linear.weights().format())),
                                                       detail::half_split_row_order(rows, rope_rows));
            }
            add_float(name, {rows, cols}, stored);
        }
        step();
    };

    add_matrix("model.embed_tokens.weight", w.token_embedding);
    for (std::size_t l = 0; l < c.n_layers; ++l) {
        const layer_tensor_names& n = hf_layer_names;
        const auto& layer = w.layers[l];
        add_vector(n.of(l, n.attn_norm), layer.attn_norm);
        add_linear(n.of(l, n.wq), layer.wq, c.head_dim());
        add_linear(n.of(l, n.wk), layer.wk, c.head_dim());
        add_linear(n.of(l, n.wv), layer.wv, 0);
        add_linear(n.of(l, n.wo), layer.wo, 0);
        if (c.sub_norms) add_vector(n.of(l, n.attn_sub_norm), layer.attn_sub_norm);
        add_vector(n.of(l, n.ffn_norm), layer.ffn_norm);
        add_linear(n.of(l, n.w_gate), layer.w_gate, 0);
        add_linear(n.of(l, n.w_up), layer.w_up, 0);
        add_linear(n.of(l, n.w_down), layer.w_down, 0);
        if (c.sub_norms) add_vector(n.of(l, n.ffn_sub_norm), layer.ffn_sub_norm);
    }
    add_vector("model.norm.weight", w.final_norm);
    if (w.output) add_matrix("lm_head.weight", *w.output);
    return out;
}

/// Writes the checkpoint of a model as directory/config.json and directory/model.safetensors,
/// creating the directory. Throws ternary::error if a file cannot be written.
template <class Linear>
void save_safetensors(const bitnet::transformer<Linear>& model, const std::string& directory,
                      const safetensors_save_options& options = {}) {
    const safetensors_checkpoint checkpoint = safetensors_of(model, options);
    std::error_code ec;
    std::filesystem::create_directories(directory, ec);
    if (ec) ternary::detail::fail<error>("save_safetensors", "cannot create the directory '", directory, "'");
    const auto write = [&](const std::string& name, const auto& fill) {
        const std::string path = (std::filesystem::path(directory) / name).string();
        std::ofstream file(path, std::ios::binary);
        if (!file) ternary::detail::fail<error>("save_safetensors", "cannot create '", path, "'");
        fill(file);
        file.close();
        if (!file) ternary::detail::fail<error>("save_safetensors", "cannot write '", path, "'");
    };
    write("config.json", [&](std::ofstream& file) { file << checkpoint.config; });
    write("model.safetensors", [&](std::ofstream& file) {
        checkpoint.weights.write([&](const std::uint8_t* p, std::size_t n) {
            file.write(reinterpret_cast<const char*>(p), static_cast<std::streamsize>(n));
        });
    });
}

}  // namespace ternary::inline TERNARY_ABI::io
