// Byte-level BPE: UTF-8 decoding and Unicode classes, the Llama 3 and GPT-2 pre-tokenizer
// regexes matched by hand, small tokenizers built in memory (round trips, invalid UTF-8, special
// tokens, streaming, malformed files), Hugging Face tokenizer.json, GGUF metadata written back
// (merges derived from tiktoken ranks), and the real Llama 3 and GPT-2 vocabularies from
// ../shared/data against llama.cpp's expected ids (skipped when the folder is absent).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <ternary/io/gguf.hpp>
#include <ternary/tokenizer/bpe.hpp>
#include <ternary/tokenizer/pretokenize.hpp>
#include <ternary/tokenizer/tokenizer.hpp>
#include <ternary/tokenizer/unicode.hpp>

#include "support.hpp"

using namespace ternary::tokenizer;
using test::read_text;
using test::shared_data;
using ternary::format_error;
using ternary::value_error;
namespace io = ternary::io;

namespace {

std::string base64(std::string_view bytes) {
    static constexpr char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        std::uint32_t group = 0;
        const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
        for (std::size_t k = 0; k < 3; ++k) {
            group = (group << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
        }
        for (std::size_t k = 0; k < 4; ++k) out += k <= n ? digits[(group >> (18 - 6 * k)) & 63] : '=';
    }
    return out;
}

/// A tiktoken rank file: the 256 bytes, then "he", "ll", "hell", "hello".
std::string small_rank_file() {
    std::string text;
    for (int b = 0; b < 256; ++b) text += base64(std::string(1, static_cast<char>(b))) + " " + std::to_string(b) + "\n";
    const char* extra[] = {"he", "ll", "hell", "hello"};
    for (int i = 0; i < 4; ++i) text += base64(extra[i]) + " " + std::to_string(256 + i) + "\n";
    return text;
}

io::gguf_value strings(const std::vector<std::string>& values) {
    io::gguf_array array{io::gguf_type::string, {}};
    for (const auto& v : values) array.values.push_back({v});
    return {array};
}

struct gguf_vocab {
    std::vector<std::string> tokens;  // in GPT-2's alphabet
    std::vector<std::int32_t> types;
    std::vector<std::string> merges;
    std::string pre = "gpt-2";
    std::string model = "gpt2";
};

/// The 256 bytes, "he", "ll", "hell", "hello", " w" and a control token "<|end|>" (id 261).
gguf_vocab small_vocab() {
    gguf_vocab v;
    for (int b = 0; b < 256; ++b) v.tokens.push_back(gpt2_encode_bytes(std::string(1, static_cast<char>(b))));
    for (const char* t : {"he", "ll", "hell", "hello", " w"}) v.tokens.push_back(gpt2_encode_bytes(t));
    v.tokens.push_back("<|end|>");
    v.types.assign(v.tokens.size(), 1);
    v.types.back() = 3;
    v.merges = {"h e", "l l", "he ll", "hell o", gpt2_encode_bytes(" ") + " w"};
    return v;
}

bpe_tokenizer from_vocab(const gguf_vocab& v) {
    io::gguf_writer w;
    w.add("tokenizer.ggml.model", {v.model});
    if (!v.pre.empty()) w.add("tokenizer.ggml.pre", {v.pre});
    w.add("tokenizer.ggml.tokens", strings(v.tokens));
    io::gguf_array types{io::gguf_type::i32, {}};
    for (auto t : v.types) types.values.push_back({t});
    w.add("tokenizer.ggml.token_type", {types});
    if (!v.merges.empty()) w.add("tokenizer.ggml.merges", strings(v.merges));
    w.add("tokenizer.ggml.bos_token_id", {std::uint32_t{261}});
    const auto bytes = w.bytes();
    return bpe_tokenizer::from_gguf(io::gguf_file::parse(bytes, "small.gguf"), "small.gguf");
}

std::vector<std::string> pieces(pretokenizer kind, std::string_view text) {
    std::vector<std::string> out;
    for (auto p : split_pieces(kind, text)) out.emplace_back(p);
    return out;
}

using strs = std::vector<std::string>;

}  // namespace

TEST_CASE("decode_utf8: well-formed sequences decode; every other byte is U+FFFD alone") {
    CHECK(decode_utf8("A", 0).code_point == U'A');
    CHECK(decode_utf8("\xC3\xA9", 0).code_point == U'é');
    CHECK(decode_utf8("\xC3\xA9", 0).length == 2);
    CHECK(decode_utf8("\xE4\xB8\xAD", 0).code_point == U'中');
    CHECK(decode_utf8("\xF0\x9F\x98\x80", 0).code_point == U'\U0001F600');
    CHECK(decode_utf8("\xF0\x9F\x98\x80", 0).length == 4);
    // Truncated (the view ends early: nothing past it is read), overlong, surrogate, too large,
    // stray continuation, bytes that never appear.
    for (std::string_view bad : {"\xC3", "\xE4\xB8", "\xF0\x9F\x98", "\xC0\x80", "\xE0\x80\x80", "\xED\xA0\x80",
                                 "\xF4\x90\x80\x80", "\x80", "\xFF", "\xF5\x80\x80\x80"}) {
        CAPTURE(bad.size());
        const std::string copy(bad);  // exactly bad.size() bytes, so ASan sees any overread
        const auto c = decode_utf8(std::string_view(copy.data(), copy.size()), 0);
        CHECK(c.code_point == replacement_character);
        CHECK(c.length == 1);
    }
    CHECK(encode_utf8(U'\U0001F600') == "\xF0\x9F\x98\x80");
    CHECK(encode_utf8(0xD800) == "\xEF\xBF\xBD");
}

TEST_CASE("incomplete_utf8_tail: the start of a character cut short, nothing else") {
    CHECK(incomplete_utf8_tail("") == 0);
    CHECK(incomplete_utf8_tail("abc") == 0);
    CHECK(incomplete_utf8_tail("a\xF0") == 1);
    CHECK(incomplete_utf8_tail("a\xF0\x9F") == 2);
    CHECK(incomplete_utf8_tail("a\xF0\x9F\x98") == 3);
    CHECK(incomplete_utf8_tail("a\xF0\x9F\x98\x80") == 0);
    CHECK(incomplete_utf8_tail("\xE4\xB8") == 2);
    CHECK(incomplete_utf8_tail("\xE0\x80") == 0);  // can never complete
    CHECK(incomplete_utf8_tail("\x80\x80") == 0);
    CHECK(incomplete_utf8_tail("\xFF") == 0);
}

TEST_CASE("Unicode classes: letters, numbers and White_Space beyond ASCII") {
    CHECK(std::string_view(unicode_data::unicode_version).size() > 0);
    CHECK(classify(U'a') == char_class::letter);
    CHECK(classify(U'é') == char_class::letter);
    CHECK(classify(U'中') == char_class::letter);
    CHECK(classify(U'ǅ') == char_class::letter);  // Lt
    CHECK(classify(U'ª') == char_class::letter);  // Lo
    CHECK(classify(U'7') == char_class::number);
    CHECK(classify(U'٣') == char_class::number);  // Nd
    CHECK(classify(U'²') == char_class::number);  // No
    CHECK(classify(U'Ⅻ') == char_class::number);  // Nl
    for (char32_t ws : {U'\t', U'\n', U'\v', U'\f', U'\r', U' ', char32_t{0x85}, char32_t{0xA0}, char32_t{0x1680},
                        char32_t{0x2000}, char32_t{0x200A}, char32_t{0x2028}, char32_t{0x2029}, char32_t{0x202F},
                        char32_t{0x205F}, char32_t{0x3000}}) {
        CAPTURE(static_cast<std::uint32_t>(ws));
        CHECK(classify(ws) == char_class::whitespace);
    }
    for (char32_t other : {char32_t{0x1C}, char32_t{0x1F}, char32_t{0x180E}, char32_t{0x200B}, U'.', U'€', U'😀',
                           char32_t{0xFFFD}, char32_t{0x10FFFF}}) {
        CAPTURE(static_cast<std::uint32_t>(other));
        CHECK(classify(other) == char_class::other);
    }
}

