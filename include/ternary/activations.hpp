#pragma once
// Quantized activations: int8 values, one float scale per token and the cached per-token sum.
//
// Scale convention (the paper's and bitnet.cpp's): q = round(x * scale), x ~= q / scale, and a
// linear layer's output is dot(w, q) * weight_scale / scale. The sum of q is cached because
// kernels that store weights as w + 1 compute dot(w, q) = dot(w + 1, q) - sum(q).
//
// Each token's values start on a 64-byte boundary and are zero-padded to row_stride()
// (a multiple of 64), so kernels may load whole 64-byte vectors: the padding contributes 0.
// Views are only made from owning batches, so these guarantees always hold for a view.

#include "config.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "aligned_buffer.hpp"
#include "error.hpp"
#include "limits.hpp"
#include "matrix_view.hpp"

namespace ternary::inline TERNARY_ABI {

/// The scale of an all-zero token: 127 / max(max|x|, 1e-5) with max|x| = 0.
inline constexpr float zero_token_scale = 127.0f / 1e-5f;

class activation_batch;

/// Read-only view of some tokens of an activation_batch.
class activation_batch_view {
public:
    std::size_t tokens() const noexcept { return tokens_; }
    std::size_t cols() const noexcept { return cols_; }
    /// Bytes from one token's values to the next: a multiple of 64, zero-padded after cols().
    std::size_t row_stride() const noexcept { return row_stride_; }
    /// Token t's values start at data() + t * row_stride(), 64-byte aligned.
    const std::int8_t* data() const noexcept { return data_; }

    std::span<const std::int8_t> values(std::size_t t) const noexcept {
        return {data_ + t * row_stride_, cols_};
    }
    float scale(std::size_t t) const noexcept { return scales_[t]; }
    std::int32_t sum(std::size_t t) const noexcept { return sums_[t]; }

    /// The single token t.
    activation_batch_view token(std::size_t t) const { return tokens(t, 1); }

    /// Tokens [first, first + count).
    activation_batch_view tokens(std::size_t first, std::size_t count) const {
        if (first > tokens_ || count > tokens_ - first || count == 0) {
            detail::fail<shape_error>("activation_batch_view::tokens", "tokens ", first, " to ", first + count,
                                      " of ", tokens_);
        }
        return {data_ + first * row_stride_, count, cols_, row_stride_, scales_ + first, sums_ + first};
    }

private:
    friend class activation_batch;
    activation_batch_view(const std::int8_t* data, std::size_t tokens, std::size_t cols,
                          std::size_t row_stride, const float* scales, const std::int32_t* sums)
        : data_(data), tokens_(tokens), cols_(cols), row_stride_(row_stride), scales_(scales), sums_(sums) {}

    const std::int8_t* data_;
    std::size_t tokens_;
    std::size_t cols_;
    std::size_t row_stride_;
    const float* scales_;
    const std::int32_t* sums_;
};

namespace detail {
struct activation_writer;
}

/// Owning batch of quantized tokens (tokens x cols).
class activation_batch {
public:
    /// All-zero activations: what quantizing zeros gives (q = 0, sum 0, zero_token_scale).
    activation_batch(std::size_t tokens, std::size_t cols)
        : tokens_(tokens), cols_(cols), row_stride_(round_up(cols, storage_alignment)),
          values_((detail::check_shape("activation_batch", tokens, cols), tokens * row_stride_)),
          scales_(tokens, zero_token_scale), sums_(tokens, 0) {}

    /// Copies already-quantized values (tokens x cols, any layout) with their per-token
    /// scales (finite, > 0) and computes the sums.
    static activation_batch from_int8(matrix_view<const std::int8_t> q, std::span<const float> scales) {
        activation_batch batch(q.rows(), q.cols());
        if (scales.size() != q.rows()) {
            detail::fail<shape_error>("activation_batch::from_int8", q.rows(), " tokens need ",
                                      q.rows(), " scales, got ", scales.size());
        }
        for (std::size_t t = 0; t < q.rows(); ++t) {
            if (!(std::isfinite(scales[t]) && scales[t] > 0.0f)) {
                detail::fail<value_error>("activation_batch::from_int8", "token ", t, " has scale ",
                                          scales[t], "; scales must be finite and > 0");
            }
            std::int32_t sum = 0;
            for (std::size_t j = 0; j < q.cols(); ++j) {
                batch.values_.data()[t * batch.row_stride_ + j] = q(t, j);
                sum += q(t, j);
            }
            batch.scales_[t] = scales[t];
            batch.sums_[t] = sum;
        }
        return batch;
    }

    std::size_t tokens() const noexcept { return tokens_; }
    std::size_t cols() const noexcept { return cols_; }
    std::size_t row_stride() const noexcept { return row_stride_; }
    std::span<const std::int8_t> values(std::size_t t) const noexcept { return view().values(t); }
    float scale(std::size_t t) const noexcept { return scales_[t]; }
    std::int32_t sum(std::size_t t) const noexcept { return sums_[t]; }

    activation_batch_view view() const noexcept {
        return {values_.data(), tokens_, cols_, row_stride_, scales_.data(), sums_.data()};
    }
    operator activation_batch_view() const noexcept { return view(); }
    activation_batch_view token(std::size_t t) const { return view().token(t); }

private:
    friend struct detail::activation_writer;

    std::size_t tokens_;
    std::size_t cols_;
    std::size_t row_stride_;
    aligned_buffer<std::int8_t> values_;
    std::vector<float> scales_;
    std::vector<std::int32_t> sums_;
};

/// One quantized token: an activation_batch of one.
class quantized_vector {
public:
    explicit quantized_vector(std::size_t size) : batch_(1, size) {}

    /// Copies already-quantized values with their scale (finite, > 0) and computes the sum.
    static quantized_vector from_int8(std::span<const std::int8_t> q, float scale) {
        return quantized_vector(activation_batch::from_int8(
            matrix_view<const std::int8_t>::row_major(q.data(), 1, q.size()), {&scale, 1}));
    }

    std::size_t size() const noexcept { return batch_.cols(); }
    std::span<const std::int8_t> values() const noexcept { return batch_.values(0); }
    float scale() const noexcept { return batch_.scale(0); }
    std::int32_t sum() const noexcept { return batch_.sum(0); }

    const activation_batch& batch() const noexcept { return batch_; }
    activation_batch& batch() noexcept { return batch_; }
    activation_batch_view view() const noexcept { return batch_.view(); }
    operator activation_batch_view() const noexcept { return batch_.view(); }

private:
    explicit quantized_vector(activation_batch batch) : batch_(std::move(batch)) {}
    activation_batch batch_;
};

namespace detail {

/// Write access for the quantizers, which keep a batch's invariants (sums, padding).
struct activation_writer {
    static std::int8_t* values(activation_batch& b, std::size_t t) {
        return b.values_.data() + t * b.row_stride_;
    }
    static void set(activation_batch& b, std::size_t t, float scale, std::int32_t sum) {
        b.scales_[t] = scale;
        b.sums_[t] = sum;
    }
};

}  // namespace detail
}  // namespace ternary::inline TERNARY_ABI
