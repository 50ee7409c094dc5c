// Models from GGUF files: a file with the official bitnet-b1.58-2B-4T structure (tiny
// dimensions) written here key by key gives the logits of the in-memory model it was made from;
// every model survives a round trip through our GGUF writer in every tensor type; malformed
// model files are refused with a clear error. Also: a batched forward pass gives the logits of
// one position at a time.

#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include <ternary/bitnet/model.hpp>
#include <ternary/bitnet/random_model.hpp>
#include <ternary/io/gguf_model.hpp>
#include <ternary/io/gguf_save.hpp>
#include <ternary/io/llama2c.hpp>
#include <ternary/io/load.hpp>

#include "model_support.hpp"
#include "support.hpp"

using namespace ternary;
using namespace ternary::io;
using test::as;
using test::logits_of;
using test::model_with_norms;

namespace {

using ternary_transformer = bitnet::transformer<bitnet::ternary_linear<two_bit>>;

/// 2B4T's variant (ReLU^2, sub-norms, half-split RoPE, theta 500000, GQA 4:1) in small sizes
/// that every ternary file type can hold (rows of multiples of 256 weights).
bitnet::model_config tiny_2b4t() { return bitnet::preset_config("2b4t,dim=256,hidden=512,layers=2,heads=4,kv_heads=1,vocab=300,seq=64"); }

gguf_value u32(std::uint32_t v) { return {v}; }

gguf_save_options as_type(gguf_linear_type type) {
    gguf_save_options options;
    options.linear_type = type;
    return options;
}
gguf_value string_array(std::vector<std::string> values) {
    gguf_array a{gguf_type::string, {}};
    for (auto& v : values) a.values.push_back({std::move(v)});
    return {std::move(a)};
}

std::vector<std::uint8_t> f32_bytes(const std::vector<float>& v) {
    std::vector<std::uint8_t> out(v.size() * 4);
    std::memcpy(out.data(), v.data(), out.size());
    return out;
}

/// The official 2B4T GGUF's structure (formats.md 4.8, 4.9), written key by key with the
/// container writer only: its 24 keys (u32 integers, f32 floats, a gpt2 tokenizer), F16
/// token_embd (the tied head), F32 norms, I2_S projections with their scales in the tails.
std::vector<std::uint8_t> official_structure(const ternary_transformer& model) {
    const bitnet::model_config& c = model.config();
    const std::string a = "bitnet-b1.58";
    gguf_writer w;
    w.add("general.architecture", {a});
    w.add("general.name", {std::string("bitnet2b")});
    w.add(a + ".vocab_size", u32(static_cast<std::uint32_t>(c.vocab_size)));
    w.add(a + ".context_length", u32(static_cast<std::uint32_t>(c.seq_len)));
    w.add(a + ".embedding_length", u32(static_cast<std::uint32_t>(c.dim)));
    w.add(a + ".block_count", u32(static_cast<std::uint32_t>(c.n_layers)));
    w.add(a + ".feed_forward_length", u32(static_cast<std::uint32_t>(c.hidden_dim)));
    w.add(a + ".rope.dimension_count", u32(static_cast<std::uint32_t>(c.head_dim())));
    w.add(a + ".attention.head_count", u32(static_cast<std::uint32_t>(c.n_heads)));
    w.add(a + ".attention.head_count_kv", u32(static_cast<std::uint32_t>(c.n_kv_heads)));
    w.add(a + ".attention.layer_norm_rms_epsilon", {1e-5f});
    w.add(a + ".rope.freq_base", {500000.0f});
    w.add("general.file_type", u32(40));
    w.add("general.quantization_version", u32(2));
    w.add("tokenizer.ggml.model", {std::string("gpt2")});
    std::vector<std::string> tokens;
    gguf_array scores{gguf_type::f32, {}}, types{gguf_type::i32, {}};
    for (std::size_t t = 0; t < c.vocab_size; ++t) {
        tokens.push_back("t" + std::to_string(t));
        scores.values.push_back({0.0f});
        types.values.push_back({std::int32_t{1}});
    }
    w.add("tokenizer.ggml.tokens", string_array(tokens));
    w.add("tokenizer.ggml.scores", {scores});
    w.add("tokenizer.ggml.token_type", {types});
    w.add("tokenizer.ggml.merges", string_array({"t 1", "t 2"}));
    w.add("tokenizer.ggml.bos_token_id", u32(1));
    w.add("tokenizer.ggml.eos_token_id", u32(2));
    w.add("tokenizer.ggml.padding_token_id", u32(2));
    w.add("tokenizer.ggml.add_bos_token", {true});
    w.add("tokenizer.chat_template", {std::string("{{ messages }}")});

    const auto& weights = model.weights();
    const auto& e = weights.token_embedding;
    REQUIRE(e.format() == bitnet::float_format::f16);
    std::vector<std::uint8_t> embedding;
    std::vector<float> row(c.dim);
    for (std::size_t t = 0; t < c.vocab_size; ++t) {
        e.row(t, row);
        for (float v : row) {
            const std::uint16_t h = f16_from_float(v);
            embedding.push_back(static_cast<std::uint8_t>(h & 0xFF));
            embedding.push_back(static_cast<std::uint8_t>(h >> 8));
        }
    }
    w.add_tensor("token_embd.weight", {c.dim, c.vocab_size}, 1, embedding);
    w.add_tensor("output_norm.weight", {c.dim}, 0, f32_bytes(weights.final_norm));
    const auto i2_s = [&](const std::string& name, const bitnet::ternary_linear<two_bit>& linear) {
        const auto& m = linear.weights();
        w.add_tensor(name, {m.cols(), m.rows()}, 36, encode_i2_s(m.trits(), m.rows(), m.cols(), m.view().scales().values()[0]));
    };
    for (std::size_t l = 0; l < c.n_layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        const auto& layer = weights.layers[l];
        w.add_tensor(p + "attn_norm.weight", {c.dim}, 0, f32_bytes(layer.attn_norm));
        i2_s(p + "attn_q.weight", layer.wq);
        i2_s(p + "attn_k.weight", layer.wk);
        i2_s(p + "attn_v.weight", layer.wv);
        i2_s(p + "attn_output.weight", layer.wo);
        w.add_tensor(p + "attn_sub_norm.weight", {c.dim}, 0, f32_bytes(layer.attn_sub_norm));
        w.add_tensor(p + "ffn_norm.weight", {c.dim}, 0, f32_bytes(layer.ffn_norm));
        i2_s(p + "ffn_gate.weight", layer.w_gate);
        i2_s(p + "ffn_up.weight", layer.w_up);
        i2_s(p + "ffn_down.weight", layer.w_down);
        w.add_tensor(p + "ffn_sub_norm.weight", {c.hidden_dim}, 0, f32_bytes(layer.ffn_sub_norm));
    }
    return w.bytes();
}

any_model load_bytes(std::vector<std::uint8_t> bytes) { return load_gguf(mapped_file::from_bytes(std::move(bytes), "test.gguf")); }

}  // namespace

