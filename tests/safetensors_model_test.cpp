// Models from Hugging Face safetensors checkpoints: a checkpoint with the structure of
// microsoft/bitnet-b1.58-2B-4T (tiny dimensions; config.json written out here, projections
// packed here from formats.md 3 with the container writer only) gives the logits of the
// in-memory model it was made from, in both weight_scale conventions and sharded; the bf16
// master form is ternarized by absmean; models round-trip through safetensors_of; malformed
// checkpoints are refused with a clear error.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <ternary/bitnet/model.hpp>
#include <ternary/bitnet/random_model.hpp>
#include <ternary/io/load.hpp>
#include <ternary/io/safetensors.hpp>
#include <ternary/io/safetensors_model.hpp>
#include <ternary/io/safetensors_save.hpp>

#include "model_support.hpp"
#include "support.hpp"

using namespace ternary;
using namespace ternary::io;
using test::as;
using test::logits_of;
using test::model_with_norms;

namespace {

using ternary_transformer = bitnet::transformer<bitnet::ternary_linear<two_bit>>;
using float_transformer = bitnet::transformer<bitnet::float_linear>;

/// 2B4T's variant (ReLU^2, sub-norms, half-split RoPE, theta 500000, GQA 4:1) in small sizes.
bitnet::model_config tiny_2b4t() {
    return bitnet::preset_config("2b4t,dim=128,hidden=256,layers=2,heads=4,kv_heads=1,vocab=300,seq=64");
}

/// config.json of tiny_2b4t as the official checkpoint words it (its keys, in its style).
const std::string official_config = R"({
  "architectures": [
    "BitNetForCausalLM"
  ],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 128000,
  "eos_token_id": 128001,
  "hidden_act": "relu2",
  "hidden_size": 128,
  "initializer_range": 0.02,
  "intermediate_size": 256,
  "max_position_embeddings": 64,
  "model_type": "bitnet",
  "rms_norm_eps": 1e-05,
  "num_attention_heads": 4,
  "num_hidden_layers": 2,
  "num_key_value_heads": 1,
  "rope_theta": 500000.0,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.52.0.dev0",
  "use_cache": true,
  "vocab_size": 300,
  "quantization_config": {
    "linear_class": "autobitlinear",
    "quant_method": "bitnet",
    "quantization_mode": "offline"
  }
}
)";

/// text with `from` (which must occur once) replaced by `to`.
std::string replaced(std::string text, std::string_view from, std::string_view to) {
    const std::size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    REQUIRE(text.find(from, at + 1) == std::string::npos);
    return text.replace(at, from.size(), to);
}

/// The nearest bfloat16 (ties to even), as its bits.
std::uint16_t bf16_bits(float v) {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(v);
    return static_cast<std::uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}
float to_bf16(float v) { return std::bit_cast<float>(std::uint32_t{bf16_bits(v)} << 16); }

std::vector<std::uint8_t> bf16_bytes(const std::vector<float>& v) {
    std::vector<std::uint8_t> out;
    for (float x : v) {
        const std::uint16_t b = bf16_bits(x);
        out.push_back(static_cast<std::uint8_t>(b & 0xFF));
        out.push_back(static_cast<std::uint8_t>(b >> 8));
    }
    return out;
}

/// model with its norms rounded to bfloat16 and its embedding a bf16 matrix, as 2B4T stores them.
ternary_transformer with_bf16_floats(const ternary_transformer& model) {
    auto w = model.weights();
    const auto round = [](std::vector<float>& v) {
        for (float& x : v) x = to_bf16(x);
    };
    round(w.final_norm);
    for (auto& layer : w.layers) {
        for (auto* v : {&layer.attn_norm, &layer.ffn_norm, &layer.attn_sub_norm, &layer.ffn_sub_norm}) round(*v);
    }
    const auto& e = model.weights().token_embedding;
    std::vector<float> values(e.rows() * e.cols());
    for (std::size_t t = 0; t < e.rows(); ++t) e.row(t, std::span(values).subspan(t * e.cols(), e.cols()));
    auto bytes = std::make_shared<std::vector<std::uint8_t>>(bf16_bytes(values));
    w.token_embedding = bitnet::float_matrix::over(bitnet::float_format::bf16, *bytes, e.rows(), e.cols(), bytes);
    return {model.config(), std::move(w)};
}

