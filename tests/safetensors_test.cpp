// JSON (strict RFC 8259) and safetensors: valid documents and files, the writer against the
// reader and against a file assembled here by hand, and malformed input of every kind.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <ternary/io/half.hpp>
#include <ternary/io/json.hpp>
#include <ternary/io/safetensors.hpp>

#include "support.hpp"

using namespace ternary::io;

namespace {

json_value parse(std::string_view text) { return json_value::parse(text, "doc"); }

/// The bytes of a file: u64 little-endian length of header, header, data.
std::vector<std::uint8_t> file_of(std::string_view header, const std::vector<std::uint8_t>& data = {}) {
    std::vector<std::uint8_t> bytes;
    for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<std::uint8_t>(std::uint64_t{header.size()} >> (8 * i)));
    bytes.insert(bytes.end(), header.begin(), header.end());
    bytes.insert(bytes.end(), data.begin(), data.end());
    return bytes;
}

std::vector<std::uint8_t> counting_bytes(std::size_t n, unsigned step = 1) {
    std::vector<std::uint8_t> bytes(n);
    for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::uint8_t>(i * step + 1);
    return bytes;
}

/// A file with metadata and tensors of several dtypes and shapes (a scalar, an empty one).
std::vector<std::uint8_t> sample_file() {
    safetensors_writer w;
    w.metadata("format", "pt");
    w.metadata("note", "quotes \" and \\ and\nnewline, caf\xc3\xa9");
    w.add("model.embed_tokens.weight", safetensors_dtype::bf16, {3, 4}, counting_bytes(24));
    w.add("empty", safetensors_dtype::f32, {0, 4}, {});
    w.add("scale", safetensors_dtype::f32, {}, counting_bytes(4, 3));
    w.add("model.layers.0.mlp.down_proj.weight", safetensors_dtype::u8, {2, 5}, counting_bytes(10, 7));
    return w.bytes();
}

}  // namespace

TEST_CASE("JSON: scalars, numbers as double and as int64") {
    CHECK(parse("null").is_null());
    CHECK(parse(" true ").as_bool());
    CHECK_FALSE(parse("\t\r\nfalse\n").as_bool());
    CHECK(parse("0").as_int() == 0);
    CHECK(parse("-0").as_int() == 0);
    CHECK(parse("123").as_int<int>() == 123);
    CHECK(parse("123").as_number() == 123.0);
    CHECK(parse("-9223372036854775808").as_int() == INT64_MIN);
    CHECK(parse("9223372036854775807").as_int() == INT64_MAX);
    const auto big = parse("9223372036854775808");  // beyond int64: a number, not an integer
    CHECK(big.is_number());
    CHECK_FALSE(big.is_integer());
    CHECK(big.as_number() == 9223372036854775808.0);
    CHECK(parse("1.5").as_number() == 1.5);
    CHECK(parse("-2.5e-3").as_number() == -0.0025);
    CHECK(parse("1E+2").as_number() == 100.0);
    CHECK_FALSE(parse("1E+2").is_integer());
    CHECK_FALSE(parse("1.0").is_integer());
    CHECK(parse("1e-05").as_number() == 1e-05);
    CHECK(parse("5e-324").as_number() == 5e-324);          // the least subnormal
    CHECK(parse("1e-400").as_number() == 0.0);             // underflows to zero
    CHECK(parse("1.7976931348623157e308").as_number() == 1.7976931348623157e308);
    CHECK(parse("0.1").as_number() == 0.1);                // correctly rounded
    CHECK(parse("500000.0").as_number() == 500000.0);
}

TEST_CASE("JSON: strings, escapes, surrogate pairs and raw UTF-8") {
    CHECK(parse(R"("")").as_string().empty());
    CHECK(parse(R"("\"\\\/\b\f\n\r\t")").as_string() == "\"\\/\b\f\n\r\t");
    CHECK(parse(R"("\u0041\u00e9\u20AC")").as_string() == "A\xc3\xa9\xe2\x82\xac");
    CHECK(parse(R"("\uD83D\uDE00")").as_string() == "\xf0\x9f\x98\x80");  // U+1F600
    CHECK(parse(R"("\udbff\udfff")").as_string() == "\xf4\x8f\xbf\xbf");  // U+10FFFF
    CHECK(parse(R"("\u0000")").as_string() == std::string(1, '\0'));
    const std::string raw = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f";  // 2, 3 and 4 bytes, DEL
    CHECK(parse('"' + raw + '"').as_string() == raw);
    CHECK(parse(R"("a\nb")").as_string().size() == 3);
}

