#pragma once
// Reading a tokenizer's GGUF metadata (tokenizer.ggml.*) with clear errors: a key that is
// missing or of another type, an array of the wrong element type or length, a token id out of
// range are format_errors naming the file and the key. Shared by the tokenizers that read GGUF
// (sentencepiece.hpp; bpe.hpp can use the same functions).

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "../config.hpp"
#include "../error.hpp"
#include "../io/gguf.hpp"

namespace ternary::inline TERNARY_ABI::tokenizer::detail {

/// The name of a GGUF value type, for error messages.
inline const char* gguf_type_name(io::gguf_type type) noexcept {
    static constexpr const char* names[] = {"u8",   "i8",     "u16",   "i16",   "u32", "i32", "f32",
                                            "bool", "string", "array", "u64",   "i64", "f64"};
    const auto index = static_cast<std::size_t>(type);
    return index < std::size(names) ? names[index] : "unknown";
}

/// The value of a key as T, or null if the key is absent; format_error if it has another type.
template <class T>
const T* optional_metadata(const io::gguf_file& file, std::string_view key, const char* where) {
    const io::gguf_value* v = file.find(key);
    if (v == nullptr) return nullptr;
    const T* value = std::get_if<T>(&v->value);
    if (value == nullptr) {
        ternary::detail::fail<format_error>(where, "metadata '", key, "' is a ", gguf_type_name(v->type()),
                                            ", not a ", gguf_type_name(io::gguf_value{T{}}.type()));
    }
    return value;
}

/// The value of a key as T; format_error if it is absent or has another type.
template <class T>
const T& metadata(const io::gguf_file& file, std::string_view key, const char* where) {
    const T* value = optional_metadata<T>(file, key, where);
    if (value == nullptr) ternary::detail::fail<format_error>(where, "no metadata key '", key, "'");
    return *value;
}

/// An array whose elements are all of type `element`, or null if the key is absent. With
/// `length` it must have exactly that many elements (one per token).
inline const io::gguf_array* optional_metadata_array(const io::gguf_file& file, std::string_view key, io::gguf_type element,
                                                     const char* where, std::optional<std::size_t> length = std::nullopt) {
    const io::gguf_array* array = optional_metadata<io::gguf_array>(file, key, where);
    if (array == nullptr) return nullptr;
    // The GGUF reader has checked that every element has the array's element type.
    if (array->element != element) {
        ternary::detail::fail<format_error>(where, "'", key, "' is an array of ", gguf_type_name(array->element), ", not of ",
                                            gguf_type_name(element));
    }
    if (length && array->values.size() != *length) {
        ternary::detail::fail<format_error>(where, "'", key, "' has ", array->values.size(), " elements, not ", *length,
                                            " (one per token)");
    }
    return array;
}

/// As optional_metadata_array, but the key must be present.
inline const io::gguf_array& metadata_array(const io::gguf_file& file, std::string_view key, io::gguf_type element,
                                            const char* where, std::optional<std::size_t> length = std::nullopt) {
    const io::gguf_array* array = optional_metadata_array(file, key, element, where, length);
    if (array == nullptr) ternary::detail::fail<format_error>(where, "no metadata key '", key, "'");
    return *array;
}

/// A token id below n stored as any integer type, or nullopt if the key is absent or the value
/// is -1 (SentencePiece's "none"). Any other value out of range is a format_error.
inline std::optional<std::size_t> optional_token_id(const io::gguf_file& file, std::string_view key, std::size_t n,
                                                    const char* where) {
    const io::gguf_value* v = file.find(key);
    if (v == nullptr) return std::nullopt;
    std::optional<std::int64_t> signed_id;
    std::optional<std::uint64_t> id;
    std::visit([&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::uint8_t> || std::is_same_v<T, std::uint16_t> || std::is_same_v<T, std::uint32_t> ||
                      std::is_same_v<T, std::uint64_t>) {
            id = x;
        } else if constexpr (std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::int16_t> ||
                             std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::int64_t>) {
            signed_id = x;
            if (x >= 0) id = static_cast<std::uint64_t>(x);
        }
    }, v->value);
    if (signed_id == -1) return std::nullopt;
    if (!id || *id >= n) {
        ternary::detail::fail<format_error>(where, "'", key, "' is not a token id below the vocabulary size ", n);
    }
    return static_cast<std::size_t>(*id);
}

}  // namespace ternary::inline TERNARY_ABI::tokenizer::detail
