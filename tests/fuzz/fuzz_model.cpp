// libFuzzer target: arbitrary bytes as a model file: a GGUF model (bytes starting "GGUF"), else
// the model.safetensors of a tiny 2B4T-shaped Hugging Face checkpoint whose config.json is
// fixed below. Loading must end in a model that runs (a prompt of two tokens, then one more)
// or in a ternary::error; a loaded model's shapes were checked, so running it must not read
// outside any buffer.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <variant>
#include <vector>

#include <ternary/io/gguf_model.hpp>
#include <ternary/io/safetensors_model.hpp>

#include "model_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        auto file = ternary::io::mapped_file::from_bytes(std::vector<std::uint8_t>(data, data + size), "fuzz");
        const bool gguf = size >= 4 && std::memcmp(data, "GGUF", 4) == 0;
        ternary::io::any_model model = gguf ? ternary::io::load_gguf(std::move(file))
                                            : ternary::io::load_safetensors(fuzz::tiny_config_json, {std::move(file)});
        std::visit([](auto& m) {
            const std::size_t prompt[2] = {0, m.config().vocab_size - 1};
            float sum = 0.0f;
            if (m.config().seq_len >= 3) {
                for (float v : m.forward(std::span<const std::size_t>(prompt), 0)) sum += v;
                for (float v : m.forward(1 % m.config().vocab_size, 2)) sum += v;
            }
            if (sum == 1.0f) throw ternary::error("unlikely");  // keep the work from being optimized away
        }, model);
    } catch (const ternary::error&) {
    }
    return 0;
}
