// libFuzzer target: arbitrary bytes as the text a server receives, through every tokenizer
// kind (byte-level BPE, SentencePiece, llama2.c), their decoders and the chat templates. The
// tokenizers are real ones from ../shared/data where it is present (Llama 3, Llama 2,
// bitllama2c's) and small built-in ones always. The first byte picks the tokenizer and the
// options, the rest is the text. Encoding must give ids below the vocabulary size and a
// byte-level BPE must give the text back; decoding any ids (also ids made from the bytes) and
// wrapping the text in any template the vocabulary allows must end in a result or a
// ternary::error, never a crash or a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ternary/tokenizer/bpe.hpp>
#include <ternary/tokenizer/chat.hpp>
#include <ternary/tokenizer/llama2c.hpp>
#include <ternary/tokenizer/sentencepiece.hpp>
#include <ternary/tokenizer/tokenizer.hpp>

#include "../llama2c_files.hpp"
#include "../spm_files.hpp"

namespace {

namespace tk = ternary::tokenizer;

/// A byte-level BPE with the 256 bytes and a few merges, in tiktoken's format.
std::string small_tiktoken() {
    static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const auto base64 = [](std::string_view bytes) {
        std::string out;
        for (std::size_t i = 0; i < bytes.size(); i += 3) {
            std::uint32_t v = static_cast<std::uint8_t>(bytes[i]) << 16;
            if (i + 1 < bytes.size()) v |= static_cast<std::uint8_t>(bytes[i + 1]) << 8;
            if (i + 2 < bytes.size()) v |= static_cast<std::uint8_t>(bytes[i + 2]);
            out += digits[(v >> 18) & 63];
            out += digits[(v >> 12) & 63];
            out += i + 1 < bytes.size() ? digits[(v >> 6) & 63] : '=';
            out += i + 2 < bytes.size() ? digits[v & 63] : '=';
        }
        return out;
    };
    std::string text;
    std::size_t rank = 0;
    for (int b = 0; b < 256; ++b) text += base64(std::string(1, static_cast<char>(b))) + " " + std::to_string(rank++) + "\n";
    for (const char* merge : {"he", "ll", "hell", "hello", " t", " th", "\xC3\xA9"}) text += base64(merge) + " " + std::to_string(rank++) + "\n";
    return text;
}

std::vector<tk::any_tokenizer> make_tokenizers() {
    std::vector<tk::any_tokenizer> all;
    all.emplace_back(tk::bpe_tokenizer::from_tiktoken(small_tiktoken(), "small.tiktoken"));
    auto spm = test::spm::small_model();  // with byte fallback, its 256 byte pieces and a user-defined one
    spm.byte_fallback = true;
    static const char* hex = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) spm.pieces.push_back({std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">", 0, test::spm::byte});
    spm.pieces.push_back({"<|user|>", 0, test::spm::user_defined});
    all.emplace_back(tk::spm_tokenizer::from_model_proto(test::spm::model_proto(spm), "small.model"));
    const auto llama2c = test::llama2c::tokenizer_file();
    all.emplace_back(tk::llama2c_tokenizer::load(llama2c, test::llama2c::tokenizer_pieces.size(), "tokenizer.bin"));
#ifdef TERNARY_SHARED_DATA
    const std::filesystem::path data = TERNARY_SHARED_DATA;
    for (const char* file : {"tokenizers/llama3/tokenizer.model", "tokenizers/llama2/tokenizer.model"}) {
        if (std::filesystem::exists(data / file)) all.push_back(tk::load_tokenizer((data / file).string()));
    }
    if (const auto bin = data / "models/bitllama2c-3M/tokenizer.bin"; std::filesystem::exists(bin)) {
        all.push_back(tk::load_tokenizer(bin.string(), 512));
    }
#endif
    return all;
}

void check_ids(const tk::any_tokenizer& t, const std::vector<std::size_t>& ids) {
    for (std::size_t id : ids) {
        if (id >= t.vocab_size()) __builtin_trap();
    }
}

}  // namespace

/// The tokenizers, and the templates each one's vocabulary allows (made once: a template
/// checks its special tokens when it is made).
struct fixtures {
    std::vector<tk::any_tokenizer> tokenizers = make_tokenizers();
    std::vector<std::vector<tk::chat_format>> formats;
    fixtures() {
        for (const tk::any_tokenizer& t : tokenizers) {
            formats.emplace_back();
            for (const tk::chat_style style : {tk::chat_style::bitnet, tk::chat_style::llama3, tk::chat_style::chatml, tk::chat_style::phi3}) {
                try {
                    formats.back().emplace_back(t, style);
                } catch (const ternary::error&) {  // the vocabulary lacks the template's tokens
                }
            }
        }
    }
};

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const fixtures fixed;
    if (size == 0) return 0;
    const std::uint8_t options = data[0];
    const std::size_t which = options % fixed.tokenizers.size();
    const tk::any_tokenizer& t = fixed.tokenizers[which];
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    const bool special = (options & 0x40) != 0, bos = (options & 0x80) != 0;
    try {
        const auto ids = t.encode(text, bos, special);
        check_ids(t, ids);
        const std::string back = t.decode(ids);
        // Byte-level BPE covers every byte: without specials and BOS, text comes back as it was.
        if (t.kind() == "byte-level BPE" && !special && !bos && back != text) __builtin_trap();
        tk::streaming_decoder stream(t, (options & 0x20) != 0);
        for (std::size_t id : ids) (void)stream.push(id);
        (void)stream.finish();
    } catch (const ternary::error&) {
    }
    try {
        // The bytes as ids (3 bytes each, any id of the vocabulary), decoded both ways.
        std::vector<std::size_t> ids;
        for (std::size_t i = 1; i + 3 <= size; i += 3) {
            ids.push_back((data[i] | data[i + 1] << 8 | data[i + 2] << 16) % t.vocab_size());
        }
        (void)t.decode(ids);
        tk::streaming_decoder stream(t, special);
        for (std::size_t id : ids) (void)stream.push(id);
        (void)stream.finish();
    } catch (const ternary::error&) {
    }
    static const char* roles[] = {"system", "user", "assistant"};
    for (const tk::chat_format& format : fixed.formats[which]) {
        try {
            check_ids(t, format.begin());
            check_ids(t, format.message({roles[(options >> 3) % 3], std::string(text)}));
            check_ids(t, format.generation_prompt());
            check_ids(t, format.end_of_message());
        } catch (const ternary::error&) {
        }
    }
    return 0;
}