TEST_CASE("GGUF model: a file with the official 2B4T structure gives the in-memory model's logits") {
    auto model = model_with_norms<bitnet::ternary_linear<two_bit>>(tiny_2b4t(), 1);
    any_model loaded = load_bytes(official_structure(model));
    auto& from_file = as<ternary_transformer>(loaded);
    const bitnet::model_config& c = from_file.config();
    CHECK(c.dim == 256);
    CHECK(c.n_kv_heads == 1);
    CHECK(c.vocab_size == 300);
    CHECK(c.rope == bitnet::rope_style::half_split);
    CHECK(c.activation == bitnet::ffn_activation::relu_squared);
    CHECK(c.sub_norms);
    CHECK(c.rope_theta == 500000.0f);
    CHECK_FALSE(from_file.weights().output.has_value());
    CHECK(from_file.weights().token_embedding.format() == bitnet::float_format::f16);
    CHECK(from_file.weights().layers[1].w_down.weights().view().scales().kind() == scale_kind::per_matrix);
    CHECK(logits_of(from_file) == logits_of(model));
}

TEST_CASE("GGUF model: the architecture decides the FFN activation and the RoPE pairs") {
    auto model = model_with_norms<bitnet::ternary_linear<two_bit>>(tiny_2b4t(), 2);
    std::vector<std::uint8_t> bytes = official_structure(model);
    gguf_file parsed = gguf_file::parse(bytes, "t");
    const auto with_arch = [&](const std::string& arch, std::optional<std::string> activation) {
        // The same tensors under another architecture name (keys renamed).
        gguf_writer w;
        for (const auto& [key, value] : parsed.metadata()) {
            std::string k = key;
            if (k.rfind("bitnet-b1.58.", 0) == 0) k = arch + k.substr(std::string("bitnet-b1.58").size());
            w.add(k, k == "general.architecture" ? gguf_value{arch} : value);
        }
        if (activation) w.add("bitnet.hidden_activation", {*activation});
        for (const auto& t : parsed.tensors()) {
            const auto d = parsed.data(t);
            w.add_tensor(t.name, t.ne, t.type, {d.begin(), d.end()});
        }
        return load_bytes(w.bytes());
    };
    {
        any_model m = with_arch("bitnet-25", std::nullopt);
        CHECK(as<ternary_transformer>(m).config().activation == bitnet::ffn_activation::relu_squared);
        CHECK(logits_of(as<ternary_transformer>(m)) == logits_of(model));
    }
    {
        any_model m = with_arch("bitnet", std::nullopt);
        CHECK(as<ternary_transformer>(m).config().activation == bitnet::ffn_activation::silu);
    }
    {
        any_model m = with_arch("bitnet", "relu2");
        CHECK(as<ternary_transformer>(m).config().activation == bitnet::ffn_activation::relu_squared);
        CHECK(logits_of(as<ternary_transformer>(m)) == logits_of(model));
    }
    CHECK_THROWS_AS(with_arch("bitnet", "gelu"), format_error);
    CHECK_THROWS_AS(with_arch("gpt2", std::nullopt), format_error);
    // Type 36 is I2_S only under bitnet.cpp's architectures.
    CHECK_THROWS_WITH_AS(with_arch("llama", std::nullopt), doctest::Contains("I2_S"), format_error);
}