/// Trits (rows x cols) packed as formats.md 3 says: unpacked row r = i * (rows/4) + p lives in
/// bits 2i, 2i+1 of byte [p][k], as code trit + 1.
std::vector<std::uint8_t> packed_by_quarters(const std::vector<std::int8_t>& trits, std::size_t rows, std::size_t cols) {
    const std::size_t quarter = rows / 4;
    std::vector<std::uint8_t> packed(quarter * cols, 0);
    for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t k = 0; k < cols; ++k) {
            const unsigned code = static_cast<unsigned>(trits[r * cols + k] + 1);
            packed[(r % quarter) * cols + k] |= static_cast<std::uint8_t>(code << (2 * (r / quarter)));
        }
    }
    return packed;
}

/// The 7 projections of a layer under their HF names.
template <class Layer>
std::vector<std::pair<std::string, const bitnet::ternary_linear<two_bit>*>> projections(const Layer& layer) {
    return {{"self_attn.q_proj", &layer.wq},   {"self_attn.k_proj", &layer.wk}, {"self_attn.v_proj", &layer.wv},
            {"self_attn.o_proj", &layer.wo},   {"mlp.gate_proj", &layer.w_gate}, {"mlp.up_proj", &layer.w_up},
            {"mlp.down_proj", &layer.w_down}};
}

/// The model's tensors as model.safetensors of the official checkpoint holds them (formats.md
/// 3): BF16 embedding and norms, U8 packed projections, BF16 [1] weight_scale. With
/// reciprocal_scales, each weight_scale is 1 / the matrix scale (linear_class bitlinear).
std::vector<std::uint8_t> official_tensors(const ternary_transformer& model, bool reciprocal_scales = false) {
    const bitnet::model_config& c = model.config();
    const auto& weights = model.weights();
    safetensors_writer w;
    w.metadata("format", "pt");
    const auto& e = weights.token_embedding;
    REQUIRE(e.format() == bitnet::float_format::bf16);
    std::vector<float> values(c.vocab_size * c.dim);
    for (std::size_t t = 0; t < c.vocab_size; ++t) e.row(t, std::span(values).subspan(t * c.dim, c.dim));
    w.add("model.embed_tokens.weight", safetensors_dtype::bf16, {c.vocab_size, c.dim}, bf16_bytes(values));
    w.add("model.norm.weight", safetensors_dtype::bf16, {c.dim}, bf16_bytes(weights.final_norm));
    for (std::size_t l = 0; l < c.n_layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        const auto& layer = weights.layers[l];
        w.add(p + "input_layernorm.weight", safetensors_dtype::bf16, {c.dim}, bf16_bytes(layer.attn_norm));
        w.add(p + "post_attention_layernorm.weight", safetensors_dtype::bf16, {c.dim}, bf16_bytes(layer.ffn_norm));
        w.add(p + "self_attn.attn_sub_norm.weight", safetensors_dtype::bf16, {c.dim}, bf16_bytes(layer.attn_sub_norm));
        w.add(p + "mlp.ffn_sub_norm.weight", safetensors_dtype::bf16, {c.hidden_dim}, bf16_bytes(layer.ffn_sub_norm));
        for (const auto& [name, linear] : projections(layer)) {
            const auto& m = linear->weights();
            w.add(p + name + ".weight", safetensors_dtype::u8, {m.rows() / 4, m.cols()},
                  packed_by_quarters(m.trits(), m.rows(), m.cols()));
            const float scale = m.view().scales().values()[0];
            REQUIRE(to_bf16(scale) == scale);
            w.add(p + name + ".weight_scale", safetensors_dtype::bf16, {1}, bf16_bytes({reciprocal_scales ? 1.0f / scale : scale}));
        }
    }
    return w.bytes();
}

std::shared_ptr<const mapped_file> shard(std::vector<std::uint8_t> bytes, std::string name = "model.safetensors") {
    return mapped_file::from_bytes(std::move(bytes), std::move(name));
}

any_model load_bytes(std::string_view config, std::vector<std::uint8_t> bytes) {
    return load_safetensors(config, {shard(std::move(bytes))}, "test");
}

/// The file rewritten by change(name, dtype, shape, data), which drops the tensor when it
/// returns false.
using tensor_change = std::function<bool(const std::string&, safetensors_dtype&, std::vector<std::size_t>&, std::vector<std::uint8_t>&)>;
std::vector<std::uint8_t> edited(const std::vector<std::uint8_t>& bytes, const tensor_change& change) {
    const safetensors_file file = safetensors_file::parse(bytes, "t");
    safetensors_writer w;
    for (const auto& t : file.tensors()) {
        safetensors_dtype dtype = t.dtype;
        std::vector<std::size_t> shape = t.shape;
        std::vector<std::uint8_t> data(t.data.begin(), t.data.end());
        if (change(t.name, dtype, shape, data)) w.add(t.name, dtype, shape, data);
    }
    return w.bytes();
}

