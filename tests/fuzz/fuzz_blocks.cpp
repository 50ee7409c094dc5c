// libFuzzer target: arbitrary bytes as a matrix in one of ggml's block formats (the first byte
// picks the format, the second the blocks per row, the rest are the blocks). Making the matrix
// must give a float_matrix or a ternary::error (shapes, NaN/Inf factors); every row then
// dequantizes and the matrix multiplies a token, reading nothing outside the bytes.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <ternary/bitnet/float_matrix.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    namespace b = ternary::bitnet;
    const auto type = ternary::all_block_types[data[0] % ternary::all_block_types.size()];
    const ternary::block_layout layout = ternary::layout_of(type);
    const std::size_t cols = layout.weights * (1 + data[1] % 4);
    const std::span<const std::uint8_t> blocks(data + 2, size - 2);
    const std::size_t row_bytes = cols / layout.weights * layout.bytes;
    const std::size_t rows = blocks.size() / row_bytes;
    try {
        // The bytes as they come (a size that is not whole rows must be refused), then whole rows.
        (void)b::float_matrix::over(b::format_of(type), blocks, rows == 0 ? 1 : rows, cols, nullptr);
    } catch (const ternary::error&) {
    }
    if (rows == 0) return 0;
    try {
        const auto m = b::float_matrix::over(b::format_of(type), blocks.first(rows * row_bytes), rows, cols, nullptr);
        std::vector<float> row(cols), x(cols), out(rows);
        float sum = 0.0f;
        for (std::size_t i = 0; i < rows; ++i) {
            m.row(i, row);
            for (float v : row) sum += v;
        }
        for (std::size_t j = 0; j < cols; ++j) x[j] = static_cast<float>(j % 7) - 3.0f;
        m.multiply(out, x);
        for (float v : out) sum += v;
        if (sum == 1.0f) throw ternary::error("unlikely");  // keep the work from being optimized away
    } catch (const ternary::error&) {
    }
    return 0;
}
