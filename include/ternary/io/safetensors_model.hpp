#pragma once
// A transformer from a Hugging Face checkpoint (formats.md 2, 3): config.json beside
// model.safetensors, or beside a sharded model.safetensors.index.json and its shards.
//
// model_type `bitnet` (BitNetForCausalLM, 2B4T's graph: sub-norms) and `llama`
// (LlamaForCausalLM), both with half-split RoPE: HF stores q and k rows in the order its
// rotate_half expects. A `quant_method: bitnet` quantization_config makes the linears ternary:
//   - packed U8 projections [rows/4, cols] (row-quarter packing, formats.md 3) times their
//     `.weight_scale`, which multiplies for `linear_class: autobitlinear` and divides for
//     `bitlinear` (HF's older class stores the inverse); a checkpoint that does not say which is
//     refused rather than guessed;
//   - float projections with `quantization_mode: online` (the bf16 master weights) are
//     ternarized at load with absmean exactly as ternary::ternarize does (quant/absmean.hpp);
//     offline float projections with ternary_of_floats (weights.hpp).
// `bitnet` without a quantization_config is ternarized the same way (as load_gguf does for the
// bitnet architectures); `llama` without one is a float model. Keys config.json leaves out take
// the defaults of transformers' config classes (e.g. `bitnet`: rope_theta 500000, relu2, 5 kv
// heads; `llama`: rope_theta 10000, silu, kv heads = heads). A missing tie_word_embeddings ties
// the head unless the file holds `lm_head.weight`.
//
// Every shard is memory-mapped; float embeddings and heads (F32, F16, BF16) stay in the file
// (no copy), ternary projections are repacked to the kernel layout. Every shape and dtype is
// checked against the configuration; a mismatch is a format_error naming the tensor.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../bitnet/config.hpp"
#include "../bitnet/float_matrix.hpp"
#include "../bitnet/linear.hpp"
#include "../bitnet/model.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../pack/two_bit.hpp"
#include "../quant/absmean.hpp"
#include "../ternary_matrix.hpp"
#include "file.hpp"
#include "gguf_model.hpp"
#include "json.hpp"
#include "mapped_file.hpp"
#include "safetensors.hpp"
#include "weights.hpp"

namespace ternary::inline TERNARY_ABI::io {

namespace detail {

/// The float format of a safetensors dtype, or nullopt.
inline std::optional<bitnet::float_format> float_format_of_dtype(safetensors_dtype dtype) {
    switch (dtype) {
        case safetensors_dtype::f32: return bitnet::float_format::f32;
        case safetensors_dtype::f16: return bitnet::float_format::f16;
        case safetensors_dtype::bf16: return bitnet::float_format::bf16;
        default: return std::nullopt;
    }
}

/// "[a, b]".
inline std::string shape_text(std::span<const std::size_t> shape) {
    std::string text = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) text += (i == 0 ? "" : ", ") + std::to_string(shape[i]);
    return text + "]";
}

/// The trits of a row-quarter packed tensor P [rows/4, cols] (formats.md 3): unpacked row
/// i * rows/4 + p holds the codes (P[p][k] >> 2i) & 3, i = 0 in the low bits; codes 0, 1, 2 are
/// -1, 0, +1. Code 3 is a format_error naming the tensor and the element.
inline std::vector<std::int8_t> unpack_row_quarters(std::span<const std::uint8_t> packed, std::size_t rows, std::size_t cols,
                                                    const std::string& where, const std::string& name) {
    const std::size_t quarter = rows / 4;
    for (std::size_t e = 0; e < packed.size(); ++e) {
        const unsigned byte = packed[e];
        const unsigned threes = byte & (byte >> 1) & 0x55u;  // bit 2i set where code i is 3
        if (threes == 0) continue;
        unsigned i = 0;
        while ((threes >> (2 * i) & 1u) == 0) ++i;
        ternary::detail::fail<format_error>(where.c_str(), "tensor '", name, "': element [", e / cols, ", ", e % cols,
                                            "] holds code 3 in bits ", 2 * i, "-", 2 * i + 1, " (row ", i * quarter + e / cols,
                                            "); only codes 0, 1, 2 (-1, 0, +1) are weights");
    }
    std::vector<std::int8_t> trits(rows * cols);
    for (std::size_t p = 0; p < quarter; ++p) {
        const std::uint8_t* in = packed.data() + p * cols;
        for (unsigned i = 0; i < 4; ++i) {
            std::int8_t* out = trits.data() + (i * quarter + p) * cols;
            for (std::size_t k = 0; k < cols; ++k) out[k] = static_cast<std::int8_t>(static_cast<int>((in[k] >> (2 * i)) & 3u) - 1);
        }
    }
    return trits;
}

/// What a `quant_method: bitnet` quantization_config says about the projections.
struct hf_quantization {
    enum class linear_class { unknown, autobitlinear, bitlinear };
    linear_class scale_rule = linear_class::unknown;  // how weight_scale applies
    bool online = false;                              // float latent weights, ternarized at load
};

/// config.json, with typed reads whose errors name the key. A key whose value is null counts
/// as absent (as transformers reads it).
class hf_config {
public:
    hf_config(std::string_view text, std::string name) : name_(std::move(name)), root_(json_value::parse(text, name_)) {
        if (!root_.is_object()) fail("the configuration is not a JSON object");
    }

