// The --head-type option ternary-generate, ternary-chat, ternary-perplexity and
// ternary-convert share: how the output head (the logits' matrix) is stored and multiplied.
#pragma once

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include <ternary/bitnet/float_matrix.hpp>

namespace examples {

inline constexpr const char* head_type_help =
    "  --head-type T    the output head's format: stored (default: as the file has it), f16,\n"
    "                   int8 (int8 per row), q8_0, q6_k or q4_k (llama.cpp's block formats,\n"
    "                   multiplied in place); converted at load when the file differs\n"
    "  --int8-head      the same as --head-type int8\n";

/// Whether `value` is a head type --head-type accepts.
inline bool valid_head_type(std::string_view value) {
    return value == "stored" || value == "f16" || value == "int8" || value == "q8_0" || value == "q6_k" || value == "q4_k";
}


/// Puts the model's head in `head_type` (see head_type_help) and says so on stderr when it
/// converted anything.
template <class Model>
void apply_head_type(Model& model, std::string_view head_type) {
    if (head_type == "stored") return;
    const auto start = std::chrono::steady_clock::now();
    if (head_type == "int8") {
        model.use_int8_head();
    } else {
        const auto format = ternary::bitnet::float_format_named(head_type);
        if (model.stored_head().format() == *format) return;
        model.use_head_format(*format);
    }
    std::fprintf(stderr, "output head converted from %s to %.*s in %.2f s\n",
                 ternary::bitnet::format_name(model.stored_head().format()), static_cast<int>(head_type.size()),
                 head_type.data(), std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

}  // namespace examples
