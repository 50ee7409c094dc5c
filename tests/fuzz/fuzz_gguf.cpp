// libFuzzer target: arbitrary bytes as a GGUF file. Parsing must end in a file whose every
// value, tensor info and tensor data view can be read, or in a ternary::error.
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include <ternary/io/gguf.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto file = ternary::io::gguf_file::parse(std::span<const std::uint8_t>(data, size), "fuzz");
        std::size_t sum = 0;
        for (const auto& [key, value] : file.metadata()) sum += key.size() + value.value.index();
        for (const auto& t : file.tensors()) {
            for (std::uint8_t b : file.data(t)) sum += b;  // every byte of every tensor is inside the input
        }
        if (sum == 1) return 1;  // keep the loop from being optimized away
    } catch (const ternary::error&) {
    }
    return 0;
}
