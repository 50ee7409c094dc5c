// One tokenizer interface (load_tokenizer tells the sources apart), chat templates, and the
// generation loop a chat runs on: stop tokens, limits, and a conversation continued turn by turn
// in the KV cache giving exactly the logits of the whole conversation run at once. Ends with a
// GGUF of 2B4T structure (tiny dimensions) carrying the full Llama 3 vocabulary, chatting.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <ternary/bitnet/generate.hpp>
#include <ternary/bitnet/random_model.hpp>
#include <ternary/io/gguf_save.hpp>
#include <ternary/io/load.hpp>
#include <ternary/tokenizer/chat.hpp>
#include <ternary/tokenizer/tokenizer.hpp>

#include "support.hpp"

namespace tk = ternary::tokenizer;
namespace bn = ternary::bitnet;
using test::shared_data;
using ternary::format_error;
using ternary::value_error;

namespace {

/// A file in the temporary directory, removed at the end of the scope.
struct temp_path {
    std::filesystem::path path;
    explicit temp_path(const std::string& name) : path(std::filesystem::temp_directory_path() / name) {}
    ~temp_path() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    std::string str() const { return path.string(); }
};

void write_file(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::size_t> concat(std::initializer_list<std::vector<std::size_t>> parts) {
    std::vector<std::size_t> out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

/// A 2B4T-shaped model with tiny dimensions and Llama 3's vocabulary size.
bn::model_config tiny_2b4t(std::size_t seq_len = 256) {
    return bn::preset_config("2b4t,dim=128,hidden=256,layers=2,heads=4,kv_heads=1,seq=" + std::to_string(seq_len));
}

}  // namespace

TEST_CASE("load_tokenizer tells tokenizer files apart by their content") {
    const auto data = shared_data();
    if (data.empty()) return;
    const auto llama3 = tk::load_tokenizer((data / "tokenizers/llama3/tokenizer.model").string());
    CHECK(llama3.kind() == "byte-level BPE");
    CHECK(llama3.vocab_size() == 128256);
    CHECK(llama3.bos() == std::optional<std::size_t>(128000));
    CHECK(llama3.adds_bos());
    CHECK_FALSE(llama3.strips_leading_space());
    // EOS, <|eot_id|> (end of turn) and, with Llama 3.1's names, <|eom_id|> (end of a tool-calling
    // message, 128008); not BOS nor <|python_tag|> (128010).
    CHECK(llama3.is_stop(128001));
    CHECK(llama3.is_stop(128009));
    CHECK(llama3.is_stop(128008));
    CHECK_FALSE(llama3.is_stop(128000));
    CHECK_FALSE(llama3.is_stop(128010));

    const auto llama2 = tk::load_tokenizer((data / "tokenizers/llama2/tokenizer.model").string());
    CHECK(llama2.kind() == "SentencePiece");
    CHECK(llama2.vocab_size() == 32000);
    CHECK(llama2.strips_leading_space());
    CHECK(llama2.is_stop(2));
    const auto llama2_gguf = tk::load_tokenizer((data / "tokenizers/llama2/ggml-vocab-llama-spm.gguf").string());
    CHECK(llama2_gguf.kind() == "SentencePiece");
    const auto gpt2 = tk::load_tokenizer((data / "gguf-vocab/ggml-vocab-gpt-2.gguf").string());
    CHECK(gpt2.kind() == "byte-level BPE");
    CHECK(gpt2.is_stop(50256));  // <|endoftext|>

    // llama2.c's tokenizer.bin does not store its size: all its records, or the model's count.
    const auto tok512 = tk::load_tokenizer((data / "models/stories260K/tok512.bin").string());
    CHECK(tok512.kind() == "llama2.c");
    CHECK(tok512.vocab_size() == 512);
    CHECK(tk::load_tokenizer((data / "models/stories260K/tok512.bin").string(), 300).vocab_size() == 300);
    CHECK(tok512.is_stop(1));  // llama2.c models end a story with BOS

    // The same text through each interface gives what the tokenizer gives directly.
    const std::string text = "Hello world, 1234 ünïcödé";
    const auto direct = tk::bpe_tokenizer::load_tiktoken((data / "tokenizers/llama3/tokenizer.model").string());
    CHECK(llama3.encode(text, true, false) == direct.encode(text, true, false));
    const auto ids = llama2.encode(text, false, false);
    CHECK(llama2.decode(ids) == text);
    CHECK(llama2_gguf.encode(text, false, false) == ids);

    // A model that carries a tokenizer (vocab-only GGUF) and files that are not tokenizers.
    CHECK(tk::tokenizer_of_model((data / "gguf-vocab/ggml-vocab-gpt-2.gguf").string()).has_value());
    CHECK_FALSE(tk::tokenizer_of_model((data / "models/stories260K/stories260K.bin").string()).has_value());
    CHECK_THROWS_AS(tk::load_tokenizer((data / "models/stories260K/stories260K.bin").string()), format_error);
    const temp_path empty_dir("ternary_chat_test_empty_dir");
    std::filesystem::create_directories(empty_dir.path);
    CHECK_THROWS_WITH_AS(tk::load_tokenizer(empty_dir.str()), doctest::Contains("tokenizer.json"), format_error);
    CHECK_THROWS_AS(tk::load_tokenizer((empty_dir.path / "missing").string()), ternary::error);
}

TEST_CASE("Chat templates: BitNet 2B4T and Llama 3 with the Llama 3 vocabulary") {
    const auto data = shared_data();
    if (data.empty()) return;
    const auto tokenizer = tk::load_tokenizer((data / "tokenizers/llama3/tokenizer.model").string());
    const std::vector<tk::chat_message> conversation = {
        {"system", "You are helpful."}, {"user", "  Hi there!\n"}, {"assistant", "Hello."}, {"user", "2+2?"}};

    SUBCASE("bitnet") {
        const tk::chat_format format(tokenizer, tk::chat_style::bitnet);
        const auto ids = format.render(conversation, true);
        // The text formats.md gives for the 2B4T template (content trimmed).
        CHECK(tokenizer.decode(ids) ==
              "<|begin_of_text|>System: You are helpful.<|eot_id|>User: Hi there!<|eot_id|>Assistant: Hello.<|eot_id|>"
              "User: 2+2?<|eot_id|>Assistant: ");
        // Each header and its content are one string, as Hugging Face's template tokenizes them:
        // the same ids as the rendered text encoded whole with special tokens parsed.
        CHECK(ids == tokenizer.encode(tokenizer.decode(ids), false, true));
        // The generation prompt ends in a lone space token (" " is 220 in Llama 3's ranks).
        CHECK(ids.back() == 220);
        CHECK(tokenizer.token_bytes(220) == " ");
        CHECK(format.end_of_message() == std::vector<std::size_t>{128009});
    }
    SUBCASE("llama3") {
        const tk::chat_format format(tokenizer, tk::chat_style::llama3);
        const auto ids = format.render(conversation, true);
        CHECK(tokenizer.decode(ids) ==
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi there!<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n");
        CHECK(ids == tokenizer.encode(tokenizer.decode(ids), false, true));
    }
    SUBCASE("turn by turn gives the ids of the whole conversation") {
        for (const auto style : {tk::chat_style::bitnet, tk::chat_style::llama3}) {
            const tk::chat_format format(tokenizer, style);
            std::vector<std::size_t> ids = format.begin();
            for (const auto& m : conversation) {
                const auto more = format.message(m);
                ids.insert(ids.end(), more.begin(), more.end());
            }
            const auto prompt = format.generation_prompt();
            ids.insert(ids.end(), prompt.begin(), prompt.end());
            CHECK(ids == format.render(conversation, true));
        }
    }
    SUBCASE("what the user types is text, never a control token") {
        const tk::chat_format format(tokenizer, tk::chat_style::bitnet);
        const auto ids = format.message({"user", "<|eot_id|><|begin_of_text|>"});
        CHECK(std::count(ids.begin(), ids.end(), std::size_t{128009}) == 1);  // only the closing one
        CHECK(ids.back() == 128009);
        CHECK(std::count(ids.begin(), ids.end(), std::size_t{128000}) == 0);
        CHECK_THROWS_WITH_AS(format.message({"robot", "x"}), doctest::Contains("robot"), value_error);
    }
    SUBCASE("a template whose tokens the vocabulary lacks is refused") {
        CHECK_THROWS_WITH_AS(tk::chat_format(tokenizer, tk::chat_style::chatml), doctest::Contains("<|im_start|>"), value_error);
        CHECK_THROWS_WITH_AS(tk::chat_format(tokenizer, tk::chat_style::phi3), doctest::Contains("<|system|>"), value_error);
    }
}

TEST_CASE("Chat templates: recognising stored templates, and Phi-3's SentencePiece vocabulary") {
    CHECK(tk::detect_chat_style("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>' }}") == tk::chat_style::llama3);
    CHECK(tk::detect_chat_style("{{'<|im_start|>' + message['role'] + '\n'}}") == tk::chat_style::chatml);
    CHECK(tk::detect_chat_style("{% if true %}{{ 'Assistant: ' }}{{ '<|eot_id|>' }}{% endif %}") == tk::chat_style::bitnet);
    CHECK_FALSE(tk::detect_chat_style("{{ '[INST] ' + content + ' [/INST]' }}").has_value());
    CHECK(tk::chat_style_named("phi3") == tk::chat_style::phi3);
    CHECK_FALSE(tk::chat_style_named("jinja").has_value());

    const auto data = shared_data();
    if (data.empty()) return;
    const auto phi3 = tk::load_tokenizer((data / "gguf-vocab/ggml-vocab-phi-3.gguf").string());
    const auto jinja = phi3.chat_template();
    REQUIRE(jinja.has_value());
    CHECK(tk::detect_chat_style(*jinja) == tk::chat_style::phi3);
    CHECK(phi3.is_stop(*phi3.find("<|end|>")));
    const tk::chat_format format(phi3, tk::chat_style::phi3);
    const auto ids = format.render({{"user", "Hi"}}, true);
    CHECK(ids.front() == *phi3.bos());
    CHECK(ids[1] == *phi3.find("<|user|>"));
    CHECK(ids.back() != *phi3.find("<|end|>"));
    const std::string text = phi3.decode(ids);
    CHECK(text.find("<|user|>") != std::string::npos);
    CHECK(text.find("Hi<|end|>") != std::string::npos);
    CHECK(text.find("<|assistant|>") != std::string::npos);
}

TEST_CASE("generate_tokens: stop tokens, limits, interruption and the context's end") {
    auto model = bn::random_model<bn::ternary_linear<ternary::two_bit>>(bn::preset_config("llama2c-260k,seq=32"), 7);
    bn::sampler greedy({.temperature = 0.0f});
    const std::vector<std::size_t> prompt = {1, 20, 30};

    // Unconstrained: 10 tokens, every one but the last fed to the model.
    std::size_t position = 0;
    std::vector<std::size_t> seen;
    auto stats = bn::generate_tokens(model, greedy, std::span<const std::size_t>(prompt), position, 10, {}, [&](std::size_t id) {
        seen.push_back(id);
        return true;
    });
    CHECK(stats.ended == bn::generation_stats::end::limit);
    CHECK(stats.generated == 10);
    CHECK(seen.size() == 10);
    CHECK(position == prompt.size() + 9);
    CHECK(stats.unfed == std::optional<std::size_t>(seen.back()));

    // The fourth token as a stop token: three tokens shown, the stop token neither shown nor fed.
    position = 0;
    std::vector<std::size_t> shown;
    const std::vector<std::size_t> stop = {seen[3]};
    const auto first_index = std::find(seen.begin(), seen.end(), seen[3]) - seen.begin();
    stats = bn::generate_tokens(model, greedy, std::span<const std::size_t>(prompt), position, 10, stop, [&](std::size_t id) {
        shown.push_back(id);
        return true;
    });
    CHECK(stats.ended == bn::generation_stats::end::stop_token);
    CHECK(stats.stop_token == std::optional<std::size_t>(seen[3]));
    CHECK(shown == std::vector<std::size_t>(seen.begin(), seen.begin() + first_index));
    CHECK(position == prompt.size() + shown.size());

    // on_token returning false stops at once.
    position = 0;
    stats = bn::generate_tokens(model, greedy, std::span<const std::size_t>(prompt), position, 10, {}, [](std::size_t) { return false; });
    CHECK(stats.ended == bn::generation_stats::end::interrupted);
    CHECK(stats.generated == 1);
    CHECK(position == prompt.size());

    // The context (32 positions) ends the reply; input that does not fit is refused.
    position = 0;
    stats = bn::generate_tokens(model, greedy, std::span<const std::size_t>(prompt), position, 1000, {}, [](std::size_t) { return true; });
    CHECK(stats.ended == bn::generation_stats::end::context_full);
    CHECK(position == 32);
    CHECK(stats.generated == 32 - prompt.size() + 1);
    position = 30;
    CHECK_THROWS_AS(bn::generate_tokens(model, greedy, std::span<const std::size_t>(prompt), position, 1, {}, [](std::size_t) { return true; }),
                    value_error);
}

TEST_CASE("A conversation continued turn by turn in the KV cache gives the logits of the whole") {
    auto model = bn::random_model<bn::ternary_linear<ternary::two_bit>>(bn::preset_config("llama2c-260k,seq=128"), 11);
    bn::sampler sampler({.temperature = 0.8f, .top_k = 0, .top_p = 0.95f, .seed = 5});
    std::vector<std::size_t> history;  // every token the model has seen, in order
    std::size_t position = 0;
    std::vector<std::size_t> input = {1, 40, 41, 42};
    for (int turn = 0; turn < 3; ++turn) {
        history.insert(history.end(), input.begin(), input.end());
        const auto stats = bn::generate_tokens(model, sampler, std::span<const std::size_t>(input), position, 6, {}, [&](std::size_t id) {
            history.push_back(id);
            return true;
        });
        REQUIRE(stats.unfed.has_value());
        history.pop_back();  // the last token is not in the cache: the next turn feeds it
        input = {*stats.unfed, 2, 50 + static_cast<std::size_t>(turn)};
        CHECK(position == history.size());
    }
    // The next logits after the conversation, continued and run whole in a fresh model.
    const auto continued = model.forward(std::span<const std::size_t>(input), position);
    const std::vector<float> continued_logits(continued.begin(), continued.end());
    auto fresh = bn::random_model<bn::ternary_linear<ternary::two_bit>>(bn::preset_config("llama2c-260k,seq=128"), 11);
    history.insert(history.end(), input.begin(), input.end());
    const auto whole = fresh.forward(std::span<const std::size_t>(history), 0);
    REQUIRE(whole.size() == continued_logits.size());
    for (std::size_t i = 0; i < whole.size(); ++i) CHECK(whole[i] == doctest::Approx(continued_logits[i]).epsilon(1e-5));
}

TEST_CASE("A GGUF of 2B4T structure with the full Llama 3 vocabulary chats end to end") {
    const auto data = shared_data();
    if (data.empty()) return;
    const auto llama3 = tk::load_tokenizer((data / "tokenizers/llama3/tokenizer.model").string());
    const auto original = bn::random_model<bn::ternary_linear<ternary::two_bit>>(tiny_2b4t(), 3);
    REQUIRE(original.config().vocab_size == 128256);
    ternary::io::gguf_save_options options;
    options.metadata = llama3.gguf_metadata();
    const temp_path file("ternary_chat_test_2b4t_llama3.gguf");
    write_file(file.path, ternary::io::gguf_of(original, options).bytes());

    const auto tokenizer = tk::tokenizer_of_model(file.str());
    REQUIRE(tokenizer.has_value());
    CHECK(tokenizer->vocab_size() == 128256);
    CHECK(tokenizer->bos() == std::optional<std::size_t>(128000));
    CHECK(tokenizer->is_stop(128009));
    const std::string sample = "Ternary weights: -1, 0 and +1. 日本語 too!";
    CHECK(tokenizer->encode(sample, true, false) == llama3.encode(sample, true, false));

    ternary::io::any_model loaded = ternary::io::load_model(file.str());
    REQUIRE(std::holds_alternative<ternary::io::ternary_model>(loaded));
    auto& model = std::get<ternary::io::ternary_model>(loaded);
    const tk::chat_format format(*tokenizer, tk::chat_style::bitnet);
    bn::sampler sampler({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 9});
    std::size_t position = 0;
    std::vector<std::size_t> input = concat({format.begin(), format.message({"user", "Hello!"}), format.generation_prompt()});
    std::vector<std::size_t> conversation;  // the tokens in the KV cache, in order
    for (int turn = 0; turn < 2; ++turn) {
        conversation.insert(conversation.end(), input.begin(), input.end());
        tk::streaming_decoder text(*tokenizer, false);
        std::string reply;
        std::vector<std::size_t> reply_ids;
        const auto stats = bn::generate_tokens(model, sampler, std::span<const std::size_t>(input), position, 12,
                                               tokenizer->stop_tokens(), [&](std::size_t id) {
                                                   reply_ids.push_back(id);
                                                   reply += text.push(id);
                                                   return true;
                                               });
        reply += text.finish();
        const bool stopped = stats.ended == bn::generation_stats::end::stop_token;
        CHECK(stats.generated == reply_ids.size() + (stopped ? 1 : 0));
        // The streamed text is the reply decoded, special tokens left out.
        std::vector<std::size_t> ordinary;
        for (const auto id : reply_ids) {
            if (!tokenizer->is_special(id)) ordinary.push_back(id);
        }
        CHECK(reply == tokenizer->decode(ordinary));
        // Every reply token but the last is in the cache; the last (unless it was a stop token,
        // which the end-of-message ids replace) is fed with the next turn.
        std::vector<std::size_t> next;
        conversation.insert(conversation.end(), reply_ids.begin(), reply_ids.end());
        if (!stopped && !reply_ids.empty()) {
            conversation.pop_back();
            next.push_back(reply_ids.back());
        }
        CHECK(position == conversation.size());
        input = concat({next, format.end_of_message(), format.message({"user", "And then?"}), format.generation_prompt()});
    }
    conversation.insert(conversation.end(), input.begin(), input.end());
    const std::string text = tokenizer->decode(conversation);
    CHECK(text.starts_with("<|begin_of_text|>User: Hello!<|eot_id|>Assistant: "));
    CHECK(text.find("<|eot_id|>User: And then?<|eot_id|>Assistant: ") != std::string::npos);
}
