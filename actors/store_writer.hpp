#pragma once

/// `store_writer`: the single write connection of a process.
///
/// Protocol (messages/interfaces.hpp, `store_writer_actor`):
/// - accepts the write operations of messages/store_messages.hpp
///   (`store_tenant`, `seed_tenants`, `store_config`, `activate_config`,
///   `reserve_step`) from any local actor; replies the operation's outcome
///   or its error, and only after the transaction holding it committed.
/// - `stats_atom` -> `writer_stats` (answered at once).
/// Group commit: operations that arrive while a flush is pending join the
/// same transaction; one `flush` self-message commits them all (at most
/// `max_batch` operations per transaction). A batch is applied first
/// without savepoints; if an operation fails, the transaction is rolled
/// back and the batch applied again with each operation in its own
/// savepoint, so a failing operation fails alone while the others commit
/// (`writer_stats::isolated_batches` counts those second passes).
/// If BEGIN or COMMIT fails, every operation of that batch gets the error
/// (`store_busy` is retriable). The actor runs detached (its own thread):
/// commits block on fsync. If it dies, its pending requests are never
/// answered (CAF 0.17 has no broken promise): a node's own actors ask it
/// without a timeout (`local_reply`), so the node's guard stops the node
/// when the writer dies (actors/node.hpp); callers outside the node (the
/// gateway's runners, tools) ask with finite timeouts.
/// A damaged file (`store_corrupt` from BEGIN, an operation or COMMIT):
/// the batch is rolled back whole and every requester gets the error; from
/// then on every operation is answered with it without touching the file,
/// the error is logged once and `on_fatal` called once (on the writer's
/// thread). A full disk (`store_full`) or an I/O error (`store_io`) fails
/// that batch only: both are retriable.

#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

#include <cstddef>
#include <functional>
#include <memory>

namespace flowgate {

class write_session;

/// Spawns a detached store_writer owning `session`.
store_writer_actor spawn_store_writer(caf::actor_system& sys,
                                      std::shared_ptr<write_session> session,
                                      size_t max_batch = 4096,
                                      std::function<void(const caf::error&)> on_fatal = nullptr);

} // namespace flowgate
