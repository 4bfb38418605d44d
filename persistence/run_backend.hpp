#pragma once

/// The primitives a store backend implements for the run store
/// (persistence/run_store.hpp), which decides every run semantic once:
/// admission, claims and their order, leases and membership, fenced
/// appends, the quota cut, inbox, cancel and resume. A primitive is one
/// statement (rarely two) inside the transaction the caller has open; it
/// never decides anything a run's semantics depend on beyond what its
/// own condition says (`WHERE ... AND epoch = ...`), so a new backend (the
/// PostgreSQL one) implements this interface and nothing else.
///
/// Exactness across processes rests on two guarantees of a backend:
/// - `lock_tenant` serializes, until the transaction ends, every
///   transaction that counts or changes a tenant's runs (admission, claims,
///   quota). SQLite gets it from its database-wide write lock (a no-op
///   here); a row-lock store locks the tenant's row. A claim, which visits
///   many tenants in round-robin order, never waits for a tenant's lock
///   (`try_lock_tenant`): it skips a tenant another transaction holds, so
///   claims of several nodes cannot deadlock with each other or with a
///   batch that created runs (each such transaction waits for at most one
///   tenant's lock at a time, held by a transaction that waits for none).
/// - Conditional primitives (`claim_run`, `fenced_update`, `renew_lease`,
///   `release_lease`, `take_usage_unit`, `insert_attempt`) decide in the
///   statement that changes the row: a row that no longer matches is not
///   changed, and the caller learns it from the result.
///
/// Times are the caller's `now_ms`, which the store writer stamps with its
/// clock at commit; a backend with its own clock (PostgreSQL) may use that
/// instead, never a caller's.

#include "messages/run_messages.hpp"
#include "messages/schedule_messages.hpp"
#include "messages/store_messages.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace flowgate {

/// A new run row (`insert_run`).
struct new_run_row {
  run_record run;
  run_status status = run_status::pending;
  int64_t next_seq = 2;
  int64_t wake_at_ms = 0;
  /// Empty: no lease.
  std::string lease_owner;
  int64_t lease_incarnation = 0;
  int64_t lease_expires_at_ms = 0;
  int64_t lease_epoch = 0;
  std::string node_path;
  int64_t now_ms = 0;
  /// 0: not started (no claim yet).
  int64_t started_at_ms = 0;
  /// A child run's parent attempt (0: none) and its depth.
  int64_t parent_run = 0;
  std::string parent_node_path;
  int32_t parent_attempt = 0;
  int32_t child_depth = 0;
  /// A PENDING run's first decision, kept for the claim that gives it its
  /// first lease (JSON, run_store.cpp); empty: none.
  std::string first_plan;
};

/// A run a claim took (`claim_run`).
struct claimed_run {
  run_record run;
  /// The first decision kept on its row (`new_run_row::first_plan`); empty
  /// once its history moved past `run_started`.
  std::string first_plan;
  /// A signal or cancellation waits in its inbox.
  bool inbox_pending = false;
};

/// A run's place among child runs (`lineage`, `find_child`).
struct run_lineage {
  int64_t run = 0;
  /// 0: not a child run.
  int64_t parent = 0;
  std::string parent_node_path;
  int32_t parent_attempt = 0;
  int32_t depth = 0;
  run_status status = run_status::pending;
  std::string output;
  std::string error_type;
  std::string error_message;
};

/// A lease to take (`claim_run`).
struct lease_grant {
  std::string owner;
  int64_t incarnation = 0;
  int64_t now_ms = 0;
  int64_t expires_at_ms = 0;
};

/// The fenced run update of an append (`fenced_update`).
struct fenced_run_update {
  int64_t run = 0;
  std::string owner;
  int64_t incarnation = 0;
  int64_t epoch = 0;
  /// The run's `next_seq` the writer expects; the update moves it by `events`.
  int64_t expected_seq = 0;
  int64_t events = 0;
  int64_t now_ms = 0;
  const run_change* change = nullptr;
  /// Give up the lease (finished, paused, handed back).
  bool leaving = false;
  bool terminal = false;
};

/// What a fenced update matched.
struct fenced_row {
  std::string tenant;
  bool inbox_pending = false;
  /// A child run's parent attempt (0: not a child run).
  int64_t parent_run = 0;
  std::string parent_node_path;
  int32_t parent_attempt = 0;
  /// The run has started a child run.
  bool has_children = false;
};

