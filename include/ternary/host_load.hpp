#pragma once
// How busy the host is right now: its cores, and how many threads system-wide are runnable
// (running or waiting for a core). The thread pool reads it to use no more threads than there
// are free cores (thread_pool.hpp, core_sharing::adaptive).

#include <cstddef>
#include <optional>
#include <string_view>
#include <thread>

#if defined(__linux__)
#include <fcntl.h>
#include <unistd.h>
#endif

#include "config.hpp"

namespace ternary::inline TERNARY_ABI {

/// A snapshot of the host's load.
struct host_load {
    std::size_t cores = 0;     // online CPUs
    std::size_t runnable = 0;  // threads running or ready to run, the reading thread included
};

namespace detail {

/// The runnable count of a /proc/loadavg line ("0.52 0.58 0.59 3/812 40123": the fourth field
/// is runnable/total scheduling entities), or nothing if the line is not of that form.
inline std::optional<std::size_t> parse_loadavg_runnable(std::string_view line) {
    std::size_t pos = 0;
    for (int field = 0; field < 3; ++field) {  // skip the three load averages
        const std::size_t space = line.find(' ', pos);
        if (space == std::string_view::npos) return std::nullopt;
        pos = space + 1;
    }
    std::size_t runnable = 0, digits = 0;
    for (; pos < line.size() && line[pos] >= '0' && line[pos] <= '9' && digits < 9; ++pos, ++digits) {
        runnable = runnable * 10 + static_cast<std::size_t>(line[pos] - '0');
    }
    if (digits == 0 || pos >= line.size() || line[pos] != '/') return std::nullopt;
    return runnable;
}

}  // namespace detail

/// The host's load now, read from /proc/loadavg: the kernel sums its run queues on each read.
/// The file stays open (one descriptor for the process): a read from its start then costs
/// about a microsecond, against 13 to open, read and close it. Nothing where the file is
/// absent or unreadable (not Linux, a sandbox).
inline std::optional<host_load> current_host_load() {
#if defined(__linux__)
    static const int fd = ::open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    char text[128];
    const ssize_t n = ::pread(fd, text, sizeof text, 0);
    if (n <= 0) return std::nullopt;
    const auto runnable = detail::parse_loadavg_runnable(std::string_view(text, static_cast<std::size_t>(n)));
    const std::size_t cores = std::thread::hardware_concurrency();
    if (!runnable || cores == 0) return std::nullopt;
    return host_load{cores, *runnable};
#else
    return std::nullopt;
#endif
}

}  // namespace ternary::inline TERNARY_ABI
