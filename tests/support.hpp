#pragma once
// Helpers shared by the tests: seeded random data and floating-point error bounds.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <cstdlib>
#include <limits>
#include <random>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include <ternary/ternary.hpp>
#include <ternary/tokenizer/unicode.hpp>

namespace test {

#ifdef TERNARY_SHARED_DATA
/// ../shared/data beside the checkout, or empty (with a message saying the test is skipped)
/// when absent.
inline std::filesystem::path shared_data() {
    const std::filesystem::path path = TERNARY_SHARED_DATA;
    if (std::filesystem::is_directory(path)) return path;
    MESSAGE("skipped: " TERNARY_SHARED_DATA " is absent");
    return {};
}
#endif

/// The whole file at path as bytes in a string (empty if it cannot be read).
inline std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

/// llama.cpp's test strings: separated (and ended) by "\n__ggml_vocab_test__\n".
inline std::vector<std::string> vocab_test_strings(const std::string& text) {
    static constexpr std::string_view separator = "\n__ggml_vocab_test__\n";
    std::vector<std::string> out;
    std::size_t pos = 0;
    for (std::size_t end; (end = text.find(separator, pos)) != std::string::npos; pos = end + separator.size()) {
        out.push_back(text.substr(pos, end - pos));
    }
    return out;
}

/// One line of ids per test string.
inline std::vector<std::vector<std::size_t>> vocab_expected_ids(const std::string& text) {
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

/// Checks a tokenizer against one of llama.cpp's vocabulary tests: every string of `stem`.inp
/// (46 of them) must encode, without BOS and with special tokens not parsed, to its line of
/// `stem`.out; with decode_too, those ids must decode back to the string.
template <class Tokenizer>
void check_vocab_lists(const Tokenizer& t, const std::filesystem::path& stem, bool decode_too = true) {
    const auto inputs = vocab_test_strings(read_text(stem.string() + ".inp"));
    const auto expected = vocab_expected_ids(read_text(stem.string() + ".out"));
    REQUIRE(inputs.size() == 46);
    REQUIRE(expected.size() == 46);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        CAPTURE(i);
        CAPTURE(inputs[i]);
        CHECK(t.encode(inputs[i], false, false) == expected[i]);
        if (decode_too) CHECK(t.decode(expected[i]) == inputs[i]);
    }
}

inline std::mt19937_64& rng() {
    static std::mt19937_64 engine(20261123);
    return engine;
}

/// Random valid UTF-8 from a pool of troublesome characters.
inline std::string random_text(std::mt19937_64& rng) {
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
inline bool valid_utf8(std::string_view text) {
    for (std::size_t pos = 0; pos < text.size();) {
        const auto c = ternary::tokenizer::decode_utf8(text, pos);
        if (c.code_point == ternary::tokenizer::replacement_character && text.substr(pos, 3) != "\xEF\xBF\xBD") return false;
        pos += c.length;
    }
    return true;
}

/// n uniform trits in {-1, 0, +1}.
inline std::vector<std::int8_t> random_trits(std::size_t n) {
    std::uniform_int_distribution<int> dist(-1, 1);
    std::vector<std::int8_t> out(n);
    for (auto& t : out) t = static_cast<std::int8_t>(dist(rng()));
    return out;
}

/// n uniform int8 values in [-128, 127].
inline std::vector<std::int8_t> random_int8(std::size_t n) {
    std::uniform_int_distribution<int> dist(-128, 127);
    std::vector<std::int8_t> out(n);
    for (auto& v : out) v = static_cast<std::int8_t>(dist(rng()));
    return out;
}

/// n normal floats with the given spread.
inline std::vector<float> random_floats(std::size_t n, float sigma = 1.0f) {
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float> out(n);
    for (auto& v : out) v = dist(rng());
    return out;
}

/// Unit roundoff of float (round to nearest): 2^-24.
inline constexpr double unit_roundoff = std::numeric_limits<float>::epsilon() / 2.0;

/// Higham's gamma_n = n u / (1 - n u): the relative error bound of n successive float roundings
/// (Accuracy and Stability of Numerical Algorithms, 2nd ed., lemma 3.1). A float sum of n terms,
/// in any order, is within gamma_{n-1} * sum |terms| of the exact sum.
inline double gamma_n(double n) { return n * unit_roundoff / (1.0 - n * unit_roundoff); }

/// Calls f(Policy{}) for every compiled policy the CPU runs; returns how many.
template <class F>
int for_each_runnable_policy(F&& f) {
    int count = 0;
    ternary::simd::compiled_policies::find([&](auto policy) {
        if (decltype(policy)::available()) {
            f(policy);
            ++count;
        }
        return false;
    });
    return count;
}

/// What the environment variable TERNARY_ISA asks for, and what this build and CPU make of it.
struct isa_request {
    std::string_view requested;  // empty when unset
    bool known = false;          // a compiled policy has that name
    bool runs = false;           // ... and this CPU runs it
    std::string_view best;       // the best compiled policy this CPU runs
};

inline isa_request read_isa_request() {
    const char* env = std::getenv("TERNARY_ISA");
    isa_request r;
    r.requested = env != nullptr ? env : "";
    ternary::simd::compiled_policies::find([&](auto policy) {
        using Policy = decltype(policy);
        if (r.best.empty() && Policy::available()) r.best = Policy::name;
        if (Policy::name == r.requested) {
            r.known = true;
            r.runs = Policy::available();
        }
        return false;
    });
    return r;
}

/// A 1-token batch from explicit int8 values.
inline ternary::activation_batch batch_of(const std::vector<std::int8_t>& q, float scale) {
    return ternary::activation_batch::from_int8(
        ternary::matrix_view<const std::int8_t>::row_major(q.data(), 1, q.size()), {&scale, 1});
}

/// The exact dot product of a trit row and int8 values, in int64 (cannot overflow).
inline std::int64_t exact_dot(const std::int8_t* trits, const std::int8_t* q, std::size_t n) {
    std::int64_t sum = 0;
    for (std::size_t j = 0; j < n; ++j) sum += std::int64_t{trits[j]} * std::int64_t{q[j]};
    return sum;
}

}  // namespace test
