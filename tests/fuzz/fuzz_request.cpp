// libFuzzer target: arbitrary bytes as the JSON body of a ternary-server request (chat when
// the first byte is odd, completion otherwise). Parsing must give a generation_request or an
// api_error with a 4xx status whose JSON body serializes; any other exception, a crash or a
// sanitizer report is a bug. A request that parses must respect the limits it was checked
// against.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/request.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const bool chat = (data[0] & 1) != 0;
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    const server::request_limits limits{.max_messages = 16, .max_stop_strings = 4, .max_stop_length = 32};
    try {
        const server::generation_request r = server::parse_request(body, chat, limits);
        if (r.chat != chat || (chat && (r.messages.empty() || r.messages.size() > limits.max_messages))) __builtin_trap();
        if (r.stop.size() > limits.max_stop_strings) __builtin_trap();
        for (const auto& s : r.stop) {
            if (s.empty() || s.size() > limits.max_stop_length) __builtin_trap();
        }
        if (r.max_tokens && *r.max_tokens == 0) __builtin_trap();
        if (!(r.sampling.temperature >= 0.0f && r.sampling.temperature <= 2.0f)) __builtin_trap();
        if (!(r.sampling.top_p > 0.0f && r.sampling.top_p <= 1.0f)) __builtin_trap();
    } catch (const server::api_error& e) {
        if (e.status < 400 || e.status >= 500) __builtin_trap();
        if (server::to_text(e.body()).empty()) __builtin_trap();
    }
    return 0;
}
