// ternary-generate: text from a model, streamed to stdout; load time, prefill and decode speed
// and resident memory to stderr.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <ternary/bitnet/generate.hpp>
#include <ternary/bitnet/random_model.hpp>
#include <ternary/io/load.hpp>
#include <ternary/pack/base3.hpp>
#include <ternary/thread_pool.hpp>
#include <ternary/tokenizer/tokenizer.hpp>

#include "head_option.hpp"
#include "model_options.hpp"
#include "options.hpp"
#include "packing_option.hpp"
#include "sampling_options.hpp"

namespace {

const std::string usage = std::string(
    "usage: ternary-generate -m MODEL [-z TOKENIZER] [options]\n"
    "       ternary-generate --random CONFIG [options]\n"
    "  -m MODEL         checkpoint: GGUF (bitnet-b1.58, bitnet-25, bitnet, llama), a Hugging Face\n"
    "                   safetensors directory (bitnet, llama), llama2.c (.bin, float) or\n"
    "                   bitllama2.c (ak42, ternary)\n"
    "  -z TOKENIZER     the model's tokenizer (tokenizer.model, tokenizer.json, llama2.c\n"
    "                   tokenizer.bin, ...); default: the one the model carries (GGUF, HF\n"
    "                   directory); without either, text is bytes\n"
    "  --random CONFIG  no file: random weights of a preset shape, for speed measurements, e.g.\n"
    "                   2b4t (BitNet b1.58 2B4T) or 2b4t,layers=4; text is bytes unless -z\n"
    "  --float          with --random: the same-shape model with f16 (not ternary) linears\n"
    ) + examples::head_type_help + examples::packing_help +
    "  --base3          the same as --packing base3\n"
    "  --prompt-tokens N  a prompt of N fixed tokens (BOS and N-1 others) instead of -p\n"
    "  -p PROMPT        text to continue (default: none, start from BOS)\n"
    "  -n N             positions to run, prompt and BOS included (default 256; at most the context)\n"
    "  --temp T         sampling temperature; 0 is greedy (default 1.0)\n"
    "  --top-k K        sample among the K most likely tokens; 0: all (default 0)\n"
    "  --top-p P        sample among the most likely tokens whose probability reaches P (default 0.9)\n"
    "  --seed S         random seed (default 42): the same seed gives the same text\n"
    "  -t THREADS       threads (default: all cores, or TERNARY_THREADS)\n"
    "  -h, --help       this text\n";

struct options {
    std::string model, tokenizer, prompt, random;
    std::string packing = "auto";
    std::string head_type = "stored";
    bool float_linears = false;
    std::size_t steps = 256, threads = 0, prompt_tokens = 0;
    ternary::bitnet::sampler_options sampling{.temperature = 1.0f, .top_k = 0, .top_p = 0.9f, .seed = 42};
};

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "ternary-generate: error: %s\n%s", message.c_str(), usage.c_str());
    std::exit(1);
}

options parse(int argc, char** argv) {
    options o;
    examples::read_options(argc, argv, usage, [](const std::string& message) { fail(message); },
        [&](std::string_view flag) {
            if (flag == "--float") o.float_linears = true;
            else if (flag == "--int8-head") o.head_type = "int8";
            else if (flag == "--base3") o.packing = "base3";
            else return false;
            return true;
        },
        [&](std::string_view arg, const char* value) {
            if (arg == "-m") o.model = value;
            else if (arg == "-z") o.tokenizer = value;
            else if (arg == "--random") o.random = value;
            else if (examples::read_model_option(arg, value, o.packing, o.head_type)) {}
            else if (arg == "--prompt-tokens") o.prompt_tokens = examples::parse_number<std::size_t>(value);
            else if (arg == "-p") o.prompt = value;
            else if (arg == "-n") o.steps = examples::parse_number<std::size_t>(value);
            else if (examples::read_sampling_option(arg, value, o.sampling)) {}
            else if (arg == "-t") o.threads = examples::parse_threads(value);
            else return false;
            return true;
        });
    if (o.model.empty() == o.random.empty()) fail("pass a model (-m MODEL) or --random CONFIG");
    if (o.random.empty() && o.float_linears) fail("--float needs --random");
    if (!o.prompt.empty() && o.prompt_tokens != 0) fail("pass -p or --prompt-tokens, not both");
    return o;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Resident and peak resident memory of this process in MiB (Linux), or zeros.
std::pair<double, double> resident_mib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    double rss = 0, peak = 0;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) rss = std::stod(line.substr(6)) / 1024.0;
        if (line.rfind("VmHWM:", 0) == 0) peak = std::stod(line.substr(6)) / 1024.0;
    }
    return {rss, peak};
}

/// A pseudo-random prompt of n tokens (BOS first) for speed measurements: fixed ids spread
/// over the vocabulary.
std::vector<std::size_t> synthetic_prompt(std::size_t n, std::size_t bos, std::size_t vocab_size) {
    std::vector<std::size_t> ids{bos};
    for (std::size_t i = 1; i < n; ++i) ids.push_back(3 + (i * 7919) % (vocab_size - 3));
    return ids;
}

/// Text for models without a tokenizer: token 3 + b is byte b (llama2.c's byte tokens), BOS is 1.
struct byte_text {
    static constexpr std::size_t bos = 1;
    static std::vector<std::size_t> encode(std::string_view text, std::size_t vocab_size) {
        std::vector<std::size_t> ids{bos};
        for (char c : text) ids.push_back((3 + static_cast<unsigned char>(c)) % vocab_size);
        return ids;
    }
    static std::string decode(std::size_t token) {
        if (token < 3 || token >= 259) return "";
        return std::string(1, static_cast<char>(token - 3));
    }
};

