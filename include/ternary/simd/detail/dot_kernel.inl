// The generic exact dot-product kernel, compiled once per instruction set.
//
// Included (no include guard, no includes of its own) inside a namespace that defines
// `struct ops` and sits in a TERNARY_TARGET_BEGIN/END region: see simd/avx512vnni.hpp for the
// members ops must have. Written once, so every policy runs the same algorithm and differs
// only in how a vector operation is spelled.
//
// What it computes. Rows of a row-wise packing P the policy decodes (G = P::weights_per_byte
// weights per byte: two_bit 4, base3 and base3_window 5) hold unsigned codes c = w + 1 in
// {0, 1, 2}; activations come as planes (detail/interleave.hpp).
// For rows [r0, r1) and every token: code_dot = sum_j c_j * q_j. The caller subtracts the
// token's sum of q to get sum_j w_j * q_j.
//
// Decoding a vector of packed bytes v into G code vectors (`decoding` below). A code vector
// may hold the codes times a power of two; it then feeds an accumulator of that factor, which
// is divided back (exactly: every term is a multiple of it) when the accumulators are folded.
//   two_bit: c0 = v & 3, 4*c1 = v & 12, c2 = (v >> 4) & 3, 4*c3 = (v >> 4) & 12: one shift
//            instead of three per vector; accumulators x1 and x4.
//   base3, by arithmetic: trit k = ((v * 3^k) mod 256 * 3) >> 8, by ops::times3 and
//            ops::top_trit (which may give the trit times 2^ops::top_trit_shift); one
//            accumulator.
//   base3, by lookup (ops::decode_base3, AVX-512 VBMI): 64 * trit 0 by averages, trits 1..4
//            as 2-bit codes from a 256-byte table, split by four masks into 1, 4, 16 and 64
//            times the trit; accumulators x1, x4, x16, x64.
//   base3_window (ops::decode_base3_window, AVX-512 VBMI and NEON): two 64-entry lookups and
//            an XOR give the five 2-bit codes, masked in place (x1, x1, x4, x16, x64) or, where
//            codes must stay <= 8 (NEON), with one shift (x1, x1, x4, x1, x4).
//
// Why nothing overflows (K <= max_cols = 2^23). Every code vector holds f * c with c <= 2 and
// f * c <= 128, and |q| <= 128, so |product| <= 2^14:
//   - pairs of products summed in int16 (AVX2 maddubs, NEON vmull) stay <= 2^15 in magnitude
//     (-32768 at worst, which int16 holds), and are widened to int32 at once: no int16
//     accumulation window (bitnet.cpp's overflow, its issue #629, comes from adding 128
//     maddubs results in int16; we add none);
//   - an int32 lane of an accumulator receives at most 5 code vectors x 4 products per step,
//     so at most 2^14 * 20 * fold_steps = 1.34e9 < 2^31 before the accumulators are folded;
//     a lane of the fold's running sum (shifts and adds of a tile's accumulators) is at most
//     the sum of their lanes' magnitudes, under the same bound, since the five code vectors'
//     products are shared among them;
//   - folded, every partial sum of `total` and of the final reduction is a sum of c*q over a
//     subset of the row, in [-256 K, 254 K], inside int32 for K <= 2^23.

/// Whether Ops decodes base3 by table lookups (Ops::decode_base3, see `decoding` below).
template <class Ops>
inline constexpr bool decodes_base3_by_lookup = requires { requires Ops::base3_by_lookup; };

/// How bytes of packing P (G weights each) become code vectors: decode(v, code) splits a vector
/// of packed bytes into G code vectors; code vector p feeds accumulator target[p], which sums
/// 2^shift[a] * c * q (exactly divisible, so the shifts at the end are exact). Also the tile shapes: gemv_rows rows
/// against one token, gemm_rows rows against gemm_tokens tokens.
template <class P, class Ops = ops>
struct decoding {
    static constexpr bool served = false;  // no kernel for P in this policy: the scalar oracle runs it
};

template <class Ops>
struct decoding<two_bit, Ops> {
    static constexpr bool served = true;
    static constexpr std::size_t accumulators = 2;
    static constexpr std::size_t target[4] = {0, 1, 0, 1};
    static constexpr int shift[2] = {0, 2};
    static constexpr std::size_t gemv_rows = Ops::gemv_rows, gemm_rows = Ops::gemm_rows, gemm_tokens = Ops::gemm_tokens;

