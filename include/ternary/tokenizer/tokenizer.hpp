#pragma once
// One tokenizer interface over every source (docs/tokenizers.md): byte-level BPE (Llama 3 /
// BitNet b1.58 2B4T, GPT-2), SentencePiece BPE (Llama 2, Phi-3) and llama2.c's tokenizer.bin.
// load_tokenizer tells the files apart by their content; streaming_decoder turns ids into text
// as they are generated.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "../io/file.hpp"
#include "../io/gguf.hpp"
#include "../io/mapped_file.hpp"
#include "bpe.hpp"
#include "llama2c.hpp"
#include "sentencepiece.hpp"
#include "unicode.hpp"

namespace ternary::inline TERNARY_ABI::tokenizer {

/// A tokenizer of any supported kind. Every id it takes or returns is below vocab_size();
/// methods given a larger id throw value_error.
class any_tokenizer {
    // Defined first: the members below deduce their return types through it.
    template <class F>
    decltype(auto) visit(F&& f) const {
        return std::visit(std::forward<F>(f), impl_);
    }

public:
    using variant = std::variant<bpe_tokenizer, spm_tokenizer, llama2c_tokenizer>;

    any_tokenizer(bpe_tokenizer t) : impl_(std::move(t)) { index_stop_tokens(); }
    any_tokenizer(spm_tokenizer t) : impl_(std::move(t)) { index_stop_tokens(); }
    any_tokenizer(llama2c_tokenizer t) : impl_(std::move(t)) { index_stop_tokens(); }

    const variant& get() const noexcept { return impl_; }

    /// "byte-level BPE", "SentencePiece" or "llama2.c".
    std::string_view kind() const noexcept {
        static constexpr std::string_view names[] = {"byte-level BPE", "SentencePiece", "llama2.c"};
        return names[impl_.index()];
    }

    std::size_t vocab_size() const noexcept { return visit([](const auto& t) { return t.vocab_size(); }); }
    std::optional<std::size_t> bos() const noexcept { return visit([](const auto& t) { return t.bos(); }); }
    std::optional<std::size_t> eos() const noexcept { return visit([](const auto& t) { return t.eos(); }); }

    /// Whether plain text (a prompt, a document to score) starts with BOS: the file's
    /// add_bos_token where it has one, else whenever there is a BOS.
    bool adds_bos() const noexcept {
        return visit([](const auto& t) {
            if constexpr (requires { t.adds_bos(); }) return t.adds_bos();
            else return t.bos().has_value();
        });
    }

    /// Whether decoding drops the leading space of the first word: SentencePiece's dummy prefix
    /// (a space encode puts before the text) and llama2.c's space after BOS.
    bool strips_leading_space() const noexcept {
        return visit([](const auto& t) {
            if constexpr (requires { t.add_space_prefix(); }) return t.add_space_prefix();
            else return std::is_same_v<std::decay_t<decltype(t)>, llama2c_tokenizer>;
        });
    }

    /// Ids of text: BOS first if add_bos (value_error if there is none); the texts of special
    /// tokens (<|eot_id|>, <s>, ...) become those tokens only if allow_special, else they are
    /// ordinary text. Any bytes encode, valid UTF-8 or not.
    std::vector<std::size_t> encode(std::string_view text, bool add_bos, bool allow_special) const {
        return visit([&](const auto& t) {
            if constexpr (std::is_same_v<std::decay_t<decltype(t)>, llama2c_tokenizer>) {
                (void)allow_special;  // llama2.c never matches "<s>" in text
                return t.encode(text, add_bos);
            } else {
                return t.encode(text, add_bos, allow_special);
            }
        });
    }

    /// The text of ids (special tokens as their text), with the leading space rule above.
    std::string decode(std::span<const std::size_t> ids) const {
        return visit([&](const auto& t) { return t.decode(ids); });
    }

    /// The bytes one token stands for (a special token's text).
    const std::string& token_bytes(std::size_t id) const {
        return visit([&](const auto& t) -> const std::string& { return t.token_bytes(id); });
    }

    /// Whether a token is a control or special token (BOS, <|eot_id|>, <|user|>, ...).
    bool is_special(std::size_t id) const { return visit([&](const auto& t) { return t.is_special(id); }); }

    /// The id of a token by its text (a special token's text, or an ordinary token's bytes;
    /// SentencePiece pieces as stored, with U+2581 for spaces).
    std::optional<std::size_t> find(std::string_view text) const {
        return visit([&](const auto& t) { return t.find(text); });
    }

