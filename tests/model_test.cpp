// The reference model on real checkpoints from ../shared/data (skipped when it is absent):
// llama2.c's own expected output, and a real ternary model's perplexity.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <fstream>
#include <sstream>
#include <string>

#include <ternary/bitnet/generate.hpp>
#include <ternary/bitnet/model.hpp>
#include <ternary/bitnet/perplexity.hpp>
#include <ternary/bitnet/random_model.hpp>
#include <ternary/io/llama2c.hpp>
#include <ternary/io/llama2c_save.hpp>
#include <ternary/io/file.hpp>
#include <ternary/tokenizer/llama2c.hpp>

#include "support.hpp"

using test::read_text;
using test::shared_data;

TEST_CASE("stories260K, greedy, reproduces llama2.c's expected output byte for byte") {
    const auto data = shared_data();
    if (data.empty()) return;
    const auto dir = data / "models" / "stories260K";
    auto model = ternary::io::load_llama2c((dir / "stories260K.bin").string());
    CHECK(model.config().dim == 64);
    CHECK(model.config().n_layers == 5);
    CHECK(model.config().n_kv_heads == 4);
    const auto tokenizer = ternary::tokenizer::llama2c_tokenizer::load((dir / "tok512.bin").string(), model.config().vocab_size);
    ternary::bitnet::sampler greedy({.temperature = 0.0f});
    std::string text;
    ternary::bitnet::generate(model, tokenizer, greedy, "", 200, [&](const std::string& piece) { text += piece; });
    CHECK(text == read_text(dir / "expected_greedy200.txt"));
}

TEST_CASE("bitllama2c-3M: the ternary model loads, writes a story greedily and predicts held-out text") {
    const auto data = shared_data();
    if (data.empty()) return;
    const auto dir = data / "models" / "bitllama2c-3M";
    auto model = ternary::io::load_bitllama2c((dir / "model.bin").string());
    CHECK(model.config().dim == 256);
    CHECK(model.config().n_layers == 8);
    CHECK(model.config().linear_self_norm);
    const auto tokenizer = ternary::tokenizer::llama2c_tokenizer::load((dir / "tokenizer.bin").string(), model.config().vocab_size);

    ternary::bitnet::sampler greedy({.temperature = 0.0f});
    std::string story;
    ternary::bitnet::generate(model, tokenizer, greedy, "Once upon a time", 120, [&](const std::string& piece) { story += piece; });
    MESSAGE("bitllama2c-3M, greedy: ", story);
    CHECK(story.size() > 200);

    // Held-out TinyStories text: a uniform guess over 512 tokens scores perplexity 512; the
    // trained ternary model must do far better (the measured value is in the issue note).
    const std::string text = read_text(data / "text" / "tinystories_sample.txt");
    const auto ternary_result = ternary::bitnet::perplexity(model, tokenizer, text, "<|endoftext|>");
    MESSAGE("bitllama2c-3M perplexity ", ternary_result.perplexity, " over ", ternary_result.tokens, " tokens");
    CHECK(ternary_result.tokens > 500);
    CHECK(ternary_result.perplexity < 20.0);

    // The int8 head (one scale per row) against the stored f32 head: the perplexity moves by
    // far less than the 1% a 8-bit head could plausibly cost.
    model.use_int8_head();
    REQUIRE(model.has_int8_head());
    const auto int8_result = ternary::bitnet::perplexity(model, tokenizer, text, "<|endoftext|>");
    MESSAGE("bitllama2c-3M perplexity with the int8 head ", int8_result.perplexity);
    CHECK(int8_result.tokens == ternary_result.tokens);
    CHECK(int8_result.perplexity != ternary_result.perplexity);  // it did change the head
    CHECK(std::fabs(int8_result.perplexity / ternary_result.perplexity - 1.0) < 0.01);

    // The float stories260K model (same tokenizer) on the same text, for comparison.
    auto float_model = ternary::io::load_llama2c((data / "models" / "stories260K" / "stories260K.bin").string());
    const auto float_result = ternary::bitnet::perplexity(float_model, tokenizer, text, "<|endoftext|>");
    MESSAGE("stories260K (float) perplexity ", float_result.perplexity, " over ", float_result.tokens, " tokens");
    CHECK(float_result.tokens == ternary_result.tokens);
}

