#pragma once
// A BitNet b1.58 / Llama transformer, generic over its linear layers (float_linear or
// ternary_linear): pre-norm residual blocks, grouped-query attention with RoPE and a KV cache,
// a gated feed-forward block, optional 2B4T sub-norms, no biases. A forward pass takes a run of
// tokens at consecutive positions (a prompt, or one token when decoding): the linears then see
// a batch of tokens and the ternary ones run as GEMMs.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../aligned_buffer.hpp"
#include "../config.hpp"
#include "../activations.hpp"
#include "../error.hpp"
#include "../int8_matrix.hpp"
#include "../matrix_view.hpp"
#include "../quant/absmax.hpp"
#include "../pack/packing.hpp"
#include "../thread_pool.hpp"
#include "attention.hpp"
#include "config.hpp"
#include "float_matrix.hpp"
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
    float_matrix token_embedding;  // (vocab_size, dim)
    std::vector<layer_weights<Linear>> layers;
    std::vector<float> final_norm;       // (dim)
    std::optional<float_matrix> output;  // (vocab_size, dim); empty: tied to token_embedding
};

namespace detail {

/// Throws format_error naming `what` unless the linear is rows x cols.
template <class Linear>
void check_linear(const Linear& linear, std::size_t rows, std::size_t cols, std::size_t layer, const char* what) {
    if (linear.rows() != rows || linear.cols() != cols) {
        ternary::detail::fail<format_error>("transformer", "layer ", layer, " ", what, " is ", linear.rows(), " x ",
                                            linear.cols(), ", the configuration needs ", rows, " x ", cols);
    }
}

inline void check_norm(const std::vector<float>& weight, std::size_t size, std::size_t layer, const char* what) {
    if (weight.size() != size) {
        ternary::detail::fail<format_error>("transformer", "layer ", layer, " ", what, " has ", weight.size(),
                                            " values, the configuration needs ", size);
    }
}

}  // namespace detail

template <class Linear>
class transformer {
public:
    transformer(model_config config, model_weights<Linear> weights) : config_(config), weights_(std::move(weights)) {
        config_.validate();
        check_shapes();
    }

    const model_config& config() const noexcept { return config_; }
    const model_weights<Linear>& weights() const noexcept { return weights_; }
    /// The weights, moved out (the model is left without them): to build another model.
    model_weights<Linear> release_weights() && { return std::move(weights_); }

    /// The head as the weights hold it: the output matrix, or the tied token embedding.
    const float_matrix& stored_head() const noexcept {
        return weights_.output ? *weights_.output : weights_.token_embedding;
    }
    /// The float head that computes the logits: the stored one, or its copy in the format
    /// use_head_format chose (unused while an int8 head is in use).
    const float_matrix& head() const noexcept { return converted_head_ ? *converted_head_ : stored_head(); }

    /// From now on, computes the logits with an int8 copy of the stored head (one scale per
    /// row, int8_matrix.hpp) and the final hidden state quantized to int8 per token: half the
    /// bytes of an f16 head per token, for a small change in the logits (measured in
    /// docs/model.md). The stored head's pages are then released where the file is mapped (a
    /// tied embedding is still read a row per token).
    void use_int8_head() {
        const float_matrix& h = stored_head();
        int8_head_ = int8_matrix::quantize_parallel(h.rows(), h.cols(), [&](std::size_t i, std::span<float> row) { h.row(i, row); });
        converted_head_.reset();
        h.release_pages();
    }
    bool has_int8_head() const noexcept { return int8_head_.has_value(); }

