// ternary-server's requests: the JSON body of an OpenAI-style /v1/chat/completions or
// /v1/completions request read into a generation_request, every field checked for its type and
// range. The body is untrusted text from the network: anything unexpected is an api_error
// naming the field (an HTTP 400 with OpenAI's error object), never a crash. No HTTP here, so
// that a fuzzer can drive it directly.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <ternary/bitnet/sampler.hpp>

namespace server {

using json = nlohmann::json;

/// j as JSON text. Text the model generated (or a file name) need not be valid UTF-8: invalid
/// bytes become U+FFFD instead of an exception.
inline std::string to_text(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

/// An error the client caused or must hear about: the HTTP status and OpenAI's error fields.
struct api_error : std::runtime_error {
    int status;
    std::string type;   // invalid_request_error, authentication_error, ...
    std::string param;  // the offending field, if one
    std::string code;   // a machine-readable reason, if one
    api_error(int status_code, std::string message, std::string param_name = {}, std::string error_code = {},
              std::string error_type = "invalid_request_error")
        : std::runtime_error(std::move(message)), status(status_code), type(std::move(error_type)),
          param(std::move(param_name)), code(std::move(error_code)) {}

    /// OpenAI's error body: {"error": {"message", "type", "param", "code"}}.
    json body() const {
        return {{"error",
                 {{"message", what()},
                  {"type", type},
                  {"param", param.empty() ? json(nullptr) : json(param)},
                  {"code", code.empty() ? json(nullptr) : json(code)}}}};
    }
};

/// What a request may ask for at most (the server's options set them).
struct request_limits {
    std::size_t max_messages = 1024;       // messages in one chat
    std::size_t max_stop_strings = 4;      // OpenAI's limit
    std::size_t max_stop_length = 256;     // bytes in one stop string
};

struct chat_message {
    std::string role, content;
};

/// A request, checked: either a chat (messages) or a completion (prompt).
struct generation_request {
    bool chat = false;
    std::vector<chat_message> messages;  // chat
    std::string prompt;                  // completion
    std::string model;                   // as the client named it (may be empty)
    std::optional<std::size_t> max_tokens;
    ternary::bitnet::sampler_options sampling{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 0};
    bool seeded = false;  // the client gave a seed (else the server picks one)
    std::vector<std::string> stop;
    bool stream = false;
    bool include_usage = false;  // stream_options.include_usage
};

namespace detail {

inline const char* type_name(const json& v) {
    if (v.is_null()) return "null";
    if (v.is_boolean()) return "a boolean";
    if (v.is_number()) return "a number";
    if (v.is_string()) return "a string";
    if (v.is_array()) return "an array";
    return "an object";
}

[[noreturn]] inline void wrong_type(const std::string& field, const char* wanted, const json& v) {
    throw api_error(400, "'" + field + "' must be " + wanted + ", not " + type_name(v), field, "invalid_type");
}

inline std::string string_field(const json& v, const std::string& field) {
    if (!v.is_string()) wrong_type(field, "a string", v);
    return v.get<std::string>();
}

inline double number_field(const json& v, const std::string& field, double low, double high) {
    if (!v.is_number()) wrong_type(field, "a number", v);
    const double x = v.get<double>();
    if (!(x >= low && x <= high)) {
        throw api_error(400, "'" + field + "' must be between " + json(low).dump() + " and " + json(high).dump() +
                                 ", not " + v.dump(), field, "invalid_value");
    }
    return x;
}

/// An integer in [low, high]: a JSON integer, or a float with no fraction (JavaScript's 5.0).
inline std::int64_t integer_field(const json& v, const std::string& field, std::int64_t low, std::int64_t high) {
    std::int64_t x = 0;
    if (v.is_number_unsigned()) {
        if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(high)) {
            throw api_error(400, "'" + field + "' must be at most " + std::to_string(high) + ", not " + v.dump(), field, "invalid_value");
        }
        x = static_cast<std::int64_t>(v.get<std::uint64_t>());
    } else if (v.is_number_integer()) {
        x = v.get<std::int64_t>();
    } else if (v.is_number_float() && std::isfinite(v.get<double>()) && std::trunc(v.get<double>()) == v.get<double>() &&
               std::fabs(v.get<double>()) < 9.0e15) {
        x = static_cast<std::int64_t>(v.get<double>());
    } else {
        wrong_type(field, "an integer", v);
    }
    if (x < low || x > high) {
        throw api_error(400, "'" + field + "' must be between " + std::to_string(low) + " and " + std::to_string(high) +
                                 ", not " + v.dump(), field, "invalid_value");
    }
    return x;
}

/// A message's content: a string, or an array of {"type": "text", "text": ...} parts (joined).
inline std::string message_content(const json& v, const std::string& field) {
    if (v.is_string()) return v.get<std::string>();
    if (!v.is_array()) wrong_type(field, "a string or an array of text parts", v);
    std::string text;
    for (std::size_t i = 0; i < v.size(); ++i) {
        const json& part = v[i];
        const std::string where = field + "[" + std::to_string(i) + "]";
        if (!part.is_object()) wrong_type(where, "an object", part);
        const auto type = part.find("type");
        if (type == part.end() || !type->is_string() || *type != "text") {
            throw api_error(400, "'" + where + ".type' must be \"text\": this model reads text only", where + ".type",
                            "unsupported_content");
        }
        const auto t = part.find("text");
        if (t == part.end()) throw api_error(400, "'" + where + ".text' is missing", where + ".text", "missing_field");
        text += string_field(*t, where + ".text");
    }
    return text;
}

}  // namespace detail

/// The request in `body` for the chat endpoint (chat) or the completions one. Fields OpenAI
/// defines that change nothing here (user, presence_penalty = 0, ...) are accepted and ignored;
/// those whose meaning this server cannot honour (n > 1, logprobs, tools) are refused.
inline generation_request parse_request(std::string_view body, bool chat, const request_limits& limits = {}) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) throw api_error(400, "the body is not valid JSON", "", "invalid_json");
    if (!j.is_object()) throw api_error(400, "the body must be a JSON object", "", "invalid_json");
    generation_request r;
    r.chat = chat;
    const auto field = [&](const char* name) -> const json* {
        const auto it = j.find(name);
        return it == j.end() || it->is_null() ? nullptr : &*it;
    };
    if (const json* v = field("model")) r.model = detail::string_field(*v, "model");
    if (chat) {
        const json* messages = field("messages");
        if (messages == nullptr) throw api_error(400, "'messages' is missing", "messages", "missing_field");
        if (!messages->is_array()) detail::wrong_type("messages", "an array", *messages);
        if (messages->empty()) throw api_error(400, "'messages' is empty", "messages", "invalid_value");
        if (messages->size() > limits.max_messages) {
            throw api_error(400, "more than " + std::to_string(limits.max_messages) + " messages", "messages", "invalid_value");
        }
        for (std::size_t i = 0; i < messages->size(); ++i) {
            const json& m = (*messages)[i];
            const std::string where = "messages[" + std::to_string(i) + "]";
            if (!m.is_object()) detail::wrong_type(where, "an object", m);
            const auto role = m.find("role");
            if (role == m.end()) throw api_error(400, "'" + where + ".role' is missing", where + ".role", "missing_field");
            chat_message message{detail::string_field(*role, where + ".role"), {}};
            if (message.role == "developer") message.role = "system";  // OpenAI's newer name for it
            if (message.role != "system" && message.role != "user" && message.role != "assistant") {
                throw api_error(400, "'" + where + ".role' must be system, user or assistant, not '" + message.role + "'",
                                where + ".role", "invalid_value");
            }
            const auto content = m.find("content");
            if (content == m.end() || content->is_null()) {
                throw api_error(400, "'" + where + ".content' is missing", where + ".content", "missing_field");
            }
            message.content = detail::message_content(*content, where + ".content");
            r.messages.push_back(std::move(message));
        }
    } else {
        const json* prompt = field("prompt");
        if (prompt == nullptr) throw api_error(400, "'prompt' is missing", "prompt", "missing_field");
        if (prompt->is_array()) {
            if (prompt->size() != 1 || !(*prompt)[0].is_string()) {
                throw api_error(400, "'prompt' must be a string (or an array of exactly one string)", "prompt", "invalid_value");
            }
            r.prompt = (*prompt)[0].get<std::string>();
        } else {
            r.prompt = detail::string_field(*prompt, "prompt");
        }
        if (const json* v = field("echo"); v && (!v->is_boolean() || v->get<bool>())) {
            throw api_error(400, "'echo' is not supported", "echo", "unsupported_parameter");
        }
    }
    // max_completion_tokens is the chat API's newer name for max_tokens.
    for (const char* name : {"max_tokens", "max_completion_tokens"}) {
        if (const json* v = field(name)) r.max_tokens = static_cast<std::size_t>(detail::integer_field(*v, name, 1, INT32_MAX));
    }
    if (const json* v = field("temperature")) r.sampling.temperature = static_cast<float>(detail::number_field(*v, "temperature", 0.0, 2.0));
    if (const json* v = field("top_p")) {
        r.sampling.top_p = static_cast<float>(detail::number_field(*v, "top_p", 0.0, 1.0));
        if (r.sampling.top_p <= 0.0f) throw api_error(400, "'top_p' must be greater than 0", "top_p", "invalid_value");
    }
    if (const json* v = field("top_k")) r.sampling.top_k = static_cast<std::size_t>(detail::integer_field(*v, "top_k", 0, INT32_MAX));
    if (const json* v = field("seed")) {
        r.sampling.seed = static_cast<std::uint64_t>(detail::integer_field(*v, "seed", INT64_MIN, INT64_MAX));
        r.seeded = true;
    }
    if (const json* v = field("n")) detail::integer_field(*v, "n", 1, 1);  // one choice per request
    if (const json* v = field("logprobs"); v && !(v->is_boolean() && !v->get<bool>())) {
        throw api_error(400, "'logprobs' is not supported", "logprobs", "unsupported_parameter");
    }
    if (const json* v = field("tools"); v && !(v->is_array() && v->empty())) {
        throw api_error(400, "'tools' is not supported", "tools", "unsupported_parameter");
    }
    if (const json* v = field("stop")) {
        if (v->is_string()) {
            r.stop.push_back(v->get<std::string>());
        } else if (v->is_array()) {
            if (v->size() > limits.max_stop_strings) {
                throw api_error(400, "'stop' has more than " + std::to_string(limits.max_stop_strings) + " strings", "stop", "invalid_value");
            }
            for (std::size_t i = 0; i < v->size(); ++i) r.stop.push_back(detail::string_field((*v)[i], "stop[" + std::to_string(i) + "]"));
        } else {
            detail::wrong_type("stop", "a string or an array of strings", *v);
        }
        for (const std::string& s : r.stop) {
            if (s.empty() || s.size() > limits.max_stop_length) {
                throw api_error(400, "each 'stop' string must have 1 to " + std::to_string(limits.max_stop_length) + " bytes",
                                "stop", "invalid_value");
            }
        }
    }
    if (const json* v = field("stream")) {
        if (!v->is_boolean()) detail::wrong_type("stream", "a boolean", *v);
        r.stream = v->get<bool>();
    }
    if (const json* v = field("stream_options")) {
        if (!v->is_object()) detail::wrong_type("stream_options", "an object", *v);
        if (const auto u = v->find("include_usage"); u != v->end() && !u->is_null()) {
            if (!u->is_boolean()) detail::wrong_type("stream_options.include_usage", "a boolean", *u);
            r.include_usage = u->get<bool>();
        }
    }
    return r;
}

}  // namespace server
