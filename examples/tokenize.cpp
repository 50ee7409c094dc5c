// ternary-tokenize: the token ids of texts, for debugging prompts. One line per text, ids
// separated by spaces.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <ternary/tokenizer/tokenizer.hpp>

#include "numbers.hpp"

namespace {

const char* usage =
    "usage: ternary-tokenize -z TOKENIZER_OR_MODEL [--no-bos] [--special] [--vocab N] TEXT...\n"
    "  -z PATH     a tokenizer (Llama 3 tokenizer.model, SentencePiece .model, tokenizer.json,\n"
    "              llama2.c tokenizer.bin) or a model that carries one (GGUF, Hugging Face directory)\n"
    "  --no-bos    do not put BOS first (by default it is added when the tokenizer adds one)\n"
    "  --special   parse special tokens' texts (<|eot_id|>, <s>, ...) as those tokens\n"
    "  --vocab N   the vocabulary size of a llama2.c tokenizer.bin (default: all its records)\n"
    "  -h, --help  this text\n"
    "Prints one line of space-separated ids per TEXT.\n";

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "ternary-tokenize: error: %s\n%s", message.c_str(), usage);
    std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
    std::string path;
    bool bos = true, special = false;
    std::size_t vocab = 0;
    std::vector<std::string> texts;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            std::fputs(usage, stdout);
            return 0;
        }
        if (arg == "--no-bos") bos = false;
        else if (arg == "--special") special = true;
        else if (arg == "-z" || arg == "--vocab") {
            if (i + 1 >= argc) fail("missing value after " + std::string(arg));
            if (arg == "-z") {
                path = argv[++i];
            } else {
                try {
                    vocab = examples::parse_number<std::size_t>(argv[++i]);
                } catch (const std::logic_error&) {
                    fail("bad value for --vocab");
                }
            }
        } else if (arg == "--") {
            for (++i; i < argc; ++i) texts.emplace_back(argv[i]);
        } else if (arg.starts_with("-") && arg.size() > 1) {
            fail("unknown option " + std::string(arg) + " (put -- before a text that starts with -)");
        } else {
            texts.emplace_back(arg);
        }
    }
    if (path.empty()) fail("pass a tokenizer or model: -z PATH");
    if (texts.empty()) fail("pass at least one TEXT");
    try {
        const auto tokenizer = ternary::tokenizer::load_tokenizer(path, vocab);
        for (const auto& text : texts) {
            const auto ids = tokenizer.encode(text, bos && tokenizer.adds_bos(), special);
            std::string line;
            for (const std::size_t id : ids) line += (line.empty() ? "" : " ") + std::to_string(id);
            std::puts(line.c_str());
        }
    } catch (const ternary::error& e) {
        std::fprintf(stderr, "ternary-tokenize: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
