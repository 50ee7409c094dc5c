// The two float loops of attention for the query heads that share one kv head, compiled once
// per instruction set (attention.hpp).
//
// Included (no include guard, no includes of its own) inside a namespace that defines
// `lane_count`, the floats per vector. Every output is a sum in index order, whatever the
// vector width: lanes hold different positions (scores) or different dimensions (values),
// never parts of one sum. Contraction into fused multiply-adds is off (each product is
// rounded before it is added, as in the plain loop), so every width gives the same bits.

using lanes = float __attribute__((vector_size(lane_count * sizeof(float))));

/// For Q queries q_g = q + g * q_stride (the query heads that share one kv head, in grouped-
/// query attention): scores[g * scores_stride + s] = (sum_i q_g[i] * keys[i * key_stride + s])
/// / scale for s in [s, count), by blocks of `vectors` vectors of positions; returns where the
/// blocks stop. The key cache holds each dimension's positions side by side, so a vector of
/// positions is as many independent sums, and each key vector loaded serves all Q queries;
/// Q x vectors sums are in flight at once (one chain would wait on each add).
template <std::size_t Q, std::size_t vectors>
std::size_t score_blocks(const float* q, std::size_t q_stride, const float* keys, std::size_t key_stride,
                         std::size_t head_dim, std::size_t s, std::size_t count, float scale, float* scores,
                         std::size_t scores_stride) {
    TERNARY_NO_CONTRACT
    constexpr std::size_t block = vectors * lane_count;
    for (; s + block <= count; s += block) {
        lanes score[Q][vectors] = {};
        for (std::size_t i = 0; i < head_dim; ++i) {
            for (std::size_t u = 0; u < vectors; ++u) {
                lanes key;
                std::memcpy(&key, keys + i * key_stride + s + lane_count * u, sizeof key);
                for (std::size_t g = 0; g < Q; ++g) score[g][u] += q[g * q_stride + i] * key;
            }
        }
        for (std::size_t g = 0; g < Q; ++g) {
            for (std::size_t u = 0; u < vectors; ++u) {
                for (std::size_t p = 0; p < lane_count; ++p) {
                    scores[g * scores_stride + s + lane_count * u + p] = score[g][u][p] / scale;
                }
            }
        }
    }
    return s;
}

template <std::size_t Q>
void group_scores(const float* q, std::size_t q_stride, const float* keys, std::size_t key_stride, std::size_t head_dim,
                  std::size_t count, float scale, float* scores, std::size_t scores_stride) {
    TERNARY_NO_CONTRACT
    // 4 vectors of positions a block where registers allow (AVX-512: 32 of them).
    constexpr std::size_t wide = lane_count >= 16 && Q <= 4 ? 4 : Q <= 2 ? 2 : 1;
    std::size_t s = score_blocks<Q, wide>(q, q_stride, keys, key_stride, head_dim, 0, count, scale, scores, scores_stride);
    s = score_blocks<Q, 1>(q, q_stride, keys, key_stride, head_dim, s, count, scale, scores, scores_stride);
    for (; s < count; ++s) {
        for (std::size_t g = 0; g < Q; ++g) {
            float score = 0.0f;
            for (std::size_t i = 0; i < head_dim; ++i) score += q[g * q_stride + i] * keys[i * key_stride + s];
            scores[g * scores_stride + s] = score / scale;
        }
    }
}

/// f(first, Q) for the queries [0, queries) in groups of at most 4, Q a compile-time size
/// (std::integral_constant): the loops are unrolled for each group size.
template <class F>
void in_query_groups(std::size_t queries, F&& f) {
    for (std::size_t g = 0; g < queries; g += 4) {
        switch (std::min<std::size_t>(4, queries - g)) {
            case 1: f(g, std::integral_constant<std::size_t, 1>{}); break;
            case 2: f(g, std::integral_constant<std::size_t, 2>{}); break;
            case 3: f(g, std::integral_constant<std::size_t, 3>{}); break;
            default: f(g, std::integral_constant<std::size_t, 4>{}); break;
        }
    }
}

/// The scores of `queries` query heads (q + g * q_stride) against one kv head's cached keys,
/// each query's row at scores + g * scores_stride: see score_blocks.
inline void head_scores(const float* q, std::size_t q_stride, std::size_t queries, const float* keys,
                        std::size_t key_stride, std::size_t head_dim, std::size_t count, float scale, float* scores,
                        std::size_t scores_stride) {
    in_query_groups(queries, [&](std::size_t g, auto size) {
        group_scores<decltype(size)::value>(q + g * q_stride, q_stride, keys, key_stride, head_dim, count, scale,
                                            scores + g * scores_stride, scores_stride);
    });
}

/// For Q queries: out[g * out_stride + i] = sum_s weights[g * weights_stride + s] *
/// values[s * stride + i] for i in [i, head_dim) by blocks of `vectors` vectors of dimensions,
/// s in order; each value vector loaded serves all Q queries. Returns where the blocks stop.
template <std::size_t Q, std::size_t vectors>
std::size_t value_blocks(const float* weights, std::size_t weights_stride, const float* values, std::size_t stride,
                         std::size_t head_dim, std::size_t i, std::size_t count, float* out, std::size_t out_stride) {
    TERNARY_NO_CONTRACT
    constexpr std::size_t block = vectors * lane_count;
    for (; i + block <= head_dim; i += block) {
        lanes acc[Q][vectors] = {};
        for (std::size_t s = 0; s < count; ++s) {
            for (std::size_t u = 0; u < vectors; ++u) {
                lanes v;
                std::memcpy(&v, values + s * stride + i + lane_count * u, sizeof v);
                for (std::size_t g = 0; g < Q; ++g) acc[g][u] += weights[g * weights_stride + s] * v;
            }
        }
        for (std::size_t g = 0; g < Q; ++g) std::memcpy(out + g * out_stride + i, &acc[g], sizeof acc[g]);
    }
    return i;
}

template <std::size_t Q>
void group_values(const float* weights, std::size_t weights_stride, const float* values, std::size_t stride,
                  std::size_t head_dim, std::size_t count, float* out, std::size_t out_stride) {
    TERNARY_NO_CONTRACT
    // About 16 sums in flight: 8 vectors for one query, 4 for up to four (AVX-512); half on
    // the baseline's 16 registers.
    constexpr std::size_t wide = (lane_count >= 16 ? 16 : 8) / (Q == 1 ? 1 : Q <= 2 ? 2 : 4);
    std::size_t i = value_blocks<Q, wide>(weights, weights_stride, values, stride, head_dim, 0, count, out, out_stride);
    i = value_blocks<Q, 1>(weights, weights_stride, values, stride, head_dim, i, count, out, out_stride);
    for (; i < head_dim; ++i) {
        for (std::size_t g = 0; g < Q; ++g) {
            float acc = 0.0f;
            for (std::size_t s = 0; s < count; ++s) acc += weights[g * weights_stride + s] * values[s * stride + i];
            out[g * out_stride + i] = acc;
        }
    }
}

/// The weighted values of `queries` query heads (softmaxed scores at weights + g *
/// weights_stride) over one kv head's cached values, each into out + g * out_stride.
inline void weighted_values(const float* weights, std::size_t weights_stride, std::size_t queries, const float* values,
                            std::size_t stride, std::size_t head_dim, std::size_t count, float* out,
                            std::size_t out_stride) {
    in_query_groups(queries, [&](std::size_t g, auto size) {
        group_values<decltype(size)::value>(weights + g * weights_stride, weights_stride, values, stride, head_dim, count,
                                            out + g * out_stride, out_stride);
    });
}
