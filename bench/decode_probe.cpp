// ternary-decode-probe: what decoding packed weights costs next to the int8 multiply-adds, on this
// core, in one run. Issue 14 asked for a base3 kernel within 1.3x of the two_bit one per weight;
// this measures how close each decode design can come, so that the choice is made by numbers on
// the machine at hand (the answer differs between Zen 5 parts with 256-bit and 512-bit datapaths).
//
// Every case is one GEMV over weights resident in L2 (256 rows x 2560 columns), in the
// library's inner-loop shape: 64 packed bytes of each of 2 rows against one token's
// activation planes, one vpdpbusd per code vector. Two kinds of case:
//   kernel  the library's kernels (two_bit; base3 by arithmetic, avx512vnni; base3 by lookup,
//           avx512vbmi; base3_window, avx512vbmi: two 64-entry lookups on bits 0-5 and 2-7 of
//           the byte, XORed), results checked against a scalar reference;
//   probe   a decode design's instructions only (the codes it yields are not the right ones, the
//           result is thrown away): its time is what that design would cost at best;
//   mix     the two_bit and base3_window kernels' instructions on registers only (no memory, no
//           loop around them but a counter): the fastest this core issues them. Their ratio per
//           weight (the last line, "floor") is the best any loop of those instructions can do.
// Prints one JSON object per case: cycles per 64 packed bytes and per 64 weights, in cycles of
// one vpdpbusd (twelve independent chains of it are timed first: one per cycle on Zen 4/5), and
// weights_vs_two_bit, the time per weight over the two_bit kernel's.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include <ternary/ternary.hpp>

#include "vnni_chains.hpp"

#if defined(__x86_64__)
#include <immintrin.h>

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::size_t rows = 256, cols = 2560;  // whole vectors in both packings

/// Nanoseconds per vpdpbusd when twelve independent chains of it run (one per cycle on Zen 4/5).
double vnni_cycle_ns() {
    constexpr long iterations = 10'000'000;
    return bench::vnni_chains_seconds(iterations) * 1e9 / (bench::vnni_chains * static_cast<double>(iterations));
}

/// Best over trials of the time per call, each trial repeating f for >= 20 ms.
template <class F>
double best_ns(F&& f) {
    f();
    double best = 1e300;
    for (int trial = 0; trial < 7; ++trial) {
        const auto start = clock_type::now();
        int calls = 0;
        double elapsed = 0.0;
        do {
            f();
            ++calls;
            elapsed = std::chrono::duration<double, std::nano>(clock_type::now() - start).count();
        } while (elapsed < 2e7);
        best = std::min(best, elapsed / calls);
    }
    return best;
}

struct setup {
    std::vector<std::int8_t> trits;
    ternary::quantized_vector x;
    std::vector<std::int32_t> code_dots;  // sum_j (trit + 1) * q_j per row: what the kernels return
};

setup make_setup() {
    std::mt19937 rng(1);
    std::vector<std::int8_t> trits(rows * cols);
    for (auto& t : trits) t = static_cast<std::int8_t>(static_cast<int>(rng() % 3) - 1);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x_float(cols);
    for (float& v : x_float) v = normal(rng);
    ternary::quantized_vector x = ternary::quantize(std::span<const float>(x_float));
    std::vector<std::int32_t> dots(rows);
    for (std::size_t i = 0; i < rows; ++i) {
        std::int32_t sum = 0;
        for (std::size_t j = 0; j < cols; ++j) sum += (trits[i * cols + j] + 1) * x.values()[j];
        dots[i] = sum;
    }
    return {std::move(trits), std::move(x), std::move(dots)};
}

/// One token's activation planes (detail/interleave.hpp) for a packing of g weights per byte
/// (cols / g bytes a row: whole vectors, no padding, in every packing here).
ternary::aligned_buffer<std::int8_t> planes_of(const setup& s, std::size_t g) {
    ternary::aligned_buffer<std::int8_t> planes(ternary::simd::detail::planes_length(cols / g, g, 64));
    ternary::simd::detail::interleave_token(s.x.values().data(), cols, cols / g, g, 64, planes.data());
    return planes;
}

/// ns per call of a GEMV over all rows -> ns per 64 packed bytes of a row.
double per_vector(double ns, std::size_t row_bytes) { return ns / static_cast<double>(rows * (row_bytes / 64)); }