    /// From now on, computes the logits with the head stored in `format`: the stored head if it
    /// already is in that format, else a copy converted from it (float_matrix::converted: f32,
    /// f16, bf16, Q8_0, Q6_K or Q4_K), whose source pages are then released where the file is
    /// mapped. Drops an int8 head. Block formats multiply in place with the final hidden state
    /// quantized to int8 (quant/block_dot.hpp).
    void use_head_format(float_format format) {
        const float_matrix& h = stored_head();
        std::optional<float_matrix> converted;
        if (h.format() != format) converted = float_matrix::converted(h, format);  // may throw: nothing changed yet
        int8_head_.reset();
        converted_head_ = std::move(converted);
        if (converted_head_) h.release_pages();
    }

    /// The bytes of weights one decoded token reads: every linear, the head as it is used (the
    /// int8 copy, or as stored) and one embedding row. Decoding streams them all from memory
    /// once per token, so this over the read bandwidth bounds the decoding speed.
    std::size_t weight_bytes_per_token() const {
        std::size_t bytes = 0;
        for (const layer_weights<Linear>& w : weights_.layers) {
            for (const Linear* l : {&w.wq, &w.wk, &w.wv, &w.wo, &w.w_gate, &w.w_up, &w.w_down}) bytes += l->weight_bytes();
        }
        const float_matrix& e = weights_.token_embedding;
        bytes += e.stored_bytes() / e.rows();
        bytes += int8_head_ ? int8_head_->bytes().size() + int8_head_->scales().size_bytes() : head().stored_bytes();
        return bytes;
    }

    /// Runs token at position pos (0, 1, 2, ... in order: the KV cache holds the earlier ones)
    /// and returns the logits of the next token.
    std::span<const float> forward(std::size_t token, std::size_t pos) { return forward(std::span(&token, 1), pos); }

    /// Runs tokens at positions pos, pos + 1, ... (the KV cache holds positions before pos) and
    /// returns the logits after the last one, or with all_logits those after each token
    /// (tokens x vocab_size, row-major).
    std::span<const float> forward(std::span<const std::size_t> tokens, std::size_t pos, bool all_logits = false) {
        const model_config& c = config_;
        const std::size_t n = tokens.size();
        if (n == 0) ternary::detail::fail<value_error>("forward", "no tokens");
        if (pos > c.seq_len || n > c.seq_len - pos) {
            ternary::detail::fail<value_error>("forward", "positions ", pos, "..", pos + n - 1, " exceed the context of ",
                                               c.seq_len);
        }
        for (std::size_t token : tokens) {
            if (token >= c.vocab_size) ternary::detail::fail<value_error>("forward", "token ", token, " >= vocab size ", c.vocab_size);
        }
        // Long prompts run in slices of prefill_slice tokens, each against the cache the earlier
        // ones filled: every token's result is the same whatever the slicing (the batched and
        // the one-at-a-time passes agree exactly), and the GEMMs keep the batch they run best.
        const std::size_t slice = std::min(n, prefill_slice);
        reserve(slice, pos + n);
        if (logits_.size() < (all_logits ? n : 1) * c.vocab_size) logits_.resize((all_logits ? n : 1) * c.vocab_size);
        for (std::size_t start = 0; start < n; start += slice) {
            const std::size_t count = std::min(slice, n - start);
            // Logits: every slice's with all_logits, else only the last slice's last token's.
            float* logits = all_logits ? logits_.data() + start * c.vocab_size
                            : start + count == n ? logits_.data()
                                                 : nullptr;
            forward_slice(tokens.subspan(start, count), pos + start, all_logits, logits);
        }
        return {logits_.data(), (all_logits ? n : 1) * c.vocab_size};
    }

