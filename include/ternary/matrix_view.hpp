#pragma once
// A non-owning 2-D view with arbitrary strides (std::mdspan with layout_stride, in miniature:
// libstdc++ 12 has no <mdspan>). It lets the quantizers read row-major, column-major and
// Eigen-strided floats in place, and lets GEMM write into any caller layout.

#include "config.hpp"

#include <cstddef>

namespace ternary::inline TERNARY_ABI {

template <class T>
class matrix_view {
public:
    using element_type = T;

    /// Element (i, j) lives at data[i * row_stride + j * col_stride]; strides count elements.
    constexpr matrix_view(T* data, std::size_t rows, std::size_t cols, std::ptrdiff_t row_stride,
                          std::ptrdiff_t col_stride = 1) noexcept
        : data_(data), rows_(rows), cols_(cols), row_stride_(row_stride), col_stride_(col_stride) {}

    /// Dense row-major rows x cols.
    static constexpr matrix_view row_major(T* data, std::size_t rows, std::size_t cols) noexcept {
        return {data, rows, cols, static_cast<std::ptrdiff_t>(cols), 1};
    }
    /// Dense column-major rows x cols.
    static constexpr matrix_view col_major(T* data, std::size_t rows, std::size_t cols) noexcept {
        return {data, rows, cols, 1, static_cast<std::ptrdiff_t>(rows)};
    }

    /// A read-only view of the same elements.
    constexpr operator matrix_view<const T>() const noexcept {
        return {data_, rows_, cols_, row_stride_, col_stride_};
    }

    /// The same elements with rows and columns swapped.
    constexpr matrix_view transposed() const noexcept {
        return {data_, cols_, rows_, col_stride_, row_stride_};
    }

    constexpr T& operator()(std::size_t i, std::size_t j) const noexcept {
        return data_[static_cast<std::ptrdiff_t>(i) * row_stride_ +
                     static_cast<std::ptrdiff_t>(j) * col_stride_];
    }

    constexpr std::size_t rows() const noexcept { return rows_; }
    constexpr std::size_t cols() const noexcept { return cols_; }
    constexpr std::size_t extent(int r) const noexcept { return r == 0 ? rows_ : cols_; }
    constexpr std::ptrdiff_t stride(int r) const noexcept { return r == 0 ? row_stride_ : col_stride_; }
    constexpr T* data_handle() const noexcept { return data_; }

private:
    T* data_;
    std::size_t rows_;
    std::size_t cols_;
    std::ptrdiff_t row_stride_;
    std::ptrdiff_t col_stride_;
};

}  // namespace ternary::inline TERNARY_ABI