/// A directory under the system's temporary one, removed at the end of the scope.
struct temporary_directory {
    std::filesystem::path path;
    temporary_directory() {
        path = std::filesystem::temp_directory_path() / ("ternary_safetensors_test_" + std::to_string(test::rng()()));
        std::filesystem::create_directories(path);
    }
    ~temporary_directory() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    temporary_directory(const temporary_directory&) = delete;
    temporary_directory& operator=(const temporary_directory&) = delete;

    void write(const std::string& name, std::string_view text) const {
        std::ofstream(path / name, std::ios::binary).write(text.data(), static_cast<std::streamsize>(text.size()));
    }
    void write(const std::string& name, const std::vector<std::uint8_t>& bytes) const {
        write(name, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    }
};

}  // namespace

TEST_CASE("safetensors model: a checkpoint with the official 2B4T structure gives the in-memory model's logits") {
    auto model = with_bf16_floats(model_with_norms<bitnet::ternary_linear<two_bit>>(tiny_2b4t(), 11));
    const std::vector<float> expected = logits_of(model);
    any_model loaded = load_bytes(official_config, official_tensors(model));
    auto& m = as<ternary_transformer>(loaded);
    const bitnet::model_config& c = m.config();
    CHECK(c.dim == 128);
    CHECK(c.hidden_dim == 256);
    CHECK(c.n_kv_heads == 1);
    CHECK(c.vocab_size == 300);
    CHECK(c.seq_len == 64);
    CHECK(c.norm_eps == 1e-5f);
    CHECK(c.rope_theta == 500000.0f);
    CHECK(c.rope == bitnet::rope_style::half_split);
    CHECK(c.activation == bitnet::ffn_activation::relu_squared);
    CHECK(c.sub_norms);
    CHECK_FALSE(m.weights().output.has_value());
    CHECK(m.weights().token_embedding.format() == bitnet::float_format::bf16);
    for (std::size_t l = 0; l < c.n_layers; ++l) {
        const auto before = projections(model.weights().layers[l]);
        const auto after = projections(m.weights().layers[l]);
        for (std::size_t i = 0; i < before.size(); ++i) {
            CAPTURE(before[i].first);
            CHECK(after[i].second->weights().trits() == before[i].second->weights().trits());
            CHECK(after[i].second->weights().view().scales().kind() == scale_kind::per_matrix);
            CHECK(after[i].second->weights().view().scales().values()[0] == before[i].second->weights().view().scales().values()[0]);
        }
    }
    CHECK(logits_of(m) == expected);

    SUBCASE("linear_class bitlinear: weight_scale divides, so the reciprocal gives the same model") {
        const std::string config = replaced(official_config, "\"autobitlinear\"", "\"bitlinear\"");
        any_model divided = load_bytes(config, official_tensors(model, true));
        CHECK(logits_of(as<ternary_transformer>(divided)) == expected);
        // Read with the other convention, the scales are off: the logits differ.
        any_model misread = load_bytes(official_config, official_tensors(model, true));
        CHECK(logits_of(as<ternary_transformer>(misread)) != expected);
    }
    SUBCASE("shards: the tensors spread over two files") {
        const std::vector<std::uint8_t> whole = official_tensors(model);
        const auto half = [&](bool first) {
            return edited(whole, [&](const std::string& name, auto&, auto&, auto&) {
                return (name.find("layers.1.") == std::string::npos) == first;
            });
        };
        any_model sharded = load_safetensors(official_config, {shard(half(true), "a"), shard(half(false), "b")}, "test");
        CHECK(logits_of(as<ternary_transformer>(sharded)) == expected);
        CHECK_THROWS_WITH_AS(load_safetensors(official_config, {shard(half(true), "a"), shard(whole, "b")}, "test"),
                             doctest::Contains("is in both 'a' and 'b'"), format_error);
    }
    SUBCASE("an untied head: lm_head.weight") {
        const std::vector<std::uint8_t> official = official_tensors(model);
        const safetensors_file parsed = safetensors_file::parse(official, "t");
        safetensors_writer w;
        for (const auto& t : parsed.tensors()) w.add(t.name, t.dtype, t.shape, t.data);
        const auto& e = parsed.at("model.embed_tokens.weight");
        w.add("lm_head.weight", e.dtype, e.shape, e.data);  // the same values: the same logits
        const std::vector<std::uint8_t> bytes = w.bytes();
        any_model untied = load_bytes(replaced(official_config, "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false"), bytes);
        CHECK(as<ternary_transformer>(untied).weights().output.has_value());
        CHECK(logits_of(as<ternary_transformer>(untied)) == expected);
        // Without the key the file decides; with `true` the head is the embedding.
        any_model implicit = load_bytes(replaced(official_config, "\"tie_word_embeddings\": true,", ""), bytes);
        CHECK(as<ternary_transformer>(implicit).weights().output.has_value());
        any_model tied = load_bytes(official_config, bytes);
        CHECK_FALSE(as<ternary_transformer>(tied).weights().output.has_value());
    }
}