TEST_CASE("llama2.c files written back: bitllama2c-3M byte for byte, stories260K with the same logits") {
    const auto data = shared_data();
    if (data.empty()) return;
    const std::string ak42 = (data / "models" / "bitllama2c-3M" / "model.bin").string();
    const auto ak42_file = ternary::io::read_file(ak42);
    CHECK(ternary::io::ak42_bytes(ternary::io::load_bitllama2c(ak42)) == ak42_file);

    const std::string legacy = (data / "models" / "stories260K" / "stories260K.bin").string();
    const auto legacy_file = ternary::io::read_file(legacy);
    auto model = ternary::io::load_llama2c(legacy);
    const auto written = ternary::io::llama2c_bytes(model);
    REQUIRE(written.size() == legacy_file.size());
    // Everything but the two RoPE tables llama2.c skips (its exporter computed them in PyTorch)
    // is the same bytes; the tables hold the same rotations to float rounding.
    const auto& c = model.config();
    const std::size_t tables = 2 * c.seq_len * c.head_dim() / 2 * 4;
    const std::size_t tables_at = written.size() - tables;
    CHECK(std::equal(written.begin(), written.begin() + static_cast<std::ptrdiff_t>(tables_at), legacy_file.begin()));
    for (std::size_t i = tables_at; i < written.size(); i += 4) {
        float a, b;
        std::memcpy(&a, written.data() + i, 4);
        std::memcpy(&b, legacy_file.data() + i, 4);
        REQUIRE(std::fabs(a - b) <= 1e-5f);
    }
    auto reloaded = ternary::io::load_llama2c(written, "written");
    const auto expected = model.forward(3, 0);
    const std::vector<float> before(expected.begin(), expected.end());
    const auto after = reloaded.forward(3, 0);
    CHECK(std::equal(before.begin(), before.end(), after.begin(), after.end()));
    // The formats' fixed variant: other models are refused.
    auto half_split = model.config();
    half_split.rope = ternary::bitnet::rope_style::half_split;
    CHECK_THROWS_AS(ternary::io::llama2c_bytes({half_split, model.weights()}), ternary::value_error);
    CHECK_THROWS_AS(ternary::io::ak42_bytes(ternary::bitnet::random_model<ternary::bitnet::ternary_linear<ternary::two_bit>>(
                        ternary::bitnet::preset_config("2b4t,dim=64,hidden=64,layers=1,heads=2,kv_heads=1,vocab=8,seq=8"), 1)),
                    ternary::value_error);
}

TEST_CASE("a model's logits are bit-identical for any number of threads") {
    // Big enough that the products, the per-token work and the attention all run on the pool
    // (each above its threshold), with the int8 head and with the f32 one.
    const auto config = ternary::bitnet::preset_config("2b4t,dim=256,hidden=512,layers=2,heads=8,kv_heads=2,vocab=300,seq=64");
    const std::size_t original = ternary::threads();
    for (bool int8_head : {false, true}) {
        CAPTURE(int8_head);
        std::vector<float> reference;
        for (std::size_t threads : {1u, 2u, 3u}) {
            CAPTURE(threads);
            ternary::set_threads(threads);
            auto model = ternary::bitnet::random_model<ternary::bitnet::ternary_linear<ternary::two_bit>>(config, 5);
            if (int8_head) model.use_int8_head();
            std::vector<std::size_t> prompt(40);
            for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = (i * 37 + 11) % config.vocab_size;
            std::vector<float> logits;
            const auto append = [&](std::span<const float> v) { logits.insert(logits.end(), v.begin(), v.end()); };
            append(model.forward(std::span<const std::size_t>(prompt), 0, true));
            append(model.forward(7, prompt.size()));
            append(model.forward(123, prompt.size() + 1));
            if (threads == 1) reference = logits;
            CHECK(logits == reference);
        }
    }
    ternary::set_threads(original);
}

