#include "actors/wall_clock.hpp"

#include <caf/actor_system.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/timestamp.hpp>

#include <chrono>

namespace flowgate {

namespace {

/// 2025-01-01T00:00:00Z: virtual time starts there.
constexpr int64_t virtual_epoch_ms = 1'735'689'600'000;

caf::scheduler::test_coordinator* coordinator_of(caf::actor_system& sys) {
  return dynamic_cast<caf::scheduler::test_coordinator*>(&sys.scheduler());
}

} // namespace

int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           caf::make_timestamp().time_since_epoch())
    .count();
}

int64_t wall_clock_ms(caf::actor_system& sys) {
  if (auto* tc = coordinator_of(sys)) {
    return virtual_epoch_ms + std::chrono::duration_cast<std::chrono::milliseconds>(
                                tc->clock().now().time_since_epoch())
                                .count();
  }
  return wall_clock_ms();
}

bool spawns_detached(caf::actor_system& sys) {
  return coordinator_of(sys) == nullptr;
}

} // namespace flowgate
