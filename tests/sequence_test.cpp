// Weights apart from sequence state: many sequences on one model, run alone or batched
// together, forked, rewound, within a KV cache budget, from several threads at once. The
// reference for every batched result is the same sequence run alone, token by token.

#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include <ternary/bitnet/model.hpp>
#include <ternary/bitnet/random_model.hpp>
#include <ternary/bitnet/sequence.hpp>
#include <ternary/io/llama2c.hpp>

#include "support.hpp"

namespace {

namespace bn = ternary::bitnet;
using ternary_model = bn::transformer<bn::ternary_linear<ternary::two_bit>>;

std::vector<std::size_t> tokens_of(std::size_t n, std::size_t seed, std::size_t vocab) {
    std::vector<std::size_t> t(n);
    for (std::size_t i = 0; i < n; ++i) t[i] = (i * 31 + seed * 17 + 3) % vocab;
    return t;
}

/// The logits after each of `tokens` fed one at a time to a fresh sequence: the reference.
template <class Model>
std::vector<std::vector<float>> alone(const Model& model, std::span<const std::size_t> tokens) {
    bn::sequence seq = model.new_sequence();
    bn::workspace work;
    std::vector<std::vector<float>> rows;
    for (std::size_t token : tokens) {
        const auto logits = model.forward(seq, std::span(&token, 1), work);
        rows.emplace_back(logits.begin(), logits.end());
    }
    return rows;
}

bool same_row(std::span<const float> logits, std::size_t row, const std::vector<float>& expected) {
    const std::size_t v = expected.size();
    return logits.size() >= (row + 1) * v && std::equal(expected.begin(), expected.end(), logits.begin() + static_cast<std::ptrdiff_t>(row * v));
}

/// Five sequences fed in three batched rounds at mixed positions (prompts of different
/// lengths, one crossing a batch slice, single decode tokens, a sequence that joins late,
/// all_logits and last-only steps mixed); every logits row must equal the sequence alone.
template <class Model>
void check_batches_match_alone(const Model& model) {
    const std::size_t vocab = model.config().vocab_size;
    const std::size_t lengths[5][3] = {{7, 1, 1}, {3, 2, 1}, {1, Model::batch_slice + 5, 1}, {0, 4, 1}, {12, 1, 30}};
    std::vector<std::vector<std::size_t>> all_tokens;
    for (std::size_t s = 0; s < 5; ++s) all_tokens.push_back(tokens_of(lengths[s][0] + lengths[s][1] + lengths[s][2], s, vocab));
    std::vector<bn::sequence> seqs;
    for (std::size_t s = 0; s < 5; ++s) seqs.push_back(model.new_sequence());
    bn::workspace work;
    std::vector<std::size_t> fed(5, 0);
    for (std::size_t round = 0; round < 3; ++round) {
        CAPTURE(round);
        std::vector<bn::sequence_step> steps;
        std::vector<std::size_t> who;
        for (std::size_t s = 0; s < 5; ++s) {
            const std::size_t n = lengths[s][round];
            if (n == 0) continue;
            steps.push_back({seqs[s], std::span(all_tokens[s]).subspan(fed[s], n), (s + round) % 2 == 0});
            who.push_back(s);
        }
        const auto logits = model.forward(std::span<const bn::sequence_step>(steps), work);
        std::size_t row = 0;
        for (std::size_t i = 0; i < steps.size(); ++i) {
            const std::size_t s = who[i], n = steps[i].tokens.size();
            CAPTURE(s);
            const auto reference = alone(model, std::span(all_tokens[s]).subspan(0, fed[s] + n));
            for (std::size_t t = steps[i].all_logits ? 0 : n - 1; t < n; ++t) CHECK(same_row(logits, row++, reference[fed[s] + t]));
            fed[s] += n;
            CHECK(seqs[s].position() == fed[s]);
        }
        CHECK(logits.size() == row * vocab);
    }
}

}  // namespace

TEST_CASE("batched sequences at mixed positions give each sequence's logits bit for bit") {
    const auto config = bn::preset_config("2b4t,dim=128,hidden=256,layers=2,heads=8,kv_heads=2,vocab=200,seq=160");
    auto model = bn::random_model<bn::ternary_linear<ternary::two_bit>>(config, 21);
    SUBCASE("ternary layers, f16 head") { check_batches_match_alone(model); }
    SUBCASE("ternary layers, int8 head") {
        model.use_int8_head();
        check_batches_match_alone(model);
    }
    SUBCASE("ternary layers, Q8_0 head") {
        model.use_head_format(bn::float_format::q8_0);
        check_batches_match_alone(model);
    }
    SUBCASE("float layers") {
        const auto float_model = bn::random_model<bn::float_linear>(bn::preset_config("llama2c-260k,seq=160"), 4);
        check_batches_match_alone(float_model);
    }
}

