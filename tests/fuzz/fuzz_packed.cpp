// libFuzzer target: arbitrary bytes as a packed ternary matrix (the first byte picks the packing,
// the second the row length). Viewing the bytes must validate them or throw a ternary::error;
// a matrix that validates is repacked into every other packing and back, which must keep every
// trit and give each packing's own bytes for them.
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <span>
#include <tuple>
#include <type_traits>
#include <vector>

#include <ternary/pack/convert.hpp>
#include <ternary/ternary.hpp>

namespace {

template <class To, class From>
void round_trip(const ternary::ternary_matrix_view<From>& m, const std::vector<std::int8_t>& trits) {
    const auto there = ternary::repack<To>(m);
    const auto back = ternary::repack<From>(there.view());
    if (there.trits() != trits || back.trits() != trits) __builtin_trap();
    // Another packing writes its own bytes for the trits (a copy keeps the input's bytes, which
    // may hold base3_window's second byte of a pattern).
    if constexpr (std::is_same_v<To, From>) return;
    const auto direct = ternary::ternary_matrix<To>::from_trits(trits, m.rows(), m.cols(), ternary::weight_scales::per_matrix(1.0f));
    if (!std::equal(there.bytes().begin(), there.bytes().end(), direct.bytes().begin(), direct.bytes().end())) __builtin_trap();
}

template <class P>
void check(std::span<const std::uint8_t> bytes, std::size_t cols) {
    const std::size_t row_bytes = P::row_bytes(cols);
    const std::size_t rows = bytes.size() / row_bytes;
    const float gamma = 1.0f;
    const ternary::scales_view scales(ternary::scale_kind::per_matrix, {&gamma, 1});
    try {
        // The bytes as they come (a size that is not whole rows must be refused), then whole rows.
        (void)ternary::ternary_matrix_view<P>(bytes, rows == 0 ? 1 : rows, cols, scales);
    } catch (const ternary::error&) {
    }
    if (rows == 0) return;
    try {
        const ternary::ternary_matrix_view<P> m(bytes.first(rows * row_bytes), rows, cols, scales);
        const std::vector<std::int8_t> trits = m.trits();
        for (std::int8_t t : trits) {
            if (t < -1 || t > 1) __builtin_trap();
        }
        std::apply([&](auto... to) { (round_trip<decltype(to)>(m, trits), ...); },
                   std::tuple<ternary::two_bit, ternary::base3, ternary::base3_window>{});
    } catch (const ternary::error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::span<const std::uint8_t> bytes(data + 2, size - 2);
    const std::size_t cols = 1 + data[1] % 64;
    switch (data[0] % 3) {
        case 0: check<ternary::two_bit>(bytes, cols); break;
        case 1: check<ternary::base3>(bytes, cols); break;
        default: check<ternary::base3_window>(bytes, cols); break;
    }
    return 0;
}
