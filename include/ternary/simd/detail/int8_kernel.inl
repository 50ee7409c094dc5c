// The exact int8 x int8 row-dot kernel of int8_matrix.hpp, compiled once per instruction set.
//
// Included (no include guard, no includes of its own) inside a namespace that defines
// `struct ops` and sits in a TERNARY_TARGET_BEGIN/END region (see int8_matrix.hpp). ops has
// the vector type `vec` (`width` bytes), the int32 accumulator `acc`, `load`, `zero`, `reduce`,
// and:
//   rows_per_tile                  rows that share each load of the activations
//   prefetch                       whether to prefetch the next tile (see int8_matrix.hpp)
//   act activations(const int8_t*) what every row's multiply needs from `width` activations,
//                                  formed once per tile
//   acc multiply_add(acc, act, vec w)
//                                  acc plus the `width` products w * x, summed into int32 lanes;
//                                  x may enter offset by activation_offset (x + 128 as unsigned
//                                  bytes for vpdpbusd), in which case the lanes hold the sums
//                                  of w * (x + 128)
//   activation_offset              0 or 128
//   token_tile_rows, token_tile_tokens
//                                  the tile of the several-token kernel: rows x tokens
//                                  accumulators, each weight vector loaded once for all tokens
// Rows and the token are zero-padded to a multiple of 64 bytes (int8_matrix, activation_batch),
// so every chunk is a whole vector: a padding weight is 0 and contributes 0 whatever the
// activation (or x + 128) beside it. Overflow: see int8_matrix.hpp (int8_max_cols).

/// out[r] = sum of w * (x + activation_offset) over whole rows r of R consecutive rows.
template <std::size_t R>
TERNARY_ALWAYS_INLINE void int8_tile(const std::int8_t* w, std::size_t stride, std::size_t chunks,
                                     const std::int8_t* x, std::int32_t (&out)[R]) {
    typename ops::acc acc[R];
    TERNARY_UNROLL
    for (std::size_t r = 0; r < R; ++r) acc[r] = ops::zero();
    for (std::size_t c = 0; c < chunks; ++c) {
        const typename ops::act a = ops::activations(x + c * ops::width);
        TERNARY_UNROLL
        for (std::size_t r = 0; r < R; ++r) {
            const std::int8_t* src = w + r * stride + c * ops::width;
            // The same bytes of the row R rows further on, which the next tile reads (the
            // rows are consecutive, so this walks the matrix one tile ahead), into L2
            // (prefetcht1). A prefetch never faults, past the last row included.
            if constexpr (ops::prefetch) __builtin_prefetch(src + R * stride, 0, 2);
            acc[r] = ops::multiply_add(acc[r], a, ops::load(src));
        }
    }
    TERNARY_UNROLL
    for (std::size_t r = 0; r < R; ++r) out[r] = ops::reduce(acc[r]);
}

/// out[i] = sum_j w(i, j) x[j] for rows [r0, r1): w's rows `stride` bytes apart, each with the
/// sum of its weights in row_sums[i]; x zero-padded like the rows.
inline void int8_rows(const std::int8_t* w, std::size_t stride, std::size_t cols, const std::int32_t* row_sums,
                      std::size_t r0, std::size_t r1, const std::int8_t* x, std::int32_t* out) {
    constexpr std::size_t R = ops::rows_per_tile;
    const std::size_t chunks = (cols + ops::width - 1) / ops::width;
    std::size_t i = r0;
    for (; i + R <= r1; i += R) {
        std::int32_t sums[R];
        int8_tile<R>(w + i * stride, stride, chunks, x, sums);
        for (std::size_t r = 0; r < R; ++r) out[i + r] = sums[r] - ops::activation_offset * row_sums[i + r];
    }
    for (; i < r1; ++i) {
        std::int32_t sums[1];
        int8_tile<1>(w + i * stride, stride, chunks, x, sums);
        out[i] = sums[0] - ops::activation_offset * row_sums[i];
    }
}

/// out[r][t] = sum of w * (x_t + activation_offset) over whole rows r of R consecutive rows
/// and T tokens, x_t at x + t * x_stride: each weight vector is loaded once for the T tokens.
template <std::size_t R, std::size_t T>
TERNARY_ALWAYS_INLINE void int8_tile_tokens(const std::int8_t* w, std::size_t stride, std::size_t chunks,
                                            const std::int8_t* x, std::size_t x_stride, std::int32_t (&out)[R][T]) {
    typename ops::acc acc[R][T];
    TERNARY_UNROLL
    for (std::size_t r = 0; r < R; ++r) {
        TERNARY_UNROLL
        for (std::size_t t = 0; t < T; ++t) acc[r][t] = ops::zero();
    }
    for (std::size_t c = 0; c < chunks; ++c) {
        typename ops::act a[T];
        TERNARY_UNROLL
        for (std::size_t t = 0; t < T; ++t) a[t] = ops::activations(x + t * x_stride + c * ops::width);
        TERNARY_UNROLL
        for (std::size_t r = 0; r < R; ++r) {
            const typename ops::vec v = ops::load(w + r * stride + c * ops::width);
            TERNARY_UNROLL
            for (std::size_t t = 0; t < T; ++t) acc[r][t] = ops::multiply_add(acc[r][t], a[t], v);
        }
    }
    TERNARY_UNROLL
    for (std::size_t r = 0; r < R; ++r) {
        TERNARY_UNROLL
        for (std::size_t t = 0; t < T; ++t) out[r][t] = ops::reduce(acc[r][t]);
    }
}

/// out[t * out_stride + i] = sum_j w(i, j) x_t[j] for rows [r0, r1) and tokens t < tokens
/// (token t's values at x + t * x_stride, zero-padded like the rows): the rows are meant to
/// be a tile that stays in cache (int8_matrix.hpp's gemm), passed over once per
/// token_tile_tokens tokens. The same exact sums as int8_rows for each token.
inline void int8_rows_tokens(const std::int8_t* w, std::size_t stride, std::size_t cols, const std::int32_t* row_sums,
                             std::size_t r0, std::size_t r1, const std::int8_t* x, std::size_t x_stride,
                             std::size_t tokens, std::int32_t* out, std::size_t out_stride) {
    constexpr std::size_t R = ops::token_tile_rows, T = ops::token_tile_tokens;
    const std::size_t chunks = (cols + ops::width - 1) / ops::width;
    std::size_t t0 = 0;
    for (; t0 + T <= tokens; t0 += T) {
        const std::int8_t* xt = x + t0 * x_stride;
        const auto store = [&](std::size_t i, std::size_t r, std::size_t t, std::int32_t sum) {
            out[(t0 + t) * out_stride + i + r] = sum - ops::activation_offset * row_sums[i + r];
        };
        std::size_t i = r0;
        for (; i + R <= r1; i += R) {
            std::int32_t sums[R][T];
            int8_tile_tokens<R, T>(w + i * stride, stride, chunks, xt, x_stride, sums);
            for (std::size_t r = 0; r < R; ++r)
                for (std::size_t t = 0; t < T; ++t) store(i, r, t, sums[r][t]);
        }
        for (; i < r1; ++i) {
            std::int32_t sums[1][T];
            int8_tile_tokens<1, T>(w + i * stride, stride, chunks, xt, x_stride, sums);
            for (std::size_t t = 0; t < T; ++t) store(i, 0, t, sums[0][t]);
        }
    }
    for (; t0 < tokens; ++t0) int8_rows(w, stride, cols, row_sums, r0, r1, x + t0 * x_stride, out + t0 * out_stride);
}
