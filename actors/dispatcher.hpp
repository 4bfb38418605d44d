#pragma once

/// `dispatcher`: one per executing node. Claims runs, spawns their
/// orchestrators, and keeps their leases alive.
///
/// Protocol (messages/interfaces.hpp, `dispatcher_actor`):
/// - `start_atom, run` -> `run_created` (from the gateway): the run names
///   its pinned config (config tenant, queue, version, checksum); the
///   dispatcher takes that snapshot from its node's registry
///   (`version_conflict` if the checksum differs), creates the run, claimed
///   by this node when it has room (else PENDING for any node), and starts
///   its orchestrator. Answered after commit.
/// - `poll_atom` (anyone: the resume scanner, a manual resume) and
///   `tick_atom` (own timer, every `poll_interval_ms`; one armed at a time):
///   claims up to `claim_batch` due runs (ready, no live lease, wake time
///   reached) while fewer than `max_active_runs` are active, in the store's
///   claim order (takeovers, then woken runs, then new runs; round-robin
///   over tenants from the cursor the previous claim returned). One claim
///   is in flight at a time; a poll that finds one in flight runs right
///   after it; a full batch polls again at once. A claim carries the quota
///   terms the accountant gave for the tenants' starts here in the last
///   second (`claim_runs::quotas`): a queued run's first attempt, kept on
///   its row at its start, is then recorded by the claim and its
///   orchestrator dispatches it at once; a run the claim paused on quota
///   instead is logged and checked against fresh terms
///   (actors/quota_pause.hpp).
/// - `renew_atom` (own timer, every TTL/2, also with no lease held): the
///   node's heartbeat and the renewal of all held leases in one store
///   operation; a lease that was not renewed is lost: its orchestrator gets
///   `lost_atom` and stops without writing. If the store says this
///   incarnation is no longer registered (a newer process took the node
///   id), the node is fenced: every orchestrator stops, nothing is claimed
///   any more, and `on_fenced` is called once.
/// - `done_atom, run, done_reason` (orchestrators): the run left this node.
///   Its tenant's permit is free: a targeted claim of the tenant's queued
///   runs follows, unless `leaving` already sent one.
/// - `leaving_atom, run, true` (orchestrators): the append that ends,
///   pauses or releases the run was just sent to the store writer. The
///   targeted claim for its tenant is sent now: it is behind that append in
///   the writer's mailbox, so it runs in the same transaction or a later
///   one and sees the permit free, and the next queued run is admitted in
///   the commit that ends this one rather than a commit later.
///   `leaving_atom, run, false`: that append kept the run here after all
///   (waiting for an ended child, or held on quota), or paused it on quota:
///   `done` claims as without `leaving`. A run lost or abandoned claims at
///   `done` as well.
/// - `drain_atom` -> number of leases released: stop claiming (first
///   recorded in the store, a claim of no runs: the other nodes admit this
///   node's tenants and take what it hands back at once), let
///   orchestrators record their attempt in flight and hand runs back, then
///   release every lease still held (at the latest after `drain_timeout_ms`).
/// - `inbox_atom, run, tenant` -> held: if this node holds `run` (of
///   `tenant`, unless blank), its orchestrator is told to read the run's
///   inbox now (a signal or cancellation was stored); false otherwise.
/// - `news_atom, cluster_news` (another node, through its door and the
///   gateway): claims the freed tenants' queued runs now (as for a permit
///   freed here), tells the tenant limiters which queued runs the other
///   node admitted (their parked starters stop waiting), and polls now if
///   asked to claim.
/// News to the other nodes (through `peers`, when set): the tenant of
/// every run that leaves this node while it drains and a claim request (it
/// hands runs back); a claim request for a run created here unclaimed for
/// lack of room; the tenant of a run created here PENDING because another
/// node owns the tenant, and of a permit freed here of such a tenant (its
/// owner admits: docs/run-model.md "Tenant ownership"); the queued runs a
/// claim admitted (first claims), for starters parked on other nodes. News
/// can be lost (a link that closes): a parked starter also reads its run
/// from the store between rounds of its wait (100 ms doubling to 1 s).
/// - `watch_atom, actor` -> ok: the actor receives `run_finished` for every
///   run that leaves this node.
/// - `stats_atom` -> `dispatcher_stats`.
/// An orchestrator that dies without `done` has its lease released so the
/// run is claimed again at once.

#include "actors/node_local.hpp"
#include "config/node_settings.hpp"
#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

#include <functional>

namespace flowgate {

/// Everything a dispatcher needs.
struct dispatcher_setup {
  node_settings settings;
  /// This process's registration (`register_node`); every lease carries it.
  int64_t incarnation = 0;
  /// Called once (on the dispatcher's thread) when the node is fenced.
  std::function<void(const caf::error&)> on_fenced;
  store_writer_actor writer;
  store_reader_actor reader;
  config_registry_actor configs;
  activity_pool_actor pool;
  quota_accountant_actor accountant;
  tenant_directory_actor limiters;
  /// The links to the other nodes (null without a peer key): news they
  /// act on at once instead of at their next poll.
  peer_links_actor peers;
};

dispatcher_actor spawn_dispatcher(caf::actor_system& sys, dispatcher_setup setup);

} // namespace flowgate
