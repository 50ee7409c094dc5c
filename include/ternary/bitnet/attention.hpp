#pragma once
// The inner loops of attention for the query heads of one token that share a kv head: their
// scores against every cached key, and the values weighted by their softmax (each key and value
// vector loaded once for up to four query heads). Plain vector code, compiled twice: for the
// baseline (4 floats a vector: SSE2, NEON) and, on x86, for AVX-512 (16 floats), chosen at run
// time. Both give the same bits (attention_kernel.inl says why).

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>

#include "../config.hpp"
#include "../simd/cpu.hpp"
#include "../simd/detail/target.hpp"

#if defined(__clang__)
#define TERNARY_NO_CONTRACT TERNARY_PRAGMA(clang fp contract(off))
#else
#define TERNARY_NO_CONTRACT
#endif

#if !defined(__clang__) && defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

namespace ternary::inline TERNARY_ABI::bitnet::detail {

namespace attention_baseline {
inline constexpr std::size_t lane_count = 4;
#include "detail/attention_kernel.inl"
}  // namespace attention_baseline

}  // namespace ternary::inline TERNARY_ABI::bitnet::detail

#if defined(__x86_64__) || defined(__i386__)
TERNARY_TARGET_BEGIN("avx512f")
namespace ternary::inline TERNARY_ABI::bitnet::detail::attention_avx512 {
inline constexpr std::size_t lane_count = 16;
#include "detail/attention_kernel.inl"
}  // namespace ternary::inline TERNARY_ABI::bitnet::detail::attention_avx512
TERNARY_TARGET_END
#endif

#if !defined(__clang__) && defined(__GNUC__)
#pragma GCC pop_options
#endif

namespace ternary::inline TERNARY_ABI::bitnet::detail {

/// The loops for this CPU.
struct attention_kernels {
    // head_scores(q, q_stride, queries, keys, key_stride, head_dim, count, scale, scores, scores_stride)
    void (*scores)(const float*, std::size_t, std::size_t, const float*, std::size_t, std::size_t, std::size_t, float,
                   float*, std::size_t);
    // weighted_values(weights, weights_stride, queries, values, stride, head_dim, count, out, out_stride)
    void (*values)(const float*, std::size_t, std::size_t, const float*, std::size_t, std::size_t, std::size_t, float*,
                   std::size_t);

    static const attention_kernels& best() {
        static const attention_kernels chosen = [] {
#if defined(__x86_64__) || defined(__i386__)
            if (simd::cpu().avx512f) return attention_kernels{attention_avx512::head_scores, attention_avx512::weighted_values};
#endif
            return attention_kernels{attention_baseline::head_scores, attention_baseline::weighted_values};
        }();
        return chosen;
    }
};

}  // namespace ternary::inline TERNARY_ABI::bitnet::detail
