#pragma once
// Chat templates: how a conversation becomes token ids (docs/tokenizers.md, "Chat").
//
// A template here is not a Jinja interpreter: the common templates are written out, and the
// Jinja source stored with a model (GGUF tokenizer.chat_template, HF tokenizer_config.json) is
// recognised by its marker tokens, as llama.cpp does. Each message is rendered as ordinary text
// between the template's special tokens. The ordinary text is encoded with special-token
// parsing off, so a user who types "<|eot_id|>" gets those characters, not the control token;
// the special tokens are inserted by id. Text between two special tokens is encoded as one
// string, as Hugging Face's apply_chat_template and llama.cpp do.
//
// Messages are rendered one at a time so that a conversation can grow turn by turn with the
// model's KV cache: every message ends with a special token, so rendering messages one by one
// gives the same ids as rendering the whole conversation.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "tokenizer.hpp"

namespace ternary::inline TERNARY_ABI::tokenizer {

struct chat_message {
    std::string role;  // "system", "user" or "assistant"
    std::string content;
};

/// The chat templates written out here:
///  - bitnet: BitNet b1.58 2B4T's (formats.md section 2): <|begin_of_text|>, then per message
///    "System: " / "User: " / "Assistant: " + content (trimmed) + <|eot_id|>; generation prompt
///    "Assistant: ". The header and content are one string, as in the model's Hugging Face
///    template (microsoft/BitNet's gpu/tokenizer.py encodes them separately, which differs
///    only at the boundary: "User: Hi" is "User", ":", " Hi" here and "User", ":", " ", "Hi" there).
///  - llama3: <|begin_of_text|>, per message <|start_header_id|>role<|end_header_id|>"\n\n" +
///    content (trimmed) + <|eot_id|>.
///  - chatml: per message <|im_start|>role"\n" + content + <|im_end|>"\n" (no BOS).
///  - phi3: BOS, per message <|role|>"\n" + content + <|end|>"\n".
enum class chat_style { bitnet, llama3, chatml, phi3 };

inline constexpr std::string_view chat_style_names = "bitnet, llama3, chatml, phi3";

inline std::string_view name_of(chat_style style) noexcept {
    switch (style) {
        case chat_style::bitnet: return "bitnet";
        case chat_style::llama3: return "llama3";
        case chat_style::chatml: return "chatml";
        case chat_style::phi3: return "phi3";
    }
    return "?";
}

/// The style called name, or nullopt.
inline std::optional<chat_style> chat_style_named(std::string_view name) {
    for (const chat_style s : {chat_style::bitnet, chat_style::llama3, chat_style::chatml, chat_style::phi3}) {
        if (name == name_of(s)) return s;
    }
    return std::nullopt;
}

/// The style of a Jinja chat template, recognised by its markers; nullopt when none matches.
inline std::optional<chat_style> detect_chat_style(std::string_view jinja) {
    const auto has = [&](std::string_view marker) { return jinja.find(marker) != std::string_view::npos; };
    if (has("<|start_header_id|>") && has("<|end_header_id|>")) return chat_style::llama3;
    if (has("<|im_start|>")) return chat_style::chatml;
    if (has("<|user|>") && has("<|assistant|>") && has("<|end|>")) return chat_style::phi3;
    if (has("Assistant: ") && has("<|eot_id|>")) return chat_style::bitnet;
    return std::nullopt;
}

/// A template bound to a tokenizer: value_error if the vocabulary lacks a special token the
/// template needs.
class chat_format {
public:
    chat_format(const any_tokenizer& tokenizer, chat_style style) : tokenizer_(&tokenizer), style_(style) {
        // Every special token the template uses must exist, checked now rather than mid-chat.
        (void)begin();
        for (const char* role : {"system", "user", "assistant"}) (void)message({role, ""});
    }

    chat_style style() const noexcept { return style_; }
    const any_tokenizer& tokenizer() const noexcept { return *tokenizer_; }

    /// The ids a conversation starts with (BOS where the template has one).
    std::vector<std::size_t> begin() const {
        if (style_ == chat_style::chatml) return {};
        return {bos()};
    }