    static TERNARY_ALWAYS_INLINE void decode(typename Ops::vec v, typename Ops::vec (&code)[4]) {
        const typename Ops::vec low = Ops::bytes(0x03), high = Ops::bytes(0x0C);
        const typename Ops::vec upper = Ops::shift_right4(v);
        code[0] = Ops::and_(v, low);
        code[1] = Ops::and_(v, high);  // 4 * c1
        code[2] = Ops::and_(upper, low);
        code[3] = Ops::and_(upper, high);  // 4 * c3
    }
};

/// Ops::top_trit gives the top trit times 2^Ops::top_trit_shift (0 where not said).
template <class Ops>
inline constexpr int top_trit_shift = [] {
    if constexpr (requires { Ops::top_trit_shift; }) {
        return Ops::top_trit_shift;
    } else {
        return 0;
    }
}();

template <class Ops, bool Lookup>
struct base3_decoding;

/// base3 by arithmetic: trit k = ((v * 3^k) mod 256 * 3) >> 8, one accumulator.
template <class Ops>
struct base3_decoding<Ops, false> {
    static constexpr std::size_t accumulators = 1;
    static constexpr std::size_t target[5] = {0, 0, 0, 0, 0};
    static constexpr int shift[1] = {top_trit_shift<Ops>};
    static constexpr std::size_t gemv_rows = Ops::gemv_rows, gemm_rows = Ops::gemm_rows, gemm_tokens = Ops::gemm_tokens;

    static TERNARY_ALWAYS_INLINE void decode(typename Ops::vec v, typename Ops::vec (&code)[5]) {
        typename Ops::vec m = v;
        code[0] = Ops::top_trit(m);
        TERNARY_UNROLL
        for (std::size_t k = 1; k < 5; ++k) {
            m = Ops::times3(m);
            code[k] = Ops::top_trit(m);
        }
    }
};

/// base3 by Ops::decode_base3: code[0] = 64 * trit 0, code[1 + k] = 4^k * trit 1 + k. Four
/// accumulators (times 1, 4, 16, 64), so no code needs a shift back to {0, 1, 2}.
template <class Ops>
struct base3_decoding<Ops, true> {
    static constexpr std::size_t accumulators = 4;
    static constexpr std::size_t target[5] = {3, 0, 1, 2, 3};
    static constexpr int shift[4] = {0, 2, 4, 6};
    static constexpr std::size_t gemv_rows = Ops::base3_gemv_rows, gemm_rows = Ops::base3_gemm_rows,
                                 gemm_tokens = Ops::base3_gemm_tokens;

    static TERNARY_ALWAYS_INLINE void decode(typename Ops::vec v, typename Ops::vec (&code)[5]) {
        Ops::decode_base3(v, code);
    }
};

template <class Ops>
struct decoding<base3, Ops> : base3_decoding<Ops, decodes_base3_by_lookup<Ops>> {
    static constexpr bool served = true;
};

/// base3_window by Ops::decode_base3_window (AVX-512 VBMI, NEON): code vector p holds code p
/// times 2^Ops::window_shifts[p] (the fields of the lookups' XOR masked in place, or shifted
/// first where the instruction set needs small codes). Five accumulators: sharing one between
/// two codes of the same factor makes a longer dependency chain, which measured slower.
template <class Ops>
    requires requires(typename Ops::vec v, typename Ops::vec (&code)[5]) { Ops::decode_base3_window(v, code); }
struct decoding<base3_window, Ops> {
    static constexpr bool served = true;
    static constexpr std::size_t accumulators = 5;
    static constexpr std::size_t target[5] = {0, 1, 2, 3, 4};
    static constexpr int shift[5] = {Ops::window_shifts[0], Ops::window_shifts[1], Ops::window_shifts[2],
                                     Ops::window_shifts[3], Ops::window_shifts[4]};
    static constexpr std::size_t gemv_rows = Ops::window_gemv_rows, gemm_rows = Ops::window_gemm_rows,
                                 gemm_tokens = Ops::window_gemm_tokens;

    static TERNARY_ALWAYS_INLINE void decode(typename Ops::vec v, typename Ops::vec (&code)[5]) {
        Ops::decode_base3_window(v, code);
    }
};

/// Vectors of a row after which the accumulators are folded into the total (see the overflow
/// bounds at the top).
inline constexpr std::size_t fold_steps = 4096;

/// How far ahead the weights are prefetched: about two DRAM latencies of streaming.
inline constexpr std::size_t prefetch_bytes = std::size_t{16} << 10;

/// The largest factor 2^shift among packing P's accumulators, as its shift.
template <class P>
inline constexpr int top_shift = [] {
    int top = 0;
    for (const int s : decoding<P>::shift) top = s > top ? s : top;
    return top;
}();