void report(const char* name, const char* kind, double ns_per_vector, std::size_t weights_per_byte, double cycle_ns,
            double two_bit_ns_per_weight, bool exact) {
    const double cycles = ns_per_vector / cycle_ns;
    const double ns_per_weight = ns_per_vector / (64.0 * static_cast<double>(weights_per_byte));
    std::printf("{\"case\":\"%s\",\"kind\":\"%s\",\"weights_per_byte\":%zu,\"cycles_per_64_bytes\":%.2f,"
                "\"cycles_per_64_weights\":%.3f,\"weights_vs_two_bit\":%.2f%s}\n",
                name, kind, weights_per_byte, cycles, cycles / static_cast<double>(weights_per_byte),
                two_bit_ns_per_weight > 0 ? ns_per_weight / two_bit_ns_per_weight : 1.0,
                kind[0] == 'k' ? (exact ? ",\"exact\":true" : ",\"exact\":false") : "");
    std::fflush(stdout);
}

/// A library kernel (Entry::run<P>) on the setup's matrix: ns per 64 packed bytes of a row, and
/// whether its results are the reference's.
template <class Packing, class Entry>
std::pair<double, bool> library_kernel(const setup& s) {
    constexpr std::size_t g = Packing::weights_per_byte;
    const auto w = ternary::ternary_matrix<Packing>::from_trits(s.trits, rows, cols, ternary::weight_scales::per_matrix(1.0f));
    const std::size_t row_bytes = Packing::row_bytes(cols);
    const auto planes = planes_of(s, g);
    std::vector<std::int32_t> out(rows);
    const auto run = [&] {
        Entry::template run<Packing>(w.bytes().data(), row_bytes, 0, rows, planes.data(), planes.size(), 1, out.data(), rows);
    };
    const double ns = best_ns(run);
    return {per_vector(ns, row_bytes), out == s.code_dots};
}

// The probes. Each decode turns a vector of 64 packed bytes into 5 code vectors (base3's count)
// with the instructions of one design; tables and masks are kept in registers as a kernel would.
TERNARY_TARGET_BEGIN("avx512f,avx512bw,avx512vnni,avx512vbmi")

struct probe_tables {
    __m512i t0, t1, t2, t3;
};

inline __m512i splat(std::uint8_t b) { return _mm512_set1_epi8(static_cast<char>(b)); }

/// Five ands split one vector of 2-bit fields into code vectors (as the lookup kernel does).
TERNARY_ALWAYS_INLINE void five_fields(__m512i a, __m512i b, __m512i (&code)[5]) {
    code[0] = _mm512_and_si512(a, splat(0x03));
    code[1] = _mm512_and_si512(a, splat(0x0C));
    code[2] = _mm512_and_si512(a, splat(0x30));
    code[3] = _mm512_and_si512(a, splat(0xC0));
    code[4] = _mm512_and_si512(b, splat(0x03));
}

/// What the probes share: their codes carry no factor (their results are thrown away anyway).
struct probe_decode {
    static constexpr int shift[5] = {0, 0, 0, 0, 0};
};

/// The products alone: the raw bytes as codes.
struct vnni_only : probe_decode {
    static constexpr const char* name = "probe: 5 vpdpbusd, no decode";
    static TERNARY_ALWAYS_INLINE void decode(__m512i v, const probe_tables&, __m512i (&code)[5]) {
        for (auto& c : code) c = v;
    }
};

/// The lookup kernel's arithmetic part: trit 0 by averages and four ands, no table.
struct averages_and_ands : probe_decode {
    static constexpr const char* name = "probe: trit 0 by averages + 4 ands";
    static TERNARY_ALWAYS_INLINE void decode(__m512i v, const probe_tables&, __m512i (&code)[5]) {
        five_fields(v, v, code);
        const __m512i three_quarters = _mm512_avg_epu8(v, _mm512_avg_epu8(v, splat(1)));
        code[4] = _mm512_and_si512(_mm512_sub_epi8(three_quarters, splat(1)), splat(0xC0));
    }
};