TEST_CASE("Llama 3 pre-tokenizer: each alternative of the regex, leftmost-first") {
    const auto L = pretokenizer::llama3;
    CHECK(pieces(L, "") == strs{});
    CHECK(pieces(L, "Hello world") == strs{"Hello", " world"});
    CHECK(pieces(L, "  Hello") == strs{" ", " Hello"});           // \s+(?!\S) leaves the last space
    CHECK(pieces(L, "Hello  ") == strs{"Hello", "  "});            // whitespace at the end: all of it
    CHECK(pieces(L, "a\n\nb") == strs{"a", "\n\n", "b"});
    CHECK(pieces(L, "a \n\n  b") == strs{"a", " \n\n", " ", " b"});  // \s*[\r\n]+ stops at the last newline
    CHECK(pieces(L, "12345") == strs{"123", "45"});                // \p{N}{1,3}
    CHECK(pieces(L, "I'M here, we'Ve") == strs{"I", "'M", " here", ",", " we", "'Ve"});
    CHECK(pieces(L, "x'\u017F") == strs{"x", "'\u017F"});          // case folding: long s is s
    CHECK(pieces(L, "x'q") == strs{"x", "'q"});                    // [^\r\n\p{L}\p{N}]?\p{L}+
    CHECK(pieces(L, "\tword \u00BFQu\u00E9?") == strs{"\tword", " \u00BF", "Qu\u00E9", "?"});
    CHECK(pieces(L, "\u00BFQu\u00E9") == strs{"\u00BFQu\u00E9"});
    CHECK(pieces(L, "\nword") == strs{"\n", "word"});              // no newline before letters
    CHECK(pieces(L, "x !!\n\ny") == strs{"x", " !!\n\n", "y"});    // punctuation takes newlines after it
    CHECK(pieces(L, "3\u00B2 \u0663") == strs{"3\u00B2", " ", "\u0663"});
    CHECK(pieces(L, "a\xFF b") == strs{"a", "\xFF", " b"});       // an invalid byte is "other"
    CHECK(pieces(L, "\xC3") == strs{"\xC3"});
    CHECK(pieces(L, "\xFFx") == strs{"\xFFx"});
}

TEST_CASE("GPT-2 pre-tokenizer: each alternative of the regex, leftmost-first") {
    const auto G = pretokenizer::gpt2;
    CHECK(pieces(G, "Hello  world") == strs{"Hello", " ", " world"});
    CHECK(pieces(G, "abc123 4567") == strs{"abc", "123", " 4567"});
    CHECK(pieces(G, "I'M here, we've") == strs{"I", "'", "M", " here", ",", " we", "'ve"});  // case-sensitive
    CHECK(pieces(G, "a\n\nb") == strs{"a", "\n", "\n", "b"});  // no newline rule: \s+(?!\S) then \s+
    CHECK(pieces(G, "a \n\n  b") == strs{"a", " \n\n ", " b"});
    CHECK(pieces(G, " !!? x") == strs{" !!?", " x"});
    CHECK(pieces(G, "end   ") == strs{"end", "   "});
    CHECK(pieces(G, "\xFF\xFE x") == strs{"\xFF\xFE", " x"});
}

TEST_CASE("BPE from a small tiktoken rank file: merges by the rank of the concatenation") {
    const auto t = bpe_tokenizer::from_tiktoken(small_rank_file(), "small.tiktoken");
    CHECK(t.vocab_size() == 260 + 256);
    CHECK(t.bos() == std::optional<std::size_t>(260));
    CHECK(t.eos() == std::optional<std::size_t>(261));
    CHECK(t.find("<|eot_id|>") == std::optional<std::size_t>(269));
    // Llama 3.1's names (Meta's llama-models): ids 128004, 128005, 128008, 128010 of the real file.
    CHECK(t.find("<|finetune_right_pad_id|>") == std::optional<std::size_t>(264));
    CHECK(t.find("<|step_id|>") == std::optional<std::size_t>(265));
    CHECK(t.find("<|start_header_id|>") == std::optional<std::size_t>(266));
    CHECK(t.find("<|eom_id|>") == std::optional<std::size_t>(268));
    CHECK(t.find("<|python_tag|>") == std::optional<std::size_t>(270));
    CHECK(t.token_bytes(262) == "<|reserved_special_token_0|>");
    CHECK(t.token_bytes(271) == "<|reserved_special_token_2|>");
    CHECK(t.token_bytes(515) == "<|reserved_special_token_246|>");
    CHECK(t.encode("<|eom_id|>x<|python_tag|>", false, true) == std::vector<std::size_t>{268, 'x', 270});
    CHECK(t.encode("hello", false, false) == std::vector<std::size_t>{259});
    CHECK(t.encode("hellx", false, false) == std::vector<std::size_t>{258, 'x'});
    CHECK(t.encode("hello", true, false) == std::vector<std::size_t>{260, 259});
    CHECK(t.encode("", false, false).empty());
    // Special tokens only when allowed.
    const std::string text = "hello<|eot_id|>he";
    CHECK(t.encode(text, false, true) == std::vector<std::size_t>{259, 269, 256});
    const auto plain = t.encode(text, false, false);
    CHECK(std::find(plain.begin(), plain.end(), std::size_t{269}) == plain.end());
    CHECK(t.decode(plain) == text);
    CHECK(t.decode(t.encode(text, false, true)) == text);
    CHECK(t.encode("<|eot_id|><|eot_id|>", false, true) == std::vector<std::size_t>{269, 269});
    CHECK(t.encode("<|eot_id", false, true) == t.encode("<|eot_id", false, false));
    CHECK_THROWS_AS(t.decode(std::vector<std::size_t>{516}), value_error);
    CHECK_THROWS_AS(t.token_bytes(1000000), value_error);
}

TEST_CASE("BPE from GGUF metadata: merges by merge rank; control tokens") {
    const auto t = from_vocab(small_vocab());
    CHECK(t.vocab_size() == 262);
    CHECK(t.pre() == pretokenizer::gpt2);
    CHECK(t.bos() == std::optional<std::size_t>(261));
    CHECK(!t.eos());
    CHECK(t.is_special(261));
    CHECK(!t.is_special(259));
    CHECK(t.token_bytes(260) == " w");
    CHECK(t.token_bytes(' ') == " ");
    CHECK(t.encode("hello world", false, false) == std::vector<std::size_t>{259, 260, 'o', 'r', 'l', 'd'});
    CHECK(t.encode("hello<|end|>", true, true) == std::vector<std::size_t>{261, 259, 261});
    CHECK(t.encode("<|end|>", false, false).size() == 7);

    // A token no merge reaches: whole pieces win first only with the Llama 3 pre-tokenizer
    // (llama.cpp's ignore_merges), which also splits digits in threes.
    auto v = small_vocab();
    v.tokens.push_back(gpt2_encode_bytes("xy"));
    v.types.push_back(1);
    CHECK(from_vocab(v).encode("xy", false, false) == std::vector<std::size_t>{'x', 'y'});
    v.pre = "llama-bpe";
    const auto llama = from_vocab(v);
    CHECK(llama.pre() == pretokenizer::llama3);
    CHECK(llama.encode("xy", false, false) == std::vector<std::size_t>{262});
    CHECK(llama.encode("1234", false, false) == std::vector<std::size_t>{'1', '2', '3', '4'});
    CHECK(llama.encode("hello", false, false) == std::vector<std::size_t>{259});
}

