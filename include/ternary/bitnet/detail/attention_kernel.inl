// The two float loops of one attention head, compiled once per instruction set (attention.hpp).
//
// Included (no include guard, no includes of its own) inside a namespace that defines
// `lane_count`, the floats per vector. Every output is a sum in index order, whatever the
// vector width: lanes hold different positions (scores) or different dimensions (values),
// never parts of one sum. Contraction into fused multiply-adds is off (each product is
// rounded before it is added, as in the plain loop), so every width gives the same bits.

using lanes = float __attribute__((vector_size(lane_count * sizeof(float))));

/// scores[s] = (sum_i q[i] * keys[i * capacity + s]) / scale for s in [0, count): the key cache
/// holds each dimension's positions side by side, so 16 positions are 16 independent sums.
inline void head_scores(const float* q, const float* keys, std::size_t capacity, std::size_t head_dim,
                        std::size_t count, float scale, float* scores) {
    TERNARY_NO_CONTRACT
    constexpr std::size_t block = 16, vectors = block / lane_count;
    std::size_t s = 0;
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
    for (; s < count; ++s) {
        float score = 0.0f;
        for (std::size_t i = 0; i < head_dim; ++i) score += q[i] * keys[i * capacity + s];
        scores[s] = score / scale;
    }
}

/// out[i] = sum_s weights[s] * values[s * stride + i] for i in [0, head_dim), s in order.
inline void weighted_values(const float* weights, const float* values, std::size_t stride, std::size_t head_dim,
                            std::size_t count, float* out) {
    TERNARY_NO_CONTRACT
    std::size_t i = 0;
    for (; i + lane_count <= head_dim; i += lane_count) {
        lanes acc = {};
        for (std::size_t s = 0; s < count; ++s) {
            lanes v;
            std::memcpy(&v, values + s * stride + i, sizeof v);
            acc += weights[s] * v;
        }
        std::memcpy(out + i, &acc, sizeof acc);
    }
    for (; i < head_dim; ++i) {
        float acc = 0.0f;
        for (std::size_t s = 0; s < count; ++s) acc += weights[s] * values[s * stride + i];
        out[i] = acc;
    }
}
