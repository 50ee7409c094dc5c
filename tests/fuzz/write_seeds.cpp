// Writes the fuzzers' seed corpus: the tiny valid files of tests/llama2c_files.hpp.
#include <fstream>
#include <string>

#include <ternary/io/gguf.hpp>

#include "../llama2c_files.hpp"

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    const std::string dir = argv[1];
    const auto write = [&](const char* name, const test::llama2c::bytes& b) {
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
    return 0;
}