TEST_CASE("BPE round trips any text; invalid UTF-8 encodes its bytes; streaming holds back partial characters") {
    auto& rng = test::rng();
    const std::vector<bpe_tokenizer> tokenizers = {bpe_tokenizer::from_tiktoken(small_rank_file(), "small.tiktoken"),
                                                   from_vocab(small_vocab())};
    for (const auto& t : tokenizers) {
        for (int trial = 0; trial < 200; ++trial) {
            const std::string text = test::random_text(rng);
            CAPTURE(text);
            const auto ids = t.encode(text, false, false);
            REQUIRE(t.decode(ids) == text);
            // Streaming: every piece is whole characters and together they are the text.
            streaming_decoder stream(t);
            std::string streamed;
            for (const auto id : ids) {
                const std::string piece = stream.push(id);
                CHECK(test::valid_utf8(piece));
                streamed += piece;
            }
            streamed += stream.finish();
            CHECK(streamed == text);
        }
        // Bytes that are not UTF-8, in every position.
        for (std::string_view bad : {"\xFF", "a\xC3", "\xC3(", "\xED\xA0\x80x", "\xF0\x9F\x98", " \x80\x80 \xFE",
                                     "\xC0\xAF\n\n", "'\xFF", "1\xFF" "2"}) {
            const std::string text(bad);
            CAPTURE(text);
            CHECK(t.decode(t.encode(text, false, false)) == text);
            CHECK(t.decode(t.encode(text, false, true)) == text);
        }
        std::string bytes;
        for (int i = 0; i < 2000; ++i) bytes += static_cast<char>(rng() & 0xFF);
        CHECK(t.decode(t.encode(bytes, false, false)) == bytes);
        // A multi-byte character split across byte tokens comes out whole.
        const auto ids = t.encode("a\xF0\x9F\xA6\x99", false, false);  // 🦙: four byte tokens here
        REQUIRE(ids.size() == 5);
        streaming_decoder stream(t);
        CHECK(stream.push(ids[0]) == "a");
        CHECK(stream.push(ids[1]).empty());
        CHECK(stream.push(ids[2]).empty());
        CHECK(stream.push(ids[3]).empty());
        CHECK(stream.push(ids[4]) == "\xF0\x9F\xA6\x99");
        CHECK(stream.finish().empty());
        CHECK(stream.push(ids[1]).empty());
        CHECK(stream.finish() == "\xF0");  // the stream ended inside a character
        CHECK(stream.push(t.encode("\xFF", false, false).at(0)) == "\xFF");  // never valid: not held back
    }
}

TEST_CASE("malformed tiktoken rank files are format errors") {
    const std::string good = small_rank_file();
    CHECK_NOTHROW(bpe_tokenizer::from_tiktoken(good, "r"));
    CHECK_NOTHROW(bpe_tokenizer::from_tiktoken(good + "\n\n", "r"));  // empty lines are skipped
    CHECK_THROWS_AS(bpe_tokenizer::from_tiktoken(good + "aGk= 259\n", "r"), format_error);  // duplicate rank
    CHECK_THROWS_AS(bpe_tokenizer::from_tiktoken(good + "aGk= 9999\n", "r"), format_error);  // rank out of range
    CHECK_THROWS_AS(bpe_tokenizer::from_tiktoken(good + "aGU= 260\n", "r"), format_error);  // "he" again
    CHECK_THROWS_AS(bpe_tokenizer::from_tiktoken(good + "a!k= 260\n", "r"), format_error);  // bad base64
    CHECK_THROWS_AS(bpe_tokenizer::from_tiktoken(good + "aGk 260\n", "r"), format_error);   // bad length
    CHECK_THROWS_AS(bpe_tokenizer::from_tiktoken(good + "aGl= 260\n", "r"), format_error);  // non-canonical padding
    CHECK_THROWS_AS(bpe_tokenizer::from_tiktoken(good + "= 260\n", "r"), format_error);
    CHECK_THROWS_AS(bpe_tokenizer::from_tiktoken(good + " 260\n", "r"), format_error);      // empty token
    CHECK_THROWS_AS(bpe_tokenizer::from_tiktoken(good + "aGk=\n", "r"), format_error);     // no rank
    CHECK_THROWS_AS(bpe_tokenizer::from_tiktoken(good + "aGk= -1\n", "r"), format_error);
    CHECK_THROWS_AS(bpe_tokenizer::from_tiktoken(good + "aGk= 99999999999999999999\n", "r"), format_error);
    CHECK_THROWS_AS(bpe_tokenizer::from_tiktoken("aGk= 0\n", "r"), format_error);  // no byte tokens
    CHECK_THROWS_AS(bpe_tokenizer::from_tiktoken("", "r"), format_error);
    CHECK_THROWS_WITH_AS(bpe_tokenizer::from_tiktoken(good + "a!k= 260\n", "r"),
                         doctest::Contains("r: line 261"), format_error);
}

TEST_CASE("malformed GGUF vocabularies are format errors") {
    CHECK_NOTHROW(from_vocab(small_vocab()));
    auto v = small_vocab();
    v.merges.push_back("x zz");  // unknown token
    CHECK_THROWS_WITH_AS(from_vocab(v), doctest::Contains("refers to an unknown token"), format_error);
    v = small_vocab();
    v.merges.push_back("o x");  // "ox" is no token
    CHECK_THROWS_AS(from_vocab(v), format_error);
    v = small_vocab();
    v.merges.push_back("hello");
    CHECK_THROWS_AS(from_vocab(v), format_error);
    v = small_vocab();
    v.merges.clear();  // no merges key
    CHECK_THROWS_WITH_AS(from_vocab(v), doctest::Contains("tokenizer.ggml.merges"), format_error);
    v = small_vocab();
    v.model = "llama";
    CHECK_THROWS_AS(from_vocab(v), format_error);
    v = small_vocab();
    v.pre = "qwen2";
    CHECK_THROWS_AS(from_vocab(v), format_error);
    v = small_vocab();
    v.tokens[5] = " raw space";  // not GPT-2's alphabet
    CHECK_THROWS_AS(from_vocab(v), format_error);
    v = small_vocab();
    v.tokens[300 - 40] = v.tokens[256];  // a duplicate ordinary token
    CHECK_THROWS_AS(from_vocab(v), format_error);
    v = small_vocab();
    v.types[65] = 3;  // byte 'A' becomes a control token: no token for that byte
    CHECK_THROWS_WITH_AS(from_vocab(v), doctest::Contains("no token for the byte 65"), format_error);
    v = small_vocab();
    v.types.pop_back();
    CHECK_THROWS_AS(from_vocab(v), format_error);
    v = small_vocab();
    v.pre.clear();  // absent: GPT-2's regex for a vocabulary that is not 128256 tokens
    CHECK(from_vocab(v).pre() == pretokenizer::gpt2);
}

