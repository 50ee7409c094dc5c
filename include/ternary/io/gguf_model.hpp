#pragma once
// A transformer from a GGUF file (formats.md 4.7, 4.8): architectures `bitnet`, `bitnet-25`,
// `bitnet-b1.58` (ternary, RoPE on half-split pairs, sub-norms), `llama` (RoPE on interleaved
// pairs; float or ternary linears) and this library's `bitllama2c` (below). Ternary tensors (I2_S, TQ1_0, TQ2_0) are repacked to the
// kernel layout; the float embedding and head stay in the file's format, memory-mapped.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "../bitnet/config.hpp"
#include "../bitnet/float_matrix.hpp"
#include "../bitnet/linear.hpp"
#include "../bitnet/model.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../pack/two_bit.hpp"
#include "ggml_ternary.hpp"
#include "gguf.hpp"
#include "mapped_file.hpp"
#include "weights.hpp"

namespace ternary::inline TERNARY_ABI::io {

using float_model = bitnet::transformer<bitnet::float_linear>;
using ternary_model = bitnet::transformer<bitnet::ternary_linear<two_bit>>;

/// A loaded model: float linears or ternary ones.
using any_model = std::variant<float_model, ternary_model>;

namespace detail {

inline bool is_bitnet_arch(const std::string& arch) {
    return arch == "bitnet" || arch == "bitnet-25" || arch == "bitnet-b1.58";
}

/// This library's own architecture for bitllama2.c models: BitLinear layers that normalize
/// their own input (no norm tensors in the blocks), SiLU, interleaved RoPE. Other readers do
/// not know it, so they refuse such files rather than run them wrongly.
inline constexpr const char* bitllama2c_arch = "bitllama2c";

inline bool is_ternary_type(std::uint32_t type) {
    return type == static_cast<std::uint32_t>(ggml_type::i2_s) || type == static_cast<std::uint32_t>(ggml_type::tq1_0) ||
           type == static_cast<std::uint32_t>(ggml_type::tq2_0);
}

inline std::optional<bitnet::float_format> float_format_of(std::uint32_t type) {
    switch (static_cast<ggml_type>(type)) {
        case ggml_type::f32: return bitnet::float_format::f32;
        case ggml_type::f16: return bitnet::float_format::f16;
        case ggml_type::bf16: return bitnet::float_format::bf16;
        default: break;
    }
    if (const auto block = block_type_of_ggml(type)) return bitnet::format_of(*block);
    return std::nullopt;
}

/// F32, F16 or BF16: the types a norm's weight or a ternarized float linear may have.
inline std::optional<bitnet::float_format> plain_float_format_of(std::uint32_t type) {
    const auto format = float_format_of(type);
    if (format && bitnet::is_block_format(*format)) return std::nullopt;
    return format;
}

/// Reads a GGUF model's metadata and tensors with the checks every access needs.
class gguf_model_reader {
public:
    gguf_model_reader(std::shared_ptr<const mapped_file> file)
        : file_(std::move(file)), gguf_(gguf_file::parse(file_->bytes(), file_->name())) {
        const gguf_value* arch = gguf_.find("general.architecture");
        const auto* name = arch == nullptr ? nullptr : std::get_if<std::string>(&arch->value);
        if (name == nullptr) fail("no general.architecture string");
        arch_ = *name;
        if (!is_bitnet_arch(arch_) && arch_ != "llama" && arch_ != bitllama2c_arch) {
            fail("architecture '" + arch_ + "' is not supported (bitnet, bitnet-25, bitnet-b1.58, llama, bitllama2c are)");
        }
    }

    const std::string& arch() const noexcept { return arch_; }
    const gguf_file& gguf() const noexcept { return gguf_; }

    [[noreturn]] void fail(const std::string& what) const {
        ternary::detail::fail<format_error>(file_->name().c_str(), what);
    }