TEST_CASE("grouped-query attention: the same logits as the model with each kv head repeated per query head") {
    // An independent check of which kv head each query head reads, and of the loops that serve
    // four query heads at once: 8 query heads on 2 kv heads, against the same model whose wk and
    // wv repeat each kv head's rows for its 4 query heads (8 kv heads, plain multi-head
    // attention). Every score and output is the same sum in the same order: bit for bit.
    namespace bn = ternary::bitnet;
    using model_type = bn::transformer<bn::ternary_linear<ternary::two_bit>>;
    const auto config = bn::preset_config("2b4t,dim=256,hidden=512,layers=2,heads=8,kv_heads=2,vocab=300,seq=64");
    const model_type grouped = bn::random_model<bn::ternary_linear<ternary::two_bit>>(config, 5);
    bn::model_config mha_config = config;
    mha_config.n_kv_heads = config.n_heads;
    const std::size_t head_dim = config.head_dim(), group = config.n_heads / config.n_kv_heads;
    const auto repeated = [&](const bn::ternary_linear<ternary::two_bit>& linear) {
        const auto& w = linear.weights();
        REQUIRE(w.scales().kind() == ternary::scale_kind::per_matrix);  // rows repeated keep the absmean
        const std::vector<std::int8_t> trits = w.view().trits();
        std::vector<std::int8_t> out;
        for (std::size_t h = 0; h < config.n_heads; ++h) {
            const auto first = trits.begin() + static_cast<std::ptrdiff_t>((h / group) * head_dim * w.cols());
            out.insert(out.end(), first, first + static_cast<std::ptrdiff_t>(head_dim * w.cols()));
        }
        return bn::ternary_linear<ternary::two_bit>(
            ternary::ternary_matrix<ternary::two_bit>::from_trits(out, config.n_heads * head_dim, w.cols(),
                                                                  ternary::weight_scales::copy_of(w.scales().view())),
            linear.normalizes_input());
    };
    bn::model_weights<bn::ternary_linear<ternary::two_bit>> weights = grouped.weights();
    for (auto& layer : weights.layers) {
        layer.wk = repeated(layer.wk);
        layer.wv = repeated(layer.wv);
    }
    const model_type mha(mha_config, std::move(weights));
    const std::size_t original = ternary::threads();
    for (std::size_t threads : {1u, 2u}) {
        CAPTURE(threads);
        ternary::set_threads(threads);
        std::vector<std::size_t> prompt(40);
        for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = (i * 37 + 11) % config.vocab_size;
        const auto run = [&](const model_type& model) {
            bn::sequence seq = model.new_sequence();
            bn::workspace work;
            std::vector<float> logits;
            const auto append = [&](std::span<const float> v) { logits.insert(logits.end(), v.begin(), v.end()); };
            append(model.forward(seq, prompt, work, true));  // a batch: whole groups per task
            for (std::size_t token : {7u, 123u, 42u}) append(model.forward(seq, std::span(&token, 1), work));  // decode
            return logits;
        };
        CHECK(run(grouped) == run(mha));
    }
    ternary::set_threads(original);
}

