// Packings: lossless round trips, the exact bit layouts of formats.md, byte validation.

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "support.hpp"

using ternary::base3;
using ternary::base3_window;
using ternary::two_bit;

namespace {

constexpr std::array<std::size_t, 14> edge_cols{1, 2, 3, 4, 5, 6, 9, 63, 64, 65, 127, 320, 1001, 4099};
constexpr std::array<std::size_t, 3> edge_rows{1, 3, 7};

template <class P>
ternary::ternary_matrix<P> pack(const std::vector<std::int8_t>& trits, std::size_t rows, std::size_t cols) {
    return ternary::ternary_matrix<P>::from_trits(trits, rows, cols, ternary::weight_scales::per_matrix(1.0f));
}

/// The first byte value P's validation refuses as the first byte of a row of
/// P::weights_per_byte columns (the rest of the row, if P pads it, valid padding).
template <class P>
std::uint8_t first_invalid_byte_value() {
    const std::vector<std::int8_t> zeros(P::weights_per_byte, 0);
    const auto row = pack<P>(zeros, 1, P::weights_per_byte);
    std::vector<std::uint8_t> bytes(row.bytes().begin(), row.bytes().end());
    for (unsigned b = 0; b < 256; ++b) {
        bytes[0] = static_cast<std::uint8_t>(b);
        try {
            P::validate(bytes.data(), 1, P::weights_per_byte);
        } catch (const ternary::value_error&) {
            return bytes[0];
        }
    }
    FAIL("every byte value validates");
    return 0;
}

}  // namespace

TEST_CASE_TEMPLATE("packing round trips every shape losslessly", P, two_bit, base3, base3_window) {
    for (std::size_t rows : edge_rows) {
        for (std::size_t cols : edge_cols) {
            CAPTURE(rows);
            CAPTURE(cols);
            const auto trits = test::random_trits(rows * cols);
            const auto m = pack<P>(trits, rows, cols);
            // ceil(cols / G) bytes a row; base3_window pads rows to whole 64-byte vectors.
            const std::size_t weight_bytes = (cols + P::weights_per_byte - 1) / P::weights_per_byte;
            const std::size_t row_bytes = std::is_same_v<P, base3_window> ? (weight_bytes + 63) / 64 * 64 : weight_bytes;
            CHECK(m.bytes().size() == rows * row_bytes);
            CHECK(m.trits() == trits);
            // Row by row through the view, too.
            std::vector<std::int8_t> row(cols);
            for (std::size_t i = 0; i < rows; ++i) {
                m.view().unpack_row(i, row);
                CHECK(std::equal(row.begin(), row.end(), trits.begin() + static_cast<std::ptrdiff_t>(i * cols)));
            }
        }
    }
}

TEST_CASE_TEMPLATE("constant matrices round trip (all -1, all 0, all +1)", P, two_bit, base3, base3_window) {
    for (int value : {-1, 0, 1}) {
        const std::vector<std::int8_t> trits(3 * 37, static_cast<std::int8_t>(value));
        CHECK(pack<P>(trits, 3, 37).trits() == trits);
    }
}

TEST_CASE("two_bit layout: weight k in byte k/4, bits 2(k%4), code w+1, padding code 1") {
    // Written from formats.md / the header comment, not from the packer.
    const std::vector<std::int8_t> trits{-1, 0, 1, 1, /**/ 0, -1, 1};
    const auto m = pack<two_bit>(trits, 1, 7);
    REQUIRE(m.bytes().size() == 2);
    CHECK(m.bytes()[0] == (0u | 1u << 2 | 2u << 4 | 2u << 6));
    CHECK(m.bytes()[1] == (1u | 0u << 2 | 2u << 4 | 1u << 6));
}

TEST_CASE("base3 layout: 5 trits as ceil(n * 256 / 243), first trit most significant") {
    const std::vector<std::int8_t> trits{1, -1, 0, 1, 1, /**/ -1, 1};
    const auto m = pack<base3>(trits, 1, 7);
    REQUIRE(m.bytes().size() == 2);
    const unsigned n0 = 2 * 81 + 0 * 27 + 1 * 9 + 2 * 3 + 2;  // trits + 1 = 2 0 1 2 2
    const unsigned n1 = 0 * 81 + 2 * 27 + 1 * 9 + 1 * 3 + 1;  // 0 2, then padding 1 1 1
    CHECK(m.bytes()[0] == (n0 * 256 + 242) / 243);
    CHECK(m.bytes()[1] == (n1 * 256 + 242) / 243);
}

