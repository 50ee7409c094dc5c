#pragma once
// The state of one sequence (one conversation, one stream of tokens) apart from the model's
// weights: its KV cache and how many positions it holds. A transformer's weights are read-only
// and shared; any number of sequences run on them, alone or together in one batched forward
// pass (transformer::forward with sequence_step). A sequence can be reset, rewound, copied to
// fork a shared prompt, and dropped; its cache grows with the positions it uses, within an
// optional kv_budget shared by many sequences so that their memory together stays bounded.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "config.hpp"

namespace ternary::inline TERNARY_ABI::bitnet {

/// How many KV cache positions all the sequences that share it may hold together (each
/// position costs n_layers x 2 x kv_dim floats). A sequence takes positions from it as its
/// cache grows and gives them back when reset, rewound or dropped; growing past the limit
/// throws capacity_error. Safe to share across threads.
class kv_budget {
public:
    explicit kv_budget(std::size_t positions) : limit_(positions) {}
    kv_budget(const kv_budget&) = delete;
    kv_budget& operator=(const kv_budget&) = delete;

    std::size_t limit() const noexcept { return limit_; }
    std::size_t used() const noexcept { return used_.load(std::memory_order_relaxed); }
    std::size_t available() const noexcept { return limit_ - used(); }

    /// Takes n positions if that many are left; returns whether it did.
    bool try_take(std::size_t n) noexcept {
        std::size_t used = used_.load(std::memory_order_relaxed);
        do {
            if (n > limit_ - used) return false;
        } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
        return true;
    }
    void give_back(std::size_t n) noexcept { used_.fetch_sub(n, std::memory_order_relaxed); }

private:
    const std::size_t limit_;
    std::atomic<std::size_t> used_{0};
};

/// One sequence's KV cache: for each layer the keys after RoPE, in blocks of 64 positions,
/// each block a dimension at a time (kv_dim rows of 64 floats: a head's scores read each
/// dimension's positions side by side, and one block of one kv head is 32 KiB in one piece), and
/// the values a position at a time (capacity x kv_dim). Positions 0 .. position()-1 hold the
/// tokens fed so far. Made for one model configuration; the transformer checks that it fits.
class sequence {
public:
    /// An empty sequence for models of configuration c, its cache growing within `budget` (no
    /// limit but the context when null).
    explicit sequence(const model_config& c, std::shared_ptr<kv_budget> budget = nullptr)
        : layers_(c.n_layers), kv_dim_(c.kv_dim()), context_(c.seq_len), budget_(std::move(budget)),
          keys_(c.n_layers), values_(c.n_layers) {}

    /// A fork: the same positions, in a cache of its own taken from the same budget
    /// (capacity_error if it has no room), to continue differently from a shared prompt.
    sequence(const sequence& other)
        : layers_(other.layers_), kv_dim_(other.kv_dim_), context_(other.context_), budget_(other.budget_),
          keys_(other.layers_), values_(other.layers_) {
        grow_to(other.position_, other.position_);
        for (std::size_t l = 0; l < layers_; ++l) {
            std::copy_n(other.keys_[l].data(), key_floats(other.position_), keys_[l].data());
            std::copy_n(other.values(l), other.position_ * kv_dim_, values(l));
        }
        position_ = other.position_;
    }
    sequence(sequence&& other) noexcept { swap(other); }
    sequence& operator=(sequence other) noexcept {
        swap(other);
        return *this;
    }
    ~sequence() { release(); }

    void swap(sequence& other) noexcept {
        std::swap(layers_, other.layers_);
        std::swap(kv_dim_, other.kv_dim_);
        std::swap(context_, other.context_);
        std::swap(budget_, other.budget_);
        std::swap(keys_, other.keys_);
        std::swap(values_, other.values_);
        std::swap(capacity_, other.capacity_);
        std::swap(position_, other.position_);
    }

    /// Positions held: the next token fed goes to this position.
    std::size_t position() const noexcept { return position_; }
    /// Positions the cache has room for (taken from the budget).
    std::size_t capacity() const noexcept { return capacity_; }
    /// The longest the sequence may grow: the model's context.
    std::size_t context() const noexcept { return context_; }
    const std::shared_ptr<kv_budget>& budget() const noexcept { return budget_; }
    /// The bytes its cache holds.
    std::size_t cache_bytes() const noexcept { return capacity_ * bytes_per_position(); }
    std::size_t bytes_per_position() const noexcept { return layers_ * 2 * kv_dim_ * sizeof(float); }