TEST_CASE("safetensors model: directories, single files and shard indexes load from disk, also through load_model") {
    auto model = with_bf16_floats(model_with_norms<bitnet::ternary_linear<two_bit>>(tiny_2b4t(), 12));
    const std::vector<float> expected = logits_of(model);
    const std::vector<std::uint8_t> whole = official_tensors(model);
    const temporary_directory single, sharded;
    single.write("config.json", official_config);
    single.write("model.safetensors", whole);
    for (const std::string& path : {single.path.string(), (single.path / "model.safetensors").string()}) {
        CAPTURE(path);
        any_model a = load_safetensors(path);
        CHECK(logits_of(as<ternary_transformer>(a)) == expected);
        any_model b = load_model(path);
        CHECK(logits_of(as<ternary_transformer>(b)) == expected);
    }

    sharded.write("config.json", official_config);
    std::string index = "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {";
    for (const std::string file : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}) {
        const bool first = file.find("00001") != std::string::npos;
        const std::vector<std::uint8_t> part = edited(whole, [&](const std::string& name, auto&, auto&, auto&) {
            const bool keep = (name.find("layers.1.") == std::string::npos) == first;
            if (keep) index += (index.back() == '{' ? "\"" : ", \"") + name + "\": \"" + file + "\"";
            return keep;
        });
        sharded.write(file, part);
    }
    index += "}}";
    sharded.write("model.safetensors.index.json", index);
    for (const std::string& path : {sharded.path.string(), (sharded.path / "model.safetensors.index.json").string()}) {
        CAPTURE(path);
        any_model a = load_model(path);
        CHECK(logits_of(as<ternary_transformer>(a)) == expected);
    }
    // An index that puts a tensor in the wrong shard.
    sharded.write("model.safetensors.index.json",
                  replaced(index, "\"model.norm.weight\": \"model-00001-of-00002.safetensors\"",
                           "\"model.norm.weight\": \"model-00002-of-00002.safetensors\""));
    CHECK_THROWS_WITH_AS(load_safetensors(sharded.path.string()), doctest::Contains("'model.norm.weight'"), format_error);
    // No config.json; no weights.
    std::filesystem::remove(single.path / "config.json");
    CHECK_THROWS_WITH_AS(load_model((single.path / "model.safetensors").string()), doctest::Contains("no config.json"), format_error);
    std::filesystem::remove(single.path / "model.safetensors");
    CHECK_THROWS_WITH_AS(load_safetensors(single.path.string()), doctest::Contains("neither model.safetensors"), format_error);
}

TEST_CASE("safetensors model: the bf16 master weights (quantization_mode online) are ternarized by absmean") {
    auto model = with_bf16_floats(model_with_norms<bitnet::ternary_linear<two_bit>>(tiny_2b4t(), 13));
    const bitnet::model_config& c = model.config();
    // The same checkpoint with every projection replaced by bf16 latent weights (|w| up to ~3).
    std::map<std::string, std::vector<float>> latent;
    const std::vector<std::uint8_t> bytes = edited(official_tensors(model), [&](const std::string& name, safetensors_dtype& dtype,
                                                                                std::vector<std::size_t>& shape,
                                                                                std::vector<std::uint8_t>& data) {
        if (name.ends_with(".weight_scale")) return false;
        if (dtype != safetensors_dtype::u8) return true;
        shape[0] *= 4;
        std::vector<float> w = test::random_floats(shape[0] * shape[1]);
        for (float& x : w) x = to_bf16(x);
        data = bf16_bytes(w);
        dtype = safetensors_dtype::bf16;
        latent[name] = std::move(w);
        return true;
    });
    const std::string config = replaced(official_config, "\"offline\"", "\"online\"");
    any_model loaded = load_bytes(config, bytes);
    auto& m = as<ternary_transformer>(loaded);
    REQUIRE(latent.size() == 7 * c.n_layers);
    for (std::size_t l = 0; l < c.n_layers; ++l) {
        for (const auto& [name, linear] : projections(m.weights().layers[l])) {
            const std::string full = "model.layers." + std::to_string(l) + "." + name + ".weight";
            CAPTURE(full);
            const auto& w = latent.at(full);
            const ternary_matrix<two_bit> reference =
                ternarize(matrix_view<const float>::row_major(w.data(), linear->rows(), linear->cols()));
            CHECK(linear->weights().trits() == reference.trits());
            CHECK(linear->weights().view().scales().values()[0] == reference.view().scales().values()[0]);
        }
    }
    for (float v : logits_of(m)) REQUIRE(std::isfinite(v));
    // Packed weights in online mode are a contradiction.
    CHECK_THROWS_WITH_AS(load_bytes(config, official_tensors(model)), doctest::Contains("online"), format_error);
}

