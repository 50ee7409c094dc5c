#pragma once
// Turning stored tensors into the model's layers, shared by the checkpoint loaders:
// float values of any stored format, ternary tensors with block scales collapsed to the
// coarsest exact form, and float weights ternarized at load.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "../bitnet/config.hpp"
#include "../bitnet/float_matrix.hpp"
#include "../bitnet/model.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../quant/absmean.hpp"
#include "../scales.hpp"
#include "../ternary_matrix.hpp"
#include "ggml_ternary.hpp"

namespace ternary::inline TERNARY_ABI::io {

/// The stored values (f32, f16 or bf16, little-endian) as floats; NaN and Inf are refused
/// (format_error naming `what`), since a norm or embedding holding them poisons every output.
inline std::vector<float> floats_of(bitnet::float_format format, std::span<const std::uint8_t> bytes, const std::string& what) {
    const std::size_t n = bytes.size() / bitnet::bytes_per_value(format);
    std::vector<float> values(n);
    if (n != 0) bitnet::detail::convert_row(format, bytes.data(), values.data(), n);
    for (std::size_t i = 0; i < n; ++i) {
        if (!std::isfinite(values[i])) ternary::detail::fail<format_error>(what.c_str(), "value ", i, " is ", values[i]);
    }
    return values;
}

/// The scales of a decoded tensor in their coarsest exact form: one per matrix when every block
/// that holds a nonzero weight has the same scale (blocks of zeros may carry any scale: TQ
/// encoders write 0 there), else one per row when rows are uniform, else per block.
inline weight_scales collapse_scales(const ternary_tensor& t, std::size_t rows, std::size_t cols, const std::string& what) {
    for (float s : t.scales) {
        if (!std::isfinite(s) || s < 0.0f) ternary::detail::fail<format_error>(what.c_str(), "a scale is ", s);
    }
    if (t.scales.size() == 1) return weight_scales::per_matrix(t.scales[0]);
    const std::size_t blocks_per_row = cols / t.block;
    const auto block_used = [&](std::size_t b) {
        const auto first = t.trits.begin() + static_cast<std::ptrdiff_t>(b * t.block);
        return std::any_of(first, first + static_cast<std::ptrdiff_t>(t.block), [](std::int8_t v) { return v != 0; });
    };
    // Per matrix?
    float common = -1.0f;
    bool uniform = true;
    for (std::size_t b = 0; b < t.scales.size() && uniform; ++b) {
        if (!block_used(b)) continue;
        if (common < 0.0f) common = t.scales[b];
        uniform = t.scales[b] == common;
    }
    if (uniform) return weight_scales::per_matrix(common < 0.0f ? 0.0f : common);
    // Per row?
    std::vector<float> row_scales(rows, 0.0f);
    for (std::size_t i = 0; i < rows; ++i) {
        float row_common = -1.0f;
        for (std::size_t b = i * blocks_per_row; b < (i + 1) * blocks_per_row; ++b) {
            if (!block_used(b)) continue;
            if (row_common >= 0.0f && t.scales[b] != row_common) return weight_scales::per_block(t.block, t.scales);
            row_common = t.scales[b];
        }
        row_scales[i] = std::max(row_common, 0.0f);
    }
    return weight_scales::per_row(std::move(row_scales));
}

/// Float weights (rows x cols, row-major) as trits and one scale. Weights that are already
/// ternary (every value is 0 or +-s for one s, as converters that store dequantized BitNet
/// weights write) keep s as their scale; other (latent, full-precision) weights are ternarized
/// with absmean, BitNet b1.58's own quantizer (quant/absmean.hpp).
inline ternary_tensor ternary_of_floats(std::span<const float> w, std::size_t rows, std::size_t cols, const std::string& what) {
    float s = 0.0f;
    bool ternary_valued = true;
    for (float v : w) {
        if (!std::isfinite(v)) ternary::detail::fail<format_error>(what.c_str(), "a weight is ", v);
        const float a = std::fabs(v);
        if (a == 0.0f) continue;
        if (s == 0.0f) s = a;
        if (a != s) ternary_valued = false;
    }
    ternary_tensor t{std::vector<std::int8_t>(w.size()), {s}, w.size()};
    if (ternary_valued) {
        for (std::size_t e = 0; e < w.size(); ++e) t.trits[e] = static_cast<std::int8_t>(w[e] > 0.0f ? 1 : w[e] < 0.0f ? -1 : 0);
        return t;
    }
    const float gamma = absmean(matrix_view<const float>::row_major(w.data(), rows, cols));
    const float inv_gamma = 1.0f / std::max(gamma, absmean_epsilon);
    for (std::size_t e = 0; e < w.size(); ++e) t.trits[e] = ternarize_weight(w[e], inv_gamma);
    t.scales[0] = 1.0f / inv_gamma;
    return t;
}

/// scales times factor (a separate per-tensor scale some files store).
inline weight_scales scaled(const weight_scales& scales, float factor, std::size_t cols) {
    const scales_view s = scales.view();
    std::vector<float> values(s.values().begin(), s.values().end());
    for (float& v : values) v *= factor;
    if (s.kind() == scale_kind::per_matrix) return weight_scales::per_matrix(values[0]);
    if (s.kind() == scale_kind::per_row) return weight_scales::per_row(std::move(values));
    return weight_scales::per_block(s.block_cols(cols), std::move(values));
}

/// What a checkpoint format calls the tensors of block l: prefix + l + "." + name
/// (formats.md 4.8 for GGUF, 3 for Hugging Face).
struct layer_tensor_names {
    const char* prefix;
    const char* attn_norm;
    const char* wq;
    const char* wk;
    const char* wv;
    const char* wo;
    const char* attn_sub_norm;
    const char* ffn_norm;
    const char* w_gate;
    const char* w_up;
    const char* w_down;
    const char* ffn_sub_norm;

