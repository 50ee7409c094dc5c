// Byte-level BPE: UTF-8 decoding and Unicode classes, the Llama 3 and GPT-2 pre-tokenizer
// regexes matched by hand, small tokenizers built in memory (round trips, invalid UTF-8, special
// tokens, streaming, malformed files), and the real Llama 3 and GPT-2 vocabularies from
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
#include <ternary/tokenizer/unicode.hpp>

#include "support.hpp"

using namespace ternary::tokenizer;
using test::read_text;
using test::shared_data;
using ternary::format_error;
using ternary::value_error;
namespace io = ternary::io;

namespace {

/// llama.cpp's test strings: separated (and ended) by "\n__ggml_vocab_test__\n".
std::vector<std::string> test_strings(const std::string& text) {
    static constexpr std::string_view separator = "\n__ggml_vocab_test__\n";
    std::vector<std::string> out;
    std::size_t pos = 0;
    for (std::size_t end; (end = text.find(separator, pos)) != std::string::npos; pos = end + separator.size()) {
        out.push_back(text.substr(pos, end - pos));
    }
    return out;
}

/// One line of ids per test string.
std::vector<std::vector<std::size_t>> expected_ids(const std::string& text) {
    std::vector<std::vector<std::size_t>> out;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream numbers(line);
        std::vector<std::size_t> ids;
        for (std::size_t id; numbers >> id;) ids.push_back(id);
        out.push_back(ids);
    }
    return out;
}

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

/// Random valid UTF-8 from a pool of troublesome characters.
std::string random_text(std::mt19937_64& rng) {
    static const std::vector<std::string> pool = {
        "a", "Z", "q", "7", "0", " ", " ", "  ", "\n", "\r\n", "\t", ".", ",", "!", "'", "'s", "'LL", "-", "\"",
        "é", "ü", "ß", "Ñ", "ſ", "中", "文", "字", "日本", "한", "😀", "🎉", "🦙", "👩‍💻", "٣", "²", "\u00A0", "\u3000",
        "\u2028", "€", "$", "<|eot_id|>", "hello", " world", "The", "\x7F", "\u0085", "ǅ"};
    std::uniform_int_distribution<std::size_t> pick(0, pool.size() - 1), length(0, 40);
    std::string out;
    for (std::size_t n = length(rng); n > 0; --n) out += pool[pick(rng)];
    return out;
}

/// Whether text is all well-formed UTF-8.
bool valid_utf8(std::string_view text) {
    for (std::size_t pos = 0; pos < text.size();) {
        const auto c = decode_utf8(text, pos);
        if (c.code_point == replacement_character && text.substr(pos, 3) != "\xEF\xBF\xBD") return false;
        pos += c.length;
    }
    return true;
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
    CHECK(t.token_bytes(515) == "<|reserved_special_token_250|>");
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
            const std::string text = random_text(rng);
            CAPTURE(text);
            const auto ids = t.encode(text, false, false);
            REQUIRE(t.decode(ids) == text);
            // Streaming: every piece is whole characters and together they are the text.
            streaming_decoder stream(t);
            std::string streamed;
            for (const auto id : ids) {
                const std::string piece = stream.push(id);
                CHECK(valid_utf8(piece));
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

    const auto inputs = test_strings(read_text(dir / "ggml-vocab-llama-bpe.gguf.inp"));
    const auto expected = expected_ids(read_text(dir / "ggml-vocab-llama-bpe.gguf.out"));
    REQUIRE(inputs.size() == 46);
    REQUIRE(expected.size() == 46);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        CAPTURE(i);
        CAPTURE(inputs[i]);
        CHECK(t.encode(inputs[i], false, false) == expected[i]);
        CHECK(t.decode(expected[i]) == inputs[i]);
    }

    // The chat format's pieces (formats.md section 2).
    CHECK(t.encode("<|begin_of_text|>User: Hi<|eot_id|>", false, true).front() == 128000);
    CHECK(t.encode("<|begin_of_text|>User: Hi<|eot_id|>", false, true).back() == 128009);
    CHECK(t.encode("<|begin_of_text|>", false, false).size() > 1);

    auto& rng = test::rng();
    for (int trial = 0; trial < 300; ++trial) {
        const std::string text = random_text(rng);
        CAPTURE(text);
        const auto ids = t.encode(text, true, false);
        REQUIRE(t.decode(std::span(ids).subspan(1)) == text);
        streaming_decoder stream(t);
        std::string streamed;
        for (std::size_t k = 1; k < ids.size(); ++k) {
            const std::string piece = stream.push(ids[k]);
            CHECK(valid_utf8(piece));
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
    const auto inputs = test_strings(read_text(path.string() + ".inp"));
    const auto expected = expected_ids(read_text(path.string() + ".out"));
    REQUIRE(inputs.size() == expected.size());
    REQUIRE(inputs.size() == 46);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        CAPTURE(i);
        CAPTURE(inputs[i]);
        CHECK(t.encode(inputs[i], false, false) == expected[i]);
        CHECK(t.decode(expected[i]) == inputs[i]);
    }
    auto& rng = test::rng();
    for (int trial = 0; trial < 100; ++trial) {
        const std::string text = random_text(rng);
        CAPTURE(text);
        CHECK(t.decode(t.encode(text, false, false)) == text);
    }
}
