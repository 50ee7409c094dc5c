// ternary-server's engine: continuous batching. One thread runs the model; up to `parallel`
// requests decode together, each in its own bitnet::sequence on the one shared model. Every
// step is one batched forward pass: each active request adds its next token, or the next
// chunk of its prompt, so a new request joins the running batch at the next step and the
// others keep decoding while its prompt is prefilled. A finished or cancelled request leaves
// at once and frees its cache. The KV caches of all requests together stay within the
// --ctx-size budget: a request reserves what it may need when it starts, and waits in the
// queue while that is not free. Batching changes no result: each sequence's logits are those
// it has alone (bitnet/model.hpp).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <ternary/bitnet/model.hpp>
#include <ternary/bitnet/sampler.hpp>
#include <ternary/bitnet/sequence.hpp>
#include <ternary/tokenizer/tokenizer.hpp>

#include "request.hpp"

namespace server {

using clock_type = std::chrono::steady_clock;

/// One request in the engine: what to generate, and the text as it comes. The HTTP thread
/// that owns the request waits on it; the engine thread fills it.
struct job {
    // Set before submit().
    std::vector<std::size_t> prompt;  // ids, BOS and template included
    std::size_t max_tokens = 0;       // tokens to sample at most
    ternary::bitnet::sampler_options sampling;
    std::vector<std::string> stop;    // stop strings: the text ends before the first one

    /// Set by the client's side to drop the request (a client that disconnected).
    std::atomic<bool> cancelled{false};

    // Filled by the engine, under `mutex`.
    std::mutex mutex;
    std::condition_variable changed;
    std::string text;           // generated text not yet taken by the HTTP thread
    bool finished = false;
    std::string finish_reason;  // "stop" or "length"; empty with an error
    std::string error;          // why the engine failed the request
    std::size_t completion_tokens = 0;
    clock_type::time_point submitted = clock_type::now(), first_token{};

    /// Waits up to `timeout` for new text or the end; returns the text so far (taken).
    std::string take(std::chrono::milliseconds timeout, bool& done) {
        std::unique_lock lock(mutex);
        changed.wait_for(lock, timeout, [&] { return finished || !text.empty(); });
        done = finished && text.empty();
        return std::exchange(text, {});
    }
};

struct engine_options {
    std::size_t parallel = 4;       // requests decoding together
    std::size_t ctx_size = 0;       // KV cache positions of all requests together
    std::size_t queue_limit = 64;   // requests waiting for a slot; more get 503
    std::size_t prefill_chunk = 256; // prompt tokens a request adds per step (the others wait that long)
};

template <class Model>
class engine {
public:
    engine(const Model& model, const ternary::tokenizer::any_tokenizer& tokenizer, engine_options o)
        : model_(model), tokenizer_(tokenizer), options_(o),
          budget_(std::make_shared<ternary::bitnet::kv_budget>(o.ctx_size)) {
        thread_ = std::thread([this] { loop(); });
    }
    engine(const engine&) = delete;
    engine& operator=(const engine&) = delete;
    ~engine() {
        stop();
        thread_.join();
    }

    /// Ends every request, running or waiting, with an error ("the server is shutting down"),
    /// and takes no more: a request submitted afterwards waits for nothing.
    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
    }

    /// Positions one request may use at most: the model's context, or the whole budget.
    std::size_t context() const { return std::min(model_.config().seq_len, options_.ctx_size); }

    /// Queues a request; api_error 503 when the queue is full.
    void submit(std::shared_ptr<job> j) {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) throw api_error(503, "the server is shutting down", "", "shutting_down", "server_error");
            if (waiting_.size() >= options_.queue_limit) {
                throw api_error(503, "the server is busy: " + std::to_string(waiting_.size()) +
                                         " requests are waiting already; retry later", "", "server_busy", "server_error");
            }
            waiting_.push_back(std::move(j));
        }
        wake_.notify_all();
    }

    std::size_t active() const {
        std::lock_guard lock(mutex_);
        return active_count_;
    }
    std::size_t waiting() const {
        std::lock_guard lock(mutex_);
        return waiting_.size();
    }