    /// Prompts longer than this run in slices of this many tokens: the ternary GEMMs run
    /// fastest on batches of about 64 tokens (their prepared activations then stay in L2).
    static constexpr std::size_t prefill_slice = 64;

private:
    /// The forward pass of tokens at positions pos.. (already checked), the cache sized: the
    /// logits after each token (all_logits) or after the last into `logits_out`, none if null.
    void forward_slice(std::span<const std::size_t> tokens, std::size_t pos, bool all_logits, float* logits_out) {
        const model_config& c = config_;
        const std::size_t n = tokens.size();
        const auto x = rows(x_, n, c.dim), normed = rows(normed_, n, c.dim);
        for (std::size_t t = 0; t < n; ++t) weights_.token_embedding.row(tokens[t], row(x, t));
        // RoPE's rotations of each position, shared by all heads and layers.
        const std::size_t half = c.head_dim() / 2;
        const auto cos = rows(rope_cos_, n, half), sin = rows(rope_sin_, n, half);
        for (std::size_t t = 0; t < n; ++t) rope_rotations(row(cos, t), row(sin, t), c.head_dim(), pos + t, c.rope_theta);

        for (std::size_t l = 0; l < c.n_layers; ++l) {
            const layer_weights<Linear>& w = weights_.layers[l];
            const auto keys = rows(keys_, n, c.kv_dim()), values = cache_rows(value_cache_[l], pos, n);
            const auto query = rows(query_, n, c.dim), attention = rows(attention_, n, c.dim),
                       projected = rows(projected_, n, c.dim);

            // Attention: h = x + Wo [SubNorm] Attention(RoPE(Wq n), RoPE(Wk n), Wv n), n = Norm(x)
            const matrix_view<const float> n1 = normed_input(x, normed, w.attn_norm);
            forward_shared<Linear>(n1, {{&w.wq, query}, {&w.wk, keys}, {&w.wv, values}});
            for_tokens(n, c.dim, [&](std::size_t t) {
                rope(row(query, t), c.head_dim(), row(cos, t), row(sin, t), c.rope);
                rope(row(keys, t), c.head_dim(), row(cos, t), row(sin, t), c.rope);
            });
            store_keys(l, pos, keys);
            attend(l, pos, n);
            if (c.sub_norms) {
                for_tokens(n, c.dim, [&](std::size_t t) { rms_norm(row(attention, t), row(attention, t), w.attn_sub_norm, c.norm_eps); });
            }
            w.wo.forward(projected, attention);
            add(x, projected);

            // Feed-forward: x = h + Wdown [SubNorm](act(Wgate n) * (Wup n)), n = Norm(h)
            const auto gate = rows(gate_, n, c.hidden_dim), up = rows(up_, n, c.hidden_dim);
            const matrix_view<const float> n2 = normed_input(x, normed, w.ffn_norm);
            forward_shared<Linear>(n2, {{&w.w_gate, gate}, {&w.w_up, up}});
            for_tokens(n, c.hidden_dim, [&](std::size_t t) {
                const std::span<float> g = row(gate, t), u = row(up, t);
                for (std::size_t i = 0; i < c.hidden_dim; ++i) g[i] = activate(g[i], c.activation) * u[i];
                if (c.sub_norms) rms_norm(g, g, w.ffn_sub_norm, c.norm_eps);
            });
            w.w_down.forward(projected, gate);
            add(x, projected);
        }

        // The head: logits = E Norm(x), E the output matrix or the tied token embedding.
        if (logits_out == nullptr) return;
        const std::size_t first = all_logits ? 0 : n - 1, count = n - first;
        const auto last = rows(x_.data() + first * c.dim, count, c.dim);
        for_tokens(count, c.dim, [&](std::size_t t) { rms_norm(row(last, t), row(last, t), weights_.final_norm, c.norm_eps); });
        const auto logits = rows(logits_out, count, c.vocab_size);
        if (int8_head_) {
            if (head_input_.tokens() != 1 || head_input_.cols() != c.dim) head_input_ = activation_batch(1, c.dim);
            for (std::size_t t = 0; t < count; ++t) {
                quantize_into(head_input_, matrix_view<const float>::row_major(&last(t, 0), 1, c.dim));
                gemv(row(logits, t), *int8_head_, head_input_.view());
            }
        } else {
            head().multiply(logits, last);
        }
    }

