#pragma once
// Reading whole files and little-endian values from them, with every read bounds-checked.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"

namespace ternary::inline TERNARY_ABI::io {

/// The bytes of a file; throws ternary::error if it cannot be read.
inline std::vector<std::uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) ternary::detail::fail<error>("read_file", "cannot open '", path, "'");
    const std::streamoff size = in.tellg();
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    in.seekg(0);
    if (!in.read(reinterpret_cast<char*>(bytes.data()), size)) ternary::detail::fail<error>("read_file", "cannot read '", path, "'");
    return bytes;
}

/// A cursor over a byte buffer: each read checks that the bytes exist (format_error if not).
class byte_reader {
public:
    byte_reader(const std::uint8_t* data, std::size_t size, std::string name)
        : data_(data), size_(size), name_(std::move(name)) {}

    std::size_t offset() const noexcept { return offset_; }
    std::size_t remaining() const noexcept { return size_ - offset_; }
    const std::string& name() const noexcept { return name_; }

    /// n bytes, or format_error naming what was being read.
    const std::uint8_t* take(std::size_t n, const char* what) {
        if (n > remaining()) {
            ternary::detail::fail<format_error>(name_.c_str(), "truncated: ", what, " needs ", n, " bytes at offset ", offset_,
                                       ", only ", remaining(), " left");
        }
        const std::uint8_t* p = data_ + offset_;
        offset_ += n;
        return p;
    }

    template <class T>
    T read(const char* what) {
        T value;
        std::memcpy(&value, take(sizeof(T), what), sizeof(T));  // the files are little-endian, as is every target
        return value;
    }

    std::vector<float> floats(std::size_t n, const char* what) {
        std::vector<float> values(n);
        if (n != 0) std::memcpy(values.data(), take(n * sizeof(float), what), n * sizeof(float));
        return values;
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t offset_ = 0;
    std::string name_;
};

}  // namespace ternary::inline TERNARY_ABI::io
