#pragma once
// The float operations of the transformer, in the order of operations of llama2.c's run.c
// (sums in index order, powf/cosf/sinf/expf in float), so that a float model reproduces its
// outputs exactly.

#include <cmath>
#include <cstddef>
#include <span>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "../config.hpp"
#include "config.hpp"

namespace ternary::inline TERNARY_ABI::bitnet {

/// out = weight * x / sqrt(mean(x^2) + eps). out may be x.
inline void rms_norm(std::span<float> out, std::span<const float> x, std::span<const float> weight, float eps) {
    float squares = 0.0f;
    for (float v : x) squares += v * v;
    const float inverse_rms = 1.0f / std::sqrt(squares / static_cast<float>(x.size()) + eps);
    for (std::size_t i = 0; i < x.size(); ++i) out[i] = weight[i] * (inverse_rms * x[i]);
}

/// The rotations of RoPE at position pos: angle i (i < head_dim / 2) is pos * f_i with
/// f_i = theta^(-2i / head_dim); cos and sin receive head_dim / 2 values. The same for every
/// head and layer, so a forward pass computes them once per position.
inline void rope_rotations(std::span<float> cos, std::span<float> sin, std::size_t head_dim, std::size_t pos, float theta) {
    const float position = static_cast<float>(pos);
    for (std::size_t i = 0; i < head_dim / 2; ++i) {
        const float frequency = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
        cos[i] = std::cos(position * frequency);
        sin[i] = std::sin(position * frequency);
    }
}

/// Rotary position embedding of every head in vec (heads of head_dim values): pair i of each
/// head turns by the angle whose cos and sin are given (rope_rotations).
inline void rope(std::span<float> vec, std::size_t head_dim, std::span<const float> cos, std::span<const float> sin,
                 rope_style style) {
    const std::size_t half = head_dim / 2;
    for (std::size_t head = 0; head < vec.size(); head += head_dim) {
        float* v = vec.data() + head;
        for (std::size_t i = 0; i < half; ++i) {
            float& a = style == rope_style::interleaved ? v[2 * i] : v[i];
            float& b = style == rope_style::interleaved ? v[2 * i + 1] : v[i + half];
            const float a0 = a, b0 = b;
            a = a0 * cos[i] - b0 * sin[i];
            b = a0 * sin[i] + b0 * cos[i];
        }
    }
}

/// Below this, exp(x) is less than half the smallest float (2^-150 = e^-103.97...), so
/// std::exp gives +0 (glibc returns +0 from x < -103.97 on, through its slow underflow path).
inline constexpr float exp_underflows_below = -104.0f;

/// x = exp(x - max x) / sum, in place (the max keeps exp from overflowing). Terms far below
/// the max are +0 without a call: in long contexts most attention scores are (with random
/// weights, a decode step at position 1900 spent 3% of its time in libm's underflow path).
/// The same bits as calling std::exp for every term (tested).
inline void softmax(std::span<float> x) {
    float max = x[0];
    for (float v : x) max = v > max ? v : max;
    float sum = 0.0f;
    for (float& v : x) {
        const float shifted = v - max;
        v = shifted < exp_underflows_below ? 0.0f : std::exp(shifted);
        sum += v;
    }
    for (float& v : x) v /= sum;
}

/// The gate activation: silu(z) = z / (1 + e^-z), or relu(z)^2.
inline float activate(float z, ffn_activation activation) {
    if (activation == ffn_activation::silu) return z * (1.0f / (1.0f + std::exp(-z)));
    return z > 0.0f ? z * z : 0.0f;
}

/// gate[i] = activate(gate[i]) * up[i], the gated FFN's product. relu^2's loop is written with
/// SSE where there is SSE: the compiler keeps the compare of `z > 0 ? z : 0` as a branch
/// (it may trap, and floating-point traps are on by default), and that scalar loop was 3% of a
/// 2-thread decode step, run by one thread while the other waited. maxps(z, 0) is exactly
/// `z > 0 ? z : 0` (NaN and -0 give +0), so the bits are the same.
inline void gate_times_up(std::span<float> gate, std::span<const float> up, ffn_activation activation) {
    std::size_t i = 0;
    if (activation == ffn_activation::silu) {
        for (; i < gate.size(); ++i) gate[i] = activate(gate[i], ffn_activation::silu) * up[i];
        return;
    }
#if defined(__SSE2__)
    for (; i + 4 <= gate.size(); i += 4) {
        const __m128 relu = _mm_max_ps(_mm_loadu_ps(&gate[i]), _mm_setzero_ps());
        _mm_storeu_ps(&gate[i], _mm_mul_ps(_mm_mul_ps(relu, relu), _mm_loadu_ps(&up[i])));
    }
#endif
    for (; i < gate.size(); ++i) {
        const float relu = gate[i] > 0.0f ? gate[i] : 0.0f;
        gate[i] = relu * relu * up[i];
    }
}

}  // namespace ternary::inline TERNARY_ABI::bitnet
