#pragma once
// Packed ternary matrices: a non-owning view (over a model file, say) and an owning matrix.
// Shape is (rows = out features M, cols = in features K), one packed row per output.

#include "config.hpp"

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "aligned_buffer.hpp"
#include "error.hpp"
#include "limits.hpp"
#include "pack/convert.hpp"
#include "pack/packing.hpp"
#include "scales.hpp"
#include "thread_pool.hpp"

namespace ternary::inline TERNARY_ABI {

/// Tag: the bytes were packed by this library (or validated before), skip their validation.
struct trusted_bytes_t {
    explicit trusted_bytes_t() = default;
};
inline constexpr trusted_bytes_t trusted_bytes{};

namespace detail {

/// Rows per task when a matrix's rows are converted or checked on the default pool: about 8
/// tasks per thread, at least 16 rows each.
inline std::size_t rows_per_pool_task(std::size_t rows) {
    return std::max<std::size_t>(16, rows / (8 * default_pool().size()));
}

inline void check_storage_size(std::size_t rows) {
    // rows * row_bytes must not wrap; row_bytes <= cols <= max_cols.
    if (rows > static_cast<std::size_t>(-1) / (max_cols + 64)) {
        fail<shape_error>("ternary_matrix", rows, " rows are more than can be addressed");
    }
}

}  // namespace detail

template <packing P>
class ternary_matrix_view {
public:
    using packing_type = P;

    /// Views `bytes`, packed by P, as a rows x cols matrix with `scales`. Checks the shape, the
    /// byte count and the scales, and validates every byte (one pass over the data), so a
    /// corrupt buffer is refused here rather than multiplied. Any alignment is accepted.
    ternary_matrix_view(std::span<const std::uint8_t> bytes, std::size_t rows, std::size_t cols,
                        scales_view scales)
        : ternary_matrix_view(trusted_bytes, bytes, rows, cols, scales, true) {
        P::validate(bytes_.data(), rows_, cols_);
    }

    /// As above without validating the bytes or scale values: for data packed by this library.
    ternary_matrix_view(trusted_bytes_t, std::span<const std::uint8_t> bytes, std::size_t rows,
                        std::size_t cols, scales_view scales, bool check_scale_values = false)
        : bytes_(bytes), rows_(rows), cols_(cols), scales_(scales) {
        detail::check_shape("ternary_matrix_view", rows, cols);
        detail::check_storage_size(rows);
        if (bytes.size() != P::storage_bytes(rows, cols)) {
            detail::fail<shape_error>("ternary_matrix_view", "a ", rows, " x ", cols, " ", P::name,
                                      " matrix takes ", P::storage_bytes(rows, cols),
                                      " bytes, got ", bytes.size());
        }
        scales_.bind("ternary_matrix_view", rows, cols, check_scale_values);
    }

    std::size_t rows() const noexcept { return rows_; }
    std::size_t cols() const noexcept { return cols_; }
    std::span<const std::uint8_t> bytes() const noexcept { return bytes_; }
    const scales_view& scales() const noexcept { return scales_; }

    /// Writes the cols trits of row i to out.
    void unpack_row(std::size_t i, std::span<std::int8_t> out) const {
        if (i >= rows_ || out.size() != cols_) {
            detail::fail<shape_error>("unpack_row", "row ", i, " into ", out.size(),
                                      " trits of a ", rows_, " x ", cols_, " matrix");
        }
        P::unpack_row(bytes_.data(), rows_, cols_, i, out.data());
    }

    /// All trits, row-major.
    std::vector<std::int8_t> trits() const {
        std::vector<std::int8_t> all(rows_ * cols_);
        for (std::size_t i = 0; i < rows_; ++i) {
            P::unpack_row(bytes_.data(), rows_, cols_, i, all.data() + i * cols_);
        }
        return all;
    }

private:
    std::span<const std::uint8_t> bytes_;
    std::size_t rows_;
    std::size_t cols_;
    scales_view scales_;
};

template <packing P>
class ternary_matrix {
public:
    using packing_type = P;

