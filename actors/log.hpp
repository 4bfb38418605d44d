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
/// The line carries the process's context fields, then `fields` (which win).
void log_line(const char* level, const std::string& message, const log_fields& fields = {});

/// Fields every later line of this process carries: `flowgate serve` sets
/// the node id and incarnation once its node is registered. An embedder
/// that runs one node per process may do the same.
void set_log_context(log_fields fields);

} // namespace flowgate