private:
    struct slot {
        slot(std::shared_ptr<job> j, ternary::bitnet::sequence s, const ternary::tokenizer::any_tokenizer& tokenizer)
            : request(std::move(j)), seq(std::move(s)), pick(request->sampling), decoder(tokenizer, false) {}

        std::shared_ptr<job> request;
        ternary::bitnet::sequence seq;
        ternary::bitnet::sampler pick;
        ternary::tokenizer::streaming_decoder<ternary::tokenizer::any_tokenizer> decoder;
        std::size_t fed = 0;            // prompt tokens fed so far
        std::size_t next_token = 0;     // the last sampled token, fed at the next step
        std::size_t sampled = 0;
        std::string text;               // all text generated, stop strings not yet cut
        std::size_t emitted = 0;        // bytes of text handed to the request
    };

    void loop() {
        ternary::bitnet::workspace work;
        std::vector<std::unique_ptr<slot>> slots;
        for (;;) {
            admit(slots);
            if (slots.empty()) {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
                if (stopping_) break;
                continue;
            }
            {
                std::lock_guard lock(mutex_);
                if (stopping_) break;
            }
            step(slots, work);
        }
        for (auto& s : slots) finish(*s, "", "the server is shutting down");
        std::lock_guard lock(mutex_);
        for (auto& j : waiting_) fail(*j, "the server is shutting down");
        waiting_.clear();
    }

    /// Moves waiting requests into free slots while their caches fit the budget.
    void admit(std::vector<std::unique_ptr<slot>>& slots) {
        std::unique_lock lock(mutex_);
        while (!waiting_.empty() && slots.size() < options_.parallel) {
            std::shared_ptr<job> j = waiting_.front();
            if (j->cancelled) {
                waiting_.pop_front();
                fail(*j, "cancelled");
                continue;
            }
            ternary::bitnet::sequence seq = model_.new_sequence(budget_);
            try {
                // The last sampled token is never fed: prompt + max_tokens - 1 positions at most.
                seq.reserve(j->prompt.size() + j->max_tokens - 1);
            } catch (const ternary::capacity_error&) {
                if (!slots.empty()) break;  // it fits once others finish
                waiting_.pop_front();
                fail(*j, "the request needs more KV cache than the whole --ctx-size");
                continue;
            }
            waiting_.pop_front();
            auto s = std::make_unique<slot>(j, std::move(seq), tokenizer_);
            // The decoder sees the prompt first, so that the first generated piece is decoded
            // in context (a SentencePiece leading space, say) as ternary-generate decodes it.
            for (std::size_t id : j->prompt) (void)s->decoder.push(id);
            slots.push_back(std::move(s));
        }
        active_count_ = slots.size();
    }

    /// One batched forward pass over every active request, then each samples its next token.
    void step(std::vector<std::unique_ptr<slot>>& slots, ternary::bitnet::workspace& work) {
        std::erase_if(slots, [&](const std::unique_ptr<slot>& s) {
            if (!s->request->cancelled) return false;
            finish(*s, "", "cancelled");
            return true;
        });
        if (slots.empty()) return;
        std::vector<ternary::bitnet::sequence_step> batch;
        batch.reserve(slots.size());
        for (auto& s : slots) {
            const std::size_t remaining = s->request->prompt.size() - s->fed;
            if (remaining > 0) {
                const std::size_t n = std::min(remaining, options_.prefill_chunk);
                batch.push_back({s->seq, std::span(s->request->prompt).subspan(s->fed, n)});
                s->fed += n;
            } else {
                batch.push_back({s->seq, std::span(&s->next_token, 1)});
            }
        }
        std::span<const float> logits;
        try {
            logits = model_.forward(std::span<const ternary::bitnet::sequence_step>(batch), work);
        } catch (const std::exception& e) {
            for (auto& s : slots) finish(*s, "", std::string("the model failed: ") + e.what());
            slots.clear();
            return;
        }
        const std::size_t vocab = model_.config().vocab_size;
        for (std::size_t i = 0; i < slots.size(); ++i) {
            slot& s = *slots[i];
            if (s.fed < s.request->prompt.size()) continue;  // prompt not done: no token yet
            const std::size_t id = s.pick.sample(logits.subspan(i * vocab, vocab));
            ++s.sampled;
            if (s.sampled == 1) {
                std::lock_guard lock(s.request->mutex);
                s.request->first_token = clock_type::now();
            }
            const auto& stops = tokenizer_.stop_tokens();
            if (std::find(stops.begin(), stops.end(), id) != stops.end()) {
                s.text += s.decoder.finish();
                finish(s, "stop", "");
                continue;
            }
            s.text += s.decoder.push(id);
            s.next_token = id;
            if (cut_at_stop_string(s)) {
                finish(s, "stop", "");
            } else if (s.sampled == s.request->max_tokens || s.seq.position() >= context()) {
                s.text += s.decoder.finish();
                if (cut_at_stop_string(s)) finish(s, "stop", "");
                else finish(s, "length", "");
            } else {
                publish(s, held_back(s));
            }
        }
        std::erase_if(slots, [](const std::unique_ptr<slot>& s) { return s->request == nullptr; });
        std::lock_guard lock(mutex_);
        active_count_ = slots.size();
    }

    /// Cuts the text before the first stop string; true if there was one.
    static bool cut_at_stop_string(slot& s) {
        std::size_t cut = std::string::npos;
        for (const std::string& stop : s.request->stop) {
            // Only where a match may end in text not yet searched.
            const std::size_t from = s.emitted;
            const std::size_t at = s.text.find(stop, from);
            if (at != std::string::npos) cut = std::min(cut, at);
        }
        if (cut == std::string::npos) return false;
        s.text.resize(cut);
        return true;
    }

    /// Bytes at the end of the text that may begin a stop string: held back until it is known.
    static std::size_t held_back(const slot& s) {
        std::size_t hold = 0;
        for (const std::string& stop : s.request->stop) {
            for (std::size_t n = std::min(stop.size() - 1, s.text.size() - s.emitted); n > hold; --n) {
                if (s.text.compare(s.text.size() - n, n, stop, 0, n) == 0) {
                    hold = n;
                    break;
                }
            }
        }
        return hold;
    }

    /// Hands the text up to its last `hold` bytes to the request.
    static void publish(slot& s, std::size_t hold) {
        const std::size_t end = s.text.size() - hold;
        if (end <= s.emitted) return;
        {
            std::lock_guard lock(s.request->mutex);
            s.request->text.append(s.text, s.emitted, end - s.emitted);
            s.request->completion_tokens = s.sampled;
        }
        s.emitted = end;
        s.request->changed.notify_all();
    }

    /// Ends the slot's request: its remaining text, the reason (or an error), and frees it.
    void finish(slot& s, const std::string& reason, const std::string& error) {
        if (s.request == nullptr) return;
        publish(s, 0);
        {
            std::lock_guard lock(s.request->mutex);
            s.request->completion_tokens = s.sampled;
            s.request->finish_reason = reason;
            s.request->error = error;
            s.request->finished = true;
        }
        s.request->changed.notify_all();
        s.request.reset();
        s.seq.reset();  // its cache goes back to the budget now
    }

    static void fail(job& j, const std::string& error) {
        {
            std::lock_guard lock(j.mutex);
            j.error = error;
            j.finished = true;
        }
        j.changed.notify_all();
    }

    const Model& model_;
    const ternary::tokenizer::any_tokenizer& tokenizer_;
    const engine_options options_;
    std::shared_ptr<ternary::bitnet::kv_budget> budget_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::shared_ptr<job>> waiting_;
    std::size_t active_count_ = 0;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace server
