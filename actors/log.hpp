#pragma once

/// Structured log lines: one JSON object per line on stderr, with the time,
/// the level, the message and the given fields (tenant and run ids where
/// there are some).

#include <string>
#include <utility>
#include <vector>

namespace flowgate {

using log_fields = std::vector<std::pair<std::string, std::string>>;

/// True if lines of `level` are written: `FLOWGATE_LOG_LEVEL` (debug, info,
/// warn, error; default info) is the lowest level written.
bool log_enabled(const char* level);

/// Writes one line if its level is enabled. `level`: debug, info, warn, error.
void log_line(const char* level, const std::string& message, const log_fields& fields = {});

} // namespace flowgate