/// A usage period's counter as it stands in the transaction.
struct usage_count {
  bool exists = false;
  int64_t used = 0;
};

/// One unconsumed inbox entry.
struct inbox_entry {
  int64_t id = 0;
  /// `signal` or `cancel`.
  std::string kind;
  std::string event;
  std::string payload;
};

/// A node's registration as the backend stores it.
struct node_registration {
  int64_t incarnation = 0;
  int64_t pid = 0;
  std::string host;
  int64_t heartbeat_at_ms = 0;
  int64_t ttl_ms = 0;
  bool stopped = false;
};

/// A live serving node (`live_nodes`).
struct live_node {
  std::string node;
  int64_t incarnation = 0;
  int64_t claimed_at_ms = 0;
  /// Where its door listens (`serve --listen`); empty: nowhere.
  std::string address;
};

/// A tenant's ownership lease (`tenant_owner`, `tenant_owners`).
struct tenant_owner_row {
  std::string tenant;
  std::string owner;
  int64_t incarnation = 0;
  int64_t epoch = 0;
  /// 0: given up.
  int64_t expires_at_ms = 0;
  /// The owner's last claim (its registration's), 0 if that registration
  /// is gone, and its free run slots after it.
  int64_t owner_claimed_at_ms = 0;
  int64_t owner_room = 0;
};

class run_backend {
public:
  virtual ~run_backend() = default;

  // -- tenants -------------------------------------------------------------------
  /// The tenant's stored config text; nullopt if the tenant does not exist.
  [[nodiscard]] virtual caf::expected<std::optional<std::string>>
  tenant_config(const std::string& tenant) = 0;
  /// A stored pipeline version's document; nullopt if there is none.
  [[nodiscard]] virtual caf::expected<std::optional<std::string>>
  pipeline_document(const std::string& tenant, const std::string& queue,
                    const std::string& version) = 0;
  /// Every tenant's (id, config text), ordered by id.
  [[nodiscard]] virtual caf::expected<std::vector<std::pair<std::string, std::string>>>
  tenant_configs() = 0;
  /// Serializes the tenant's admission until the transaction ends (see above).
  [[nodiscard]] virtual caf::error lock_tenant(const std::string& tenant) = 0;
  /// As `lock_tenant`, but false at once if another transaction holds the
  /// tenant's lock (nothing is locked then).
  [[nodiscard]] virtual caf::expected<bool> try_lock_tenant(const std::string& tenant) = 0;
  /// RUNNING runs of the tenant with a live lease, over every process: the
  /// permits in use. A store whose transactions overlap (PostgreSQL) also
  /// revokes the expired leases it counts as free, so that a renewal in
  /// flight elsewhere cannot revive one; an expired lease whose row another
  /// transaction holds counts as live. Call it in a write transaction.
  [[nodiscard]] virtual caf::expected<int64_t> count_live_running(const std::string& tenant,
                                                                  int64_t now_ms) = 0;
  /// Unfinished (PENDING, RUNNING, WAITING) runs of the tenant.
  [[nodiscard]] virtual caf::expected<int64_t> count_active(const std::string& tenant) = 0;
  /// The tenant's RUNNING runs whose live lease (owner, incarnation) holds.
  [[nodiscard]] virtual caf::expected<int64_t> count_held(const std::string& tenant,
                                                          const std::string& owner,
                                                          int64_t incarnation, int64_t now_ms) = 0;
  /// Counts a refused start by reason.
  [[nodiscard]] virtual caf::error count_refusal(const std::string& tenant, rejection_reason reason,
                                                 int64_t now_ms) = 0;

