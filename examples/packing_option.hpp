// The --packing option ternary-generate, ternary-chat and ternary-perplexity share: the packing
// the model's ternary layers run in.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <ternary/bitnet/linear.hpp>
#include <ternary/bitnet/model.hpp>
#include <ternary/pack/base3.hpp>
#include <ternary/pack/two_bit.hpp>
#include <ternary/simd/dispatch.hpp>

namespace examples {

inline constexpr const char* packing_help =
    "  --packing P      the ternary layers' packing: two_bit, base3, or auto (default): base3\n"
    "                   with 2 threads or more where this CPU decodes it by table lookups\n"
    "                   (AVX-512 VBMI), else two_bit; a loaded model is repacked (the same\n"
    "                   weights, the same results)\n";

/// Whether `value` is a packing --packing accepts.
inline bool valid_packing(std::string_view value) { return value == "auto" || value == "two_bit" || value == "base3"; }

/// The packing `requested` (auto, two_bit or base3) stands for on this machine.
inline std::string_view resolved_packing(std::string_view requested) {
    return requested == "auto" ? ternary::simd::preferred_packing_name() : requested;
}

/// Calls run(model), or run on the model repacked to base3 when `requested` resolves to base3
/// and the model's layers are two_bit (float layers and other packings run as they are).
template <class Model, class Run>
void with_packing(Model& model, std::string_view requested, Run&& run) {
    using two_bit_model = ternary::bitnet::transformer<ternary::bitnet::ternary_linear<ternary::two_bit>>;
    if constexpr (std::is_same_v<Model, two_bit_model>) {
        if (resolved_packing(requested) == ternary::base3::name) {
            const auto start = std::chrono::steady_clock::now();
            auto base3 = ternary::bitnet::repacked<ternary::base3>(std::move(model));
            std::fprintf(stderr, "ternary layers repacked to base3 in %.2f s\n",
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
            run(base3);
            return;
        }
    }
    run(model);
}

}  // namespace examples
