// ternary-perplexity: how well a model predicts a text (teacher forcing). The last line is
// nll=<mean negative log-likelihood per predicted token> ppl=<exp(nll)> tokens=<count>.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>

#include <ternary/bitnet/perplexity.hpp>
#include <ternary/io/load.hpp>
#include <ternary/tokenizer/tokenizer.hpp>

#include "head_option.hpp"
#include "model_options.hpp"
#include "options.hpp"
#include "numbers.hpp"
#include "packing_option.hpp"

namespace {

const std::string usage = std::string(
    "usage: ternary-perplexity -m MODEL [-z TOKENIZER] -f TEXT [options]\n"
    "  -m MODEL         checkpoint: GGUF, safetensors directory, llama2.c (.bin, float) or\n"
    "                   bitllama2.c (ak42, ternary)\n"
    "  -z TOKENIZER     the model's tokenizer (default: the one the model carries)\n"
    "  -f TEXT          the text file to score\n"
    "  --separator S    documents in TEXT are separated by S (default <|endoftext|>); each is\n"
    "                   trimmed, empty ones skipped, encoded with BOS in front, cut to the context\n"
    ) + examples::head_type_help + examples::packing_help +
    "  -t THREADS       threads (default: all cores, or TERNARY_THREADS)\n"
    "  -h, --help       this text\n";

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "ternary-perplexity: error: %s\n%s", message.c_str(), usage.c_str());
    std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
    std::string model_path, tokenizer_path, text_path, separator = "<|endoftext|>", packing = "auto";
    std::size_t threads = 0;
    std::string head_type = "stored";
    examples::read_options(argc, argv, usage, [](const std::string& message) { fail(message); },
        [&](std::string_view flag) {
            if (flag == "--int8-head") head_type = "int8";
            else return false;
            return true;
        },
        [&](std::string_view arg, const char* value) {
            if (arg == "-m") model_path = value;
            else if (arg == "-z") tokenizer_path = value;
            else if (arg == "-f") text_path = value;
            else if (arg == "--separator") separator = value;
            else if (examples::read_model_option(arg, value, packing, head_type)) {}
            else if (arg == "-t") threads = examples::parse_threads(value);
            else return false;
            return true;
        });
    if (model_path.empty() || text_path.empty()) fail("pass -m MODEL and -f TEXT");
    std::ifstream in(text_path, std::ios::binary);
    if (!in) fail("cannot read " + text_path);
    std::ostringstream text;
    text << in.rdbuf();
    try {
        if (threads != 0) ternary::set_threads(threads);
        ternary::io::any_model loaded = ternary::io::load_model(model_path);
        std::visit([&](auto& model) {
            const auto tokenizer = !tokenizer_path.empty()
                                       ? std::optional(ternary::tokenizer::load_tokenizer(tokenizer_path, model.config().vocab_size))
                                       : ternary::tokenizer::tokenizer_of_model(model_path);
            if (!tokenizer) fail(model_path + " carries no tokenizer: pass -z TOKENIZER");
            if (tokenizer->vocab_size() > model.config().vocab_size) fail("the tokenizer has more tokens than the model");
            examples::with_packing(model, packing, [&](auto& m) {
                examples::apply_head_type(m, head_type);
                const auto result = ternary::bitnet::perplexity(m, *tokenizer, text.str(), separator);
                std::printf("nll=%.6f ppl=%.4f tokens=%zu\n", result.nll, result.perplexity, result.tokens);
            });
        }, loaded);
    } catch (const ternary::error& e) {
        std::fprintf(stderr, "ternary-perplexity: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