    void check_shapes() const {
        const model_config& c = config_;
        const auto& e = weights_.token_embedding;
        if (e.rows() != c.vocab_size || e.cols() != c.dim) {
            ternary::detail::fail<format_error>("transformer", "token embedding is ", e.rows(), " x ", e.cols(),
                                                ", the configuration needs ", c.vocab_size, " x ", c.dim);
        }
        if (weights_.output && (weights_.output->rows() != c.vocab_size || weights_.output->cols() != c.dim)) {
            ternary::detail::fail<format_error>("transformer", "output head is ", weights_.output->rows(), " x ",
                                                weights_.output->cols(), ", the configuration needs ", c.vocab_size,
                                                " x ", c.dim);
        }
        if (weights_.final_norm.size() != c.dim) {
            ternary::detail::fail<format_error>("transformer", "the final norm has ", weights_.final_norm.size(),
                                                " values, the configuration needs ", c.dim);
        }
        if (weights_.layers.size() != c.n_layers) {
            ternary::detail::fail<format_error>("transformer", weights_.layers.size(), " layers, the configuration has ",
                                                c.n_layers);
        }
        const std::size_t norm = c.linear_self_norm ? 0 : c.dim;
        for (std::size_t l = 0; l < c.n_layers; ++l) {
            const layer_weights<Linear>& w = weights_.layers[l];
            detail::check_linear(w.wq, c.dim, c.dim, l, "wq");
            detail::check_linear(w.wk, c.kv_dim(), c.dim, l, "wk");
            detail::check_linear(w.wv, c.kv_dim(), c.dim, l, "wv");
            detail::check_linear(w.wo, c.dim, c.dim, l, "wo");
            detail::check_linear(w.w_gate, c.hidden_dim, c.dim, l, "w_gate");
            detail::check_linear(w.w_up, c.hidden_dim, c.dim, l, "w_up");
            detail::check_linear(w.w_down, c.dim, c.hidden_dim, l, "w_down");
            detail::check_norm(w.attn_norm, norm, l, "attention norm");
            detail::check_norm(w.ffn_norm, norm, l, "feed-forward norm");
            detail::check_norm(w.attn_sub_norm, c.sub_norms ? c.dim : 0, l, "attention sub-norm");
            detail::check_norm(w.ffn_sub_norm, c.sub_norms ? c.hidden_dim : 0, l, "feed-forward sub-norm");
        }
    }

    /// Sizes the run state for n tokens and the KV cache for `positions` positions. The cache
    /// grows with the positions used: a file's seq_len costs nothing until reached.
    void reserve(std::size_t n, std::size_t positions) {
        const model_config& c = config_;
        for (auto* v : {&x_, &normed_, &query_, &attention_, &projected_}) {
            if (v->size() < n * c.dim) v->resize(n * c.dim);
        }
        if (gate_.size() < n * c.hidden_dim) {
            gate_.resize(n * c.hidden_dim);
            up_.resize(n * c.hidden_dim);
        }
        if (rope_cos_.size() < n * c.head_dim() / 2) {
            rope_cos_.resize(n * c.head_dim() / 2);
            rope_sin_.resize(n * c.head_dim() / 2);
        }
        if (keys_.size() < n * c.kv_dim()) keys_.resize(n * c.kv_dim());
        key_cache_.resize(c.n_layers);
        value_cache_.resize(c.n_layers);
        for (std::size_t l = 0; l < c.n_layers; ++l) {
            if (value_cache_[l].size() < positions * c.kv_dim()) value_cache_[l].resize(positions * c.kv_dim());
        }
        if (key_capacity_ < positions) {
            // The key cache holds each dimension's positions contiguously (kv_dim x capacity):
            // growing it moves every row, so its capacity doubles.
            const std::size_t capacity = std::min(c.seq_len, std::max({positions, 2 * key_capacity_, std::size_t{16}}));
            for (auto& cache : key_cache_) {
                std::vector<float> grown(c.kv_dim() * capacity);
                for (std::size_t d = 0; d < c.kv_dim() && key_capacity_ != 0; ++d) {
                    std::copy_n(cache.begin() + static_cast<std::ptrdiff_t>(d * key_capacity_), key_capacity_,
                                grown.begin() + static_cast<std::ptrdiff_t>(d * capacity));
                }
                cache = std::move(grown);
            }
            key_capacity_ = capacity;
        }
    }

