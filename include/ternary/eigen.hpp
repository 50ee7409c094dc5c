#pragma once
// Eigen 3.4 interop. Everything here lives in ternary::eigen and reads or writes Eigen memory in
// place (any storage order or stride); only unevaluated expressions are evaluated first.
//
// Convention: Eigen is column-major and follows the math, y = W x. W is (out x in); a batch of
// tokens is a (K x tokens) matrix with one token per column; GEMM outputs are (M x tokens).

#include "config.hpp"

#include <Eigen/Core>

#include <cstddef>
#include <span>
#include <type_traits>

#include "ternary.hpp"

namespace ternary::inline TERNARY_ABI::eigen {

using row_major_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// A strided view of the coefficients of an Eigen object with direct access (a matrix, a Map,
/// a Ref, a block): read-only for a const object, writable otherwise.
template <class M>
auto view_of(M&& m) {
    using object = std::remove_cvref_t<M>;
    static_assert(static_cast<bool>(object::Flags & Eigen::DirectAccessBit),
                  "view_of needs an object with storage; evaluate expressions first");
    auto* data = m.data();
    using scalar = std::remove_pointer_t<decltype(data)>;
    return matrix_view<scalar>(data, static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols()),
                               m.rowStride(), m.colStride());
}

namespace detail {

/// Calls f with a view of x's floats: in place when x has storage, else of its evaluation.
template <class Derived, class F>
decltype(auto) with_float_view(const Eigen::MatrixBase<Derived>& x, F&& f) {
    static_assert(std::is_same_v<typename Derived::Scalar, float>, "ternary reads float matrices");
    if constexpr (static_cast<bool>(Derived::Flags & Eigen::DirectAccessBit)) {
        return f(matrix_view<const float>(view_of(x.derived())));
    } else {
        const typename Derived::PlainObject evaluated = x;
        return f(matrix_view<const float>(view_of(evaluated)));
    }
}

}  // namespace detail

/// Ternarizes W (out x in) with one absmean scale; see quant/absmean.hpp.
template <packing P = two_bit, class Derived>
ternary_matrix<P> ternarize(const Eigen::MatrixBase<Derived>& w) {
    return detail::with_float_view(w, [](matrix_view<const float> v) { return ternary::ternarize<P>(v); });
}

/// Quantizes one token (a row or column vector) with absmax; see quant/absmax.hpp.
template <class Derived>
quantized_vector quantize(const Eigen::MatrixBase<Derived>& x) {
    if (x.rows() != 1 && x.cols() != 1) {
        ternary::detail::fail<shape_error>("eigen::quantize", "a ", x.rows(), " x ", x.cols(),
                                           " matrix is not a vector (use quantize_columns)");
    }
    return detail::with_float_view(x, [](matrix_view<const float> v) {
        quantized_vector q(v.rows() * v.cols());
        quantize_into(q.batch(), v.rows() == 1 ? v : v.transposed());
        return q;
    });
}

/// Quantizes each column of X (K x tokens) as one token.
template <class Derived>
activation_batch quantize_columns(const Eigen::MatrixBase<Derived>& x) {
    return detail::with_float_view(x, [](matrix_view<const float> v) { return ternary::quantize(v.transposed()); });
}

/// out = W x, written in place (out has W.rows() elements).
template <kernel_policy Policy = default_policy, ternary_matrix_like Matrix>
void gemv(Eigen::Ref<Eigen::VectorXf> out, const Matrix& w, const activation_batch_view& x) {
    ternary::gemv<Policy>(std::span<float>(out.data(), static_cast<std::size_t>(out.size())), w, x);
}

template <kernel_policy Policy = default_policy, ternary_matrix_like Matrix>
Eigen::VectorXf gemv(const Matrix& w, const activation_batch_view& x) {
    Eigen::VectorXf out(static_cast<Eigen::Index>(ternary::detail::as_view(w).rows()));
    gemv<Policy>(out, w, x);
    return out;
}

/// out = W X, written in place: out is (W.rows() x tokens), column t for token t.
template <kernel_policy Policy = default_policy, ternary_matrix_like Matrix>
void gemm(Eigen::Ref<Eigen::MatrixXf> out, const Matrix& w, const activation_batch_view& x) {
    ternary::gemm<Policy>(view_of(out).transposed(), w, x);
}

template <kernel_policy Policy = default_policy, ternary_matrix_like Matrix>
Eigen::MatrixXf gemm(const Matrix& w, const activation_batch_view& x) {
    Eigen::MatrixXf out(static_cast<Eigen::Index>(ternary::detail::as_view(w).rows()),
                        static_cast<Eigen::Index>(x.tokens()));
    gemm<Policy>(out, w, x);
    return out;
}

/// The real weights (out x in).
template <ternary_matrix_like Matrix>
row_major_matrix dequantize(const Matrix& matrix) {
    const auto& w = ternary::detail::as_view(matrix);
    row_major_matrix out(static_cast<Eigen::Index>(w.rows()), static_cast<Eigen::Index>(w.cols()));
    ternary::dequantize(view_of(out), w);
    return out;
}

/// The real activations (K x tokens, one token per column).
inline Eigen::MatrixXf dequantize(const activation_batch_view& x) {
    Eigen::MatrixXf out(static_cast<Eigen::Index>(x.cols()), static_cast<Eigen::Index>(x.tokens()));
    ternary::dequantize(view_of(out).transposed(), x);
    return out;
}

}  // namespace ternary::inline TERNARY_ABI::eigen