/// Whether every factor of P's accumulators is a power of 4 (the fold shifts 2 bits at a time).
template <class P>
inline constexpr bool factors_are_powers_of_4 = [] {
    for (const int s : decoding<P>::shift) {
        if (s < 0 || s % 2 != 0) return false;
    }
    return true;
}();

/// One chunk (ops::width bytes of each of R rows) against T tokens.
template <class P, std::size_t R, std::size_t T, bool Partial>
TERNARY_ALWAYS_INLINE void step(const std::uint8_t* rows, std::size_t row_bytes, std::size_t byte_offset,
                                std::size_t partial_bytes, const std::int8_t* planes, std::size_t plane_stride,
                                std::size_t plane_offset, std::size_t ahead,
                                typename ops::acc (&acc)[R][T][decoding<P>::accumulators]) {
    constexpr std::size_t G = P::weights_per_byte;
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
        decoding<P>::decode(packed, code);
        TERNARY_UNROLL
        for (std::size_t t = 0; t < T; ++t) {
            TERNARY_UNROLL
            for (std::size_t p = 0; p < G; ++p) {
                typename ops::acc& a = acc[r][t][decoding<P>::target[p]];
                a = ops::dot(a, code[p], act[t][p]);
            }
        }
    }
}

/// R consecutive rows (starting at `rows`) against T tokens: code_dots[r][t].
template <class P, std::size_t R, std::size_t T>
TERNARY_ALWAYS_INLINE void tile(const std::uint8_t* rows, std::size_t row_bytes, const std::int8_t* planes,
                                std::size_t plane_stride, std::int32_t (&code_dots)[R][T]) {
    constexpr std::size_t A = decoding<P>::accumulators;
    typename ops::acc acc[R][T][A], total[R][T];
    TERNARY_UNROLL
    for (std::size_t r = 0; r < R; ++r) {
        TERNARY_UNROLL
        for (std::size_t t = 0; t < T; ++t) {
            total[r][t] = ops::zero();
            TERNARY_UNROLL
            for (std::size_t a = 0; a < A; ++a) acc[r][t][a] = ops::zero();
        }
    }
    // Adds the accumulators, each divided by its factor 2^shift (exactly), to `total`, and
    // clears them. By Horner's rule, largest factor first: the running sum takes the
    // accumulators of each factor in turn and is shifted down 2 bits between factors, so each
    // shift serves every accumulator above it (3 shifts for factors 64, 16, 4, 1, 1 instead of
    // 6; the adds of zero and the empty factors compile away). Exact: every accumulator of
    // factor 2^s is a multiple of 2^s, so the running sum is a multiple of the factor it is
    // shifted down from. A shift is a whole cycle per vector on the 512-bit machines, and with
    // short rows (K = 2560: 8 vectors of base3_window) the fold is a tenth of a tile's work.
    static_assert(factors_are_powers_of_4<P>);
    const auto fold = [&] {
        TERNARY_UNROLL
        for (std::size_t r = 0; r < R; ++r) {
            TERNARY_UNROLL
            for (std::size_t t = 0; t < T; ++t) {
                typename ops::acc sum = ops::zero();
                TERNARY_UNROLL
                for (int level = top_shift<P>; level >= 0; level -= 2) {
                    TERNARY_UNROLL
                    for (std::size_t a = 0; a < A; ++a) {
                        if (decoding<P>::shift[a] == level) sum = ops::add(sum, acc[r][t][a]);
                    }
                    if (level > 0) sum = ops::shift_right2(sum);
                }
                total[r][t] = ops::add(total[r][t], sum);
                TERNARY_UNROLL
                for (std::size_t a = 0; a < A; ++a) acc[r][t][a] = ops::zero();
            }
        }
    };
    const std::size_t full = row_bytes / ops::width, partial = row_bytes % ops::width;
    const std::size_t chunk_weights = P::weights_per_byte * ops::width;
    // Prefetch distance: whole tiles, at least prefetch_bytes ahead.
    const std::size_t tile_bytes = R * row_bytes;
    const std::size_t ahead = tile_bytes * std::max<std::size_t>(1, (prefetch_bytes + tile_bytes - 1) / tile_bytes);
    for (std::size_t c = 0; c < full;) {
        for (const std::size_t end = std::min(full, c + fold_steps); c < end; ++c) {
            step<P, R, T, false>(rows, row_bytes, c * ops::width, 0, planes, plane_stride, c * chunk_weights, ahead,
                                 acc);
        }
        if (c < full) fold();  // rows longer than fold_steps vectors only
    }
    if (partial != 0) {
        step<P, R, T, true>(rows, row_bytes, full * ops::width, partial, planes, plane_stride,
                            full * chunk_weights, ahead, acc);
    }
    fold();
    TERNARY_UNROLL
    for (std::size_t r = 0; r < R; ++r) {
        TERNARY_UNROLL
        for (std::size_t t = 0; t < T; ++t) code_dots[r][t] = ops::reduce(total[r][t]);
    }
}

