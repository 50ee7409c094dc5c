// The generic exact dot-product kernel, compiled once per instruction set.
//
// Included (no include guard, no includes of its own) inside a namespace that defines
// `struct ops` and sits in a TERNARY_TARGET_BEGIN/END region: see simd/avx512vnni.hpp for the
// members ops must have. Written once, so every policy runs the same algorithm and differs
// only in how a vector operation is spelled.
//
// What it computes. Rows of a canonical packing (G weights per byte: two_bit 4, base3 5) hold
// unsigned codes c = w + 1 in {0, 1, 2}; activations come as planes (detail/interleave.hpp).
// For rows [r0, r1) and every token: code_dot = sum_j c_j * q_j. The caller subtracts the
// token's sum of q to get sum_j w_j * q_j.
//
// Decoding a vector of packed bytes v into G code vectors:
//   two_bit: c0 = v & 3, 4*c1 = v & 12, c2 = (v >> 4) & 3, 4*c3 = (v >> 4) & 12.
//            Masking without shifting leaves codes 1 and 3 multiplied by 4: they feed a second
//            accumulator, divided by 4 (exactly: every term is a multiple of 4) at the end.
//            One shift instead of three per vector.
//   base3:   trit k = ((v * 3^k) mod 256 * 3) >> 8, by ops::times3 and ops::top_trit.
//
// Why nothing overflows (K <= max_cols = 2^23). Each product is c * q with c <= 8 (4 * 2) and
// |q| <= 128, so |product| <= 1024:
//   - pairs of products summed in int16 (AVX2 maddubs, NEON vmull) stay <= 2048 < 32767, and
//     are widened to int32 at once: no int16 accumulation window (bitnet.cpp's overflow,
//     its issue #629, comes from adding 128 maddubs results in int16; we add none);
//   - an int32 lane of the 4*c accumulator holds 4 * (sum of c*q over at most K/2 weights
//     spread over >= 4 lanes), |.| <= 4 * 256 * K / 8 = 128 K <= 2^30;
//   - after the exact division by 4, every partial sum of the final reduction is a sum of
//     c*q over a subset of the row, in [-256 K, 254 K], inside int32 for K <= 2^23.

/// Splits a vector of packed bytes into G vectors of codes (see above).
template <std::size_t G>
TERNARY_ALWAYS_INLINE void decode(typename ops::vec v, typename ops::vec (&code)[G]) {
    if constexpr (G == 4) {
        const typename ops::vec low = ops::bytes(0x03), high = ops::bytes(0x0C);
        const typename ops::vec upper = ops::shift_right4(v);
        code[0] = ops::and_(v, low);
        code[1] = ops::and_(v, high);  // 4 * c1
        code[2] = ops::and_(upper, low);
        code[3] = ops::and_(upper, high);  // 4 * c3
    } else {
        static_assert(G == 5, "packings with 4 (two_bit) or 5 (base3) weights per byte");
        typename ops::vec m = v;
        code[0] = ops::top_trit(m);
        TERNARY_UNROLL
        for (std::size_t k = 1; k < 5; ++k) {
            m = ops::times3(m);
            code[k] = ops::top_trit(m);
        }
    }
}

/// The accumulator a code vector feeds: 1 for two_bit's codes that carry a factor 4.
template <std::size_t G>
constexpr std::size_t accumulator_of(std::size_t plane) {
    return G == 4 ? (plane & 1) : 0;
}

/// How far ahead the weights are prefetched: about two DRAM latencies of streaming.
inline constexpr std::size_t prefetch_bytes = std::size_t{16} << 10;

/// One chunk (ops::width bytes of each of R rows) against T tokens.
template <std::size_t G, std::size_t R, std::size_t T, bool Partial>
TERNARY_ALWAYS_INLINE void step(const std::uint8_t* rows, std::size_t row_bytes, std::size_t byte_offset,
                                std::size_t partial_bytes, const std::int8_t* planes, std::size_t plane_stride,
                                std::size_t plane_offset, std::size_t ahead, typename ops::acc (&acc)[R][T][2]) {
    typename ops::vec act[T][G];
    TERNARY_UNROLL
    for (std::size_t t = 0; t < T; ++t) {
        TERNARY_UNROLL
        for (std::size_t p = 0; p < G; ++p) {
            act[t][p] = ops::load(planes + t * plane_stride + plane_offset +
                                  p * ops::width);
        }
    }
    TERNARY_UNROLL
    for (std::size_t r = 0; r < R; ++r) {
        const std::uint8_t* src = rows + r * row_bytes + byte_offset;
        // The same bytes of a row `ahead` bytes further on (whole tiles, >= prefetch_bytes): a
        // row is only K/G bytes (640 B at K = 2560), too short a stream for the hardware
        // prefetcher to catch before it ends. Into L2, not L1 (prefetcht1): one thread
        // streaming the 2B4T layers from memory read 10 GB/s prefetching one tile ahead into
        // L1, 23-25 GB/s with this. (A prefetch never faults, past the last row included.)
        __builtin_prefetch(src + ahead, 0, 2);
        const typename ops::vec packed = Partial ? ops::load_partial(src, partial_bytes) : ops::load(src);
        typename ops::vec code[G];
        decode<G>(packed, code);
        TERNARY_UNROLL
        for (std::size_t t = 0; t < T; ++t) {
            TERNARY_UNROLL
            for (std::size_t p = 0; p < G; ++p) {
                typename ops::acc& a = acc[r][t][accumulator_of<G>(p)];
                a = ops::dot(a, code[p], act[t][p]);
            }
        }
    }
}

