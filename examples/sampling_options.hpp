// The sampling options ternary-generate and ternary-chat share.
#pragma once

#include <string>
#include <string_view>

#include <ternary/bitnet/sampler.hpp>

namespace examples {

/// Reads --temp, --top-k, --top-p or --seed into `sampling`; false if `option` is none of them.
/// A value that is not a number throws std::logic_error (std::invalid_argument or
/// std::out_of_range), which the programs report as a bad value for the option.
inline bool read_sampling_option(std::string_view option, const char* value, ternary::bitnet::sampler_options& sampling) {
    if (option == "--temp") sampling.temperature = std::stof(value);
    else if (option == "--top-k") sampling.top_k = std::stoul(value);
    else if (option == "--top-p") sampling.top_p = std::stof(value);
    else if (option == "--seed") sampling.seed = std::stoull(value);
    else return false;
    return true;
}

}  // namespace examples
