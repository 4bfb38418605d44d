#include "actors/log.hpp"

#include "actors/wall_clock.hpp"

#include <boost/json.hpp>

#include <cstdio>

namespace flowgate {

void log_line(const char* level, const std::string& message, const log_fields& fields) {
  boost::json::object line{{"ts_ms", wall_clock_ms()}, {"level", level}, {"msg", message}};
  for (const auto& [k, v] : fields) {
    line[k] = v;
  }
  auto text = boost::json::serialize(line);
  text.push_back('\n');
  std::fwrite(text.data(), 1, text.size(), stderr);
}

} // namespace flowgate