TEST_CASE("Llama 3 tokenizer.model reproduces llama.cpp's ggml-vocab-llama-bpe ids") {
    const auto data = shared_data();
    if (data.empty()) return;
    const auto dir = data / "tokenizers" / "llama3";
    const auto start = std::chrono::steady_clock::now();
    const auto t = bpe_tokenizer::load_tiktoken((dir / "tokenizer.model").string());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MESSAGE("loaded 128000 ranks in " << seconds << " s");
    CHECK(t.vocab_size() == 128256);
    CHECK(t.find("<|begin_of_text|>") == std::optional<std::size_t>(128000));
    CHECK(t.find("<|eot_id|>") == std::optional<std::size_t>(128009));
    CHECK(t.find("<|start_header_id|>") == std::optional<std::size_t>(128006));

    test::check_vocab_lists(t, dir / "ggml-vocab-llama-bpe.gguf");

    // The chat format's pieces (formats.md section 2).
    CHECK(t.encode("<|begin_of_text|>User: Hi<|eot_id|>", false, true).front() == 128000);
    CHECK(t.encode("<|begin_of_text|>User: Hi<|eot_id|>", false, true).back() == 128009);
    CHECK(t.encode("<|begin_of_text|>", false, false).size() > 1);

    auto& rng = test::rng();
    for (int trial = 0; trial < 300; ++trial) {
        const std::string text = test::random_text(rng);
        CAPTURE(text);
        const auto ids = t.encode(text, true, false);
        REQUIRE(t.decode(std::span(ids).subspan(1)) == text);
        streaming_decoder stream(t);
        std::string streamed;
        for (std::size_t k = 1; k < ids.size(); ++k) {
            const std::string piece = stream.push(ids[k]);
            CHECK(test::valid_utf8(piece));
            streamed += piece;
        }
        CHECK(streamed + stream.finish() == text);
    }
    // A rare character that BPE leaves in pieces streams out whole.
    const std::string rare = "\xF0\x9F\xAB\xA8";  // U+1FAE8, newer than the vocabulary
    const auto ids = t.encode(rare, false, false);
    CHECK(ids.size() > 1);
    streaming_decoder stream(t);
    std::string streamed;
    for (const auto id : ids) {
        const std::string piece = stream.push(id);
        CHECK((piece.empty() || piece == rare));
        streamed += piece;
    }
    CHECK(streamed == rare);
}

TEST_CASE("GPT-2 GGUF vocabulary reproduces llama.cpp's ggml-vocab-gpt-2 ids") {
    const auto data = shared_data();
    if (data.empty()) return;
    const auto path = data / "gguf-vocab" / "ggml-vocab-gpt-2.gguf";
    const auto t = bpe_tokenizer::load_gguf(path.string());
    CHECK(t.pre() == pretokenizer::gpt2);
    CHECK(t.vocab_size() == 50257);
    CHECK(t.find("<|endoftext|>") == std::optional<std::size_t>(50256));
    test::check_vocab_lists(t, path);
    auto& rng = test::rng();
    for (int trial = 0; trial < 100; ++trial) {
        const std::string text = test::random_text(rng);
        CAPTURE(text);
        CHECK(t.decode(t.encode(text, false, false)) == text);
    }
}

// ---- Hugging Face tokenizer.json ----

namespace {

/// s as a JSON string literal. With ascii, every character past U+007F is a \u escape (a
/// surrogate pair past U+FFFF), as Python's json.dumps writes it; otherwise UTF-8 as it is, as
/// the tokenizers library writes it.
std::string json_string(std::string_view s, bool ascii = false) {
    static constexpr char hex[] = "0123456789abcdef";
    const auto u_escape = [&](std::string& out, std::uint32_t unit) {
        out += "\\u";
        for (int shift = 12; shift >= 0; shift -= 4) out += hex[(unit >> shift) & 15];
    };
    std::string out = "\"";
    for (std::size_t pos = 0; pos < s.size();) {
        const utf8_char c = decode_utf8(s, pos);
        REQUIRE_FALSE((c.code_point == replacement_character && s.substr(pos, 3) != "\xEF\xBF\xBD"));  // JSON is UTF-8
        if (c.code_point == '"' || c.code_point == '\\') {
            out += '\\';
            out += static_cast<char>(c.code_point);
        } else if (c.code_point < 0x20) {
            u_escape(out, c.code_point);
        } else if (ascii && c.code_point >= 0x80) {
            if (c.code_point >= 0x10000) {
                const std::uint32_t v = c.code_point - 0x10000;
                u_escape(out, 0xD800 + (v >> 10));
                u_escape(out, 0xDC00 + (v & 0x3FF));
            } else {
                u_escape(out, c.code_point);
            }
        } else {
            out.append(s.substr(pos, c.length));
        }
        pos += c.length;
    }
    return out + "\"";
}

struct hf_added {
    std::size_t id;
    std::string content;
    bool special = true;
};

/// The pieces of a tokenizer.json; to_json writes it.
struct hf_doc {
    std::vector<std::string> vocab;  // by id, in GPT-2's alphabet
    std::vector<std::pair<std::string, std::string>> merges;  // in GPT-2's alphabet
    std::vector<hf_added> added;
    std::string pre_tokenizer;
    std::string post_processor = "null";
    std::string model_extra;  // more members of "model", each followed by a comma
    bool ignore_merges = false;
    bool pairs = false;  // merges as ["left", "right"] rather than "left right"
    bool ascii = false;  // \u escapes for everything past ASCII
};

// The pre-tokenizers of GPT-2's and Llama 3's tokenizer.json files, as they are written there.
const std::string gpt2_pre = R"({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true})";
const std::string llama3_split =
    R"json({"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false})json";
const std::string llama3_pre = R"({"type": "Sequence", "pretokenizers": [)" + llama3_split +
                               R"(, {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})";

/// A TemplateProcessing post-processor that puts `bos` before each sequence (Llama 3's).
std::string bos_template(const std::string& bos, std::size_t id) {
    const std::string name = json_string(bos);
    return R"({"type": "Sequence", "processors": [{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true}, )"
           R"({"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": )" + name + R"(, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], )"
           R"("pair": [], "special_tokens": {)" + name + R"(: {"id": )" + name + R"(, "ids": [)" + std::to_string(id) + "], \"tokens\": [" + name + "]}}}]}";
}

std::string to_json(const hf_doc& d) {
    std::string out = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [";
    for (std::size_t i = 0; i < d.added.size(); ++i) {
        out += i == 0 ? "\n    " : ",\n    ";
        out += "{\"id\": " + std::to_string(d.added[i].id) + ", \"content\": " + json_string(d.added[i].content, d.ascii) +
               R"(, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": )" +
               (d.added[i].special ? "true" : "false") + "}";
    }
    out += "\n  ],\n  \"normalizer\": null,\n  \"pre_tokenizer\": " + d.pre_tokenizer + ",\n  \"post_processor\": " + d.post_processor +
           ",\n  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},\n";
    out += R"(  "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null, )";
    out += "\"fuse_unk\": false, \"byte_fallback\": false, " + d.model_extra;
    out += std::string("\"ignore_merges\": ") + (d.ignore_merges ? "true" : "false") + ",\n    \"vocab\": {";
    for (std::size_t id = 0; id < d.vocab.size(); ++id) {
        out += id == 0 ? "\n      " : ",\n      ";
        out += json_string(d.vocab[id], d.ascii) + ": " + std::to_string(id);
    }
    out += "\n    },\n    \"merges\": [";
    for (std::size_t i = 0; i < d.merges.size(); ++i) {
        out += i == 0 ? "\n      " : ",\n      ";
        const auto& [left, right] = d.merges[i];
        out += d.pairs ? "[" + json_string(left, d.ascii) + ", " + json_string(right, d.ascii) + "]" : json_string(left + " " + right, d.ascii);
    }
    return out + "\n    ]\n  }\n}\n";
}

