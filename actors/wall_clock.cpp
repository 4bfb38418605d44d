#include "actors/wall_clock.hpp"

#include <caf/timestamp.hpp>

#include <chrono>

namespace flowgate {

int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           caf::make_timestamp().time_since_epoch())
    .count();
}

} // namespace flowgate