TEST_CASE("JSON: arrays and objects keep their order; accessors name the key") {
    const auto doc = parse(R"({
        "architectures": ["BitNetForCausalLM"],
        "hidden_size": 2560,
        "rms_norm_eps": 1e-05,
        "rope_theta": 500000.0,
        "tie_word_embeddings": true,
        "rope_scaling": null,
        "quantization_config": {"linear_class": "autobitlinear", "quant_method": "bitnet"},
        "empty": {}, "nothing": []
    })");
    REQUIRE(doc.is_object());
    CHECK(doc.size() == 9);
    const auto members = doc.members();
    CHECK(members[0].key() == "architectures");
    CHECK(members[8].key() == "nothing");
    CHECK(doc.at("architectures").at(0).as_string() == "BitNetForCausalLM");
    CHECK(doc.at("hidden_size").as_int<std::uint32_t>() == 2560);
    CHECK(doc.at("rms_norm_eps").as_number() == 1e-05);
    CHECK(doc.at("rope_theta").as_number() == 500000.0);
    CHECK(doc.at("tie_word_embeddings").as_bool());
    CHECK(doc.at("rope_scaling").is_null());
    CHECK(doc.at("quantization_config").at("linear_class").as_string() == "autobitlinear");
    CHECK(doc.at("empty").size() == 0);
    CHECK(doc.at("nothing").as_array().empty());
    CHECK(doc.find("absent") == nullptr);
    CHECK(doc.find("hidden_size")->offset() == std::string_view(R"({
        "architectures": ["BitNetForCausalLM"],
        "hidden_size": )").size());

    const auto refuse = [](const auto& f, const char* words) {
        CAPTURE(words);
        CHECK_THROWS_WITH_AS(f(), doctest::Contains(words), ternary::format_error);
    };
    refuse([&] { return doc.at("vocab_size"); }, "ternary: doc: the object has no key 'vocab_size' (at offset 0)");
    refuse([&] { return doc.at("hidden_size").as_string(); }, "'hidden_size' is a number, expected a string");
    refuse([&] { return doc.at("rope_theta").as_int(); }, "'rope_theta' is a number, expected an integer");
    refuse([&] { return doc.at("hidden_size").as_int<std::int8_t>(); }, "'hidden_size' is 2560, outside [-128, 127]");
    refuse([&] { return parse("-1").as_int<std::size_t>(); }, "the number is -1, outside [0, 18446744073709551615]");
    refuse([&] { return doc.at("architectures").at(1); }, "'architectures' has 1 elements, no element 1");
    refuse([&] { return doc.at("architectures").find("x"); }, "'architectures' is an array, expected an object");
    refuse([&] { return doc.at("rope_scaling").as_bool(); }, "'rope_scaling' is null, expected a boolean");
    refuse([&] { return doc.at("empty").as_array(); }, "'empty' is an object, expected an array");
    refuse([&] { return parse("1").size(); }, "is a number, expected an array or an object");
    refuse([&] { return json_value().as_number(); }, "ternary: json: the value is null");
}

TEST_CASE("JSON: nesting up to max_depth, and not one level more") {
    const auto nested = [](int depth, char open, char close) {
        std::string s;
        for (int i = 0; i < depth; ++i) s += open == '{' ? std::string("{\"k\":") : std::string(1, open);
        s += "1";
        for (int i = 0; i < depth; ++i) s += close;
        return s;
    };
    for (char open : {'[', '{'}) {
        const char close = open == '[' ? ']' : '}';
        auto v = parse(nested(json_value::max_depth, open, close));
        const json_value* inner = &v;
        for (int i = 0; i < json_value::max_depth; ++i) inner = open == '[' ? &inner->at(0) : &inner->at("k");
        CHECK(inner->as_int() == 1);
        CHECK_THROWS_WITH_AS(parse(nested(json_value::max_depth + 1, open, close)),
                             doctest::Contains("nested deeper than 128"), ternary::format_error);
    }
    // Far deeper than the stack would take: refused at the limit, not by a crash.
    CHECK_THROWS_AS(parse(std::string(1'000'000, '[')), ternary::format_error);
}