/// R consecutive rows (starting at `rows`) against T tokens: code_dots[r][t].
template <std::size_t G, std::size_t R, std::size_t T>
TERNARY_ALWAYS_INLINE void tile(const std::uint8_t* rows, std::size_t row_bytes, const std::int8_t* planes,
                                std::size_t plane_stride, std::int32_t (&code_dots)[R][T]) {
    typename ops::acc acc[R][T][2];
    TERNARY_UNROLL
    for (std::size_t r = 0; r < R; ++r) {
        TERNARY_UNROLL
        for (std::size_t t = 0; t < T; ++t) acc[r][t][0] = acc[r][t][1] = ops::zero();
    }
    const std::size_t full = row_bytes / ops::width, partial = row_bytes % ops::width;
    const std::size_t chunk_weights = static_cast<std::size_t>(G) * ops::width;
    // Prefetch distance: whole tiles, at least prefetch_bytes ahead.
    const std::size_t tile_bytes = R * row_bytes;
    const std::size_t ahead = tile_bytes * std::max<std::size_t>(1, (prefetch_bytes + tile_bytes - 1) / tile_bytes);
    for (std::size_t c = 0; c < full; ++c) {
        step<G, R, T, false>(rows, row_bytes, c * ops::width, 0, planes, plane_stride, c * chunk_weights, ahead, acc);
    }
    if (partial != 0) {
        step<G, R, T, true>(rows, row_bytes, full * ops::width, partial, planes, plane_stride,
                            full * chunk_weights, ahead, acc);
    }
    TERNARY_UNROLL
    for (std::size_t r = 0; r < R; ++r) {
        TERNARY_UNROLL
        for (std::size_t t = 0; t < T; ++t) {
            code_dots[r][t] = ops::reduce(ops::add(acc[r][t][0], ops::shift_right2(acc[r][t][1])));
        }
    }
}

/// Rows [r0, r1) of `weights` against T tokens starting at token t0.
template <std::size_t G, std::size_t R, std::size_t T>
void rows_against_tokens(const std::uint8_t* weights, std::size_t row_bytes, std::size_t r0, std::size_t r1,
                         const std::int8_t* planes, std::size_t plane_stride, std::size_t t0,
                         std::int32_t* out, std::size_t out_token_stride) {
    const std::int8_t* token_planes = planes + t0 * plane_stride;
    std::size_t i = r0;
    for (; i + R <= r1; i += R) {
        std::int32_t dots[R][T];
        tile<G, R, T>(weights + i * row_bytes, row_bytes, token_planes, plane_stride, dots);
        for (std::size_t r = 0; r < R; ++r)
            for (std::size_t t = 0; t < T; ++t) out[(t0 + t) * out_token_stride + i + r] = dots[r][t];
    }
    for (; i < r1; ++i) {
        std::int32_t dots[1][T];
        tile<G, 1, T>(weights + i * row_bytes, row_bytes, token_planes, plane_stride, dots);
        for (std::size_t t = 0; t < T; ++t) out[(t0 + t) * out_token_stride + i] = dots[0][t];
    }
}

/// out[t * out_token_stride + i] = sum_j c(i, j) * q_t[j] for rows [r0, r1) and all tokens.
///
/// Several tokens (GEMM): rows go in blocks of about 96 KiB of weights, and each block meets
/// every token before the next block is read, so weights come from L3 or memory once per call
/// and then from L2, instead of once per tile of tokens.
template <std::size_t G>
void code_dots(const std::uint8_t* weights, std::size_t row_bytes, std::size_t r0, std::size_t r1,
               const std::int8_t* planes, std::size_t plane_stride, std::size_t tokens, std::int32_t* out,
               std::size_t out_token_stride) {
    // The tiles prefetch prefetch_bytes ahead of themselves; the first prefetch_bytes of this
    // range (a thread's task starts anywhere in the matrix) are asked for here, all at once.
    const std::uint8_t* first_row = weights + r0 * row_bytes;
    const std::size_t head_bytes = std::min(prefetch_bytes, (r1 - r0) * row_bytes);
    for (std::size_t offset = 0; offset < head_bytes; offset += 64) __builtin_prefetch(first_row + offset, 0, 2);
    constexpr std::size_t gemm_tokens = ops::gemm_tokens, block_bytes = std::size_t{96} << 10;
    const std::size_t block_rows = tokens < gemm_tokens ? r1 - r0
                                   : std::max(ops::gemm_rows, block_bytes / row_bytes / ops::gemm_rows * ops::gemm_rows);
    for (std::size_t block = r0; block < r1; block += block_rows) {
        const std::size_t end = std::min(r1, block + block_rows);
        std::size_t t = 0;
        for (; t + gemm_tokens <= tokens; t += gemm_tokens) {
            rows_against_tokens<G, ops::gemm_rows, gemm_tokens>(weights, row_bytes, block, end, planes, plane_stride, t,
                                                                 out, out_token_stride);
        }
        for (; t < tokens; ++t) {
            rows_against_tokens<G, ops::gemv_rows, 1>(weights, row_bytes, block, end, planes, plane_stride, t, out,
                                                      out_token_stride);
        }
    }
}

/// The entry point the policies call (detail/simd_policy.hpp).
struct entry {
    static constexpr std::size_t width = ops::width;
    template <std::size_t G>
    static void run(const std::uint8_t* weights, std::size_t row_bytes, std::size_t r0, std::size_t r1,
                    const std::int8_t* planes, std::size_t plane_stride, std::size_t tokens, std::int32_t* out,
                    std::size_t out_token_stride) {
        code_dots<G>(weights, row_bytes, r0, r1, planes, plane_stride, tokens, out, out_token_stride);
    }
};
