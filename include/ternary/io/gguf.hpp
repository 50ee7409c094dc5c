#pragma once
// GGUF v3 (formats.md 4.1; ggml-org/ggml docs/gguf.md): a reader over bytes in memory and a
// writer. The container only: metadata of every value type, tensor infos, alignment, and the
// byte range of each tensor's data. What the tensors mean (architectures, I2_S/TQ1_0/TQ2_0)
// belongs to the model loaders.
//
// Every read is bounds-checked; counts and sizes are checked before anything is allocated for
// them; a malformed file is a format_error naming the offset and what was being read.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "../quant/ggml_blocks.hpp"
#include "file.hpp"

namespace ternary::inline TERNARY_ABI::io {

inline constexpr std::uint32_t gguf_magic = 0x46554747;  // "GGUF"
inline constexpr std::uint32_t gguf_default_alignment = 32;

enum class gguf_type : std::uint32_t {
    u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8, array = 9,
    u64 = 10, i64 = 11, f64 = 12,
};

struct gguf_value;

/// An array value: its element type and elements (arrays may nest).
struct gguf_array {
    gguf_type element = gguf_type::u8;
    std::vector<gguf_value> values;
};

struct gguf_value {
    std::variant<std::uint8_t, std::int8_t, std::uint16_t, std::int16_t, std::uint32_t, std::int32_t, float, bool,
                 std::string, gguf_array, std::uint64_t, std::int64_t, double>
        value;

    /// The GGUF type id of this value: the variant's alternatives are in type-id order.
    gguf_type type() const { return static_cast<gguf_type>(value.index()); }
};

/// ggml tensor types this library knows (formats.md 4.2).
enum class ggml_type : std::uint32_t { f32 = 0, f16 = 1, bf16 = 30, tq1_0 = 34, tq2_0 = 35, i2_s = 36 };

struct gguf_tensor_info {
    std::string name;
    std::vector<std::uint64_t> ne;  // ggml order: ne[0] is the contiguous dimension
    std::uint32_t type = 0;         // a ggml_type id
    std::uint64_t offset = 0;       // from the start of the data section
    std::uint64_t bytes = 0;        // size of its data (computed from type and ne)
};

/// Bytes of a tensor of `type` with `elements` elements and rows of ne0, or nullopt for a
/// type this library does not know or rows that are not whole blocks of it. I2_S (bitnet.cpp)
/// stores elements / 4 bytes of codes plus a 32-byte tail holding its scale; the block formats
/// (quant/ggml_blocks.hpp) whole blocks per row.
inline std::optional<std::uint64_t> ggml_bytes(std::uint32_t type, std::uint64_t ne0, std::uint64_t elements) {
    if (const auto block = block_type_of_ggml(type)) {
        const block_layout l = layout_of(*block);
        if (ne0 % l.weights != 0) return std::nullopt;
        return elements / l.weights * l.bytes;
    }
    switch (static_cast<ggml_type>(type)) {
        case ggml_type::f32: return elements * 4;
        case ggml_type::f16:
        case ggml_type::bf16: return elements * 2;
        case ggml_type::tq1_0:
            if (ne0 % 256 != 0) return std::nullopt;
            return elements / 256 * 54;
        case ggml_type::tq2_0:
            if (ne0 % 256 != 0) return std::nullopt;
            return elements / 256 * 66;
        case ggml_type::i2_s:
            if (elements % 4 != 0) return std::nullopt;
            return elements / 4 + 32;
    }
    return std::nullopt;
}

class gguf_file {
public:
    /// Parses bytes (which must outlive the object: tensor data is returned as views into them).
    static gguf_file parse(std::span<const std::uint8_t> bytes, const std::string& name) {
        gguf_file file;
        file.bytes_ = bytes;
        byte_reader in(bytes.data(), bytes.size(), name);
        if (in.read<std::uint32_t>("the magic") != gguf_magic) fail(in, "not a GGUF file (no 'GGUF' magic)");
        file.version_ = in.read<std::uint32_t>("the version");
        if (file.version_ != 3) fail(in, "GGUF version " + std::to_string(file.version_) + " (only 3 is supported)");
        const std::uint64_t tensor_count = in.read<std::uint64_t>("the tensor count");
        const std::uint64_t kv_count = in.read<std::uint64_t>("the metadata count");
        // Each metadata entry takes >= 13 bytes (key length, type, smallest value) and each
        // tensor info >= 24: counts the file cannot hold are refused before any allocation.
        if (kv_count > in.remaining() / 13) fail(in, "metadata count " + std::to_string(kv_count) + " exceeds the file");
        if (tensor_count > in.remaining() / 24) fail(in, "tensor count " + std::to_string(tensor_count) + " exceeds the file");
        file.metadata_.reserve(kv_count);
        for (std::uint64_t i = 0; i < kv_count; ++i) {
            std::string key = read_string(in, "a metadata key");
            const auto type = read_type(in);
            file.metadata_.emplace_back(std::move(key), read_value(in, type, 0));
        }
        file.alignment_ = gguf_default_alignment;
        if (const gguf_value* a = file.find("general.alignment")) {
            const auto* value = std::get_if<std::uint32_t>(&a->value);
            if (value == nullptr || *value == 0 || (*value & (*value - 1)) != 0) {
                fail(in, "general.alignment must be a u32 power of two");
            }
            file.alignment_ = *value;
        }
        file.tensors_.reserve(tensor_count);
        for (std::uint64_t i = 0; i < tensor_count; ++i) file.tensors_.push_back(read_tensor_info(in));
        // The data section starts at the next multiple of the alignment. A file without tensors
        // may end before it (llama.cpp's vocab-only files do).
        const std::uint64_t data_offset = (in.offset() + file.alignment_ - 1) / file.alignment_ * file.alignment_;
        file.data_offset_ = data_offset;
        const std::uint64_t data_size = data_offset <= bytes.size() ? bytes.size() - data_offset : 0;
        for (const auto& t : file.tensors_) {
            if (t.offset % file.alignment_ != 0) {
                fail(in, "tensor '" + t.name + "' offset " + std::to_string(t.offset) + " is not aligned");
            }
            if (t.offset > data_size || t.bytes > data_size - t.offset) {
                fail(in, "tensor '" + t.name + "' data (" + std::to_string(t.bytes) + " bytes at " +
                             std::to_string(t.offset) + ") runs past the end of the file");
            }
        }
        return file;
    }