TEST_CASE("GGUF model: ternary models round-trip through every ternary type with the same logits") {
    auto model = model_with_norms<bitnet::ternary_linear<two_bit>>(tiny_2b4t(), 3);
    const std::vector<float> expected = logits_of(model);
    for (auto type : {gguf_linear_type::i2_s, gguf_linear_type::tq2_0, gguf_linear_type::tq1_0}) {
        CAPTURE(static_cast<int>(type));
        std::size_t calls = 0;
        gguf_save_options options;
        options.linear_type = type;
        options.progress = [&](std::size_t, std::size_t) { ++calls; };
        const auto bytes = gguf_of(model, options).bytes();
        CHECK(calls == 2 + 2 * 11);
        any_model loaded = load_bytes(bytes);
        auto& m = as<ternary_transformer>(loaded);
        CHECK(m.weights().layers[0].wq.weights().trits() == model.weights().layers[0].wq.weights().trits());
        CHECK(logits_of(m) == expected);
        // And once more from the loaded model: the same bytes.
        options.progress = nullptr;
        CHECK(gguf_of(m, options).bytes() == bytes);
    }
    CHECK_THROWS_AS(gguf_of(model, as_type(gguf_linear_type::f16)), value_error);
}

TEST_CASE("GGUF model: float models are `llama` files, F32 and F16, with the same logits") {
    const auto c = bitnet::preset_config("llama2c-260k,hidden=128");
    auto model = model_with_norms<bitnet::float_linear>(c, 4);  // f16 weights
    const std::vector<float> expected = logits_of(model);
    for (auto type : {gguf_linear_type::f32, gguf_linear_type::f16}) {
        any_model loaded = load_bytes(gguf_of(model, as_type(type)).bytes());
        auto& m = std::get<bitnet::transformer<bitnet::float_linear>>(loaded);
        CHECK(m.config().rope == bitnet::rope_style::interleaved);
        CHECK(m.config().activation == bitnet::ffn_activation::silu);
        // The values are the same; f32 matrices sum in index order (float_matrix.hpp), so
        // only the f16 file reproduces the f16 model's logits exactly.
        const auto& before = model.weights().layers[4].w_down.weights();
        const auto& after = m.weights().layers[4].w_down.weights();
        CHECK(after.format() == (type == gguf_linear_type::f16 ? bitnet::float_format::f16 : bitnet::float_format::f32));
        std::vector<float> a(before.cols()), b(after.cols());
        for (std::size_t i = 0; i < before.rows(); ++i) {
            before.row(i, a);
            after.row(i, b);
            REQUIRE(a == b);
        }
        if (type == gguf_linear_type::f16) CHECK(logits_of(m) == expected);
    }
    CHECK_THROWS_AS(gguf_of(model, as_type(gguf_linear_type::i2_s)), value_error);
}

