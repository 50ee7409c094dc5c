#pragma once
// The buffers a forward pass works in (llama2.c's RunState, one row per token of the batch):
// held by whoever runs the model, apart from its weights and from any sequence's KV cache, so
// that one model serves many callers. They only grow; a workspace serves one forward pass at
// a time.

#include <cstddef>
#include <vector>

#include "../activations.hpp"
#include "../config.hpp"
#include "linear.hpp"

namespace ternary::inline TERNARY_ABI::bitnet {

class sequence;

class workspace {
public:
    workspace() = default;

private:
    template <class Linear>
    friend class transformer;

    /// One token of the batch: which sequence it extends, at which position, and where its
    /// logits go (none: nullptr).
    struct token_row {
        sequence* seq;
        std::size_t token;
        std::size_t position;
        float* logits;
    };

    std::vector<token_row> rows;
    std::vector<float> x;          // (n, dim) the residual stream
    std::vector<float> normed;     // (n, dim) a normalized copy of x
    std::vector<float> query;      // (n, dim)
    std::vector<float> keys;       // (n, kv_dim) the new keys, before they join their caches
    std::vector<float> values;     // (n, kv_dim) the new values, likewise
    std::vector<float> attention;  // (n, dim) the heads' outputs, concatenated
    std::vector<float> projected;  // (n, dim) a block's output before the residual add
    std::vector<float> gate;       // (n, hidden_dim) act(Wgate n), then the gated product
    std::vector<float> up;         // (n, hidden_dim)
    std::vector<float> rope_cos;   // (n, head_dim / 2) RoPE's rotations at each token's position
    std::vector<float> rope_sin;
    std::vector<float> scores;     // (n_heads, positions) one token's attention scores
    std::vector<float> last;       // (tokens with logits, dim) the head's input
    std::vector<float> logits;     // (tokens with logits, vocab_size)
    linear_scratch linear;         // a linear's quantized input
    activation_batch head_input{1, 1};  // the final hidden states, quantized (int8 head)
};

}  // namespace ternary::inline TERNARY_ABI::bitnet
