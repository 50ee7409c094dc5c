// ggml's block-quantized formats (quant/ggml_blocks.hpp, quant/block_dot.hpp): files written by
// llama.cpp's llama-quantize load, their embeddings dequantize to exactly what llama.cpp's
// reference dequantizer gives, and the model's next-token logits agree with llama.cpp's; every
// policy's block products equal the scalar kernel's bit for bit, on random and worst-case blocks,
// and equal the float sum of the dequantized values times the activations; hostile blocks and
// shapes are refused.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <ternary/bitnet/float_matrix.hpp>
#include <ternary/bitnet/model.hpp>
#include <ternary/bitnet/random_model.hpp>
#include <ternary/io/gguf.hpp>
#include <ternary/io/gguf_model.hpp>
#include <ternary/io/gguf_save.hpp>
#include <ternary/io/half.hpp>
#include <ternary/io/load.hpp>
#include <ternary/quant/block_dot.hpp>
#include <ternary/quant/ggml_blocks.hpp>
#include <ternary/quant/ggml_quantize.hpp>

#include "support.hpp"

using namespace ternary;

namespace {

/// Byte offsets of a block's f16 factors (d, and dmin or m where the format has one).
std::vector<std::size_t> factor_offsets(block_type t) {
    switch (t) {
        case block_type::q4_1:
        case block_type::q5_1:
        case block_type::q4_k:
        case block_type::q5_k: return {0, 2};
        case block_type::q2_k: return {80, 82};
        case block_type::q3_k: return {108};
        case block_type::q6_k: return {208};
        default: return {0};
    }
}

void put_half(std::uint8_t* p, float v) {
    const std::uint16_t h = io::f16_from_float(v);
    std::memcpy(p, &h, 2);
}

/// rows x cols weights of random blocks: random bytes, with finite random factors.
std::vector<std::uint8_t> random_blocks(block_type t, std::size_t rows, std::size_t cols, std::mt19937& rng) {
    const block_layout l = layout_of(t);
    std::vector<std::uint8_t> bytes(rows * cols / l.weights * l.bytes);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> factor(-0.05f, 0.05f);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(byte(rng));
    for (std::size_t b = 0; b < bytes.size() / l.bytes; ++b) {
        for (std::size_t off : factor_offsets(t)) put_half(bytes.data() + b * l.bytes + off, factor(rng));
    }
    return bytes;
}

/// The largest products any block can give: every integer field at its extreme (all bits set,
/// or all clear), factors 1.
std::vector<std::uint8_t> extreme_blocks(block_type t, std::size_t rows, std::size_t cols, std::uint8_t fill) {
    const block_layout l = layout_of(t);
    std::vector<std::uint8_t> bytes(rows * cols / l.weights * l.bytes, fill);
    for (std::size_t b = 0; b < bytes.size() / l.bytes; ++b) {
        for (std::size_t off : factor_offsets(t)) put_half(bytes.data() + b * l.bytes + off, 1.0f);
    }
    return bytes;
}

/// sum_j value_j x_j with the dequantized values, in double: the float view of a row's product.
double float_dot(block_type t, const std::uint8_t* row, std::size_t cols, const std::int8_t* x, double& magnitude) {
    std::vector<float> values(cols);
    dequantize_row(t, row, values.data(), cols);
    double sum = 0.0;
    magnitude = 0.0;
    for (std::size_t j = 0; j < cols; ++j) {
        sum += static_cast<double>(values[j]) * x[j];
        magnitude += std::fabs(static_cast<double>(values[j]) * x[j]);
    }
    return sum;
}

/// Every runnable policy's block_dots of w against x equals the scalar policy's exactly, and
/// both are the float dot of the dequantized values (up to the rounding of D_s = d * scale,
/// done in float by the dequantizer only: a relative 2^-24 per value).
void check_block_dots(block_type t, const std::vector<std::uint8_t>& bytes, std::size_t rows, std::size_t cols,
                      const std::vector<std::int8_t>& xs) {
    CAPTURE(layout_of(t).name);
    const block_rows_view w{t, bytes, rows, cols};
    const activation_batch x = test::batch_of(xs, 1.0f);
    const block_activations prepared(x.view(), 0);
    std::vector<double> reference(rows);
    block_dots<simd::scalar>(reference, w, prepared);
    for (std::size_t r = 0; r < rows; ++r) {
        double magnitude = 0.0;
        const double expected = float_dot(t, bytes.data() + r * w.row_bytes(), cols, xs.data(), magnitude);
        CHECK(std::fabs(reference[r] - expected) <= 4 * test::unit_roundoff * magnitude + 1e-30);
    }
    const int policies = test::for_each_runnable_policy([&](auto policy) {
        using Policy = decltype(policy);
        CAPTURE(Policy::name);
        std::vector<double> out(rows, -1.0);
        block_dots<Policy>(out, w, prepared);
        CHECK(out == reference);
    });
    CHECK(policies >= 1);
}

std::vector<float> read_floats(const std::filesystem::path& path) {
    const std::string bytes = test::read_text(path);
    std::vector<float> out(bytes.size() / 4);
    std::memcpy(out.data(), bytes.data(), out.size() * 4);
    return out;
}

}  // namespace

