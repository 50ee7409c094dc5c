// ternary-generate: text from a model, streamed to stdout; load time and speed to stderr.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include <ternary/bitnet/generate.hpp>
#include <ternary/io/load.hpp>
#include <ternary/thread_pool.hpp>
#include <ternary/tokenizer/llama2c.hpp>

namespace {

const char* usage =
    "usage: ternary-generate -m MODEL -z TOKENIZER [options]\n"
    "  -m MODEL       checkpoint: llama2.c (.bin, float) or bitllama2.c (ak42, ternary)\n"
    "  -z TOKENIZER   llama2.c tokenizer.bin for the model\n"
    "  -p PROMPT      text to continue (default: none, start from BOS)\n"
    "  -n N           positions to run, prompt and BOS included (default 256; at most the context)\n"
    "  --temp T       sampling temperature; 0 is greedy (default 1.0)\n"
    "  --top-k K      sample among the K most likely tokens; 0: all (default 0)\n"
    "  --top-p P      sample among the most likely tokens whose probability reaches P (default 0.9)\n"
    "  --seed S       random seed (default 42): the same seed gives the same text\n"
    "  -t THREADS     threads (default: all cores)\n"
    "  -h, --help     this text\n";

struct options {
    std::string model, tokenizer, prompt;
    std::size_t steps = 256, threads = 0;
    ternary::bitnet::sampler_options sampling{.temperature = 1.0f, .top_k = 0, .top_p = 0.9f, .seed = 42};
};

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "ternary-generate: error: %s\n%s", message.c_str(), usage);
    std::exit(1);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            std::fputs(usage, stdout);
            std::exit(0);
        }
        if (i + 1 >= argc) fail("missing value after " + std::string(arg));
        const char* value = argv[++i];
        try {
            if (arg == "-m") o.model = value;
            else if (arg == "-z") o.tokenizer = value;
            else if (arg == "-p") o.prompt = value;
            else if (arg == "-n") o.steps = std::stoul(value);
            else if (arg == "--temp") o.sampling.temperature = std::stof(value);
            else if (arg == "--top-k") o.sampling.top_k = std::stoul(value);
            else if (arg == "--top-p") o.sampling.top_p = std::stof(value);
            else if (arg == "--seed") o.sampling.seed = std::stoull(value);
            else if (arg == "-t") o.threads = std::stoul(value);
            else fail("unknown option " + std::string(arg));
        } catch (const std::logic_error&) {
            fail("bad value '" + std::string(value) + "' for " + std::string(arg));
        }
    }
    if (o.model.empty()) fail("no model: pass -m MODEL (and -z TOKENIZER)");
    if (o.tokenizer.empty()) fail("no tokenizer: pass -z TOKENIZER (llama2.c tokenizer.bin)");
    return o;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    try {
        if (o.threads != 0) ternary::set_threads(o.threads);

        // load the model and its tokenizer
        const auto load_start = std::chrono::steady_clock::now();
        ternary::io::any_model loaded = ternary::io::load_model(o.model);
        std::visit([&](auto& model) {
            const auto tokenizer = ternary::tokenizer::llama2c_tokenizer::load(o.tokenizer, model.config().vocab_size);
            std::fprintf(stderr, "loaded %s in %.2f s\n", o.model.c_str(), seconds_since(load_start));

            // generate, streaming each piece as it comes
            ternary::bitnet::sampler sampler(o.sampling);
            const auto start = std::chrono::steady_clock::now();
            const std::size_t generated = ternary::bitnet::generate(model, tokenizer, sampler, o.prompt, o.steps,
                [](const std::string& piece) {
                    std::fputs(piece.c_str(), stdout);
                    std::fflush(stdout);
                });
            std::printf("\n");
            const double elapsed = seconds_since(start);
            const std::size_t positions = generated + tokenizer.encode(o.prompt, true, false).size() - 1;
            std::fprintf(stderr, "%zu positions in %.2f s: %.1f tokens/s (%zu generated, %zu threads)\n", positions,
                         elapsed, static_cast<double>(positions) / elapsed, generated, ternary::threads());
        }, loaded);
    } catch (const ternary::error& e) {
        std::fprintf(stderr, "ternary-generate: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