    const std::string& name() const noexcept { return name_; }

    [[noreturn]] void fail(const std::string& what) const { ternary::detail::fail<format_error>(name_.c_str(), what); }

    const json_value* find(std::string_view key) const { return present(root_.find(key)); }
    /// Whether the key is there at all (null included).
    bool has(std::string_view key) const { return root_.find(key) != nullptr; }

    /// An integer in [1, limit] under key, or the fallback.
    std::size_t size(std::string_view key, std::size_t limit, std::optional<std::size_t> fallback = std::nullopt) const {
        const json_value* v = find(key);
        if (v == nullptr) {
            if (fallback) return *fallback;
            fail("no '" + std::string(key) + "'");
        }
        if (!v->is_integer() || v->as_int() < 1 || static_cast<std::uint64_t>(v->as_int()) > limit) {
            fail("'" + std::string(key) + "' is not an integer in 1.." + std::to_string(limit));
        }
        return v->as_int<std::size_t>();
    }

    /// A finite number in (0, 1e30] under key (in `in`, or the top level), or the fallback.
    float number(std::string_view key, float fallback, const json_value* in = nullptr) const {
        const json_value* v = present((in == nullptr ? root_ : *in).find(key));
        if (v == nullptr) return fallback;
        const double x = v->as_number();
        if (!std::isfinite(x) || x <= 0.0 || x > 1e30) fail("'" + std::string(key) + "' = " + std::to_string(x) + " is out of range");
        return static_cast<float>(x);
    }

    bool flag(std::string_view key, bool fallback) const {
        const json_value* v = find(key);
        return v == nullptr ? fallback : v->as_bool();
    }

    std::optional<std::string> text(std::string_view key, const json_value* in = nullptr) const {
        const json_value* v = present((in == nullptr ? root_ : *in).find(key));
        if (v == nullptr) return std::nullopt;
        return v->as_string();
    }

private:
    static const json_value* present(const json_value* v) { return v == nullptr || v->is_null() ? nullptr : v; }

    std::string name_;
    json_value root_;
};

/// The tensors of a checkpoint's shards, by name, with the checks every access needs.
class hf_checkpoint {
public:
    hf_checkpoint(std::vector<std::shared_ptr<const mapped_file>> shards, std::string name)
        : shards_(std::move(shards)), name_(std::move(name)) {
        if (shards_.empty()) fail("no safetensors file");
        files_.reserve(shards_.size());
        for (const auto& shard : shards_) files_.push_back(safetensors_file::parse(shard->bytes(), shard->name()));
        for (std::size_t s = 0; s < files_.size(); ++s) {
            for (const safetensors_tensor& t : files_[s].tensors()) {
                const auto [at, added] = shard_of_.emplace(t.name, s);
                if (!added) fail("tensor '" + t.name + "' is in both '" + shards_[at->second]->name() + "' and '" + shards_[s]->name() + "'");
            }
        }
    }

    const std::string& name() const noexcept { return name_; }

    [[noreturn]] void fail(const std::string& what) const { ternary::detail::fail<format_error>(name_.c_str(), what); }