    /// An unsigned integer under "<arch>.<key>", of any integer type, within [1, limit].
    std::size_t size(const std::string& key, std::size_t limit, std::optional<std::size_t> fallback = std::nullopt) const {
        const std::string full = arch_ + "." + key;
        const gguf_value* v = gguf_.find(full);
        if (v == nullptr) {
            if (fallback) return *fallback;
            fail("no metadata key '" + full + "'");
        }
        const std::optional<std::uint64_t> n = std::visit([](const auto& x) -> std::optional<std::uint64_t> {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
                if (x < 0) return std::nullopt;
                return static_cast<std::uint64_t>(x);
            } else {
                return std::nullopt;
            }
        }, v->value);
        if (!n || *n == 0 || *n > limit) fail("metadata '" + full + "' is not an integer in 1.." + std::to_string(limit));
        return static_cast<std::size_t>(*n);
    }

    /// A float under "<arch>.<key>" (f32 or f64), finite and > 0, or the fallback.
    float number(const std::string& key, float fallback) const {
        const std::string full = arch_ + "." + key;
        const gguf_value* v = gguf_.find(full);
        if (v == nullptr) return fallback;
        double x = 0.0;
        if (const auto* f = std::get_if<float>(&v->value)) x = *f;
        else if (const auto* d = std::get_if<double>(&v->value)) x = *d;
        else fail("metadata '" + full + "' is not a float");
        if (!std::isfinite(x) || x <= 0.0 || x > 1e30) fail("metadata '" + full + "' = " + std::to_string(x) + " is out of range");
        return static_cast<float>(x);
    }

    const gguf_tensor_info* find(const std::string& name) const { return gguf_.tensor(name); }

    /// The tensor `name`, which must exist and have exactly the dimensions ne (ggml order).
    const gguf_tensor_info& tensor(const std::string& name, const std::vector<std::uint64_t>& ne) const {
        const gguf_tensor_info* t = gguf_.tensor(name);
        if (t == nullptr) fail("no tensor '" + name + "'");
        if (t->ne != ne) {
            std::string shape;
            for (auto n : t->ne) shape += (shape.empty() ? "" : ", ") + std::to_string(n);
            std::string wanted;
            for (auto n : ne) wanted += (wanted.empty() ? "" : ", ") + std::to_string(n);
            fail("tensor '" + name + "' has shape [" + shape + "], the model needs [" + wanted + "]");
        }
        return *t;
    }

    /// A float matrix (rows x cols) over the file's bytes, in any float or block format: no copy.
    bitnet::float_matrix matrix(const std::string& name, std::size_t rows, std::size_t cols) const {
        const gguf_tensor_info& t = tensor(name, {cols, rows});
        const auto format = float_format_of(t.type);
        if (!format) {
            fail("tensor '" + name + "' has type " + std::to_string(t.type) +
                 "; F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K or IQ4_NL is needed");
        }
        const std::shared_ptr<const mapped_file> file = file_;
        try {
            return bitnet::float_matrix::over(*format, gguf_.data(t), rows, cols, file,
                                              [file](std::span<const std::uint8_t> part) { file->release(part); });
        } catch (const value_error& e) {
            fail("tensor '" + name + "': " + e.what());
        }
    }

    /// A vector of floats (a norm's weight), copied.
    std::vector<float> vector(const std::string& name, std::size_t size) const {
        const gguf_tensor_info& t = tensor(name, {size});
        const auto format = plain_float_format_of(t.type);
        if (!format) fail("tensor '" + name + "' has type " + std::to_string(t.type) + "; F32, F16 or BF16 is needed");
        return floats_of(*format, gguf_.data(t), name);
    }

