#pragma once
// Hugging Face safetensors (formats.md 3): a reader over bytes in memory, a writer, and the
// shard index of sharded checkpoints. The container only: what the tensors mean (BitNet's packed
// U8 weights, BF16 scales) belongs to the model loaders.
//
// A file is a u64 little-endian header length N, N bytes of JSON (an object mapping each tensor
// name to {"dtype", "shape", "data_offsets": [begin, end)} plus an optional "__metadata__"
// object of strings), then the data; offsets count from byte 8 + N. Everything is checked before
// it is used: N against the file and max_header_bytes, the JSON strictly (json.hpp), each
// dtype, shape (products overflow-checked) and byte range, and that no two tensors share a
// byte. Gaps between tensors and bytes after the last are allowed (the reference implementation
// refuses them; its writer, like ours, never leaves any). A malformed file is a format_error
// naming the file, the tensor and the offset.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "file.hpp"
#include "json.hpp"

namespace ternary::inline TERNARY_ABI::io {

/// The element types of safetensors. Later additions (F8_E8M0, the sub-byte F4/F6 types, complex)
/// are refused as unknown.
enum class safetensors_dtype : std::uint8_t {
    boolean, u8, i8, f8_e5m2, f8_e4m3, i16, u16, f16, bf16, i32, u32, f32, i64, u64, f64,
};

namespace safetensors_detail {

struct dtype_info {
    safetensors_dtype dtype;
    std::string_view name;
    std::size_t size;
};

inline constexpr dtype_info dtypes[] = {
    {safetensors_dtype::boolean, "BOOL", 1}, {safetensors_dtype::u8, "U8", 1},
    {safetensors_dtype::i8, "I8", 1},        {safetensors_dtype::f8_e5m2, "F8_E5M2", 1},
    {safetensors_dtype::f8_e4m3, "F8_E4M3", 1}, {safetensors_dtype::i16, "I16", 2},
    {safetensors_dtype::u16, "U16", 2},      {safetensors_dtype::f16, "F16", 2},
    {safetensors_dtype::bf16, "BF16", 2},    {safetensors_dtype::i32, "I32", 4},
    {safetensors_dtype::u32, "U32", 4},      {safetensors_dtype::f32, "F32", 4},
    {safetensors_dtype::i64, "I64", 8},      {safetensors_dtype::u64, "U64", 8},
    {safetensors_dtype::f64, "F64", 8},
};

/// The bytes of a tensor of that shape and element size, or nullopt if the count overflows.
inline std::optional<std::size_t> tensor_bytes(std::span<const std::size_t> shape, std::size_t element_size) {
    std::size_t bytes = element_size;
    for (std::size_t n : shape) {
        if (n != 0 && bytes > std::numeric_limits<std::size_t>::max() / n) return std::nullopt;
        bytes *= n;
    }
    return bytes;
}

}  // namespace safetensors_detail

/// Its name in the file: "BF16", "U8", ...
inline std::string_view dtype_name(safetensors_dtype dtype) {
    return safetensors_detail::dtypes[static_cast<std::size_t>(dtype)].name;
}

/// Bytes per element.
inline std::size_t dtype_size(safetensors_dtype dtype) {
    return safetensors_detail::dtypes[static_cast<std::size_t>(dtype)].size;
}

/// The dtype of that name, or nullopt.
inline std::optional<safetensors_dtype> dtype_from_name(std::string_view name) {
    for (const auto& d : safetensors_detail::dtypes) {
        if (d.name == name) return d.dtype;
    }
    return std::nullopt;
}

struct safetensors_tensor {
    std::string name;
    safetensors_dtype dtype = safetensors_dtype::u8;
    std::vector<std::size_t> shape;      // row-major; empty for a scalar
    std::uint64_t begin = 0, end = 0;    // data_offsets, from the start of the data (byte 8 + N)
    std::span<const std::uint8_t> data;  // its bytes, a view into the buffer given to parse
};

class safetensors_file {
public:
    /// Headers longer than this are refused (the limit of the reference implementation).
    static constexpr std::uint64_t max_header_bytes = 100'000'000;