TEST_CASE("a model repacked to base3 or base3_window (and back) gives the same logits bit for bit") {
    // The products are exact in every packing, so the packing cannot change a logit: prompt
    // (GEMM tiles), decode steps (GEMV tiles), the f32 head and the int8 head.
    const auto config = ternary::bitnet::preset_config("2b4t,dim=256,hidden=512,layers=2,heads=8,kv_heads=2,vocab=300,seq=64");
    for (bool int8_head : {false, true}) {
        CAPTURE(int8_head);
        std::vector<std::size_t> prompt(21);
        for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = (i * 29 + 3) % config.vocab_size;
        const auto logits_of = [&](auto& model) {
            if (int8_head) model.use_int8_head();
            std::vector<float> logits;
            const auto append = [&](std::span<const float> v) { logits.insert(logits.end(), v.begin(), v.end()); };
            append(model.forward(std::span<const std::size_t>(prompt), 0, true));
            append(model.forward(17, prompt.size()));
            append(model.forward(250, prompt.size() + 1));
            return logits;
        };
        auto two_bit_model = ternary::bitnet::random_model<ternary::bitnet::ternary_linear<ternary::two_bit>>(config, 8);
        const std::size_t two_bit_bytes = two_bit_model.weight_bytes_per_token();
        const auto reference = logits_of(two_bit_model);
        auto base3_model = ternary::bitnet::repacked<ternary::base3>(
            ternary::bitnet::random_model<ternary::bitnet::ternary_linear<ternary::two_bit>>(config, 8));
        CHECK(base3_model.weight_bytes_per_token() < two_bit_bytes);
        CHECK(logits_of(base3_model) == reference);
        auto window_model = ternary::bitnet::repacked<ternary::base3_window>(
            ternary::bitnet::random_model<ternary::bitnet::ternary_linear<ternary::two_bit>>(config, 8));
        CHECK(logits_of(window_model) == reference);
        auto back = ternary::bitnet::repacked<ternary::two_bit>(
            ternary::bitnet::repacked<ternary::base3>(
                ternary::bitnet::random_model<ternary::bitnet::ternary_linear<ternary::two_bit>>(config, 8)));
        CHECK(logits_of(back) == reference);
    }
}

TEST_CASE("a prompt longer than a prefill slice: the same logits as one token at a time") {
    using model_type = ternary::bitnet::transformer<ternary::bitnet::ternary_linear<ternary::two_bit>>;
    const auto config = ternary::bitnet::preset_config("2b4t,dim=64,hidden=96,layers=2,heads=4,kv_heads=2,vocab=50,seq=256");
    const std::size_t n = 2 * model_type::prefill_slice + 21;  // two whole slices and a partial one
    std::vector<std::size_t> prompt(n);
    for (std::size_t i = 0; i < n; ++i) prompt[i] = (i * 13 + 5) % config.vocab_size;
    auto batched = ternary::bitnet::random_model<ternary::bitnet::ternary_linear<ternary::two_bit>>(config, 9);
    auto single = ternary::bitnet::random_model<ternary::bitnet::ternary_linear<ternary::two_bit>>(config, 9);
    const auto all = batched.forward(std::span<const std::size_t>(prompt), 0, true);
    REQUIRE(all.size() == n * config.vocab_size);
    const std::vector<float> all_logits(all.begin(), all.end());
    bool same = true;
    for (std::size_t t = 0; t < n; ++t) {
        const auto one = single.forward(prompt[t], t);
        same = same && std::equal(one.begin(), one.end(), all_logits.begin() + static_cast<std::ptrdiff_t>(t * config.vocab_size));
    }
    CHECK(same);
    // Only the last token's logits: the same as the last row of all.
    auto last_only = ternary::bitnet::random_model<ternary::bitnet::ternary_linear<ternary::two_bit>>(config, 9);
    const auto last = last_only.forward(std::span<const std::size_t>(prompt), 0);
    REQUIRE(last.size() == config.vocab_size);
    CHECK(std::equal(last.begin(), last.end(), all_logits.end() - static_cast<std::ptrdiff_t>(config.vocab_size)));
}

