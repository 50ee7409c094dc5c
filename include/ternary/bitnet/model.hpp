#pragma once
// A BitNet b1.58 / Llama transformer, generic over its linear layers (float_linear or
// ternary_linear): pre-norm residual blocks, grouped-query attention with RoPE and a KV cache,
// a gated feed-forward block, optional 2B4T sub-norms, no biases.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "config.hpp"
#include "linear.hpp"
#include "ops.hpp"

namespace ternary::inline TERNARY_ABI::bitnet {

template <class Linear>
struct layer_weights {
    std::vector<float> attn_norm;      // (dim) input_layernorm; empty with linear_self_norm
    Linear wq;                         // (dim, dim)
    Linear wk;                         // (kv_dim, dim)
    Linear wv;                         // (kv_dim, dim)
    std::vector<float> attn_sub_norm;  // (dim) 2B4T only
    Linear wo;                         // (dim, dim)
    std::vector<float> ffn_norm;       // (dim) post_attention_layernorm; empty with linear_self_norm
    Linear w_gate;                     // (hidden_dim, dim) w1
    Linear w_up;                       // (hidden_dim, dim) w3
    std::vector<float> ffn_sub_norm;   // (hidden_dim) 2B4T only
    Linear w_down;                     // (dim, hidden_dim) w2
};

template <class Linear>
struct model_weights {
    std::vector<float> token_embedding;  // (vocab_size, dim)
    std::vector<layer_weights<Linear>> layers;
    std::vector<float> final_norm;       // (dim)
    std::optional<float_linear> output;  // (vocab_size, dim); empty: tied to token_embedding
};

template <class Linear>
class transformer {
public:
    transformer(model_config config, model_weights<Linear> weights)
        : config_(config), weights_(std::move(weights)) {
        config_.validate();
        const std::size_t dim = config_.dim, hidden = config_.hidden_dim;
        x_.resize(dim);
        normed_.resize(dim);
        attention_.resize(dim);
        projected_.resize(dim);
        query_.resize(dim);
        gate_.resize(hidden);
        up_.resize(hidden);
        scores_.resize(config_.seq_len);
        logits_.resize(config_.vocab_size);
        if (weights_.layers.size() != config_.n_layers ||
            weights_.token_embedding.size() != config_.vocab_size * dim || weights_.final_norm.size() != dim) {
            detail::fail<format_error>("transformer", "the weights do not have the configured shapes");
        }
    }

    const model_config& config() const noexcept { return config_; }
    const model_weights<Linear>& weights() const noexcept { return weights_; }

    /// Runs token at position pos (0, 1, 2, ... in order: the KV cache holds the earlier ones)
    /// and returns the logits of the next token.
    std::span<const float> forward(std::size_t token, std::size_t pos) {
        const model_config& c = config_;
        if (token >= c.vocab_size) detail::fail<value_error>("forward", "token ", token, " >= vocab size ", c.vocab_size);
        if (pos >= c.seq_len) detail::fail<value_error>("forward", "position ", pos, " >= context ", c.seq_len);

        // The KV cache grows with the positions used: a file's seq_len costs nothing until reached.
        const std::size_t cached = (pos + 1) * c.n_layers * c.kv_dim();
        if (key_cache_.size() < cached) {
            key_cache_.resize(cached);
            value_cache_.resize(cached);
        }

        const float* embedding = weights_.token_embedding.data() + token * c.dim;
        std::copy(embedding, embedding + c.dim, x_.begin());

        for (std::size_t l = 0; l < c.n_layers; ++l) {
            const layer_weights<Linear>& w = weights_.layers[l];
            const std::span<float> key = cache_row(key_cache_, l, pos), value = cache_row(value_cache_, l, pos);

            // Attention: h = x + Wo [SubNorm] Attention(RoPE(Wq n), RoPE(Wk n), Wv n), n = Norm(x)
            const std::span<const float> n1 = normed_input(w.attn_norm);
            w.wq.forward(query_, n1);
            w.wk.forward(key, n1);
            w.wv.forward(value, n1);
            rope(query_, c.head_dim(), pos, c.rope_theta, c.rope);
            rope(key, c.head_dim(), pos, c.rope_theta, c.rope);
            attend(l, pos);
            if (c.sub_norms) rms_norm(attention_, attention_, w.attn_sub_norm, c.norm_eps);
            w.wo.forward(projected_, attention_);
            for (std::size_t i = 0; i < c.dim; ++i) x_[i] += projected_[i];

            // Feed-forward: x = h + Wdown [SubNorm](act(Wgate n) * (Wup n)), n = Norm(h)
            const std::span<const float> n2 = normed_input(w.ffn_norm);
            w.w_gate.forward(gate_, n2);
            w.w_up.forward(up_, n2);
            for (std::size_t i = 0; i < c.hidden_dim; ++i) gate_[i] = activate(gate_[i], c.activation) * up_[i];
            if (c.sub_norms) rms_norm(gate_, gate_, w.ffn_sub_norm, c.norm_eps);
            w.w_down.forward(projected_, gate_);
            for (std::size_t i = 0; i < c.dim; ++i) x_[i] += projected_[i];
        }

        // The head: logits = E Norm(x), E the output matrix or the tied token embedding.
        rms_norm(x_, x_, weights_.final_norm, c.norm_eps);
        if (weights_.output) {
            weights_.output->forward(logits_, x_);
        } else {
            float_matvec(logits_, weights_.token_embedding.data(), c.vocab_size, c.dim, x_);
        }
        return logits_;
    }

private:
    std::span<float> cache_row(std::vector<float>& cache, std::size_t layer, std::size_t pos) {
        const std::size_t kv = config_.kv_dim();
        return {cache.data() + (pos * config_.n_layers + layer) * kv, kv};
    }