    /// Parses a whole file in memory. Nothing is copied: each tensor's data is a view into
    /// bytes, which must outlive the object. `name` names the file in errors.
    static safetensors_file parse(std::span<const std::uint8_t> bytes, std::string name) {
        safetensors_file file;
        file.name_ = std::move(name);
        byte_reader in(bytes.data(), bytes.size(), file.name_);
        const std::uint64_t header_size = in.read<std::uint64_t>("the header length");
        if (header_size > max_header_bytes) {
            file.fail(0, "header length ", header_size, " exceeds the limit of ", max_header_bytes, " bytes");
        }
        if (header_size > in.remaining()) {
            file.fail(0, "header length ", header_size, " exceeds the file (", in.remaining(), " bytes follow it)");
        }
        const auto* text = reinterpret_cast<const char*>(in.take(static_cast<std::size_t>(header_size), "the header"));
        const json_value header = json_value::parse({text, static_cast<std::size_t>(header_size)}, file.name_, 8);
        if (!header.is_object()) file.fail(8, "the header is not a JSON object");
        file.data_offset_ = in.offset();
        const std::span<const std::uint8_t> data = bytes.subspan(file.data_offset_);
        for (const json_value& entry : header.members()) {
            if (entry.key() == "__metadata__") {
                file.read_metadata(entry);
            } else {
                file.tensors_.push_back(file.read_tensor(entry, data));
            }
        }
        file.check_overlaps();
        file.by_name_.resize(file.tensors_.size());
        for (std::size_t i = 0; i < file.by_name_.size(); ++i) file.by_name_[i] = i;
        std::sort(file.by_name_.begin(), file.by_name_.end(),
                  [&](std::size_t a, std::size_t b) { return file.tensors_[a].name < file.tensors_[b].name; });
        return file;
    }
    /// A temporary buffer would die before the views into it.
    static safetensors_file parse(std::vector<std::uint8_t>&&, std::string) = delete;

    const std::string& name() const noexcept { return name_; }
    /// Where the data starts: 8 + the header length.
    std::size_t data_offset() const noexcept { return data_offset_; }
    /// "__metadata__", in file order (empty if absent).
    const std::vector<std::pair<std::string, std::string>>& metadata() const noexcept { return metadata_; }
    /// The tensors in file (header) order.
    const std::vector<safetensors_tensor>& tensors() const noexcept { return tensors_; }

    /// The metadata value of key, or null.
    const std::string* find_metadata(std::string_view key) const {
        for (const auto& [k, v] : metadata_) {
            if (k == key) return &v;
        }
        return nullptr;
    }

    /// The tensor of that name, or null.
    const safetensors_tensor* find(std::string_view tensor_name) const {
        const auto it = std::lower_bound(by_name_.begin(), by_name_.end(), tensor_name,
                                         [&](std::size_t i, std::string_view n) { return tensors_[i].name < n; });
        if (it == by_name_.end() || tensors_[*it].name != tensor_name) return nullptr;
        return &tensors_[*it];
    }
    /// The tensor of that name; format_error naming it if there is none.
    const safetensors_tensor& at(std::string_view tensor_name) const {
        const safetensors_tensor* t = find(tensor_name);
        if (t == nullptr) ternary::detail::fail<format_error>(name_.c_str(), "no tensor '", tensor_name, "'");
        return *t;
    }

private:
    template <class... Parts>
    [[noreturn]] void fail(std::size_t offset, const Parts&... parts) const {
        ternary::detail::fail<format_error>(name_.c_str(), parts..., " (at offset ", offset, ")");
    }

    void read_metadata(const json_value& entry) {
        if (!entry.is_object()) fail(entry.offset(), "__metadata__ is not an object");
        for (const json_value& m : entry.members()) {
            if (!m.is_string()) fail(m.offset(), "__metadata__ '", m.key(), "' is not a string");
            metadata_.emplace_back(m.key(), m.as_string());
        }
    }

