// Malformed llama2.c / bitllama2.c / tokenizer files: each gets a clear format_error. The
// files are tiny and built here; a valid one is loaded first so that each corruption is the
// only thing wrong.

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <ternary/bitnet/model.hpp>
#include <ternary/io/llama2c.hpp>
#include <ternary/tokenizer/llama2c.hpp>

#include "llama2c_files.hpp"
#include "support.hpp"

namespace {

using namespace test::llama2c;

/// A file in the system's temporary directory, removed at the end of the test.
struct temp_file {
    std::filesystem::path path;
    explicit temp_file(const bytes& content) {
        static int counter = 0;
        path = std::filesystem::temp_directory_path() /
               ("ternary_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".bin");
        std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(content.data()),
                                                    static_cast<std::streamsize>(content.size()));
    }
    ~temp_file() { std::filesystem::remove(path); }
    std::string name() const { return path.string(); }
};

template <class F>
void check_format_error(const bytes& content, F load, const char* expected_words) {
    const temp_file file(content);
    CHECK_THROWS_WITH_AS(load(file.name()), doctest::Contains(expected_words), ternary::format_error);
}

}  // namespace

TEST_CASE("llama2.c legacy files: a valid tiny file loads, each corruption is refused") {
    const auto load = [](const std::string& path) { return ternary::io::load_llama2c(path); };
    {
        const temp_file good(legacy_file());
        auto model = load(good.name());
        CHECK(model.config().kv_dim() == kv);
        CHECK_FALSE(model.weights().output.has_value());
        CHECK(model.forward(3, 0).size() == vocab);
        CHECK_THROWS_AS(model.forward(vocab, 1), ternary::value_error);  // token out of range
        CHECK_THROWS_AS(model.forward(1, seq), ternary::value_error);    // position past the context
        const temp_file unshared(legacy_file(false));
        CHECK(load(unshared.name()).weights().output.has_value());
    }
    bytes truncated = legacy_file();
    truncated.pop_back();
    // 28 + 4 * (8*8 embedding + 592 per layer + 8 final norm + 16 RoPE table floats) = 2748.
    check_format_error(truncated, load, "has 2748 bytes, this one has 2747");
    bytes longer = legacy_file();
    longer.push_back(0);
    check_format_error(longer, load, "this one has");
    check_format_error(bytes{1, 2, 3}, load, "truncated");
    bytes zero_dim = legacy_file();
    std::memset(zero_dim.data(), 0, 4);
    check_format_error(zero_dim, load, "dim = 0");
    bytes absurd_vocab = legacy_file();
    const std::int32_t huge = 1 << 30;
    std::memcpy(absurd_vocab.data() + 20, &huge, 4);
    check_format_error(absurd_vocab, load, "vocab_size");
    bytes uneven_heads = legacy_file();
    const std::int32_t three = 3;
    std::memcpy(uneven_heads.data() + 12, &three, 4);  // 3 heads do not divide 8 dims
    check_format_error(uneven_heads, load, "do not divide");
    CHECK_THROWS_AS(load("/nonexistent/model.bin"), ternary::error);
}

TEST_CASE("bitllama2.c ak42 files: a valid tiny file loads, each corruption is refused") {
    const auto load = [](const std::string& path) { return ternary::io::load_bitllama2c(path); };
    {
        const temp_file good(ak42_file());
        auto model = load(good.name());
        CHECK(model.config().linear_self_norm);
        const auto trits = model.weights().layers[0].wq.weights().trits();
        CHECK(std::all_of(trits.begin(), trits.end(), [](std::int8_t t) { return t == 1; }));  // code 01 = +1
        const temp_file minus(ak42_file(0b11));
        const auto minus_trits = load(minus.name()).weights().layers[0].wk.weights().trits();
        CHECK(std::all_of(minus_trits.begin(), minus_trits.end(), [](std::int8_t t) { return t == -1; }));
        CHECK(model.forward(2, 0).size() == vocab);
    }
    check_format_error(ak42_file(0b10), load, "code 10");
    bytes magic = ak42_file();
    magic[0] = 'X';
    check_format_error(magic, load, "magic");
    bytes version = ak42_file();
    version[4] = 2;
    check_format_error(version, load, "version 2");
    bytes unshared = ak42_file();
    unshared[36] = 0;
    check_format_error(unshared, load, "shared");
    const bytes whole = ak42_file();
    const bytes truncated(whole.begin(), whole.end() - 3);
    check_format_error(truncated, load, "ak42");
    // A legacy float file is not an ak42 file.
    check_format_error(legacy_file(), load, "magic");
}

TEST_CASE("llama2.c tokenizer files: round trips, and corruptions are refused") {
    const bytes b = tokenizer_file();
    const auto& pieces = tokenizer_pieces;
    const temp_file good(b);
    const auto tokenizer = ternary::tokenizer::llama2c_tokenizer::load(good.name(), pieces.size());
    // BOS, the dummy-prefix " ", "a", "b"; "ab" (score 7) beats " a" (score 6), then nothing
    // merges: [BOS, " ", "ab"].
    CHECK(tokenizer.encode("ab", true, false) == std::vector<std::size_t>{1, 3, 7});
    CHECK(tokenizer.encode("a", false, false) == std::vector<std::size_t>{6});  // " " + "a" = " a"
    CHECK(tokenizer.decode(1, 6) == "a");  // the leading space is dropped after BOS
    CHECK(tokenizer.decode(5, 6) == " a");
    // Bytes without a piece of their own use the "<0xHH>" pieces, and decode back to the byte.
    CHECK(tokenizer.encode("c", false, false) == std::vector<std::size_t>{3, 8});
    CHECK(tokenizer.decode(3, 8) == "c");
    // A character without a piece needs byte-fallback pieces, which this vocabulary lacks.
    CHECK_THROWS_WITH_AS(tokenizer.encode("z", false, true), doctest::Contains("<0x7A>"), ternary::value_error);

    const bytes truncated(b.begin(), b.end() - 1);
    const temp_file short_file(truncated);
    CHECK_THROWS_WITH_AS(ternary::tokenizer::llama2c_tokenizer::load(short_file.name(), pieces.size()),
                         doctest::Contains("truncated"), ternary::format_error);
    bytes negative = b;
    const std::int32_t minus_one = -1;
    std::memcpy(negative.data() + 8, &minus_one, 4);  // the first piece's length
    const temp_file bad_length(negative);
    CHECK_THROWS_WITH_AS(ternary::tokenizer::llama2c_tokenizer::load(bad_length.name(), pieces.size()),
                         doctest::Contains("length -1"), ternary::format_error);
}