/// Rows [r0, r1) of `weights` against T tokens starting at token t0.
template <class P, std::size_t R, std::size_t T>
void rows_against_tokens(const std::uint8_t* weights, std::size_t row_bytes, std::size_t r0, std::size_t r1,
                         const std::int8_t* planes, std::size_t plane_stride, std::size_t t0,
                         std::int32_t* out, std::size_t out_token_stride) {
    const std::int8_t* token_planes = planes + t0 * plane_stride;
    std::size_t i = r0;
    for (; i + R <= r1; i += R) {
        std::int32_t dots[R][T];
        tile<P, R, T>(weights + i * row_bytes, row_bytes, token_planes, plane_stride, dots);
        for (std::size_t r = 0; r < R; ++r)
            for (std::size_t t = 0; t < T; ++t) out[(t0 + t) * out_token_stride + i + r] = dots[r][t];
    }
    for (; i < r1; ++i) {
        std::int32_t dots[1][T];
        tile<P, 1, T>(weights + i * row_bytes, row_bytes, token_planes, plane_stride, dots);
        for (std::size_t t = 0; t < T; ++t) out[(t0 + t) * out_token_stride + i] = dots[0][t];
    }
}

/// out[t * out_token_stride + i] = sum_j c(i, j) * q_t[j] for rows [r0, r1) and all tokens.
///
/// Several tokens (GEMM): rows go in blocks of about 96 KiB of weights, and each block meets
/// every token before the next block is read, so weights come from L3 or memory once per call
/// and then from L2, instead of once per tile of tokens.
template <class P>
void code_dots(const std::uint8_t* weights, std::size_t row_bytes, std::size_t r0, std::size_t r1,
               const std::int8_t* planes, std::size_t plane_stride, std::size_t tokens, std::int32_t* out,
               std::size_t out_token_stride) {
    // The tiles prefetch prefetch_bytes ahead of themselves; the first prefetch_bytes of this
    // range (a thread's task starts anywhere in the matrix) are asked for here, all at once.
    const std::uint8_t* first_row = weights + r0 * row_bytes;
    const std::size_t head_bytes = std::min(prefetch_bytes, (r1 - r0) * row_bytes);
    for (std::size_t offset = 0; offset < head_bytes; offset += 64) __builtin_prefetch(first_row + offset, 0, 2);
    constexpr std::size_t gemm_rows = decoding<P>::gemm_rows, gemm_tokens = decoding<P>::gemm_tokens;
    constexpr std::size_t block_bytes = std::size_t{96} << 10;
    const std::size_t block_rows = tokens < gemm_tokens ? r1 - r0
                                   : std::max(gemm_rows, block_bytes / row_bytes / gemm_rows * gemm_rows);
    for (std::size_t block = r0; block < r1; block += block_rows) {
        const std::size_t end = std::min(r1, block + block_rows);
        std::size_t t = 0;
        for (; t + gemm_tokens <= tokens; t += gemm_tokens) {
            rows_against_tokens<P, gemm_rows, gemm_tokens>(weights, row_bytes, block, end, planes, plane_stride, t,
                                                                 out, out_token_stride);
        }
        // The last tokens: two at a time while they last (a remainder of 8 tokens in tiles of
        // 3 is 2; each weight vector is then decoded once for both), then one.
        if constexpr (gemm_tokens > 2) {
            for (; t + 2 <= tokens; t += 2) {
                rows_against_tokens<P, gemm_rows, 2>(weights, row_bytes, block, end, planes, plane_stride, t, out,
                                                     out_token_stride);
            }
        }
        for (; t < tokens; ++t) {
            rows_against_tokens<P, decoding<P>::gemv_rows, 1>(weights, row_bytes, block, end, planes, plane_stride, t, out,
                                                      out_token_stride);
        }
    }
}

/// The entry point the policies call (detail/simd_policy.hpp).
struct entry {
    static constexpr std::size_t width = ops::width;
    /// Whether this kernel runs packing P (else the policy runs the scalar oracle).
    template <class P>
    static constexpr bool serves = decoding<P>::served;
    template <class P>
    static void run(const std::uint8_t* weights, std::size_t row_bytes, std::size_t r0, std::size_t r1,
                    const std::int8_t* planes, std::size_t plane_stride, std::size_t tokens, std::int32_t* out,
                    std::size_t out_token_stride) {
        code_dots<P>(weights, row_bytes, r0, r1, planes, plane_stride, tokens, out, out_token_stride);
    }
};