  // -- runs ----------------------------------------------------------------------
  [[nodiscard]] virtual caf::expected<std::optional<run_record>> find_run(int64_t run) = 0;
  [[nodiscard]] virtual caf::expected<std::optional<run_record>>
  find_run_by_key(const std::string& tenant, const std::string& idempotency_key) = 0;
  /// Inserts a run; returns its id.
  [[nodiscard]] virtual caf::expected<int64_t> insert_run(const new_run_row& r) = 0;
  /// Ids of the tenant's runs in `status` that are due (wake time and lease
  /// expiry reached), oldest wake first, at most `limit`.
  [[nodiscard]] virtual caf::expected<std::vector<int64_t>>
  due_runs(const std::string& tenant, run_status status, int64_t now_ms, int64_t limit) = 0;
  /// Takes the lease of a due, unfinished run (epoch + 1, RUNNING); nullopt
  /// if it is no longer due or its lease is live.
  [[nodiscard]] virtual caf::expected<std::optional<claimed_run>>
  claim_run(int64_t run, const lease_grant& g) = 0;
  /// The append's one fenced statement: matches only while (owner,
  /// incarnation, epoch) holds the unexpired lease of the RUNNING run at
  /// `expected_seq`; nullopt otherwise. An expired lease fences too: its
  /// permit may already be another run's. Empties the kept first decision.
  [[nodiscard]] virtual caf::expected<std::optional<fenced_row>>
  fenced_update(const fenced_run_update& u) = 0;
  /// A run created without quota for its first step: WAITING on quota at
  /// `node_path`, no lease.
  [[nodiscard]] virtual caf::error pause_new_run(int64_t run, const std::string& node_path,
                                                 int64_t wake_at_ms) = 0;
  /// The run is due no later than `now_ms`.
  [[nodiscard]] virtual caf::error wake_run(int64_t run, int64_t now_ms) = 0;
  /// The inbox was moved into the history up to `next_seq`.
  [[nodiscard]] virtual caf::error set_inbox_taken(int64_t run, int64_t next_seq) = 0;
  /// Moves the run's next sequence number past events appended after its
  /// fenced update (ended children).
  [[nodiscard]] virtual caf::error set_next_seq(int64_t run, int64_t next_seq) = 0;
  /// Marks the inbox pending; `due_now`: the run is due no later than now.
  [[nodiscard]] virtual caf::error mark_inbox_pending(int64_t run, int64_t now_ms,
                                                      bool due_now) = 0;
  /// Ends an unleased run CANCELED (one event appended by the caller).
  [[nodiscard]] virtual caf::error cancel_run_row(int64_t run, const std::string& reason,
                                                  int64_t now_ms) = 0;
  /// A quota-paused run is due now (`resumed`); false if it was not paused.
  [[nodiscard]] virtual caf::expected<bool> resume_run_row(int64_t run, int64_t now_ms) = 0;

  // -- leases ----------------------------------------------------------------------
  [[nodiscard]] virtual caf::expected<bool> renew_lease(int64_t run, const std::string& owner,
                                                        int64_t incarnation, int64_t epoch,
                                                        int64_t expires_at_ms, int64_t now_ms) = 0;
  [[nodiscard]] virtual caf::expected<bool> release_lease(int64_t run, const std::string& owner,
                                                          int64_t incarnation, int64_t epoch,
                                                          int64_t now_ms) = 0;
  /// Releases every lease of (owner, incarnation); returns how many.
  [[nodiscard]] virtual caf::expected<int64_t>
  release_all_leases(const std::string& owner, int64_t incarnation, int64_t now_ms) = 0;

  // -- history ---------------------------------------------------------------------
  [[nodiscard]] virtual caf::error insert_event(int64_t run, const std::string& tenant,
                                                const history_record& e, int64_t now_ms) = 0;
  /// Inserts `events` (in one statement where the store can).
  [[nodiscard]] virtual caf::error insert_events(int64_t run, const std::string& tenant,
                                                 const std::vector<history_record>& events,
                                                 int64_t now_ms) = 0;

  // -- ledger and usage ------------------------------------------------------------
  /// Inserts a `started` ledger row; false if (run, step, attempt) exists.
  [[nodiscard]] virtual caf::expected<bool>
  insert_attempt(const reserve_step& r, const std::string& node, int64_t epoch) = 0;
  [[nodiscard]] virtual caf::error delete_attempt(int64_t run, const std::string& step_path,
                                                  int32_t attempt) = 0;
  /// Finishes a `started` row; false if it was not started.
  [[nodiscard]] virtual caf::expected<bool> finish_attempt(int64_t run, const step_change& s,
                                                           int64_t now_ms) = 0;
  /// Every still-started attempt of the run becomes `canceled`.
  [[nodiscard]] virtual caf::error cancel_started_attempts(int64_t run, int64_t now_ms) = 0;
  [[nodiscard]] virtual caf::expected<usage_count>
  usage_counter(const std::string& tenant, int64_t period_start_ms, int64_t period_end_ms) = 0;
  /// Counts one unit if `limit` < 0 or used < limit; the new count, or
  /// nullopt if refused (or the counter does not exist). With `read_count`
  /// false a backend may answer 0 for the new count (SQLite then skips the
  /// read that follows its UPDATE): for callers that only need the decision.
  [[nodiscard]] virtual caf::expected<std::optional<int64_t>>
  take_usage_unit(const std::string& tenant, int64_t period_start_ms, int64_t period_end_ms,
                  int64_t limit, int64_t now_ms, bool read_count) = 0;
  [[nodiscard]] virtual caf::error create_usage_counter(const std::string& tenant,
                                                        int64_t period_start_ms,
                                                        int64_t period_end_ms, int64_t limit,
                                                        int64_t now_ms) = 0;

