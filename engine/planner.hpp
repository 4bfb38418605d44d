#pragma once

/// The planner: everything one step commit of a run writes, decided by a
/// pure function of (pipeline, input, history, now, flags). Whoever drives
/// a run (the dispatcher for a fresh run's first step, the orchestrator for
/// every later one) calls it, writes the plan in one fenced append, and
/// acts on it; replaying the same history with the same inputs yields the
/// same plan.
///
/// Rules, on top of `decide` (engine.hpp):
/// - The planner decides as far as the history allows without the outside
///   world: it records decisions (`step_scheduled`, `timer_started`,
///   `wait_started`, `run_completed`, ...) and facts it can establish itself
///   (`timer_fired` for a due timer, `step_cut_off` for an attempt that has
///   no outcome and is not in flight here, `wait_timed_out` once the inbox
///   was read and the timeout passed), and stops at the first thing it must
///   wait for.
/// - Ledger: scheduling an activity attempt starts its ledger row; entering
///   an event wait or a timer wait is a step attempt of its own (started and
///   completed in the same commit; a timer's ledger attempt is 1); a retry's
///   backoff timer is part of the attempt that follows and has no row. Each
///   `started` change names the planned event that schedules it, so a store
///   that refuses the attempt (quota) cuts the commit just before that event.
/// - Outcomes finish their rows: completed, failed, cut_off.
/// - Holding: a timer due within `hold_timer_ms` is held in memory (the
///   lease kept); a longer one, or any while draining, releases the run
///   WAITING with its wake time. An event wait releases the run WAITING
///   (after the inbox was read in the previous commit: `read_inbox` asks
///   for a commit that reads it first).
/// - Child runs: scheduling a `child` attempt is a step attempt like an
///   activity's (`dispatch` = the start_child command: the driver starts
///   the child run and records `child_started`, or the attempt's failure).
///   Awaiting a started child releases the run WAITING (reason `child`,
///   no wake time); a child attempt without `child_started` that is not in
///   flight was cut off like an activity's.
/// - Concurrent branches (engine.hpp): every ready command is recorded in
///   one commit, in walk order, and every attempt among them dispatched.
///   While an attempt is in flight the run keeps its lease: other
///   branches' timers and wait timeouts are held (`hold_until_ms` = the
///   earliest), and an event wait reads the inbox with each commit. With
///   nothing in flight, waiting branches release the run WAITING: on an
///   event if any branch waits for one (woken by any signal, or at the
///   earliest timer or timeout), else on the earliest timer.
/// - Draining: the run is handed back (RUNNING, lease released, due now)
///   instead of starting an attempt or a timer, once no attempt of it is
///   in flight here (until then nothing new starts).
/// - Non-determinism: the run fails, or with `hold_on_nondeterminism` waits
///   for an operator (WAITING, reason `nondeterminism`).

#include "config/pipeline.hpp"
#include "engine/engine.hpp"
#include "engine/history.hpp"
#include "messages/run_enums.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace flowgate::engine {

/// One change to the ledger in a step commit.
struct ledger_change {
  std::string step_path;
  int32_t attempt = 1;
  step_status status = step_status::started;
  std::string error_type;
  std::string error_message;
  /// For `started`: the index in `step_plan::events` of the event that
  /// schedules the attempt; -1 otherwise.
  int32_t scheduled_by = -1;
};

/// The run row's change in a step commit.
struct run_transition {
  /// What the run becomes: RUNNING stays under its lease (or is handed
  /// back if `release_lease`).
  run_status outcome = run_status::running;
  /// For WAITING: `retry`, `timer`, `event` or `nondeterminism`.
  flowgate::wait_reason wait_reason = flowgate::wait_reason::none;
  /// Where the run stands.
  std::string node_path;
  /// When it is due again (waiting, or handed back).
  int64_t wake_at_ms = 0;
  /// JSON text of the output (completed).
  std::string output;
  std::string error_type;
  std::string error_message;
  bool release_lease = false;
  /// The wait row to open (`timer`, `event`, `nondeterminism`); none for
  /// no row.
  flowgate::wait_reason open_wait = flowgate::wait_reason::none;
  std::string wait_event;

  /// The run leaves its driver: finished, or its lease given up.
  bool is_leaving() const;
};

/// What the driver knows beyond the history.
struct plan_context {
  /// The next sequence number of the stored history (the first planned
  /// event gets it).
  int64_t next_seq = 1;
  int64_t now_ms = 0;
  /// Where the run stood before this plan.
  std::string node_path;
  bool draining = false;
  /// The previous commit read the inbox and nothing was recorded since.
  bool inbox_fresh = false;
  int64_t hold_timer_ms = 2'000;
  bool hold_on_nondeterminism = false;
  /// Attempts started by this driver whose outcome it still awaits: an
  /// attempt without an outcome that is not here was cut off.
  std::set<std::pair<std::string, int32_t>> in_flight;
  /// The driver's walk cache (engine.hpp), or none.
  walk_cache* cache = nullptr;
};

/// One step commit and what follows it.
struct step_plan {
  /// The history with the planned events appended (the input history is
  /// moved in and handed back).
  std::vector<event> history;
  /// The planned events, numbered from `next_seq`.
  std::vector<event> events;
  std::vector<ledger_change> ledger;
  run_transition change;
  /// After the commit: start these attempts (several when concurrent
  /// branches are ready at once), in order.
  std::vector<command> dispatches;
  /// After the commit: wake up then (a held timer); 0 = none.
  int64_t hold_until_ms = 0;
  /// Commit (even if empty) to read the inbox before deciding further.
  bool read_inbox = false;
  /// The engine's state at the history as given (before the plan).
  run_state initial_state = run_state::ready;
  /// The engine's state after the planned events.
  run_state state = run_state::ready;
  /// Set when the history disagrees with the pipeline.
  std::optional<nondeterminism> conflict;

  /// True if there is nothing to write.
  bool is_empty() const;
};

/// Plans the next step commit of a run.
step_plan plan(const pipeline& definition, const boost::json::value& input,
               std::vector<event> history, const plan_context& ctx);

/// A new run's first step commit (its history only `run_started` at seq 1)
/// if that commit starts exactly one attempt (an activity or a child run)
/// and nothing else:
/// the commit a creator records with the run, or a claim with its first
/// lease (messages/run_messages.hpp `create_run`). Nothing in it depends on
/// `now_ms` (an attempt's event carries no time), so two calls agree.
std::optional<step_plan> first_step_plan(const pipeline& definition,
                                         const boost::json::value& input, int64_t now_ms);

} // namespace flowgate::engine
