// libFuzzer target: arbitrary bytes as a llama2.c legacy checkpoint, a bitllama2.c ak42
// checkpoint and a llama2.c tokenizer. Any input must end in a model / tokenizer that works or
// in a ternary::error; a crash, a sanitizer report or another exception is a bug.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include <ternary/io/llama2c.hpp>
#include <ternary/tokenizer/llama2c.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> bytes(data, size);
    try {
        auto model = ternary::io::load_llama2c(bytes, "fuzz");
        model.forward(0, 0);
    } catch (const ternary::error&) {
    }
    try {
        auto model = ternary::io::load_bitllama2c(bytes, "fuzz");
        model.forward(0, 0);
    } catch (const ternary::error&) {
    }
    try {
        const auto tokenizer = ternary::tokenizer::llama2c_tokenizer::load(bytes, 9, "fuzz");
        for (std::size_t id = 0; id < tokenizer.vocab_size(); ++id) tokenizer.decode(1, id);
        tokenizer.encode("ab c", true, true);
    } catch (const ternary::error&) {
    }
    return 0;
}
