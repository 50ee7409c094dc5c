// SentencePiece BPE: small vocabularies built in memory as GGUF metadata and as protobuf .model
// files (merge order by score, byte fallback, the unknown token, special tokens, unused pieces,
// whitespace normalization), malformed files, and the real Llama 2 and Phi-3 vocabularies from
// ../shared/data against llama.cpp's expected ids (skipped when the folder is absent).

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ternary/io/gguf.hpp>
#include <ternary/tokenizer/llama2c.hpp>
#include <ternary/tokenizer/sentencepiece.hpp>

#include "spm_files.hpp"
#include "support.hpp"

using namespace ternary::tokenizer;
using test::read_text;
using test::shared_data;
using ternary::format_error;
using ternary::value_error;
namespace io = ternary::io;
namespace pb = test::spm;
using ids = std::vector<std::size_t>;

namespace {

constexpr std::string_view space = "\xE2\x96\x81";  // "▁"

/// The id of the byte token <0xHH> in tiny_vocab(): 4 + the byte.
constexpr std::size_t byte_token(unsigned char b) { return 4 + std::size_t{b}; }

struct gguf_vocab {
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<std::int32_t> types;
    std::string model = "llama";
    std::optional<std::uint32_t> bos = 1, eos = 2, unk = 0;
};

/// A vocabulary whose every result below is worked out by hand:
///   0 <unk> (unknown)   1 <s>, 2 </s> (control)   3 <|user|> (user-defined)
///   4..259 <0x00>..<0xFF> (byte)
///   260 ▁ -1   261 a -1   262 b -1   263 c -1   264 ab -3   265 bc -2   266 ▁a -4   267 ▁ab -5
///   268 ca -2   269 < -1   270 s -1   271 > -1   272 s> -1.5   273 bb (unused) -0.5   274 bbb -7
gguf_vocab tiny_vocab() {
    gguf_vocab v;
    const auto add = [&](std::string text, float score, std::int32_t type) {
        v.tokens.push_back(std::move(text));
        v.scores.push_back(score);
        v.types.push_back(type);
    };
    add("<unk>", 0, pb::unknown);
    add("<s>", 0, pb::control);
    add("</s>", 0, pb::control);
    add("<|user|>", 0, pb::user_defined);
    static constexpr char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) add(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">", 0, pb::byte);
    add(std::string(space), -1, pb::normal);
    for (const char* p : {"a", "b", "c"}) add(p, -1, pb::normal);
    add("ab", -3, pb::normal);
    add("bc", -2, pb::normal);
    add(std::string(space) + "a", -4, pb::normal);
    add(std::string(space) + "ab", -5, pb::normal);
    add("ca", -2, pb::normal);
    add("<", -1, pb::normal);
    add("s", -1, pb::normal);
    add(">", -1, pb::normal);
    add("s>", -1.5f, pb::normal);
    add("bb", -0.5f, pb::unused);
    add("bbb", -7, pb::normal);
    return v;
}

io::gguf_value strings(const std::vector<std::string>& values) {
    io::gguf_array array{io::gguf_type::string, {}};
    for (const auto& v : values) array.values.push_back({v});
    return {array};
}

std::vector<std::uint8_t> gguf_bytes(const gguf_vocab& v, const std::vector<std::pair<std::string, io::gguf_value>>& extra = {}) {
    io::gguf_writer w;
    w.add("tokenizer.ggml.model", {v.model});
    w.add("tokenizer.ggml.tokens", strings(v.tokens));
    io::gguf_array scores{io::gguf_type::f32, {}}, types{io::gguf_type::i32, {}};
    for (auto s : v.scores) scores.values.push_back({s});
    for (auto t : v.types) types.values.push_back({t});
    w.add("tokenizer.ggml.scores", {scores});
    w.add("tokenizer.ggml.token_type", {types});
    if (v.bos) w.add("tokenizer.ggml.bos_token_id", {*v.bos});
    if (v.eos) w.add("tokenizer.ggml.eos_token_id", {*v.eos});
    if (v.unk) w.add("tokenizer.ggml.unknown_token_id", {*v.unk});
    for (const auto& [key, value] : extra) w.add(key, value);
    return w.bytes();
}

