// The command line, read the same way by every program that runs a model.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

namespace examples {

/// Reads argv: -h or --help prints `usage` and exits with 0; read_flag(option) takes an option
/// without a value (it returns false for one that is not); any other option takes the next
/// argument as its value, read by read_value(option, value), which returns false for an
/// unknown option. A missing value, an unknown option and a value read_value refuses by
/// throwing std::logic_error (numbers.hpp, model_options.hpp) go to fail(message).
template <class Fail, class ReadFlag, class ReadValue>
void read_options(int argc, char** argv, const std::string& usage, Fail&& fail, ReadFlag&& read_flag, ReadValue&& read_value) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            std::fputs(usage.c_str(), stdout);
            std::exit(0);
        }
        if (read_flag(arg)) continue;
        if (i + 1 >= argc) fail("missing value after " + std::string(arg));
        const char* value = argv[++i];
        bool known = false;
        try {
            known = read_value(arg, value);
        } catch (const std::logic_error& e) {
            fail("bad value '" + std::string(value) + "' for " + std::string(arg) + ": " + e.what());
        }
        if (!known) fail("unknown option " + std::string(arg));
    }
}

}  // namespace examples
