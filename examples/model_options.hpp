// The options every program that runs a model reads alike: --packing P (packing_option.hpp)
// and --head-type T (head_option.hpp).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "head_option.hpp"
#include "packing_option.hpp"

namespace examples {

/// Reads --packing or --head-type with its value into `packing` or `head_type`; false if
/// `option` is neither. A value the option does not take throws std::invalid_argument saying
/// which it takes (the programs report it as a bad value for the option).
inline bool read_model_option(std::string_view option, const char* value, std::string& packing, std::string& head_type) {
    if (option == "--packing") {
        if (!valid_packing(value)) throw std::invalid_argument("it takes auto, two_bit, base3 or base3_window");
        packing = value;
        return true;
    }
    if (option == "--head-type") {
        if (!valid_head_type(value)) throw std::invalid_argument("it takes stored, f16, int8, q8_0, q6_k or q4_k");
        head_type = value;
        return true;
    }
    return false;
}

}  // namespace examples