template <class Model>
void run(Model& model, const std::optional<ternary::tokenizer::any_tokenizer>& tokenizer, const options& o) {
    namespace tk = ternary::tokenizer;
    const std::size_t vocab = model.config().vocab_size;
    if (tokenizer && tokenizer->vocab_size() > vocab) {
        fail("the tokenizer has " + std::to_string(tokenizer->vocab_size()) + " tokens, the model only " + std::to_string(vocab));
    }
    if (!tokenizer && vocab < 259) fail("without a tokenizer text is bytes, which needs a vocabulary of at least 259 tokens: pass -z");
    examples::apply_head_type(model, o.head_type);
    std::vector<std::size_t> prompt;
    if (o.prompt_tokens != 0) {
        prompt = synthetic_prompt(o.prompt_tokens, tokenizer && tokenizer->bos() ? *tokenizer->bos() : byte_text::bos, vocab);
    } else if (tokenizer) {
        prompt = tokenizer->encode(o.prompt, tokenizer->adds_bos(), false);
        if (prompt.empty()) fail("an empty prompt needs a tokenizer with BOS: pass -p");
    } else {
        prompt = byte_text::encode(o.prompt, vocab);
    }
    const std::size_t steps = std::min(o.steps, model.config().seq_len);
    if (prompt.size() > steps) fail("the prompt has " + std::to_string(prompt.size()) + " tokens, more than -n " + std::to_string(steps));

    // Text as it is generated: the prompt's, then each token's.
    std::optional<tk::streaming_decoder<tk::any_tokenizer>> text;
    if (tokenizer) text.emplace(*tokenizer, false);
    const auto print = [&](std::size_t id) {
        const std::string piece = text ? text->push(id) : byte_text::decode(id);
        std::fputs(piece.c_str(), stdout);
        std::fflush(stdout);
    };
    for (const std::size_t id : prompt) print(id);
    ternary::bitnet::sampler sampler(o.sampling);
    std::size_t position = 0;
    const std::vector<std::size_t> byte_stop{byte_text::bos};
    const auto stats = ternary::bitnet::generate_tokens(model, sampler, std::span<const std::size_t>(prompt), position,
                                                        steps + 1 - prompt.size(),
                                                        tokenizer ? tokenizer->stop_tokens() : std::span<const std::size_t>(byte_stop),
                                                        [&](std::size_t id) {
                                                            print(id);
                                                            return true;
                                                        });
    if (text) std::fputs(text->finish().c_str(), stdout);
    std::printf("\n");
    const auto [rss, peak] = resident_mib();
    const std::size_t decoded = stats.generated > 0 ? stats.generated - 1 : 0;  // the first came from the prefill
    std::fprintf(stderr, "prefill: %zu tokens in %.3f s, %.1f tokens/s\n", stats.prompt_tokens, stats.prefill_seconds,
                 static_cast<double>(stats.prompt_tokens) / stats.prefill_seconds);
    if (decoded > 0) {
        std::fprintf(stderr, "decode: %zu tokens in %.3f s, %.1f tokens/s\n", decoded, stats.decode_seconds,
                     static_cast<double>(decoded) / stats.decode_seconds);
    }
    std::fprintf(stderr, "threads %zu, layers %s, resident %.0f MiB (peak %.0f MiB)\n", ternary::threads(),
                 ternary::bitnet::linear_kind<std::remove_cvref_t<decltype(model.weights().layers[0].wq)>>.data(), rss, peak);
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    try {
        if (o.threads != 0) ternary::set_threads(o.threads);
        const auto load_start = std::chrono::steady_clock::now();
        if (!o.random.empty()) {
            const auto config = ternary::bitnet::preset_config(o.random);
            std::optional<ternary::tokenizer::any_tokenizer> tokenizer;
            if (!o.tokenizer.empty()) tokenizer = ternary::tokenizer::load_tokenizer(o.tokenizer, config.vocab_size);
            const auto report = [&] { std::fprintf(stderr, "random model %s made in %.2f s\n", o.random.c_str(), seconds_since(load_start)); };
            if (o.float_linears) {
                auto model = ternary::bitnet::random_model<ternary::bitnet::float_linear>(config, o.sampling.seed);
                report();
                run(model, tokenizer, o);
            } else {
                auto model = ternary::bitnet::random_model<ternary::bitnet::ternary_linear<ternary::two_bit>>(config, o.sampling.seed);
                report();
                examples::with_packing(model, o.packing, [&](auto& m) { run(m, tokenizer, o); });
            }
            return 0;
        }
        ternary::io::any_model loaded = ternary::io::load_model(o.model);
        std::visit([&](auto& model) {
            std::optional<ternary::tokenizer::any_tokenizer> tokenizer;
            if (!o.tokenizer.empty()) tokenizer = ternary::tokenizer::load_tokenizer(o.tokenizer, model.config().vocab_size);
            else tokenizer = ternary::tokenizer::tokenizer_of_model(o.model);
            std::fprintf(stderr, "loaded %s in %.2f s%s\n", o.model.c_str(), seconds_since(load_start),
                         tokenizer ? "" : "; it has no tokenizer and no -z was given: text in and out is bytes");
            examples::with_packing(model, o.packing, [&](auto& m) { run(m, tokenizer, o); });
        }, loaded);
    } catch (const ternary::error& e) {
        std::fprintf(stderr, "ternary-generate: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
