#pragma once

/// The deterministic core: `decide(pipeline, input, history)` walks the
/// pipeline along the history and says what must happen next. Pure: no
/// clock, no I/O, no randomness, no global state. The orchestrator records
/// the returned command as the next history event, executes it, records
/// the outcome, and asks again; recovery and `flowgate replay` run the same
/// function over stored histories.
///
/// Rules (FORMATS.md): sequences run their children in order; an activity
/// is retried under its retry policy (the delay before each retry is a
/// durable timer in the history); a cut-off attempt (the process died while
/// it ran) counts as a retryable failure of type `cut_off`; `for_each` runs
/// its body once per item, in order; an event wait takes the first
/// unconsumed signal of its name, also one that arrived before the wait
/// started (signals are buffered); a timed-out wait continues with
/// `{"timed_out": true}` or fails the run. A `switch` runs the branch of the
/// case its referenced value selects (a string by its text, a number or
/// boolean by its JSON text), else its default; no match and no default
/// fails the run (`no_matching_case`), a missing or non-scalar value too
/// (`bad_reference`).
///
/// Concurrency: a `parallel` node's branches (paths `<id>/<i>/...`) and
/// the items of a `for_each` with `concurrency` N > 1 run at the same
/// time. Each branch is walked over its own events (those under its path)
/// with the rules above, and `commands` holds every branch's next command.
/// Items are admitted in order, at most N in flight: item i (i >= N) is
/// admitted when the earliest-finishing item in flight has finished, so
/// its first event must follow that item's last one, else it is a
/// non-determinism. The node completes when every branch has, its output
/// being the outputs in branch (item) order whatever the completion order
/// was; it fails with the branch whose failure comes first in the history,
/// and the other branches' later outcomes are ignored (no decision of
/// theirs may follow that failure). Signals are shared by sequence number:
/// a wait takes the first unconsumed signal of its name recorded before
/// its branch's next event (the validator keeps two branches from waiting
/// for one event name). A `child` node is an activity whose attempt is a run
/// of another pipeline of the tenant: `step_scheduled` (the decision), then
/// `child_started` once that run exists (or a failure: refused, unknown
/// queue), then the child's end as `step_completed` (its output) or
/// `step_failed`; retries start a new child run. The choice is not an event: it follows from values
/// already in the history, and the branch's node paths (`<switch>/<id>`)
/// make a replay that chooses otherwise a non-determinism. A
/// `run_canceled` event ends the run wherever it appears.
///
/// Non-determinism: a decision event in the history that differs from what
/// the engine would decide at that sequence number, an external event that
/// does not fit, or an event after the end of the run.

#include "config/pipeline.hpp"
#include "engine/history.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace flowgate::engine {

/// What the engine asks for next.
enum class command_kind : uint8_t {
  schedule_activity,
  start_timer,
  start_wait,
  complete_run,
  fail_run,
  start_child,
};

const char* to_string(command_kind k);

/// One command. Fields are filled per kind.
struct command {
  command_kind kind = command_kind::complete_run;
  std::string node_path;
  int32_t attempt = 0;
  // -- schedule_activity -----------------------------------------------------
  std::string activity;
  boost::json::value input;
  int64_t timeout_ms = 0;
  // -- start_child (also `input`) ----------------------------------------------
  std::string queue;
  /// Empty: resolved when the child starts.
  std::string version;
  // -- start_timer -------------------------------------------------------------
  int64_t delay_ms = 0;
  /// `retry` (backoff before an attempt) or `timer` (a timer wait).
  std::string reason;
  // -- start_wait ----------------------------------------------------------------
  std::string event;
  /// 0 = wait without a timeout.
  int64_t wait_timeout_ms = 0;
  // -- complete_run / fail_run -------------------------------------------------
  boost::json::value output;
  std::string error_type;
  std::string error_message;
};

/// The history event that records `cmd` at `seq`. `now_ms` turns relative
/// delays into absolute times (the only place time enters, as an argument).
event record(const command& cmd, int64_t seq, int64_t now_ms);

/// Where the run stands after the history.
enum class run_state : uint8_t {
  /// `next` holds the command to record and execute.
  ready,
  /// An attempt is scheduled and has no outcome yet.
  awaiting_activity,
  /// A timer runs until `wake_at_ms`.
  awaiting_timer,
  /// An event wait; `wake_at_ms` is its timeout (0 = none).
  awaiting_event,
  /// A child run of the attempt exists (`child_started`) and has not
  /// finished; its end is recorded as the attempt's outcome.
  awaiting_child,
  completed,
  failed,
  canceled,
  nondeterministic,
};