TEST_CASE("bitllama2c-3M (self-normalizing BitLinears): batched sequences match each alone") {
    const auto data = test::shared_data();
    if (data.empty()) return;
    const auto model = ternary::io::load_bitllama2c((data / "models" / "bitllama2c-3M" / "model.bin").string());
    check_batches_match_alone(model);
}

TEST_CASE("a forked sequence continues exactly as the original would") {
    const auto config = bn::preset_config("2b4t,dim=64,hidden=96,layers=2,heads=4,kv_heads=2,vocab=50,seq=200");
    const auto model = bn::random_model<bn::ternary_linear<ternary::two_bit>>(config, 3);
    const auto prompt = tokens_of(20, 1, config.vocab_size);
    bn::workspace work;
    bn::sequence original = model.new_sequence();
    model.forward(original, prompt, work);
    bn::sequence fork = original;  // a copy of 20 positions
    CHECK(fork.position() == 20);
    // Each continues differently; both must equal a fresh sequence fed prompt + continuation.
    for (std::size_t branch = 0; branch < 2; ++branch) {
        bn::sequence& seq = branch == 0 ? original : fork;
        const auto continuation = tokens_of(30, 10 + branch, config.vocab_size);
        const auto logits = model.forward(seq, continuation, work, true);
        std::vector<std::size_t> whole = prompt;
        whole.insert(whole.end(), continuation.begin(), continuation.end());
        const auto reference = alone(model, whole);
        for (std::size_t t = 0; t < continuation.size(); ++t) CHECK(same_row(logits, t, reference[prompt.size() + t]));
    }
    // Forking a fork, then feeding it the other branch's tokens: the other branch's logits.
    fork.rewind(20);
    bn::sequence second = fork;
    const auto continuation = tokens_of(30, 10, config.vocab_size);
    std::vector<std::size_t> whole = prompt;
    whole.insert(whole.end(), continuation.begin(), continuation.end());
    CHECK(same_row(model.forward(second, continuation, work), 0, alone(model, whole).back()));
    CHECK(second.position() == 50);
    CHECK(fork.position() == 20);
}

TEST_CASE("rewind, reset and the single-sequence forward") {
    const auto config = bn::preset_config("2b4t,dim=64,hidden=96,layers=2,heads=4,kv_heads=2,vocab=50,seq=100");
    auto model = bn::random_model<bn::ternary_linear<ternary::two_bit>>(config, 5);
    const auto tokens = tokens_of(12, 2, config.vocab_size);
    const auto reference = alone(model, tokens);
    bn::workspace work;
    bn::sequence seq = model.new_sequence();
    model.forward(seq, std::span(tokens).first(8), work);
    seq.rewind(5);  // forget positions 5..7 and feed them again
    CHECK(same_row(model.forward(seq, std::span(tokens).subspan(5, 7), work), 0, reference[11]));
    CHECK_THROWS_WITH_AS(seq.rewind(13), doctest::Contains("holds only 12"), ternary::value_error);
    seq.reset();
    CHECK(seq.position() == 0);
    CHECK(seq.capacity() == 0);
    CHECK(same_row(model.forward(seq, std::span(tokens).first(1), work), 0, reference[0]));
    // The model's own sequence: a position before the end rewinds, one after it is a gap.
    CHECK(same_row(model.forward(std::span(tokens).first(4), 0), 0, reference[3]));
    CHECK(same_row(model.forward(std::span(tokens).subspan(2, 3), 2), 0, reference[4]));
    CHECK_THROWS_WITH_AS(model.forward(tokens[6], 6), doctest::Contains("gap"), ternary::value_error);
}

