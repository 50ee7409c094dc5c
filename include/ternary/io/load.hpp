#pragma once
// Loading a checkpoint whatever its format (formats.md 5.5): a directory is a Hugging Face
// checkpoint; for a file the first bytes and the exact size decide: GGUF, safetensors,
// llama2.c legacy float and bitllama2.c ak42 ternary files.

#include <cstdint>
#include <cstring>
#include <filesystem>
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
#include "safetensors_model.hpp"

namespace ternary::inline TERNARY_ABI::io {

/// The model at path: a directory or a shard index -> load_safetensors (config.json +
/// model.safetensors or its shards); a file: "ak42" magic -> bitllama2.c ternary; "GGUF" -> load_gguf; a u64 header
/// length that fits the file followed by '{' -> load_safetensors (config.json beside it);
/// anything else is tried as a llama2.c legacy file, whose exact size check refuses what it
/// is not.
inline any_model load_model(const std::string& path) {
    if (std::filesystem::is_directory(path) || path.ends_with(".safetensors.index.json")) return load_safetensors(path);
    const auto file = mapped_file::open(path);
    const std::span<const std::uint8_t> bytes = file->bytes();
    std::uint32_t magic = 0;
    if (bytes.size() >= 4) std::memcpy(&magic, bytes.data(), 4);
    if (magic == 0x616b3432) return load_bitllama2c(bytes, path);
    if (magic == gguf_magic) return load_gguf(file);
    std::uint64_t header_size = 0;
    if (bytes.size() >= 9) std::memcpy(&header_size, bytes.data(), 8);
    if (bytes.size() >= 9 && bytes[8] == '{' && header_size <= bytes.size() - 8) return load_safetensors(path);
    return load_llama2c(bytes, path);
}

}  // namespace ternary::inline TERNARY_ABI::io
