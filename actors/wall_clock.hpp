#pragma once

/// Time for the actors: the actor system's. Timestamps written to the store
/// and times that decide (lease expiry, heartbeats, timer wake times, quota
/// periods) are read from `wall_clock_ms(sys)`: the host's wall clock, or,
/// for a system running CAF's test coordinator (`scheduler.policy =
/// testing`), the coordinator's virtual clock, which moves only when a test
/// advances it. Durations and timers use the actor clock; the engine takes
/// no time at all.
///
/// Under the test coordinator the actors that block (the store writer and
/// reader, activity workers) are spawned on the coordinator instead of on
/// threads of their own (`spawns_detached`), so a whole node runs
/// deterministically on the test's thread.

#include <caf/fwd.hpp>

#include <cstdint>

namespace flowgate {

/// Milliseconds since the Unix epoch (UTC), from the host's clock.
int64_t wall_clock_ms();

/// The actor system's time in milliseconds since the Unix epoch: the host's
/// clock, or under the test coordinator a fixed epoch (2025-01-01) plus
/// the virtual time elapsed.
int64_t wall_clock_ms(caf::actor_system& sys);

/// False for a system running the test coordinator: actors that would get
/// a thread of their own are scheduled like any other there.
bool spawns_detached(caf::actor_system& sys);

} // namespace flowgate
