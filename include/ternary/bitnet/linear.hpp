#pragma once
// The two linear layers a model can be built from (y = W x, no bias):
//   float_linear          full-precision weights, for float checkpoints and the paper's
//                         side-by-side comparison with a same-shape float model;
//   ternary_linear<P>     BitLinear: x quantized per token with absmax to int8, weights in
//                         {-1, 0, +1} with their scale, an exact int32 dot, one float rescale.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "../activations.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../gemm.hpp"
#include "../pack/two_bit.hpp"
#include "../quant/absmax.hpp"
#include "../ternary_matrix.hpp"

namespace ternary::inline TERNARY_ABI::bitnet {

/// out[i] = sum_j w[i * cols + j] x[j] for rows x cols row-major floats, summed in index order
/// (as llama2.c's matmul, so a float model reproduces its outputs bit for bit).
inline void float_matvec(std::span<float> out, const float* w, std::size_t rows, std::size_t cols,
                         std::span<const float> x) {
    for (std::size_t i = 0; i < rows; ++i) {
        const float* row = w + i * cols;
        float sum = 0.0f;
        for (std::size_t j = 0; j < cols; ++j) sum += row[j] * x[j];
        out[i] = sum;
    }
}

class float_linear {
public:
    float_linear() = default;
    /// weights: rows x cols, row-major (one row per output, PyTorch order).
    float_linear(std::vector<float> weights, std::size_t rows, std::size_t cols)
        : weights_(std::move(weights)), rows_(rows), cols_(cols) {
        if (weights_.size() != rows * cols) {
            detail::fail<shape_error>("float_linear", rows, " x ", cols, " weights, got ", weights_.size());
        }
    }

    std::size_t rows() const noexcept { return rows_; }
    std::size_t cols() const noexcept { return cols_; }
    std::span<const float> weights() const noexcept { return weights_; }

    /// out = W x (float_matvec).
    void forward(std::span<float> out, std::span<const float> x) const {
        float_matvec(out, weights_.data(), rows_, cols_, x);
    }

private:
    std::vector<float> weights_;
    std::size_t rows_ = 0;
    std::size_t cols_ = 0;
};

template <packing P = two_bit>
class ternary_linear {
public:
    ternary_linear() = default;
    /// normalize_input: bitllama2.c's BitLinear, which first scales its input to
    /// x / (max(|x|_2, 1e-12) sqrt(n)) (formats.md 5.4). The int8 values are those of x itself
    /// (up to rounding); only the output scale changes.
    explicit ternary_linear(ternary_matrix<P> weights, bool normalize_input = false)
        : weights_(std::move(weights)), normalize_input_(normalize_input),
          input_(1, weights_->cols()), normalized_(weights_->cols()) {}

    std::size_t rows() const noexcept { return weights_->rows(); }
    std::size_t cols() const noexcept { return weights_->cols(); }
    const ternary_matrix<P>& weights() const noexcept { return *weights_; }

    /// out = W x: absmax-quantize x (one token), exact ternary GEMV, rescale. Uses scratch
    /// held by the layer: one forward at a time per layer.
    void forward(std::span<float> out, std::span<const float> x) const {
        std::span<const float> input = x;
        if (normalize_input_) {
            float squares = 0.0f;
            for (float v : x) squares += v * v;
            const float divisor = std::max(std::sqrt(squares), 1e-12f) * std::sqrt(static_cast<float>(x.size()));
            for (std::size_t j = 0; j < x.size(); ++j) normalized_[j] = x[j] / divisor;
            input = normalized_;
        }
        quantize_into(input_, matrix_view<const float>::row_major(input.data(), 1, input.size()));
        gemv(out, *weights_, input_);
    }

private:
    std::optional<ternary_matrix<P>> weights_;
    bool normalize_input_ = false;
    mutable activation_batch input_{1, 1};      // scratch: the quantized input
    mutable std::vector<float> normalized_;    // scratch: the self-normalized input
};

}  // namespace ternary::inline TERNARY_ABI::bitnet