    const safetensors_tensor* find(std::string_view tensor_name) const {
        const auto at = shard_of_.find(tensor_name);
        return at == shard_of_.end() ? nullptr : files_[at->second].find(tensor_name);
    }

    /// The file that holds tensor_name (which must exist).
    const std::shared_ptr<const mapped_file>& shard(std::string_view tensor_name) const {
        return shards_[shard_of_.find(tensor_name)->second];
    }

    /// The tensor `name`, which must exist and have exactly that shape.
    const safetensors_tensor& tensor(const std::string& tensor_name, const std::vector<std::size_t>& shape) const {
        const safetensors_tensor* t = find(tensor_name);
        if (t == nullptr) fail("no tensor '" + tensor_name + "'");
        if (t->shape != shape) {
            fail("tensor '" + tensor_name + "' has shape " + shape_text(t->shape) + ", the model needs " + shape_text(shape));
        }
        return *t;
    }

    bitnet::float_format float_format(const safetensors_tensor& t) const {
        const auto format = float_format_of_dtype(t.dtype);
        if (!format) fail("tensor '" + t.name + "' has dtype " + std::string(dtype_name(t.dtype)) + "; F32, F16 or BF16 is needed");
        return *format;
    }

    /// A float matrix (rows x cols) over the file's bytes: no copy.
    bitnet::float_matrix matrix(const std::string& tensor_name, std::size_t rows, std::size_t cols) const {
        const safetensors_tensor& t = tensor(tensor_name, {rows, cols});
        const std::shared_ptr<const mapped_file> file = shard(tensor_name);
        return bitnet::float_matrix::over(float_format(t), t.data, rows, cols, file,
                                          [file](std::span<const std::uint8_t> part) { file->release(part); });
    }

    /// A vector of floats (a norm's weight), copied; NaN and Inf refused.
    std::vector<float> vector(const std::string& tensor_name, std::size_t size) const {
        const safetensors_tensor& t = tensor(tensor_name, {size});
        return floats_of(float_format(t), t.data, tensor_name);
    }

    /// The single value of a tensor of shape [] or [1].
    float scalar(const std::string& tensor_name) const {
        const safetensors_tensor* t = find(tensor_name);
        if (t == nullptr) fail("no tensor '" + tensor_name + "'");
        if (!(t->shape.empty() || t->shape == std::vector<std::size_t>{1})) {
            fail("tensor '" + tensor_name + "' has shape " + shape_text(t->shape) + ", [] or [1] is needed");
        }
        return floats_of(float_format(*t), t->data, tensor_name)[0];
    }