TEST_CASE("GGUF model: the real stories260K converts to GGUF and back with the same logits") {
    const std::filesystem::path dir = std::filesystem::path(TERNARY_SHARED_DATA) / "models" / "stories260K";
    if (!std::filesystem::is_directory(dir)) {
        MESSAGE("skipped: " TERNARY_SHARED_DATA " is absent");
        return;
    }
    auto model = load_llama2c((dir / "stories260K.bin").string());
    const std::vector<float> expected = logits_of(model);
    any_model loaded = load_bytes(gguf_of(model, as_type(gguf_linear_type::f32)).bytes());
    CHECK(logits_of(std::get<bitnet::transformer<bitnet::float_linear>>(loaded)) == expected);
}

TEST_CASE("GGUF model: the real bitllama2c-3M converts to GGUF (bitllama2c) and back") {
    const std::filesystem::path file = std::filesystem::path(TERNARY_SHARED_DATA) / "models" / "bitllama2c-3M" / "model.bin";
    if (!std::filesystem::exists(file)) {
        MESSAGE("skipped: " TERNARY_SHARED_DATA " is absent");
        return;
    }
    auto model = load_bitllama2c(file.string());
    const std::vector<float> expected = logits_of(model);
    // I2_S keeps the f32 scales: the same logits.
    any_model loaded = load_bytes(gguf_of(model, as_type(gguf_linear_type::i2_s)).bytes());
    auto& m = as<ternary_transformer>(loaded);
    CHECK(m.config().linear_self_norm);
    CHECK(m.weights().layers[3].wo.normalizes_input());
    CHECK(logits_of(m) == expected);
    // TQ1_0 stores f16 scales: the same trits, the scales rounded to f16.
    any_model tq = load_bytes(gguf_of(model, as_type(gguf_linear_type::tq1_0)).bytes());
    const auto& before = model.weights().layers[5].w_down.weights();
    const auto& after = as<ternary_transformer>(tq).weights().layers[5].w_down.weights();
    CHECK(after.trits() == before.trits());
    CHECK(after.scales().view().values()[0] == float_from_f16(f16_from_float(before.scales().view().values()[0])));
}

