#pragma once
// The int8 multiply-add instruction alone, timed: what bounds every int8 product on this core.

#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>

namespace bench {

/// Independent vpdpbusd chains, each advanced once per round of vnni_chains_seconds.
inline constexpr int vnni_chains = 12;

/// Seconds for `iterations` rounds of vnni_chains independent chains of 512-bit vpdpbusd (64
/// multiply-adds each) and nothing else: one vpdpbusd per cycle on Zen 4/5 (these VMs).
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline double vnni_chains_seconds(long iterations) {
    __m512i acc[vnni_chains];
    for (int i = 0; i < vnni_chains; ++i) acc[i] = _mm512_set1_epi32(i);
    __m512i a = _mm512_set1_epi8(3);
    const __m512i b = _mm512_set1_epi8(5);
    const auto start = std::chrono::steady_clock::now();
    for (long n = 0; n < iterations; ++n) {
#pragma GCC unroll 12
        for (int i = 0; i < vnni_chains; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
        __asm__ volatile("" : "+v"(a));  // a new operand each time: nothing is hoisted
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (int i = 0; i < vnni_chains; ++i) __asm__ volatile("" : : "v"(acc[i]));
    return seconds;
}

}  // namespace bench
#endif