    safetensors_tensor read_tensor(const json_value& entry, std::span<const std::uint8_t> data) const {
        safetensors_tensor t;
        t.name = entry.key();
        if (!entry.is_object()) fail(entry.offset(), "tensor '", t.name, "' is not an object");
        const auto field = [&](std::string_view key, json_kind kind) -> const json_value& {
            const json_value* v = entry.find(key);
            if (v == nullptr) fail(entry.offset(), "tensor '", t.name, "' has no '", key, "'");
            if (v->kind() != kind) fail(v->offset(), "tensor '", t.name, "': '", key, "' has the wrong type");
            return *v;
        };
        const json_value& dtype = field("dtype", json_kind::string);
        const auto known = dtype_from_name(dtype.as_string());
        if (!known) fail(dtype.offset(), "tensor '", t.name, "' has unknown dtype '", dtype.as_string(), "'");
        t.dtype = *known;

        for (const json_value& n : field("shape", json_kind::array).as_array()) {
            if (!n.is_integer() || !std::in_range<std::size_t>(n.as_int())) {
                fail(n.offset(), "tensor '", t.name, "': a shape dimension is not a non-negative integer");
            }
            t.shape.push_back(n.as_int<std::size_t>());
        }
        const auto expected = safetensors_detail::tensor_bytes(t.shape, dtype_size(t.dtype));
        if (!expected) fail(entry.offset(), "tensor '", t.name, "': the shape has too many elements");

        const json_value& offsets = field("data_offsets", json_kind::array);
        const auto offset_at = [&](std::size_t i) {
            const json_value& o = offsets.as_array()[i];
            if (!o.is_integer() || o.as_int() < 0) {
                fail(o.offset(), "tensor '", t.name, "': an offset is not a non-negative integer");
            }
            return static_cast<std::uint64_t>(o.as_int());
        };
        if (offsets.size() != 2) fail(offsets.offset(), "tensor '", t.name, "': data_offsets must be [begin, end]");
        t.begin = offset_at(0);
        t.end = offset_at(1);
        if (t.end < t.begin) {
            fail(offsets.offset(), "tensor '", t.name, "': data_offsets [", t.begin, ", ", t.end, ") end before they begin");
        }
        if (t.end > data.size()) {
            fail(offsets.offset(), "tensor '", t.name, "': data_offsets [", t.begin, ", ", t.end,
                 ") run past the end of the data (", data.size(), " bytes)");
        }
        if (t.end - t.begin != *expected) {
            fail(offsets.offset(), "tensor '", t.name, "': data_offsets [", t.begin, ", ", t.end, ") hold ",
                 t.end - t.begin, " bytes, its dtype and shape need ", *expected);
        }
        t.data = data.subspan(static_cast<std::size_t>(t.begin), static_cast<std::size_t>(t.end - t.begin));
        return t;
    }

    /// No byte belongs to two tensors (gaps are allowed; empty tensors take no bytes).
    void check_overlaps() const {
        std::vector<const safetensors_tensor*> order;
        for (const auto& t : tensors_) {
            if (t.begin != t.end) order.push_back(&t);
        }
        std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) { return a->begin < b->begin; });
        for (std::size_t i = 1; i < order.size(); ++i) {
            const auto& a = *order[i - 1];
            const auto& b = *order[i];
            if (b.begin < a.end) {
                fail(data_offset_, "tensors '", a.name, "' [", a.begin, ", ", a.end, ") and '", b.name, "' [", b.begin,
                     ", ", b.end, ") overlap");
            }
        }
    }

    std::string name_;
    std::size_t data_offset_ = 0;
    std::vector<std::pair<std::string, std::string>> metadata_;
    std::vector<safetensors_tensor> tensors_;
    std::vector<std::size_t> by_name_;  // indices into tensors_, sorted by name
};