/// The 256 bytes, "he", "ll", "hell", "hello" (256..259), " w" (260) and the special token
/// <|end|> (261): the GGUF small_vocab() as a tokenizer.json with GPT-2's pre-tokenizer.
hf_doc small_hf_doc() {
    hf_doc d;
    for (int b = 0; b < 256; ++b) d.vocab.push_back(gpt2_encode_bytes(std::string(1, static_cast<char>(b))));
    for (const char* t : {"he", "ll", "hell", "hello", " w"}) d.vocab.push_back(gpt2_encode_bytes(t));
    d.merges = {{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {gpt2_encode_bytes(" "), "w"}};
    d.added = {{261, "<|end|>"}};
    d.pre_tokenizer = gpt2_pre;
    return d;
}

bpe_tokenizer from_doc(const hf_doc& d, std::string_view config = {}) {
    return bpe_tokenizer::from_hf_json(to_json(d), "tokenizer.json", config);
}

/// The value of a GGUF metadata key in a list of pairs, or null.
const io::gguf_value* find_key(const bpe_tokenizer::metadata& m, std::string_view key) {
    for (const auto& [k, v] : m) {
        if (k == key) return &v;
    }
    return nullptr;
}

/// Whether two GGUF values have the same type and value (arrays element by element).
bool same_value(const io::gguf_value& a, const io::gguf_value& b) {
    if (a.value.index() != b.value.index()) return false;
    return std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            const T& y = std::get<T>(b.value);
            if constexpr (std::is_same_v<T, io::gguf_array>) {
                if (x.element != y.element || x.values.size() != y.values.size()) return false;
                for (std::size_t i = 0; i < x.values.size(); ++i) {
                    if (!same_value(x.values[i], y.values[i])) return false;
                }
                return true;
            } else {
                return x == y;
            }
        },
        a.value);
}

/// A GGUF array of strings as a vector.
std::vector<std::string> string_values(const io::gguf_value& v) {
    std::vector<std::string> out;
    for (const auto& e : std::get<io::gguf_array>(v.value).values) out.push_back(std::get<std::string>(e.value));
    return out;
}

/// The GGUF file of metadata, parsed back through gguf_writer and gguf_file (bytes must outlive it).
bpe_tokenizer through_gguf(const bpe_tokenizer::metadata& m, std::vector<std::uint8_t>& bytes) {
    io::gguf_writer w;
    for (const auto& [key, value] : m) w.add(key, value);
    bytes = w.bytes();
    return bpe_tokenizer::from_gguf(io::gguf_file::parse(bytes, "written.gguf"), "written.gguf");
}

/// A temporary directory, removed with everything in it at the end of the scope.
struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        path = std::filesystem::temp_directory_path() /
               ("ternary_bpe_test_" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
        std::filesystem::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    void write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name, std::ios::binary) << text;
    }
};

}  // namespace

TEST_CASE("tokenizer.json: vocab, merges as lines or pairs, added tokens, ignore_merges") {
    const auto t = from_doc(small_hf_doc());
    CHECK(t.vocab_size() == 262);
    CHECK(t.pre() == pretokenizer::gpt2);
    CHECK(t.token_bytes(260) == " w");
    CHECK(t.is_special(261));
    CHECK(!t.is_special(259));
    CHECK(t.find("<|end|>") == std::optional<std::size_t>(261));
    CHECK(t.encode("hello world", false, false) == std::vector<std::size_t>{259, 260, 'o', 'r', 'l', 'd'});
    CHECK(t.encode("hello<|end|>", false, true) == std::vector<std::size_t>{259, 261});
    CHECK(t.encode("<|end|>", false, false).size() == 7);
    CHECK(!t.bos());  // GPT-2's tokenizer.json names none
    CHECK(!t.eos());
    CHECK(!t.adds_bos());
    CHECK(!t.chat_template());
    CHECK(t.merges() == std::vector<std::pair<std::size_t, std::size_t>>{{'h', 'e'}, {'l', 'l'}, {256, 257}, {258, 'o'}, {' ', 'w'}});

    // The same file with merges as pairs, with \u escapes, with a "#version" line.
    auto d = small_hf_doc();
    d.pairs = true;
    CHECK(from_doc(d).encode("hello world", false, false) == t.encode("hello world", false, false));
    d.ascii = true;
    d.added[0].content = "<|\u00E9nd|>";
    CHECK(from_doc(d).find("<|\u00E9nd|>") == std::optional<std::size_t>(261));
    CHECK(from_doc(d).encode("hello world", false, false) == t.encode("hello world", false, false));
    d = small_hf_doc();
    d.merges.insert(d.merges.begin(), {"#version:", "0.2"});
    CHECK(from_doc(d).merges() == t.merges());

    // Of a pair given twice the last rank counts; here it puts "l l" after "he ll".
    d = small_hf_doc();
    d.merges.push_back({"l", "l"});
    CHECK(from_doc(d).merges().back() == std::pair<std::size_t, std::size_t>{'l', 'l'});

    // A token no merge reaches is found whole only with ignore_merges.
    d = small_hf_doc();
    d.vocab.push_back(gpt2_encode_bytes("xy"));  // 261
    d.added[0].id = 262;
    CHECK(from_doc(d).encode("xy", false, false) == std::vector<std::size_t>{'x', 'y'});
    d.ignore_merges = true;
    CHECK(from_doc(d).encode("xy", false, false) == std::vector<std::size_t>{261});
    CHECK(from_doc(d).find("<|end|>") == std::optional<std::size_t>(262));

    // Llama 3's Split + ByteLevel: the Llama 3 regex (digits in threes).
    d = small_hf_doc();
    d.pre_tokenizer = llama3_pre;
    CHECK(from_doc(d).pre() == pretokenizer::llama3);
    CHECK(from_doc(d).encode("1234", false, false) == std::vector<std::size_t>{'1', '2', '3', '4'});
    CHECK(split_pieces(pretokenizer::llama3, "1234").size() == 2);
    // GPT-2's regex in a Split, with ByteLevel not splitting again: GPT-2's.
    d.pre_tokenizer = R"json({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})json";
    CHECK(from_doc(d).pre() == pretokenizer::gpt2);
    d.pre_tokenizer = R"({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true})";  // use_regex defaults to true
    CHECK(from_doc(d).pre() == pretokenizer::gpt2);

    // An added token with "special": false is special here too (docs/tokenizers.md), and
    // user-defined in GGUF.
    d = small_hf_doc();
    d.added[0].special = false;
    const auto user = from_doc(d);
    CHECK(user.is_special(261));
    CHECK(user.encode("<|end|>", false, false).size() == 7);
    CHECK(user.encode("<|end|>", false, true) == std::vector<std::size_t>{261});
    const auto m = user.gguf_metadata();
    CHECK(std::get<std::int32_t>(std::get<io::gguf_array>(find_key(m, "tokenizer.ggml.token_type")->value).values[261].value) == 4);
}