    /// The tokens that end a reply: EOS and whichever end-of-turn tokens the vocabulary has
    /// (<|eot_id|>, <|eom_id|>, <|im_end|>, <|end|>, <end_of_turn>, <|endoftext|>). llama2.c
    /// models end a story with BOS, so BOS counts for them (as in llama2.c's run.c).
    std::span<const std::size_t> stop_tokens() const noexcept { return stop_; }
    bool is_stop(std::size_t id) const noexcept { return std::find(stop_.begin(), stop_.end(), id) != stop_.end(); }

    /// The chat template stored with the tokenizer (GGUF tokenizer.chat_template, HF
    /// tokenizer_config.json), if any: Jinja source, see chat.hpp.
    std::optional<std::string> chat_template() const {
        return visit([](const auto& t) -> std::optional<std::string> {
            if constexpr (requires { t.chat_template(); }) return t.chat_template();
            else return std::nullopt;
        });
    }

    /// The tokenizer as GGUF metadata (tokenizer.ggml.*), to store with a model; value_error
    /// for kinds that have no GGUF form here (llama2.c's).
    std::vector<std::pair<std::string, io::gguf_value>> gguf_metadata() const {
        return visit([](const auto& t) -> std::vector<std::pair<std::string, io::gguf_value>> {
            if constexpr (requires { t.gguf_metadata(); }) {
                return t.gguf_metadata();
            } else {
                ternary::detail::fail<value_error>("any_tokenizer::gguf_metadata", "a llama2.c tokenizer has no GGUF form here");
            }
        });
    }

private:
    void index_stop_tokens() {
        if (const auto e = eos()) stop_.push_back(*e);
        if (std::holds_alternative<llama2c_tokenizer>(impl_)) {
            stop_.push_back(llama2c_tokenizer::bos_id);
        } else {
            for (const char* text : {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                     "<|endoftext|>"}) {
                const auto id = find(text);
                if (id && is_special(*id) && !is_stop(*id)) stop_.push_back(*id);
            }
        }
    }

    variant impl_;
    std::vector<std::size_t> stop_;
};

namespace detail {

inline bool looks_like_tiktoken(std::string_view head) {
    // "base64 rank" on the first line: base64 characters, one space, digits.
    const std::size_t end = std::min(head.find('\n'), head.size());
    const std::string_view line = head.substr(0, end);
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 >= line.size()) return false;
    for (std::size_t i = 0; i < space; ++i) {
        const char c = line[i];
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')) return false;
    }
    for (std::size_t i = space + 1; i < line.size(); ++i) {
        if (!(line[i] >= '0' && line[i] <= '9') && !(line[i] == '\r' && i + 1 == line.size())) return false;
    }
    return true;
}

/// The tokenizer in a parsed GGUF file's metadata: tokenizer.ggml.model "gpt2" (byte-level
/// BPE) or "llama" (SentencePiece); format_error for any other or none.
inline any_tokenizer tokenizer_of_gguf(const io::gguf_file& gguf, const std::string& path) {
    const io::gguf_value* model = gguf.find("tokenizer.ggml.model");
    const std::string* name = model != nullptr ? std::get_if<std::string>(&model->value) : nullptr;
    if (name == nullptr) ternary::detail::fail<format_error>(path.c_str(), "this GGUF file has no tokenizer (tokenizer.ggml.model)");
    if (*name == "gpt2") return bpe_tokenizer::from_gguf(gguf, path);
    if (*name == "llama") return spm_tokenizer::from_gguf(gguf, path);
    ternary::detail::fail<format_error>(path.c_str(), "tokenizer.ggml.model '", *name,
                                        "' is not supported (gpt2: byte-level BPE, llama: SentencePiece)");
}

}  // namespace detail