TEST_CASE("base3 decodes all 243 five-trit numbers exactly") {
    for (unsigned n = 0; n < 243; ++n) {
        const std::uint8_t byte = base3::encode(n);
        unsigned rest = n;
        for (int k = 4; k >= 0; --k) {  // digits by division, last trit first
            CHECK(base3::trit(byte, static_cast<std::size_t>(k)) == rest % 3);
            rest /= 3;
        }
    }
}

TEST_CASE("two_bit validation rejects code 3 and non-zero padding, accepts everything else") {
    for (unsigned byte = 0; byte < 256; ++byte) {
        const std::array<std::uint8_t, 1> data{static_cast<std::uint8_t>(byte)};
        bool has_code_3 = false;
        for (int k = 0; k < 4; ++k) has_code_3 |= ((byte >> (2 * k)) & 3u) == 3;
        CAPTURE(byte);
        // 4 columns: no padding.
        if (has_code_3) {
            CHECK_THROWS_AS(two_bit::validate(data.data(), 1, 4), ternary::value_error);
        } else {
            CHECK_NOTHROW(two_bit::validate(data.data(), 1, 4));
        }
        // 3 columns: the top code is padding and must be 1.
        const bool bad_padding = (byte >> 6) != 1;
        if (has_code_3 || bad_padding) {
            CHECK_THROWS_AS(two_bit::validate(data.data(), 1, 3), ternary::value_error);
        } else {
            CHECK_NOTHROW(two_bit::validate(data.data(), 1, 3));
        }
    }
}

TEST_CASE("base3 validation accepts exactly the 243 encodings") {
    std::array<bool, 256> is_encoding{};
    for (unsigned n = 0; n < 243; ++n) is_encoding[(n * 256 + 242) / 243] = true;
    int accepted = 0;
    for (unsigned byte = 0; byte < 256; ++byte) {
        const std::array<std::uint8_t, 1> data{static_cast<std::uint8_t>(byte)};
        CAPTURE(byte);
        if (is_encoding[byte]) {
            CHECK_NOTHROW(base3::validate(data.data(), 1, 5));
            ++accepted;
        } else {
            CHECK_THROWS_AS(base3::validate(data.data(), 1, 5), ternary::value_error);
        }
    }
    CHECK(accepted == 243);
    // 4 columns: the fifth trit is padding and must be 1 (weight 0).
    const std::array<std::uint8_t, 1> padded_zero{base3::encode(1)};   // trits 0 0 0 0 1
    const std::array<std::uint8_t, 1> padded_one{base3::encode(2)};    // trits 0 0 0 0 2
    CHECK_NOTHROW(base3::validate(padded_zero.data(), 1, 4));
    CHECK_THROWS_AS(base3::validate(padded_one.data(), 1, 4), ternary::value_error);
}

TEST_CASE("base3_window: all 243 patterns encode, 250 bytes decode, by the two tables") {
    // The code as docs/packings.md defines it, read from the tables here, not from the packing.
    const auto codes_of = [](unsigned v) {
        const unsigned low = ternary::detail::window_low.bytes[v & 63u];
        const unsigned f = low ^ ternary::detail::window_high.bytes[v >> 2];
        return std::array<unsigned, 5>{low & 3u, f & 3u, (f >> 2) & 3u, (f >> 4) & 3u, (f >> 6) & 3u};
    };
    // A row of 5 weights is one byte of weights and 63 of padding (all codes 1).
    const std::vector<std::int8_t> zeros(5, 0);
    const auto zero_row = pack<base3_window>(zeros, 1, 5);
    REQUIRE(zero_row.bytes().size() == 64);
    CHECK(codes_of(zero_row.bytes()[63]) == std::array<unsigned, 5>{1, 1, 1, 1, 1});
    std::array<int, 243> bytes_of_pattern{};
    int accepted = 0;
    for (unsigned v = 0; v < 256; ++v) {
        CAPTURE(v);
        const auto c = codes_of(v);
        const bool valid = std::all_of(c.begin(), c.end(), [](unsigned code) { return code <= 2; });
        std::vector<std::uint8_t> row(zero_row.bytes().begin(), zero_row.bytes().end());
        row[0] = static_cast<std::uint8_t>(v);
        if (!valid) {
            CHECK_THROWS_AS(base3_window::validate(row.data(), 1, 5), ternary::value_error);
            continue;
        }
        CHECK_NOTHROW(base3_window::validate(row.data(), 1, 5));
        ++accepted;
        unsigned n = 0;
        for (unsigned code : c) n = n * 3 + code;
        ++bytes_of_pattern[n];
        // Decoding gives these codes as weights, and encoding them gives a byte of the same codes.
        const auto m = ternary::ternary_matrix<base3_window>::from_packed(
            1, 5, ternary::weight_scales::per_matrix(1.0f), [&](std::uint8_t* out) { std::copy(row.begin(), row.end(), out); });
        const auto trits = m.trits();
        for (std::size_t k = 0; k < 5; ++k) CHECK(trits[k] == static_cast<int>(c[k]) - 1);
        CHECK(codes_of(pack<base3_window>(trits, 1, 5).bytes()[0]) == c);
    }
    CHECK(accepted == 250);
    CHECK(std::count(bytes_of_pattern.begin(), bytes_of_pattern.end(), 0) == 0);  // every pattern
    CHECK(std::count(bytes_of_pattern.begin(), bytes_of_pattern.end(), 2) == 7);   // 7 with two bytes
    // 4 columns: the fifth weight is padding and must be code 1 (weight 0); so must every code
    // of the padding bytes.
    const std::vector<std::int8_t> four{1, -1, 0, 1};
    const auto padded = pack<base3_window>(four, 1, 4);
    CHECK(codes_of(padded.bytes()[0])[4] == 1);
    std::vector<std::uint8_t> bad(padded.bytes().begin(), padded.bytes().end());
    CHECK_NOTHROW(base3_window::validate(bad.data(), 1, 4));
    const std::vector<std::int8_t> five{1, -1, 0, 1, 1};
    bad[0] = pack<base3_window>(five, 1, 5).bytes()[0];
    CHECK_THROWS_AS(base3_window::validate(bad.data(), 1, 4), ternary::value_error);
    bad[0] = padded.bytes()[0];
    bad[40] = pack<base3_window>(five, 1, 5).bytes()[0];  // a padding byte with weights
    CHECK(base3_window::first_invalid_byte(bad.data(), 4) == 40);
}