TEST_CASE("GGUF model: TQ block scales collapse to the coarsest exact form") {
    auto model = model_with_norms<bitnet::ternary_linear<two_bit>>(tiny_2b4t(), 5);
    const std::vector<float> expected = logits_of(model);
    const std::vector<std::uint8_t> bytes = official_structure(model);
    gguf_file parsed = gguf_file::parse(bytes, "t");
    // Re-encode blk.0.ffn_up as TQ2_0 with per-row scales (row i: 2^-(i % 3)) and every block
    // of zeros given scale 0, as TQ encoders do (ffn_up has rows of 256: block b is row b); the
    // loaded model must see per-row scales.
    const auto rebuild = [&](bool per_row) {
        gguf_writer w;
        for (const auto& [key, value] : parsed.metadata()) w.add(key, value);
        for (const auto& t : parsed.tensors()) {
            const auto d = parsed.data(t);
            if (t.name != "blk.0.ffn_up.weight") {
                w.add_tensor(t.name, t.ne, t.type, {d.begin(), d.end()});
                continue;
            }
            const std::size_t rows = t.ne[1], cols = t.ne[0];
            ternary_tensor decoded = decode_i2_s(d, rows, cols);
            for (std::size_t e = 0; e < 256; ++e) decoded.trits[e] = 0;  // a block of zeros
            std::vector<float> scales(rows * cols / 256);
            for (std::size_t b = 0; b < scales.size(); ++b) {
                scales[b] = b == 0 ? 0.0f : per_row ? 1.0f / static_cast<float>(1u << (b * 256 / cols % 3)) : decoded.scales[0];
            }
            w.add_tensor(t.name, t.ne, 35, encode_tq2_0(decoded.trits, rows, cols, scales));
        }
        return load_bytes(w.bytes());
    };
    any_model uniform = rebuild(false);
    CHECK(as<ternary_transformer>(uniform).weights().layers[0].w_up.weights().view().scales().kind() == scale_kind::per_matrix);
    any_model rows = rebuild(true);
    const scales_view s = as<ternary_transformer>(rows).weights().layers[0].w_up.weights().scales().view();
    REQUIRE(s.kind() == scale_kind::per_row);
    CHECK(s.values()[0] == 0.0f);  // all zeros
    CHECK(s.values()[1] == 0.5f);
    CHECK(s.values()[2] == 0.25f);
    CHECK(s.values()[3] == 1.0f);
}