/// The best a one-table design could do: one 128-entry lookup (vpermi2b) on the raw byte, five ands.
struct one_vpermi2b : probe_decode {
    static constexpr const char* name = "probe: 1 vpermi2b + 5 ands";
    static TERNARY_ALWAYS_INLINE void decode(__m512i v, const probe_tables& t, __m512i (&code)[5]) {
        const __m512i fields = _mm512_permutex2var_epi8(t.t0, v, t.t1);
        five_fields(fields, v, code);
    }
};

/// Two 64-entry lookups (vpermb) on bits 0-5 and 2-7 of the byte, five ands.
struct two_vpermb : probe_decode {
    static constexpr const char* name = "probe: 2 vpermb + shift + 5 ands";
    static TERNARY_ALWAYS_INLINE void decode(__m512i v, const probe_tables& t, __m512i (&code)[5]) {
        // (The zero-masked form: GCC 12's unmasked one trips -Wuninitialized in its header.)
        const __m512i low = _mm512_maskz_permutexvar_epi8(~__mmask64{0}, v, t.t0);
        const __m512i high = _mm512_maskz_permutexvar_epi8(~__mmask64{0}, _mm512_srli_epi16(v, 2), t.t1);
        five_fields(low, high, code);
    }
};

/// The lookup kernel's table part: a 256-entry lookup (two vpermi2b, the top bit's mask, a
/// blend) and four ands; trit 0 left out.
struct lookup_256 : probe_decode {
    static constexpr const char* name = "probe: 256-entry lookup (2 vpermi2b + mask + blend) + 4 ands";
    static TERNARY_ALWAYS_INLINE void decode(__m512i v, const probe_tables& t, __m512i (&code)[5]) {
        const __m512i low = _mm512_permutex2var_epi8(t.t0, v, t.t1);
        const __m512i high = _mm512_permutex2var_epi8(t.t2, v, t.t3);
        const __m512i fields = _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), low, high);
        five_fields(fields, v, code);
        code[4] = v;
    }
};

/// Rows in pairs, one token, activations in registers: the shape of the library's GEMV tile.
/// out[i] = sum over planes p of (sum of code_p * q_p) >> Decode::shift[p] (for the probes, whose
/// codes are not the right ones, a number to throw away).
template <class Decode>
__attribute__((noinline)) void gemv_pairs(const std::uint8_t* weights, std::size_t row_bytes, const std::int8_t* planes,
                                          const probe_tables& tables, std::int32_t* out) {
    for (std::size_t i = 0; i < rows; i += 2) {
        __m512i acc[2][5];
        for (auto& row : acc)
            for (auto& a : row) a = _mm512_setzero_si512();
        for (std::size_t c = 0; c < row_bytes / 64; ++c) {
            __m512i act[5];
            for (std::size_t p = 0; p < 5; ++p) act[p] = _mm512_loadu_si512(planes + c * 320 + p * 64);
#pragma GCC unroll 2
            for (std::size_t r = 0; r < 2; ++r) {
                __m512i code[5];
                Decode::decode(_mm512_loadu_si512(weights + (i + r) * row_bytes + c * 64), tables, code);
#pragma GCC unroll 5
                for (std::size_t p = 0; p < 5; ++p) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], code[p], act[p]);
            }
        }
        for (std::size_t r = 0; r < 2; ++r) {
            __m512i sum = _mm512_setzero_si512();
            for (std::size_t p = 0; p < 5; ++p) {
                const __m128i count = _mm_cvtsi32_si128(Decode::shift[p]);
                sum = _mm512_add_epi32(sum, _mm512_maskz_sra_epi32(0xFFFF, acc[r][p], count));
            }
            out[i + r] = ternary::simd::avx512vnni_kernel::ops::reduce(sum);
        }
    }
}

// The instruction mixes alone, on registers only (no loads, no loop-carried dependency but the
// accumulators'), written in assembly so the compiler can neither hoist nor drop them: the
// fastest this core can issue each decode, whatever the loop around it. Per 64 packed bytes of
// each of two rows, as in the kernels' GEMV tiles:
//   two_bit       vpsrlw, 4 vpandd, 4 vpdpbusd                  (256 weights)
//   base3_window  2 vpermb, vpsrlw, vpxord, 5 vpandd, 5 vpdpbusd (320 weights)
// (AT&T syntax, the GNU assemblers' default.)

