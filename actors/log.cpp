#include "actors/log.hpp"

#include "actors/wall_clock.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

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

/// A context, published whole and never changed after. A later set
/// publishes a new one that keeps the one it replaces (threads may still
/// be reading it), so every context stays reachable and none is freed:
/// set a few times per process, they cost a few bytes each.
struct published_context {
  log_fields fields;
  std::unique_ptr<const published_context> previous;
};

std::atomic<const published_context*> context{nullptr};

} // namespace

void set_log_context(log_fields fields) {
  // The global holds the newest; each context owns the one it replaced
  // (readers never look at `previous`).
  auto* next = new published_context{std::move(fields), nullptr};
  next->previous.reset(context.exchange(next, std::memory_order_acq_rel));
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
    for (const auto& [k, v] : shared->fields) {
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