    /// Forgets every position and gives the cache's memory back.
    void reset() noexcept {
        release();
        position_ = 0;
    }
    /// Forgets the positions from `position` on (to regenerate from there); the memory stays.
    void rewind(std::size_t position) {
        if (position > position_) {
            ternary::detail::fail<value_error>("sequence", "cannot rewind to position ", position, ": it holds only ",
                                               position_);
        }
        position_ = position;
    }

    // For the model's forward pass. -------------------------------------------------------

    /// True when the sequence was made for models shaped like c.
    bool fits(const model_config& c) const noexcept {
        return layers_ == c.n_layers && kv_dim_ == c.kv_dim() && context_ == c.seq_len;
    }
    /// Makes room for `positions` positions (at most the context): the cache grows, doubling
    /// where the budget allows so that growing costs amortized constant time per position.
    /// capacity_error when the budget cannot give what is needed; nothing changes then.
    void reserve(std::size_t positions) {
        if (positions > context_) {
            ternary::detail::fail<value_error>("sequence", positions, " positions exceed the context of ", context_);
        }
        if (positions <= capacity_) return;
        grow_to(positions, std::min(context_, std::max({positions, 2 * capacity_, std::size_t{16}})));
    }
    /// Records that positions up to `position` now hold tokens (the forward pass wrote them).
    void advance_to(std::size_t position) noexcept { position_ = position; }

    /// Positions per block of keys.
    static constexpr std::size_t key_block = 64;
    /// Layer l's keys of positions [b * key_block, (b + 1) * key_block): kv_dim rows of
    /// key_block floats, dimension d of position b * key_block + j at [d * key_block + j]. (With
    /// each dimension's row over the whole capacity instead, the 128 rows a head's scores read
    /// at once lay a page or more apart: long contexts decoded at a third of this speed.)
    float* keys(std::size_t l, std::size_t b) noexcept { return keys_[l].data() + b * kv_dim_ * key_block; }
    const float* keys(std::size_t l, std::size_t b) const noexcept { return keys_[l].data() + b * kv_dim_ * key_block; }
    /// Layer l's values, capacity() x kv_dim: position p's at [p * kv_dim].
    float* values(std::size_t l) noexcept { return values_[l].data(); }
    const float* values(std::size_t l) const noexcept { return values_[l].data(); }

private:
    sequence() = default;

    /// Grows the cache to `wanted` positions, or to `needed` if the budget has no room for
    /// more; capacity_error if not even that.
    void grow_to(std::size_t needed, std::size_t wanted) {
        std::size_t capacity = wanted;
        if (budget_ && capacity > capacity_ && !budget_->try_take(capacity - capacity_)) {
            capacity = std::max(needed, capacity_);
            if (capacity > capacity_ && !budget_->try_take(capacity - capacity_)) {
                ternary::detail::fail<capacity_error>(
                    "sequence", "the KV cache budget of ", budget_->limit(), " positions has ", budget_->available(),
                    " left; this sequence needs ", capacity - capacity_, " more (", needed, " positions)");
            }
        }
        if (capacity <= capacity_) return;
        // The new cache is allocated whole before anything moves: out of memory leaves the
        // sequence as it was.
        std::vector<std::vector<float>> keys(layers_), values(layers_);
        try {
            for (std::size_t l = 0; l < layers_; ++l) {
                keys[l].resize(key_floats(capacity));
                values[l].resize(capacity * kv_dim_);
            }
        } catch (...) {
            if (budget_) budget_->give_back(capacity - capacity_);
            throw;
        }
        for (std::size_t l = 0; l < layers_; ++l) {
            std::copy_n(keys_[l].data(), key_floats(position_), keys[l].data());
            std::copy_n(values_[l].data(), position_ * kv_dim_, values[l].data());
        }
        keys_ = std::move(keys);
        values_ = std::move(values);
        capacity_ = capacity;
    }

    /// The floats of a layer's keys for `positions` positions: whole blocks.
    std::size_t key_floats(std::size_t positions) const noexcept {
        return (positions + key_block - 1) / key_block * key_block * kv_dim_;
    }

    void release() noexcept {
        if (budget_) budget_->give_back(capacity_);
        for (auto& k : keys_) std::vector<float>().swap(k);
        for (auto& v : values_) std::vector<float>().swap(v);
        capacity_ = 0;
    }

    std::size_t layers_ = 0, kv_dim_ = 0, context_ = 0;
    std::shared_ptr<kv_budget> budget_;
    std::vector<std::vector<float>> keys_;    // per layer (blocks, kv_dim, key_block)
    std::vector<std::vector<float>> values_;  // per layer (capacity_, kv_dim)
    std::size_t capacity_ = 0;
    std::size_t position_ = 0;
};

}  // namespace ternary::inline TERNARY_ABI::bitnet