  // -- waits -----------------------------------------------------------------------
  [[nodiscard]] virtual caf::error open_wait(int64_t run, const std::string& tenant,
                                             wait_reason kind, const std::string& node_path,
                                             const std::string& event_name, int64_t wake_at_ms,
                                             int64_t now_ms) = 0;
  [[nodiscard]] virtual caf::error resolve_waits(int64_t run, const std::string& resolution,
                                                 int64_t now_ms) = 0;
  /// Runs with an open, not yet resuming quota wait of the tenant, oldest first.
  [[nodiscard]] virtual caf::expected<std::vector<int64_t>> quota_waits(const std::string& tenant,
                                                                        int64_t limit) = 0;
  /// Open quota waits of the tenant already marked resuming.
  [[nodiscard]] virtual caf::expected<int64_t> count_resuming(const std::string& tenant) = 0;
  /// Marks the run's open quota wait resuming; false if none (or done already).
  [[nodiscard]] virtual caf::expected<bool> mark_resuming(int64_t run) = 0;

  // -- inbox -----------------------------------------------------------------------
  [[nodiscard]] virtual caf::expected<std::vector<inbox_entry>> inbox(int64_t run) = 0;
  [[nodiscard]] virtual caf::error consume_inbox_entry(int64_t entry, int64_t seq) = 0;
  /// Every unconsumed entry of the run is consumed (without an event).
  [[nodiscard]] virtual caf::error drop_inbox(int64_t run) = 0;
  [[nodiscard]] virtual caf::expected<int64_t>
  insert_inbox_entry(int64_t run, const std::string& tenant, const std::string& kind,
                     const std::string& event, const std::string& payload, int64_t now_ms) = 0;

  // -- membership ------------------------------------------------------------------
  [[nodiscard]] virtual caf::expected<std::optional<node_registration>>
  registration(const std::string& node) = 0;
  [[nodiscard]] virtual caf::error put_registration(const register_node& op,
                                                    int64_t incarnation) = 0;
  /// Writes the heartbeat of a live (node, incarnation); false if that is
  /// not the registration (superseded or stopped).
  [[nodiscard]] virtual caf::expected<bool> heartbeat(const std::string& node, int64_t incarnation,
                                                      int64_t now_ms) = 0;
  [[nodiscard]] virtual caf::expected<bool> mark_stopped(const std::string& node,
                                                         int64_t incarnation, int64_t now_ms) = 0;
  /// Records a claim of (node, incarnation) at `now_ms` and the run slots
  /// it has free after it.
  [[nodiscard]] virtual caf::error mark_claimed(const std::string& node, int64_t incarnation,
                                                int64_t now_ms, int64_t room) = 0;
  /// Live registrations (not stopped, heartbeat within their TTL) by id.
  [[nodiscard]] virtual caf::expected<std::vector<live_node>> live_nodes(int64_t now_ms) = 0;

  // -- tenant ownership ------------------------------------------------------------
  /// The tenant's ownership lease row, with its owner's last claim; nullopt
  /// if none was ever taken.
  [[nodiscard]] virtual caf::expected<std::optional<tenant_owner_row>>
  tenant_owner(const std::string& tenant) = 0;
  /// Every ownership lease row, by tenant.
  [[nodiscard]] virtual caf::expected<std::vector<tenant_owner_row>> tenant_owners() = 0;
  /// Takes the tenant's ownership for (owner, incarnation) until
  /// `expires_at_ms`: the row is inserted (epoch 1), or updated where it is
  /// that registration's already (epoch kept) or expired at `now_ms`
  /// (epoch + 1). False if another registration's lease is live.
  [[nodiscard]] virtual caf::expected<bool> take_tenant(const std::string& tenant,
                                                        const std::string& owner,
                                                        int64_t incarnation, int64_t now_ms,
                                                        int64_t expires_at_ms) = 0;
  /// Extends every unexpired ownership of (owner, incarnation) to
  /// `expires_at_ms`; returns how many.
  [[nodiscard]] virtual caf::expected<int64_t> renew_tenants(const std::string& owner,
                                                             int64_t incarnation, int64_t now_ms,
                                                             int64_t expires_at_ms) = 0;
  /// Gives up the ownership of `tenant` (every tenant if empty) held by
  /// (owner, incarnation); returns how many.
  [[nodiscard]] virtual caf::expected<int64_t>
  release_tenants(const std::string& owner, int64_t incarnation, const std::string& tenant) = 0;

