#pragma once
// Run-time dispatch: the `automatic` policy runs the best policy this CPU supports, or the
// one named by the environment variable TERNARY_ISA (scalar, avx2, avxvnni, avx512vnni, neon,
// neon-dotprod). The choice is made once per program; each GEMV/GEMM then costs one indirect
// call, never a per-block test.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../activations.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../pack/base3.hpp"
#include "../pack/base3_window.hpp"
#include "../pack/packing.hpp"
#include "../pack/two_bit.hpp"
#include "../ternary_matrix.hpp"
#include "../thread_pool.hpp"
#include "avx2.hpp"
#include "avx512vbmi.hpp"
#include "avx512vnni.hpp"
#include "avxvnni.hpp"
#include "neon.hpp"
#include "neon_dotprod.hpp"
#include "prepared.hpp"
#include "scalar.hpp"

namespace ternary::inline TERNARY_ABI::simd {

template <class... Policies>
struct policy_list {
    /// Calls f(Policy{}) for each policy, best first, until f returns true.
    template <class F>
    static bool find(F&& f) {
        return (f(Policies{}) || ...);
    }
};

/// Every policy compiled for this architecture, best first. Adding an instruction set is its
/// header plus one line here.
using compiled_policies = policy_list<
#if defined(__x86_64__) || defined(__i386__)
    avx512vbmi, avx512vnni, avxvnni, avx2,
#elif defined(__aarch64__)
    neon_dotprod, neon,
#endif
    scalar>;

namespace detail {

/// The names of all compiled policies, for messages.
inline std::string compiled_policy_names() {
    std::string names;
    compiled_policies::find([&](auto policy) {
        names += (names.empty() ? "" : ", ") + std::string(decltype(policy)::name);
        return false;
    });
    return names;
}

/// TERNARY_ISA if set (it must name a compiled policy this CPU runs), else the best available.
inline std::string_view choose_policy() {
    const char* env = std::getenv("TERNARY_ISA");
    const std::string_view requested = env != nullptr ? env : "";
    std::string_view chosen;
    bool runs = false;
    compiled_policies::find([&](auto policy) {
        using P = decltype(policy);
        if (requested.empty() ? !P::available() : requested != P::name) return false;
        chosen = P::name;
        runs = P::available();
        return true;
    });
    if (chosen.empty()) {
        ternary::detail::fail<error>("TERNARY_ISA", "unknown instruction set '", requested,
                                     "'; this build has: ", compiled_policy_names());
    }
    if (!runs) {
        ternary::detail::fail<error>("TERNARY_ISA", "'", requested, "' is compiled in but this CPU cannot run it");
    }
    return chosen;
}

/// The kernel policy functions of one policy for packing P, as pointers.
template <packing P>
struct policy_functions {
    std::size_t (*prepared_bytes)(const ternary_matrix_view<P>&, const activation_batch_view&, std::size_t);
    prepared_activations (*prepare)(const ternary_matrix_view<P>&, const activation_batch_view&, std::size_t,
                                    std::int8_t*);
    void (*block_dots_prepared)(const ternary_matrix_view<P>&, const prepared_activations&, std::size_t, std::size_t,
                                std::size_t, std::int32_t*);
};

template <packing P>
policy_functions<P> functions_of(std::string_view name) {
    policy_functions<P> functions{};
    compiled_policies::find([&](auto policy) {
        using Policy = decltype(policy);
        if (Policy::name != name) return false;
        functions = {&Policy::template prepared_bytes<P>, &Policy::template prepare<P>,
                     &Policy::template block_dots_prepared<P>};
        return true;
    });
    return functions;
}

/// The chosen policy's functions for packing P (chosen on first use).
template <packing P>
const policy_functions<P>& chosen_functions();

}  // namespace detail

/// The name of the policy `automatic` runs (chosen on first use; throws ternary::error if
/// TERNARY_ISA names an unknown policy or one this CPU cannot run).
inline std::string_view active_policy_name() {
    static const std::string_view name = detail::choose_policy();
    return name;
}

/// The packing a model's ternary layers should use for decoding, with the policy `automatic`
/// runs: base3_window where that policy decodes it by 64-entry table lookups (avx512vbmi). A
/// 2B4T-shaped decode then reads 12% fewer bytes per token than with two_bit and ran 1.11-1.16x
/// faster at 1 thread and 1.06-1.21x at 2 (in turn in each run, docs/performance.md, "Which
/// packing").
/// two_bit everywhere else: without the lookups base3's decode costs more than the bytes it
/// saves (NEON decodes base3_window by vqtbl4q_u8 too, but it is not measured on real hardware).
inline std::string_view preferred_packing_name() {
#if defined(__x86_64__) || defined(__i386__)
    if (active_policy_name() == avx512vbmi::name) return base3_window::name;
#endif
    return two_bit::name;
}

struct automatic : kernel_policy_base<automatic> {
    static constexpr std::string_view name = "auto";
    static bool available() noexcept { return true; }

    template <packing P>
    static std::size_t prepared_bytes(const ternary_matrix_view<P>& w, const activation_batch_view& x,
                                      std::size_t block_cols) {
        return detail::chosen_functions<P>().prepared_bytes(w, x, block_cols);
    }
    template <packing P>
    static prepared_activations prepare(const ternary_matrix_view<P>& w, const activation_batch_view& x,
                                        std::size_t block_cols, std::int8_t* scratch) {
        return detail::chosen_functions<P>().prepare(w, x, block_cols, scratch);
    }
    template <packing P>
    static void block_dots_prepared(const ternary_matrix_view<P>& w, const prepared_activations& prepared,
                                    std::size_t block_cols, std::size_t row_begin, std::size_t row_end,
                                    std::int32_t* out) {
        detail::chosen_functions<P>().block_dots_prepared(w, prepared, block_cols, row_begin, row_end, out);
    }
};

template <packing P>
const detail::policy_functions<P>& detail::chosen_functions() {
    static const policy_functions<P> functions = functions_of<P>(active_policy_name());
    return functions;
}

}  // namespace ternary::inline TERNARY_ABI::simd
