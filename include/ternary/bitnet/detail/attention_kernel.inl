// The two float loops of one attention head, compiled once per instruction set (attention.hpp).
//
// Included (no include guard, no includes of its own) inside a namespace that defines
// `lane_count`, the floats per vector. Every output is a sum in index order, whatever the
// vector width: lanes hold different positions (scores) or different dimensions (values),
// never parts of one sum. Contraction into fused multiply-adds is off (each product is
// rounded before it is added, as in the plain loop), so every width gives the same bits.

using lanes = float __attribute__((vector_size(lane_count * sizeof(float))));

/// scores[s] = (sum_i q[i] * keys[i * capacity + s]) / scale for s in [s, count) by blocks of
/// `vectors` vectors of positions, returning where the blocks stop. The key cache holds each
/// dimension's positions side by side, so a vector of positions is as many independent sums;
/// several vectors at once keep several additions in flight (one chain waits on each add).
template <std::size_t vectors>
std::size_t score_blocks(const float* q, const float* keys, std::size_t capacity, std::size_t head_dim, std::size_t s,
                         std::size_t count, float scale, float* scores) {
    TERNARY_NO_CONTRACT
    constexpr std::size_t block = vectors * lane_count;
    for (; s + block <= count; s += block) {
        lanes score[vectors] = {};
        for (std::size_t i = 0; i < head_dim; ++i) {
            for (std::size_t u = 0; u < vectors; ++u) {
                lanes key;
                std::memcpy(&key, keys + i * capacity + s + lane_count * u, sizeof key);
                score[u] += q[i] * key;
            }
        }
        for (std::size_t u = 0; u < vectors; ++u) {
            for (std::size_t p = 0; p < lane_count; ++p) scores[s + lane_count * u + p] = score[u][p] / scale;
        }
    }
    return s;
}

/// scores[s] = (sum_i q[i] * keys[i * capacity + s]) / scale for s in [0, count).
inline void head_scores(const float* q, const float* keys, std::size_t capacity, std::size_t head_dim,
                        std::size_t count, float scale, float* scores) {
    TERNARY_NO_CONTRACT
    std::size_t s = score_blocks<4>(q, keys, capacity, head_dim, 0, count, scale, scores);
    s = score_blocks<1>(q, keys, capacity, head_dim, s, count, scale, scores);
    for (; s < count; ++s) {
        float score = 0.0f;
        for (std::size_t i = 0; i < head_dim; ++i) score += q[i] * keys[i * capacity + s];
        scores[s] = score / scale;
    }
}

/// out[i] = sum_s weights[s] * values[s * stride + i] for i in [i, head_dim) by blocks of
/// `vectors` vectors of dimensions (independent sums, in flight together), s in order;
/// returns where the blocks stop.
template <std::size_t vectors>
std::size_t value_blocks(const float* weights, const float* values, std::size_t stride, std::size_t head_dim,
                         std::size_t i, std::size_t count, float* out) {
    TERNARY_NO_CONTRACT
    constexpr std::size_t block = vectors * lane_count;
    for (; i + block <= head_dim; i += block) {
        lanes acc[vectors] = {};
        for (std::size_t s = 0; s < count; ++s) {
            for (std::size_t u = 0; u < vectors; ++u) {
                lanes v;
                std::memcpy(&v, values + s * stride + i + lane_count * u, sizeof v);
                acc[u] += weights[s] * v;
            }
        }
        std::memcpy(out + i, &acc, sizeof acc);
    }
    return i;
}

/// out[i] = sum_s weights[s] * values[s * stride + i] for i in [0, head_dim), s in order.
inline void weighted_values(const float* weights, const float* values, std::size_t stride, std::size_t head_dim,
                            std::size_t count, float* out) {
    TERNARY_NO_CONTRACT
    std::size_t i = value_blocks<8>(weights, values, stride, head_dim, 0, count, out);
    i = value_blocks<1>(weights, values, stride, head_dim, i, count, out);
    for (; i < head_dim; ++i) {
        float acc = 0.0f;
        for (std::size_t s = 0; s < count; ++s) acc += weights[s] * values[s * stride + i];
        out[i] = acc;
    }
}