    /// A ternary linear (rows x cols) from a packed U8 projection and its weight_scale, or from
    /// a float one (ternarized), as the header comment says.
    template <packing P>
    bitnet::ternary_linear<P> ternary(const std::string& tensor_name, std::size_t rows, std::size_t cols,
                                      const hf_quantization& q) const {
        const safetensors_tensor* t = find(tensor_name);
        if (t == nullptr) fail("no tensor '" + tensor_name + "'");
        const std::string scale_name = tensor_name.substr(0, tensor_name.size() - std::string_view(".weight").size()) + ".weight_scale";
        std::optional<ternary_matrix<P>> matrix;
        if (t->dtype == safetensors_dtype::u8) {
            if (q.online) fail("tensor '" + tensor_name + "' is packed (U8), but quantization_mode online needs float weights");
            if (rows % 4 != 0) {
                fail("tensor '" + tensor_name + "' cannot be packed by quarters: " + std::to_string(rows) + " rows are not a multiple of 4");
            }
            tensor(tensor_name, {rows / 4, cols});
            if (q.scale_rule == hf_quantization::linear_class::unknown) {
                fail("tensor '" + tensor_name + "' is packed, but quantization_config has no linear_class (autobitlinear or "
                     "bitlinear): cannot tell whether weight_scale multiplies or divides the weights");
            }
            if (find(scale_name) == nullptr) fail("no tensor '" + scale_name + "' (the scale of the packed '" + tensor_name + "')");
            const float s = scalar(scale_name);
            if (s < 0.0f || (s == 0.0f && q.scale_rule == hf_quantization::linear_class::bitlinear)) {
                fail("tensor '" + scale_name + "' = " + std::to_string(s) + " is not a scale");
            }
            const float scale = q.scale_rule == hf_quantization::linear_class::autobitlinear ? s : 1.0f / s;
            matrix = ternary_matrix<P>::from_trits(unpack_row_quarters(t->data, rows, cols, name_, tensor_name), rows, cols,
                                                   weight_scales::per_matrix(scale));
        } else {
            const auto format = float_format_of_dtype(t->dtype);
            if (!format) {
                fail("tensor '" + tensor_name + "' has dtype " + std::string(dtype_name(t->dtype)) +
                     "; U8 (packed), F32, F16 or BF16 is needed");
            }
            tensor(tensor_name, {rows, cols});
            if (find(scale_name) != nullptr) fail("tensor '" + scale_name + "' scales '" + tensor_name + "', which is not packed");
            const std::vector<float> values = floats_of(*format, t->data, tensor_name);
            if (q.online) {
                matrix = ternarize<P>(matrix_view<const float>::row_major(values.data(), rows, cols));
            } else {
                const ternary_tensor decoded = ternary_of_floats(values, rows, cols, tensor_name);
                matrix = ternary_matrix<P>::from_trits(decoded.trits, rows, cols, weight_scales::per_matrix(decoded.scales[0]));
            }
        }
        shard(tensor_name)->release(t->data);  // repacked: the file's copy need not stay in memory
        return bitnet::ternary_linear<P>(std::move(*matrix));
    }

private:
    std::vector<std::shared_ptr<const mapped_file>> shards_;
    std::vector<safetensors_file> files_;
    std::map<std::string, std::size_t, std::less<>> shard_of_;
    std::string name_;
};

/// What config.json describes.
struct hf_model {
    bitnet::model_config config;
    std::optional<hf_quantization> quantization;  // a bitnet quantization_config
    bool ternary = false;                         // ternary linears (else float)
    std::optional<bool> tied;                     // tie_word_embeddings, if given
};

inline hf_quantization hf_quantization_of(const hf_config& in, const json_value& q) {
    if (!q.is_object()) in.fail("quantization_config is not an object");
    const std::optional<std::string> method = in.text("quant_method", &q);
    if (method != "bitnet") in.fail("quantization_config: quant_method '" + method.value_or("") + "' is not supported (bitnet is)");
    hf_quantization out;
    const std::optional<std::string> linear_class = in.text("linear_class", &q);
    if (linear_class == "autobitlinear") {
        out.scale_rule = hf_quantization::linear_class::autobitlinear;
    } else if (linear_class == "bitlinear") {
        out.scale_rule = hf_quantization::linear_class::bitlinear;
    } else if (linear_class) {
        in.fail("quantization_config: linear_class '" + *linear_class + "' is not autobitlinear or bitlinear");
    }
    const std::string mode = in.text("quantization_mode", &q).value_or("offline");
    if (mode != "offline" && mode != "online") in.fail("quantization_config: quantization_mode '" + mode + "' is not offline or online");
    out.online = mode == "online";
    if (const json_value* norm = q.find("use_rms_norm"); norm != nullptr && !norm->is_null() && norm->as_bool()) {
        in.fail("quantization_config: use_rms_norm (an RMSNorm inside each BitLinear) is not supported");
    }
    if (const json_value* skipped = q.find("modules_to_not_convert"); skipped != nullptr && !skipped->is_null()) {
        for (const json_value& m : skipped->as_array()) {
            if (m.as_string() != "lm_head") {
                in.fail("quantization_config: modules_to_not_convert names '" + m.as_string() + "' (only lm_head may stay float)");
            }
        }
    }
    return out;
}

/// The model config.json describes (see the top of this file).
inline hf_model hf_model_of(const hf_config& in) {
    std::optional<std::string> type = in.text("model_type");
    if (!type) {
        const json_value* architectures = in.find("architectures");
        const std::string first = architectures != nullptr && architectures->size() > 0 ? architectures->at(0).as_string() : "";
        if (first == "BitNetForCausalLM") type = "bitnet";
        if (first == "LlamaForCausalLM") type = "llama";
        if (!type) in.fail("no model_type, and architectures names neither BitNetForCausalLM nor LlamaForCausalLM");
    }
    const bool bitnet_type = *type == "bitnet";
    if (!bitnet_type && *type != "llama") in.fail("model_type '" + *type + "' is not supported (bitnet, llama are)");

    hf_model m;
    bitnet::model_config& c = m.config;
    c.dim = in.size("hidden_size", 1 << 16);
    c.hidden_dim = in.size("intermediate_size", 1 << 20);
    c.n_layers = in.size("num_hidden_layers", 1 << 10);
    c.n_heads = in.size("num_attention_heads", 1 << 10);
    // transformers: an absent key takes the class default (bitnet: 5), null means "= heads".
    c.n_kv_heads = in.size("num_key_value_heads", 1 << 10, !in.has("num_key_value_heads") && bitnet_type ? 5 : c.n_heads);
    c.vocab_size = in.size("vocab_size", 1 << 22);
    c.seq_len = in.size("max_position_embeddings", 1 << 24, 2048);
    c.norm_eps = in.number("rms_norm_eps", bitnet_type ? 1e-5f : 1e-6f);
    c.rope_theta = in.number("rope_theta", bitnet_type ? 500000.0f : 10000.0f);
    if (const json_value* rope = in.find("rope_parameters")) {  // transformers 5 keeps theta here
        if (!rope->is_object()) in.fail("rope_parameters is not an object");
        const std::string rope_type = in.text("rope_type", rope).value_or(in.text("type", rope).value_or("default"));
        if (rope_type != "default") in.fail("rope_parameters: RoPE type '" + rope_type + "' is not supported (default is)");
        if (in.number("partial_rotary_factor", 1.0f, rope) != 1.0f) in.fail("rope_parameters: partial_rotary_factor is not supported");
        c.rope_theta = in.number("rope_theta", c.rope_theta, rope);
    }
    if (in.find("rope_scaling") != nullptr) in.fail("rope_scaling is not supported (it must be absent or null)");
    for (const char* bias : {"attention_bias", "mlp_bias"}) {
        if (in.flag(bias, false)) in.fail(std::string(bias) + " is true; biases are not supported");
    }
    const std::string act = in.text("hidden_act").value_or(bitnet_type ? "relu2" : "silu");
    if (act == "relu2") {
        c.activation = bitnet::ffn_activation::relu_squared;
    } else if (act == "silu") {
        c.activation = bitnet::ffn_activation::silu;
    } else {
        in.fail("hidden_act '" + act + "' is not supported (relu2, silu are)");
    }
    c.rope = bitnet::rope_style::half_split;  // HF rotate_half
    c.sub_norms = bitnet_type;
    try {
        c.validate();
    } catch (const format_error& e) {
        in.fail(e.what());
    }
    if (c.head_dim() > 1024) in.fail("heads of " + std::to_string(c.head_dim()) + " dimensions are absurd");
    if (in.find("head_dim") != nullptr && in.size("head_dim", 1 << 16) != c.head_dim()) {
        in.fail("head_dim " + std::to_string(in.size("head_dim", 1 << 16)) + " is not hidden_size / num_attention_heads = " +
                std::to_string(c.head_dim()));
    }
    if (const json_value* tie = in.find("tie_word_embeddings")) m.tied = tie->as_bool();
    if (const json_value* q = in.find("quantization_config")) m.quantization = hf_quantization_of(in, *q);
    m.ternary = m.quantization.has_value() || bitnet_type;
    return m;
}

/// The layers, norms, embedding and head of a model whose linears are made by make_linear.
template <class Linear, class MakeLinear>
bitnet::transformer<Linear> hf_transformer(const hf_checkpoint& in, const hf_model& m, MakeLinear make_linear) {
    const bitnet::model_config& c = m.config;
    bitnet::model_weights<Linear> w;
    w.token_embedding = in.matrix("model.embed_tokens.weight", c.vocab_size, c.dim);
    const bool tied = m.tied.value_or(in.find("lm_head.weight") == nullptr);
    if (!tied) w.output = in.matrix("lm_head.weight", c.vocab_size, c.dim);
    w.final_norm = in.vector("model.norm.weight", c.dim);
    w.layers = read_layers<Linear>(
        c, hf_layer_names, [&](const std::string& name, std::size_t size) { return in.vector(name, size); }, make_linear);
    return {c, std::move(w)};
}

inline any_model load_hf(const hf_config& config, const hf_checkpoint& in) {
    const hf_model m = hf_model_of(config);
    if (m.ternary) {
        const hf_quantization q = m.quantization.value_or(hf_quantization{});
        return hf_transformer<bitnet::ternary_linear<two_bit>>(in, m, [&](const std::string& name, std::size_t rows, std::size_t cols) {
            return in.ternary<two_bit>(name, rows, cols, q);
        });
    }
    return hf_transformer<bitnet::float_linear>(in, m, [&](const std::string& name, std::size_t rows, std::size_t cols) {
        const safetensors_tensor* t = in.find(name);
        if (t != nullptr && t->dtype == safetensors_dtype::u8) {
            in.fail("tensor '" + name + "' is packed (U8), but config.json has no bitnet quantization_config");
        }
        return bitnet::float_linear(in.matrix(name, rows, cols));
    });
}

}  // namespace detail