    std::uint32_t version() const noexcept { return version_; }
    std::uint64_t alignment() const noexcept { return alignment_; }
    const std::vector<std::pair<std::string, gguf_value>>& metadata() const noexcept { return metadata_; }
    const std::vector<gguf_tensor_info>& tensors() const noexcept { return tensors_; }

    /// The value of a key, or null.
    const gguf_value* find(std::string_view key) const {
        for (const auto& [k, v] : metadata_) {
            if (k == key) return &v;
        }
        return nullptr;
    }

    /// The value of a key as T; format_error if absent or of another type.
    template <class T>
    const T& get(std::string_view key) const {
        const gguf_value* v = find(key);
        if (v == nullptr) ternary::detail::fail<format_error>("gguf", "no metadata key '", key, "'");
        const T* value = std::get_if<T>(&v->value);
        if (value == nullptr) ternary::detail::fail<format_error>("gguf", "metadata '", key, "' has another type");
        return *value;
    }

    const gguf_tensor_info* tensor(std::string_view name) const {
        for (const auto& t : tensors_) {
            if (t.name == name) return &t;
        }
        return nullptr;
    }

    /// The bytes of a tensor's data (a view into the file).
    std::span<const std::uint8_t> data(const gguf_tensor_info& t) const {
        return bytes_.subspan(static_cast<std::size_t>(data_offset_ + t.offset), static_cast<std::size_t>(t.bytes));
    }

private:
    [[noreturn]] static void fail(const byte_reader& in, const std::string& what) {
        ternary::detail::fail<format_error>(in.name().c_str(), what, " (at offset ", in.offset(), ")");
    }

    static std::string read_string(byte_reader& in, const char* what) {
        const std::uint64_t length = in.read<std::uint64_t>(what);
        if (length > in.remaining()) fail(in, std::string(what) + " of " + std::to_string(length) + " bytes exceeds the file");
        const std::uint8_t* p = in.take(static_cast<std::size_t>(length), what);
        return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(length));
    }

    static gguf_type read_type(byte_reader& in) {
        const std::uint32_t type = in.read<std::uint32_t>("a value type");
        if (type > 12) fail(in, "unknown metadata value type " + std::to_string(type));
        return static_cast<gguf_type>(type);
    }