    /// The input of a block's linears: RMSNorm(x) with the block's weight, or x itself when
    /// each BitLinear normalizes its own input.
    std::span<const float> normed_input(const std::vector<float>& norm_weight) {
        if (config_.linear_self_norm) return x_;
        rms_norm(normed_, x_, norm_weight, config_.norm_eps);
        return normed_;
    }

    /// Causal attention of query_ over positions 0..pos, one head at a time, into attention_.
    /// Scores q.k / sqrt(head_dim), softmax; query head h reads kv head h / (n_heads / n_kv_heads).
    void attend(std::size_t layer, std::size_t pos) {
        const model_config& c = config_;
        const std::size_t head_dim = c.head_dim(), group = c.n_heads / c.n_kv_heads;
        const float scale = std::sqrt(static_cast<float>(head_dim));
        for (std::size_t h = 0; h < c.n_heads; ++h) {
            const float* q = query_.data() + h * head_dim;
            const std::size_t kv_offset = (h / group) * head_dim;
            const std::span<float> scores(scores_.data(), pos + 1);
            for (std::size_t t = 0; t <= pos; ++t) {
                const float* k = cache_row(key_cache_, layer, t).data() + kv_offset;
                float score = 0.0f;
                for (std::size_t i = 0; i < head_dim; ++i) score += q[i] * k[i];
                scores[t] = score / scale;
            }
            softmax(scores);
            float* out = attention_.data() + h * head_dim;
            std::fill(out, out + head_dim, 0.0f);
            for (std::size_t t = 0; t <= pos; ++t) {
                const float* v = cache_row(value_cache_, layer, t).data() + kv_offset;
                for (std::size_t i = 0; i < head_dim; ++i) out[i] += scores[t] * v[i];
            }
        }
    }

    model_config config_;
    model_weights<Linear> weights_;
    // Run state (llama2.c's RunState): activations of the current position.
    std::vector<float> x_;          // (dim) the residual stream
    std::vector<float> normed_;     // (dim) a normalized copy of x_
    std::vector<float> attention_;  // (dim) the heads' outputs, concatenated
    std::vector<float> projected_;  // (dim) a block's output before the residual add
    std::vector<float> query_;      // (dim)
    std::vector<float> gate_;       // (hidden_dim) act(Wgate n), then the gated product
    std::vector<float> up_;         // (hidden_dim)
    std::vector<float> scores_;     // (seq_len) attention scores of one head
    std::vector<float> logits_;     // (vocab_size)
    std::vector<float> key_cache_;    // (positions so far, n_layers, kv_dim), after RoPE
    std::vector<float> value_cache_;  // (positions so far, n_layers, kv_dim)
};

}  // namespace ternary::inline TERNARY_ABI::bitnet
