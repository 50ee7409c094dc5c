#pragma once
// The library's version: the one place it is defined (CMakeLists.txt reads it from here).

#include "config.hpp"

#define TERNARY_VERSION_MAJOR 0
#define TERNARY_VERSION_MINOR 1
#define TERNARY_VERSION_PATCH 0

namespace ternary::inline TERNARY_ABI {

struct version_info {
    int major;
    int minor;
    int patch;
};

inline constexpr version_info version{TERNARY_VERSION_MAJOR, TERNARY_VERSION_MINOR,
                                      TERNARY_VERSION_PATCH};

}  // namespace ternary::inline TERNARY_ABI
