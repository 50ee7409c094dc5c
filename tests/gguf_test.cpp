// GGUF v3: our writer and reader against each other, against real files written by llama.cpp,
// and against malformed input (every truncation, each kind of corruption).

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <ternary/io/gguf.hpp>

#include "support.hpp"

using namespace ternary::io;

namespace {

gguf_value array_of(gguf_type element, std::vector<gguf_value> values) { return {gguf_array{element, std::move(values)}}; }

/// A file with every value type, nested arrays and four tensor types.
std::vector<std::uint8_t> sample_file(std::uint32_t alignment = 32) {
    gguf_writer w(alignment);
    w.add("u8", {std::uint8_t{200}});
    w.add("i8", {std::int8_t{-100}});
    w.add("u16", {std::uint16_t{60000}});
    w.add("i16", {std::int16_t{-30000}});
    w.add("u32", {std::uint32_t{4000000000u}});
    w.add("i32", {std::int32_t{-2000000000}});
    w.add("f32", {1.5f});
    w.add("bool", {true});
    w.add("string", {std::string("bitnet-b1.58")});
    w.add("u64", {std::uint64_t{1} << 60});
    w.add("i64", {-(std::int64_t{1} << 60)});
    w.add("f64", {0.25});
    w.add("tokens", array_of(gguf_type::string, {{std::string("<s>")}, {std::string("hello")}, {std::string("")}}));
    w.add("nested", array_of(gguf_type::array, {array_of(gguf_type::i32, {{std::int32_t{1}}, {std::int32_t{2}}}),
                                                array_of(gguf_type::i32, {})}));
    std::vector<std::uint8_t> f32_data(4 * 3 * 2), tq2_data(66 * 2), i2s_data(256 * 2 / 4 + 32), f16_data(2 * 5);
    for (std::size_t i = 0; i < f32_data.size(); ++i) f32_data[i] = static_cast<std::uint8_t>(i);
    for (std::size_t i = 0; i < tq2_data.size(); ++i) tq2_data[i] = static_cast<std::uint8_t>(i * 7);
    w.add_tensor("weights.f32", {3, 2}, 0, f32_data);
    w.add_tensor("weights.tq2_0", {256, 2}, 35, tq2_data);
    w.add_tensor("weights.i2_s", {256, 2}, 36, i2s_data);
    w.add_tensor("norm.f16", {5}, 1, f16_data);
    return w.bytes();
}

template <class T>
void check_value(const gguf_file& f, const char* key, T expected) {
    CAPTURE(key);
    CHECK(f.get<T>(key) == expected);
}

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) { return ternary::io::read_file(path.string()); }

}  // namespace

TEST_CASE("GGUF: what the writer writes, the reader reads back") {
    for (std::uint32_t alignment : {32u, 64u}) {
        CAPTURE(alignment);
        const auto bytes = sample_file(alignment);
        const auto f = gguf_file::parse(bytes, "sample");
        CHECK(f.version() == 3);
        CHECK(f.alignment() == alignment);
        check_value(f, "u8", std::uint8_t{200});
        check_value(f, "i8", std::int8_t{-100});
        check_value(f, "u16", std::uint16_t{60000});
        check_value(f, "i16", std::int16_t{-30000});
        check_value(f, "u32", std::uint32_t{4000000000u});
        check_value(f, "i32", std::int32_t{-2000000000});
        check_value(f, "f32", 1.5f);
        check_value(f, "bool", true);
        check_value(f, "string", std::string("bitnet-b1.58"));
        check_value(f, "u64", std::uint64_t{1} << 60);
        check_value(f, "i64", -(std::int64_t{1} << 60));
        check_value(f, "f64", 0.25);
        const auto& tokens = f.get<gguf_array>("tokens");
        REQUIRE(tokens.values.size() == 3);
        CHECK(std::get<std::string>(tokens.values[1].value) == "hello");
        const auto& nested = f.get<gguf_array>("nested");
        CHECK(std::get<gguf_array>(nested.values[0].value).values.size() == 2);
        CHECK_THROWS_AS(f.get<std::uint32_t>("f32"), ternary::format_error);  // another type
        CHECK_THROWS_AS(f.get<float>("absent"), ternary::format_error);

        REQUIRE(f.tensors().size() == 4);
        const auto* tq2 = f.tensor("weights.tq2_0");
        REQUIRE(tq2 != nullptr);
        CHECK(tq2->bytes == 132);
        CHECK(tq2->offset % alignment == 0);
        const auto data = f.data(*tq2);
        for (std::size_t i = 0; i < data.size(); ++i) CHECK(data[i] == static_cast<std::uint8_t>(i * 7));
        CHECK(f.tensor("weights.i2_s")->bytes == 256 * 2 / 4 + 32);
        CHECK(f.tensor("norm.f16")->ne == std::vector<std::uint64_t>{5});
    }
}

