#include "actors/log.hpp"

#include "actors/wall_clock.hpp"

#include <boost/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

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

std::mutex context_mutex;
log_fields context;

} // namespace

void set_log_context(log_fields fields) {
  std::lock_guard<std::mutex> guard{context_mutex};
  context = std::move(fields);
}

bool log_enabled(const char* level) {
  return rank(level) >= threshold();
}

void log_line(const char* level, const std::string& message, const log_fields& fields) {
  if (!log_enabled(level)) {
    return;
  }
  boost::json::object line{{"ts_ms", wall_clock_ms()}, {"level", level}, {"msg", message}};
  {
    std::lock_guard<std::mutex> guard{context_mutex};
    for (const auto& [k, v] : context) {
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
