#pragma once
// How the trits of a matrix map back to real weights: weight(i, j) = trit(i, j) * scale.
// BitNet b1.58 has one scale per matrix (the absmean gamma); imported formats may carry one
// per row or one per block of columns (TQ2_0: one per 256 weights).

#include "config.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "error.hpp"

namespace ternary::inline TERNARY_ABI {

enum class scale_kind { per_matrix, per_row, per_block };

/// Non-owning scales: weight(i, j) = trit(i, j) * scale(i, j / block_cols()).
class scales_view {
public:
    scales_view() = default;

    /// `values` holds 1 (per_matrix), rows (per_row) or rows * ceil(cols / block_cols)
    /// (per_block, row-major) floats; the count is checked when the view is bound to a matrix.
    scales_view(scale_kind kind, std::span<const float> values, std::size_t block_cols = 0)
        : kind_(kind), values_(values), block_cols_(block_cols) {
        if (reinterpret_cast<std::uintptr_t>(values.data()) % alignof(float) != 0) {
            detail::fail<alignment_error>("scales_view", "scale array at ", values.data(),
                                          " is not aligned for float");
        }
        if (kind == scale_kind::per_block && block_cols == 0) {
            detail::fail<shape_error>("scales_view", "per-block scales need block_cols > 0");
        }
    }

    scale_kind kind() const noexcept { return kind_; }
    std::span<const float> values() const noexcept { return values_; }

    /// Columns covered by one scale in a matrix of `cols` columns (the last block of a row may
    /// be shorter).
    std::size_t block_cols(std::size_t cols) const noexcept {
        return kind_ == scale_kind::per_block ? block_cols_ : cols;
    }
    std::size_t blocks_per_row(std::size_t cols) const noexcept {
        const std::size_t width = block_cols(cols);
        return (cols + width - 1) / width;
    }
    std::size_t expected_count(std::size_t rows, std::size_t cols) const noexcept {
        switch (kind_) {
            case scale_kind::per_matrix: return 1;
            case scale_kind::per_row: return rows;
            case scale_kind::per_block: return rows * blocks_per_row(cols);
        }
        return 0;
    }

    /// The scale of block `block` of row `row` (of a view bound to its matrix's shape).
    float operator()(std::size_t row, std::size_t block) const noexcept {
        switch (kind_) {
            case scale_kind::per_matrix: return values_[0];
            case scale_kind::per_row: return values_[row];
            case scale_kind::per_block: return values_[row * row_stride_ + block];
        }
        return 0.0f;
    }

    /// Binds the view to a rows x cols matrix; throws unless the scales fit it and (when
    /// `check_values`) are all finite.
    void bind(const char* where, std::size_t rows, std::size_t cols, bool check_values = true) {
        if (values_.size() != expected_count(rows, cols)) {
            detail::fail<shape_error>(where, "a ", rows, " x ", cols, " matrix needs ",
                                      expected_count(rows, cols), " scales, got ", values_.size());
        }
        for (std::size_t k = 0; check_values && k < values_.size(); ++k) {
            if (!std::isfinite(values_[k])) {
                detail::fail<value_error>(where, "scale ", k, " is ", values_[k]);
            }
        }
        row_stride_ = kind_ == scale_kind::per_block ? blocks_per_row(cols) : 1;
    }

private:
    scale_kind kind_ = scale_kind::per_matrix;
    std::span<const float> values_;
    std::size_t block_cols_ = 0;
    std::size_t row_stride_ = 1;  // scales per row once bound (per_block)
};

/// Owning scales.
class weight_scales {
public:
    static weight_scales per_matrix(float gamma) { return {scale_kind::per_matrix, {gamma}, 0}; }
    static weight_scales per_row(std::vector<float> values) {
        return {scale_kind::per_row, std::move(values), 0};
    }
    static weight_scales per_block(std::size_t block_cols, std::vector<float> values) {
        return {scale_kind::per_block, std::move(values), block_cols};
    }

    /// An owning copy of a view's scales.
    static weight_scales copy_of(const scales_view& view) {
        return {view.kind(), std::vector<float>(view.values().begin(), view.values().end()),
                view.kind() == scale_kind::per_block ? view.block_cols(0) : 0};
    }

    scale_kind kind() const noexcept { return kind_; }
    const std::vector<float>& values() const noexcept { return values_; }
    scales_view view() const { return {kind_, values_, block_cols_}; }

private:
    weight_scales(scale_kind kind, std::vector<float> values, std::size_t block_cols)
        : kind_(kind), values_(std::move(values)), block_cols_(block_cols) {}

    scale_kind kind_;
    std::vector<float> values_;
    std::size_t block_cols_;
};

}  // namespace ternary::inline TERNARY_ABI