  // -- billing ---------------------------------------------------------------------
  [[nodiscard]] virtual caf::error put_subscription(const subscription_record& s,
                                                    int64_t now_ms) = 0;

  // -- child runs ------------------------------------------------------------------
  /// Locks the run's row until the transaction ends (PostgreSQL; SQLite's
  /// write transaction holds the database).
  [[nodiscard]] virtual caf::error lock_run(int64_t run) = 0;
  /// The run's parent link, depth and end; nullopt if it does not exist.
  [[nodiscard]] virtual caf::expected<std::optional<run_lineage>> lineage(int64_t run) = 0;
  /// The child of `parent` at `node_path` with the highest attempt.
  [[nodiscard]] virtual caf::expected<std::optional<run_lineage>>
  find_child(int64_t parent, const std::string& node_path) = 0;
  /// Children of `parent` that ended while the parent attempt that started
  /// each still awaits it (its ledger row is `started`), oldest first.
  [[nodiscard]] virtual caf::expected<std::vector<run_lineage>> ended_children(int64_t parent) = 0;
  /// Notes that `parent` has started a child run.
  [[nodiscard]] virtual caf::error mark_has_children(int64_t parent) = 0;
  /// Unfinished children of `parent`.
  [[nodiscard]] virtual caf::expected<std::vector<int64_t>> unfinished_children(int64_t parent) = 0;
  /// If `parent` is WAITING unleased (for a child, an event or a timer:
  /// concurrent branches may wait for these beside a child), its attempt
  /// (`node_path`, `attempt`) still awaits an outcome and no child of a
  /// later attempt exists there: takes the next sequence number for one
  /// event and makes the run due now; returns that number and the tenant.
  /// nullopt otherwise (nothing changed; a leased parent finds the end at
  /// its next append, `ended_children`).
  [[nodiscard]] virtual caf::expected<std::optional<std::pair<int64_t, std::string>>>
  take_child_wakeup(int64_t parent, const std::string& node_path, int32_t attempt,
                    int64_t now_ms) = 0;

  // -- schedules -------------------------------------------------------------------
  /// A schedule's row; with `lock`, locked until the transaction ends
  /// (PostgreSQL's row lock; SQLite's write transaction holds the database).
  [[nodiscard]] virtual caf::expected<std::optional<schedule_record>>
  find_schedule(const std::string& tenant, const std::string& id, bool lock) = 0;
  /// Inserts or replaces the row (every column as given).
  [[nodiscard]] virtual caf::error put_schedule(const schedule_record& s) = 0;
  /// Rows removed (0 or 1).
  [[nodiscard]] virtual caf::expected<int64_t> delete_schedule(const std::string& tenant,
                                                               const std::string& id) = 0;

  // -- transaction hooks (called by the write session) ---------------------------
  // A heartbeat written once in a transaction holds the node's row lock
  // until the transaction ends, so no other process can supersede or stop
  // that registration meanwhile: later heartbeats of the same (node,
  // incarnation) in the transaction only raise the time to write, and
  // `before_commit` writes the latest once. Other transactions see exactly
  // what one UPDATE per heartbeat would have left (they see only commits),
  // without a version of the row per operation (on PostgreSQL each is a
  // new tuple that every later lookup in the transaction walks past).

  /// An operation (savepoint) begins.
  virtual void operation_began() {}
  /// The current operation was rolled back to its savepoint: what it wrote
  /// (and the row locks it took) is gone.
  virtual void operation_rolled_back() {}
  /// Writes what was deferred; the transaction commits next.
  [[nodiscard]] virtual caf::error before_commit() { return {}; }
  /// The transaction rolled back: everything deferred is dropped.
  virtual void transaction_rolled_back() {}
};

} // namespace flowgate