TEST_CASE("two_bit validation finds the first bad byte of a long row, wherever it is") {
    // Rows long enough for the 8-bytes-at-a-time scan, with every byte value at every position
    // of a few words, and the padding byte last (cols not a multiple of 4).
    const std::size_t cols = 4 * 40 + 2;
    std::array<std::uint8_t, two_bit::row_bytes(cols)> row{};
    row.fill(0x55);  // all zeros; the last byte's two padding codes are 1 too
    REQUIRE(two_bit::first_invalid_byte(row.data(), cols) == row.size());
    for (std::size_t at : {0u, 1u, 7u, 8u, 15u, 23u, 39u, 40u}) {
        for (unsigned byte = 0; byte < 256; ++byte) {
            std::array<std::uint8_t, row.size()> bad = row;
            bad[at] = static_cast<std::uint8_t>(byte);
            bool code_3 = false;
            for (int k = 0; k < 4; ++k) code_3 |= ((byte >> (2 * k)) & 3u) == 3;
            const bool padding_wrong = at == 40 && (byte >> 4) != 5;  // the last byte: 2 weights, 2 padding codes 1
            CAPTURE(at);
            CAPTURE(byte);
            CHECK(two_bit::first_invalid_byte(bad.data(), cols) == (code_3 || padding_wrong ? at : row.size()));
        }
    }
}

TEST_CASE_TEMPLATE("views over external bytes: validated, any alignment, exact size", P, two_bit, base3, base3_window) {
    const std::size_t rows = 5, cols = 77;
    const auto trits = test::random_trits(rows * cols);
    const auto m = pack<P>(trits, rows, cols);
    const float gamma = 0.5f;

    // The same bytes at an odd address.
    std::vector<std::uint8_t> storage(m.bytes().size() + 1);
    std::copy(m.bytes().begin(), m.bytes().end(), storage.begin() + 1);
    const std::span<const std::uint8_t> odd(storage.data() + 1, m.bytes().size());
    const ternary::scales_view scales(ternary::scale_kind::per_matrix, {&gamma, 1});
    const ternary::ternary_matrix_view<P> view(odd, rows, cols, scales);
    CHECK(view.trits() == trits);

    // Wrong size.
    CHECK_THROWS_AS(ternary::ternary_matrix_view<P>(odd.first(odd.size() - 1), rows, cols, scales),
                    ternary::shape_error);
    // A corrupt byte.
    storage[1 + m.bytes().size() / 2] = first_invalid_byte_value<P>();
    try {
        ternary::ternary_matrix_view<P> corrupt(odd, rows, cols, scales);
        FAIL("a corrupt byte was accepted");
    } catch (const ternary::value_error& e) {
        CHECK(std::string(e.what()).find("encodes no weights") != std::string::npos);
    }
    // An owning copy of a corrupt view is refused too.
    const ternary::ternary_matrix_view<P> unchecked(ternary::trusted_bytes, odd, rows, cols, scales);
    CHECK_THROWS_AS(ternary::ternary_matrix<P>{unchecked}, ternary::value_error);
}

