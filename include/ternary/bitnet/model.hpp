#pragma once
// A BitNet b1.58 / Llama transformer, generic over its linear layers (float_linear or
// ternary_linear): pre-norm residual blocks, grouped-query attention with RoPE and a KV cache,
// a gated feed-forward block, optional 2B4T sub-norms, no biases. The weights are read-only;
// each sequence's KV cache is a bitnet::sequence (sequence.hpp) and a forward pass's buffers a
// workspace (workspace.hpp). A forward pass takes new tokens of one sequence (a prompt, or one
// token when decoding) or of several at once: the linears then see a batch of tokens and the
// ternary ones run as GEMMs.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
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
#include "sequence.hpp"
#include "workspace.hpp"

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

/// One sequence's part of a batched forward pass: its new tokens, fed at positions
/// seq.position(), seq.position() + 1, ... (the sequence advances past them).
struct sequence_step {
    sequence& seq;
    std::span<const std::size_t> tokens;
    bool all_logits = false;  // the logits after every token, not only after the last
};

/// The model: its configuration and weights, read-only once set up (the head's format chosen),
/// so one copy serves any number of sequences and threads. A forward pass runs the new tokens
/// of one sequence or of several together: each linear runs once over all of them as a GEMM,
/// and each token attends to its own sequence's cache.
template <class Linear>
class transformer {
public:
    transformer(model_config config, model_weights<Linear> weights)
        : config_(validated(config)), weights_(std::move(weights)), own_sequence_(config_) {
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
    /// tied embedding is still read a row per token). Part of setting the model up: not while
    /// another thread runs it.
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
    /// quantized to int8 (quant/block_dot.hpp). Part of setting the model up, like use_int8_head.
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

    /// A new, empty sequence for this model, its cache growing within `budget` (if given).
    sequence new_sequence(std::shared_ptr<kv_budget> budget = nullptr) const { return sequence(config_, std::move(budget)); }

    /// Runs the steps' tokens in one batch and returns their logits, row after row in the
    /// steps' order: each step gives one row (after its last token) or, with all_logits, one
    /// per token; a row is vocab_size floats. Valid until `work` is used again. Each sequence
    /// may appear once. A sequence's logits are bit for bit the same whatever else runs in the
    /// batch: per token, activations are quantized alone and the integer products are exact.
    /// Checks every step before it runs anything (value_error for an empty step, a token out of
    /// the vocabulary, a sequence made for another model or listed twice, positions past the
    /// context; capacity_error when a cache cannot grow within its budget).
    std::span<const float> forward(std::span<const sequence_step> steps, workspace& work) const {
        const model_config& c = config_;
        if (steps.empty()) ternary::detail::fail<value_error>("forward", "no sequences");
        std::size_t tokens = 0, logit_rows = 0;
        for (std::size_t i = 0; i < steps.size(); ++i) {
            const sequence_step& step = steps[i];
            const std::size_t pos = step.seq.position(), n = step.tokens.size();
            if (n == 0) ternary::detail::fail<value_error>("forward", "sequence ", i, " of the batch has no tokens");
            if (!step.seq.fits(c)) ternary::detail::fail<value_error>("forward", "sequence ", i, " was made for another model");
            for (std::size_t j = 0; j < i; ++j) {
                if (&steps[j].seq == &step.seq) ternary::detail::fail<value_error>("forward", "a sequence is listed twice in the batch");
            }
            if (n > c.seq_len - pos) {
                ternary::detail::fail<value_error>("forward", "positions ", pos, "..", pos + n - 1, " exceed the context of ",
                                                   c.seq_len);
            }
            for (std::size_t token : step.tokens) {
                if (token >= c.vocab_size) ternary::detail::fail<value_error>("forward", "token ", token, " >= vocab size ", c.vocab_size);
            }
            tokens += n;
            logit_rows += step.all_logits ? n : 1;
        }
        for (const sequence_step& step : steps) step.seq.reserve(step.seq.position() + step.tokens.size());

        // Every token of the batch, in order, with the place its logits go.
        if (work.logits.size() < logit_rows * c.vocab_size) work.logits.resize(logit_rows * c.vocab_size);
        work.rows.clear();
        float* logits = work.logits.data();
        for (const sequence_step& step : steps) {
            for (std::size_t t = 0; t < step.tokens.size(); ++t) {
                const bool wanted = step.all_logits || t + 1 == step.tokens.size();
                work.rows.push_back({&step.seq, step.tokens[t], step.seq.position() + t, wanted ? logits : nullptr});
                if (wanted) logits += c.vocab_size;
            }
        }
        // Long batches run in slices of batch_slice tokens, each against the caches the earlier
        // ones filled: every token's result is the same whatever the slicing, and the GEMMs keep
        // the batch they run best.
        for (std::size_t start = 0; start < tokens; start += batch_slice) {
            forward_rows(std::span(work.rows).subspan(start, std::min(batch_slice, tokens - start)), work);
        }
        for (const sequence_step& step : steps) step.seq.advance_to(step.seq.position() + step.tokens.size());
        return {work.logits.data(), logit_rows * c.vocab_size};
    }

    /// Runs one sequence's new tokens: the logits after the last one, or with all_logits those
    /// after each (tokens x vocab_size, row-major).
    std::span<const float> forward(sequence& seq, std::span<const std::size_t> tokens, workspace& work,
                                   bool all_logits = false) const {
        const sequence_step step{seq, tokens, all_logits};
        return forward(std::span(&step, 1), work);
    }

    /// For programs that run one sequence: the model's own sequence and workspace. Runs tokens
    /// at positions pos, pos + 1, ... and returns the logits after the last one, or with
    /// all_logits those after each. The sequence holds the positions before pos (a smaller pos
    /// forgets the later ones: regenerating from there); value_error if pos is past them.
    std::span<const float> forward(std::span<const std::size_t> tokens, std::size_t pos, bool all_logits = false) {
        if (pos > own_sequence_.position()) {
            ternary::detail::fail<value_error>("forward", "position ", pos, " follows a gap: the sequence holds positions 0..",
                                               own_sequence_.position(), " exclusive");
        }
        own_sequence_.rewind(pos);
        return forward(own_sequence_, tokens, own_work_, all_logits);
    }
    /// Runs token at position pos and returns the logits of the next token.
    std::span<const float> forward(std::size_t token, std::size_t pos) { return forward(std::span(&token, 1), pos); }

    /// Batches longer than this run in slices of this many tokens: the ternary GEMMs run
    /// fastest on batches of about 64 tokens (their prepared activations then stay in L2).
    static constexpr std::size_t batch_slice = 64;
    static constexpr std::size_t prefill_slice = batch_slice;

private:
    /// The forward pass of one slice of the batch's tokens (already checked, their caches
    /// sized): each token's logits, where it wants them.
    void forward_rows(std::span<const workspace::token_row> tokens, workspace& work) const {
        const model_config& c = config_;
        const std::size_t n = tokens.size();
        reserve(work, n);
        const auto x = rows(work.x, n, c.dim), normed = rows(work.normed, n, c.dim);
        for (std::size_t t = 0; t < n; ++t) weights_.token_embedding.row(tokens[t].token, row(x, t));
        // RoPE's rotations of each position, shared by all heads and layers.
        const std::size_t half = c.head_dim() / 2;
        const auto cos = rows(work.rope_cos, n, half), sin = rows(work.rope_sin, n, half);
        for (std::size_t t = 0; t < n; ++t) rope_rotations(row(cos, t), row(sin, t), c.head_dim(), tokens[t].position, c.rope_theta);

        for (std::size_t l = 0; l < c.n_layers; ++l) {
            const layer_weights<Linear>& w = weights_.layers[l];
            const auto keys = rows(work.keys, n, c.kv_dim()), values = rows(work.values, n, c.kv_dim());
            const auto query = rows(work.query, n, c.dim), attention = rows(work.attention, n, c.dim),
                       projected = rows(work.projected, n, c.dim);

            // Attention: h = x + Wo [SubNorm] Attention(RoPE(Wq n), RoPE(Wk n), Wv n), n = Norm(x)
            const matrix_view<const float> n1 = normed_input(x, normed, w.attn_norm);
            forward_shared(n1, work.linear, shared_output<Linear>{w.wq, query}, shared_output<Linear>{w.wk, keys},
                           shared_output<Linear>{w.wv, values});
            for_tokens(n, c.dim, [&](std::size_t t) {
                rope(row(query, t), c.head_dim(), row(cos, t), row(sin, t), c.rope);
                rope(row(keys, t), c.head_dim(), row(cos, t), row(sin, t), c.rope);
            });
            store_keys_and_values(l, tokens, keys, values);
            attend(l, tokens, query, attention, work);
            if (c.sub_norms) {
                for_tokens(n, c.dim, [&](std::size_t t) { rms_norm(row(attention, t), row(attention, t), w.attn_sub_norm, c.norm_eps); });
            }
            w.wo.forward(projected, attention, work.linear);
            add(x, projected);

            // Feed-forward: x = h + Wdown [SubNorm](act(Wgate n) * (Wup n)), n = Norm(h)
            const auto gate = rows(work.gate, n, c.hidden_dim), up = rows(work.up, n, c.hidden_dim);
            const matrix_view<const float> n2 = normed_input(x, normed, w.ffn_norm);
            forward_shared(n2, work.linear, shared_output<Linear>{w.w_gate, gate}, shared_output<Linear>{w.w_up, up});
            for_tokens(n, c.hidden_dim, [&](std::size_t t) {
                const std::span<float> g = row(gate, t), u = row(up, t);
                gate_times_up(g, u, c.activation);
                if (c.sub_norms) rms_norm(g, g, w.ffn_sub_norm, c.norm_eps);
            });
            w.w_down.forward(projected, gate, work.linear);
            add(x, projected);
        }
        head_logits(tokens, x, work);
    }

    /// The head: logits = E Norm(x), E the output matrix or the tied token embedding, for the
    /// tokens that want logits.
    void head_logits(std::span<const workspace::token_row> tokens, matrix_view<float> x, workspace& work) const {
        const model_config& c = config_;
        std::size_t count = 0;
        for (const workspace::token_row& r : tokens) count += r.logits != nullptr;
        if (count == 0) return;
        if (work.last.size() < count * c.dim) work.last.resize(count * c.dim);
        const auto last = rows(work.last, count, c.dim);
        // The tokens that want logits have consecutive rows of logits, in the batch's order.
        float* const destination = std::find_if(tokens.begin(), tokens.end(), [](const auto& r) { return r.logits; })->logits;
        for (std::size_t t = 0, i = 0; t < tokens.size(); ++t) {
            if (tokens[t].logits != nullptr) std::copy_n(&x(t, 0), c.dim, &last(i++, 0));
        }
        for_tokens(count, c.dim, [&](std::size_t t) { rms_norm(row(last, t), row(last, t), weights_.final_norm, c.norm_eps); });
        const auto logits = rows(destination, count, c.vocab_size);
        if (int8_head_) {
            // One pass over the int8 head for all the tokens (each quantized alone).
            if (work.head_input.tokens() != count || work.head_input.cols() != c.dim) work.head_input = activation_batch(count, c.dim);
            quantize_into(work.head_input, last);
            if (count == 1) {
                gemv(row(logits, 0), *int8_head_, work.head_input.view());
            } else {
                gemm(logits, *int8_head_, work.head_input.view());
            }
        } else {
            head().multiply(logits, last);
        }
    }

    static const model_config& validated(const model_config& c) {
        c.validate();
        return c;
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

    /// Sizes the workspace for a slice of n tokens.
    void reserve(workspace& work, std::size_t n) const {
        const model_config& c = config_;
        for (auto* v : {&work.x, &work.normed, &work.query, &work.attention, &work.projected}) {
            if (v->size() < n * c.dim) v->resize(n * c.dim);
        }
        for (auto* v : {&work.gate, &work.up}) {
            if (v->size() < n * c.hidden_dim) v->resize(n * c.hidden_dim);
        }
        for (auto* v : {&work.rope_cos, &work.rope_sin}) {
            if (v->size() < n * c.head_dim() / 2) v->resize(n * c.head_dim() / 2);
        }
        for (auto* v : {&work.keys, &work.values}) {
            if (v->size() < n * c.kv_dim()) v->resize(n * c.kv_dim());
        }
    }

    static matrix_view<float> rows(float* data, std::size_t n, std::size_t cols) {
        return matrix_view<float>::row_major(data, n, cols);
    }
    static matrix_view<float> rows(std::vector<float>& v, std::size_t n, std::size_t cols) { return rows(v.data(), n, cols); }
    static std::span<float> row(matrix_view<float> m, std::size_t t) { return {&m(t, 0), m.cols()}; }

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
                                          const std::vector<float>& norm_weight) const {
        if (config_.linear_self_norm) return x;
        for_tokens(x.rows(), x.cols(), [&](std::size_t t) { rms_norm(row(normed, t), row(x, t), norm_weight, config_.norm_eps); });
        return normed;
    }

    /// Each token's new key (after RoPE) and value into its sequence's cache at its position.
    static void store_keys_and_values(std::size_t layer, std::span<const workspace::token_row> tokens,
                                      matrix_view<float> keys, matrix_view<float> values) {
        for (std::size_t t = 0; t < tokens.size(); ++t) {
            sequence& seq = *tokens[t].seq;
            const std::size_t pos = tokens[t].position, block = sequence::key_block;
            float* key_cache = seq.keys(layer, pos / block) + pos % block;
            for (std::size_t d = 0; d < keys.cols(); ++d) key_cache[d * block] = keys(t, d);
            std::copy_n(&values(t, 0), values.cols(), seq.values(layer) + pos * values.cols());
        }
    }

    /// Causal attention of each token's query against its own sequence's cache (positions
    /// 0 .. its position) into `attention`. Scores q.k / sqrt(head_dim), softmax; query head h
    /// reads kv head h / (n_heads / n_kv_heads). The query heads that share a kv head go
    /// together, up to four at a time, so each cached key and value is loaded once for all of
    /// them; the tasks (token, kv head) go to the thread pool.
    void attend(std::size_t layer, std::span<const workspace::token_row> tokens, matrix_view<float> query,
                matrix_view<float> attention, workspace& work) const {
        const model_config& c = config_;
        const std::size_t head_dim = c.head_dim(), group = c.n_heads / c.n_kv_heads, kv_dim = c.kv_dim();
        const detail::attention_kernels& kernels = detail::attention_kernels::best();
        // Threads pay off once the heads read enough cached positions.
        std::size_t positions = 0;
        for (const workspace::token_row& r : tokens) positions += r.position + 1;
        const bool parallel = c.n_heads * positions * head_dim >= (std::size_t{1} << 16) && default_pool().size() > 1;
        if (parallel && tokens.size() == 1 && c.n_kv_heads < 4 * default_pool().size()) {
            attend_one_token(layer, tokens[0], query, attention, work);
            return;
        }
        const auto heads_of = [&](std::size_t t, std::size_t kv) {
            const sequence& seq = *tokens[t].seq;
            const std::size_t seen = tokens[t].position + 1;  // causal: positions 0 .. its own
            const std::size_t first = kv * group;
            float* scores = per_thread_scratch<float>(group * seen);
            for (std::size_t b = 0; b * sequence::key_block < seen; ++b) {
                block_scores(layer, seq, &query(t, first * head_dim), kv, b, seen, scores);
            }
            for (std::size_t g = 0; g < group; ++g) softmax(std::span(scores + g * seen, seen));
            kernels.values(scores, seen, group, seq.values(layer) + kv * head_dim, kv_dim, head_dim, seen,
                           &attention(t, first * head_dim), head_dim);
        };
        const std::size_t tasks = tokens.size() * c.n_kv_heads;
        default_pool().run_ranges(tasks, parallel ? 1 : tasks, [&](std::size_t begin, std::size_t end) {
            for (std::size_t task = begin; task < end; ++task) heads_of(task / c.n_kv_heads, task % c.n_kv_heads);
        });
    }

    /// The scores of the query heads of kv head `kv` (q, head_dim apart) against the keys of
    /// block b of seq's cache, positions below `seen`: into scores + b * key_block, one row of
    /// `seen` per query head.
    void block_scores(std::size_t layer, const sequence& seq, const float* q, std::size_t kv, std::size_t b, std::size_t seen,
                      float* scores) const {
        const model_config& c = config_;
        const std::size_t head_dim = c.head_dim(), block = sequence::key_block;
        detail::attention_kernels::best().scores(q, head_dim, c.n_heads / c.n_kv_heads, seq.keys(layer, b) + kv * head_dim * block,
                                                 block, head_dim, std::min(block, seen - b * block),
                                                 std::sqrt(static_cast<float>(head_dim)), scores + b * block, seen);
    }

    /// The same for a single token (a decode step of one sequence), whose few kv heads would
    /// leave threads idle: the scores go in tasks of (kv head, 4 blocks of keys), the softmax in
    /// tasks of a head, the weighted values in tasks of (kv head, 64 dimensions). Each score and
    /// each output is still one sum in the same order (the same bits), and each key and value
    /// is still read once for all the query heads of its group.
    void attend_one_token(std::size_t layer, const workspace::token_row& token, matrix_view<float> query,
                          matrix_view<float> attention, workspace& work) const {
        const model_config& c = config_;
        const std::size_t head_dim = c.head_dim(), group = c.n_heads / c.n_kv_heads, kv_dim = c.kv_dim();
        const detail::attention_kernels& kernels = detail::attention_kernels::best();
        const sequence& seq = *token.seq;
        const std::size_t seen = token.position + 1;
        if (work.scores.size() < c.n_heads * seen) work.scores.resize(c.n_heads * seen);
        float* const scores = work.scores.data();  // head h's row at h * seen
        constexpr std::size_t block = sequence::key_block, dimension_chunk = 64;
        const std::size_t blocks = (seen + block - 1) / block;
        default_pool().run_ranges(c.n_kv_heads * blocks, 4, [&](std::size_t begin, std::size_t end) {
            for (std::size_t task = begin; task < end; ++task) {
                const std::size_t kv = task / blocks, b = task % blocks;
                block_scores(layer, seq, &query(0, kv * group * head_dim), kv, b, seen, scores + kv * group * seen);
            }
        });
        default_pool().run(c.n_heads, [&](std::size_t h) { softmax(std::span(scores + h * seen, seen)); });
        const std::size_t dimension_chunks = (head_dim + dimension_chunk - 1) / dimension_chunk;
        default_pool().run(c.n_kv_heads * dimension_chunks, [&](std::size_t task) {
            const std::size_t kv = task / dimension_chunks, i0 = task % dimension_chunks * dimension_chunk;
            kernels.values(scores + kv * group * seen, seen, group, seq.values(layer) + kv * head_dim + i0, kv_dim,
                           std::min(dimension_chunk, head_dim - i0), seen, &attention(0, kv * group * head_dim + i0), head_dim);
        });
    }

    model_config config_;
    model_weights<Linear> weights_;
    std::optional<int8_matrix> int8_head_;        // use_int8_head()
    std::optional<float_matrix> converted_head_;  // use_head_format()
    // The sequence and workspace of forward(tokens, pos), for programs that run one sequence.
    sequence own_sequence_;
    workspace own_work_;
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