TEST_CASE("tokenizer.json: BOS and EOS from the post-processor's template or tokenizer_config.json") {
    auto d = small_hf_doc();
    d.post_processor = bos_template("<|end|>", 261);
    const auto t = from_doc(d);
    CHECK(t.bos() == std::optional<std::size_t>(261));
    CHECK(!t.eos());
    CHECK(t.adds_bos());
    // Bare TemplateProcessing, a special token after $A (EOS), no special_tokens table.
    d.post_processor = R"({"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<|end|>", "type_id": 0}}], "pair": null, "special_tokens": {}})";
    CHECK(!from_doc(d).bos());
    CHECK(from_doc(d).eos() == std::optional<std::size_t>(261));
    CHECK(!from_doc(d).adds_bos());

    // tokenizer_config.json wins: strings or AddedToken objects, add_bos_token, chat_template.
    d.post_processor = bos_template("<|end|>", 261);
    const auto c = from_doc(d, R"({"add_bos_token": false, "bos_token": {"__type": "AddedToken", "content": "<|end|>", "lstrip": false},
                                   "eos_token": "hello", "chat_template": "{{ messages }}", "model_max_length": 1000000})");
    CHECK(c.bos() == std::optional<std::size_t>(261));
    CHECK(c.eos() == std::optional<std::size_t>(259));
    CHECK(!c.adds_bos());
    CHECK(c.chat_template() == std::optional<std::string>("{{ messages }}"));
    const auto listed = from_doc(d, R"({"bos_token": null, "chat_template": [{"name": "tool_use", "template": "a"}, {"name": "default", "template": "b"}]})");
    CHECK(listed.bos() == std::optional<std::size_t>(261));  // null: the template's
    CHECK(listed.adds_bos());
    CHECK(listed.chat_template() == std::optional<std::string>("b"));
    d.post_processor = "null";
    const auto gpt2_like = from_doc(d, R"({"bos_token": "<|end|>", "eos_token": "<|end|>"})");
    CHECK(gpt2_like.bos() == std::optional<std::size_t>(261));
    CHECK(gpt2_like.eos() == std::optional<std::size_t>(261));
    CHECK(!gpt2_like.adds_bos());  // nothing puts it first
    CHECK(from_doc(d, R"({"bos_token": "<|end|>", "add_bos_token": true})").adds_bos());

    // load_hf_json reads tokenizer_config.json beside the file when there is one.
    const temp_dir dir;
    dir.write("tokenizer.json", to_json(d));
    CHECK(!bpe_tokenizer::load_hf_json((dir.path / "tokenizer.json").string()).bos());
    dir.write("tokenizer_config.json", R"({"bos_token": "<|end|>", "add_bos_token": true, "chat_template": "x"})");
    const auto loaded = bpe_tokenizer::load_hf_json((dir.path / "tokenizer.json").string());
    CHECK(loaded.bos() == std::optional<std::size_t>(261));
    CHECK(loaded.adds_bos());
    CHECK(loaded.chat_template() == std::optional<std::string>("x"));
    CHECK(load_tokenizer(dir.path.string()).adds_bos());
    dir.write("tokenizer_config.json", R"({"bos_token": "<|nope|>"})");
    CHECK_THROWS_WITH_AS(bpe_tokenizer::load_hf_json((dir.path / "tokenizer.json").string()),
                         doctest::Contains("tokenizer_config.json: 'bos_token' is '<|nope|>'"), format_error);
}

TEST_CASE("malformed tokenizer.json files are format errors naming the file and the key") {
    const auto fails = [](const hf_doc& d, const char* message) {
        CAPTURE(message);
        CHECK_THROWS_WITH_AS(from_doc(d), doctest::Contains(message), format_error);
    };
    CHECK_NOTHROW(from_doc(small_hf_doc()));
    auto d = small_hf_doc();
    d.pre_tokenizer = R"json({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\p{L}+| ?\\p{N}"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})json";
    fails(d, "tokenizer.json: pre_tokenizer: the Split pattern '\\p{L}+| ?\\p{N}' is neither the Llama 3 nor the GPT-2 regex");
    d.pre_tokenizer = R"({"type": "Metaspace", "replacement": "▁"})";
    fails(d, "a 'Metaspace' step here is not supported");
    d.pre_tokenizer = R"({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true})";
    fails(d, "add_prefix_space true is not supported");
    d.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": [)" + llama3_split + "]}";
    fails(d, "pre_tokenizer has no ByteLevel step");
    d.pre_tokenizer = R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": false})";
    fails(d, "splits the text by no regex");
    d.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": [)" + llama3_split + ", " + gpt2_pre + "]}";
    fails(d, "both split the text");
    d.pre_tokenizer = "null";
    fails(d, "no pre_tokenizer");

    d = small_hf_doc();
    d.model_extra = "\"unused\": 0, ";
    CHECK_NOTHROW(from_doc(d));  // unknown members are ignored
    std::string text = to_json(d);
    text.replace(text.find("\"byte_fallback\": false"), 22, "\"byte_fallback\": true");
    CHECK_THROWS_WITH_AS(bpe_tokenizer::from_hf_json(text, "t.json"), doctest::Contains("t.json: model.byte_fallback is true"), format_error);
    text = to_json(small_hf_doc());
    text.replace(text.find("\"type\": \"BPE\""), 13, "\"type\": \"WordPiece\"");
    CHECK_THROWS_WITH_AS(bpe_tokenizer::from_hf_json(text, "t.json"), doctest::Contains("model.type is 'WordPiece'"), format_error);
    text = to_json(small_hf_doc());
    text.replace(text.find("\"vocab\""), 7, "\"vocabulary\"");
    CHECK_THROWS_WITH_AS(bpe_tokenizer::from_hf_json(text, "t.json"), doctest::Contains("t.json: 'model' has no key 'vocab'"), format_error);
    text = to_json(small_hf_doc());
    text.replace(text.find("\"normalizer\": null"), 18, R"("normalizer": {"type": "NFC"})");
    CHECK_THROWS_WITH_AS(bpe_tokenizer::from_hf_json(text, "t.json"), doctest::Contains("normalizer 'NFC' is not supported"), format_error);
    text = to_json(small_hf_doc());
    text.replace(text.find("\"dropout\": null"), 15, "\"dropout\": 0.1");
    CHECK_THROWS_WITH_AS(bpe_tokenizer::from_hf_json(text, "t.json"), doctest::Contains("model.dropout"), format_error);
    CHECK_THROWS_AS(bpe_tokenizer::from_hf_json("[]", "t.json"), format_error);
    CHECK_THROWS_AS(bpe_tokenizer::from_hf_json("{\"model\": ", "t.json"), format_error);

    d = small_hf_doc();
    text = to_json(d);
    text.replace(text.find("\"ll\": 257"), 9, "\"ll\": 256");  // "he" has 256 too
    CHECK_THROWS_WITH_AS(bpe_tokenizer::from_hf_json(text, "t.json"), doctest::Contains("model.vocab gives the id 256 to both 'he' and 'll'"),
                         format_error);
    text = to_json(d);
    text.replace(text.find("\"ll\": 257"), 9, "\"ll\": 262");  // nothing has 257
    CHECK_THROWS_WITH_AS(bpe_tokenizer::from_hf_json(text, "t.json"),
                         doctest::Contains("t.json: model.vocab['ll'] is 262, which leaves a gap: model.vocab and added_tokens "
                                           "have 262 entries, whose ids must be 0..n-1, each once"),
                         format_error);
    d.added[0].id = 262;  // a gap between the vocab and the added tokens
    fails(d, "added_tokens[0].id is 262, which leaves a gap");
    d.added[0].id = 0;
    text = to_json(d);
    text.replace(text.find("\"id\": 0"), 7, "\"id\": -1");
    CHECK_THROWS_WITH_AS(bpe_tokenizer::from_hf_json(text, "t.json"), doctest::Contains("added_tokens[0].id is not a token id"), format_error);
    d = small_hf_doc();
    d.vocab.push_back("<|end|>");  // 261 in the vocab too, as GPT-2's <|endoftext|> is: 262 ids for 263 entries
    CHECK(from_doc(d).find("<|end|>") == std::optional<std::size_t>(261));
    text = to_json(d);
    text.replace(text.find("\"ll\": 257"), 9, "\"ll\": 262");
    CHECK_THROWS_WITH_AS(bpe_tokenizer::from_hf_json(text, "t.json"),
                         doctest::Contains("no token has the id 257: the ids of model.vocab and added_tokens must be 0..262, each once"),
                         format_error);
    d = small_hf_doc();
    d.added.push_back({261, "<|other|>"});
    fails(d, "added_tokens gives the id 261 to two tokens");
    d = small_hf_doc();
    d.added[0].id = 259;  // "hello"'s id, another text
    fails(d, "added_tokens[0] '<|end|>' has the id 259 of model.vocab's 'hello'");
    d = small_hf_doc();
    d.added[0].content.clear();
    fails(d, "added_tokens[0] is empty");
    text = to_json(small_hf_doc());
    text.replace(text.find("\"lstrip\": false"), 15, "\"lstrip\": true");
    CHECK_THROWS_WITH_AS(bpe_tokenizer::from_hf_json(text, "t.json"), doctest::Contains("lstrip true is not supported"), format_error);

    d = small_hf_doc();
    d.merges.push_back({"h", "zz"});
    fails(d, "model.merges[5] 'h zz' refers to an unknown token");
    d = small_hf_doc();
    d.merges.push_back({"o", "x"});  // "ox" is no token
    fails(d, "model.merges[5] 'o x' refers to an unknown token");
    d = small_hf_doc();
    d.merges.push_back({"h e", "l"});  // three parts
    fails(d, "model.merges[5] 'h e l' is not 'left right'");
    d.pairs = true;
    fails(d, "model.merges[5] 'h e l' refers to an unknown token");
    d = small_hf_doc();
    d.vocab[300 - 40] = "raw space";  // not GPT-2's alphabet
    fails(d, "model.vocab['raw space'] is not a string in GPT-2's byte alphabet");
    d = small_hf_doc();
    d.vocab[256] = gpt2_encode_bytes("ll");  // the strict JSON parser refuses the repeated key
    fails(d, "duplicate key 'll'");
    d = small_hf_doc();
    d.vocab[65] = gpt2_encode_bytes("AA");  // no token for the byte 'A'
    d.merges.clear();
    fails(d, "no token for the byte 65");
    d = small_hf_doc();
    d.post_processor = bos_template("<|nope|>", 999);
    fails(d, "special token '<|nope|>' has the id 999");
    CHECK_THROWS_WITH_AS(from_doc(small_hf_doc(), R"({"chat_template": [{"name": "tool_use", "template": "a"}]})"),
                         doctest::Contains("tokenizer_config.json: 'chat_template' is a list without a template named 'default'"), format_error);
    CHECK_THROWS_WITH_AS(from_doc(small_hf_doc(), R"({"add_bos_token": "yes"})"), doctest::Contains("'add_bos_token' is a string"), format_error);
}