    /// The ids of one whole message. value_error for a role other than system, user, assistant.
    std::vector<std::size_t> message(const chat_message& m) const {
        if (m.role != "system" && m.role != "user" && m.role != "assistant") {
            ternary::detail::fail<value_error>("chat_format", "role '", m.role, "' is not system, user or assistant");
        }
        const bool trims = style_ == chat_style::bitnet || style_ == chat_style::llama3;
        std::vector<part> parts = header(m.role);
        parts.push_back({std::string(trims ? trim(m.content) : std::string_view(m.content)), false});
        for (auto& p : end_parts()) parts.push_back(std::move(p));
        return encode(parts);
    }

    /// The ids that make the model write the assistant's message.
    std::vector<std::size_t> generation_prompt() const { return encode(header("assistant")); }

    /// The ids that close an assistant message after its generated content, whether the model
    /// ended it (with a stop token, which these ids replace) or it was cut short.
    std::vector<std::size_t> end_of_message() const { return encode(end_parts()); }

    /// A whole conversation: begin(), each message, and the generation prompt if asked.
    std::vector<std::size_t> render(const std::vector<chat_message>& messages, bool add_generation_prompt) const {
        std::vector<std::size_t> ids = begin();
        for (const auto& m : messages) append(ids, message(m));
        if (add_generation_prompt) append(ids, generation_prompt());
        return ids;
    }

private:
    /// Template text: a special token (by its text) or ordinary text.
    struct part {
        std::string text;
        bool special;
    };

    /// A message's parts before its content.
    std::vector<part> header(const std::string& role) const {
        switch (style_) {
            case chat_style::bitnet: return {{role == "system" ? "System: " : role == "user" ? "User: " : "Assistant: ", false}};
            case chat_style::llama3: return {{"<|start_header_id|>", true}, {role, false}, {"<|end_header_id|>", true}, {"\n\n", false}};
            case chat_style::chatml: return {{"<|im_start|>", true}, {role + "\n", false}};
            case chat_style::phi3: return {{"<|" + role + "|>", true}, {"\n", false}};
        }
        return {};
    }

    /// A message's parts after its content.
    std::vector<part> end_parts() const {
        switch (style_) {
            case chat_style::bitnet:
            case chat_style::llama3: return {{"<|eot_id|>", true}};
            case chat_style::chatml: return {{"<|im_end|>", true}, {"\n", false}};
            case chat_style::phi3: return {{"<|end|>", true}, {"\n", false}};
        }
        return {};
    }

    /// Ids of parts: special tokens by id, each run of ordinary text between them as one string.
    std::vector<std::size_t> encode(const std::vector<part>& parts) const {
        std::vector<std::size_t> ids;
        std::string text;
        const auto flush = [&] {
            if (!text.empty()) append(ids, tokenizer_->encode(text, false, false));
            text.clear();
        };
        for (const part& p : parts) {
            if (p.special) {
                flush();
                ids.push_back(special(p.text));
            } else {
                text += p.text;
            }
        }
        flush();
        return ids;
    }

    static std::string_view trim(std::string_view s) {
        const auto space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; };
        while (!s.empty() && space(s.front())) s.remove_prefix(1);
        while (!s.empty() && space(s.back())) s.remove_suffix(1);
        return s;
    }

    static void append(std::vector<std::size_t>& ids, const std::vector<std::size_t>& more) {
        ids.insert(ids.end(), more.begin(), more.end());
    }

    std::size_t special(std::string_view text) const {
        const auto id = tokenizer_->find(text);
        if (!id || !tokenizer_->is_special(*id)) {
            ternary::detail::fail<value_error>("chat_format", "the ", name_of(style_), " template needs the special token ", text,
                                               ", which this vocabulary does not have");
        }
        return *id;
    }

    std::size_t bos() const {
        const auto id = tokenizer_->bos();
        if (!id) ternary::detail::fail<value_error>("chat_format", "the ", name_of(style_), " template needs a BOS token");
        return *id;
    }

    const any_tokenizer* tokenizer_;
    chat_style style_;
};

}  // namespace ternary::inline TERNARY_ABI::tokenizer