// One row's instructions: weights in zmm W; accumulators zmm A0..; codes in zmm3-9; masks in
// zmm23-26, window tables in zmm21-22, activation planes in zmm27-31.
#define TWO_BIT_ROW(W, A0, A1, A2, A3)              \
    "vpsrlw $4, %%zmm" W ", %%zmm3\n\t"             \
    "vpandd %%zmm23, %%zmm" W ", %%zmm5\n\t"        \
    "vpandd %%zmm24, %%zmm" W ", %%zmm6\n\t"        \
    "vpandd %%zmm23, %%zmm3, %%zmm7\n\t"            \
    "vpandd %%zmm24, %%zmm3, %%zmm8\n\t"            \
    "vpdpbusd %%zmm27, %%zmm5, %%zmm" A0 "\n\t"     \
    "vpdpbusd %%zmm28, %%zmm6, %%zmm" A1 "\n\t"     \
    "vpdpbusd %%zmm29, %%zmm7, %%zmm" A2 "\n\t"     \
    "vpdpbusd %%zmm30, %%zmm8, %%zmm" A3 "\n\t"
#define WINDOW_ROW(W, A0, A1, A2, A3, A4)           \
    "vpermb %%zmm21, %%zmm" W ", %%zmm3\n\t"        \
    "vpsrlw $2, %%zmm" W ", %%zmm4\n\t"             \
    "vpermb %%zmm22, %%zmm4, %%zmm4\n\t"            \
    "vpxord %%zmm3, %%zmm4, %%zmm4\n\t"             \
    "vpandd %%zmm23, %%zmm3, %%zmm5\n\t"            \
    "vpandd %%zmm23, %%zmm4, %%zmm6\n\t"            \
    "vpandd %%zmm24, %%zmm4, %%zmm7\n\t"            \
    "vpandd %%zmm25, %%zmm4, %%zmm8\n\t"            \
    "vpandd %%zmm26, %%zmm4, %%zmm9\n\t"            \
    "vpdpbusd %%zmm27, %%zmm5, %%zmm" A0 "\n\t"     \
    "vpdpbusd %%zmm28, %%zmm6, %%zmm" A1 "\n\t"     \
    "vpdpbusd %%zmm29, %%zmm7, %%zmm" A2 "\n\t"     \
    "vpdpbusd %%zmm30, %%zmm8, %%zmm" A3 "\n\t"     \
    "vpdpbusd %%zmm31, %%zmm9, %%zmm" A4 "\n\t"

/// Seconds for `iterations` rounds of the two_bit mix, two rows a round.
double two_bit_mix_seconds(long iterations) {
    const auto start = clock_type::now();
    __asm__ volatile("1:\n\t" TWO_BIT_ROW("20", "10", "11", "12", "13") TWO_BIT_ROW("19", "14", "15", "16", "17")
                     "dec %0\n\t"
                     "jnz 1b"
                     : "+r"(iterations)
                     :
                     : "cc", "xmm3", "xmm5", "xmm6", "xmm7", "xmm8", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                       "xmm15", "xmm16", "xmm17");
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

/// Seconds for `iterations` rounds of the base3_window mix, two rows a round.
double window_mix_seconds(long iterations) {
    const auto start = clock_type::now();
    __asm__ volatile("1:\n\t" WINDOW_ROW("20", "10", "11", "12", "13", "14") WINDOW_ROW("19", "15", "16", "17", "18", "2")
                     "dec %0\n\t"
                     "jnz 1b"
                     : "+r"(iterations)
                     :
                     : "cc", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
                       "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18");
    return std::chrono::duration<double>(clock_type::now() - start).count();
}
#undef TWO_BIT_ROW
#undef WINDOW_ROW

/// ns per 64 packed bytes of a row for the two mixes, {two_bit, base3_window}: best of 15
/// trials each, the two alternated so that a slow moment of the host falls on both alike.
std::pair<double, double> mixes_ns_per_vector() {
    constexpr long iterations = 2'000'000;
    double two_bit = 1e300, window = 1e300;
    for (int trial = 0; trial < 15; ++trial) {
        two_bit = std::min(two_bit, two_bit_mix_seconds(iterations));
        window = std::min(window, window_mix_seconds(iterations));
    }
    const double per_vector = 1e9 / (2.0 * static_cast<double>(iterations));
    return {two_bit * per_vector, window * per_vector};
}

TERNARY_TARGET_END

template <class Decode>
double probe_ns_per_vector(const setup& s) {
    const auto w = ternary::ternary_matrix<ternary::base3>::from_trits(s.trits, rows, cols,
                                                                       ternary::weight_scales::per_matrix(1.0f));
    const std::size_t row_bytes = ternary::base3::row_bytes(cols);
    const auto planes = planes_of(s, 5);
    probe_tables tables{};
    const std::uint8_t* table = ternary::simd::detail::base3_trits_1_to_4.bytes;
    std::memcpy(&tables, table, sizeof tables);
    std::vector<std::int32_t> out(rows);
    const double ns = best_ns([&] { gemv_pairs<Decode>(w.bytes().data(), row_bytes, planes.data(), tables, out.data()); });
    return per_vector(ns, row_bytes);
}

}  // namespace