TEST_CASE("gguf_metadata: small tokenizers round-trip through a GGUF file") {
    // tiktoken: the merges derived from the ranks, BOS, EOS and add_bos carried over.
    const auto t = bpe_tokenizer::from_tiktoken(small_rank_file(), "small.tiktoken");
    CHECK(t.merges() == std::vector<std::pair<std::size_t, std::size_t>>{{'h', 'e'}, {'l', 'l'}, {256, 257}, {258, 'o'}});
    const auto m = t.gguf_metadata();
    CHECK(std::get<std::string>(find_key(m, "tokenizer.ggml.model")->value) == "gpt2");
    CHECK(std::get<std::string>(find_key(m, "tokenizer.ggml.pre")->value) == "llama-bpe");
    CHECK(string_values(*find_key(m, "tokenizer.ggml.merges")) == strs{"h e", "l l", "he ll", "hell o"});
    CHECK(string_values(*find_key(m, "tokenizer.ggml.tokens"))[' '] == gpt2_encode_bytes(" "));
    CHECK(string_values(*find_key(m, "tokenizer.ggml.tokens"))[260] == "<|begin_of_text|>");
    CHECK(std::get<std::uint32_t>(find_key(m, "tokenizer.ggml.bos_token_id")->value) == 260);
    CHECK(std::get<std::uint32_t>(find_key(m, "tokenizer.ggml.eos_token_id")->value) == 261);
    CHECK(std::get<bool>(find_key(m, "tokenizer.ggml.add_bos_token")->value));
    CHECK(find_key(m, "tokenizer.chat_template") == nullptr);
    std::vector<std::uint8_t> bytes;
    const auto back = through_gguf(m, bytes);
    CHECK(back.vocab_size() == t.vocab_size());
    CHECK(back.bos() == t.bos());
    CHECK(back.eos() == t.eos());
    CHECK(back.adds_bos());
    CHECK(back.pre() == pretokenizer::llama3);
    CHECK(back.merges() == t.merges());
    auto& rng = test::rng();
    for (int trial = 0; trial < 100; ++trial) {
        const std::string text = test::random_text(rng) + "hello<|eot_id|>hell";
        CAPTURE(text);
        CHECK(back.encode(text, false, true) == t.encode(text, false, true));
    }

    // tokenizer.json with a template, a config and a chat template.
    auto d = small_hf_doc();
    d.post_processor = bos_template("<|end|>", 261);
    const auto hf = from_doc(d, R"({"eos_token": "<|end|>", "chat_template": "{% for m in messages %}{{ m }}{% endfor %}"})");
    const auto hm = hf.gguf_metadata();
    CHECK(std::get<std::string>(find_key(hm, "tokenizer.ggml.pre")->value) == "gpt-2");
    CHECK(string_values(*find_key(hm, "tokenizer.ggml.merges")) == strs{"h e", "l l", "he ll", "hell o", gpt2_encode_bytes(" ") + " w"});
    const auto hback = through_gguf(hm, bytes);
    CHECK(hback.bos() == std::optional<std::size_t>(261));
    CHECK(hback.eos() == std::optional<std::size_t>(261));
    CHECK(hback.adds_bos());
    CHECK(hback.chat_template() == hf.chat_template());
    CHECK(hback.is_special(261));
    CHECK(hback.encode("hello world<|end|>", true, true) == hf.encode("hello world<|end|>", true, true));
    CHECK(through_gguf(hback.gguf_metadata(), bytes).gguf_metadata().size() == hm.size());

    // GGUF's own add_bos_token and chat template; the default follows the pre-tokenizer.
    auto v = small_vocab();
    CHECK(!from_vocab(v).adds_bos());  // GPT-2's regex: llama.cpp adds no BOS
    v.pre = "llama-bpe";
    CHECK(from_vocab(v).adds_bos());
    auto vm = from_vocab(small_vocab()).gguf_metadata();
    CHECK(!std::get<bool>(find_key(vm, "tokenizer.ggml.add_bos_token")->value));
    for (auto& [key, value] : vm) {
        if (key == "tokenizer.ggml.add_bos_token") value = io::gguf_value{true};
    }
    vm.emplace_back("tokenizer.chat_template", io::gguf_value{std::string("{{ bos_token }}")});
    const auto flagged = through_gguf(vm, bytes);
    CHECK(flagged.adds_bos());
    CHECK(flagged.chat_template() == std::optional<std::string>("{{ bos_token }}"));
    vm.back().second = io::gguf_value{std::uint32_t{3}};
    CHECK_THROWS_WITH_AS(through_gguf(vm, bytes), doctest::Contains("metadata 'tokenizer.chat_template' is a "), format_error);
}

