// Writes the fuzzers' seed corpus: the tiny valid files of tests/llama2c_files.hpp, small GGUF
// and safetensors files, SentencePiece .model files (tests/spm_files.hpp) and a SentencePiece GGUF
// vocabulary, and JSON documents like a Hugging Face config.json and shard index.
#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <ternary/bitnet/random_model.hpp>
#include <ternary/io/gguf.hpp>
#include <ternary/io/gguf_save.hpp>
#include <ternary/io/safetensors_save.hpp>
#include <ternary/io/safetensors.hpp>

#include "../llama2c_files.hpp"
#include "../spm_files.hpp"
#include "model_config.hpp"

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    const std::string dir = argv[1];
    const auto write = [&](const std::string& name, const test::llama2c::bytes& b) {
        std::ofstream(dir + "/" + name, std::ios::binary).write(reinterpret_cast<const char*>(b.data()),
                                                                static_cast<std::streamsize>(b.size()));
    };
    write("legacy.bin", test::llama2c::legacy_file());
    write("legacy_unshared.bin", test::llama2c::legacy_file(false));
    write("ak42.bin", test::llama2c::ak42_file());
    write("tokenizer.bin", test::llama2c::tokenizer_file());
    ternary::io::gguf_writer gguf;
    gguf.add("general.architecture", {std::string("bitnet-b1.58")});
    gguf.add("tokens", {ternary::io::gguf_array{ternary::io::gguf_type::string, {{std::string("a")}, {std::string("b")}}}});
    gguf.add("flag", {true});
    gguf.add_tensor("w", {256, 1}, 35, std::vector<std::uint8_t>(66, 0x55));
    gguf.add_tensor("n", {4}, 0, std::vector<std::uint8_t>(16, 0));
    write("sample.gguf", gguf.bytes());
    ternary::io::gguf_writer vocab_only;
    vocab_only.add("tokenizer.ggml.model", {std::string("llama")});
    write("vocab.gguf", vocab_only.bytes());
    // SentencePiece: a .model without byte fallback, one with the 256 byte pieces, and the
    // latter as a GGUF vocabulary.
    write("spm.model", test::spm::model_proto(test::spm::small_model()));
    auto spm = test::spm::small_model();
    spm.byte_fallback = true;
    static constexpr char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) spm.pieces.push_back({std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">", 0, test::spm::byte});
    spm.pieces.push_back({"<|user|>", 0, test::spm::user_defined});
    spm.pieces.push_back({"bb", -0.5f, test::spm::unused});
    write("spm_bytes.model", test::spm::model_proto(spm));
    ternary::io::gguf_writer spm_gguf;
    spm_gguf.add("tokenizer.ggml.model", {std::string("llama")});
    ternary::io::gguf_array tokens{ternary::io::gguf_type::string, {}}, scores{ternary::io::gguf_type::f32, {}},
        types{ternary::io::gguf_type::i32, {}};
    for (const auto& p : spm.pieces) {
        tokens.values.push_back({p.text});
        scores.values.push_back({p.score});
        types.values.push_back({std::int32_t{p.type}});
    }
    spm_gguf.add("tokenizer.ggml.tokens", {tokens});
    spm_gguf.add("tokenizer.ggml.scores", {scores});
    spm_gguf.add("tokenizer.ggml.token_type", {types});
    spm_gguf.add("tokenizer.ggml.bos_token_id", {std::uint32_t{1}});
    spm_gguf.add("tokenizer.ggml.unknown_token_id", {std::int32_t{0}});
    write("spm_vocab.gguf", spm_gguf.bytes());
    ternary::io::safetensors_writer safetensors;
    safetensors.metadata("format", "pt");
    safetensors.add("model.layers.0.mlp.down_proj.weight", ternary::io::safetensors_dtype::u8, {2, 4},
                    std::vector<std::uint8_t>(8, 0x19));
    safetensors.add("model.layers.0.mlp.down_proj.weight_scale", ternary::io::safetensors_dtype::bf16, {1},
                    std::vector<std::uint8_t>{0x80, 0x3f});
    safetensors.add("model.norm.weight", ternary::io::safetensors_dtype::f32, {2}, std::vector<std::uint8_t>(8, 0));
    write("sample.safetensors", safetensors.bytes());
    const auto text = [](std::string_view s) { return test::llama2c::bytes(s.begin(), s.end()); };
    write("config.json", text(R"({"architectures": ["BitNetForCausalLM"], "hidden_size": 2560, "rms_norm_eps": 1e-05,
 "rope_theta": 500000.0, "tie_word_embeddings": true, "rope_scaling": null, "max_position_embeddings": -4096,
 "quantization_config": {"linear_class": "autobitlinear", "quant_method": "bitnet"},
 "name": "caf\u00e9 \ud83d\ude00 \"\\\/\b\f\n\r\t )" "\xe2\x82\xac" R"(", "x": [0.5, -1.25E+3, 0, [], {}]})"));
    // Whole tiny models for the model fuzzer: a 2B4T-shaped one in I2_S (27 KB), a float llama.
    namespace b = ternary::bitnet;
    const auto tiny = b::random_model<b::ternary_linear<ternary::two_bit>>(b::preset_config(fuzz::tiny_spec), 1);
    write("model_i2_s.gguf", ternary::io::gguf_of(tiny).bytes());
    write("model.safetensors", ternary::io::safetensors_of(tiny).weights.bytes());
    ternary::io::gguf_save_options as_f32;
    as_f32.linear_type = ternary::io::gguf_linear_type::f32;
    write("model_llama.gguf", ternary::io::gguf_of(b::random_model<b::float_linear>(
        b::preset_config("llama2c-260k,dim=16,hidden=32,layers=2,heads=2,kv_heads=1,vocab=8,seq=8"), 2), as_f32).bytes());
    // Block-quantized heads (Q8_0; Q6_K and Q4_K need rows of 256) and raw blocks for fuzz_blocks.
    ternary::io::gguf_save_options q8_head;
    q8_head.head_format = b::float_format::q8_0;
    write("model_q8_0_head.gguf", ternary::io::gguf_of(tiny, q8_head).bytes());
    const auto wide = b::random_model<b::ternary_linear<ternary::two_bit>>(
        b::preset_config("2b4t,dim=256,hidden=256,layers=1,heads=2,kv_heads=1,vocab=4,seq=4"), 3);
    for (const auto format : {b::float_format::q6_k, b::float_format::q4_k}) {
        ternary::io::gguf_save_options head;
        head.head_format = format;
        write(std::string("model_") + b::format_name(format) + "_head.gguf", ternary::io::gguf_of(wide, head).bytes());
    }
    for (std::size_t t = 0; t < ternary::all_block_types.size(); ++t) {
        std::vector<std::uint8_t> blocks = {static_cast<std::uint8_t>(t), 1};
        const auto layout = ternary::layout_of(ternary::all_block_types[t]);
        for (std::size_t i = 0; i < 3 * 2 * layout.bytes; ++i) blocks.push_back(static_cast<std::uint8_t>(i * 37 % 251));
        // Small finite f16 factors (0x2000 = 2^-7) at every 2-byte offset a format uses for them.
        for (std::size_t blk = 0; blk < 6; ++blk) {
            for (std::size_t off : {0, 2, 80, 82, 108, 208}) {
                if (off + 2 <= layout.bytes) blocks[2 + blk * layout.bytes + off] = 0, blocks[3 + blk * layout.bytes + off] = 0x20;
            }
        }
        write(std::string("blocks_") + std::string(layout.name) + ".bin", blocks);
    }
    write("index.json", text(R"({"metadata": {"total_size": 16}, "weight_map": {
 "model.norm.weight": "model-00001-of-00002.safetensors", "lm_head.weight": "model-00002-of-00002.safetensors"}})"));
    // ternary-server request bodies (first byte: 1 chat, 0 completion) and texts for the
    // tokenizers (first byte: which tokenizer and options).
    write("request_chat.json", text("\x01" R"({"model": "m", "messages": [{"role": "system", "content": "Be brief."},
 {"role": "user", "content": [{"type": "text", "text": "Hi \u00e9"}]}], "max_tokens": 16, "temperature": 0.7,
 "top_p": 0.9, "top_k": 40, "seed": 7, "stop": ["\n", "END"], "stream": true, "stream_options": {"include_usage": true}})"));
    write("request_completion.json", text("\x00" R"({"prompt": ["Once upon a time"], "max_tokens": 5.0, "n": 1, "stop": "x"})"));
    for (unsigned char options : {0x00, 0x41, 0x82, 0xC3, 0x24, 0x15}) {
        write("text_" + std::to_string(options) + ".txt",
              text(std::string(1, static_cast<char>(options)) + "Hello, w\xC3\xB6rld! <|eot_id|><s>  12345 \xF0\x9F\x98\x80\xFF\n"));
    }
    return 0;
}
