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
#include <ternary/pack/base3_window.hpp>
#include <ternary/pack/two_bit.hpp>
#include <ternary/simd/dispatch.hpp>

namespace examples {

inline constexpr const char* packing_help =
    "  --packing P      the ternary layers' packing: two_bit (2 bits a weight), base3 (1.6 bits,\n"
    "                   TQ1_0's byte code), base3_window (1.6 bits, a byte code made for AVX-512\n"
    "                   VBMI lookups), or auto (default): base3_window where this CPU has\n"
    "                   AVX-512 VBMI, else two_bit; a loaded model is repacked (the same weights,\n"
    "                   the same results)\n";

/// Whether `value` is a packing --packing accepts.
inline bool valid_packing(std::string_view value) {
    return value == "auto" || value == ternary::two_bit::name || value == ternary::base3::name ||
           value == ternary::base3_window::name;
}

/// The packing `requested` (auto, two_bit, base3 or base3_window) stands for on this machine.
inline std::string_view resolved_packing(std::string_view requested) {
    return requested == "auto" ? ternary::simd::preferred_packing_name() : requested;
}

/// Calls run(model), or run on the model repacked to base3 or base3_window when `requested`
/// resolves to one and the model's layers are two_bit (float layers and other packings run as
/// they are).
template <class Model, class Run>
void with_packing(Model& model, std::string_view requested, Run&& run) {
    using two_bit_model = ternary::bitnet::transformer<ternary::bitnet::ternary_linear<ternary::two_bit>>;
    if constexpr (std::is_same_v<Model, two_bit_model>) {
        const std::string_view packing = resolved_packing(requested);
        const auto run_repacked = [&]<class To>(To) {
            const auto start = std::chrono::steady_clock::now();
            auto repacked = ternary::bitnet::repacked<To>(std::move(model));
            std::fprintf(stderr, "ternary layers repacked to %s in %.2f s\n", std::string(To::name).c_str(),
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
            run(repacked);
        };
        if (packing == ternary::base3::name) return run_repacked(ternary::base3{});
        if (packing == ternary::base3_window::name) return run_repacked(ternary::base3_window{});
    }
    run(model);
}

}  // namespace examples