namespace {

/// Llama 3's tokenizer.model, loaded once for the tests below.
const bpe_tokenizer& llama3_tiktoken() {
    static const bpe_tokenizer t = bpe_tokenizer::load_tiktoken((shared_data() / "tokenizers/llama3/tokenizer.model").string());
    return t;
}

void check_llama3_lists(const bpe_tokenizer& t) {
    test::check_vocab_lists(t, shared_data() / "tokenizers" / "llama3" / "ggml-vocab-llama-bpe.gguf", false);
}

/// Texts made of random Llama 3 tokens (half of them from the 28,000 added to cl100k), which
/// exercise merges ordinary text rarely does.
std::vector<std::string> random_token_texts(const bpe_tokenizer& t, std::size_t count) {
    std::mt19937_64 rng(2024);
    std::uniform_int_distribution<std::size_t> any(0, 127999), added(100000, 127999), length(1, 6);
    std::vector<std::string> texts(count);
    for (std::size_t k = 0; k < count; ++k) {
        for (std::size_t n = length(rng); n > 0; --n) texts[k] += t.token_bytes(k % 2 == 0 ? any(rng) : added(rng));
    }
    return texts;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("Llama 3: merges derived from the ranks, written to GGUF, reproduce llama.cpp's ids") {
    const auto data = shared_data();
    if (data.empty()) return;
    const auto& t = llama3_tiktoken();
    auto start = std::chrono::steady_clock::now();
    const auto merges = t.merges();
    MESSAGE("derived " << merges.size() << " merges from 128000 ranks in " << seconds_since(start) << " s");
    // As many as the official 2B4T GGUF has (formats.md 4.8): Hugging Face's converter makes
    // the same list.
    CHECK(merges.size() == 280147);
    CHECK(merges.front() == std::pair<std::size_t, std::size_t>{t.find(" ").value(), t.find(" ").value()});  // rank 256: "  "
    for (const auto& [left, right] : merges) REQUIRE(t.find(t.token_bytes(left) + t.token_bytes(right)).has_value());

    start = std::chrono::steady_clock::now();
    const auto m = t.gguf_metadata();
    std::vector<std::uint8_t> bytes;
    const auto g = through_gguf(m, bytes);
    MESSAGE("gguf_metadata, written and read back with from_gguf in " << seconds_since(start) << " s (" << bytes.size() << " bytes)");
    CHECK(g.vocab_size() == 128256);
    CHECK(g.pre() == pretokenizer::llama3);
    CHECK(g.bos() == std::optional<std::size_t>(128000));
    CHECK(g.eos() == std::optional<std::size_t>(128001));
    CHECK(g.adds_bos());
    CHECK(g.is_special(128009));
    CHECK(!g.is_special(127999));
    CHECK(g.find("<|eot_id|>") == std::optional<std::size_t>(128009));
    const auto tokens = string_values(*find_key(m, "tokenizer.ggml.tokens"));
    CHECK(tokens[220] == "\xC4\xA0");  // " " is "Ġ"
    CHECK(tokens[128000] == "<|begin_of_text|>");
    CHECK(string_values(*find_key(m, "tokenizer.ggml.merges")).front() == "\xC4\xA0 \xC4\xA0");
    check_llama3_lists(g);

    // The same ids as tiktoken's rule, also where ordinary text rarely goes.
    for (const auto& text : random_token_texts(t, 20000)) {
        const auto ids = g.encode(text, false, false);
        if (ids != t.encode(text, false, false)) {
            CAPTURE(text);
            CHECK(ids == t.encode(text, false, false));
        }
    }
    auto& rng = test::rng();
    for (int trial = 0; trial < 200; ++trial) {
        const std::string text = test::random_text(rng);
        CAPTURE(text);
        CHECK(g.encode(text, true, true) == t.encode(text, true, true));
    }
}

TEST_CASE("Llama 3 tokenizer.json (Split + ByteLevel, ignore_merges) reproduces llama.cpp's ids") {
    const auto data = shared_data();
    if (data.empty()) return;
    const auto& t = llama3_tiktoken();
    hf_doc d;
    for (std::size_t id = 0; id < 128000; ++id) d.vocab.push_back(gpt2_encode_bytes(t.token_bytes(id)));
    for (std::size_t id = 128000; id < 128256; ++id) d.added.push_back({id, t.token_bytes(id)});
    for (const auto& [left, right] : t.merges()) d.merges.emplace_back(d.vocab[left], d.vocab[right]);
    d.pre_tokenizer = llama3_pre;
    d.post_processor = bos_template("<|begin_of_text|>", 128000);
    d.ignore_merges = true;
    const std::string text = to_json(d);
    const auto start = std::chrono::steady_clock::now();
    const auto j = bpe_tokenizer::from_hf_json(text, "llama3/tokenizer.json", R"({"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"})");
    MESSAGE("read a " << text.size() << "-byte Llama 3 tokenizer.json in " << seconds_since(start) << " s");
    CHECK(j.vocab_size() == 128256);
    CHECK(j.pre() == pretokenizer::llama3);
    CHECK(j.bos() == std::optional<std::size_t>(128000));
    CHECK(j.eos() == std::optional<std::size_t>(128009));
    CHECK(j.adds_bos());
    CHECK(j.is_special(128255));
    check_llama3_lists(j);
    CHECK(j.encode("<|begin_of_text|>User: Hi<|eot_id|>", false, true) == t.encode("<|begin_of_text|>User: Hi<|eot_id|>", false, true));
    for (const auto& random : random_token_texts(t, 2000)) {
        const auto ids = j.encode(random, false, false);
        if (ids != t.encode(random, false, false)) {
            CAPTURE(random);
            CHECK(ids == t.encode(random, false, false));
        }
    }
    // Written to GGUF it is the tiktoken file's metadata, but for the EOS taken from the config.
    auto jm = j.gguf_metadata();
    auto tm = t.gguf_metadata();
    REQUIRE(jm.size() == tm.size());
    for (std::size_t i = 0; i < jm.size(); ++i) {
        CAPTURE(jm[i].first);
        CHECK(jm[i].first == tm[i].first);
        if (jm[i].first != "tokenizer.ggml.eos_token_id") CHECK(same_value(jm[i].second, tm[i].second));
    }
}

TEST_CASE("GPT-2: tokenizer.json from the GGUF vocabulary reproduces llama.cpp's ids; gguf_metadata gives the file back") {
    const auto data = shared_data();
    if (data.empty()) return;
    const auto path = data / "gguf-vocab" / "ggml-vocab-gpt-2.gguf";
    const auto file_bytes = io::read_file(path.string());
    const auto file = io::gguf_file::parse(file_bytes, path.string());
    const auto file_tokens = string_values(*file.find("tokenizer.ggml.tokens"));
    const auto file_merges = string_values(*file.find("tokenizer.ggml.merges"));

    // gguf_metadata of the GGUF tokenizer: the same tokens, types and merges as the file.
    const auto g = bpe_tokenizer::from_gguf(file, path.string());
    const auto m = g.gguf_metadata();
    CHECK(string_values(*find_key(m, "tokenizer.ggml.tokens")) == file_tokens);
    CHECK(string_values(*find_key(m, "tokenizer.ggml.merges")) == file_merges);
    CHECK(same_value(*find_key(m, "tokenizer.ggml.token_type"), *file.find("tokenizer.ggml.token_type")));
    CHECK(std::get<std::string>(find_key(m, "tokenizer.ggml.pre")->value) == "gpt-2");
    CHECK(std::get<std::uint32_t>(find_key(m, "tokenizer.ggml.bos_token_id")->value) == 50256);
    CHECK(std::get<std::uint32_t>(find_key(m, "tokenizer.ggml.eos_token_id")->value) == 50256);
    CHECK(!g.adds_bos());

    // GPT-2's tokenizer.json: the vocab has <|endoftext|> (50256), which is also its one added
    // token. Merges as lines, as pairs, and with \u escapes.
    hf_doc d;
    d.vocab = file_tokens;
    for (const auto& merge : file_merges) {
        const std::size_t space = merge.find(' ');
        d.merges.emplace_back(merge.substr(0, space), merge.substr(space + 1));
    }
    d.added = {{50256, "<|endoftext|>"}};
    d.pre_tokenizer = gpt2_pre;
    for (const bool pairs : {false, true}) {
        d.pairs = pairs;
        d.ascii = pairs;
        CAPTURE(pairs);
        const auto j = bpe_tokenizer::from_hf_json(to_json(d), "gpt2/tokenizer.json",
                                                   R"({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"})");
        CHECK(j.vocab_size() == 50257);
        CHECK(j.is_special(50256));
        CHECK(j.bos() == std::optional<std::size_t>(50256));
        CHECK(!j.adds_bos());
        test::check_vocab_lists(j, path, false);
        const auto jm = j.gguf_metadata();
        CHECK(string_values(*find_key(jm, "tokenizer.ggml.tokens")) == file_tokens);
        CHECK(string_values(*find_key(jm, "tokenizer.ggml.merges")) == file_merges);
        CHECK(same_value(*find_key(jm, "tokenizer.ggml.token_type"), *file.find("tokenizer.ggml.token_type")));
    }
}
