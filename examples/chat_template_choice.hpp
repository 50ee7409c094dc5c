// Which chat template a model gets, the same way in ternary-chat and ternary-server.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include <ternary/bitnet/config.hpp>
#include <ternary/tokenizer/chat.hpp>
#include <ternary/tokenizer/tokenizer.hpp>

namespace examples {

/// The template named `name` (--template), else bitnet for 2B4T-style models (whose GGUF
/// template is not the one the model was trained with, formats.md section 2), else the model's
/// own, else what the vocabulary's special tokens say. std::runtime_error saying what to pass
/// when none fits.
inline ternary::tokenizer::chat_style choose_chat_template(std::string_view name, const ternary::bitnet::model_config& config,
                                                           const ternary::tokenizer::any_tokenizer& tokenizer) {
    namespace tk = ternary::tokenizer;
    const std::string known = std::string(tk::chat_style_names);
    if (!name.empty()) {
        const auto style = tk::chat_style_named(name);
        if (!style) throw std::runtime_error("--template " + std::string(name) + " is not one of " + known);
        return *style;
    }
    const auto has = [&](const char* text) {
        const auto id = tokenizer.find(text);
        return id && tokenizer.is_special(*id);
    };
    if (config.sub_norms && config.activation == ternary::bitnet::ffn_activation::relu_squared && has("<|eot_id|>")) {
        return tk::chat_style::bitnet;
    }
    if (const auto jinja = tokenizer.chat_template()) {
        if (const auto style = tk::detect_chat_style(*jinja)) return *style;
        throw std::runtime_error("the model's chat template is not one this program knows; pass --template (" + known + ")");
    }
    if (has("<|start_header_id|>")) return tk::chat_style::llama3;
    if (has("<|im_start|>")) return tk::chat_style::chatml;
    if (has("<|user|>")) return tk::chat_style::phi3;
    throw std::runtime_error("the model has no chat template and its vocabulary suggests none; pass --template (" + known + ")");
}

}  // namespace examples
