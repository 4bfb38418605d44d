#pragma once

/// `orchestrator`: drives one run while this node holds its lease.
///
/// Protocol (messages/interfaces.hpp, `orchestrator_actor`):
/// - spawned by the dispatcher with a claimed run (and, for a run this node
///   just created, its snapshot and a history of `run_started`);
/// - `wake_atom` (self): a held timer is due;
/// - `lost_atom, epoch` (dispatcher): the lease could not be renewed; the
///   orchestrator stops at once without writing anything;
/// - `drain_atom` (dispatcher): the node stops; the orchestrator finishes
///   the attempt in flight, records it, and hands the run back.
/// When the run completes, fails, is canceled, pauses (WAITING) or is handed
/// back, it sends `done_atom, run, status` to the dispatcher and exits.
/// A replay at odds with the definition (non-determinism) is also told to
/// the dispatcher (`nondet_atom, run`), which counts it for `/metrics`.
///
/// Every step attempt (activity attempts and wait entries) is reserved
/// against the tenant's quota in the append that schedules it; if the quota
/// is used up the store cuts the append there and pauses the run (WAITING,
/// reason `quota`), and the orchestrator exits.
///
/// The loop: load the pinned snapshot, plan the next step commit with
/// `engine::plan` (engine/planner.hpp: the next decision together with
/// whatever the history lacks), write it in one `append_history`, execute
/// it, record the outcome.
///
/// States (behaviours): `loading` (snapshot, tenant config, history; each
/// only if the spawner did not hand it over: a created run comes with all
/// three, a claimed run with its tenant's config as the claim read it),
/// `running` (a due held timer or a drain decides again). At most one append is in
/// flight; it decides a missed renewal. Attempts of concurrent branches run
/// side by side (all dispatched after the commit that schedules them);
/// an outcome that arrives while an append is in flight is numbered after
/// that append's inbox and written with the next one. A lost lease stops
/// it at once except while an append is in flight; a drain starts nothing
/// new and hands the run back once no attempt is in flight. A quota cut
/// while attempts are in flight keeps the lease (`quota_held`) until they
/// report; the append that then finds the quota used up pauses the run. Every append is fenced by
/// the lease epoch: a `lease_lost` reply stops the orchestrator without side effects. A step
/// attempt that the history shows scheduled but without an outcome, and that this orchestrator did
/// not start, was cut off by a crash: it is recorded as `step_cut_off` and retried under the node's
/// retry policy. Event waits and timers longer than `hold_timer_ms` release the run (WAITING with a
/// wake time) instead of holding an actor.

#include "actors/node_local.hpp"
#include "engine/engine.hpp"
#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

#include <optional>
#include <string>

namespace flowgate {

/// Everything an orchestrator needs.
struct orchestrator_setup {
  run_record run;
  /// Null: load the pinned snapshot from the registry.
  config_snapshot_ptr snapshot;
  /// True when the run's history is known without reading it: its
  /// `run_started` (from `run.input`), followed by `first_command` if the
  /// creation recorded one. A run this node just created, or a claimed run
  /// whose `next_seq` is 2 (nothing was appended after `run_started`:
  /// signals wait in its inbox, which its first append takes).
  bool fresh = false;
  /// The first activity attempt, recorded with the run's creation: dispatch it.
  std::optional<engine::command> first_command;
  /// With `fresh` and no `first_command`: the claim that gave the run its
  /// first lease recorded its first attempt (the decision its creator kept,
  /// engine::first_step_plan; `next_seq` is 3). The orchestrator plans that
  /// attempt again from the run's input and dispatches it; if its plan
  /// differs, it reads the history instead.
  bool first_recorded = false;
  /// The tenant's stored config, if the spawner read it in the commit that
  /// gave it the run (a creation's admission does): not read again.
  std::optional<std::string> tenant_config;
  store_writer_actor writer;
  store_reader_actor reader;
  config_registry_actor configs;
  activity_pool_actor pool;
  quota_accountant_actor accountant;
  /// The tenant's quota terms if the spawner has them (fresh runs); asked
  /// from the accountant otherwise, and again when older than a second.
  quota_terms terms;
  dispatcher_actor dispatcher;
  node_id node;
  /// The node's incarnation: appends are fenced by it too.
  int64_t incarnation = 0;
  int64_t hold_timer_ms = 2'000;
  int64_t activity_timeout_ms = 300'000;
  bool hold_on_nondeterminism = false;
  /// Admission terms of child runs this run starts.
  int64_t default_limit = 0;
  int32_t max_child_depth = 8;
};

/// Spawns an orchestrator for `setup.run`.
orchestrator_actor spawn_orchestrator(caf::actor_system& sys, orchestrator_setup setup);

} // namespace flowgate