spm_tokenizer from_vocab(const gguf_vocab& v, const std::vector<std::pair<std::string, io::gguf_value>>& extra = {}) {
    const auto bytes = gguf_bytes(v, extra);
    return spm_tokenizer::from_gguf(io::gguf_file::parse(bytes, "tiny.gguf"), "tiny.gguf");
}

/// The same vocabulary as a .model file.
pb::model as_model(const gguf_vocab& v, bool byte_fallback) {
    pb::model m;
    for (std::size_t i = 0; i < v.tokens.size(); ++i) m.pieces.push_back({v.tokens[i], v.scores[i], v.types[i]});
    m.byte_fallback = byte_fallback;
    return m;
}

spm_tokenizer from_proto(const pb::bytes& bytes) { return spm_tokenizer::from_model_proto(bytes, "tiny.model"); }
spm_tokenizer from_proto(const pb::model& m) { return from_proto(pb::model_proto(m)); }

}  // namespace

TEST_CASE("SentencePiece: words merge apart unless a piece spans a space") {
    // The tiny vocabulary has no piece with "▁" after another character, so words can be
    // merged one at a time: "c b" is ▁ c | ▁ b.
    CHECK(from_vocab(tiny_vocab()).encode("c b", false, false) == ids{260, 263, 260, 262});
    // With "c▁" (275, the best score) a merge crosses into the next word: ▁ c▁ b.
    auto v = tiny_vocab();
    v.tokens.push_back("c" + std::string(space));
    v.scores.push_back(-0.1f);
    v.types.push_back(pb::normal);
    CHECK(from_vocab(v).encode("c b", false, false) == ids{260, 275, 262});
    CHECK(from_vocab(v).encode("ab c b", false, false) == ids{267, 260, 275, 262});
}

TEST_CASE("SentencePiece: merges go by score, highest first, leftmost on ties") {
    for (const auto& t : {from_vocab(tiny_vocab()), from_proto(as_model(tiny_vocab(), true))}) {
        CHECK(t.vocab_size() == 275);
        CHECK(t.add_space_prefix());
        CHECK(t.byte_fallback());
        CHECK(t.bos() == std::optional<std::size_t>(1));
        CHECK(t.eos() == std::optional<std::size_t>(2));
        CHECK(t.unk() == std::optional<std::size_t>(0));
        // "▁abc": bc (-2) beats ab (-3) though it is further right, then ▁a (-4).
        CHECK(t.encode("abc", false, false) == ids{266, 265});
        // "▁ab": ab (-3) first, then ▁ab (-5).
        CHECK(t.encode("ab", false, false) == ids{267});
        // "▁bca": bc and ca tie at -2: the left one wins.
        CHECK(t.encode("bca", false, false) == ids{260, 265, 261});
        // A leading space is a second "▁" after the dummy prefix.
        CHECK(t.encode(" a", false, false) == ids{260, 266});
        CHECK(t.encode("", false, false).empty());
        CHECK(t.encode("", true, false) == ids{1});
        CHECK(t.encode("ab", true, false) == ids{1, 267});
        // An unused piece is merged through (bb, then bbb) but split back when it is left over.
        CHECK(t.encode("bbb", false, false) == ids{260, 274});
        CHECK(t.encode("bb", false, false) == ids{260, 262, 262});
        CHECK(t.find(std::string(space) + "ab") == std::optional<std::size_t>(267));
        CHECK(t.find("<0x41>") == std::optional<std::size_t>(byte_token('A')));
        CHECK_FALSE(t.find(" ab").has_value());
        CHECK(t.piece(266) == std::string(space) + "a");
        CHECK(t.score(272) == -1.5f);
        CHECK(t.type(273) == spm_piece_type::unused);
    }
}