    static matrix_view<float> rows(float* data, std::size_t n, std::size_t cols) {
        return matrix_view<float>::row_major(data, n, cols);
    }
    static matrix_view<float> rows(std::vector<float>& v, std::size_t n, std::size_t cols) { return rows(v.data(), n, cols); }
    static std::span<float> row(matrix_view<float> m, std::size_t t) { return {&m(t, 0), m.cols()}; }
    matrix_view<float> cache_rows(std::vector<float>& cache, std::size_t pos, std::size_t n) {
        return rows(cache.data() + pos * config_.kv_dim(), n, config_.kv_dim());
    }

    /// f(t) for each of n tokens (rows of `width` values), split over the thread pool when the
    /// work is worth it: each token is computed alone, so the split never changes a result.
    template <class F>
    static void for_tokens(std::size_t n, std::size_t width, F&& f) {
        thread_pool& pool = default_pool();
        const std::size_t grain = n * width < (std::size_t{1} << 14) ? n : std::max<std::size_t>(1, n / (4 * pool.size()));
        pool.run_ranges(n, grain, [&](std::size_t begin, std::size_t end) {
            for (std::size_t t = begin; t < end; ++t) f(t);
        });
    }

    /// x += y, the residual connection.
    static void add(matrix_view<float> x, matrix_view<float> y) {
        for_tokens(x.rows(), x.cols(), [&](std::size_t t) {
            for (std::size_t i = 0; i < x.cols(); ++i) x(t, i) += y(t, i);
        });
    }

    /// The input of a block's linears: RMSNorm(x) with the block's weight, or x itself when
    /// each BitLinear normalizes its own input.
    matrix_view<const float> normed_input(matrix_view<float> x, matrix_view<float> normed,
                                          const std::vector<float>& norm_weight) {
        if (config_.linear_self_norm) return x;
        for_tokens(x.rows(), x.cols(), [&](std::size_t t) { rms_norm(row(normed, t), row(x, t), norm_weight, config_.norm_eps); });
        return normed;
    }

    /// The n new keys (after RoPE) into the layer's cache at positions pos .. pos+n-1.
    void store_keys(std::size_t layer, std::size_t pos, matrix_view<float> keys) {
        float* cache = key_cache_[layer].data();
        for (std::size_t d = 0; d < keys.cols(); ++d) {
            for (std::size_t t = 0; t < keys.rows(); ++t) cache[d * key_capacity_ + pos + t] = keys(t, d);
        }
    }

    /// Causal attention of the n queries (positions pos .. pos+n-1) into attention_, each head of
    /// each token a separate task on the thread pool. Scores q.k / sqrt(head_dim), softmax;
    /// query head h reads kv head h / (n_heads / n_kv_heads).
    void attend(std::size_t layer, std::size_t pos, std::size_t n) {
        const model_config& c = config_;
        const std::size_t head_dim = c.head_dim(), group = c.n_heads / c.n_kv_heads, kv_dim = c.kv_dim();
        const float scale = std::sqrt(static_cast<float>(head_dim));
        const float* keys = key_cache_[layer].data();  // (kv_dim, key_capacity_)
        const float* values = value_cache_[layer].data();
        const std::size_t capacity = key_capacity_;
        const auto one_head = [&](std::size_t t, std::size_t h) {
            const std::size_t last = pos + t;  // causal: this query sees positions 0..last
            const float* q = query_.data() + t * c.dim + h * head_dim;
            const std::size_t kv_offset = (h / group) * head_dim;
            float* scores = per_thread_scratch<float>(last + 1);
            const detail::attention_kernels& kernels = detail::attention_kernels::best();
            kernels.scores(q, keys + kv_offset * capacity, capacity, head_dim, last + 1, scale, scores);
            softmax(std::span(scores, last + 1));
            kernels.values(scores, values + kv_offset, kv_dim, head_dim, last + 1,
                           attention_.data() + t * c.dim + h * head_dim);
        };
        // Threads pay off once the heads read enough cached positions.
        const std::size_t tasks = n * c.n_heads, work = tasks * (pos + n) * head_dim;
        const std::size_t grain = work < (std::size_t{1} << 16) ? tasks : 1;
        default_pool().run_ranges(tasks, grain, [&](std::size_t begin, std::size_t end) {
            for (std::size_t task = begin; task < end; ++task) one_head(task / c.n_heads, task % c.n_heads);
        });
    }