    /// Packs rows x cols trits (row-major, each in {-1, 0, +1}) with their scales.
    static ternary_matrix from_trits(std::span<const std::int8_t> trits, std::size_t rows,
                                     std::size_t cols, weight_scales scales) {
        detail::check_shape("from_trits", rows, cols);
        detail::check_storage_size(rows);
        if (trits.size() != rows * cols) {
            detail::fail<shape_error>("from_trits", "a ", rows, " x ", cols, " matrix needs ",
                                      rows * cols, " trits, got ", trits.size());
        }
        for (std::size_t k = 0; k < trits.size(); ++k) {
            if (trits[k] < -1 || trits[k] > 1) {
                detail::fail<value_error>("from_trits", "trit (", k / cols, ", ", k % cols,
                                          ") is ", int{trits[k]}, ", not -1, 0 or +1");
            }
        }
        scales.view().bind("from_trits", rows, cols);  // checks count and finiteness
        ternary_matrix m(rows, cols, std::move(scales));
        P::pack(trits.data(), rows, cols, m.bytes_.data());
        return m;
    }

    /// A matrix whose packed bytes write(bytes) produces in place (it must write all
    /// P::storage_bytes(rows, cols) of them), then validated like a view's: for loaders that
    /// repack a file's tensor straight into the matrix, with no copy and no zero fill first.
    template <class Writer>
        requires std::invocable<Writer&, std::uint8_t*>
    static ternary_matrix from_packed(std::size_t rows, std::size_t cols, weight_scales scales, Writer&& write) {
        detail::check_shape("from_packed", rows, cols);
        detail::check_storage_size(rows);
        scales.view().bind("from_packed", rows, cols);  // checks count and finiteness
        ternary_matrix m(rows, cols, std::move(scales), uninitialized);
        write(m.bytes_.data());
        if constexpr (row_wise<P>) {
            // Rows on the thread pool: a 2B4T model's layers are 350-440 MB.
            default_pool().run_ranges(rows, detail::rows_per_pool_task(rows), [&](std::size_t begin, std::size_t end) {
                P::validate_rows(m.bytes_.data(), rows, cols, begin, end);
            });
        } else {
            P::validate(m.bytes_.data(), rows, cols);
        }
        return m;
    }

    /// A validated copy of a view's bytes and scales.
    explicit ternary_matrix(const ternary_matrix_view<P>& view)
        : ternary_matrix(view.rows(), view.cols(), weight_scales::copy_of(view.scales())) {
        P::validate(view.bytes().data(), rows_, cols_);
        std::copy(view.bytes().begin(), view.bytes().end(), bytes_.data());
    }

    std::size_t rows() const noexcept { return rows_; }
    std::size_t cols() const noexcept { return cols_; }
    std::span<const std::uint8_t> bytes() const noexcept { return bytes_.span(); }
    const weight_scales& scales() const noexcept { return scales_; }

    ternary_matrix_view<P> view() const {
        return {trusted_bytes, bytes_.span(), rows_, cols_, scales_.view()};
    }
    operator ternary_matrix_view<P>() const { return view(); }

    std::vector<std::int8_t> trits() const { return view().trits(); }

private:
    ternary_matrix(std::size_t rows, std::size_t cols, weight_scales scales)
        : rows_(rows), cols_(cols), bytes_(P::storage_bytes(rows, cols)), scales_(std::move(scales)) {}
    ternary_matrix(std::size_t rows, std::size_t cols, weight_scales scales, uninitialized_t)
        : rows_(rows), cols_(cols), bytes_(P::storage_bytes(rows, cols), uninitialized), scales_(std::move(scales)) {}

    std::size_t rows_;
    std::size_t cols_;
    aligned_buffer<std::uint8_t> bytes_;
    weight_scales scales_;
};

/// The same matrix in another packing (lossless: both hold exactly the trits). Row-wise
/// packings convert row by row on the thread pool (pack/convert.hpp); others through the trits.
template <packing To, packing From>
ternary_matrix<To> repack(const ternary_matrix_view<From>& from) {
    if constexpr (row_wise<To> && row_wise<From>) {
        return ternary_matrix<To>::from_packed(from.rows(), from.cols(), weight_scales::copy_of(from.scales()),
                                               [&](std::uint8_t* out) {
            default_pool().run_ranges(from.rows(), detail::rows_per_pool_task(from.rows()), [&](std::size_t begin, std::size_t end) {
                repack_rows<To, From>(from.bytes().data(), from.cols(), begin, end, out);
            });
        });
    } else {
        return ternary_matrix<To>::from_trits(from.trits(), from.rows(), from.cols(),
                                              weight_scales::copy_of(from.scales()));
    }
}

template <packing To, packing From>
ternary_matrix<To> repack(const ternary_matrix<From>& from) {
    return repack<To>(from.view());
}

}  // namespace ternary::inline TERNARY_ABI
