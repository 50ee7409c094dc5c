#pragma once
// The inline namespace that carries the library's ABI.
//
// Header code compiles differently under different baseline flags (-mavx2, -march=native):
// if two translation units of one program were built with different flags, the linker would
// keep one arbitrary copy of each inline function, possibly one that uses instructions the CPU
// lacks (peers.md, "ODR/inline hazard"). So the inline namespace is named after the baseline
// instruction set the compiler targets: such translation units then share no inline symbols.
// The SIMD kernels themselves never depend on these flags: each is compiled for its own
// instruction set with __attribute__((target)) and chosen at run time.

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
#define TERNARY_ABI v0_avx512vnni
#elif defined(__AVX512BW__)
#define TERNARY_ABI v0_avx512bw
#elif defined(__AVX512F__)
#define TERNARY_ABI v0_avx512f
#elif defined(__AVXVNNI__)
#define TERNARY_ABI v0_avxvnni
#elif defined(__AVX2__)
#define TERNARY_ABI v0_avx2
#elif defined(__AVX__)
#define TERNARY_ABI v0_avx
#elif defined(__ARM_FEATURE_DOTPROD)
#define TERNARY_ABI v0_dotprod
#else
#define TERNARY_ABI v0
#endif
