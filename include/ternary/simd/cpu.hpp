#pragma once
// What the CPU running this program can execute, detected once.

#include "../config.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace ternary::inline TERNARY_ABI::simd {

struct cpu_features {
    bool avx2 = false;
    bool fma = false;
    bool f16c = false;
    bool avx512f = false;
    bool avx512bw = false;
    bool avx512vl = false;
    bool avx512vnni = false;
    bool avx512vbmi = false;
    bool avxvnni = false;
    bool neon = false;
    bool dotprod = false;
};

namespace detail {

#if defined(__x86_64__) || defined(__i386__)
inline cpu_features detect_cpu() {
    cpu_features f;
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
    const bool osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1;
    if (!osxsave || !avx) return f;
    const bool fma = (ecx >> 12) & 1, f16c = (ecx >> 29) & 1;
    // Which register state the OS saves on context switches (XCR0): without it, the
    // instructions exist but must not be used.
    unsigned xcr0_lo = 0, xcr0_hi = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    const bool ymm_state = (xcr0_lo & 0x6) == 0x6;
    const bool zmm_state = (xcr0_lo & 0xE6) == 0xE6;
    if (!ymm_state) return f;
    f.fma = fma;
    f.f16c = f16c;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return f;
    f.avx2 = (ebx >> 5) & 1;
    f.avx512f = zmm_state && ((ebx >> 16) & 1);
    f.avx512bw = zmm_state && ((ebx >> 30) & 1);
    f.avx512vl = zmm_state && ((ebx >> 31) & 1);
    f.avx512vnni = zmm_state && ((ecx >> 11) & 1);
    f.avx512vbmi = zmm_state && ((ecx >> 1) & 1);
    if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) f.avxvnni = (eax >> 4) & 1;
    return f;
}
#elif defined(__aarch64__)
inline cpu_features detect_cpu() {
    cpu_features f;
    f.neon = true;  // Advanced SIMD is mandatory on AArch64
#if defined(__linux__)
    constexpr unsigned long hwcap_asimddp = 1ul << 20;  // HWCAP_ASIMDDP, <asm/hwcap.h>
    f.dotprod = (getauxval(AT_HWCAP) & hwcap_asimddp) != 0;
#endif
    return f;
}
#else
inline cpu_features detect_cpu() { return {}; }
#endif

}  // namespace detail

/// The features of this CPU (detected on first call).
inline const cpu_features& cpu() {
    static const cpu_features features = detail::detect_cpu();
    return features;
}

}  // namespace ternary::inline TERNARY_ABI::simd
