// libFuzzer target: arbitrary bytes as a SentencePiece .model (protobuf) and as a GGUF file
// with a SentencePiece vocabulary. Loading must end in a tokenizer that works or in a
// ternary::error; a crash, a sanitizer report or another exception is a bug. A tokenizer that
// loads must give ids below its vocabulary size and, where its vocabulary allows (byte
// fallback, a "▁" piece, no whitespace removal), decode must give back the text.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <ternary/io/gguf.hpp>
#include <ternary/tokenizer/sentencepiece.hpp>

namespace {

void exercise(const ternary::tokenizer::spm_tokenizer& t) {
    using ternary::tokenizer::spm_piece_type;
    const auto space = t.find("\xE2\x96\x81");
    const bool round_trips = t.byte_fallback() && !t.remove_extra_whitespaces() && space && t.type(*space) == spm_piece_type::normal;
    for (const std::string_view text : {std::string_view(""), std::string_view(" "), std::string_view("ab  a b"),
                                        std::string_view("a\xC3\xA9\xFF\xE4\xB8<s></s><|user|>"), std::string_view("  \n\t x")}) {
        for (const bool special : {false, true}) {
            const auto ids = t.encode(text, false, special);
            for (const std::size_t id : ids) {
                if (id >= t.vocab_size()) __builtin_trap();
            }
            const std::string back = t.decode(ids);
            if (!special && round_trips && back != text) __builtin_trap();
        }
    }
    if (t.bos()) (void)t.encode("x", true, false);
    for (std::size_t id = 0; id < t.vocab_size() && id < 4096; ++id) {
        (void)t.token_bytes(id);
        (void)t.is_special(id);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> bytes(data, size);
    try {
        exercise(ternary::tokenizer::spm_tokenizer::from_model_proto(bytes, "fuzz"));
    } catch (const ternary::error&) {
    }
    try {
        const auto file = ternary::io::gguf_file::parse(bytes, "fuzz");
        exercise(ternary::tokenizer::spm_tokenizer::from_gguf(file, "fuzz"));
    } catch (const ternary::error&) {
    }
    return 0;
}
