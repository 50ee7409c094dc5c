// ternary-chat: talk with a model in a terminal. Replies stream as they are generated; the
// conversation stays in the model's KV cache, so each turn only runs the new message.
// Ctrl-C stops a reply (the session goes on); /reset starts over; /quit or Ctrl-D leaves.
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <ternary/bitnet/generate.hpp>
#include <ternary/io/load.hpp>
#include <ternary/thread_pool.hpp>
#include <ternary/tokenizer/chat.hpp>
#include <ternary/tokenizer/tokenizer.hpp>

#include "chat_template_choice.hpp"
#include "head_option.hpp"
#include "model_options.hpp"
#include "options.hpp"
#include "packing_option.hpp"
#include "sampling_options.hpp"

namespace {

const std::string usage = std::string(
    "usage: ternary-chat -m MODEL [-z TOKENIZER] [options]\n"
    "  -m MODEL         checkpoint (GGUF or a Hugging Face directory) with its tokenizer\n"
    "  -z TOKENIZER     a tokenizer file or directory, for models that do not carry one\n"
    "  --system TEXT    a system message at the start of the conversation\n"
    "  --template NAME  chat template: bitnet, llama3, chatml or phi3 (default: bitnet for\n"
    "                   BitNet b1.58 2B4T-style models, else recognised from the model's own)\n"
    "  -n N             longest reply in tokens (default: until the context is full)\n"
    "  --temp T         sampling temperature; 0 is greedy (default 0.7)\n"
    "  --top-k K        sample among the K most likely tokens; 0: all (default 0)\n"
    "  --top-p P        sample among the most likely tokens whose probability reaches P (default 0.9)\n"
    "  --seed S         random seed (default 42)\n"
    ) + examples::head_type_help + examples::packing_help +
    "  -t THREADS       threads (default: all cores, or TERNARY_THREADS)\n"
    "  -h, --help       this text\n"
    "In the chat: /reset starts a new conversation, /quit (or Ctrl-D) leaves, Ctrl-C stops a reply.\n";

struct options {
    std::string model, tokenizer, system, chat_template;
    std::size_t max_reply = 0, threads = 0;
    std::string packing = "auto";
    std::string head_type = "stored";
    ternary::bitnet::sampler_options sampling{.temperature = 0.7f, .top_k = 0, .top_p = 0.9f, .seed = 42};
};

[[noreturn]] void fail(const std::string& message, bool show_usage = true) {
    std::fprintf(stderr, "ternary-chat: error: %s\n%s", message.c_str(), show_usage ? usage.c_str() : "");
    std::exit(1);
}

options parse(int argc, char** argv) {
    options o;
    examples::read_options(argc, argv, usage, [](const std::string& message) { fail(message); },
        [&](std::string_view flag) {
            if (flag == "--int8-head") o.head_type = "int8";
            else return false;
            return true;
        },
        [&](std::string_view arg, const char* value) {
            if (arg == "-m") o.model = value;
            else if (arg == "-z") o.tokenizer = value;
            else if (arg == "--system") o.system = value;
            else if (arg == "--template") o.chat_template = value;
            else if (examples::read_model_option(arg, value, o.packing, o.head_type)) {}
            else if (arg == "-n") o.max_reply = examples::parse_number<std::size_t>(value);
            else if (examples::read_sampling_option(arg, value, o.sampling)) {}
            else if (arg == "-t") o.threads = examples::parse_threads(value);
            else return false;
            return true;
        });
    if (o.model.empty()) fail("pass a model: -m MODEL");
    return o;
}

// Ctrl-C: set by the handler, read by the reply loop and the line reader.
volatile std::sig_atomic_t interrupt_requested = 0;
extern "C" void on_interrupt(int) { interrupt_requested = 1; }

void install_interrupt_handler() {
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: a read waiting for a line returns EINTR
    sigaction(SIGINT, &action, nullptr);
}

enum class read_result { line, interrupted, end };

/// One line from stdin without its newline.
read_result read_line(std::string& line) {
    line.clear();
    for (;;) {
        const int c = std::fgetc(stdin);
        if (c == EOF) {
            if (std::ferror(stdin) && errno == EINTR) {
                std::clearerr(stdin);
                if (interrupt_requested) {
                    interrupt_requested = 0;
                    return read_result::interrupted;
                }
                continue;
            }
            return line.empty() ? read_result::end : read_result::line;
        }
        if (c == '\n') return read_result::line;
        line += static_cast<char>(c);
    }
}

template <class Model>
void chat(Model& model, const ternary::tokenizer::any_tokenizer& tokenizer, const options& o) {
    namespace tk = ternary::tokenizer;
    const auto& config = model.config();
    if (tokenizer.vocab_size() > config.vocab_size) {
        fail("the tokenizer has " + std::to_string(tokenizer.vocab_size()) + " tokens, the model only " +
                 std::to_string(config.vocab_size),
             false);
    }
    const tk::chat_format format = [&] {
        try {
            return tk::chat_format(tokenizer, examples::choose_chat_template(o.chat_template, config, tokenizer));
        } catch (const std::runtime_error& e) {
            fail(e.what(), false);
        }
    }();
    examples::apply_head_type(model, o.head_type);
    ternary::bitnet::sampler sampler(o.sampling);

    // The ids not yet in the KV cache: the conversation's start, and after a reply its end.
    const auto start = [&] {
        std::vector<std::size_t> ids = format.begin();
        if (!o.system.empty()) {
            const auto system = format.message({"system", o.system});
            ids.insert(ids.end(), system.begin(), system.end());
        }
        return ids;
    };
    std::size_t position = 0;
    std::vector<std::size_t> pending = start();

    std::fprintf(stderr, "%s template, %s tokenizer (%zu tokens), context %zu, %zu threads\n",
                 std::string(tk::name_of(format.style())).c_str(), std::string(tokenizer.kind()).c_str(),
                 tokenizer.vocab_size(), config.seq_len, ternary::threads());
    std::fprintf(stderr, "/reset starts over, /quit or Ctrl-D leaves, Ctrl-C stops a reply.\n");
    install_interrupt_handler();
    std::string line;
    for (;;) {
        std::fputs("\n> ", stdout);
        std::fflush(stdout);
        const read_result got = read_line(line);
        if (got == read_result::end) break;
        if (got == read_result::interrupted) {
            std::fputs("\n(Ctrl-C: /quit or Ctrl-D leaves)", stdout);
            continue;
        }
        if (line == "/quit" || line == "/exit") break;
        if (line == "/reset") {
            position = 0;
            pending = start();
            std::fputs("(new conversation)\n", stdout);
            continue;
        }
        if (line.empty()) continue;

        std::vector<std::size_t> input = pending;
        for (const auto& part : {format.message({"user", line}), format.generation_prompt()}) {
            input.insert(input.end(), part.begin(), part.end());
        }
        if (position + input.size() >= config.seq_len) {
            std::printf("(the context of %zu positions is full: /reset to start over)\n", config.seq_len);
            continue;
        }
        const std::size_t room = config.seq_len - position - input.size();
        const std::size_t max_new = o.max_reply == 0 ? room + 1 : std::min(o.max_reply, room + 1);
        tk::streaming_decoder text(tokenizer, false);
        interrupt_requested = 0;
        const auto stats = ternary::bitnet::generate_tokens(model, sampler, std::span<const std::size_t>(input), position,
                                                            max_new, tokenizer.stop_tokens(), [&](std::size_t id) {
                                                                std::fputs(text.push(id).c_str(), stdout);
                                                                std::fflush(stdout);
                                                                return interrupt_requested == 0;
                                                            });
        std::fputs(text.finish().c_str(), stdout);
        using end = ternary::bitnet::generation_stats::end;
        // The reply is closed the template's way: a stop token the model sampled is replaced by
        // the end-of-message ids; a reply cut short keeps its last token and gets them too.
        pending.clear();
        if (stats.unfed && stats.ended != end::stop_token) pending.push_back(*stats.unfed);
        const auto closing = format.end_of_message();
        pending.insert(pending.end(), closing.begin(), closing.end());
        const std::size_t decoded = stats.generated > 0 ? stats.generated - 1 : 0;  // the first came with the prefill
        std::printf("\n[%zu tokens, %.1f tokens/s; prompt %zu tokens at %.1f tokens/s; context %zu/%zu%s]\n", stats.generated,
                    stats.decode_seconds > 0 ? static_cast<double>(decoded) / stats.decode_seconds : 0.0, stats.prompt_tokens,
                    stats.prefill_seconds > 0 ? static_cast<double>(stats.prompt_tokens) / stats.prefill_seconds : 0.0, position, config.seq_len,
                    stats.ended == end::interrupted    ? "; stopped"
                    : stats.ended == end::context_full ? "; context full: /reset to start over"
                    : stats.ended == end::limit        ? "; reply cut at -n"
                                                       : "");
        interrupt_requested = 0;
    }
    std::fputs("\n", stdout);
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    try {
        if (o.threads != 0) ternary::set_threads(o.threads);
        const auto load_start = std::chrono::steady_clock::now();
        ternary::io::any_model loaded = ternary::io::load_model(o.model);
        std::visit([&](auto& model) {
            std::optional<ternary::tokenizer::any_tokenizer> tokenizer;
            if (!o.tokenizer.empty()) tokenizer = ternary::tokenizer::load_tokenizer(o.tokenizer, model.config().vocab_size);
            else tokenizer = ternary::tokenizer::tokenizer_of_model(o.model);
            if (!tokenizer) fail(o.model + " carries no tokenizer: pass -z TOKENIZER", false);
            std::fprintf(stderr, "loaded %s in %.2f s\n", o.model.c_str(),
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count());
            examples::with_packing(model, o.packing, [&](auto& m) { chat(m, *tokenizer, o); });
        }, loaded);
    } catch (const ternary::error& e) {
        std::fprintf(stderr, "ternary-chat: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
