// Writes the fuzzers' seed corpus: the tiny valid files of tests/llama2c_files.hpp.
#include <fstream>
#include <string>

#include "../llama2c_files.hpp"

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    const std::string dir = argv[1];
    const auto write = [&](const char* name, const test::llama2c::bytes& b) {
        std::ofstream(dir + "/" + name, std::ios::binary).write(reinterpret_cast<const char*>(b.data()),
                                                                static_cast<std::streamsize>(b.size()));
    };
    write("legacy.bin", test::llama2c::legacy_file());
    write("legacy_unshared.bin", test::llama2c::legacy_file(false));
    write("ak42.bin", test::llama2c::ak42_file());
    write("tokenizer.bin", test::llama2c::tokenizer_file());
    return 0;
}
