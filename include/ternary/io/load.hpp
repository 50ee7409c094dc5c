#pragma once
// Loading a checkpoint whatever its format (formats.md 5.5): the first bytes and the exact
// size decide: GGUF, llama2.c legacy float and bitllama2.c ak42 ternary files.

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
#include "gguf_model.hpp"
#include "llama2c.hpp"
#include "mapped_file.hpp"

namespace ternary::inline TERNARY_ABI::io {

/// The model in the file at path: "ak42" magic -> bitllama2.c ternary; "GGUF" -> load_gguf;
/// safetensors are refused (not yet supported); anything else is tried as a llama2.c legacy
/// file, whose exact size check refuses what it is not.
inline any_model load_model(const std::string& path) {
    const auto file = mapped_file::open(path);
    const std::span<const std::uint8_t> bytes = file->bytes();
    std::uint32_t magic = 0;
    if (bytes.size() >= 4) std::memcpy(&magic, bytes.data(), 4);
    if (magic == 0x616b3432) return load_bitllama2c(bytes, path);
    if (magic == gguf_magic) return load_gguf(file);
    if (bytes.size() >= 9 && bytes[8] == '{') {
        ternary::detail::fail<format_error>(path.c_str(), "safetensors files are not supported yet");
    }
    return load_llama2c(bytes, path);
}

}  // namespace ternary::inline TERNARY_ABI::io
