#pragma once
// Loading a checkpoint whatever its format (formats.md 5.5): the first bytes and the exact
// size decide. For now: llama2.c legacy float and bitllama2.c ak42 ternary files.

#include <cstdint>
#include <cstring>
#include <string>
#include <variant>
#include <vector>

#include "../bitnet/linear.hpp"
#include "../bitnet/model.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "file.hpp"
#include "llama2c.hpp"

namespace ternary::inline TERNARY_ABI::io {

using any_model = std::variant<bitnet::transformer<bitnet::float_linear>, bitnet::transformer<bitnet::ternary_linear<two_bit>>>;

/// The model in the file at path: "ak42" magic -> bitllama2.c ternary; "GGUF" and safetensors
/// are refused (not yet supported); anything else is tried as a llama2.c legacy file, whose exact
/// size check refuses what it is not.
inline any_model load_model(const std::string& path) {
    const std::vector<std::uint8_t> bytes = read_file(path);
    std::uint32_t magic = 0;
    if (bytes.size() >= 4) std::memcpy(&magic, bytes.data(), 4);
    if (magic == 0x616b3432) return load_bitllama2c(bytes, path);
    if (magic == 0x46554747) ternary::detail::fail<format_error>(path.c_str(), "GGUF files are not supported yet");
    if (bytes.size() >= 9 && bytes[8] == '{') {
        ternary::detail::fail<format_error>(path.c_str(), "safetensors files are not supported yet");
    }
    return load_llama2c(bytes, path);
}

}  // namespace ternary::inline TERNARY_ABI::io
