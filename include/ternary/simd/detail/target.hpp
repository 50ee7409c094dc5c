#pragma once
// Target regions: every function defined between TERNARY_TARGET_BEGIN("isa,...") and
// TERNARY_TARGET_END is compiled for those instruction sets (as with
// __attribute__((target(...)))), whatever flags the translation unit was built with. Kernels
// for several instruction sets thus live in one header and are chosen at run time; each
// region's code sits in its own namespace, so no inline symbol is shared between regions.

#define TERNARY_PRAGMA(x) _Pragma(#x)

#if defined(__clang__)
#define TERNARY_TARGET_BEGIN(isa) TERNARY_PRAGMA(clang attribute push(__attribute__((target(isa))), apply_to = function))
#define TERNARY_TARGET_END TERNARY_PRAGMA(clang attribute pop)
#elif defined(__GNUC__)
#define TERNARY_TARGET_BEGIN(isa) TERNARY_PRAGMA(GCC push_options) TERNARY_PRAGMA(GCC target(isa))
#define TERNARY_TARGET_END TERNARY_PRAGMA(GCC pop_options)
#else
#error "ternary's SIMD kernels need GCC or Clang (target attributes)"
#endif

#if defined(__GNUC__)
#define TERNARY_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define TERNARY_ALWAYS_INLINE inline
#endif

/// Asks for full unrolling of the next loop (small constant trip counts in the kernels), so
/// that arrays of vector registers stay in registers.
#define TERNARY_UNROLL TERNARY_PRAGMA(GCC unroll 16)