    /// The full name of tensor `name` of block `layer`.
    std::string of(std::size_t layer, const char* name) const { return prefix + std::to_string(layer) + "." + name; }
};

inline constexpr layer_tensor_names gguf_layer_names{
    "blk.", "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
    "attn_sub_norm.weight", "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight",
    "ffn_sub_norm.weight"};

inline constexpr layer_tensor_names hf_layer_names{
    "model.layers.", "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
    "self_attn.v_proj.weight", "self_attn.o_proj.weight", "self_attn.attn_sub_norm.weight",
    "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
    "mlp.ffn_sub_norm.weight"};

/// The blocks of a model of configuration c whose tensors are named by `names`: norms from
/// vector(name, size) (none with linear_self_norm; sub-norms only with sub_norms), linears from
/// make_linear(name, rows, cols).
template <class Linear, class Vector, class MakeLinear>
std::vector<bitnet::layer_weights<Linear>> read_layers(const bitnet::model_config& c, const layer_tensor_names& names,
                                                       Vector&& vector, MakeLinear&& make_linear) {
    std::vector<bitnet::layer_weights<Linear>> layers(c.n_layers);
    for (std::size_t l = 0; l < c.n_layers; ++l) {
        auto& layer = layers[l];
        // In the order of the forward pass (which decides the error a file with several defects gets).
        if (!c.linear_self_norm) layer.attn_norm = vector(names.of(l, names.attn_norm), c.dim);
        layer.wq = make_linear(names.of(l, names.wq), c.dim, c.dim);
        layer.wk = make_linear(names.of(l, names.wk), c.kv_dim(), c.dim);
        layer.wv = make_linear(names.of(l, names.wv), c.kv_dim(), c.dim);
        layer.wo = make_linear(names.of(l, names.wo), c.dim, c.dim);
        if (!c.linear_self_norm) layer.ffn_norm = vector(names.of(l, names.ffn_norm), c.dim);
        layer.w_gate = make_linear(names.of(l, names.w_gate), c.hidden_dim, c.dim);
        layer.w_up = make_linear(names.of(l, names.w_up), c.hidden_dim, c.dim);
        layer.w_down = make_linear(names.of(l, names.w_down), c.dim, c.hidden_dim);
        if (c.sub_norms) {
            layer.attn_sub_norm = vector(names.of(l, names.attn_sub_norm), c.dim);
            layer.ffn_sub_norm = vector(names.of(l, names.ffn_sub_norm), c.hidden_dim);
        }
    }
    return layers;
}

}  // namespace ternary::inline TERNARY_ABI::io