TEST_CASE("JSON: every invalid document is a format_error naming the source and the offset") {
    const std::vector<std::string> invalid = {
        "", " ", "nul", "tru", "True", "nulll", "[1,]", "[,1]", "[1 2]", "[1]]", "[", "[1", "[1,",
        "{", R"({"a")", R"({"a":)", R"({"a":1)", R"({"a":1,})", "{a:1}", "{'a':1}", R"({"a" 1})", R"({"a":})",
        R"({"a":1 "b":2})", R"({1:2})", R"({"a":1,"a":2})", R"({"x":{"b":[],"b":0}})",
        "01", "-01", "-", "-a", "1.", ".5", "1.e3", "1e", "1e+", "+1", "0x10", "NaN", "Infinity", "-Infinity",
        "1e400", "-1e400", "1 2", "\"abc", "\"\\", R"("\x")", R"("\u12")", R"("\u12G4")", R"("\U0041")",
        R"("\uD800")", R"("\uDC00")", R"("\uD800\u0041")", R"("\uD800x")", R"("\uDBFF\uDBFF")",
        "\"a\x01b\"", "\"\t\"", "\"\n\"", "\"\x1f\"",
        "\"\xff\"", "\"\x80\"", "\"\xc0\xaf\"", "\"\xc1\xbf\"", "\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"",
        "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"", "\"\xe2\x82\"", "\"\xe2\x82", "\"\xf0\x9f\x98\"",
        "\xef\xbb\xbf{}", "/*c*/1", "1 // c", "[1e400]", "\xc3\xa9", std::string("1\0", 2), std::string("\"\0\"", 3),
        "'a'", "[\"a\",]", "{\"a\":1}{}", "\x0c" "1",
    };
    for (const auto& text : invalid) {
        CAPTURE(text);
        CHECK_THROWS_WITH_AS(parse(text), doctest::Contains("ternary: doc: "), ternary::format_error);
    }
    const auto message = [](std::string_view text, std::size_t base = 0) {
        try {
            json_value::parse(text, "doc", base);
        } catch (const ternary::format_error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(message("[1,]") == "ternary: doc: expected a value, found ']' (at offset 3)");
    CHECK(message("[1,]", 100) == "ternary: doc: expected a value, found ']' (at offset 103)");
    CHECK(message(R"({"a":1 "b":2})") == "ternary: doc: expected ',' or '}' after an object member, found '\"' (at offset 7)");
    CHECK(message(R"({"a":{"k":1,"k":2}})") == "ternary: doc: duplicate key 'k' in the object (at offset 5)");
    CHECK(message("\"ab\x01\"") == "ternary: doc: control character byte 0x01 in a string (it must be escaped) (at offset 3)");
    CHECK(message("\"ab\xc3(\"") == "ternary: doc: invalid UTF-8 in a string (at offset 3)");
    CHECK(message(R"("\uD800")") == "ternary: doc: a high surrogate \\u escape without a low one after it (at offset 1)");
    CHECK(message("1e999") == "ternary: doc: the number 1e999 does not fit a double (at offset 0)");
    CHECK(message("12 x") == "ternary: doc: expected the end of the input after the value, found 'x' (at offset 3)");
    CHECK(message("\"abc") == "ternary: doc: unterminated string (at offset 0)");
}

TEST_CASE("JSON: json_quote writes what the parser reads back") {
    std::string all;
    for (int c = 1; c < 128; ++c) all += static_cast<char>(c);
    all += std::string(1, '\0') + "caf\xc3\xa9 \xf0\x9f\x98\x80";
    const std::string quoted = json_quote(all);
    CHECK(parse(quoted).as_string() == all);
    CHECK(json_quote("a\"b\\c\n\x01") == R"("a\"b\\c\n\u0001")");
    CHECK(json_quote("") == "\"\"");
    CHECK_THROWS_AS(json_quote("\xff"), ternary::value_error);
    CHECK_THROWS_AS(json_quote("\xed\xa0\x80"), ternary::value_error);  // a surrogate
    CHECK_THROWS_AS(json_quote("ab\xe2\x82"), ternary::value_error);    // truncated
}

TEST_CASE("safetensors: what the writer writes, the reader reads back, for every dtype") {
    const safetensors_dtype all[] = {
        safetensors_dtype::boolean, safetensors_dtype::u8,  safetensors_dtype::i8,   safetensors_dtype::f8_e5m2,
        safetensors_dtype::f8_e4m3, safetensors_dtype::i16, safetensors_dtype::u16,  safetensors_dtype::f16,
        safetensors_dtype::bf16,    safetensors_dtype::i32, safetensors_dtype::u32,  safetensors_dtype::f32,
        safetensors_dtype::i64,     safetensors_dtype::u64, safetensors_dtype::f64,
    };
    const std::size_t sizes[] = {1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8};
    const char* names[] = {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16",
                           "BF16", "I32", "U32", "F32", "I64", "U64", "F64"};
    safetensors_writer w;
    w.metadata("format", "pt");
    std::vector<std::vector<std::uint8_t>> data;
    for (std::size_t i = 0; i < std::size(all); ++i) {
        CAPTURE(names[i]);
        CHECK(dtype_name(all[i]) == names[i]);
        CHECK(dtype_size(all[i]) == sizes[i]);
        CHECK(dtype_from_name(names[i]) == all[i]);
        data.push_back(counting_bytes(3 * (i + 1) * sizes[i], static_cast<unsigned>(i + 1)));
        w.add(std::string("t.") + names[i], all[i], {3, i + 1}, data.back());
    }
    CHECK_FALSE(dtype_from_name("F4").has_value());
    CHECK_FALSE(dtype_from_name("bf16").has_value());
    const auto bytes = w.bytes();
    const auto f = safetensors_file::parse(bytes, "all.safetensors");
    CHECK(f.name() == "all.safetensors");
    CHECK(f.data_offset() % 8 == 0);
    CHECK(f.metadata() == std::vector<std::pair<std::string, std::string>>{{"format", "pt"}});
    REQUIRE(f.tensors().size() == std::size(all));
    std::size_t expected_begin = 0;
    for (std::size_t i = 0; i < std::size(all); ++i) {
        const auto& t = f.tensors()[i];  // in the order added
        CAPTURE(t.name);
        CHECK(t.name == std::string("t.") + names[i]);
        CHECK(t.dtype == all[i]);
        CHECK(t.shape == std::vector<std::size_t>{3, i + 1});
        CHECK(t.begin == expected_begin);
        CHECK(t.end == expected_begin + data[i].size());
        CHECK(t.data.data() == bytes.data() + f.data_offset() + expected_begin);  // a view, not a copy
        CHECK(std::vector<std::uint8_t>(t.data.begin(), t.data.end()) == data[i]);
        CHECK(&f.at(t.name) == &t);
        expected_begin = t.end;
    }
    CHECK(f.data_offset() + expected_begin == bytes.size());  // contiguous, nothing after
    // Writing what was read gives the same bytes.
    safetensors_writer again;
    for (const auto& [key, value] : f.metadata()) again.metadata(key, value);
    for (const auto& t : f.tensors()) again.add(t.name, t.dtype, t.shape, t.data);
    CHECK(again.bytes() == bytes);
}

TEST_CASE("safetensors: the writer's layout is the reference implementation's") {
    safetensors_writer w;
    w.metadata("format", "pt");
    const float values[2] = {1.0f, -2.0f};
    std::vector<std::uint8_t> data(8);
    std::memcpy(data.data(), values, 8);
    w.add("w", safetensors_dtype::f32, {2}, data);
    const std::string header = R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    std::string padded = header;
    padded.resize((header.size() + 7) / 8 * 8, ' ');
    CHECK(w.bytes() == file_of(padded, data));
    // No tensors, no metadata: "{}" and six spaces.
    CHECK(safetensors_writer().bytes() == file_of("{}      "));
    const auto empty = safetensors_writer().bytes();
    CHECK(safetensors_file::parse(empty, "empty").tensors().empty());
}

TEST_CASE("safetensors: a file assembled by hand") {
    // Header order is not data order; spaces and newlines anywhere JSON allows; no padding.
    const std::string header = "{ \"b\" : {\"shape\": [2, 2], \"dtype\": \"U8\", \"data_offsets\": [4, 8]},\n"
                               "  \"__metadata__\": {\"format\": \"pt\", \"x\": \"\\u00e9\"},\n"
                               "  \"a\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [0, 4], \"extra\": 1},\n"
                               "  \"s\": {\"dtype\": \"I64\", \"shape\": [0], \"data_offsets\": [8, 8]} }";
    const auto bytes = file_of(header, {0x80, 0x3f, 0x00, 0xc0, 1, 2, 3, 4});
    const auto f = safetensors_file::parse(bytes, "hand.safetensors");
    CHECK(f.data_offset() == 8 + header.size());
    REQUIRE(f.tensors().size() == 3);
    CHECK(f.tensors()[0].name == "b");
    CHECK(f.tensors()[1].name == "a");
    CHECK(f.tensors()[2].name == "s");
    const auto& a = f.at("a");
    CHECK(a.dtype == safetensors_dtype::bf16);
    CHECK(a.shape == std::vector<std::size_t>{2});
    CHECK(a.data.data() == bytes.data() + 8 + header.size());
    CHECK(a.data.size() == 4);
    CHECK(float_from_bf16(static_cast<std::uint16_t>(a.data[0] | a.data[1] << 8)) == 1.0f);
    const auto* b = f.find("b");
    REQUIRE(b != nullptr);
    CHECK(b->dtype == safetensors_dtype::u8);
    CHECK(b->shape == std::vector<std::size_t>{2, 2});
    CHECK(b->data.data() == bytes.data() + 8 + header.size() + 4);
    CHECK(std::vector<std::uint8_t>(b->data.begin(), b->data.end()) == std::vector<std::uint8_t>{1, 2, 3, 4});
    CHECK(f.at("s").data.empty());
    CHECK(f.find("c") == nullptr);
    CHECK(f.find("__metadata__") == nullptr);
    CHECK_THROWS_WITH_AS(f.at("c"), doctest::Contains("ternary: hand.safetensors: no tensor 'c'"), ternary::format_error);
    REQUIRE(f.find_metadata("x") != nullptr);
    CHECK(*f.find_metadata("x") == "\xc3\xa9");
    CHECK(f.find_metadata("y") == nullptr);
}

TEST_CASE("safetensors: every truncation of a file is a format_error, never a crash") {
    const auto bytes = sample_file();
    CHECK_NOTHROW(safetensors_file::parse(bytes, "sample"));
    for (std::size_t size = 0; size < bytes.size(); ++size) {
        CAPTURE(size);
        CHECK_THROWS_AS(safetensors_file::parse(std::span(bytes).first(size), "prefix"), ternary::format_error);
    }
}

TEST_CASE("safetensors: hostile headers are refused with a clear message") {
    const auto refuse = [](const std::vector<std::uint8_t>& bytes, const char* words) {
        CAPTURE(words);
        CHECK_THROWS_WITH_AS(safetensors_file::parse(bytes, "bad"), doctest::Contains(words), ternary::format_error);
    };
    const auto one = [&](std::string_view tensor, std::size_t data = 8) {
        return file_of(std::string(R"({"t":)") + std::string(tensor) + "}", std::vector<std::uint8_t>(data));
    };
    refuse(one(R"({"dtype":"U8","shape":[8],"data_offsets":[0,8]})", 0), "run past the end of the data (0 bytes)");
    // One tensor 't' over 8 bytes of data: its JSON, and words of the message.
    const struct {
        const char* json;
        const char* words;
    } bad_tensors[] = {
        {R"({"dtype":"U8","shape":[8],"data_offsets":[4,12]})", "[4, 12) run past the end"},
        {R"({"dtype":"U8","shape":[0],"data_offsets":[9,9]})", "run past the end"},
        {R"({"dtype":"U8","shape":[4],"data_offsets":[4,0]})", "end before they begin"},
        {R"({"dtype":"U8","shape":[4],"data_offsets":[0,3]})", "hold 3 bytes, its dtype and shape need 4"},
        {R"({"dtype":"F32","shape":[2,2],"data_offsets":[0,8]})", "need 16"},
        {R"({"dtype":"F4","shape":[4],"data_offsets":[0,2]})", "tensor 't' has unknown dtype 'F4'"},
        {R"({"dtype":"u8","shape":[4],"data_offsets":[0,4]})", "unknown dtype 'u8'"},
        {R"({"dtype":8,"shape":[4],"data_offsets":[0,4]})", "'dtype' has the wrong type"},
        {R"({"dtype":"U8","shape":[1099511627776,1099511627776],"data_offsets":[0,8]})", "too many elements"},
        {R"({"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]})", "too many elements"},
        {R"({"dtype":"U8","shape":[-1],"data_offsets":[0,8]})", "not a non-negative integer"},
        {R"({"dtype":"U8","shape":[8.0],"data_offsets":[0,8]})", "not a non-negative integer"},
        {R"({"dtype":"U8","shape":["8"],"data_offsets":[0,8]})", "not a non-negative integer"},
        {R"({"dtype":"U8","shape":8,"data_offsets":[0,8]})", "'shape' has the wrong type"},
        {R"({"dtype":"U8","shape":[8],"data_offsets":[0,8,8]})", "data_offsets must be [begin, end]"},
        {R"({"dtype":"U8","shape":[8],"data_offsets":[0]})", "data_offsets must be [begin, end]"},
        {R"({"dtype":"U8","shape":[8],"data_offsets":[-8,0]})", "an offset is not a non-negative integer"},
        {R"({"dtype":"U8","shape":[8],"data_offsets":[0,8e0]})", "an offset is not a non-negative integer"},
        {R"({"dtype":"U8","shape":[8],"data_offsets":[0,18446744073709551616]})", "not a non-negative integer"},
        {R"({"shape":[8],"data_offsets":[0,8]})", "tensor 't' has no 'dtype'"},
        {R"({"dtype":"U8","data_offsets":[0,8]})", "has no 'shape'"},
        {R"({"dtype":"U8","shape":[8]})", "has no 'data_offsets'"},
        {R"([0,8])", "tensor 't' is not an object"},
        {R"({"dtype":"U8","shape":[8],"data_offsets":[0,8],"dtype":"I8"})", "duplicate key 'dtype'"},
    };
    for (const auto& bad : bad_tensors) {
        CAPTURE(bad.json);
        refuse(one(bad.json), bad.words);
    }
    refuse(file_of(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                   R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
                   std::vector<std::uint8_t>(8)),
           "tensors 'a' [0, 4) and 'b' [2, 6) overlap");
    refuse(file_of(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},)"
                   R"("b":{"dtype":"I16","shape":[2],"data_offsets":[2,6]}})",
                   std::vector<std::uint8_t>(8)),
           "overlap");
    refuse(file_of(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                   R"("a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})",
                   std::vector<std::uint8_t>(8)),
           "duplicate key 'a'");
    refuse(file_of(R"({"__metadata__":{"n":1}})"), "__metadata__ 'n' is not a string");
    refuse(file_of(R"({"__metadata__":["a"]})"), "__metadata__ is not an object");
    refuse(file_of("[]"), "the header is not a JSON object");
    refuse(file_of("1       "), "the header is not a JSON object");
    refuse(file_of(R"("x")"), "the header is not a JSON object");
    refuse(file_of(""), "expected a value, found the end of the input (at offset 8)");
    refuse(file_of("{"), "expected a string key");
    refuse(file_of(std::string("{}\0", 3)), "expected the end of the input after the value, found byte 0x00");
    refuse(file_of(R"({"t":)" + std::string(300, '[') + std::string(300, ']') + "}"), "nested deeper than 128");
    refuse(file_of(std::string("{\"t\":\"\xff\"}")), "invalid UTF-8 in a string (at offset 14)");
    // The header length: larger than the file, absurd, or absent.
    auto longer = file_of("{}");
    longer[0] = 11;
    refuse(longer, "header length 11 exceeds the file (2 bytes follow it)");
    auto absurd = file_of("{}");
    absurd[5] = 1;  // 2^40 + 2
    refuse(absurd, "exceeds the limit of 100000000 bytes");
    absurd[5] = 0;
    absurd[7] = 0x80;  // 2^63 + 2
    refuse(absurd, "exceeds the limit");
    refuse({1, 2, 3}, "truncated: the header length needs 8 bytes");
}

