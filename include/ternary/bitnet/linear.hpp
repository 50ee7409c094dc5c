#pragma once
// The two linear layers a model can be built from (y = W x, no bias), each applied to a batch
// of tokens at once (tokens x features, one row per token):
//   float_linear          full-precision weights, for float checkpoints and the paper's
//                         side-by-side comparison with a same-shape float model;
//   ternary_linear<P>     BitLinear: x quantized per token with absmax to int8, weights in
//                         {-1, 0, +1} with their scale, an exact int32 dot, one float rescale.

#include <algorithm>
#include <array>
#include <concepts>
#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../activations.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../gemm.hpp"
#include "../pack/two_bit.hpp"
#include "../quant/absmax.hpp"
#include "../ternary_matrix.hpp"
#include "float_matrix.hpp"

namespace ternary::inline TERNARY_ABI::bitnet {

/// The buffers a linear layer's forward pass works in: the input quantized to int8 (and, for
/// self-normalizing layers, normalized first). Held by the caller, not the layer, so that one
/// layer serves any number of callers at once.
struct linear_scratch {
    activation_batch input{1, 1};
    std::vector<float> normalized;
};

/// A full-precision linear layer: out = W x with W a float_matrix (f32, f16 or bf16).
class float_linear {
public:
    float_linear() = default;
    explicit float_linear(float_matrix weights) : weights_(std::move(weights)) {}
    /// weights: rows x cols floats, row-major (one row per output, PyTorch order).
    float_linear(std::vector<float> weights, std::size_t rows, std::size_t cols)
        : weights_(float_matrix::from_floats(std::move(weights), rows, cols)) {}

    std::size_t rows() const noexcept { return weights_.rows(); }
    std::size_t cols() const noexcept { return weights_.cols(); }
    const float_matrix& weights() const noexcept { return weights_; }
    /// The bytes a forward pass reads: the weights as stored.
    std::size_t weight_bytes() const noexcept { return weights_.stored_bytes(); }

    /// out = W x for each token: out is tokens x rows, x tokens x cols.
    void forward(matrix_view<float> out, matrix_view<const float> x) const { weights_.multiply(out, x); }
    /// The same (a float layer needs no scratch): the form every linear has.
    void forward(matrix_view<float> out, matrix_view<const float> x, linear_scratch&) const { forward(out, x); }

private:
    float_matrix weights_;
};

template <packing P = two_bit>
class ternary_linear {
public:
    ternary_linear() = default;
    /// normalize_input: bitllama2.c's BitLinear, which first scales its input to
    /// x / (max(|x|_2, 1e-12) sqrt(n)) (formats.md 5.4). The int8 values are those of x itself
    /// (up to rounding); only the output scale changes.
    explicit ternary_linear(ternary_matrix<P> weights, bool normalize_input = false)
        : weights_(std::move(weights)), normalize_input_(normalize_input) {}

    std::size_t rows() const noexcept { return weights_ ? weights_->rows() : 0; }
    std::size_t cols() const noexcept { return weights_ ? weights_->cols() : 0; }
    const ternary_matrix<P>& weights() const noexcept { return *weights_; }
    bool normalizes_input() const noexcept { return normalize_input_; }
    /// The bytes a forward pass reads: the packed trits (the scales are a rounding error).
    std::size_t weight_bytes() const noexcept { return weights_ ? weights_->bytes().size() : 0; }

    /// out = W x for each token: absmax-quantize each token of x to int8, exact ternary
    /// products, one float rescale. out is tokens x rows, x tokens x cols. The layer is only
    /// read: concurrent calls are safe, each with its own scratch.
    void forward(matrix_view<float> out, matrix_view<const float> x) const {
        linear_scratch scratch;
        forward(out, x, scratch);
    }
    void forward(matrix_view<float> out, matrix_view<const float> x, linear_scratch& scratch) const {
        forward_quantized(out, quantize_input(x, scratch));
    }

    /// The first half of forward: x quantized as this layer quantizes its input, into
    /// scratch.input (returned).
    const activation_batch& quantize_input(matrix_view<const float> x, linear_scratch& scratch) const {
        if (x.cols() != cols()) {
            ternary::detail::fail<shape_error>("ternary_linear", "input of ", x.cols(), " values, the layer takes ", cols());
        }
        activation_batch& input = scratch.input;
        if (input.tokens() != x.rows() || input.cols() != x.cols()) input = activation_batch(x.rows(), x.cols());
        if (normalize_input_) {
            std::vector<float>& normalized = scratch.normalized;
            normalized.resize(x.rows() * x.cols());
            for (std::size_t t = 0; t < x.rows(); ++t) {
                float squares = 0.0f;
                for (std::size_t j = 0; j < x.cols(); ++j) squares += x(t, j) * x(t, j);
                const float divisor = std::max(std::sqrt(squares), 1e-12f) * std::sqrt(static_cast<float>(x.cols()));
                for (std::size_t j = 0; j < x.cols(); ++j) normalized[t * x.cols() + j] = x(t, j) / divisor;
            }
            quantize_into(input, matrix_view<const float>::row_major(normalized.data(), x.rows(), x.cols()));
        } else {
            quantize_into(input, x);
        }
        return input;
    }

    /// The second half: the exact ternary products of quantized input and the rescale.
    void forward_quantized(matrix_view<float> out, const activation_batch& input) const {
        gemm(out, *weights_, input.view());
    }

private:
    std::optional<ternary_matrix<P>> weights_;
    bool normalize_input_ = false;
};

/// What a linear layer type is, for messages: "float", or its packing's name ("two_bit", ...).
template <class Linear>
inline constexpr std::string_view linear_kind = "float";
template <packing P>
inline constexpr std::string_view linear_kind<ternary_linear<P>> = P::name;

/// One output of forward_shared: out = linear x.
template <class Linear>
struct shared_output {
    const Linear& linear;
    matrix_view<float> out;
};

/// out = linear x for each output, linears that read the same input (q, k, v; gate, up):
/// ternary layers of the same kind quantize x once (they would all quantize it alike) and run
/// as one gemm_shared (one pass of the thread pool over all their rows); float layers just run.
template <class Linear, std::same_as<shared_output<Linear>>... More>
void forward_shared(matrix_view<const float> x, linear_scratch& scratch, shared_output<Linear> first,
                    More... more) {
    if constexpr (requires(const Linear& l) { l.quantize_input(x, scratch); }) {
        if (((more.linear.normalizes_input() == first.linear.normalizes_input()) && ...)) {
            using P = typename std::remove_cvref_t<decltype(first.linear.weights())>::packing_type;
            const activation_batch& input = first.linear.quantize_input(x, scratch);
            const std::array<gemm_target<P>, 1 + sizeof...(More)> targets{
                gemm_target<P>{first.out, first.linear.weights().view()},
                gemm_target<P>{more.out, more.linear.weights().view()}...};
            gemm_shared(std::span<const gemm_target<P>>(targets), input.view());
            return;
        }
    }
    first.linear.forward(first.out, x, scratch);
    (more.linear.forward(more.out, x, scratch), ...);
}

}  // namespace ternary::inline TERNARY_ABI::bitnet