TEST_CASE("block formats: layouts match ggml's and names parse") {
    CHECK(layout_of(block_type::q6_k).bytes == 210);
    CHECK(block_type_of_ggml(14) == block_type::q6_k);
    CHECK(block_type_of_ggml(15) == std::nullopt);  // Q8_K: activations only, never stored
    CHECK(block_type_named("q4_k") == block_type::q4_k);
    CHECK(block_type_named("IQ4_NL") == block_type::iq4_nl);
    CHECK(block_type_named("q4") == std::nullopt);
    for (block_type t : all_block_types) {
        CAPTURE(layout_of(t).name);
        CHECK(bitnet::block_type_of(bitnet::format_of(t)) == t);
        CHECK(bitnet::float_format_named(bitnet::format_name(bitnet::format_of(t))) == bitnet::format_of(t));
    }
}

TEST_CASE("block products: every policy equals the scalar kernel, on random and extreme blocks") {
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int> value(-128, 127);
    for (block_type t : all_block_types) {
        const std::size_t rows = 37, cols = 1024;
        std::vector<std::int8_t> x(cols);
        for (auto& v : x) v = static_cast<std::int8_t>(value(rng));
        check_block_dots(t, random_blocks(t, rows, cols, rng), rows, cols, x);
        // Worst cases: every field at its largest (or smallest) against x at its extremes.
        for (std::uint8_t fill : {std::uint8_t{0xFF}, std::uint8_t{0x00}, std::uint8_t{0x80}, std::uint8_t{0x7F}}) {
            for (int xv : {127, -128}) {
                check_block_dots(t, extreme_blocks(t, 3, cols, fill), 3, cols, std::vector<std::int8_t>(cols, static_cast<std::int8_t>(xv)));
            }
        }
    }
}

TEST_CASE("block matrices: hostile shapes and factors are refused") {
    std::mt19937 rng(7);
    auto bytes = random_blocks(block_type::q6_k, 2, 256, rng);
    const auto owner = std::make_shared<int>(0);
    CHECK_NOTHROW(bitnet::float_matrix::over(bitnet::float_format::q6_k, bytes, 2, 256, owner));
    CHECK_THROWS_AS(bitnet::float_matrix::over(bitnet::float_format::q6_k, bytes, 2, 255, owner), shape_error);
    CHECK_THROWS_AS(bitnet::float_matrix::over(bitnet::float_format::q6_k, std::span(bytes).first(bytes.size() - 1), 2, 256, owner),
                    shape_error);
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
        auto broken = bytes;
        put_half(broken.data() + 210 + 208, bad);
        CHECK_THROWS_WITH_AS(bitnet::float_matrix::over(bitnet::float_format::q6_k, broken, 2, 256, owner),
                             doctest::Contains("Q6_K block 1"), value_error);
    }
    auto q4k = random_blocks(block_type::q4_k, 1, 256, rng);
    put_half(q4k.data() + 2, std::numeric_limits<float>::infinity());  // dmin
    CHECK_THROWS_AS(bitnet::float_matrix::over(bitnet::float_format::q4_k, q4k, 1, 256, owner), value_error);

    // A GGUF tensor of a block type whose rows are not whole blocks.
    io::gguf_writer out;
    out.add("general.architecture", io::gguf_value{std::string("llama")});
    const block_layout l = layout_of(block_type::q8_0);
    const std::vector<std::uint8_t> data(2 * l.bytes);
    CHECK_THROWS_AS(out.add_tensor("t", {48, 1}, l.ggml_id, data), value_error);
    out.add_tensor("t", {64, 1}, l.ggml_id, data);
    auto file = out.bytes();
    // Patch ne0 from 64 to 48 in the tensor info: the reader names the type and the block.
    const std::uint64_t from = 64, to = 48;
    const auto at = std::search(file.begin(), file.end(), reinterpret_cast<const std::uint8_t*>(&from),
                                reinterpret_cast<const std::uint8_t*>(&from) + 8);
    REQUIRE(at != file.end());
    std::memcpy(&*at, &to, 8);
    CHECK_THROWS_WITH_AS(io::gguf_file::parse(file, "patched"), doctest::Contains("not a multiple of its blocks of 32"),
                         format_error);
}

