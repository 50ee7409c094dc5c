#pragma once
// The AVX2 policy (Haswell, Zen 1 and later): vpmaddubsw multiplies unsigned codes by int8
// activations into int16 pair sums (|pair| <= 2 * 8 * 128 = 2048, never saturating), which
// vpmaddwd widens to int32 at once. No int16 accumulation window, so no overflow.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../config.hpp"
#include "../pack/packing.hpp"
#include "cpu.hpp"
#include "detail/simd_policy.hpp"
#include "detail/target.hpp"
#include "detail/x86_ymm.hpp"

#if defined(__x86_64__) || defined(__i386__)

TERNARY_TARGET_BEGIN("avx2")
namespace ternary::inline TERNARY_ABI::simd::avx2_kernel {

struct ops : ymm::common_ops {
    // 16 ymm registers: small tiles.
    static constexpr std::size_t gemv_rows = 2, gemm_rows = 2, gemm_tokens = 2;
    static acc dot(acc a, vec codes, vec activations) {
        const __m256i pairs = _mm256_maddubs_epi16(codes, activations);
        return _mm256_add_epi32(a, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
    }
};

#include "detail/dot_kernel.inl"

}  // namespace ternary::inline TERNARY_ABI::simd::avx2_kernel
TERNARY_TARGET_END

namespace ternary::inline TERNARY_ABI::simd {

struct avx2 : detail::simd_policy<avx2_kernel::entry> {
    static constexpr std::string_view name = "avx2";
    static bool available() noexcept { return cpu().avx2; }
};

}  // namespace ternary::inline TERNARY_ABI::simd
#endif