    /// A ternary linear (rows x cols) from a ternary tensor, or from a float one (ternarized,
    /// see ternary_from_floats); times the optional "<name without .weight>.scale" of `bitnet`.
    template <packing P>
    bitnet::ternary_linear<P> ternary(const std::string& name, std::size_t rows, std::size_t cols,
                                      bool normalize_input = false) const {
        const gguf_tensor_info& t = tensor(name, {cols, rows});
        const std::span<const std::uint8_t> bytes = gguf_.data(t);
        const std::string scale_name = name.substr(0, name.size() - std::string(".weight").size()) + ".scale";
        const float extra_scale = gguf_.tensor(scale_name) != nullptr ? vector(scale_name, 1)[0] : 1.0f;
        if constexpr (std::is_same_v<P, two_bit>) {
            if (t.type == static_cast<std::uint32_t>(ggml_type::i2_s)) {
                check_i2_s_arch(name);
                return bitnet::ternary_linear<P>(i2_s_matrix(name, bytes, rows, cols, extra_scale), normalize_input);
            }
        }
        ternary_tensor decoded;
        if (is_ternary_type(t.type)) {
            decoded = decode(t, bytes, rows, cols, name);
        } else if (const auto format = plain_float_format_of(t.type)) {
            decoded = ternary_of_floats(floats_of(*format, bytes, name), rows, cols, name);
        } else {
            fail("tensor '" + name + "' has type " + std::to_string(t.type) + "; I2_S, TQ1_0, TQ2_0, F32, F16 or BF16 is needed");
        }
        weight_scales scales = collapse_scales(decoded, rows, cols, name);
        if (extra_scale != 1.0f) scales = scaled(scales, extra_scale, cols);
        auto matrix = ternary_matrix<P>::from_trits(decoded.trits, rows, cols, std::move(scales));
        file_->release(bytes);  // repacked: the file's copy need not stay in memory
        return bitnet::ternary_linear<P>(std::move(matrix), normalize_input);
    }

private:
    void check_i2_s_arch(const std::string& name) const {
        if (!is_bitnet_arch(arch_) && arch_ != bitllama2c_arch) {
            fail("tensor '" + name + "' has type 36, which is I2_S only in bitnet.cpp's bitnet architectures");
        }
    }

    /// An I2_S tensor repacked to two_bit without decoding its trits (i2_s_to_two_bit).
    ternary_matrix<two_bit> i2_s_matrix(const std::string& name, std::span<const std::uint8_t> bytes, std::size_t rows,
                                        std::size_t cols, float extra_scale) const {
        try {
            const float scale = i2_s_scale(bytes, rows, cols) * extra_scale;
            if (!std::isfinite(scale) || scale < 0.0f) fail("tensor '" + name + "': scale " + std::to_string(scale));
            auto m = ternary_matrix<two_bit>::from_packed(rows, cols, weight_scales::per_matrix(scale),
                                                          [&](std::uint8_t* out) { i2_s_to_two_bit(bytes, rows, cols, out); });
            file_->release(bytes);
            return m;
        } catch (const format_error& e) {
            fail("tensor '" + name + "': " + e.what());
        } catch (const value_error& e) {
            fail("tensor '" + name + "': " + e.what());
        }
    }

    ternary_tensor decode(const gguf_tensor_info& t, std::span<const std::uint8_t> bytes, std::size_t rows,
                          std::size_t cols, const std::string& name) const {
        if (t.type == static_cast<std::uint32_t>(ggml_type::i2_s)) check_i2_s_arch(name);
        try {
            switch (static_cast<ggml_type>(t.type)) {
                case ggml_type::i2_s: return decode_i2_s(bytes, rows, cols);
                case ggml_type::tq2_0: return decode_tq2_0(bytes, rows, cols);
                case ggml_type::tq1_0: return decode_tq1_0(bytes, rows, cols);
                default: break;
            }
        } catch (const format_error& e) {
            fail("tensor '" + name + "': " + e.what());
        }
        fail("tensor '" + name + "' is not ternary");
    }