TEST_CASE("GGUF: every truncation of a file is a format_error, never a crash") {
    const auto bytes = sample_file();
    const auto f = gguf_file::parse(bytes, "sample");
    std::size_t data_end = 0;  // where the last tensor's data ends (only padding follows)
    for (const auto& t : f.tensors()) {
        const auto start = static_cast<std::size_t>(f.data(t).data() - bytes.data());
        data_end = std::max<std::size_t>(data_end, start + static_cast<std::size_t>(t.bytes));
    }
    for (std::size_t size = 0; size < bytes.size(); ++size) {
        CAPTURE(size);
        const std::span<const std::uint8_t> prefix(bytes.data(), size);
        if (size < data_end) {
            CHECK_THROWS_AS(gguf_file::parse(prefix, "prefix"), ternary::format_error);
        } else {
            CHECK_NOTHROW(gguf_file::parse(prefix, "prefix"));
        }
    }
}

TEST_CASE("GGUF: each kind of corruption is refused with a clear message") {
    const auto good = sample_file();
    const auto refuse = [&](std::vector<std::uint8_t> bytes, const char* words) {
        CAPTURE(words);
        CHECK_THROWS_WITH_AS(gguf_file::parse(bytes, "bad"), doctest::Contains(words), ternary::format_error);
    };
    const auto at = [&](std::size_t offset, const auto& value) {
        auto bytes = good;
        std::memcpy(bytes.data() + offset, &value, sizeof(value));
        return bytes;
    };
    refuse(at(0, std::uint32_t{0x46554748}), "magic");
    refuse(at(4, std::uint32_t{2}), "version 2");
    refuse(at(8, std::uint64_t{1} << 40), "tensor count");
    refuse(at(16, std::uint64_t{1} << 40), "metadata count");
    // The first key is "u8": length at 24, 2 bytes, type at 34, value at 38.
    refuse(at(24, std::uint64_t{1} << 50), "exceeds the file");
    refuse(at(34, std::uint32_t{13}), "unknown metadata value type 13");
    // "bool": find its value byte and make it 2.
    {
        auto bytes = good;
        const std::string key = "bool";
        const auto it = std::search(bytes.begin(), bytes.end(), key.begin(), key.end());
        REQUIRE(it != bytes.end());
        *(it + static_cast<std::ptrdiff_t>(key.size()) + 4) = 2;
        refuse(bytes, "a bool is 2");
    }
    // Tensor infos: find "weights.tq2_0" and damage its dims, type and offset.
    const std::string name = "weights.tq2_0";
    const auto it = std::search(good.begin(), good.end(), name.begin(), name.end());
    REQUIRE(it != good.end());
    const std::size_t info = static_cast<std::size_t>(it - good.begin()) + name.size();  // n_dims
    refuse(at(info, std::uint32_t{5}), "5 dimensions");
    refuse(at(info, std::uint32_t{0}), "0 dimensions");
    refuse(at(info + 4, std::uint64_t{100}), "not allowed for its shape");  // TQ2_0 rows of 100
    refuse(at(info + 4, std::uint64_t{1} << 41), "absurd");
    refuse(at(info + 20, std::uint32_t{99}), "type 99");
    refuse(at(info + 24, std::uint64_t{8}), "not aligned");
    refuse(at(info + 24, std::uint64_t{1} << 20), "runs past the end");
    // A nesting deeper than 4 arrays.
    gguf_writer deep;
    gguf_value v{std::int32_t{1}};
    for (int i = 0; i < 6; ++i) v = array_of(v.type(), {v});
    deep.add("deep", v);
    refuse(deep.bytes(), "nested deeper");
    // general.alignment must be a power of two.
    gguf_writer odd;
    odd.add("general.alignment", {std::uint32_t{24}});
    refuse(odd.bytes(), "power of two");
}

TEST_CASE("GGUF: real vocabulary files written by llama.cpp") {
    const std::filesystem::path data = TERNARY_SHARED_DATA;
    if (!std::filesystem::is_directory(data)) {
        MESSAGE("skipped: " TERNARY_SHARED_DATA " is absent");
        return;
    }
    const auto spm = read_bytes(data / "tokenizers" / "llama2" / "ggml-vocab-llama-spm.gguf");
    const auto f = gguf_file::parse(spm, "ggml-vocab-llama-spm.gguf");
    CHECK(f.get<std::string>("tokenizer.ggml.model") == "llama");
    CHECK(f.get<gguf_array>("tokenizer.ggml.tokens").values.size() == 32000);
    CHECK(f.get<gguf_array>("tokenizer.ggml.scores").element == gguf_type::f32);
    CHECK(std::get<std::string>(f.get<gguf_array>("tokenizer.ggml.tokens").values[1].value) == "<s>");
    const auto gpt2 = read_bytes(data / "gguf-vocab" / "ggml-vocab-gpt-2.gguf");
    const auto g = gguf_file::parse(gpt2, "ggml-vocab-gpt-2.gguf");
    CHECK(g.get<std::string>("tokenizer.ggml.model") == "gpt2");
    CHECK(g.get<gguf_array>("tokenizer.ggml.merges").values.size() > 40000);
    // Rewriting their metadata with our writer gives the same bytes, to the last one.
    for (const auto* file : {&spm, &gpt2}) {
        const auto parsed = gguf_file::parse(*file, "vocab");
        CHECK(parsed.tensors().empty());
        gguf_writer w;
        for (const auto& [key, value] : parsed.metadata()) w.add(key, value);
        CHECK(w.bytes() == *file);
    }
}
