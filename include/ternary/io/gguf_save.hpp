#pragma once
// Writing a transformer as a GGUF file that load_gguf (and llama.cpp / bitnet.cpp, for the
// architectures they know) reads back: ternary models as `bitnet-b1.58` (2B4T's graph) or
// `bitnet` (SiLU, or ReLU^2 via bitnet.hidden_activation) with I2_S, TQ2_0 or TQ1_0 linears;
// float models as `llama` (interleaved RoPE) with F32 or F16 linears; bitllama2.c's
// self-normalizing models as this library's own `bitllama2c` (gguf_model.hpp). Ternary weights convert
// losslessly; TQ scales are f16 (formats.md 4.4), so they are exact only for f16 values.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

#include "../bitnet/config.hpp"
#include "../bitnet/float_matrix.hpp"
#include "../bitnet/linear.hpp"
#include "../bitnet/model.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "ggml_ternary.hpp"
#include "gguf.hpp"
#include "half.hpp"
#include "weights.hpp"

namespace ternary::inline TERNARY_ABI::io {

/// How to store the linears: a ternary type for ternary models, f32/f16 for float ones.
enum class gguf_linear_type { i2_s, tq2_0, tq1_0, f16, f32 };

struct gguf_save_options {
    gguf_linear_type linear_type = gguf_linear_type::i2_s;
    std::string name;  // general.name (optional)
    /// The output head's format: the head (a tied embedding's too, then written as its own
    /// output.weight) converted to it with float_matrix::converted (f32, f16, bf16, Q8_0,
    /// Q6_K, Q4_K); unset or equal to the head's format: written as stored.
    std::optional<bitnet::float_format> head_format;
    /// Extra metadata (e.g. a tokenizer's keys), written after the model's own.
    std::vector<std::pair<std::string, gguf_value>> metadata;
    /// Called after each tensor with (tensors done, tensors in all): for progress bars.
    std::function<void(std::size_t, std::size_t)> progress;
};

namespace detail {

inline std::vector<std::uint8_t> bytes_of_floats(std::span<const float> v) {
    std::vector<std::uint8_t> out(v.size() * 4);
    if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
    return out;
}

/// A float matrix in its stored format (f32, f16, bf16 or a block format, whose blocks are
/// copied as they are) as (ggml type, bytes), or converted to f32/f16/bf16 when `to` says so.
inline std::pair<ggml_type, std::vector<std::uint8_t>> stored_matrix(const bitnet::float_matrix& m,
                                                                     std::optional<bitnet::float_format> to = std::nullopt) {
    if (!to && bitnet::is_block_format(m.format())) {
        const std::span<const std::uint8_t> blocks = m.stored();
        return {static_cast<ggml_type>(layout_of(*bitnet::block_type_of(m.format())).ggml_id),
                std::vector<std::uint8_t>(blocks.begin(), blocks.end())};
    }
    const bitnet::float_format format = to.value_or(m.format());
    if (bitnet::is_block_format(format)) {
        ternary::detail::fail<value_error>("stored_matrix", "converting to ", bitnet::format_name(format), " is not supported");
    }
    // bf16 and f16 rows converted back to their format are exact (they came from it).
    const std::size_t row_bytes = bitnet::row_bytes_of(format, m.cols());
    std::vector<float> row(m.cols());
    std::vector<std::uint8_t> out(m.rows() * row_bytes);
    for (std::size_t i = 0; i < m.rows(); ++i) {
        m.row(i, row);
        bitnet::detail::store_row(format, row, out.data() + i * row_bytes);
    }
    const ggml_type type = format == bitnet::float_format::f32   ? ggml_type::f32
                           : format == bitnet::float_format::f16 ? ggml_type::f16
                                                                 : ggml_type::bf16;
    return {type, std::move(out)};
}

/// A ternary matrix as I2_S / TQ2_0 / TQ1_0 bytes.
template <packing P>
std::pair<ggml_type, std::vector<std::uint8_t>> stored_ternary(const ternary_matrix<P>& m, gguf_linear_type type,
                                                               const std::string& name) {
    const std::vector<std::int8_t> trits = m.trits();
    const scales_view s = m.view().scales();
    if (type == gguf_linear_type::i2_s) {
        if (s.kind() != scale_kind::per_matrix) {
            ternary::detail::fail<value_error>("save_gguf", name, ": I2_S holds one scale per matrix; this one has more (use tq2_0)");
        }
        if (m.cols() % 128 != 0) {
            ternary::detail::fail<value_error>("save_gguf", name, ": I2_S needs rows of a multiple of 128 weights, not ", m.cols());
        }
        return {ggml_type::i2_s, encode_i2_s(trits, m.rows(), m.cols(), s.values()[0])};
    }
    if (m.cols() % 256 != 0) {
        ternary::detail::fail<value_error>("save_gguf", name, ": TQ types need rows of a multiple of 256 weights, not ", m.cols());
    }
    std::vector<float> block_scales;
    for (std::size_t i = 0; i < m.rows(); ++i) {
        for (std::size_t j = 0; j < m.cols(); j += 256) {
            const std::size_t first = j / s.block_cols(m.cols()), last = (j + 255) / s.block_cols(m.cols());
            if (first != last) {
                ternary::detail::fail<value_error>("save_gguf", name, ": scale blocks do not hold whole 256-weight blocks");
            }
            block_scales.push_back(s(i, first));
        }
    }
    if (type == gguf_linear_type::tq2_0) return {ggml_type::tq2_0, encode_tq2_0(trits, m.rows(), m.cols(), block_scales)};
    return {ggml_type::tq1_0, encode_tq1_0(trits, m.rows(), m.cols(), block_scales)};
}

}  // namespace detail

/// The GGUF image of a model (see the top of this file for what is supported).
template <class Linear>
gguf_writer gguf_of(const bitnet::transformer<Linear>& model, const gguf_save_options& options = {}) {
    const bitnet::model_config& c = model.config();
    constexpr bool ternary = !std::is_same_v<Linear, bitnet::float_linear>;
    const bool ternary_type = options.linear_type == gguf_linear_type::i2_s || options.linear_type == gguf_linear_type::tq2_0 ||
                              options.linear_type == gguf_linear_type::tq1_0;
    if (ternary != ternary_type) {
        ternary::detail::fail<value_error>("save_gguf", ternary ? "a ternary model needs i2_s, tq2_0 or tq1_0"
                                                                : "a float model needs f16 or f32");
    }
    std::string arch;
    if (c.linear_self_norm) {
        if (c.rope != bitnet::rope_style::interleaved || c.activation != bitnet::ffn_activation::silu || c.sub_norms) {
            ternary::detail::fail<value_error>("save_gguf", "self-normalizing BitLinear layers are written as `bitllama2c`: "
                                                            "interleaved RoPE, SiLU, no sub-norms");
        }
        arch = "bitllama2c";
    } else if (c.rope == bitnet::rope_style::interleaved) {
        if (c.activation != bitnet::ffn_activation::silu || c.sub_norms ||
            options.linear_type == gguf_linear_type::i2_s) {
            ternary::detail::fail<value_error>("save_gguf", "interleaved RoPE is the `llama` architecture: SiLU, no "
                                                            "sub-norms, no I2_S");
        }
        arch = "llama";
    } else {
        if (!ternary) ternary::detail::fail<value_error>("save_gguf", "a float model with half-split RoPE has no GGUF architecture here");
        arch = c.activation == bitnet::ffn_activation::relu_squared && c.sub_norms ? "bitnet-b1.58" : "bitnet";
    }

    gguf_writer out;
    const auto u32 = [](std::size_t v) { return gguf_value{static_cast<std::uint32_t>(v)}; };
    out.add("general.architecture", gguf_value{arch});
    if (!options.name.empty()) out.add("general.name", gguf_value{options.name});
    out.add(arch + ".vocab_size", u32(c.vocab_size));
    out.add(arch + ".context_length", u32(c.seq_len));
    out.add(arch + ".embedding_length", u32(c.dim));
    out.add(arch + ".block_count", u32(c.n_layers));
    out.add(arch + ".feed_forward_length", u32(c.hidden_dim));
    out.add(arch + ".rope.dimension_count", u32(c.head_dim()));
    out.add(arch + ".attention.head_count", u32(c.n_heads));
    out.add(arch + ".attention.head_count_kv", u32(c.n_kv_heads));
    out.add(arch + ".attention.layer_norm_rms_epsilon", gguf_value{c.norm_eps});
    out.add(arch + ".rope.freq_base", gguf_value{c.rope_theta});
    if (arch == "bitnet" && c.activation == bitnet::ffn_activation::relu_squared) {
        out.add("bitnet.hidden_activation", gguf_value{std::string("relu2")});
    }
    for (const auto& [key, value] : options.metadata) out.add(key, value);

    const std::size_t per_layer = std::size_t{7} + (c.linear_self_norm ? 0u : 2u) + (c.sub_norms ? 2u : 0u);
    const bool convert_head = options.head_format && *options.head_format != model.stored_head().format();
    const std::size_t total = 2 + c.n_layers * per_layer + (model.weights().output || convert_head ? 1 : 0);
    std::size_t done = 0;
    const auto add = [&](const std::string& name, std::vector<std::uint64_t> ne,
                         std::pair<ggml_type, std::vector<std::uint8_t>> data) {
        out.add_tensor(name, std::move(ne), static_cast<std::uint32_t>(data.first), std::move(data.second));
        if (options.progress) options.progress(++done, total);
    };
    const auto add_vector = [&](const std::string& name, const std::vector<float>& v) {
        add(name, {v.size()}, {ggml_type::f32, detail::bytes_of_floats(v)});
    };
    const auto add_linear = [&](const std::string& name, const Linear& linear) {
        if constexpr (ternary) {
            add(name, {linear.cols(), linear.rows()}, detail::stored_ternary(linear.weights(), options.linear_type, name));
        } else {
            const auto to = options.linear_type == gguf_linear_type::f16 ? bitnet::float_format::f16 : bitnet::float_format::f32;
            add(name, {linear.cols(), linear.rows()}, detail::stored_matrix(linear.weights(), to));
        }
    };

    const auto& w = model.weights();
    add("token_embd.weight", {c.dim, c.vocab_size}, detail::stored_matrix(w.token_embedding));
    add_vector("output_norm.weight", w.final_norm);
    if (convert_head) {
        add("output.weight", {c.dim, c.vocab_size},
            detail::stored_matrix(bitnet::float_matrix::converted(model.stored_head(), *options.head_format)));
    } else if (w.output) {
        add("output.weight", {c.dim, c.vocab_size}, detail::stored_matrix(*w.output));
    }
    for (std::size_t l = 0; l < c.n_layers; ++l) {
        const layer_tensor_names& n = gguf_layer_names;
        const auto& layer = w.layers[l];
        if (!c.linear_self_norm) add_vector(n.of(l, n.attn_norm), layer.attn_norm);
        add_linear(n.of(l, n.wq), layer.wq);
        add_linear(n.of(l, n.wk), layer.wk);
        add_linear(n.of(l, n.wv), layer.wv);
        add_linear(n.of(l, n.wo), layer.wo);
        if (!c.linear_self_norm) add_vector(n.of(l, n.ffn_norm), layer.ffn_norm);
        add_linear(n.of(l, n.w_gate), layer.w_gate);
        add_linear(n.of(l, n.w_up), layer.w_up);
        add_linear(n.of(l, n.w_down), layer.w_down);
        if (c.sub_norms) {
            add_vector(n.of(l, n.attn_sub_norm), layer.attn_sub_norm);
            add_vector(n.of(l, n.ffn_sub_norm), layer.ffn_sub_norm);
        }
    }
    return out;
}

}  // namespace ternary::inline TERNARY_ABI::io
