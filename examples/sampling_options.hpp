// The sampling options ternary-generate and ternary-chat share.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <ternary/bitnet/sampler.hpp>

#include "numbers.hpp"

namespace examples {

/// Reads --temp, --top-k, --top-p or --seed into `sampling`; false if `option` is none of them.
/// A value that is not a number throws std::invalid_argument (numbers.hpp), which the
/// programs report as a bad value for the option.
inline bool read_sampling_option(std::string_view option, const char* value, ternary::bitnet::sampler_options& sampling) {
    if (option == "--temp") sampling.temperature = parse_number<float>(value);
    else if (option == "--top-k") sampling.top_k = parse_number<std::size_t>(value);
    else if (option == "--top-p") sampling.top_p = parse_number<float>(value);
    else if (option == "--seed") sampling.seed = parse_number<std::uint64_t>(value);
    else return false;
    return true;
}

}  // namespace examples