TEST_CASE("safetensors: the writer refuses what it could not write") {
    safetensors_writer w;
    const auto four = counting_bytes(4);
    CHECK_THROWS_WITH_AS(w.add("x", safetensors_dtype::f32, {2}, four), doctest::Contains("needs 8 bytes, got 4"),
                         ternary::value_error);
    CHECK_THROWS_AS(w.add("x", safetensors_dtype::u8, {std::size_t{1} << 40, std::size_t{1} << 40}, four),
                    ternary::value_error);
    CHECK_THROWS_AS(w.add("__metadata__", safetensors_dtype::u8, {4}, four), ternary::value_error);
    CHECK_THROWS_AS(w.add("bad\xff", safetensors_dtype::u8, {4}, four), ternary::value_error);
    w.add("x", safetensors_dtype::u8, {4}, four);
    CHECK_THROWS_WITH_AS(w.add("x", safetensors_dtype::u8, {2, 2}, four), doctest::Contains("added twice"),
                         ternary::value_error);
    w.metadata("k", "v");
    CHECK_THROWS_AS(w.metadata("k", "w"), ternary::value_error);
    CHECK_THROWS_AS(w.metadata("k2", "\xc0\x80"), ternary::value_error);
    // Names the reader must unescape.
    w.add("quote\" back\\slash \xe2\x82\xac\n", safetensors_dtype::u8, {4}, four);
    const auto bytes = w.bytes();
    const auto f = safetensors_file::parse(bytes, "names");
    CHECK(f.find("quote\" back\\slash \xe2\x82\xac\n") != nullptr);
}