/// Builds a safetensors file in memory, laid out as the reference implementation writes it:
/// compact header JSON ("__metadata__" first, then the tensors in the order added), padded with
/// spaces so the data starts 8-byte aligned, then the tensors' data back to back.
class safetensors_writer {
public:
    /// A tensor; data (copied) must have exactly the size dtype and shape imply. value_error for
    /// a wrong size, a name already added, the reserved name "__metadata__" or invalid UTF-8.
    void add(std::string name, safetensors_dtype dtype, std::vector<std::size_t> shape,
             std::span<const std::uint8_t> data) {
        if (name == "__metadata__") fail("'__metadata__' is reserved");
        for (const auto& t : tensors_) {
            if (t.name == name) fail("tensor '", name, "' added twice");
        }
        const auto expected = safetensors_detail::tensor_bytes(shape, dtype_size(dtype));
        if (!expected || *expected != data.size()) {
            fail("tensor '", name, "' of dtype ", dtype_name(dtype), " and its shape needs ", expected.value_or(0),
                 " bytes, got ", data.size());
        }
        json_quote(name);  // refuses invalid UTF-8 now rather than in bytes()
        tensors_.push_back({std::move(name), dtype, std::move(shape), {data.begin(), data.end()}});
    }

    /// A "__metadata__" entry. value_error for a key already set or invalid UTF-8.
    void metadata(std::string key, std::string value) {
        for (const auto& [k, v] : metadata_) {
            if (k == key) fail("metadata '", key, "' set twice");
        }
        json_quote(key);
        json_quote(value);
        metadata_.emplace_back(std::move(key), std::move(value));
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
        std::string header = "{";
        if (!metadata_.empty()) {
            header += "\"__metadata__\":{";
            for (std::size_t i = 0; i < metadata_.size(); ++i) {
                if (i != 0) header += ',';
                header += json_quote(metadata_[i].first) + ':' + json_quote(metadata_[i].second);
            }
            header += '}';
        }
        std::size_t offset = 0;
        for (const auto& t : tensors_) {
            if (header.size() > 1) header += ',';
            header += json_quote(t.name) + ":{\"dtype\":\"" + std::string(dtype_name(t.dtype)) + "\",\"shape\":[";
            for (std::size_t i = 0; i < t.shape.size(); ++i) {
                if (i != 0) header += ',';
                header += std::to_string(t.shape[i]);
            }
            header += "],\"data_offsets\":[" + std::to_string(offset) + ',';
            header += std::to_string(offset + t.data.size()) + "]}";
            offset += t.data.size();
        }
        header += '}';
        header.resize((header.size() + 7) / 8 * 8, ' ');

        std::uint8_t length[8];
        for (int i = 0; i < 8; ++i) length[i] = static_cast<std::uint8_t>(std::uint64_t{header.size()} >> (8 * i));
        sink(static_cast<const std::uint8_t*>(length), std::size_t{8});
        sink(reinterpret_cast<const std::uint8_t*>(header.data()), header.size());
        for (const auto& t : tensors_) {
            if (!t.data.empty()) sink(t.data.data(), t.data.size());
        }
    }

private:
    template <class... Parts>
    [[noreturn]] static void fail(const Parts&... parts) {
        ternary::detail::fail<value_error>("safetensors_writer", parts...);
    }

    struct tensor {
        std::string name;
        safetensors_dtype dtype;
        std::vector<std::size_t> shape;
        std::vector<std::uint8_t> data;
    };

    std::vector<std::pair<std::string, std::string>> metadata_;
    std::vector<tensor> tensors_;
};

/// The weight map of a sharded checkpoint's model.safetensors.index.json
/// ({"weight_map": {tensor name: shard file}}): tensor name -> shard file name. Each shard must
/// be a plain file name (no directory part, not "." or ".."), to be found next to the index.
inline std::map<std::string, std::string, std::less<>> parse_safetensors_index(std::string_view text,
                                                                                const std::string& name) {
    const json_value index = json_value::parse(text, name);
    if (!index.is_object()) ternary::detail::fail<format_error>(name.c_str(), "the index is not a JSON object");
    std::map<std::string, std::string, std::less<>> files;
    for (const json_value& entry : index.at("weight_map").members()) {
        const std::string& file = entry.as_string();
        if (file.empty() || file == "." || file == ".." || file.find_first_of("/\\") != std::string::npos) {
            ternary::detail::fail<format_error>(name.c_str(), "tensor '", entry.key(), "' is in '", file,
                                                "', not a plain file name (at offset ", entry.offset(), ")");
        }
        files.emplace(entry.key(), file);
    }
    return files;
}

}  // namespace ternary::inline TERNARY_ABI::io