/// The model of a checkpoint already in memory: config.json's text and the safetensors files
/// (e.g. mapped_file::from_bytes), each tensor in exactly one of them. `name` names the
/// checkpoint in errors.
inline any_model load_safetensors(std::string_view config_json, std::vector<std::shared_ptr<const mapped_file>> shards,
                                  const std::string& name = "safetensors") {
    const detail::hf_config config(config_json, name + "/config.json");
    const detail::hf_checkpoint checkpoint(std::move(shards), name);
    return detail::load_hf(config, checkpoint);
}

/// The model at path: a directory holding config.json and model.safetensors (or
/// model.safetensors.index.json and its shards), or one of those files with config.json beside
/// it. The files are memory-mapped.
inline any_model load_safetensors(const std::string& path) {
    namespace fs = std::filesystem;
    const fs::path given(path);
    fs::path dir = given, weights;
    if (fs::is_directory(given)) {
        weights = given / "model.safetensors";
        if (!fs::exists(weights)) weights = given / "model.safetensors.index.json";
        if (!fs::exists(weights)) {
            ternary::detail::fail<format_error>(path.c_str(), "holds neither model.safetensors nor model.safetensors.index.json");
        }
    } else {
        dir = given.parent_path();
        weights = given;
    }
    const fs::path config_path = dir / "config.json";
    if (!fs::exists(config_path)) ternary::detail::fail<format_error>(path.c_str(), "no config.json beside the weights");
    const std::vector<std::uint8_t> config_bytes = read_file(config_path.string());
    const std::string_view config_text(reinterpret_cast<const char*>(config_bytes.data()), config_bytes.size());
    const detail::hf_config config(config_text, config_path.string());

    std::vector<std::shared_ptr<const mapped_file>> shards;
    std::map<std::string, std::string, std::less<>> index;  // tensor -> shard path
    const std::string weights_name = weights.filename().string();
    if (weights_name.size() >= 11 && weights_name.ends_with(".index.json")) {
        const std::vector<std::uint8_t> index_bytes = read_file(weights.string());
        const auto files = parse_safetensors_index({reinterpret_cast<const char*>(index_bytes.data()), index_bytes.size()},
                                                   weights.string());
        std::map<std::string, std::size_t, std::less<>> opened;
        for (const auto& [tensor, file] : files) {
            const std::string shard_path = (dir / file).string();
            if (opened.emplace(shard_path, shards.size()).second) shards.push_back(mapped_file::open(shard_path));
            index.emplace(tensor, shard_path);
        }
    } else {
        shards.push_back(mapped_file::open(weights.string()));
    }
    const detail::hf_checkpoint checkpoint(std::move(shards), path);
    for (const auto& [tensor, shard_path] : index) {
        if (checkpoint.find(tensor) == nullptr || checkpoint.shard(tensor)->name() != shard_path) {
            checkpoint.fail("the index puts tensor '" + tensor + "' in '" + shard_path + "', which does not hold it");
        }
    }
    return detail::load_hf(config, checkpoint);
}

}  // namespace ternary::inline TERNARY_ABI::io
