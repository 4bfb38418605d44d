#pragma once

/// `activity_pool`: runs activity attempts on a bounded set of worker
/// threads.
///
/// Protocol (messages/interfaces.hpp, `activity_pool_actor`):
/// - `activity_request` -> `activity_result`, from orchestrators. The
///   answer is an output or a typed error; an unknown activity is a
///   non-retryable `unknown_activity` error, an activity that throws gives a
///   retryable `exception` error, one that exceeds its start-to-close
///   timeout a retryable `timeout` error (its worker is replaced and
///   retired when the call returns, so a hung activity cannot eat the pool).
/// - `cancel_atom, run_id`, from an orchestrator that ends with attempts
///   in flight (its run was canceled, or it lost its lease): their results
///   will not be recorded. Running ones are asked to stop
///   (`activity_context::stop_requested()`); queued ones are dropped with a
///   non-retryable `canceled` error.
/// - `stats_atom` -> `pool_stats`.
/// Every attempt still running when the pool exits (its node stops) is
/// asked to stop, and so is one past its timeout.
/// Activities registered `inline_fast` run in the pool actor at once.
/// Requests queue per tenant and are served weighted round-robin across
/// tenants (a tenant starts up to its config's `weight`, default 1, attempts
/// per turn), so one tenant's backlog delays another tenant's next attempt
/// by at most the sum of the other tenants' weights (plus the attempts
/// already running), never by the backlog.
/// Slow attempts need not stop when asked, so a tenant's slow attempts could
/// hold every worker while another tenant waits. When all workers are busy,
/// a waiting tenant running fewer attempts than its share (size x weight /
/// the weights of the tenants with work, at least 1) while another tenant
/// runs more than its own gets an extra worker at once, at most `size`
/// extra in all; an extra worker is retired when its attempt ends.
/// Every accepted request is answered: an attempt in a worker is bounded by
/// its start-to-close timeout, a queued one by a cancel or its turn. The
/// node's orchestrators therefore ask without a timeout (`local_reply`,
/// actors/node_local.hpp).

#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

#include <cstdint>
#include <memory>

namespace flowgate {

class activity_registry;

/// Spawns a pool with `workers` detached workers. `default_timeout_ms`
/// applies to attempts that set no timeout.
activity_pool_actor spawn_activity_pool(caf::actor_system& sys,
                                        std::shared_ptr<const activity_registry> activities,
                                        int32_t workers, int64_t default_timeout_ms);

} // namespace flowgate