const char* to_string(run_state s);

/// A branch of the run that waits (see `run_state`).
struct await_point {
  run_state state = run_state::awaiting_activity;
  std::string node_path;
  int32_t attempt = 0;
  int64_t wake_at_ms = 0;
  std::string event;
};

/// Where a history and the pipeline disagree.
struct nondeterminism {
  int64_t seq = 0;
  std::string expected;
  std::string found;
};

/// The engine's answer.
struct decision {
  run_state state = run_state::ready;
  /// The first of `commands`.
  std::optional<command> next;
  /// Every command ready now, in walk order (several when concurrent
  /// branches or items are ready at once).
  std::vector<command> commands;
  /// Every branch that waits, in walk order (also beside ready commands).
  std::vector<await_point> awaits;
  // -- awaiting_* (the first of `awaits` when nothing is ready) ----------------
  std::string node_path;
  int32_t attempt = 0;
  int64_t wake_at_ms = 0;
  std::string event;
  // -- completed / failed / canceled ---------------------------------------------
  boost::json::value output;
  std::string error_type;
  std::string error_message;
  // -- nondeterministic --------------------------------------------------------
  nondeterminism conflict;
  /// Events of the history the walk used (all of them unless nondeterministic).
  size_t consumed = 0;
};

/// What walks of one run's growing history can reuse, so that a decision
/// costs the same whatever the history's length: for each `for_each` run
/// one item after another (at the top level of the walk), the items that
/// finished, where in the history they ended, their outputs and the signals
/// they took; for each concurrent `for_each` (`concurrency` > 1, at the top
/// level), the history split by item as far as it was read, and the
/// longest run of items from the first that all completed ("settled": their
/// outputs, the signals they took, where their events end and the slots in
/// flight after them), so a decision walks only the items after it; and
/// where the history's signals are. A concurrent loop whose history holds a
/// cancellation or a failed item is walked whole. Owned by the run's
/// driver and valid while its history only grows: `clear()` it when the
/// history is cut back. Decisions with and without a cache are identical.
struct walk_cache {
  struct loop {
    /// History index where the walk reached the loop.
    size_t start = 0;
    /// Items finished, one after another from the first.
    size_t items = 0;
    /// History index after the last finished item's events.
    size_t end = 0;
    /// Their outputs (an array).
    boost::json::value outputs;
    /// Sequence numbers of the signals their waits took.
    std::vector<int64_t> signals;
  };
  std::map<std::string, loop> loops;
  struct concurrent_loop {
    /// History index where the walk reached the loop, and its limit.
    size_t start = 0;
    size_t limit = 0;
    /// History events read so far (from `start`), by item (one entry per
    /// item of the loop): their indexes.
    size_t scanned = 0;
    std::vector<std::vector<size_t>> item_events;
    /// 1 + the highest item that has an event (0: none).
    size_t items_with_events = 0;
    /// First index of an event that is neither the loop's nor a signal.
    size_t boundary = static_cast<size_t>(-1);
    /// Items settled, from the first: all completed.
    size_t settled = 0;
    /// Their outputs (an array), and the signals they took.
    boost::json::value outputs = boost::json::array{};
    std::vector<int64_t> signals;
    /// History index after the last event they read.
    size_t last = 0;
    /// Admission state after them: when the next item may start and when
    /// the items in flight finish (a heap).
    int64_t admitted_at = 0;
    std::vector<int64_t> in_flight;
  };
  std::map<std::string, concurrent_loop> concurrent;
  /// Indexes of `signal_received` events among the first `scanned` events.
  std::vector<size_t> signal_index;
  size_t scanned = 0;

  void clear() {
    loops.clear();
    concurrent.clear();
    signal_index.clear();
    scanned = 0;
  }
};

/// Walks `definition` along `history` (which starts with `run_started`).
decision decide(const pipeline& definition, const boost::json::value& input,
                const std::vector<event>& history, walk_cache* cache = nullptr);

/// One sentence for a non-determinism, e.g. `history event 5 is
/// step_scheduled 'c'#1, but the pipeline expects step_scheduled 'b'#1`.
std::string describe(const nondeterminism& n);

} // namespace flowgate::engine