    std::shared_ptr<const mapped_file> file_;
    gguf_file gguf_;
    std::string arch_;
};

/// The configuration a GGUF file describes (formats.md 4.7, 4.8).
inline bitnet::model_config gguf_config(const gguf_model_reader& in) {
    bitnet::model_config c;
    c.dim = in.size("embedding_length", 1 << 16);
    c.n_layers = in.size("block_count", 1 << 10);
    c.hidden_dim = in.size("feed_forward_length", 1 << 20);
    c.n_heads = in.size("attention.head_count", 1 << 10);
    c.n_kv_heads = in.size("attention.head_count_kv", 1 << 10, c.n_heads);
    c.seq_len = in.size("context_length", 1 << 24);
    c.norm_eps = in.number("attention.layer_norm_rms_epsilon", 1e-5f);
    c.rope_theta = in.number("rope.freq_base", 10000.0f);
    const gguf_tensor_info* embedding = in.find("token_embd.weight");
    if (embedding == nullptr || embedding->ne.size() != 2) in.fail("no 2-dimensional tensor 'token_embd.weight'");
    if (embedding->ne[1] > (1u << 22)) in.fail("a vocabulary of " + std::to_string(embedding->ne[1]) + " tokens is absurd");
    c.vocab_size = static_cast<std::size_t>(embedding->ne[1]);
    try {
        c.validate();
    } catch (const format_error& e) {
        in.fail(e.what());
    }
    if (c.head_dim() > 1024) in.fail("heads of " + std::to_string(c.head_dim()) + " dimensions are absurd");
    if (in.size("rope.dimension_count", 1 << 20, c.head_dim()) != c.head_dim()) {
        in.fail("RoPE on part of each head (rope.dimension_count != head dim) is not supported");
    }
    if (is_bitnet_arch(in.arch())) {
        // bitnet-25 and bitnet-b1.58 are 2B4T's graph (ReLU^2); `bitnet` says so with
        // hidden_activation, else it is SiLU (formats.md 4.7). All use NeoX (half-split) RoPE.
        c.rope = bitnet::rope_style::half_split;
        c.activation = bitnet::ffn_activation::relu_squared;
        if (in.arch() == "bitnet") {
            c.activation = bitnet::ffn_activation::silu;
            if (const gguf_value* act = in.gguf().find("bitnet.hidden_activation")) {
                const auto* name = std::get_if<std::string>(&act->value);
                if (name == nullptr || (*name != "relu2" && *name != "silu")) {
                    in.fail("bitnet.hidden_activation must be \"relu2\" or \"silu\"");
                }
                if (*name == "relu2") c.activation = bitnet::ffn_activation::relu_squared;
            }
        }
    } else {
        c.rope = bitnet::rope_style::interleaved;  // llama.cpp's llama graph: q, k permuted at conversion
        c.activation = bitnet::ffn_activation::silu;
        c.linear_self_norm = in.arch() == bitllama2c_arch;
    }
    c.sub_norms = in.find("blk.0.attn_sub_norm.weight") != nullptr;
    return c;
}

/// The layers, norms, embedding and head of a model whose linears are made by make_linear.
template <class Linear, class MakeLinear>
bitnet::transformer<Linear> gguf_transformer(const gguf_model_reader& in, const bitnet::model_config& c,
                                             MakeLinear make_linear) {
    bitnet::model_weights<Linear> w;
    w.token_embedding = in.matrix("token_embd.weight", c.vocab_size, c.dim);
    if (in.find("output.weight") != nullptr) w.output = in.matrix("output.weight", c.vocab_size, c.dim);
    w.final_norm = in.vector("output_norm.weight", c.dim);
    w.layers = read_layers<Linear>(
        c, gguf_layer_names, [&](const std::string& name, std::size_t size) { return in.vector(name, size); }, make_linear);
    return {c, std::move(w)};
}

}  // namespace detail

/// The model in a GGUF file. Ternary when its projections are ternary tensors or the
/// architecture is a bitnet one (float projections are then ternarized at load); float when a
/// `llama` file stores float projections.
inline any_model load_gguf(std::shared_ptr<const mapped_file> file) {
    const detail::gguf_model_reader in(std::move(file));
    const bitnet::model_config c = detail::gguf_config(in);
    const gguf_tensor_info* q = in.find("blk.0.attn_q.weight");
    if (q == nullptr) in.fail("no tensor 'blk.0.attn_q.weight'");
    if (detail::is_ternary_type(q->type) || detail::is_bitnet_arch(in.arch()) || c.linear_self_norm) {
        return detail::gguf_transformer<bitnet::ternary_linear<two_bit>>(
            in, c, [&](const std::string& name, std::size_t rows, std::size_t cols) {
                return in.ternary<two_bit>(name, rows, cols, c.linear_self_norm);
            });
    }
    return detail::gguf_transformer<bitnet::float_linear>(in, c, [&](const std::string& name, std::size_t rows, std::size_t cols) {
        const gguf_tensor_info& t = in.tensor(name, {cols, rows});
        if (detail::is_ternary_type(t.type)) in.fail("tensor '" + name + "' is ternary but blk.0.attn_q.weight is not");
        return bitnet::float_linear(in.matrix(name, rows, cols));
    });
}

inline any_model load_gguf(const std::string& path) { return load_gguf(mapped_file::open(path)); }

}  // namespace ternary::inline TERNARY_ABI::io