TEST_CASE("SentencePiece: byte fallback, invalid UTF-8 and what tokens decode to") {
    const auto t = from_vocab(tiny_vocab());
    // "é" has no piece: its two bytes become <0xC3> <0xA9>.
    CHECK(t.encode("a\xC3\xA9", false, false) == ids{266, byte_token(0xC3), byte_token(0xA9)});
    CHECK(t.decode(ids{266, byte_token(0xC3), byte_token(0xA9)}) == "a\xC3\xA9");
    // Invalid UTF-8: each bad byte is a character of its own and falls back to its byte token.
    CHECK(t.encode("a\xFF", false, false) == ids{266, byte_token(0xFF)});
    CHECK(t.encode("\xC3(", false, false) == ids{260, byte_token(0xC3), byte_token('(')});
    CHECK(t.decode(t.encode("\xC3(", false, false)) == "\xC3(");
    // A lead byte cut short by the end of the text (an exact-size buffer: ASan sees any overread).
    const std::string cut = "ab\xE4\xB8";
    CHECK(t.encode(std::string_view(cut.data(), cut.size()), false, false) == ids{267, byte_token(0xE4), byte_token(0xB8)});

    CHECK(t.token_bytes(266) == " a");
    CHECK(t.token_bytes(260) == " ");
    CHECK(t.token_bytes(byte_token('A')) == "A");
    CHECK(t.token_bytes(byte_token(0)) == std::string(1, '\0'));
    CHECK(t.token_bytes(1) == "<s>");
    CHECK(t.token_bytes(3) == "<|user|>");
    CHECK(t.token_bytes(0) == "<unk>");
    CHECK_THROWS_AS(t.token_bytes(275), value_error);
    CHECK_THROWS_AS(t.is_special(275), value_error);
    CHECK_THROWS_AS(t.decode(ids{1, 275}), value_error);
    // decode drops the dummy prefix: the leading space of the first token that is not special.
    CHECK(t.decode(ids{266}) == "a");
    CHECK(t.decode(ids{260, 266}) == " a");
    CHECK(t.decode(ids{1, 266}) == "<s>a");
    CHECK(t.decode(ids{1, 3, 266, 266}) == "<s><|user|>a a");
    CHECK(t.decode(ids{}).empty());
}

TEST_CASE("SentencePiece: special tokens only with allow_special") {
    const auto t = from_vocab(tiny_vocab());
    CHECK(t.is_special(1));
    CHECK(t.is_special(3));
    CHECK_FALSE(t.is_special(0));
    CHECK_FALSE(t.is_special(byte_token('a')));
    CHECK_FALSE(t.is_special(261));
    // Each stretch of text around a special token gets its own dummy prefix (llama.cpp).
    CHECK(t.encode("<|user|>ab</s>", false, true) == ids{3, 267, 2});
    CHECK(t.encode("<s>ab", false, true) == ids{1, 267});
    CHECK(t.encode("ab<s>ab", false, true) == ids{267, 1, 267});
    CHECK(t.decode(ids{1, 267}) == "<s>ab");
    // Only the first dummy prefix is dropped by decode, as in llama.cpp.
    CHECK(t.decode(ids{267, 1, 267}) == "ab<s> ab");
    // Without allow_special it is ordinary text: "▁<|user|>ab</s>" merges s> and ab only.
    const ids ordinary = {260,           269, byte_token('|'), byte_token('u'), 270, byte_token('e'), byte_token('r'),
                          byte_token('|'), 271, 264,           269,             byte_token('/'), 272};
    CHECK(t.encode("<|user|>ab</s>", false, false) == ordinary);
    CHECK(t.decode(ordinary) == "<|user|>ab</s>");
    // Merging never forms a control piece: "<" + "s>" is the text of <s>, but stays two tokens.
    CHECK(t.encode("<s>", false, false) == ids{260, 269, 272});
    CHECK(t.encode("<s>", false, true) == ids{1});
}