    static gguf_value read_value(byte_reader& in, gguf_type type, int depth) {
        switch (type) {
            case gguf_type::u8: return {in.read<std::uint8_t>("a u8")};
            case gguf_type::i8: return {in.read<std::int8_t>("an i8")};
            case gguf_type::u16: return {in.read<std::uint16_t>("a u16")};
            case gguf_type::i16: return {in.read<std::int16_t>("an i16")};
            case gguf_type::u32: return {in.read<std::uint32_t>("a u32")};
            case gguf_type::i32: return {in.read<std::int32_t>("an i32")};
            case gguf_type::f32: return {in.read<float>("an f32")};
            case gguf_type::boolean: {
                const std::uint8_t b = in.read<std::uint8_t>("a bool");
                if (b > 1) fail(in, "a bool is " + std::to_string(b));
                return {b == 1};
            }
            case gguf_type::string: return {read_string(in, "a string")};
            case gguf_type::array: {
                if (depth >= 4) fail(in, "arrays nested deeper than 4");
                gguf_array array;
                array.element = read_type(in);
                const std::uint64_t count = in.read<std::uint64_t>("an array length");
                if (count > in.remaining()) fail(in, "array of " + std::to_string(count) + " elements exceeds the file");
                array.values.reserve(static_cast<std::size_t>(count));
                for (std::uint64_t i = 0; i < count; ++i) array.values.push_back(read_value(in, array.element, depth + 1));
                return {std::move(array)};
            }
            case gguf_type::u64: return {in.read<std::uint64_t>("a u64")};
            case gguf_type::i64: return {in.read<std::int64_t>("an i64")};
            case gguf_type::f64: return {in.read<double>("an f64")};
        }
        fail(in, "unknown value type");
    }

    static gguf_tensor_info read_tensor_info(byte_reader& in) {
        gguf_tensor_info t;
        t.name = read_string(in, "a tensor name");
        const std::uint32_t dims = in.read<std::uint32_t>("a tensor's dimension count");
        if (dims == 0 || dims > 4) fail(in, "tensor '" + t.name + "' has " + std::to_string(dims) + " dimensions");
        std::uint64_t elements = 1;
        for (std::uint32_t d = 0; d < dims; ++d) {
            const std::uint64_t n = in.read<std::uint64_t>("a tensor dimension");
            if (n == 0 || n > (std::uint64_t{1} << 40) || elements > (std::uint64_t{1} << 48) / n) {
                fail(in, "tensor '" + t.name + "' dimension " + std::to_string(d) + " = " + std::to_string(n) + " is absurd");
            }
            elements *= n;
            t.ne.push_back(n);
        }
        t.type = in.read<std::uint32_t>("a tensor type");
        t.offset = in.read<std::uint64_t>("a tensor offset");
        const auto bytes = ggml_bytes(t.type, t.ne[0], elements);
        if (!bytes) {
            if (const auto block = block_type_of_ggml(t.type)) {
                const block_layout l = layout_of(*block);
                fail(in, "tensor '" + t.name + "' of type " + std::string(l.name) + " has rows of " +
                             std::to_string(t.ne[0]) + " values, not a multiple of its blocks of " +
                             std::to_string(l.weights));
            }
            fail(in, "tensor '" + t.name + "' has type " + std::to_string(t.type) +
                         ", unknown here or not allowed for its shape");
        }
        t.bytes = *bytes;
        return t;
    }

    std::span<const std::uint8_t> bytes_;
    std::uint32_t version_ = 0;
    std::uint64_t alignment_ = gguf_default_alignment;
    std::uint64_t data_offset_ = 0;
    std::vector<std::pair<std::string, gguf_value>> metadata_;
    std::vector<gguf_tensor_info> tensors_;
};

