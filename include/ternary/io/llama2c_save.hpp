#pragma once
// Writing models in llama2.c's formats (formats.md 5.1, 5.3), the inverse of llama2c.hpp:
//   llama2c_bytes   karpathy's legacy float checkpoint (a float model of llama2.c's variant)
//   ak42_bytes      bitllama2.c's ternary "ak42" v1 checkpoint (a self-normalizing ternary model)
// Every value is written exactly (floats as f32, trits as codes), so loading the bytes gives
// the same model.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "../bitnet/config.hpp"
#include "../bitnet/linear.hpp"
#include "../bitnet/model.hpp"
#include "../bitnet/ops.hpp"
#include "../config.hpp"
#include "../error.hpp"

namespace ternary::inline TERNARY_ABI::io {

namespace detail {

/// Appends values to a little-endian byte image.
struct byte_writer {
    std::vector<std::uint8_t> bytes;

    template <class T>
    void put(T value) {
        const auto* p = reinterpret_cast<const std::uint8_t*>(&value);
        bytes.insert(bytes.end(), p, p + sizeof(T));
    }
    void floats(std::span<const float> values) {
        const auto* p = reinterpret_cast<const std::uint8_t*>(values.data());
        bytes.insert(bytes.end(), p, p + values.size() * sizeof(float));
    }
    void matrix(const bitnet::float_matrix& m) {
        std::vector<float> row(m.cols());
        for (std::size_t i = 0; i < m.rows(); ++i) {
            m.row(i, row);
            floats(row);
        }
    }
    /// The 7 int32 of a llama2.c header; a negative vocabulary size means an unshared head.
    void header(const bitnet::model_config& c, bool shared_head) {
        for (std::size_t v : {c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads}) put(static_cast<std::int32_t>(v));
        put(static_cast<std::int32_t>(shared_head ? static_cast<std::int64_t>(c.vocab_size) : -static_cast<std::int64_t>(c.vocab_size)));
        put(static_cast<std::int32_t>(c.seq_len));
    }
};

/// Refuses configurations the llama2.c formats cannot hold: their variant is fixed (Llama 2's
/// SwiGLU, RoPE theta 10000 on interleaved pairs, RMSNorm eps 1e-5, no sub-norms), the header
/// holds int32 sizes, and self_norm says which of the two formats is meant.
inline void check_llama2c_variant(const bitnet::model_config& c, bool self_norm, const char* format) {
    if (c.rope != bitnet::rope_style::interleaved || c.activation != bitnet::ffn_activation::silu || c.sub_norms ||
        c.rope_theta != 10000.0f || c.norm_eps != 1e-5f || c.linear_self_norm != self_norm) {
        ternary::detail::fail<value_error>(format, "holds only llama2.c's variant (SiLU, RoPE theta 10000 on interleaved "
                                                   "pairs, RMSNorm eps 1e-5, no sub-norms",
                                           self_norm ? ", self-normalizing BitLinear layers)" : ", learned norms)");
    }
    for (std::size_t v : {c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len}) {
        if (v > 0x7FFFFFFF) ternary::detail::fail<value_error>(format, "a size of ", v, " does not fit its int32 header");
    }
}

}  // namespace detail

/// A float model as karpathy/llama2.c's legacy checkpoint. The two RoPE tables llama2.c's
/// exporter writes (and run.c skips) hold cos and sin of the rotations.
inline std::vector<std::uint8_t> llama2c_bytes(const bitnet::transformer<bitnet::float_linear>& model) {
    const bitnet::model_config& c = model.config();
    detail::check_llama2c_variant(c, false, "llama2c_bytes");
    const auto& w = model.weights();
    detail::byte_writer out;
    out.header(c, !w.output.has_value());
    out.matrix(w.token_embedding);
    for (const auto& layer : w.layers) out.floats(layer.attn_norm);
    for (const auto& layer : w.layers) out.matrix(layer.wq.weights());
    for (const auto& layer : w.layers) out.matrix(layer.wk.weights());
    for (const auto& layer : w.layers) out.matrix(layer.wv.weights());
    for (const auto& layer : w.layers) out.matrix(layer.wo.weights());
    for (const auto& layer : w.layers) out.floats(layer.ffn_norm);
    for (const auto& layer : w.layers) out.matrix(layer.w_gate.weights());
    for (const auto& layer : w.layers) out.matrix(layer.w_down.weights());
    for (const auto& layer : w.layers) out.matrix(layer.w_up.weights());
    out.floats(w.final_norm);
    const std::size_t half = c.head_dim() / 2;
    std::vector<float> cos(c.seq_len * half), sin(c.seq_len * half);
    for (std::size_t pos = 0; pos < c.seq_len; ++pos) {
        bitnet::rope_rotations(std::span(cos).subspan(pos * half, half), std::span(sin).subspan(pos * half, half),
                               c.head_dim(), pos, c.rope_theta);
    }
    out.floats(cos);
    out.floats(sin);
    if (w.output) out.matrix(*w.output);
    return std::move(out.bytes);
}

/// A self-normalizing ternary model (bitllama2.c's) as an "ak42" v1 checkpoint: codes 00 = 0,
/// 01 = +1, 11 = -1 packed LSB-first, one f32 scale per matrix, the embedding as the head.
template <packing P>
std::vector<std::uint8_t> ak42_bytes(const bitnet::transformer<bitnet::ternary_linear<P>>& model) {
    const bitnet::model_config& c = model.config();
    detail::check_llama2c_variant(c, true, "ak42_bytes");
    const auto& w = model.weights();
    if (w.output) ternary::detail::fail<value_error>("ak42_bytes", "ak42 v1 has no separate output head");
    detail::byte_writer out;
    out.put(std::uint32_t{0x616b3432});
    out.put(std::int32_t{1});
    out.header(c, true);
    out.put(std::uint8_t{1});  // shared classifier
    out.bytes.resize(256, 0);
    out.floats(w.final_norm);
    out.matrix(w.token_embedding);
    const auto put_linear = [&](const bitnet::ternary_linear<P>& linear, const char* name) {
        const auto& m = linear.weights();
        const scales_view s = m.scales().view();
        if (s.kind() != scale_kind::per_matrix) {
            ternary::detail::fail<value_error>("ak42_bytes", name, " has more than one scale; ak42 holds one per matrix");
        }
        if (!linear.normalizes_input()) ternary::detail::fail<value_error>("ak42_bytes", name, " does not normalize its input");
        out.put(s.values()[0]);
        const std::vector<std::int8_t> trits = m.trits();
        std::vector<std::uint8_t> codes((trits.size() + 3) / 4, 0);
        for (std::size_t e = 0; e < trits.size(); ++e) {
            const unsigned code = trits[e] == 0 ? 0u : trits[e] > 0 ? 1u : 3u;
            codes[e / 4] = static_cast<std::uint8_t>(codes[e / 4] | code << (2 * (e % 4)));
        }
        out.bytes.insert(out.bytes.end(), codes.begin(), codes.end());
    };
    for (const auto& layer : w.layers) put_linear(layer.wq, "wq");
    for (const auto& layer : w.layers) put_linear(layer.wk, "wk");
    for (const auto& layer : w.layers) put_linear(layer.wv, "wv");
    for (const auto& layer : w.layers) put_linear(layer.wo, "wo");
    for (const auto& layer : w.layers) put_linear(layer.w_gate, "w1");
    for (const auto& layer : w.layers) put_linear(layer.w_down, "w2");
    for (const auto& layer : w.layers) put_linear(layer.w_up, "w3");
    return std::move(out.bytes);
}

}  // namespace ternary::inline TERNARY_ABI::io
