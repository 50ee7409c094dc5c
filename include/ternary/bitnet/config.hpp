#pragma once
// The shape of a BitNet b1.58 / Llama transformer and the variant it uses (formats.md 1-2, 5).

#include <cstddef>

#include "../config.hpp"
#include "../error.hpp"

namespace ternary::inline TERNARY_ABI::bitnet {

/// How RoPE pairs the dimensions of a head.
enum class rope_style {
    interleaved,  // (2i, 2i+1): llama2.c, bitllama2.c
    half_split,   // (i, i + head_dim/2): HF rotate_half, GPT-NeoX, BitNet 2B4T
};

/// The gate of the feed-forward block: u = act(W_gate x) * (W_up x).
enum class ffn_activation {
    silu,          // SwiGLU: LLaMA and the BitNet b1.58 paper
    relu_squared,  // relu(z)^2: BitNet b1.58 2B4T
};

struct model_config {
    std::size_t dim = 0;         // width of the residual stream (hidden_size)
    std::size_t hidden_dim = 0;  // width of the feed-forward block (intermediate_size)
    std::size_t n_layers = 0;
    std::size_t n_heads = 0;     // query heads
    std::size_t n_kv_heads = 0;  // key/value heads; query head h reads kv head h / (n_heads / n_kv_heads)
    std::size_t vocab_size = 0;
    std::size_t seq_len = 0;     // longest context (positions 0 .. seq_len-1)
    float norm_eps = 1e-5f;      // RMSNorm epsilon, inside the square root
    float rope_theta = 10000.0f;
    rope_style rope = rope_style::interleaved;
    ffn_activation activation = ffn_activation::silu;
    bool sub_norms = false;         // 2B4T: RMSNorm before o_proj and before down_proj
    bool linear_self_norm = false;  // bitllama2.c: no learned per-layer norms; each BitLinear
                                    // normalizes its own input (formats.md 5.4)

    std::size_t head_dim() const { return dim / n_heads; }
    std::size_t kv_dim() const { return n_kv_heads * head_dim(); }

    /// Throws format_error unless every size is positive and the heads divide evenly.
    void validate() const {
        if (dim == 0 || hidden_dim == 0 || n_layers == 0 || n_heads == 0 || n_kv_heads == 0 || vocab_size == 0 ||
            seq_len == 0) {
            ternary::detail::fail<format_error>("model_config", "a size is zero (dim ", dim, ", hidden ", hidden_dim, ", layers ",
                                       n_layers, ", heads ", n_heads, "/", n_kv_heads, ", vocab ", vocab_size,
                                       ", seq_len ", seq_len, ")");
        }
        if (dim % n_heads != 0 || n_heads % n_kv_heads != 0 || head_dim() % 2 != 0) {
            ternary::detail::fail<format_error>("model_config", dim, " dims, ", n_heads, " heads and ", n_kv_heads,
                                       " kv heads do not divide into even-sized heads");
        }
    }
};

}  // namespace ternary::inline TERNARY_ABI::bitnet
