#pragma once
// A file mapped read-only into memory: its pages are read from the page cache when touched and
// shared with every other process mapping it, so a model's stored weights (the f16 embedding of
// 2B4T is 657 MB) cost no copy. Where mmap is unavailable the file is read into memory instead.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "file.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define TERNARY_HAS_MMAP 1
#endif

namespace ternary::inline TERNARY_ABI::io {

class mapped_file {
public:
    /// Maps the file at path; throws ternary::error if it cannot be opened or mapped.
    static std::shared_ptr<const mapped_file> open(const std::string& path) {
        return std::shared_ptr<const mapped_file>(new mapped_file(path));
    }

    /// Bytes already in memory (a test's file image), held by the object.
    static std::shared_ptr<const mapped_file> from_bytes(std::vector<std::uint8_t> bytes, std::string name) {
        auto file = std::shared_ptr<mapped_file>(new mapped_file());
        file->copy_ = std::move(bytes);
        file->bytes_ = file->copy_;
        file->name_ = std::move(name);
        return file;
    }

    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    ~mapped_file() {
#if TERNARY_HAS_MMAP
        if (mapping_ != nullptr) munmap(mapping_, bytes_.size());
#endif
    }

    std::span<const std::uint8_t> bytes() const noexcept { return bytes_; }
    const std::string& name() const noexcept { return name_; }
    bool is_mapped() const noexcept { return mapping_ != nullptr; }

    /// Says that the pages of `part` (a range of bytes()) will not be needed again soon, so they
    /// leave this process's resident memory (they are read back from the file if touched).
    /// Used after weights were repacked into another layout.
    void release(std::span<const std::uint8_t> part) const noexcept {
#if TERNARY_HAS_MMAP
        if (mapping_ == nullptr || part.empty()) return;
        const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
        const auto begin = (reinterpret_cast<std::uintptr_t>(part.data()) + page - 1) / page * page;
        const auto end = (reinterpret_cast<std::uintptr_t>(part.data()) + part.size()) / page * page;
        if (begin < end) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
#else
        (void)part;
#endif
    }

private:
    mapped_file() = default;

    explicit mapped_file(const std::string& path) : name_(path) {
#if TERNARY_HAS_MMAP
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) ternary::detail::fail<error>("mapped_file", "cannot open '", path, "'");
        struct stat info {};
        if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
            ::close(fd);
            ternary::detail::fail<error>("mapped_file", "'", path, "' is not a regular file");
        }
        const auto size = static_cast<std::size_t>(info.st_size);
        if (size != 0) {
            void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                ::close(fd);
                ternary::detail::fail<error>("mapped_file", "cannot map '", path, "'");
            }
            mapping_ = p;
            bytes_ = {static_cast<const std::uint8_t*>(p), size};
        }
        ::close(fd);  // the mapping stays valid
#else
        copy_ = read_file(path);
        bytes_ = copy_;
#endif
    }

    std::span<const std::uint8_t> bytes_;
    void* mapping_ = nullptr;
    std::vector<std::uint8_t> copy_;
    std::string name_;
};

}  // namespace ternary::inline TERNARY_ABI::io