TEST_CASE("attention's vector loops give the same bits at every width and group size, and match a plain loop") {
    namespace d = ternary::bitnet::detail;
    struct shape {
        std::size_t head_dim, key_stride, count, stride;
    };
    // Tails at every width; the second shape also runs the blocks of several vectors (64
    // positions and 128 dimensions at once with AVX-512, 16 and 32 on the baseline). Query
    // heads sharing a kv head: 1 to 5 at once (the loops take up to 4 together).
    for (const shape sh : {shape{40, 53, 51, 70}, shape{136, 150, 147, 140}}) {
        for (const std::size_t queries : {1u, 2u, 3u, 4u, 5u}) {
            CAPTURE(sh.head_dim);
            CAPTURE(sh.count);
            CAPTURE(queries);
            const std::size_t head_dim = sh.head_dim, key_stride = sh.key_stride, count = sh.count, stride = sh.stride;
            const std::size_t q_stride = head_dim + 3, rows_stride = count + 5, out_stride = head_dim + 2;
            const auto q = test::random_floats(queries * q_stride), keys = test::random_floats(head_dim * key_stride),
                       values = test::random_floats(count * stride), weights = test::random_floats(queries * rows_stride);
            // The plain loops: each output one sum in index order, each product rounded before the add.
            std::vector<float> plain_scores(queries * rows_stride, -1.0f), plain_values(queries * out_stride, -1.0f);
            for (std::size_t g = 0; g < queries; ++g) {
                for (std::size_t s = 0; s < count; ++s) {
                    volatile float score = 0.0f;  // volatile: no fused multiply-add here either
                    for (std::size_t i = 0; i < head_dim; ++i) {
                        const volatile float product = q[g * q_stride + i] * keys[i * key_stride + s];
                        score = score + product;
                    }
                    plain_scores[g * rows_stride + s] = score / 3.0f;
                }
                for (std::size_t i = 0; i < head_dim; ++i) {
                    volatile float acc = 0.0f;
                    for (std::size_t s = 0; s < count; ++s) {
                        const volatile float product = weights[g * rows_stride + s] * values[s * stride + i];
                        acc = acc + product;
                    }
                    plain_values[g * out_stride + i] = acc;
                }
            }
            const auto check = [&](auto scores_fn, auto values_fn) {
                // Untouched padding stays -1: nothing is written past a row.
                std::vector<float> scores(queries * rows_stride, -1.0f), out(queries * out_stride, -1.0f);
                scores_fn(q.data(), q_stride, queries, keys.data(), key_stride, head_dim, count, 3.0f, scores.data(),
                          rows_stride);
                values_fn(weights.data(), rows_stride, queries, values.data(), stride, head_dim, count, out.data(),
                          out_stride);
                CHECK(scores == plain_scores);
                CHECK(out == plain_values);
            };
            check(d::attention_baseline::head_scores, d::attention_baseline::weighted_values);
#if defined(__x86_64__)
            if (ternary::simd::cpu().avx512f) {
                check(d::attention_avx512::head_scores, d::attention_avx512::weighted_values);
            } else {
                MESSAGE("no AVX-512 on this CPU: its attention loops are not run");
            }
#endif
        }
    }
}

// ---- the sampler ----

namespace {

using ternary::bitnet::sampler;
using ternary::bitnet::sampler_options;

/// The distribution sampler::sample should draw from, computed the obvious way the sampler
/// avoids: a full stable sort, softmax in long double, the top-k cut, then the shortest prefix
/// reaching top_p, renormalized. Zero outside that set.
std::vector<long double> expected_distribution(const std::vector<float>& logits, const sampler_options& o) {
    std::vector<std::size_t> order(logits.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return logits[a] > logits[b]; });
    std::size_t keep = o.top_k == 0 ? order.size() : std::min(o.top_k, order.size());
    std::vector<long double> weight(keep);
    long double total = 0;
    for (std::size_t i = 0; i < keep; ++i) {
        weight[i] = std::exp((static_cast<long double>(logits[order[i]]) - logits[order[0]]) / o.temperature);
        total += weight[i];
    }
    long double cumulative = 0;
    for (std::size_t i = 0; i < keep; ++i) {
        cumulative += weight[i];
        if (cumulative / total >= o.top_p) {
            keep = i + 1;
            break;
        }
    }
    long double mass = 0;
    for (std::size_t i = 0; i < keep; ++i) mass += weight[i];
    std::vector<long double> p(logits.size(), 0);
    for (std::size_t i = 0; i < keep; ++i) p[order[i]] = weight[i] / mass;
    return p;
}

/// Draws `draws` tokens: none outside the expected set, each frequency within 5 standard
/// deviations of its expected probability.
void check_draws(const std::vector<float>& logits, const sampler_options& o, std::size_t draws) {
    const auto p = expected_distribution(logits, o);
    std::vector<std::size_t> count(logits.size(), 0);
    sampler s(o);
    for (std::size_t i = 0; i < draws; ++i) {
        const std::size_t id = s.sample(logits);
        REQUIRE(id < logits.size());
        ++count[id];
    }
    for (std::size_t id = 0; id < logits.size(); ++id) {
        CAPTURE(id);
        if (p[id] == 0) {
            CHECK(count[id] == 0);
            continue;
        }
        const double expected = static_cast<double>(p[id]);
        const double sigma = std::sqrt(expected * (1 - expected) / static_cast<double>(draws));
        CHECK(std::abs(static_cast<double>(count[id]) / static_cast<double>(draws) - expected) <= 5 * sigma + 1e-9);
    }
}

}  // namespace