    model_config config_;
    model_weights<Linear> weights_;
    std::optional<int8_matrix> int8_head_;   // use_int8_head()
    std::optional<float_matrix> converted_head_;  // use_head_format()
    activation_batch head_input_{1, 1};      // the final hidden state of one token, quantized
    // Run state of the tokens of one forward pass (llama2.c's RunState, one row per token).
    std::vector<float> x_;          // (n, dim) the residual stream
    std::vector<float> normed_;     // (n, dim) a normalized copy of x_
    std::vector<float> attention_;  // (n, dim) the heads' outputs, concatenated
    std::vector<float> projected_;  // (n, dim) a block's output before the residual add
    std::vector<float> query_;      // (n, dim)
    std::vector<float> gate_;       // (n, hidden_dim) act(Wgate n), then the gated product
    std::vector<float> up_;         // (n, hidden_dim)
    std::vector<float> logits_;     // (n, vocab_size)
    std::vector<float> rope_cos_;   // (n, head_dim / 2) RoPE's rotations at each position
    std::vector<float> rope_sin_;
    std::vector<float> keys_;       // (n, kv_dim) the new keys, before they join the cache
    std::vector<std::vector<float>> key_cache_;    // per layer (kv_dim, key_capacity_), after RoPE
    std::size_t key_capacity_ = 0;                 // positions the key cache has room for
    std::vector<std::vector<float>> value_cache_;  // per layer (positions so far, kv_dim)
};

/// The same model with its ternary layers in packing To (BitNet's base3 or two_bit, say): the
/// same trits, so the same logits bit for bit, since the products are exact in every packing.
/// Consumes the model; its float weights move over. Layers are repacked one at a time on the
/// thread pool, each freed once converted. An int8 head is not carried over: call
/// use_int8_head() on the result.
template <packing To, packing From>
transformer<ternary_linear<To>> repacked(transformer<ternary_linear<From>>&& model) {
    const model_config config = model.config();
    model_weights<ternary_linear<From>> from = std::move(model).release_weights();
    model_weights<ternary_linear<To>> to{std::move(from.token_embedding), {}, std::move(from.final_norm),
                                         std::move(from.output)};
    const auto convert = [](const ternary_linear<From>& linear) {
        return ternary_linear<To>(repack<To>(linear.weights()), linear.normalizes_input());
    };
    to.layers.reserve(from.layers.size());
    for (layer_weights<ternary_linear<From>>& l : from.layers) {
        to.layers.push_back({std::move(l.attn_norm), convert(l.wq), convert(l.wk), convert(l.wv),
                             std::move(l.attn_sub_norm), convert(l.wo), std::move(l.ffn_norm), convert(l.w_gate),
                             convert(l.w_up), std::move(l.ffn_sub_norm), convert(l.w_down)});
        l = {};
    }
    return transformer<ternary_linear<To>>(config, std::move(to));
}

}  // namespace ternary::inline TERNARY_ABI::bitnet