TEST_CASE("safetensors: the shard index of a sharded checkpoint") {
    const auto index = parse_safetensors_index(R"({
        "metadata": {"total_size": 4825323520},
        "weight_map": {
            "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
            "model.norm.weight": "model-00002-of-00002.safetensors",
            "lm_head.weight": "model-00002-of-00002.safetensors"
        }
    })", "model.safetensors.index.json");
    CHECK(index.size() == 3);
    CHECK(index.at("model.embed_tokens.weight") == "model-00001-of-00002.safetensors");
    CHECK(index.find(std::string_view("lm_head.weight"))->second == "model-00002-of-00002.safetensors");
    const auto refuse = [](std::string_view text, const char* words) {
        CAPTURE(words);
        CHECK_THROWS_WITH_AS(parse_safetensors_index(text, "index.json"), doctest::Contains(words),
                             ternary::format_error);
    };
    refuse(R"({"metadata": {}})", "has no key 'weight_map'");
    refuse(R"({"weight_map": []})", "'weight_map' is an array, expected an object");
    refuse(R"({"weight_map": {"a": 1}})", "'a' is a number, expected a string");
    refuse(R"({"weight_map": {"a": "../secret"}})", "tensor 'a' is in '../secret', not a plain file name");
    refuse(R"({"weight_map": {"a": "/etc/x"}})", "not a plain file name");
    refuse(R"({"weight_map": {"a": ".."}})", "not a plain file name");
    refuse(R"({"weight_map": {"a": ""}})", "not a plain file name");
    refuse(R"([])", "the index is not a JSON object");
    refuse(R"({"weight_map": {"a": "x", "a": "y"}})", "duplicate key 'a'");
}