TEST_CASE("llama.cpp's quantized files: embeddings dequantize exactly, logits agree with llama.cpp") {
    const auto data = test::shared_data();
    if (data.empty()) return;
    const auto dir = data / "gguf-quants";
    std::ifstream top5(dir / "llama_top5.txt");
    REQUIRE(top5.good());
    const std::vector<std::size_t> ids = {1, 15, 300, 42, 7, 999, 128, 256, 511, 600, 3, 77};
    int files = 0;
    for (std::string line; std::getline(top5, line);) {
        std::istringstream fields(line);
        std::string name;
        fields >> name;
        CAPTURE(name);
        std::vector<std::pair<std::size_t, float>> expected;
        for (std::string item; fields >> item;) {
            const auto colon = item.find(':');
            expected.emplace_back(std::stoul(item.substr(0, colon)), std::stof(item.substr(colon + 1)));
        }
        REQUIRE(expected.size() == 5);
        io::any_model loaded = io::load_model((dir / name).string());
        REQUIRE(std::holds_alternative<io::ternary_model>(loaded));
        auto& model = std::get<io::ternary_model>(loaded);

        // The embedding, row by row, equals llama.cpp's dequantization bit for bit.
        const bitnet::float_matrix& e = model.weights().token_embedding;
        CHECK(bitnet::is_block_format(e.format()));
        const std::vector<float> reference = read_floats(dir / (name.substr(0, name.size() - 5) + ".token_embd.f32"));
        REQUIRE(reference.size() == e.rows() * e.cols());
        std::vector<float> row(e.cols());
        std::size_t differing = 0;
        for (std::size_t i = 0; i < e.rows(); ++i) {
            e.row(i, row);
            differing += std::memcmp(row.data(), reference.data() + i * e.cols(), e.cols() * 4) != 0;
        }
        CHECK(differing == 0);

        // The head (the tied embedding, multiplied in place): llama.cpp's top-1, and each of its
        // top-5 within one unit (its activations are quantized with other rounding).
        const std::span<const float> logits = model.forward(std::span<const std::size_t>(ids), 0);
        std::vector<std::size_t> order(logits.size());
        std::iota(order.begin(), order.end(), std::size_t{0});
        std::partial_sort(order.begin(), order.begin() + 5, order.end(),
                          [&](std::size_t a, std::size_t b) { return logits[a] > logits[b]; });
        CHECK(order[0] == expected[0].first);
        for (const auto& item : expected) {  // (no structured binding: clang 14's CAPTURE cannot see one)
            const std::size_t id = item.first;
            CAPTURE(id);
            CHECK(std::fabs(logits[id] - item.second) <= 1.0f);
        }
        ++files;
    }
    CHECK(files == 6);
}