TEST_CASE("the gated FFN product gives the bits of activate(gate) * up, special values included") {
    using ternary::bitnet::ffn_activation;
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> gate{0.0f, -0.0f, 1.5f, -2.25f, nan, -nan, inf, -inf, 1e-30f, -1e-30f, 3e19f, 7.0f, -7.0f};
    std::vector<float> up{-1.0f, -3.0f, -0.5f, 2.0f, 1.0f, -1.0f, 0.0f, -2.0f, 1e30f, -1e30f, 1.0f, nan, -0.0f};
    const auto random = test::random_floats(1000);  // and a long stretch with a tail of 3
    for (std::size_t i = 0; i + 1 < random.size(); i += 2) {
        gate.push_back(random[i] * 4.0f);
        up.push_back(random[i + 1]);
    }
    gate.resize(gate.size() / 4 * 4 + 3);
    up.resize(gate.size());
    for (const auto activation : {ffn_activation::relu_squared, ffn_activation::silu}) {
        std::vector<float> expected(gate.size()), actual = gate;
        for (std::size_t i = 0; i < gate.size(); ++i) expected[i] = ternary::bitnet::activate(gate[i], activation) * up[i];
        ternary::bitnet::gate_times_up(actual, up, activation);
        // The same bits, except that a NaN is any NaN: which operand's NaN an instruction
        // passes on (and so its sign) depends on how the compiler ordered them (clang's silu).
        std::size_t differing = 0;
        for (std::size_t i = 0; i < expected.size(); ++i) {
            const bool same = std::isnan(expected[i]) ? std::isnan(actual[i])
                                                      : std::memcmp(&expected[i], &actual[i], sizeof(float)) == 0;
            differing += !same;
        }
        CHECK(differing == 0);
    }
}

TEST_CASE("softmax: terms far below the max skip exp and keep the bits of exp for every term") {
    // The reference: std::exp for every term, as softmax was written before the shortcut.
    const auto reference = [](std::vector<float> x) {
        float max = x[0];
        for (float v : x) max = v > max ? v : max;
        float sum = 0.0f;
        for (float& v : x) {
            v = std::exp(v - max);
            sum += v;
        }
        for (float& v : x) v /= sum;
        return x;
    };
    // One row with the max at 0: every 97th float within 2 of the threshold and every float
    // within 1e-4 of it, then edges (where exp goes subnormal, where glibc's underflow begins,
    // -inf); then random rows as in long contexts (scores spread over hundreds).
    const float threshold = ternary::bitnet::exp_underflows_below;
    std::vector<std::vector<float>> rows;
    std::vector<float> edge = {0.0f};
    std::size_t step = 0;
    for (float v = threshold - 2.0f; v < threshold + 2.0f; v = std::nextafter(v, 0.0f), ++step) {
        if (step % 97 == 0 || std::fabs(v - threshold) < 1e-4f) edge.push_back(v);
    }
    for (const float v : {-87.0f, -87.34f, -88.0f, -100.0f, -103.97208f, -103.972084f, -103.9721f, -104.0f,
                          -104.00001f, -120.0f, -1e30f, -std::numeric_limits<float>::infinity()})
        edge.push_back(v);
    rows.push_back(edge);
    auto& rng = test::rng();
    for (const float spread : {1.0f, 30.0f, 300.0f}) {
        std::normal_distribution<float> normal(0.0f, spread);
        std::vector<float> row(1900);
        for (auto& v : row) v = normal(rng);
        rows.push_back(row);
    }
    std::size_t below = 0;
    for (const auto& row : rows) {
        const std::vector<float> expected = reference(row);
        std::vector<float> actual = row;
        ternary::bitnet::softmax(actual);
        float max = row[0];
        for (float v : row) max = v > max ? v : max;
        for (float v : row) below += v - max < threshold;
        CHECK(std::memcmp(expected.data(), actual.data(), expected.size() * sizeof(float)) == 0);
    }
    CHECK(below > 1000);  // the shortcut was taken
    CHECK(std::exp(threshold) == 0.0f);
}