TEST_CASE("safetensors model: ternary models round-trip through safetensors_of with the same logits") {
    auto model = model_with_norms<bitnet::ternary_linear<two_bit>>(tiny_2b4t(), 14);  // f16 embedding, f32 norms
    const std::vector<float> expected = logits_of(model);
    std::size_t calls = 0, last_total = 0;
    safetensors_save_options options;
    options.progress = [&](std::size_t done, std::size_t total) {
        CHECK(done == ++calls);
        last_total = total;
    };
    const safetensors_checkpoint saved = safetensors_of(model, options);
    CHECK(calls == 2 + 2 * 11);
    CHECK(last_total == calls);
    const std::vector<std::uint8_t> bytes = saved.weights.bytes();
    const safetensors_file parsed = safetensors_file::parse(bytes, "saved");
    CHECK(parsed.at("model.layers.0.self_attn.k_proj.weight").dtype == safetensors_dtype::u8);
    CHECK(parsed.at("model.layers.0.self_attn.k_proj.weight").shape == std::vector<std::size_t>{8, 128});
    CHECK(parsed.at("model.layers.0.self_attn.k_proj.weight_scale").dtype == safetensors_dtype::bf16);
    CHECK(parsed.at("model.embed_tokens.weight").dtype == safetensors_dtype::f16);
    CHECK(parsed.at("model.norm.weight").dtype == safetensors_dtype::f32);  // random norms are not bfloat16s
    CHECK(saved.config.find("\"linear_class\": \"autobitlinear\"") != std::string::npos);

    any_model loaded = load_bytes(saved.config, bytes);
    auto& m = as<ternary_transformer>(loaded);
    CHECK(m.config().rope_theta == model.config().rope_theta);
    CHECK(m.config().norm_eps == model.config().norm_eps);
    CHECK(logits_of(m) == expected);
    const safetensors_checkpoint again = safetensors_of(m);
    CHECK(again.config == saved.config);
    CHECK(again.weights.bytes() == bytes);

    SUBCASE("the test's packer and the saver agree byte for byte on the official layout") {
        auto bf16_model = with_bf16_floats(model);
        const std::vector<std::uint8_t> official = official_tensors(bf16_model);
        const std::vector<std::uint8_t> ours = safetensors_of(bf16_model).weights.bytes();
        const safetensors_file a = safetensors_file::parse(official, "official"), b = safetensors_file::parse(ours, "ours");
        CHECK(a.tensors().size() == b.tensors().size());
        for (const auto& t : a.tensors()) {
            CAPTURE(t.name);
            const safetensors_tensor& u = b.at(t.name);
            CHECK(u.dtype == t.dtype);
            CHECK(u.shape == t.shape);
            CHECK(std::equal(u.data.begin(), u.data.end(), t.data.begin(), t.data.end()));
        }
    }
    SUBCASE("without sub-norms: `llama` with a bitnet quantization_config") {
        bitnet::model_config c = tiny_2b4t();
        c.sub_norms = false;
        c.activation = bitnet::ffn_activation::silu;
        auto plain = model_with_norms<bitnet::ternary_linear<two_bit>>(c, 15);
        const safetensors_checkpoint s = safetensors_of(plain);
        CHECK(s.config.find("\"model_type\": \"llama\"") != std::string::npos);
        any_model back = load_bytes(s.config, s.weights.bytes());
        CHECK_FALSE(as<ternary_transformer>(back).config().sub_norms);
        CHECK(logits_of(as<ternary_transformer>(back)) == logits_of(plain));
    }
    SUBCASE("a scale that is no bfloat16 is stored as F32") {
        auto w = model.weights();
        const auto& q = w.layers[1].wq.weights();
        w.layers[1].wq = bitnet::ternary_linear<two_bit>(
            ternary_matrix<two_bit>::from_trits(q.trits(), q.rows(), q.cols(), weight_scales::per_matrix(0.1f)));
        ternary_transformer odd(model.config(), std::move(w));
        const safetensors_checkpoint s = safetensors_of(odd);
        const std::vector<std::uint8_t> b = s.weights.bytes();
        CHECK(safetensors_file::parse(b, "s").at("model.layers.1.self_attn.q_proj.weight_scale").dtype == safetensors_dtype::f32);
        any_model back = load_bytes(s.config, b);
        CHECK(as<ternary_transformer>(back).weights().layers[1].wq.weights().view().scales().values()[0] == 0.1f);
        CHECK(logits_of(as<ternary_transformer>(back)) == logits_of(odd));
    }
    SUBCASE("scales per row and self-normalizing linears have no safetensors form") {
        auto w = model.weights();
        const auto& q = w.layers[0].wq.weights();
        w.layers[0].wq = bitnet::ternary_linear<two_bit>(ternary_matrix<two_bit>::from_trits(
            q.trits(), q.rows(), q.cols(), weight_scales::per_row(std::vector<float>(q.rows(), 0.5f))));
        CHECK_THROWS_WITH_AS(safetensors_of(ternary_transformer(model.config(), std::move(w))), doctest::Contains("q_proj"), value_error);
        bitnet::model_config c = bitnet::preset_config("llama2c-260k");
        c.linear_self_norm = true;
        CHECK_THROWS_AS(safetensors_of(bitnet::random_model<bitnet::ternary_linear<two_bit>>(c, 16)), value_error);
    }
}

