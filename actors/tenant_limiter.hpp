#pragma once

/// `tenant_limiter` (one per tenant, spawned on first use by the
/// `tenant_directory`, stopped when idle): the tenant's concurrency permits
/// held on this node, and the starters waiting for their run's admission.
///
/// Where the decision is made: a permit is acquired by the store
/// transaction that claims a run (or creates it claimed). It counts the
/// tenant's live leased RUNNING runs of every process, so the limit holds
/// across processes; an in-memory limiter alone cannot make it hold there.
/// The limiter keeps this node's side of it, serialized by its mailbox:
///
/// - `hold_atom, run, holder` (dispatcher): the run holds a permit here,
///   driven by `holder`, which the limiter monitors: a holder that dies
///   gives its permit back (the dispatcher also releases its lease, so the
///   store counts it free at once).
/// - `release_atom, run` (dispatcher): the run completed, failed, paused or
///   was handed back.
/// - `park_atom, run, until_ms, deadline_ms` -> `admission_wait`: a
///   starter waits (for one round, until `until_ms`; the dispatcher reads
///   the run from the store between rounds, so a lost news costs one
///   round) for
///   its queued (PENDING) run to be admitted. Parked runs are answered in
///   the order they are admitted (the store claims a tenant's runs oldest
///   first, and a freed permit triggers that claim at once); the deadline
///   is enforced here, server-side: when it passes the starter is answered
///   `timed_out` exactly once and the run stays PENDING, claimed later
///   like any queued run, never lost. An admission after the deadline
///   reaches no one. A round that ends before the deadline ends on the
///   next 50 ms tick (up to 50 ms after `until_ms`); one timer serves the
///   earliest pending tick (`deadline_atom, tick`), not one per round. The
///   last round ends at the deadline exactly.
/// - `admitted_atom, run` (the dispatcher, from another node's news): that
///   node claimed the queued run; its starter parked here is answered
///   admitted now. A park that arrives after the news is answered at once
///   (the last 256 such runs are remembered).
/// - `stats_atom` -> `limiter_stats`.
///
/// A limiter with no holders and no parked starters stops after
/// `idle_ms`; the directory spawns a new one on the next use.

#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

namespace flowgate {

/// Spawns the directory; its limiters stop after `idle_ms` without work.
tenant_directory_actor spawn_tenant_directory(caf::actor_system& sys, int64_t idle_ms = 30'000);

} // namespace flowgate