/// The tokenizer at path, whatever its source:
///  - a directory: its tokenizer.json (+ tokenizer_config.json), else its tokenizer.model;
///  - a GGUF file (a model or vocab-only): its tokenizer.ggml.* metadata ("gpt2" or "llama");
///  - a JSON file: Hugging Face tokenizer.json;
///  - a tiktoken rank file (Llama 3's tokenizer.model): lines "base64 rank";
///  - a SentencePiece .model (protobuf);
///  - otherwise llama2.c's tokenizer.bin, which does not store its size: `vocab_size` pieces
///    (the model's), or with 0 as many as the file holds.
/// format_error when the file is none of these or is malformed.
inline any_tokenizer load_tokenizer(const std::string& path, std::size_t vocab_size = 0) {
    namespace fs = std::filesystem;
    if (fs::is_directory(path)) {
        const fs::path dir(path);
        if (fs::exists(dir / "tokenizer.json")) return bpe_tokenizer::load_hf_json((dir / "tokenizer.json").string());
        if (fs::exists(dir / "tokenizer.model")) return load_tokenizer((dir / "tokenizer.model").string(), vocab_size);
        ternary::detail::fail<format_error>(path.c_str(), "a directory without tokenizer.json or tokenizer.model");
    }
    const auto file = io::mapped_file::open(path);
    const std::span<const std::uint8_t> bytes = file->bytes();
    const std::string_view head(reinterpret_cast<const char*>(bytes.data()), std::min<std::size_t>(bytes.size(), 4096));
    if (head.starts_with("GGUF")) return detail::tokenizer_of_gguf(io::gguf_file::parse(bytes, path), path);
    const std::size_t first = head.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && head[first] == '{') {
        return bpe_tokenizer::load_hf_json(path);
    }
    if (detail::looks_like_tiktoken(head)) {
        return bpe_tokenizer::from_tiktoken(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path);
    }
    if (!bytes.empty() && bytes[0] == 0x0A) return spm_tokenizer::from_model_proto(bytes, path);  // field 1 (pieces), bytes
    if (vocab_size == 0) vocab_size = llama2c_tokenizer::pieces_in(bytes);
    if (vocab_size == 0) {
        ternary::detail::fail<format_error>(path.c_str(), "not a tokenizer: neither GGUF, tokenizer.json, a tiktoken rank file, "
                                                          "a SentencePiece model nor a llama2.c tokenizer.bin");
    }
    return llama2c_tokenizer::load(bytes, vocab_size, path);
}

/// The tokenizer a model file carries (GGUF metadata, or the tokenizer files of a Hugging
/// Face directory), or nullopt if it has none (llama2.c files, bare safetensors).
inline std::optional<any_tokenizer> tokenizer_of_model(const std::string& model_path) {
    namespace fs = std::filesystem;
    if (fs::is_directory(model_path)) {
        const fs::path dir(model_path);
        if (!fs::exists(dir / "tokenizer.json") && !fs::exists(dir / "tokenizer.model")) return std::nullopt;
        return load_tokenizer(model_path);
    }
    const auto file = io::mapped_file::open(model_path);
    const std::span<const std::uint8_t> bytes = file->bytes();
    if (bytes.size() < 4 || std::memcmp(bytes.data(), "GGUF", 4) != 0) return std::nullopt;
    const io::gguf_file gguf = io::gguf_file::parse(bytes, model_path);
    if (gguf.find("tokenizer.ggml.model") == nullptr) return std::nullopt;
    return detail::tokenizer_of_gguf(gguf, model_path);  // parsed once
}

/// Turns ids into text as they arrive, for printing while generating:
///  - bytes that end inside a UTF-8 character are held back until it is complete, so each
///    piece is whole characters (bytes that can never become valid UTF-8 pass as they are);
///  - special tokens give their text only with show_special (by default a stream shows what
///    decode() would give);
///  - with a tokenizer that strips_leading_space(), the first ordinary token's leading space
///    is dropped, and again after each BOS, as decode() does.
template <class Tokenizer>
class streaming_decoder {
public:
    explicit streaming_decoder(const Tokenizer& tokenizer, bool show_special = true)
        : tokenizer_(&tokenizer), show_special_(show_special) {}

    /// The text that token completes (possibly empty); value_error for an id out of range.
    std::string push(std::size_t id) {
        const std::string& bytes = tokenizer_->token_bytes(id);
        if (tokenizer_->is_special(id)) {
            if (tokenizer_->bos() == id) at_start_ = true;
            if (show_special_) pending_ += bytes;
        } else {
            std::string_view text = bytes;
            if (at_start_ && strips_space() && text.starts_with(' ')) text.remove_prefix(1);
            at_start_ = false;
            pending_ += text;
        }
        const std::size_t ready = pending_.size() - incomplete_utf8_tail(pending_);
        std::string out = pending_.substr(0, ready);
        pending_.erase(0, ready);
        return out;
    }

    /// The bytes still held back (an incomplete character at the end of the stream), cleared.
    std::string finish() { return std::exchange(pending_, std::string()); }

private:
    bool strips_space() const {
        if constexpr (requires { tokenizer_->strips_leading_space(); }) return tokenizer_->strips_leading_space();
        else if constexpr (requires { tokenizer_->add_space_prefix(); }) return tokenizer_->add_space_prefix();
        else return std::is_same_v<Tokenizer, llama2c_tokenizer>;
    }

    const Tokenizer* tokenizer_;
    bool show_special_;
    bool at_start_ = true;
    std::string pending_;
};

}  // namespace ternary::inline TERNARY_ABI::tokenizer