TEST_CASE("safetensors model: float models are `llama` checkpoints with the same logits") {
    bitnet::model_config c = bitnet::preset_config("llama2c-260k,hidden=128");
    c.rope = bitnet::rope_style::half_split;
    auto model = model_with_norms<bitnet::float_linear>(c, 17);  // f16 linears
    const safetensors_checkpoint saved = safetensors_of(model);
    CHECK(saved.config.find("\"model_type\": \"llama\"") != std::string::npos);
    CHECK(saved.config.find("quantization_config") == std::string::npos);
    any_model loaded = load_bytes(saved.config, saved.weights.bytes());
    auto& m = as<float_transformer>(loaded);
    CHECK(m.weights().layers[3].w_up.weights().format() == bitnet::float_format::f16);
    CHECK(m.config().activation == bitnet::ffn_activation::silu);
    CHECK(logits_of(m) == logits_of(model));

    SUBCASE("interleaved RoPE (llama2.c): q and k rows reordered to HF's half-split pairs") {
        c.rope = bitnet::rope_style::interleaved;
        auto interleaved = model_with_norms<bitnet::float_linear>(c, 18);
        const std::vector<float> expected = logits_of(interleaved);
        const safetensors_checkpoint s = safetensors_of(interleaved);
        any_model back = load_bytes(s.config, s.weights.bytes());
        auto& b = as<float_transformer>(back);
        CHECK(b.config().rope == bitnet::rope_style::half_split);
        // The same function; the attention scores sum in another order.
        const std::vector<float> got = logits_of(b);
        REQUIRE(got.size() == expected.size());
        for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(std::fabs(got[i] - expected[i]) <= 1e-4f * (1.0f + std::fabs(expected[i])));
    }
    SUBCASE("llama defaults: rope_theta 10000, kv heads = heads, silu") {
        std::string config = R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 5,
                                 "num_attention_heads": 8, "vocab_size": 512, "rms_norm_eps": 1e-05})";
        // The saved tensors of a model with 8 kv heads.
        bitnet::model_config full = c;
        full.n_kv_heads = 8;
        full.rope_theta = 10000.0f;
        full.seq_len = 2048;
        auto mha = model_with_norms<bitnet::float_linear>(full, 19);
        any_model back = load_bytes(config, safetensors_of(mha).weights.bytes());
        CHECK(as<float_transformer>(back).config().n_kv_heads == 8);
        CHECK(as<float_transformer>(back).config().seq_len == 2048);
        CHECK(logits_of(as<float_transformer>(back)) == logits_of(mha));
    }
}