int main() {
    const auto& cpu = ternary::simd::cpu();
    if (!(cpu.avx512vnni && cpu.avx512vbmi)) {
        std::printf("{\"skipped\":\"needs AVX-512 VNNI and VBMI\"}\n");
        return 0;
    }
    const double cycle_ns = vnni_cycle_ns();
    std::printf("{\"vnni_cycle_ns\":%.4f,\"rows\":%zu,\"cols\":%zu}\n", cycle_ns, rows, cols);
    const setup s = make_setup();
    namespace simd = ternary::simd;
    const auto [two_bit_ns, two_bit_exact] = library_kernel<ternary::two_bit, simd::avx512vnni_kernel::entry>(s);
    const double two_bit_per_weight = two_bit_ns / 256.0;
    report("two_bit (avx512vnni kernel)", "kernel", two_bit_ns, 4, cycle_ns, two_bit_per_weight, two_bit_exact);
    const auto [arith_ns, arith_exact] = library_kernel<ternary::base3, simd::avx512vnni_kernel::entry>(s);
    report("base3 by arithmetic (avx512vnni kernel)", "kernel", arith_ns, 5, cycle_ns, two_bit_per_weight, arith_exact);
    const auto [lookup_ns, lookup_exact] = library_kernel<ternary::base3, simd::avx512vbmi_kernel::entry>(s);
    report("base3 by lookup (avx512vbmi kernel)", "kernel", lookup_ns, 5, cycle_ns, two_bit_per_weight, lookup_exact);
    const auto [window_ns, window_exact] = library_kernel<ternary::base3_window, simd::avx512vbmi_kernel::entry>(s);
    report("base3_window (avx512vbmi kernel: 2 vpermb + shift + xor + 5 ands)", "kernel", window_ns, 5, cycle_ns,
           two_bit_per_weight, window_exact);
    report(vnni_only::name, "probe", probe_ns_per_vector<vnni_only>(s), 5, cycle_ns, two_bit_per_weight, true);
    report(averages_and_ands::name, "probe", probe_ns_per_vector<averages_and_ands>(s), 5, cycle_ns, two_bit_per_weight, true);
    report(one_vpermi2b::name, "probe", probe_ns_per_vector<one_vpermi2b>(s), 5, cycle_ns, two_bit_per_weight, true);
    report(two_vpermb::name, "probe", probe_ns_per_vector<two_vpermb>(s), 5, cycle_ns, two_bit_per_weight, true);
    report(lookup_256::name, "probe", probe_ns_per_vector<lookup_256>(s), 5, cycle_ns, two_bit_per_weight, true);
    // The floor: the two decodes' instructions alone, and their ratio per weight.
    const auto [two_bit_mix_ns, window_mix_ns] = mixes_ns_per_vector();
    report("mix: two_bit's instructions, registers only", "mix", two_bit_mix_ns, 4, cycle_ns, two_bit_per_weight, true);
    report("mix: base3_window's instructions, registers only", "mix", window_mix_ns, 5, cycle_ns, two_bit_per_weight,
           true);
    std::printf("{\"floor\":\"base3_window mix over two_bit mix, per weight\",\"ratio\":%.3f}\n",
                (window_mix_ns / 320.0) / (two_bit_mix_ns / 256.0));
    return two_bit_exact && arith_exact && lookup_exact && window_exact ? 0 : 1;
}

#else
int main() {
    std::printf("{\"skipped\":\"x86-64 only\"}\n");
    return 0;
}
#endif