/// Builds a GGUF v3 file in memory: add metadata and tensors, then bytes().
class gguf_writer {
public:
    explicit gguf_writer(std::uint32_t alignment = gguf_default_alignment) : alignment_(alignment) {
        if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
            ternary::detail::fail<value_error>("gguf_writer", "alignment ", alignment, " is not a power of two");
        }
        if (alignment != gguf_default_alignment) add("general.alignment", gguf_value{alignment});
    }

    void add(std::string key, gguf_value value) { metadata_.emplace_back(std::move(key), std::move(value)); }

    /// A tensor of ggml `type` with dimensions ne (ggml order) and its data, which must have
    /// exactly the size the type and shape imply.
    void add_tensor(std::string name, std::vector<std::uint64_t> ne, std::uint32_t type, std::vector<std::uint8_t> data) {
        std::uint64_t elements = 1;
        for (auto n : ne) elements *= n;
        const auto expected = ne.empty() ? std::nullopt : ggml_bytes(type, ne[0], elements);
        if (!expected || *expected != data.size()) {
            ternary::detail::fail<value_error>("gguf_writer", "tensor '", name, "' of type ", type, " needs ",
                                               expected.value_or(0), " bytes, got ", data.size());
        }
        tensors_.push_back({std::move(name), std::move(ne), type, std::move(data)});
    }

    /// The whole file in memory.
    std::vector<std::uint8_t> bytes() const {
        std::vector<std::uint8_t> out;
        write([&](const std::uint8_t* p, std::size_t n) { out.insert(out.end(), p, p + n); });
        return out;
    }

    /// The file, in order, to sink(const std::uint8_t* data, std::size_t size): a stream
    /// writer needs no second copy of the tensors.
    template <class Sink>
    void write(Sink&& sink) const {
        std::vector<std::uint8_t> header;
        put(header, gguf_magic);
        put(header, std::uint32_t{3});
        put(header, static_cast<std::uint64_t>(tensors_.size()));
        put(header, static_cast<std::uint64_t>(metadata_.size()));
        for (const auto& [key, value] : metadata_) {
            put_string(header, key);
            put(header, static_cast<std::uint32_t>(value.type()));
            put_value(header, value);
        }
        std::uint64_t offset = 0;
        for (const auto& t : tensors_) {
            put_string(header, t.name);
            put(header, static_cast<std::uint32_t>(t.ne.size()));
            for (auto n : t.ne) put(header, n);
            put(header, t.type);
            put(header, offset);
            offset = round_up_to(offset + t.data.size());
        }
        if (!tensors_.empty()) header.resize(static_cast<std::size_t>(round_up_to(header.size())), 0);
        sink(header.data(), header.size());  // no data section without tensors (llama.cpp's vocab-only files)
        const std::vector<std::uint8_t> padding(alignment_, 0);
        for (const auto& t : tensors_) {
            sink(t.data.data(), t.data.size());
            sink(padding.data(), static_cast<std::size_t>(round_up_to(t.data.size()) - t.data.size()));
        }
    }

private:
    struct tensor {
        std::string name;
        std::vector<std::uint64_t> ne;
        std::uint32_t type;
        std::vector<std::uint8_t> data;
    };

    std::uint64_t round_up_to(std::uint64_t n) const { return (n + alignment_ - 1) / alignment_ * alignment_; }

    template <class T>
    static void put(std::vector<std::uint8_t>& out, T value) {
        const auto* p = reinterpret_cast<const std::uint8_t*>(&value);
        out.insert(out.end(), p, p + sizeof(T));
    }
    static void put_string(std::vector<std::uint8_t>& out, const std::string& s) {
        put(out, static_cast<std::uint64_t>(s.size()));
        out.insert(out.end(), s.begin(), s.end());
    }
    static void put_value(std::vector<std::uint8_t>& out, const gguf_value& v) {
        std::visit([&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::string>) {
                put_string(out, x);
            } else if constexpr (std::is_same_v<T, gguf_array>) {
                put(out, static_cast<std::uint32_t>(x.element));
                put(out, static_cast<std::uint64_t>(x.values.size()));
                for (const auto& e : x.values) {
                    if (e.type() != x.element) {
                        ternary::detail::fail<value_error>("gguf_writer", "an array element has another type");
                    }
                    put_value(out, e);
                }
            } else if constexpr (std::is_same_v<T, bool>) {
                put(out, static_cast<std::uint8_t>(x ? 1 : 0));
            } else {
                put(out, x);
            }
        }, v.value);
    }

    std::uint32_t alignment_;
    std::vector<std::pair<std::string, gguf_value>> metadata_;
    std::vector<tensor> tensors_;
};

}  // namespace ternary::inline TERNARY_ABI::io