TEST_CASE("safetensors model: malformed checkpoints are refused with a clear error") {
    auto model = with_bf16_floats(model_with_norms<bitnet::ternary_linear<two_bit>>(tiny_2b4t(), 20));
    const std::vector<std::uint8_t> good = official_tensors(model);
    const auto refused = [&](const std::string& config, const std::vector<std::uint8_t>& bytes, const char* expected) {
        CAPTURE(expected);
        CHECK_THROWS_WITH_AS(load_bytes(config, bytes), doctest::Contains(expected), format_error);
    };
    const auto config_refused = [&](std::string_view from, std::string_view to, const char* expected) {
        refused(replaced(official_config, from, to), good, expected);
    };
    const auto tensors_refused = [&](const tensor_change& change, const char* expected) {
        refused(official_config, edited(good, change), expected);
    };

    // config.json
    config_refused("\"hidden_size\": 128,", "", "no 'hidden_size'");
    config_refused("\"num_hidden_layers\": 2,", "", "no 'num_hidden_layers'");
    config_refused("\"vocab_size\": 300", "\"vocab_size\": \"300\"", "'vocab_size' is not an integer");
    config_refused("\"hidden_act\": \"relu2\"", "\"hidden_act\": \"gelu\"", "hidden_act 'gelu' is not supported");
    config_refused("\"model_type\": \"bitnet\"", "\"model_type\": \"mistral\"", "model_type 'mistral' is not supported");
    config_refused("\"num_attention_heads\": 4", "\"num_attention_heads\": 3", "do not divide");
    config_refused("\"rope_theta\": 500000.0", "\"rope_theta\": -1", "'rope_theta' = -1");
    config_refused("\"rope_theta\": 500000.0", "\"rope_theta\": 500000.0, \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}",
                   "rope_scaling");
    config_refused("\"rope_theta\": 500000.0", "\"rope_theta\": 500000.0, \"head_dim\": 64", "head_dim 64");
    config_refused("\"attention_bias\": false", "\"attention_bias\": true", "biases");
    config_refused("\"linear_class\": \"autobitlinear\",", "", "cannot tell whether weight_scale multiplies or divides");
    config_refused("\"autobitlinear\"", "\"ternarylinear\"", "linear_class 'ternarylinear'");
    config_refused("\"quant_method\": \"bitnet\"", "\"quant_method\": \"gptq\"", "quant_method 'gptq'");
    config_refused("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false", "no tensor 'lm_head.weight'");
    config_refused("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": 1", "'tie_word_embeddings'");
    config_refused("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3", "no tensor 'model.layers.2.input_layernorm.weight'");
    config_refused("\"max_position_embeddings\": 64,", "\"max_position_embeddings\": 64,,", "config.json");
    refused("[1, 2]", good, "not a JSON object");
    config_refused("\"quant_method\": \"bitnet\"", "\"quant_method\": \"bitnet\", \"use_rms_norm\": true", "use_rms_norm");
    // Packed projections in a `llama` without quantization_config: a float model has no U8 weights.
    refused(replaced(replaced(official_config, "\"model_type\": \"bitnet\"", "\"model_type\": \"llama\""),
                     "\"quant_method\": \"bitnet\"", "\"quant_method\": \"none\""),
            good, "quant_method 'none'");
    {
        std::string config = replaced(official_config, "\"model_type\": \"bitnet\"", "\"model_type\": \"llama\"");
        config = replaced(config, "\"quantization_config\": {", "\"unused\": {");
        refused(config, good, "is packed (U8), but config.json has no bitnet quantization_config");
    }

    // Tensors.
    const auto drop = [](const std::string& victim) {
        return [victim](const std::string& name, auto&, auto&, auto&) { return name != victim; };
    };
    tensors_refused(drop("model.layers.1.mlp.up_proj.weight"), "no tensor 'model.layers.1.mlp.up_proj.weight'");
    tensors_refused(drop("model.layers.0.self_attn.o_proj.weight_scale"),
                    "no tensor 'model.layers.0.self_attn.o_proj.weight_scale'");
    tensors_refused(drop("model.layers.1.mlp.ffn_sub_norm.weight"), "no tensor 'model.layers.1.mlp.ffn_sub_norm.weight'");
    tensors_refused(drop("model.embed_tokens.weight"), "no tensor 'model.embed_tokens.weight'");
    tensors_refused([](const std::string& name, auto&, std::vector<std::size_t>& shape, auto&) {
        if (name == "model.layers.0.self_attn.k_proj.weight") std::swap(shape[0], shape[1]);  // [128, 8]: transposed
        return true;
    }, "'model.layers.0.self_attn.k_proj.weight' has shape [128, 8], the model needs [8, 128]");
    tensors_refused([](const std::string& name, auto&, std::vector<std::size_t>& shape, std::vector<std::uint8_t>& data) {
        if (name == "model.layers.0.mlp.down_proj.weight") {  // unpacked rows stored as U8
            shape[0] *= 4;
            data.resize(data.size() * 4);
        }
        return true;
    }, "'model.layers.0.mlp.down_proj.weight' has shape [128, 256], the model needs [32, 256]");
    tensors_refused([](const std::string& name, auto&, auto&, std::vector<std::uint8_t>& data) {
        if (name == "model.layers.1.self_attn.q_proj.weight") data[3 * 128 + 5] = 0xC4;  // code 3 in bits 6-7
        return true;
    }, "tensor 'model.layers.1.self_attn.q_proj.weight': element [3, 5] holds code 3 in bits 6-7 (row 99)");
    tensors_refused([](const std::string& name, safetensors_dtype& dtype, auto&, auto&) {
        if (name == "model.layers.0.mlp.gate_proj.weight") dtype = safetensors_dtype::i8;
        return true;
    }, "'model.layers.0.mlp.gate_proj.weight' has dtype I8; U8 (packed), F32, F16 or BF16 is needed");
    tensors_refused([](const std::string& name, auto&, std::vector<std::size_t>& shape, std::vector<std::uint8_t>& data) {
        if (name == "model.layers.0.mlp.gate_proj.weight_scale") {
            shape = {2};
            data.resize(4);
        }
        return true;
    }, "'model.layers.0.mlp.gate_proj.weight_scale' has shape [2], [] or [1] is needed");
    tensors_refused([](const std::string& name, auto&, auto&, std::vector<std::uint8_t>& data) {
        if (name == "model.layers.1.self_attn.v_proj.weight_scale") data = {0x80, 0xBF};  // -1
        return true;
    }, "is not a scale");
    tensors_refused([](const std::string& name, auto&, auto&, std::vector<std::uint8_t>& data) {
        if (name == "model.layers.0.post_attention_layernorm.weight") data[6] = 0xC0, data[7] = 0x7F;  // NaN
        return true;
    }, "model.layers.0.post_attention_layernorm.weight: value 3 is nan");
    tensors_refused([](const std::string& name, safetensors_dtype& dtype, auto&, auto&) {
        if (name == "model.norm.weight") dtype = safetensors_dtype::i16;
        return true;
    }, "'model.norm.weight' has dtype I16; F32, F16 or BF16 is needed");
    tensors_refused([](const std::string& name, safetensors_dtype& dtype, auto&, auto&) {
        if (name == "model.embed_tokens.weight") dtype = safetensors_dtype::u16;
        return true;
    }, "'model.embed_tokens.weight' has dtype U16");
    {
        // A configuration whose rows cannot be packed by quarters (kv_dim 2 * 3 = 6).
        const std::string config = replaced(replaced(official_config, "\"hidden_size\": 128", "\"hidden_size\": 12"),
                                            "\"num_attention_heads\": 4", "\"num_attention_heads\": 2");
        const std::vector<std::uint8_t> ones = bf16_bytes(std::vector<float>(12, 1.0f));
        safetensors_writer w;
        w.add("model.embed_tokens.weight", safetensors_dtype::bf16, {300, 12}, std::vector<std::uint8_t>(300 * 12 * 2));
        w.add("model.norm.weight", safetensors_dtype::bf16, {12}, ones);
        w.add("model.layers.0.input_layernorm.weight", safetensors_dtype::bf16, {12}, ones);
        w.add("model.layers.0.self_attn.q_proj.weight", safetensors_dtype::u8, {3, 12}, std::vector<std::uint8_t>(36, 0x55));
        w.add("model.layers.0.self_attn.q_proj.weight_scale", safetensors_dtype::bf16, {1}, bf16_bytes({1.0f}));
        w.add("model.layers.0.self_attn.k_proj.weight", safetensors_dtype::u8, {1, 12}, std::vector<std::uint8_t>(12, 0x55));
        refused(config, w.bytes(), "'model.layers.0.self_attn.k_proj.weight' cannot be packed by quarters: 6 rows");
    }

    // Every cut of the weights file and of config.json is refused.
    for (std::size_t cut = 0; cut < good.size(); cut += cut < 2048 ? 1 : 613) {
        CAPTURE(cut);
        CHECK_THROWS_AS(load_bytes(official_config, {good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut)}), format_error);
    }
    for (std::size_t cut = 0; cut + 2 < official_config.size(); cut += 7) {
        CAPTURE(cut);
        CHECK_THROWS_AS(load_bytes(official_config.substr(0, cut), good), format_error);
    }
}