TEST_CASE("sampler: draws follow softmax(logits / T) restricted by top-k and top-p") {
    const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 1.5f, 1.5f, 0.0f, 3.0f, -0.5f};
    check_draws(logits, {.temperature = 0.8f, .top_k = 0, .top_p = 1.0f, .seed = 1}, 200000);
    check_draws(logits, {.temperature = 1.3f, .top_k = 3, .top_p = 1.0f, .seed = 2}, 200000);
    check_draws(logits, {.temperature = 1.0f, .top_k = 0, .top_p = 0.7f, .seed = 3}, 200000);
    check_draws(logits, {.temperature = 2.0f, .top_k = 5, .top_p = 0.8f, .seed = 4}, 200000);
    // Ties: the smaller id is the more likely, so top-k 2 of four equal logits is ids 0 and 1.
    check_draws({1.0f, 1.0f, 1.0f, 1.0f, -2.0f}, {.temperature = 1.0f, .top_k = 2, .top_p = 1.0f, .seed = 5}, 20000);
    // A nucleus smaller than any token: the most likely alone (a filter dropping every token
    // lighter than (1 - p) / (n - 1) would drop both here).
    check_draws({0.0f, 0.0f}, {.temperature = 1.0f, .top_k = 0, .top_p = 0.1f, .seed = 6}, 1000);
    check_draws({0.0f, 0.0f, 0.0f}, {.temperature = 0.5f, .top_k = 0, .top_p = 0.05f, .seed = 7}, 1000);
}

TEST_CASE("sampler: a Llama 3-sized vocabulary, flat and peaked, draws only from the nucleus") {
    auto& rng = test::rng();
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (const float spread : {0.5f, 8.0f}) {  // a random-weight model's flat logits; a trained model's peaked ones
        std::vector<float> logits(128256);
        for (auto& l : logits) l = spread * normal(rng);
        for (const sampler_options o : {sampler_options{.temperature = 0.7f, .top_k = 0, .top_p = 0.9f, .seed = 8},
                                        sampler_options{.temperature = 1.0f, .top_k = 40, .top_p = 1.0f, .seed = 9},
                                        sampler_options{.temperature = 0.7f, .top_k = 0, .top_p = 1.0f, .seed = 10}}) {
            CAPTURE(spread);
            CAPTURE(o.top_k);
            CAPTURE(o.top_p);
            const auto p = expected_distribution(logits, o);
            sampler s(o), same(o);
            std::size_t outside = 0, differ = 0;
            for (int draw = 0; draw < 30; ++draw) {
                const std::size_t id = s.sample(logits);
                if (p[id] == 0) ++outside;
                if (same.sample(logits) != id) ++differ;  // the same seed draws the same tokens
            }
            CHECK(outside == 0);
            CHECK(differ == 0);
        }
    }
}

TEST_CASE("sampler: bad logits and options are refused") {
    sampler s({.temperature = 1.0f});
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    CHECK_THROWS_AS(s.sample(std::vector<float>{1.0f, nan}), ternary::value_error);
    CHECK_THROWS_AS(s.sample(std::vector<float>{-inf, 1.0f}), ternary::value_error);
    CHECK_THROWS_AS(s.sample(std::vector<float>{}), ternary::value_error);
    CHECK_THROWS_AS(sampler({.temperature = -1.0f}), ternary::value_error);
    CHECK_THROWS_AS(sampler({.temperature = 1.0f, .top_p = 0.0f}), ternary::value_error);
    CHECK(sampler({.temperature = 0.0f}).sample(std::vector<float>{0.0f, 2.0f, 2.0f}) == 1);  // greedy: the first largest
}