TEST_CASE("quantize_row: Q8_0, Q6_K and Q4_K blocks dequantize close to their input") {
    std::mt19937 rng(99);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    const std::size_t cols = 1024;
    // RMS error over RMS value of Gaussian rows: the formats' steps are max|x| / 127 (Q8_0),
    // about max|x| / 32 (Q6_K) and range / 15 (Q4_K); a wrong bit layout gives errors near 100%.
    const std::vector<std::pair<block_type, double>> bounds = {
        {block_type::q8_0, 0.01}, {block_type::q6_k, 0.04}, {block_type::q4_k, 0.15}};
    for (const auto& type_bound : bounds) {
        const block_type type = type_bound.first;
        const double bound = type_bound.second;
        CAPTURE(layout_of(type).name);
        std::vector<float> x(cols), back(cols);
        for (auto& v : x) v = normal(rng);
        x[5] = 0.2f;  // an outlier
        std::vector<std::uint8_t> blocks(cols / layout_of(type).weights * layout_of(type).bytes);
        quantize_row(type, x, blocks);
        dequantize_row(type, blocks.data(), back.data(), cols);
        double error = 0.0, energy = 0.0;
        for (std::size_t j = 0; j < cols; ++j) {
            error += (back[j] - x[j]) * static_cast<double>(back[j] - x[j]);
            energy += x[j] * static_cast<double>(x[j]);
        }
        CHECK(std::sqrt(error / energy) <= bound);
        // Zeros stay zeros, NaN is refused.
        std::vector<float> zeros(cols, 0.0f);
        quantize_row(type, zeros, blocks);
        dequantize_row(type, blocks.data(), back.data(), cols);
        CHECK(std::all_of(back.begin(), back.end(), [](float v) { return v == 0.0f; }));
        zeros[3] = std::numeric_limits<float>::quiet_NaN();
        CHECK_THROWS_AS(quantize_row(type, zeros, blocks), value_error);
    }
    std::vector<std::uint8_t> out(18);
    CHECK_THROWS_AS(quantize_row(block_type::q4_0, std::vector<float>(32, 1.0f), out), value_error);
}

TEST_CASE("a model's head in a block format: converted at load, written by gguf_of, read back the same") {
    namespace b = bitnet;
    using model_type = b::transformer<b::ternary_linear<two_bit>>;
    const auto config = b::preset_config("2b4t,dim=256,hidden=512,layers=1,heads=4,kv_heads=1,vocab=300,seq=16");
    const std::vector<std::size_t> prompt = {1, 17, 250, 3, 99};
    const auto logits = [&](model_type& m) {
        const auto l = m.forward(std::span<const std::size_t>(prompt), 0);
        return std::vector<float>(l.begin(), l.end());
    };
    model_type model = b::random_model<b::ternary_linear<two_bit>>(config, 5);
    REQUIRE(model.stored_head().format() == b::float_format::f16);
    const std::vector<float> stored = logits(model);
    const float range = *std::max_element(stored.begin(), stored.end()) - *std::min_element(stored.begin(), stored.end());
    for (const auto& format_tolerance : std::vector<std::pair<b::float_format, float>>{
             {b::float_format::q8_0, 0.02f}, {b::float_format::q6_k, 0.05f}, {b::float_format::q4_k, 0.2f}}) {
        const b::float_format format = format_tolerance.first;
        const float tolerance = format_tolerance.second;
        CAPTURE(b::format_name(format));
        model.use_head_format(format);
        CHECK(model.head().format() == format);
        CHECK(model.stored_head().format() == b::float_format::f16);
        const std::vector<float> converted = logits(model);
        float worst = 0.0f;
        for (std::size_t i = 0; i < stored.size(); ++i) worst = std::max(worst, std::fabs(converted[i] - stored[i]));
        CHECK(worst <= tolerance * range);

        // Written with that head (the tied embedding stays f16, the head becomes output.weight)
        // and read back: the same logits bit for bit.
        io::gguf_save_options options;
        options.head_format = format;
        const auto bytes = io::gguf_of(model, options).bytes();
        io::any_model loaded = io::load_gguf(io::mapped_file::from_bytes(bytes, "head.gguf"));
        auto& reread = std::get<model_type>(loaded);
        REQUIRE(reread.weights().output.has_value());
        CHECK(reread.weights().output->format() == format);
        CHECK(reread.weights().token_embedding.format() == b::float_format::f16);
        CHECK(logits(reread) == converted);
        reread.use_head_format(format);  // already in that format: nothing converted
        CHECK(&reread.head() == &*reread.weights().output);
    }
    model.use_head_format(b::float_format::f16);  // the stored format again: the stored head
    CHECK(&model.head() == &model.stored_head());
    CHECK(logits(model) == stored);
    CHECK_THROWS_AS(model.use_head_format(b::float_format::q5_k), value_error);  // no quantizer for it
}
