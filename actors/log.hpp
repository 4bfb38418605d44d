#pragma once

/// Structured log lines: one JSON object per line on stderr, with the time,
/// the level, the message and the given fields (tenant and run ids where
/// there are some).

#include <string>
#include <utility>
#include <vector>

namespace flowgate {

using log_fields = std::vector<std::pair<std::string, std::string>>;

/// Writes one line. `level`: debug, info, warn, error.
void log_line(const char* level, const std::string& message, const log_fields& fields = {});

} // namespace flowgate
