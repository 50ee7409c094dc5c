#pragma once
// The AVX-VNNI policy (Alder Lake, Zen 5 and other CPUs with VEX-encoded VNNI): vpdpbusd on
// 32-byte vectors, for CPUs without AVX-512.

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

TERNARY_TARGET_BEGIN("avx2,avxvnni")
namespace ternary::inline TERNARY_ABI::simd::avxvnni_kernel {

struct ops : ymm::common_ops {
    static constexpr std::size_t gemv_rows = 4, gemm_rows = 2, gemm_tokens = 2;
    static acc dot(acc a, vec codes, vec activations) { return _mm256_dpbusd_avx_epi32(a, codes, activations); }
};

#include "detail/dot_kernel.inl"

}  // namespace ternary::inline TERNARY_ABI::simd::avxvnni_kernel
TERNARY_TARGET_END

namespace ternary::inline TERNARY_ABI::simd {

struct avxvnni : detail::simd_policy<avxvnni_kernel::entry> {
    static constexpr std::string_view name = "avxvnni";
    static bool available() noexcept { return cpu().avx2 && cpu().avxvnni; }
};

}  // namespace ternary::inline TERNARY_ABI::simd
#endif
