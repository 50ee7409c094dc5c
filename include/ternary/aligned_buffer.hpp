#pragma once
// Owning, zero-initialised storage aligned to 64 bytes (one cache line, one AVX-512 register).

#include "config.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

namespace ternary::inline TERNARY_ABI {

inline constexpr std::size_t storage_alignment = 64;

/// Rounds n up to a multiple of `multiple` (> 0).
constexpr std::size_t round_up(std::size_t n, std::size_t multiple) {
    return (n + multiple - 1) / multiple * multiple;
}

/// Asks aligned_buffer for storage its owner will overwrite whole before reading (no zero
/// fill: for hundreds of megabytes at load, the fill costs as much as the work).
struct uninitialized_t {
    explicit uninitialized_t() = default;
};
inline constexpr uninitialized_t uninitialized{};

template <class T>
class aligned_buffer {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_default_constructible_v<T>,
                  "aligned_buffer holds plain numbers only");

public:
    aligned_buffer() = default;

    /// n elements, all bits zero.
    explicit aligned_buffer(std::size_t n) : aligned_buffer(n, uninitialized) {
        if (n != 0) std::memset(static_cast<void*>(data_), 0, round_up(n * sizeof(T), storage_alignment));
    }

    /// n elements of unspecified value: the caller writes every one before any is read.
    aligned_buffer(std::size_t n, uninitialized_t) : size_(n) {
        if (n == 0) return;
        if (n > max_elements()) throw std::bad_array_new_length();
        const std::size_t bytes = round_up(n * sizeof(T), storage_alignment);
        data_ = static_cast<T*>(::operator new(bytes, std::align_val_t{storage_alignment}));
    }

    aligned_buffer(const aligned_buffer& other) : aligned_buffer(other.size_) {
        if (size_ != 0) std::memcpy(static_cast<void*>(data_), other.data_, size_ * sizeof(T));
    }
    aligned_buffer(aligned_buffer&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
    aligned_buffer& operator=(aligned_buffer other) noexcept {
        std::swap(data_, other.data_);
        std::swap(size_, other.size_);
        return *this;
    }
    ~aligned_buffer() {
        if (data_ != nullptr) ::operator delete(data_, std::align_val_t{storage_alignment});
    }

    T* data() noexcept { return data_; }
    const T* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    std::span<T> span() noexcept { return {data_, size_}; }
    std::span<const T> span() const noexcept { return {data_, size_}; }

private:
    static constexpr std::size_t max_elements() {
        return (static_cast<std::size_t>(-1) - storage_alignment) / sizeof(T);
    }

    T* data_ = nullptr;
    std::size_t size_ = 0;
};

/// A per-thread buffer of at least count elements that only grows, one per element type:
/// products reuse it, so they allocate nothing once warmed up. Valid until the same thread asks
/// again for the same type.
template <class T>
T* per_thread_scratch(std::size_t count) {
    thread_local aligned_buffer<T> buffer;
    if (buffer.size() < count) buffer = aligned_buffer<T>(count);
    return buffer.data();
}

}  // namespace ternary::inline TERNARY_ABI
