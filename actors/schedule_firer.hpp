#pragma once

/// `schedule_firer`: fires the schedules that are due (config/schedule.hpp,
/// messages/schedule_messages.hpp). Every executing node runs one; each
/// fire time starts at most one run across all of them, because the store
/// decides a fire under the schedule's row lock from the row's own next
/// fire time, and the run's idempotency key is the schedule id and the
/// fire time.
///
/// Protocol (messages/interfaces.hpp, `schedule_firer_actor`):
/// - `poll_atom` (self, every `interval_ms`): one round;
/// - `wake_atom` -> runs started: one round now (tests, operators).
///
/// A round lists up to `batch` due schedules (`due_schedules`, by the
/// node's clock), resolves each one's pipeline version through the config
/// registry (the pinned one, or the queue's runnable one at that moment)
/// and sends `fire_schedule` to the writer, stamped with the writer's
/// clock (the database's on PostgreSQL); a version that cannot be resolved
/// fires as a skipped fire naming the reason. The dispatcher is told to
/// poll when runs were started. A round that found a full batch is
/// followed by the next at once. Store requests time out after 30 s; a
/// failed round is logged and the next one retries. If the actor dies,
/// the node fires no schedules; other nodes still do.

#include "actors/node_local.hpp"
#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

namespace flowgate {

struct firer_setup {
  store_writer_actor writer;
  store_reader_actor reader;
  config_registry_actor configs;
  /// Told to poll after runs were started (may be null).
  dispatcher_actor dispatcher;
  /// The node's default tenant concurrency limit (admission terms).
  int64_t default_limit = 0;
  /// 0 = no periodic rounds (only on `wake_atom`).
  int64_t interval_ms = 1'000;
  int32_t batch = 100;
};

schedule_firer_actor spawn_schedule_firer(caf::actor_system& sys, firer_setup setup);

} // namespace flowgate