TEST_CASE("repacking between the packings is lossless and keeps the scales") {
    // two_bit -> base3 and -> base3_window go 20 weights at a time by a table, the rest through
    // trits; base3 <-> base3_window byte by byte; rows are split over the thread pool. The bytes
    // must be the target packing's own packing of the trits.
    for (const auto& shape : {std::pair<std::size_t, std::size_t>{9, 259}, {3, 1}, {3, 5}, {4, 19}, {4, 20}, {4, 21},
                              {300, 40}, {67, 2561}}) {
        const std::size_t rows = shape.first, cols = shape.second;  // not a structured binding: CAPTURE's lambda reads them
        CAPTURE(rows);
        CAPTURE(cols);
        const auto trits = test::random_trits(rows * cols);
        std::vector<float> row_scales(rows);
        for (std::size_t i = 0; i < rows; ++i) row_scales[i] = 0.25f * static_cast<float>(i + 1);
        const auto scales = ternary::weight_scales::per_row(row_scales);
        const auto a = ternary::ternary_matrix<two_bit>::from_trits(trits, rows, cols, scales);
        const auto direct_base3 = ternary::ternary_matrix<base3>::from_trits(trits, rows, cols, scales);
        const auto direct_window = ternary::ternary_matrix<base3_window>::from_trits(trits, rows, cols, scales);
        const auto same_bytes = [](const auto& x, const auto& y) {
            return std::equal(x.bytes().begin(), x.bytes().end(), y.bytes().begin(), y.bytes().end());
        };
        const auto b = ternary::repack<base3>(a);
        const auto w = ternary::repack<base3_window>(a);
        const auto w_from_b = ternary::repack<base3_window>(b.view());
        const auto b_from_w = ternary::repack<base3>(w.view());
        const auto c = ternary::repack<two_bit>(b.view());
        const auto c_from_w = ternary::repack<two_bit>(w.view());
        CHECK(b.trits() == trits);
        CHECK(w.trits() == trits);
        CHECK(c.trits() == trits);
        CHECK(same_bytes(b, direct_base3));
        CHECK(same_bytes(w, direct_window));
        CHECK(same_bytes(w_from_b, direct_window));
        CHECK(same_bytes(b_from_w, direct_base3));
        CHECK(same_bytes(a, c));
        CHECK(same_bytes(a, c_from_w));
        CHECK(b.scales().values() == row_scales);
        CHECK(w.scales().values() == row_scales);
        CHECK(c.scales().values() == row_scales);
        CHECK(b.bytes().size() <= a.bytes().size());
    }
}

TEST_CASE("from_trits refuses bad trits, shapes and scales") {
    const std::vector<std::int8_t> bad{0, 1, 2, -1};
    CHECK_THROWS_WITH_AS(pack<two_bit>(bad, 2, 2), doctest::Contains("trit (1, 0) is 2"), ternary::value_error);
    CHECK_THROWS_AS(pack<two_bit>(std::vector<std::int8_t>(6), 2, 2), ternary::shape_error);
    CHECK_THROWS_AS(pack<two_bit>({}, 0, 4), ternary::shape_error);
    CHECK_THROWS_AS(pack<base3>({}, 4, 0), ternary::shape_error);
    const std::vector<std::int8_t> zeros(4);
    CHECK_THROWS_AS(ternary::ternary_matrix<two_bit>::from_trits(zeros, 2, 2, ternary::weight_scales::per_row({1.0f})),
                    ternary::shape_error);
    CHECK_THROWS_AS(ternary::ternary_matrix<two_bit>::from_trits(
                        zeros, 2, 2, ternary::weight_scales::per_matrix(std::numeric_limits<float>::quiet_NaN())),
                    ternary::value_error);
    CHECK_THROWS_AS(ternary::ternary_matrix<two_bit>::from_trits(
                        zeros, 2, 2, ternary::weight_scales::per_matrix(std::numeric_limits<float>::infinity())),
                    ternary::value_error);
    CHECK_THROWS_AS(ternary::ternary_matrix<two_bit>::from_trits(zeros, 2, 2, ternary::weight_scales::per_block(0, {1.0f})),
                    ternary::shape_error);
}

TEST_CASE("rows longer than max_cols are refused before any allocation") {
    CHECK_THROWS_WITH_AS(pack<two_bit>({}, 1, ternary::max_cols + 1), doctest::Contains("ternary::max_cols"),
                         ternary::shape_error);
    CHECK_THROWS_AS(ternary::activation_batch(1, ternary::max_cols + 1), ternary::shape_error);
    CHECK_NOTHROW(ternary::activation_batch(1, ternary::max_cols));
}