TEST_CASE("SentencePiece: the unknown token without byte fallback; whitespace normalization") {
    const auto m = pb::small_model();
    const auto t = from_proto(m);
    CHECK_FALSE(t.byte_fallback());
    CHECK_FALSE(t.remove_extra_whitespaces());
    // "▁aééb": a run of unknown characters is one <unk>, as sentencepiece does.
    CHECK(t.encode("a\xC3\xA9\xC3\xA9" "b", false, false) == ids{3, 4, 0, 5});
    CHECK(t.encode("\xC3\xA9" "a\xC3\xA9", false, false) == ids{3, 0, 4, 0});
    CHECK(t.encode("a\xFF\xFE" "b", false, false) == ids{3, 4, 0, 5});
    CHECK(t.encode("ab", false, false) == ids{3, 6});
    CHECK(t.encode("  a", false, false) == ids{3, 3, 3, 4});
    CHECK(t.decode(ids{3, 4, 0, 5}) == "a<unk>b");

    auto normalizing = m;
    normalizing.remove_extra_whitespaces = true;
    const auto n = from_proto(normalizing);
    CHECK(n.remove_extra_whitespaces());
    // Leading and trailing spaces go, runs of spaces become one.
    CHECK(n.encode("  a   b  ", false, false) == ids{3, 4, 3, 5});
    CHECK(n.encode("a b", false, false) == ids{3, 4, 3, 5});
    CHECK(n.encode("   ", false, false).empty());
    CHECK(n.encode("\ta", false, false) == ids{3, 0, 4});  // only U+0020 is a space here

    auto no_prefix = m;
    no_prefix.add_dummy_prefix = false;
    const auto p = from_proto(no_prefix);
    CHECK_FALSE(p.add_space_prefix());
    CHECK(p.encode("ab", false, false) == ids{6});
    CHECK(p.encode(" ab", false, false) == ids{3, 6});
    CHECK(p.decode(ids{3, 6}) == " ab");

    // add_bos without a BOS token.
    auto no_bos = m;
    no_bos.bos_id = -1;
    const auto b = from_proto(no_bos);
    CHECK_FALSE(b.bos().has_value());
    CHECK_FALSE(b.adds_bos());
    CHECK(b.encode("a", false, false) == ids{3, 4});
    CHECK_THROWS_AS(b.encode("a", true, false), value_error);
}