TEST_CASE("GGUF model: malformed model files are refused with a clear error") {
    auto model = model_with_norms<bitnet::ternary_linear<two_bit>>(tiny_2b4t(), 6);
    const std::vector<std::uint8_t> good = official_structure(model);
    gguf_file parsed = gguf_file::parse(good, "t");
    // Rewrites the file with one key or tensor changed (or dropped: change returns false).
    const auto edited = [&](auto change_key, auto change_tensor) {
        gguf_writer w;
        for (auto [key, value] : parsed.metadata()) {
            if (change_key(key, value)) w.add(key, value);
        }
        for (auto t : parsed.tensors()) {
            const auto d = parsed.data(t);
            std::vector<std::uint8_t> data(d.begin(), d.end());
            if (change_tensor(t, data)) w.add_tensor(t.name, t.ne, t.type, data);
        }
        return w.bytes();
    };
    const auto keep_key = [](const std::string&, gguf_value&) { return true; };
    const auto keep_tensor = [](gguf_tensor_info&, std::vector<std::uint8_t>&) { return true; };
    const auto refused = [&](std::vector<std::uint8_t> bytes, const char* expected) {
        CAPTURE(expected);
        CHECK_THROWS_WITH_AS(load_bytes(std::move(bytes)), doctest::Contains(expected), format_error);
    };

    refused(edited([](const std::string& k, gguf_value&) { return k != "bitnet-b1.58.block_count"; }, keep_tensor),
            "no metadata key 'bitnet-b1.58.block_count'");
    refused(edited([](const std::string& k, gguf_value& v) {
                if (k == "bitnet-b1.58.attention.head_count") v = {std::string("twenty")};
                return true;
            }, keep_tensor), "is not an integer");
    refused(edited([](const std::string& k, gguf_value& v) {
                if (k == "bitnet-b1.58.attention.head_count") v = u32(3);
                return true;
            }, keep_tensor), "do not divide");
    refused(edited([](const std::string& k, gguf_value& v) {
                if (k == "bitnet-b1.58.block_count") v = u32(3);
                return true;
            }, keep_tensor), "no tensor 'blk.2.attn_norm.weight'");
    refused(edited([](const std::string& k, gguf_value& v) {
                if (k == "bitnet-b1.58.rope.freq_base") v = {std::numeric_limits<float>::infinity()};
                return true;
            }, keep_tensor), "out of range");
    refused(edited([](const std::string& k, gguf_value& v) {
                if (k == "bitnet-b1.58.rope.dimension_count") v = u32(32);
                return true;
            }, keep_tensor), "rope.dimension_count");
    refused(edited(keep_key, [](gguf_tensor_info& t, std::vector<std::uint8_t>&) { return t.name != "blk.1.ffn_up.weight"; }),
            "no tensor 'blk.1.ffn_up.weight'");
    refused(edited(keep_key, [](gguf_tensor_info& t, std::vector<std::uint8_t>& d) {
                if (t.name == "blk.0.attn_k.weight") {  // transposed: [64, 256] instead of [256, 64]
                    std::swap(t.ne[0], t.ne[1]);
                    d.assign(d.size(), 0x55);
                    d.resize(64 * 256 / 4 + 32, 0);
                }
                return true;
            }), "'blk.0.attn_k.weight' has shape [64, 256], the model needs [256, 64]");
    refused(edited(keep_key, [](gguf_tensor_info& t, std::vector<std::uint8_t>& d) {
                if (t.name == "blk.0.attn_q.weight") d[100] = 0xFF;  // code 11 is no weight
                return true;
            }), "tensor 'blk.0.attn_q.weight'");
    refused(edited(keep_key, [](gguf_tensor_info& t, std::vector<std::uint8_t>& d) {
                if (t.name == "blk.0.ffn_norm.weight") {
                    const float nan = std::numeric_limits<float>::quiet_NaN();
                    std::memcpy(d.data() + 8, &nan, 4);
                }
                return true;
            }), "blk.0.ffn_norm.weight");
    refused(edited(keep_key, [](gguf_tensor_info& t, std::vector<std::uint8_t>& d) {
                if (t.name == "output_norm.weight") {  // a norm stored as I2_S
                    t.type = 36;
                    t.ne = {256, 4};
                    d.assign(256 * 4 / 4 + 32, 0x55);
                }
                return true;
            }), "'output_norm.weight' has shape");
    refused(edited(keep_key, [](gguf_tensor_info& t, std::vector<std::uint8_t>& d) {
                if (t.name == "token_embd.weight") {  // a ternary embedding
                    t.type = 35;
                    d.assign(t.ne[0] * t.ne[1] / 256 * 66, 0);
                }
                return true;
            }), "has type 35; F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K or IQ4_NL is needed");
    // Every cut of the file is refused (a sample of cut points, every header byte among them).
    for (std::size_t cut = 0; cut < good.size(); cut += cut < 4096 ? 1 : 997) {
        CAPTURE(cut);
        CHECK_THROWS_AS(load_bytes({good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut)}), format_error);
    }
}

TEST_CASE("a batched forward pass gives the logits of one position at a time") {
    auto ternary_model = model_with_norms<bitnet::ternary_linear<two_bit>>(tiny_2b4t(), 7);
    auto float_model = model_with_norms<bitnet::float_linear>(bitnet::preset_config("llama2c-260k"), 8);
    const std::vector<std::size_t> tokens = {1, 5, 9, 200, 33, 64, 2, 150};
    const auto check = [&](auto& model) {
        auto copy = model;  // a fresh KV cache
        const auto batched = model.forward(std::span<const std::size_t>(tokens), 0, true);
        std::vector<float> all(batched.begin(), batched.end());
        std::vector<float> one_by_one;
        for (std::size_t pos = 0; pos < tokens.size(); ++pos) {
            const auto logits = copy.forward(tokens[pos], pos);
            one_by_one.insert(one_by_one.end(), logits.begin(), logits.end());
        }
        CHECK(all == one_by_one);
        // Errors: out-of-range tokens and positions past the context.
        CHECK_THROWS_AS(copy.forward(copy.config().vocab_size, 0), value_error);
        CHECK_THROWS_AS(copy.forward(std::span<const std::size_t>(tokens), copy.config().seq_len - 4), value_error);
        CHECK_THROWS_AS(copy.forward(std::span<const std::size_t>(), 0), value_error);
    };
    check(ternary_model);
    check(float_model);
}