TEST_CASE("a batch is checked before anything runs") {
    const auto config = bn::preset_config("2b4t,dim=64,hidden=96,layers=1,heads=4,kv_heads=2,vocab=50,seq=40");
    const auto model = bn::random_model<bn::ternary_linear<ternary::two_bit>>(config, 5);
    const auto other = bn::random_model<bn::ternary_linear<ternary::two_bit>>(
        bn::preset_config("2b4t,dim=64,hidden=96,layers=2,heads=4,kv_heads=2,vocab=50,seq=40"), 5);
    bn::workspace work;
    bn::sequence a = model.new_sequence(), b = model.new_sequence(), foreign = other.new_sequence();
    const std::vector<std::size_t> ok = {1, 2, 3}, bad = {1, 50}, none;
    model.forward(a, ok, work);
    const auto refuses = [&](std::vector<bn::sequence_step> steps, const char* message) {
        CAPTURE(message);
        CHECK_THROWS_WITH_AS(model.forward(std::span<const bn::sequence_step>(steps), work), doctest::Contains(message),
                             ternary::value_error);
        CHECK(a.position() == 3);  // nothing ran
        CHECK(b.position() == 0);
    };
    refuses({}, "no sequences");
    refuses({{a, ok}, {b, none}}, "sequence 1 of the batch has no tokens");
    refuses({{b, ok}, {a, bad}}, "token 50 >= vocab size 50");
    refuses({{a, ok}, {foreign, ok}}, "made for another model");
    refuses({{a, ok}, {b, ok}, {a, ok}}, "listed twice");
    const std::vector<std::size_t> long_run(38, 1);
    refuses({{b, ok}, {a, long_run}}, "positions 3..40 exceed the context of 40");
}

TEST_CASE("the KV cache budget bounds all sequences together") {
    const auto config = bn::preset_config("2b4t,dim=64,hidden=96,layers=2,heads=4,kv_heads=2,vocab=50,seq=100");
    const auto model = bn::random_model<bn::ternary_linear<ternary::two_bit>>(config, 6);
    auto budget = std::make_shared<bn::kv_budget>(60);
    bn::workspace work;
    bn::sequence a = model.new_sequence(budget), b = model.new_sequence(budget);
    model.forward(a, tokens_of(35, 1, config.vocab_size), work);
    CHECK(budget->used() == a.capacity());
    CHECK(a.capacity() >= 35);
    CHECK(a.cache_bytes() == a.capacity() * 2 * 2 * config.kv_dim() * sizeof(float));
    // b's 30 positions do not fit beside a's 35 (whatever a reserved beyond them).
    const auto b_tokens = tokens_of(30, 2, config.vocab_size);
    CHECK_THROWS_WITH_AS(model.forward(b, b_tokens, work), doctest::Contains("budget of 60 positions"), ternary::capacity_error);
    CHECK(b.position() == 0);
    CHECK(budget->used() <= budget->limit());
    // A fork needs 35 more: refused too, and a is untouched.
    CHECK_THROWS_AS(bn::sequence{a}, ternary::capacity_error);
    // In a batch, the budget is checked before anything runs.
    const std::vector<std::size_t> one = {4};
    std::vector<bn::sequence_step> steps = {{a, one}, {b, b_tokens}};
    CHECK_THROWS_AS(model.forward(std::span<const bn::sequence_step>(steps), work), ternary::capacity_error);
    CHECK(a.position() == 35);
    // Once a is dropped, b fits, and its logits are those it has alone.
    a.reset();
    CHECK(budget->used() == 0);
    const auto logits = model.forward(b, b_tokens, work);
    CHECK(same_row(logits, 0, alone(model, b_tokens).back()));
    { bn::sequence c = b; CHECK(budget->used() == b.capacity() + 30); }
    CHECK(budget->used() == b.capacity());
    b = model.new_sequence(budget);
    CHECK(budget->used() == 0);
}

TEST_CASE("one model, several threads, each with its own sequences: the same logits as alone") {
    // The weights are only read: threads share them with no lock (TSan checks this test).
    const auto config = bn::preset_config("2b4t,dim=64,hidden=96,layers=2,heads=4,kv_heads=2,vocab=50,seq=100");
    auto model = bn::random_model<bn::ternary_linear<ternary::two_bit>>(config, 8);
    model.use_int8_head();
    const bn::transformer<bn::ternary_linear<ternary::two_bit>>& shared = model;
    std::vector<std::vector<std::size_t>> inputs;
    for (std::size_t i = 0; i < 3; ++i) inputs.push_back(tokens_of(25 + i, i, config.vocab_size));
    std::vector<std::vector<float>> results(inputs.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        threads.emplace_back([&, i] {
            bn::sequence seq = shared.new_sequence();
            bn::workspace work;
            shared.forward(seq, std::span(inputs[i]).first(10), work);
            for (std::size_t t = 10; t < inputs[i].size(); ++t) {
                const auto logits = shared.forward(seq, std::span(inputs[i]).subspan(t, 1), work);
                results[i].assign(logits.begin(), logits.end());
            }
        });
    }
    for (auto& t : threads) t.join();
    for (std::size_t i = 0; i < inputs.size(); ++i) CHECK(results[i] == alone(shared, inputs[i]).back());
}
