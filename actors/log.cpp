#include "actors/log.hpp"

#include "actors/wall_clock.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace flowgate {

namespace {

int rank(const char* level) {
  if (std::strcmp(level, "debug") == 0) {
    return 0;
  }
  if (std::strcmp(level, "info") == 0) {
    return 1;
  }
  if (std::strcmp(level, "warn") == 0) {
    return 2;
  }
  return 3;
}

int threshold() {
  static const int value = [] {
    const char* env = std::getenv("FLOWGATE_LOG_LEVEL");
    return env != nullptr && *env != '\0' ? rank(env) : 1;
  }();
  return value;
}

} // namespace

namespace {

/// Published whole, never changed after: a later set publishes a new one
/// and leaves the old one to threads still reading it (set once per
/// process, so at most a few are ever kept).
std::atomic<const log_fields*> context{nullptr};

} // namespace

void set_log_context(log_fields fields) {
  context.store(new log_fields(std::move(fields)), std::memory_order_release);
}

bool log_enabled(const char* level) {
  return rank(level) >= threshold();
}

void log_line(const char* level, const std::string& message, const log_fields& fields) {
  if (!log_enabled(level)) {
    return;
  }
  boost::json::object line{{"ts_ms", wall_clock_ms()}, {"level", level}, {"msg", message}};
  if (const auto* shared = context.load(std::memory_order_acquire); shared != nullptr) {
    for (const auto& [k, v] : *shared) {
      line[k] = v;
    }
  }
  for (const auto& [k, v] : fields) {
    line[k] = v;
  }
  auto text = boost::json::serialize(line);
  text.push_back('\n');
  std::fwrite(text.data(), 1, text.size(), stderr);
}

} // namespace flowgate