TEST_CASE("SentencePiece .model: malformed protobuf is a format error, never a crash") {
    const pb::bytes good = pb::model_proto(pb::small_model());
    CHECK_NOTHROW(from_proto(good));

    // Every prefix (an exact-size copy, so ASan sees any overread) loads or is a format_error.
    std::size_t refused = 0;
    for (std::size_t k = 0; k < good.size(); ++k) {
        CAPTURE(k);
        const pb::bytes prefix(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(k));
        try {
            const auto t = from_proto(prefix);
            CHECK(t.decode(t.encode("ab a", true, true)) == "<s>ab a");
        } catch (const format_error&) {
            ++refused;
        }
    }
    CHECK(refused > good.size() / 2);
    // Each byte replaced by a few values: a model that works, or a format_error.
    for (std::size_t k = 0; k < good.size(); ++k) {
        for (const int value : {0x00, 0x01, 0x7F, 0x80, 0xFF, good[k] ^ 0x04}) {
            pb::bytes corrupt = good;
            corrupt[k] = static_cast<std::uint8_t>(value);
            try {
                const auto t = from_proto(corrupt);
                (void)t.decode(t.encode("ab \xC3\xA9<s>", false, true));
            } catch (const format_error&) {
            }
        }
    }

    const auto refuses = [](const pb::bytes& bytes, const char* text) {
        CAPTURE(text);
        CHECK_THROWS_WITH_AS(from_proto(bytes), doctest::Contains(text), format_error);
    };
    const auto with = [&](std::initializer_list<std::uint8_t> extra) {
        pb::bytes b = good;
        b.insert(b.end(), extra);
        return b;
    };
    refuses({}, "no pieces");
    refuses(with({0x0F}), "wire type 7");                                // field 1, wire type 7
    refuses(with({0x0E}), "wire type 6");
    refuses(with({0x08, 0x01}), "has wire type varint, not length-delimited");  // pieces as a varint
    refuses(with({0x0A, 0x05, 'a'}), "past the end of the ModelProto");
    refuses(with({0x02, 0x00}), "field number 0");
    refuses(with({0x4C}), "end-group tag");                              // field 9 ends a group never started
    refuses(with({0x4B, 0x48, 0x01}), "has no end");                     // field 9 group, unterminated
    refuses(with({0x4B, 0x54}), "ends with the end-group tag of field 10");
    refuses(with({0x48, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), "longer than 10 bytes");
    refuses(with({0x48, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02}), "over 64 bits");
    refuses(with({0x48, 0xFF}), "truncated");
    refuses(with({0x4D, 0x01, 0x02}), "truncated: a fixed32 field");
    refuses(with({0x49, 0x01}), "truncated: a fixed64 field");
    // A piece whose inner length fits the file but not the piece message.
    refuses(with({0x0A, 0x03, 0x0A, 0x05, 'a', 'b', 'c', 'd', 'e'}), "past the end of the SentencePiece 7");
    // A score that is not a fixed32; an undefined piece type.
    refuses(with({0x0A, 0x05, 0x0A, 0x01, 'x', 0x10, 0x01}), "(score) has wire type varint, not fixed32");
    refuses(with({0x0A, 0x05, 0x0A, 0x01, 'x', 0x18, 0x09}), "piece type 9");

    // Unknown fields of every wire type, including a nested group, are skipped.
    const auto skipped = from_proto(with({0x48, 0x96, 0x01,                                    // field 9 varint
                                          0x51, 1, 2, 3, 4, 5, 6, 7, 8,                        // field 10 fixed64
                                          0x5A, 0x02, 'h', 'i',                                // field 11 bytes
                                          0x65, 1, 2, 3, 4,                                    // field 12 fixed32
                                          0x6B, 0x08, 0x01, 0x73, 0x74, 0x6C}));              // group 13 { 1: 1, group 14 {} }
    CHECK(skipped.encode("ab", false, false) == ids{3, 6});

    // What the model says that is not implemented or not consistent.
    auto m = pb::small_model();
    m.model_type = 1;
    refuses(pb::model_proto(m), "UNIGRAM");
    m = pb::small_model();
    m.charsmap = "\x01\x02\x03";
    m.normalizer_name = "nmt_nfkc";
    refuses(pb::model_proto(m), "precompiled character map");
    m = pb::small_model();
    m.byte_fallback = true;  // without byte pieces
    refuses(pb::model_proto(m), "0 of the 256 byte pieces");
    m = pb::small_model();
    m.bos_id = 7;
    refuses(pb::model_proto(m), "bos_id = 7");
    m = pb::small_model();
    m.unk_id = -1;  // and no byte fallback
    refuses(pb::model_proto(m), "neither byte fallback nor an unknown token");
    m = pb::small_model();
    m.pieces[5].text = "a";
    refuses(pb::model_proto(m), "repeats piece 4");
    m = pb::small_model();
    m.pieces[5].text.clear();
    refuses(pb::model_proto(m), "piece 5 is empty");
    pb::bytes trainer_int;  // unk_id = 2^40 is no int32
    pb::put_varint_field(trainer_int, 40, std::uint64_t{1} << 40);
    pb::bytes b = good;
    pb::put_bytes_field(b, 2, trainer_int);
    refuses(b, "is not an int32");
    pb::bytes suffix;  // treat_whitespace_as_suffix
    pb::put_varint_field(suffix, 24, 1);
    b = good;
    pb::put_bytes_field(b, 2, suffix);
    refuses(b, "treat_whitespace_as_suffix");
    pb::bytes escape;  // escape_whitespaces = false
    pb::put_varint_field(escape, 5, 0);
    b = good;
    pb::put_bytes_field(b, 3, escape);
    refuses(b, "escape_whitespaces");
}

TEST_CASE("SentencePiece GGUF: malformed vocabularies are format errors") {
    CHECK_NOTHROW(from_vocab(tiny_vocab()));
    const auto refuses = [](const gguf_vocab& v, const char* text) {
        CAPTURE(text);
        CHECK_THROWS_WITH_AS(from_vocab(v), doctest::Contains(text), format_error);
    };
    auto v = tiny_vocab();
    v.model = "gpt2";
    refuses(v, "not SentencePiece's 'llama'");
    v = tiny_vocab();
    v.scores.pop_back();
    refuses(v, "'tokenizer.ggml.scores' has 274 elements, not 275");
    v = tiny_vocab();
    v.types.push_back(1);
    refuses(v, "'tokenizer.ggml.token_type' has 276 elements");
    v = tiny_vocab();
    v.bos = 275;
    refuses(v, "tokenizer.ggml.bos_token_id");
    v = tiny_vocab();
    v.types[261] = 7;
    refuses(v, "token_type 7");
    v = tiny_vocab();
    v.types[261] = 0;
    refuses(v, "token_type 0");
    v = tiny_vocab();
    v.tokens[262] = "a";
    refuses(v, "repeats piece 261");
    v = tiny_vocab();
    v.tokens[262].clear();
    refuses(v, "is empty");
    v = tiny_vocab();
    v.types[4 + 'A'] = pb::normal;  // 255 byte tokens
    refuses(v, "byte tokens for only 255 of the 256 bytes");
    v = tiny_vocab();
    v.tokens[4 + 'A'] = "<0xZZ>";
    refuses(v, "is not <0xHH>");
    v = tiny_vocab();
    v.scores[261] = std::numeric_limits<float>::quiet_NaN();
    refuses(v, "NaN score");
    v = tiny_vocab();
    v.tokens.clear();
    v.scores.clear();
    v.types.clear();
    refuses(v, "tokenizer.ggml.tokens has no tokens");
    // No byte tokens at all: the unknown token, which must then exist.
    v = tiny_vocab();
    for (int b = 0; b < 256; ++b) v.types[static_cast<std::size_t>(4 + b)] = pb::normal;
    CHECK(from_vocab(v).encode("\xC3\xA9", false, false) == ids{260, 0});
    v.unk.reset();
    refuses(v, "neither byte fallback nor an unknown token");
    // Keys of the wrong type.
    CHECK_THROWS_WITH_AS(from_vocab(tiny_vocab(), {{"tokenizer.ggml.add_space_prefix", {std::uint32_t{1}}}}),
                         doctest::Contains("'tokenizer.ggml.add_space_prefix' is a u32, not a bool"), format_error);
    io::gguf_writer w;
    w.add("tokenizer.ggml.model", {std::string("llama")});
    w.add("tokenizer.ggml.tokens", strings({"a"}));
    io::gguf_array i32_scores{io::gguf_type::i32, {{std::int32_t{0}}}};
    w.add("tokenizer.ggml.scores", {i32_scores});
    const auto bytes = w.bytes();
    CHECK_THROWS_WITH_AS(spm_tokenizer::from_gguf(io::gguf_file::parse(bytes, "x.gguf"), "x.gguf"),
                         doctest::Contains("x.gguf: 'tokenizer.ggml.scores' is an array of i32, not of f32"), format_error);
    // Optional keys: -1 means none; add_space_prefix and add_bos_token are read.
    v = tiny_vocab();
    v.eos.reset();
    const auto t = from_vocab(v, {{"tokenizer.ggml.add_space_prefix", {false}},
                                  {"tokenizer.ggml.add_bos_token", {false}},
                                  {"tokenizer.ggml.padding_token_id", {std::int32_t{-1}}}});
    CHECK_FALSE(t.eos().has_value());
    CHECK_FALSE(t.add_space_prefix());
    CHECK_FALSE(t.adds_bos());
    CHECK(t.encode("ab", false, false) == ids{264});
    v = tiny_vocab();
    v.unk.reset();
    CHECK(from_vocab(v, {{"tokenizer.ggml.unknown_token_id", {std::int32_t{-1}}}}).unk() == std::nullopt);
    CHECK_THROWS_WITH_AS(from_vocab(v, {{"tokenizer.ggml.unknown_token_id", {std::int32_t{-2}}}}),
                         doctest::Contains("unknown_token_id"), format_error);
}

TEST_CASE("Llama 2 GGUF vocabulary reproduces llama.cpp's ggml-vocab-llama-spm ids") {
    const auto data = shared_data();
    if (data.empty()) return;
    const auto dir = data / "tokenizers" / "llama2";
    const auto t = spm_tokenizer::load_gguf((dir / "ggml-vocab-llama-spm.gguf").string());
    CHECK(t.vocab_size() == 32000);
    CHECK(t.bos() == std::optional<std::size_t>(1));
    CHECK(t.eos() == std::optional<std::size_t>(2));
    CHECK(t.unk() == std::optional<std::size_t>(0));
    CHECK(t.add_space_prefix());
    CHECK(t.byte_fallback());
    CHECK_FALSE(t.remove_extra_whitespaces());
    CHECK(t.adds_bos());
    // "Hello world" is 15043 3186 in the .out file.
    CHECK(t.find(std::string(space) + "Hello") == std::optional<std::size_t>(15043));
    CHECK(t.find(std::string(space) + "world") == std::optional<std::size_t>(3186));
    CHECK(t.token_bytes(15043) == " Hello");
    CHECK(t.token_bytes(13) == "\n");  // <0x0A>
    CHECK(t.is_special(1));
    CHECK_FALSE(t.is_special(0));  // <unk> is UNKNOWN, not CONTROL, in Llama 2

    test::check_vocab_lists(t, dir / "ggml-vocab-llama-spm.gguf");

    // Round trips: random valid UTF-8 (also after leading spaces), with and without BOS.
    auto& rng = test::rng();
    for (int trial = 0; trial < 300; ++trial) {
        const std::string text = test::random_text(rng);
        CAPTURE(text);
        const auto encoded = t.encode(text, true, false);
        REQUIRE(!encoded.empty());
        CHECK(encoded.front() == 1);
        CHECK(t.decode(std::span(encoded).subspan(1)) == text);
        CHECK(t.decode(encoded) == "<s>" + text);  // BOS decodes to its text
        for (const char* lead : {" ", "  ", "\n "}) {
            const std::string spaced = lead + text;
            CHECK(t.decode(t.encode(spaced, false, false)) == spaced);
        }
    }
    // Arbitrary bytes (mostly invalid UTF-8) encode, and byte fallback gives them back.
    std::uniform_int_distribution<int> byte(0, 255), length(0, 24);
    for (int trial = 0; trial < 300; ++trial) {
        std::string text(static_cast<std::size_t>(length(rng)), '\0');
        for (auto& ch : text) ch = static_cast<char>(byte(rng));
        if (text.find(space) != std::string::npos) continue;  // U+2581 itself decodes as a space
        CAPTURE(text);
        CHECK(t.decode(t.encode(text, false, false)) == text);
    }
    // The texts of control pieces are ordinary text unless allowed.
    CHECK(t.encode("<s>Hello", false, true) == ids{1, 15043});
    const auto plain = t.encode("<s>Hello", false, false);
    CHECK(std::find(plain.begin(), plain.end(), std::size_t{1}) == plain.end());
    CHECK(t.decode(plain) == "<s>Hello");
}

TEST_CASE("Llama 2 tokenizer.model: the same pieces as the GGUF file and the same ids") {
    const auto data = shared_data();
    if (data.empty()) return;
    const auto dir = data / "tokenizers" / "llama2";
    const auto m = spm_tokenizer::load_model((dir / "tokenizer.model").string());
    const auto g = spm_tokenizer::load_gguf((dir / "ggml-vocab-llama-spm.gguf").string());
    REQUIRE(m.vocab_size() == 32000);
    std::size_t differ = 0;
    for (std::size_t id = 0; id < m.vocab_size(); ++id) {
        if (m.piece(id) != g.piece(id) || m.score(id) != g.score(id) || m.type(id) != g.type(id)) ++differ;
    }
    CHECK(differ == 0);
    CHECK(m.bos() == g.bos());
    CHECK(m.eos() == g.eos());
    CHECK(m.unk() == g.unk());
    CHECK(m.add_space_prefix());
    CHECK_FALSE(m.remove_extra_whitespaces());  // Meta's normalizer: identity, no whitespace removal
    CHECK(m.byte_fallback());

    test::check_vocab_lists(m, dir / "ggml-vocab-llama-spm.gguf");

    // Written back as GGUF metadata, it reads as the same tokenizer.
    io::gguf_writer w;
    for (const auto& [key, value] : m.gguf_metadata()) w.add(key, value);
    const auto bytes = w.bytes();
    const auto back = spm_tokenizer::from_gguf(io::gguf_file::parse(bytes, "back.gguf"), "back.gguf");
    CHECK(back.vocab_size() == 32000);
    CHECK(back.bos() == m.bos());
    CHECK(back.adds_bos());
    test::check_vocab_lists(back, dir / "ggml-vocab-llama-spm.gguf", false);
}

TEST_CASE("Phi-3 GGUF vocabulary: Llama 2's pieces plus chat tokens, matched only with allow_special") {
    const auto data = shared_data();
    if (data.empty()) return;
    const auto t = spm_tokenizer::load_gguf((data / "gguf-vocab" / "ggml-vocab-phi-3.gguf").string());
    CHECK(t.vocab_size() == 32064);
    CHECK(t.bos() == std::optional<std::size_t>(1));
    CHECK(t.eos() == std::optional<std::size_t>(32000));  // <|endoftext|>
    REQUIRE(t.chat_template().has_value());
    CHECK(t.chat_template()->find("<|user|>") != std::string::npos);

    // Its first 32000 pieces are Llama 2's (only the types and scores of <unk>, <s>, </s>
    // differ), so ordinary text has Llama 2's ids from llama.cpp's .out file.
    const auto llama2 = data / "tokenizers" / "llama2";
    const auto l = spm_tokenizer::load_gguf((llama2 / "ggml-vocab-llama-spm.gguf").string());
    std::size_t differ = 0;
    for (std::size_t id = 3; id < 32000; ++id) {
        if (t.piece(id) != l.piece(id) || t.score(id) != l.score(id) || t.type(id) != l.type(id)) ++differ;
    }
    CHECK(differ == 0);
    test::check_vocab_lists(t, llama2 / "ggml-vocab-llama-spm.gguf", false);

    struct special {
        const char* text;
        std::size_t id;
        spm_piece_type type;
    };
    for (const special s : {special{"<|user|>", 32010, spm_piece_type::control}, {"<|assistant|>", 32001, spm_piece_type::control},
                            {"<|end|>", 32007, spm_piece_type::control}, {"<|system|>", 32006, spm_piece_type::control},
                            {"</s>", 2, spm_piece_type::user_defined}}) {
        CAPTURE(s.text);
        REQUIRE(t.find(s.text) == std::optional<std::size_t>(s.id));
        CHECK(t.type(s.id) == s.type);
        CHECK(t.is_special(s.id));
        CHECK(t.encode(s.text, false, true) == ids{s.id});
        const auto plain = t.encode(s.text, false, false);
        CHECK(plain.size() > 1);
        CHECK(std::find(plain.begin(), plain.end(), s.id) == plain.end());
        CHECK(t.decode(plain) == s.text);
    }
    // The text after a special token is encoded on its own, with its dummy prefix.
    const auto turn = t.encode("<|user|>\nHi<|end|>", true, true);
    auto expected_turn = ids{1, 32010};
    for (auto id : t.encode("\nHi", false, false)) expected_turn.push_back(id);
    expected_turn.push_back(32007);
    CHECK(turn == expected_turn);
    CHECK(t.decode(turn) == "<s><|user|>\nHi<|end|>");
    // The UNKNOWN-typed padding pieces decode to their text and are never produced from text.
    CHECK(t.token_bytes(32011) == "[PAD32011]");
    CHECK(t.type(32011) == spm_piece_type::unknown);
    const auto pad = t.encode("[PAD32011]", false, true);
    CHECK(std::find(pad.begin(), pad.end(), std::size_t{32011}) == pad.end());
}

TEST_CASE("llama2.c's tok512.model: whitespace normalization, and agreement with tok512.bin") {
    const auto data = shared_data();
    if (data.empty()) return;
    const auto dir = data / "models" / "stories260K";
    const auto t = spm_tokenizer::load_model((dir / "tok512.model").string());
    CHECK(t.vocab_size() == 512);
    CHECK(t.byte_fallback());
    CHECK(t.remove_extra_whitespaces());  // sentencepiece's default, kept by this model
    // remove_extra_whitespaces: leading, trailing and repeated spaces do not change the ids.
    const std::string story = "Once upon a time, there was a little girl named Lily.";
    const auto ids_of_story = t.encode(story, false, false);
    CHECK(t.encode("  Once upon   a time, there was a little girl named Lily.  ", false, false) == ids_of_story);
    CHECK(t.decode(ids_of_story) == story);
    // llama2.c's tokenizer.bin of the same model (its own encoder, which has no whitespace
    // normalization) gives the same ids for text without extra spaces.
    const auto l = llama2c_tokenizer::load((dir / "tok512.bin").string(), 512);
    CHECK(l.encode(story, false) == ids_of_story);
    const std::string sample = read_text(data / "text" / "tinystories_sample.txt");
    std::size_t lines = 0;
    for (std::size_t pos = 0; pos < sample.size();) {
        std::size_t end = sample.find('\n', pos);
        if (end == std::string::npos) end = sample.size();
        const std::string line = sample.substr(pos, end - pos);
        pos = end + 1;
        if (line.empty() || line.find("  ") != std::string::npos || line.front() == ' ' || line.back() == ' ') continue;
        CAPTURE(line);
        CHECK(t.encode(line, false, false) == l.encode(line, false));
        ++lines;
    }
    CHECK(lines > 10);
}
