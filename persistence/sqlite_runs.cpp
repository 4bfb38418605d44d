#include "persistence/sqlite_runs.hpp"

#include "config/billing.hpp"
#include "config/tenant_config.hpp"
#include "messages/errors.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <limits>
#include <map>
#include <unordered_map>

namespace flowgate::sqlite_runs {

namespace {

namespace json = boost::json;

#define FLOWGATE_RUN_COLUMNS                                                                       \
  "run_id, tenant_id, queue, config_tenant_id, config_version, config_checksum, status, "          \
  "coalesce(wait_reason, ''), node_path, input, coalesce(output, ''), coalesce(error_type, ''), "  \
  "coalesce(error_message, ''), coalesce(idempotency_key, ''), next_seq, wake_at_ms, "             \
  "coalesce(lease_owner, ''), lease_expires_at_ms, lease_epoch, created_at_ms, updated_at_ms, "    \
  "coalesce(started_at_ms, 0), coalesce(finished_at_ms, 0), lease_incarnation"

run_record read_run(const sqlite::statement& st) {
  run_record r;
  r.id = run_id{st.column_int64(0)};
  r.tenant = tenant_id{st.column_text(1)};
  r.queue = queue_name{st.column_text(2)};
  r.config_tenant = tenant_id{st.column_text(3)};
  r.version = config_version{st.column_text(4)};
  r.checksum = st.column_text(5);
  r.status = st.column_text(6);
  r.wait_reason = st.column_text(7);
  r.node_path = st.column_text(8);
  r.input = st.column_text(9);
  r.output = st.column_text(10);
  r.error_type = st.column_text(11);
  r.error_message = st.column_text(12);
  r.idempotency_key = st.column_text(13);
  r.next_seq = st.column_int64(14);
  r.wake_at_ms = st.column_int64(15);
  r.lease_owner = st.column_text(16);
  r.lease_expires_at_ms = st.column_int64(17);
  r.epoch = st.column_int64(18);
  r.created_at_ms = st.column_int64(19);
  r.updated_at_ms = st.column_int64(20);
  r.started_at_ms = st.column_int64(21);
  r.finished_at_ms = st.column_int64(22);
  r.lease_incarnation = st.column_int64(23);
  return r;
}

/// Collects every row of a stepped statement, then resets it.
template <class T, class Read>
caf::expected<std::vector<T>> all_rows(sqlite::statement& st, Read read) {
  std::vector<T> out;
  for (;;) {
    auto row = st.step();
    if (!row) {
      st.reset();
      return row.error();
    }
    if (!*row) {
      break;
    }
    out.push_back(read(st));
  }
  st.reset();
  return out;
}

/// The first column of a bound statement's first row as an integer (0 if
/// there is no row), then resets it.
caf::expected<int64_t> first_int(sqlite::statement& st) {
  auto row = st.step();
  auto value = row && *row ? st.column_int64(0) : 0;
  st.reset();
  if (!row) {
    return row.error();
  }
  return value;
}

/// A usage period's counter as it stands in this transaction.
struct usage_counter {
  /// Whether the period has a `usage_periods` row yet.
  bool exists = false;
  /// Its `used_count` (0 without a row).
  int64_t used = 0;
};

caf::expected<usage_counter> counter_of(sqlite::connection& db, const std::string& tenant,
                                        int64_t period_start_ms, int64_t period_end_ms) {
  auto& st = db.cached("SELECT used_count FROM usage_periods WHERE tenant_id = ?1 "
                       "AND period_start_ms = ?2 AND period_end_ms = ?3");
  st.bind_all(tenant, period_start_ms, period_end_ms);
  auto row = st.step();
  usage_counter out{row && *row, row && *row ? st.column_int64(0) : 0};
  st.reset();
  if (!row) {
    return row.error();
  }
  return out;
}

/// The run row by id (any tenant).
caf::expected<run_record> run_by_id(sqlite::connection& db, int64_t id) {
  auto& st = db.cached("SELECT " FLOWGATE_RUN_COLUMNS " FROM runs WHERE run_id = ?1");
  st.bind_all(id);
  auto rows = all_rows<run_record>(st, read_run);
  if (!rows) {
    return rows.error();
  }
  if (rows->empty()) {
    return make_error(errc::not_found, "run " + std::to_string(id) + " does not exist");
  }
  return std::move(rows->front());
}

/// The run if it exists and belongs to `tenant` (any tenant if empty).
caf::expected<run_record> tenant_run(sqlite::connection& db, const tenant_id& tenant,
                                     const run_id& run) {
  auto r = run_by_id(db, run.value);
  if (!r || tenant.value.empty() || r->tenant == tenant) {
    return r;
  }
  // Another tenant's run is reported exactly like a missing one (same code,
  // same sentence): a tenant cannot tell which ids exist.
  return make_error(errc::not_found, "run " + std::to_string(run.value) + " does not exist");
}

caf::error insert_event(sqlite::connection& db, int64_t run, const std::string& tenant,
                        const history_record& e, int64_t now_ms) {
  auto& st = db.cached("INSERT INTO run_events (run_id, seq, tenant_id, event_type, node_path, "
                       "attempt, payload, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  st.bind_all(run, e.seq, tenant, e.type, e.node_path, e.attempt, e.payload, now_ms);
  return st.run();
}

caf::error resolve_waits(sqlite::connection& db, int64_t run, const char* resolution,
                         int64_t now_ms) {
  auto& st = db.cached("UPDATE run_waits SET resolved_at_ms = ?2, resolution = ?3 "
                       "WHERE run_id = ?1 AND resolved_at_ms IS NULL");
  st.bind_all(run, now_ms, resolution);
  return st.run();
}

/// Moves the run's unconsumed inbox into its history from `seq` on.
caf::expected<std::vector<history_record>> take_inbox(sqlite::connection& db, int64_t run,
                                                      const std::string& tenant, int64_t seq,
                                                      int64_t now_ms) {
  struct entry {
    int64_t id;
    std::string kind;
    std::string event;
    std::string payload;
  };
  auto& select = db.cached("SELECT signal_id, kind, event_name, payload FROM run_signals "
                           "WHERE run_id = ?1 AND consumed_seq IS NULL ORDER BY signal_id");
  select.bind_all(run);
  auto entries = all_rows<entry>(select, [](const sqlite::statement& st) {
    return entry{st.column_int64(0), st.column_text(1), st.column_text(2), st.column_text(3)};
  });
  if (!entries) {
    return entries.error();
  }
  std::vector<history_record> out;
  for (auto& e : *entries) {
    history_record h;
    h.seq = seq++;
    h.created_at_ms = now_ms;
    if (e.kind == "cancel") {
      h.type = "run_canceled";
      h.payload = json::serialize(json::object{{"reason", e.payload}});
    } else {
      h.type = "signal_received";
      boost::system::error_code ec;
      auto payload = json::parse(e.payload, ec);
      h.payload = json::serialize(json::object{{"event", e.event}, {"payload", payload}});
    }
    if (auto err = insert_event(db, run, tenant, h, now_ms)) {
      return err;
    }
    auto& consume = db.cached("UPDATE run_signals SET consumed_seq = ?2 WHERE signal_id = ?1");
    consume.bind_all(e.id, h.seq);
    if (auto err = consume.run()) {
      return err;
    }
    out.push_back(std::move(h));
  }
  return out;
}

/// A tenant's admission settings, resolved from its stored config
/// (FORMATS.md "Tenant") by the config parser, never by SQL.
struct tenant_limits {
  /// Concurrent RUNNING runs allowed; 0 = unlimited.
  int64_t max_running = 0;
  bool reject = false;
  /// Active-run limits; 0 = none.
  int64_t soft = 0;
  int64_t hard = 0;
  /// How long a starter may wait for a queued run's admission.
  int64_t deadline_ms = 30'000;
  /// Turns per claim round.
  int64_t weight = 1;
};

/// The limits of a stored config text; cached per tenant while the text is
/// unchanged (claims and creations read them for every run).
caf::expected<tenant_limits> limits_of_text(const std::string& tenant, const std::string& text,
                                            int64_t default_limit) {
  struct cached {
    std::string text;
    tenant_config config;
  };
  thread_local std::unordered_map<std::string, cached> cache;
  auto it = cache.find(tenant);
  if (it == cache.end() || it->second.text != text) {
    auto parsed = parse_tenant_config_text(text, tenant);
    if (!parsed) {
      return make_error(errc::invalid_config,
                        "tenant '" + tenant + "': stored config: " + describe(parsed.error()));
    }
    if (cache.size() > 100'000) {
      cache.clear();
    }
    it = cache.insert_or_assign(tenant, cached{text, std::move(parsed->config)}).first;
  }
  const auto& c = it->second.config;
  tenant_limits out;
  out.max_running = c.max_concurrent_runs < 0 ? default_limit : c.max_concurrent_runs;
  out.reject = c.admission == admission_mode::reject;
  out.soft = c.soft_limit;
  out.hard = c.hard_limit;
  out.deadline_ms = c.admission_deadline_ms;
  out.weight = std::max<int64_t>(1, c.weight);
  return out;
}

/// The tenant's limits; `unknown_tenant` if it does not exist.
caf::expected<tenant_limits> limits_of(sqlite::connection& db, const std::string& tenant,
                                       int64_t default_limit) {
  auto& st = db.cached("SELECT config_json FROM tenants WHERE tenant_id = ?1");
  st.bind_all(tenant);
  auto row = st.step();
  if (!row) {
    st.reset();
    return row.error();
  }
  if (!*row) {
    st.reset();
    return make_error(errc::unknown_tenant, "tenant '" + tenant + "' does not exist");
  }
  auto text = st.column_text(0);
  st.reset();
  return limits_of_text(tenant, text, default_limit);
}

/// Live leased RUNNING runs of a tenant, over every process.
caf::expected<int64_t> live_running(sqlite::connection& db, const std::string& tenant,
                                    int64_t now_ms) {
  auto& st = db.cached("SELECT count(*) FROM runs WHERE tenant_id = ?1 AND status = 'RUNNING' "
                       "AND lease_expires_at_ms > ?2");
  st.bind_all(tenant, now_ms);
  return first_int(st);
}

/// Counts a refused start and answers it (the caller turns it into an error).
caf::expected<run_created> refuse(sqlite::connection& db, const std::string& tenant,
                                  const char* reason, std::string message, int64_t now_ms) {
  auto& st = db.cached("INSERT INTO tenant_rejections (tenant_id, reason, rejected, updated_at_ms) "
                       "VALUES (?1, ?2, 1, ?3) ON CONFLICT (tenant_id, reason) DO UPDATE SET "
                       "rejected = rejected + 1, updated_at_ms = excluded.updated_at_ms");
  st.bind_all(tenant, reason, now_ms);
  if (auto err = st.run()) {
    return err;
  }
  run_created out;
  out.rejection = reason;
  out.rejection_message = std::move(message);
  return out;
}

/// The highest number of active runs the soft limit allows: soft + 5%.
int64_t soft_cap(int64_t soft) {
  return soft + soft * 5 / 100;
}

/// Attempts scheduled but not finished when a run is canceled (never run,
/// or their result will be ignored).
caf::error cancel_started_steps(sqlite::connection& db, int64_t run, int64_t now_ms) {
  auto& st = db.cached("UPDATE run_steps SET status = 'canceled', finished_at_ms = ?2 "
                       "WHERE run_id = ?1 AND status = 'started'");
  st.bind_all(run, now_ms);
  return st.run();
}

/// Why an append's fenced update matched no row.
caf::error refused_append(sqlite::connection& db, const append_history& op) {
  auto r = run_by_id(db, op.run.value);
  if (!r) {
    return r.error();
  }
  if (r->lease_owner != op.owner.value || r->epoch != op.epoch ||
      r->lease_incarnation != op.incarnation || r->status != run_status::running) {
    return make_error(
      errc::lease_lost,
      "run " + std::to_string(op.run.value) + ": node '" + op.owner.value + "' (incarnation " +
        std::to_string(op.incarnation) + ") writes under lease epoch " + std::to_string(op.epoch) +
        ", but the run is " + r->status + " with lease epoch " + std::to_string(r->epoch) +
        (r->lease_owner.empty() ? std::string{" and no owner"}
                                : " held by '" + r->lease_owner + "' (incarnation " +
                                    std::to_string(r->lease_incarnation) + ")"));
  }
  return make_error(errc::store_failure, "run " + std::to_string(op.run.value) +
                                           ": history is at sequence " +
                                           std::to_string(r->next_seq) + ", the writer expected " +
                                           std::to_string(op.expected_seq));
}

caf::error check_unfinished(const run_record& r, const char* what) {
  if (run_status::is_terminal(r.status)) {
    return make_error(errc::run_finished, "run " + std::to_string(r.id.value) + " is " + r.status +
                                            "; " + what + " only apply to unfinished runs");
  }
  return {};
}

} // namespace

// -- writes --------------------------------------------------------------------

caf::expected<step_reservation> reserve(sqlite::connection& db, const reserve_step& op,
                                        const std::string& node, int64_t epoch) {
  step_reservation out;
  out.limit = op.limit;
  out.period_start_ms = op.period_start_ms;
  out.period_end_ms = op.period_end_ms;
  if (op.period_end_ms <= op.period_start_ms) {
    return make_error(errc::invalid_argument, "run " + std::to_string(op.run.value) + ": step '" +
                                                op.step_path + "' attempt " +
                                                std::to_string(op.attempt) +
                                                " has no usage period to be reserved against");
  }
  auto used_now = [&] {
    return counter_of(db, op.tenant.value, op.period_start_ms, op.period_end_ms);
  };
  // The ledger row first: it is keyed by (run, step, attempt), so an
  // attempt reserved before (a replay, a retried request) is found here and
  // not counted again. Two statements in the common case.
  auto& ledger = db.cached(
    "INSERT INTO run_steps (run_id, step_path, attempt, tenant_id, status, period_start_ms, "
    "period_end_ms, node_id, lease_epoch, started_at_ms) VALUES (?1, ?2, ?3, ?4, 'started', ?5, "
    "?6, nullif(?7, ''), ?8, ?9) ON CONFLICT (run_id, step_path, attempt) DO NOTHING");
  ledger.bind_all(op.run.value, op.step_path, op.attempt, op.tenant.value, op.period_start_ms,
                  op.period_end_ms, node, epoch, op.now_ms);
  if (auto err = ledger.run()) {
    return err;
  }
  if (db.changes() == 0) {
    auto used = used_now();
    if (!used) {
      return used.error();
    }
    out.used = used->used;
    out.granted = true;
    out.duplicate = true;
    return out;
  }
  // The decision: count the attempt only while used < limit (or unlimited).
  auto& take = db.cached(
    "UPDATE usage_periods SET used_count = used_count + 1, step_limit = ?4, "
    "updated_at_ms = ?5 WHERE tenant_id = ?1 AND period_start_ms = ?2 AND period_end_ms = ?3 "
    "AND (?4 < 0 OR used_count < ?4) RETURNING used_count");
  for (int round = 0; round < 2; ++round) {
    take.bind_all(op.tenant.value, op.period_start_ms, op.period_end_ms, op.limit, op.now_ms);
    auto granted = take.step();
    auto count = granted && *granted ? take.column_int64(0) : 0;
    take.reset();
    if (!granted) {
      return granted.error();
    }
    if (*granted) {
      out.used = count;
      out.granted = true;
      return out;
    }
    auto used = used_now();
    if (!used) {
      return used.error();
    }
    if (used->exists || round > 0) {
      out.used = used->used;
      break; // at the limit
    }
    // The period's first reservation: create its counter, then decide.
    auto& ensure =
      db.cached("INSERT INTO usage_periods (tenant_id, period_start_ms, period_end_ms, used_count, "
                "step_limit, updated_at_ms) VALUES (?1, ?2, ?3, 0, ?4, ?5)");
    ensure.bind_all(op.tenant.value, op.period_start_ms, op.period_end_ms, op.limit, op.now_ms);
    if (auto err = ensure.run()) {
      return err;
    }
  }
  // Refused: the attempt does not start, so it has no ledger row.
  auto& undo =
    db.cached("DELETE FROM run_steps WHERE run_id = ?1 AND step_path = ?2 AND attempt = ?3");
  undo.bind_all(op.run.value, op.step_path, op.attempt);
  if (auto err = undo.run()) {
    return err;
  }
  return out;
}

namespace {

constexpr int64_t never_ms = std::numeric_limits<int64_t>::max();

reserve_step reservation_of(const quota_terms& q, const tenant_id& tenant, int64_t run,
                            const step_change& s, int64_t now_ms) {
  return reserve_step{tenant,          run_id{run}, s.step_path, s.attempt, q.period_start_ms,
                      q.period_end_ms, q.limit,     now_ms};
}

quota_exhausted exhausted_of(const reserve_step& r, const step_reservation& out) {
  return quota_exhausted{
    r.tenant, r.run, r.step_path, out.used, out.limit, out.period_start_ms, out.period_end_ms};
}

/// Opens a wait of a run (a `run_waits` row): `event_name` empty for waits
/// that are not on an event; `wake_at_ms` when a scan may wake it (the
/// far future for waits only something else resolves).
caf::error open_wait_row(sqlite::connection& db, int64_t run, const std::string& tenant,
                         const std::string& kind, const std::string& node_path,
                         const std::string& event_name, int64_t wake_at_ms, int64_t now_ms) {
  auto& wait = db.cached("INSERT INTO run_waits (run_id, tenant_id, kind, node_path, "
                         "event_name, wake_at_ms, created_at_ms) VALUES (?1, ?2, ?3, ?4, "
                         "nullif(?5, ''), ?6, ?7)");
  wait.bind_all(run, tenant, kind, node_path, event_name, wake_at_ms, now_ms);
  return wait.run();
}

} // namespace

caf::expected<run_created> apply(sqlite::connection& db, const create_run& op) {
  const auto& r = op.run;
  if (!r.idempotency_key.empty()) {
    auto& existing = db.cached("SELECT " FLOWGATE_RUN_COLUMNS
                               " FROM runs WHERE tenant_id = ?1 AND idempotency_key = ?2");
    existing.bind_all(r.tenant.value, r.idempotency_key);
    auto rows = all_rows<run_record>(existing, read_run);
    if (!rows) {
      return rows.error();
    }
    if (!rows->empty()) {
      return run_created{std::move(rows->front()), false, {}, {}, 0};
    }
  }
  auto limits = limits_of(db, r.tenant.value, op.default_limit);
  if (!limits) {
    return limits.error();
  }
  if (limits->soft > 0 || limits->hard > 0) {
    auto& active = db.cached("SELECT count(*) FROM runs WHERE tenant_id = ?1 AND status IN "
                             "('PENDING', 'RUNNING', 'WAITING')");
    active.bind_all(r.tenant.value);
    auto active_runs = first_int(active);
    if (!active_runs) {
      return active_runs.error();
    }
    auto n = *active_runs;
    if (limits->hard > 0 && n >= limits->hard) {
      return refuse(db, r.tenant.value, "hard_limit",
                    "tenant '" + r.tenant.value + "' has " + std::to_string(n) +
                      " active runs, at its hard limit of " + std::to_string(limits->hard),
                    op.now_ms);
    }
    if (limits->soft > 0 && n >= soft_cap(limits->soft)) {
      return refuse(db, r.tenant.value, "soft_limit",
                    "tenant '" + r.tenant.value + "' has " + std::to_string(n) +
                      " active runs, at its soft limit of " + std::to_string(limits->soft) +
                      " plus the 5% burst (" + std::to_string(soft_cap(limits->soft)) + ")",
                    op.now_ms);
    }
  }
  bool at_limit = false;
  if (limits->max_running > 0) {
    auto live = live_running(db, r.tenant.value, op.now_ms);
    if (!live) {
      return live.error();
    }
    at_limit = *live >= limits->max_running;
    if (at_limit && limits->reject) {
      return refuse(db, r.tenant.value, "tenant_at_limit",
                    "tenant '" + r.tenant.value + "' is running " + std::to_string(*live) +
                      " of its " + std::to_string(limits->max_running) +
                      " concurrent runs and its admission mode is 'reject'",
                    op.now_ms);
    }
  }
  // At its limit, a run waits PENDING (unclaimed) for a permit.
  bool claimed = !op.owner.value.empty() && !at_limit;
  if (op.owner.value.empty() && !op.first_events.empty()) {
    return make_error(errc::invalid_argument,
                      "a run created without an owner cannot carry decisions");
  }
  static const std::vector<history_record> no_events;
  static const std::vector<step_change> no_steps;
  const auto& first_events = claimed ? op.first_events : no_events;
  const auto& first_steps = claimed ? op.first_steps : no_steps;
  auto first_next_seq = 2 + static_cast<int64_t>(first_events.size());
  // The lease's length is the caller's, its start the store's clock.
  auto expires = op.now_ms + op.lease_ttl_ms;
  auto& insert = db.cached(
    "INSERT INTO runs (tenant_id, queue, config_tenant_id, config_version, config_checksum, "
    "status, input, idempotency_key, next_seq, wake_at_ms, lease_owner, lease_expires_at_ms, "
    "lease_epoch, created_at_ms, updated_at_ms, started_at_ms, node_path, lease_incarnation) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, nullif(?8, ''), ?15, ?9, nullif(?10, ''), ?11, ?12, "
    "?13, ?13, ?14, ?16, ?17) RETURNING run_id");
  insert.bind_all(r.tenant.value, r.queue.value, r.config_tenant.value, r.version.value, r.checksum,
                  claimed ? run_status::running : run_status::pending, r.input, r.idempotency_key,
                  claimed ? expires : op.now_ms, claimed ? op.owner.value : std::string{},
                  claimed ? expires : int64_t{0}, int64_t{claimed ? 1 : 0}, op.now_ms);
  if (claimed) {
    insert.bind(14, op.now_ms);
  } else {
    insert.bind_null(14);
  }
  insert.bind(15, first_next_seq);
  insert.bind(16, first_events.empty() ? std::string{} : first_events.back().node_path);
  insert.bind(17, claimed ? op.incarnation : int64_t{0});
  auto row = insert.step();
  if (!row) {
    insert.reset();
    return row.error();
  }
  auto id = insert.column_int64(0);
  insert.reset();
  history_record started{1, "run_started", "", 0, r.input, op.now_ms};
  if (auto err = insert_event(db, id, r.tenant.value, started, op.now_ms)) {
    return err;
  }
  // The first attempt is reserved before its event is written: without
  // quota the run is created paused on quota at that step instead.
  for (const auto& s : first_steps) {
    auto want = reservation_of(op.quota, r.tenant, id, s, op.now_ms);
    auto got = reserve(db, want, op.owner.value, 1);
    if (!got) {
      return got.error();
    }
    if (!got->granted) {
      auto& pause =
        db.cached("UPDATE runs SET status = 'WAITING', wait_reason = 'quota', node_path = ?2, "
                  "next_seq = 2, wake_at_ms = ?3, lease_owner = NULL, lease_expires_at_ms = 0, "
                  "lease_incarnation = 0 WHERE run_id = ?1");
      pause.bind_all(id, s.step_path, never_ms);
      if (auto err = pause.run()) {
        return err;
      }
      if (auto err =
            open_wait_row(db, id, r.tenant.value, "quota", s.step_path, "", never_ms, op.now_ms)) {
        return err;
      }
      auto stored = run_by_id(db, id);
      if (!stored) {
        return stored.error();
      }
      return run_created{std::move(*stored), true, {}, {}, 0};
    }
  }
  int64_t seq = 2;
  for (const auto& e : first_events) {
    if (e.seq != seq++) {
      return make_error(errc::invalid_argument, "first events of a new run must be numbered "
                                                "from 2 without gaps");
    }
    if (auto err = insert_event(db, id, r.tenant.value, e, op.now_ms)) {
      return err;
    }
  }
  auto stored = run_by_id(db, id);
  if (!stored) {
    return stored.error();
  }
  return run_created{std::move(*stored),
                     true,
                     {},
                     {},
                     at_limit && !op.owner.value.empty() ? limits->deadline_ms : 0};
}

namespace {

/// Claim classes in claim order (docs/run-model.md): a RUNNING run without
/// a live lease was taken over from a dead owner or handed back; a due
/// WAITING run was woken or resumed; a PENDING run is new.
constexpr const char* claim_classes[] = {"RUNNING", "WAITING", "PENDING"};

/// Where the claiming node stands among the live serving nodes.
struct node_rank {
  /// Live serving nodes (at least 1).
  int64_t live = 1;
  /// The claimer's position among them by id; -1 if it is not registered
  /// (then it takes no share limit).
  int64_t index = -1;
  /// Per live node: it claimed within the spread grace (it is polling and
  /// has room), so it takes its own share.
  std::vector<bool> active;
};

/// Records this claim on the claimer's registration, then ranks it.
caf::expected<node_rank> rank_of(sqlite::connection& db, const claim_runs& op) {
  auto& mark = db.cached("UPDATE nodes SET claimed_at_ms = ?3 WHERE node_id = ?1 AND "
                         "incarnation = ?2");
  mark.bind_all(op.owner.value, op.incarnation, op.now_ms);
  if (auto err = mark.run()) {
    return err;
  }
  auto& st = db.cached("SELECT node_id, incarnation, claimed_at_ms FROM nodes WHERE "
                       "incarnation > 0 AND stopped_at_ms IS NULL AND heartbeat_at_ms + ttl_ms "
                       "> ?1 ORDER BY node_id");
  st.bind_all(op.now_ms);
  node_rank out;
  out.live = 0;
  for (;;) {
    auto row = st.step();
    if (!row) {
      st.reset();
      return row.error();
    }
    if (!*row) {
      break;
    }
    if (st.column_text(0) == op.owner.value && st.column_int64(1) == op.incarnation) {
      out.index = out.live;
    }
    out.active.push_back(st.column_int64(2) >= op.now_ms - op.spread_grace_ms);
    ++out.live;
  }
  st.reset();
  out.live = std::max<int64_t>(1, out.live);
  return out;
}

/// Marks (node, incarnation) stopped; 1 if it was live.
caf::expected<int64_t> mark_stopped(sqlite::connection& db, const node_id& node,
                                    int64_t incarnation, int64_t now_ms) {
  auto& stop = db.cached("UPDATE nodes SET stopped_at_ms = ?3 WHERE node_id = ?1 AND "
                         "incarnation = ?2 AND stopped_at_ms IS NULL");
  stop.bind_all(node.value, incarnation, now_ms);
  if (auto err = stop.run()) {
    return err;
  }
  return db.changes();
}

/// One tenant's turn in a claim.
struct claim_slot {
  std::string tenant;
  std::string config_text;
  bool resolved = false;
  int64_t weight = 1;
  /// Permits this claim may still take for the tenant; -1 = unlimited.
  int64_t budget = -1;
  /// Of those, within this node's share; -1 = no share limit.
  int64_t share = -1;
  /// Per class: no due run left.
  bool drained[std::size(claim_classes)] = {};
};

/// Resolves a slot's weight and budget: the tenant's limit less its live
/// runs (every process); and this node's share of the limit less what this
/// node holds of it. Shares: limit / live nodes each, and the remainder to
/// nodes chosen by rotation (by tenant and by second), so over time every
/// node gets its part even when the limit is below the node count. Beyond
/// its share a node takes runs only while no other node with a share is
/// claiming (idle or full), so no permit stays unused.
caf::error resolve_slot(sqlite::connection& db, const claim_runs& op, const node_rank& rank,
                        claim_slot& slot) {
  slot.resolved = true;
  auto limits = limits_of_text(slot.tenant, slot.config_text, op.default_limit);
  if (!limits) {
    return limits.error();
  }
  slot.weight = limits->weight;
  if (limits->max_running <= 0) {
    return {};
  }
  auto live = live_running(db, slot.tenant, op.now_ms);
  if (!live) {
    return live.error();
  }
  slot.budget = std::max<int64_t>(0, limits->max_running - *live);
  if (rank.live > 1 && rank.index >= 0 && slot.budget > 0) {
    auto limit = limits->max_running;
    auto turn =
      static_cast<int64_t>(std::hash<std::string>{}(slot.tenant) % 1'000'003) + op.now_ms / 1000;
    auto share_of = [&](int64_t index) {
      return limit / rank.live + ((index + turn) % rank.live < limit % rank.live ? 1 : 0);
    };
    auto others_claiming = false;
    for (int64_t i = 0; i < static_cast<int64_t>(rank.active.size()); ++i) {
      others_claiming = others_claiming || (i != rank.index && rank.active[i] && share_of(i) > 0);
    }
    if (!others_claiming) {
      return {};
    }
    auto share = share_of(rank.index);
    auto& mine = db.cached("SELECT count(*) FROM runs WHERE tenant_id = ?1 AND status = "
                           "'RUNNING' AND lease_expires_at_ms > ?2 AND lease_owner = ?3 AND "
                           "lease_incarnation = ?4");
    mine.bind_all(slot.tenant, op.now_ms, op.owner.value, op.incarnation);
    auto held = first_int(mine);
    if (!held) {
      return held.error();
    }
    slot.share = std::max<int64_t>(0, share - *held);
  }
  return {};
}

} // namespace

caf::expected<runs_claimed> apply(sqlite::connection& db, const claim_runs& op) {
  runs_claimed out;
  if (op.max_runs <= 0) {
    return out;
  }
  // The tenants in round-robin order, starting after the cursor.
  std::vector<claim_slot> slots;
  {
    auto& st = db.cached("SELECT tenant_id, config_json FROM tenants ORDER BY tenant_id");
    auto rows = all_rows<claim_slot>(st, [](const sqlite::statement& row) {
      claim_slot slot;
      slot.tenant = row.column_text(0);
      slot.config_text = row.column_text(1);
      return slot;
    });
    if (!rows) {
      return rows.error();
    }
    slots = std::move(*rows);
  }
  if (!op.tenants.empty()) {
    std::erase_if(slots, [&](const claim_slot& slot) {
      return std::none_of(op.tenants.begin(), op.tenants.end(),
                          [&](const tenant_id& t) { return t.value == slot.tenant; });
    });
  }
  auto first = std::upper_bound(
    slots.begin(), slots.end(), op.after_tenant.value,
    [](const std::string& after, const claim_slot& slot) { return after < slot.tenant; });
  std::rotate(slots.begin(), first, slots.end());
  auto rank = rank_of(db, op);
  if (!rank) {
    return rank.error();
  }
  auto expires = op.now_ms + op.lease_ttl_ms;
  auto full = [&] { return static_cast<int32_t>(out.runs.size()) >= op.max_runs; };
  for (size_t cls = 0; cls < std::size(claim_classes) && !full(); ++cls) {
    // Rounds over the tenants; each takes up to its weight per round.
    for (bool progress = true; progress && !full();) {
      progress = false;
      for (auto& slot : slots) {
        if (full()) {
          break;
        }
        if (!slot.resolved) {
          if (auto err = resolve_slot(db, op, *rank, slot)) {
            return err;
          }
        }
        if (slot.budget == 0 || slot.drained[cls]) {
          continue;
        }
        auto want = std::min<int64_t>(slot.weight, op.max_runs - out.runs.size());
        if (slot.budget > 0) {
          want = std::min(want, slot.budget);
        }
        // Due runs of the class, oldest wake first (index runs_tenant_due).
        // A RUNNING run's wake time is its lease expiry.
        if (slot.share >= 0) {
          want = std::min(want, slot.share);
          if (want == 0) {
            continue; // the other nodes' share
          }
        }
        auto& due = db.cached("SELECT run_id FROM runs WHERE tenant_id = ?1 AND status = ?2 "
                              "AND wake_at_ms <= ?3 AND lease_expires_at_ms <= ?3 "
                              "ORDER BY wake_at_ms, run_id LIMIT ?4");
        due.bind_all(slot.tenant, claim_classes[cls], op.now_ms, want);
        auto ids =
          all_rows<int64_t>(due, [](const sqlite::statement& row) { return row.column_int64(0); });
        if (!ids) {
          return ids.error();
        }
        if (static_cast<int64_t>(ids->size()) < want) {
          slot.drained[cls] = true;
        }
        for (auto id : *ids) {
          auto& claim = db.cached(
            "UPDATE runs SET status = 'RUNNING', wait_reason = NULL, lease_owner = ?2, "
            "lease_incarnation = ?5, lease_expires_at_ms = ?4, wake_at_ms = ?4, "
            "lease_epoch = lease_epoch + 1, updated_at_ms = ?3, "
            "started_at_ms = coalesce(started_at_ms, ?3) WHERE run_id = ?1 AND status IN "
            "('PENDING', 'RUNNING', 'WAITING') AND wake_at_ms <= ?3 AND lease_expires_at_ms <= ?3 "
            "RETURNING " FLOWGATE_RUN_COLUMNS);
          claim.bind_all(id, op.owner.value, op.now_ms, expires, op.incarnation);
          auto claimed = all_rows<run_record>(claim, read_run);
          if (!claimed) {
            return claimed.error();
          }
          if (claimed->empty()) {
            continue;
          }
          out.runs.push_back(std::move(claimed->front()));
          out.last_tenant = tenant_id{slot.tenant};
          progress = true;
          if (slot.budget > 0) {
            slot.budget -= 1;
          }
          if (slot.share > 0) {
            slot.share -= 1;
          }
        }
      }
    }
  }
  return out;
}

caf::expected<std::vector<run_id>> apply(sqlite::connection& db, const renew_leases& op) {
  // The heartbeat first: a process whose registration was taken over (or
  // stopped) renews nothing.
  if (op.incarnation > 0) {
    auto& beat = db.cached("UPDATE nodes SET heartbeat_at_ms = ?3 WHERE node_id = ?1 AND "
                           "incarnation = ?2 AND stopped_at_ms IS NULL");
    beat.bind_all(op.owner.value, op.incarnation, op.now_ms);
    if (auto err = beat.run()) {
      return err;
    }
    if (db.changes() != 1) {
      return make_error(errc::lease_lost, "node '" + op.owner.value + "' incarnation " +
                                            std::to_string(op.incarnation) +
                                            " is no longer registered (stopped, or its id was "
                                            "taken by a newer process): it holds no leases");
    }
  }
  std::vector<run_id> renewed;
  auto expires = op.now_ms + op.lease_ttl_ms;
  for (const auto& l : op.leases) {
    auto& st = db.cached("UPDATE runs SET lease_expires_at_ms = ?4, wake_at_ms = ?4 "
                         "WHERE run_id = ?1 AND lease_owner = ?2 AND lease_epoch = ?3 "
                         "AND lease_incarnation = ?6 AND status = 'RUNNING' "
                         "AND lease_expires_at_ms > ?5");
    st.bind_all(l.run.value, op.owner.value, l.epoch, expires, op.now_ms, op.incarnation);
    if (auto err = st.run()) {
      return err;
    }
    if (db.changes() == 1) {
      renewed.push_back(l.run);
    }
  }
  return renewed;
}

caf::expected<int64_t> apply(sqlite::connection& db, const release_leases& op) {
  if (op.leases.empty()) {
    auto& all = db.cached("UPDATE runs SET lease_owner = NULL, lease_expires_at_ms = 0, "
                          "lease_incarnation = 0, wake_at_ms = ?3, updated_at_ms = ?3 "
                          "WHERE lease_owner = ?1 AND lease_incarnation = ?2 "
                          "AND status = 'RUNNING'");
    all.bind_all(op.owner.value, op.incarnation, op.now_ms);
    if (auto err = all.run()) {
      return err;
    }
    auto released = db.changes();
    if (auto stopped = mark_stopped(db, op.owner, op.incarnation, op.now_ms); !stopped) {
      return stopped.error();
    }
    return released;
  }
  int64_t released = 0;
  for (const auto& l : op.leases) {
    auto& one = db.cached("UPDATE runs SET lease_owner = NULL, lease_expires_at_ms = 0, "
                          "lease_incarnation = 0, wake_at_ms = ?4, updated_at_ms = ?4 "
                          "WHERE run_id = ?1 AND lease_owner = ?2 AND lease_epoch = ?3 "
                          "AND lease_incarnation = ?5 AND status = 'RUNNING'");
    one.bind_all(l.run.value, op.owner.value, l.epoch, op.now_ms, op.incarnation);
    if (auto err = one.run()) {
      return err;
    }
    released += db.changes();
  }
  return released;
}

caf::expected<int64_t> apply(sqlite::connection& db, const stop_node& op) {
  return mark_stopped(db, op.node, op.incarnation, op.now_ms);
}

caf::expected<int64_t> apply(sqlite::connection& db, const register_node& op) {
  auto& current = db.cached("SELECT incarnation, pid, host, heartbeat_at_ms, ttl_ms, "
                            "stopped_at_ms IS NULL FROM nodes WHERE node_id = ?1");
  current.bind_all(op.node.value);
  auto row = current.step();
  if (!row) {
    current.reset();
    return row.error();
  }
  int64_t incarnation = 0;
  if (*row) {
    incarnation = current.column_int64(0);
    auto pid = current.column_int64(1);
    auto host = current.column_text(2);
    auto heartbeat = current.column_int64(3);
    auto ttl = current.column_int64(4);
    bool running = current.column_int64(5) != 0;
    current.reset();
    bool gone = op.replaces_pid != 0 && pid == op.replaces_pid && host == op.host;
    if (running && incarnation > 0 && heartbeat + ttl > op.now_ms && !gone) {
      return make_error(errc::node_id_in_use,
                        "node id '" + op.node.value + "' is in use by a live process (pid " +
                          std::to_string(pid) + (host.empty() ? "" : " on " + host) +
                          ", incarnation " + std::to_string(incarnation) + ", heartbeat " +
                          std::to_string(op.now_ms - heartbeat) +
                          " ms ago); stop it or give this node another --node-id");
    }
  } else {
    current.reset();
  }
  auto& put = db.cached(
    "INSERT INTO nodes (node_id, address, pid, started_at_ms, heartbeat_at_ms, stopped_at_ms, "
    "incarnation, host, ttl_ms) VALUES (?1, ?2, ?3, ?4, ?4, NULL, ?5, ?6, ?7) "
    "ON CONFLICT (node_id) DO UPDATE SET address = excluded.address, pid = excluded.pid, "
    "started_at_ms = excluded.started_at_ms, heartbeat_at_ms = excluded.heartbeat_at_ms, "
    "stopped_at_ms = NULL, incarnation = excluded.incarnation, host = excluded.host, "
    "ttl_ms = excluded.ttl_ms");
  put.bind_all(op.node.value, op.address, op.pid, op.now_ms, incarnation + 1, op.host, op.ttl_ms);
  if (auto err = put.run()) {
    return err;
  }
  return incarnation + 1;
}

/// A run just paused on quota with a pending inbox: a cancellation in it
/// applies now (the run holds no lease any more); signals wait.
caf::expected<history_appended> cancel_paused(sqlite::connection& db, const append_history& op,
                                              history_appended out) {
  auto& pending = db.cached("SELECT payload FROM run_signals WHERE run_id = ?1 AND "
                            "consumed_seq IS NULL AND kind = 'cancel' ORDER BY signal_id LIMIT 1");
  pending.bind_all(op.run.value);
  auto row = pending.step();
  auto reason = row && *row ? pending.column_text(0) : std::string{};
  pending.reset();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return out;
  }
  auto canceled = apply(db, cancel_run{op.tenant, op.run, reason, op.now_ms});
  if (!canceled) {
    return canceled.error();
  }
  out.next_seq = canceled->run.next_seq;
  return out;
}

caf::expected<history_appended> apply(sqlite::connection& db, const append_history& op) {
  // Reservations first, in order: the first attempt refused cuts the append
  // before the event that scheduled it and pauses the run on quota. (An
  // error further down rolls the reservations back with the savepoint.)
  const std::vector<history_record>* append_events = &op.events;
  const std::vector<step_change>* append_steps = &op.steps;
  const run_change* change = &op.change;
  std::vector<history_record> cut_events;
  std::vector<step_change> cut_steps;
  run_change pause;
  history_appended out;
  for (size_t i = 0; i < op.steps.size(); ++i) {
    const auto& s = op.steps[i];
    if (s.status != "started") {
      continue;
    }
    auto want = reservation_of(op.quota, op.tenant, op.run.value, s, op.now_ms);
    auto got = reserve(db, want, op.owner.value, op.epoch);
    if (!got) {
      return got.error();
    }
    if (got->duplicate) {
      return make_error(errc::store_failure, "run " + std::to_string(op.run.value) + ": step '" +
                                               s.step_path + "' attempt " +
                                               std::to_string(s.attempt) + " cannot start twice");
    }
    if (got->granted) {
      continue;
    }
    // The planner named the event that schedules the attempt: the append
    // is cut just before it (no engine knowledge here).
    if (s.scheduled_by < 0 || s.scheduled_by >= static_cast<int32_t>(op.events.size())) {
      return make_error(errc::invalid_argument,
                        "run " + std::to_string(op.run.value) + ": step '" + s.step_path +
                          "' attempt " + std::to_string(s.attempt) +
                          " names no event of the append that schedules it");
    }
    cut_events.assign(op.events.begin(), op.events.begin() + s.scheduled_by);
    cut_steps.assign(op.steps.begin(), op.steps.begin() + static_cast<std::ptrdiff_t>(i));
    pause.status = run_status::waiting;
    pause.wait_reason = "quota";
    pause.node_path = s.step_path;
    pause.wake_at_ms = never_ms;
    pause.release_lease = true;
    pause.open_wait = "quota";
    append_events = &cut_events;
    append_steps = &cut_steps;
    change = &pause;
    out.quota_paused = true;
    out.exhausted = exhausted_of(want, *got);
    break;
  }
  const auto& c = *change;
  bool terminal = run_status::is_terminal(c.status);
  bool leaving = terminal || c.release_lease;
  auto events = static_cast<int64_t>(append_events->size());
  // The fence and the run update in one statement: it only matches while
  // `owner` holds the lease at `epoch` and the history is where it expects.
  auto& update =
    db.cached("UPDATE runs SET next_seq = ?5 + ?6, updated_at_ms = ?7, node_path = ?8, "
              "status = coalesce(nullif(?9, ''), status), "
              "wait_reason = CASE WHEN ?9 = '' THEN wait_reason ELSE nullif(?10, '') END, "
              "output = coalesce(nullif(?11, ''), output), "
              "error_type = coalesce(nullif(?12, ''), error_type), "
              "error_message = coalesce(nullif(?13, ''), error_message), "
              "wake_at_ms = CASE WHEN ?14 THEN ?15 ELSE wake_at_ms END, "
              "lease_owner = CASE WHEN ?14 THEN NULL ELSE lease_owner END, "
              "lease_expires_at_ms = CASE WHEN ?14 THEN 0 ELSE lease_expires_at_ms END, "
              "lease_incarnation = CASE WHEN ?14 THEN 0 ELSE lease_incarnation END, "
              "finished_at_ms = CASE WHEN ?16 THEN ?7 ELSE finished_at_ms END "
              "WHERE run_id = ?1 AND lease_owner = ?2 AND lease_epoch = ?3 AND status = ?4 "
              "AND next_seq = ?5 AND lease_incarnation = ?17 RETURNING tenant_id, inbox_pending");
  update.bind_all(op.run.value, op.owner.value, op.epoch, run_status::running, op.expected_seq,
                  events, op.now_ms, c.node_path, c.status, c.wait_reason, c.output, c.error_type,
                  c.error_message, int64_t{leaving}, terminal ? int64_t{0} : c.wake_at_ms,
                  int64_t{terminal}, op.incarnation);
  auto row = update.step();
  if (!row) {
    update.reset();
    return row.error();
  }
  if (!*row) {
    update.reset();
    return refused_append(db, op);
  }
  auto tenant = update.column_text(0);
  bool inbox_pending = update.column_int64(1) != 0;
  update.reset();
  auto next_seq = op.expected_seq;
  for (const auto& e : *append_events) {
    if (e.seq != next_seq) {
      return make_error(errc::store_failure, "run " + std::to_string(op.run.value) + ": event " +
                                               e.type + " has sequence " + std::to_string(e.seq) +
                                               ", expected " + std::to_string(next_seq));
    }
    if (auto err = insert_event(db, op.run.value, tenant, e, op.now_ms)) {
      return err;
    }
    ++next_seq;
  }
  for (const auto& s : *append_steps) {
    if (s.status == "started") {
      continue; // its ledger row was written with its reservation
    }
    auto& finish = db.cached(
      "UPDATE run_steps SET status = ?4, finished_at_ms = ?5, error_type = nullif(?6, ''), "
      "error_message = nullif(?7, '') WHERE run_id = ?1 AND step_path = ?2 AND attempt = ?3 "
      "AND status = 'started'");
    finish.bind_all(op.run.value, s.step_path, s.attempt, s.status, op.now_ms, s.error_type,
                    s.error_message);
    if (auto err = finish.run()) {
      return err;
    }
    if (db.changes() != 1) {
      return make_error(errc::store_failure, "run " + std::to_string(op.run.value) + ": step '" +
                                               s.step_path + "' attempt " +
                                               std::to_string(s.attempt) +
                                               " is not started, cannot be " + s.status);
    }
  }
  if (op.resolve_waits || terminal) {
    if (auto err =
          resolve_waits(db, op.run.value, terminal ? "finished" : "continued", op.now_ms)) {
      return err;
    }
  }
  if (!c.open_wait.empty()) {
    if (auto err = open_wait_row(db, op.run.value, tenant, c.open_wait, c.node_path, c.wait_event,
                                 c.wake_at_ms, op.now_ms)) {
      return err;
    }
  }
  if (c.status == run_status::canceled) {
    if (auto err = cancel_started_steps(db, op.run.value, op.now_ms)) {
      return err;
    }
  }
  out.next_seq = next_seq;
  if (inbox_pending && out.quota_paused) {
    // Without quota the run cannot take its inbox: signals stay there until
    // it resumes, a cancellation applies at once (no live lease now).
    return cancel_paused(db, op, std::move(out));
  }
  if (inbox_pending && !terminal && c.wait_reason != "nondeterminism") {
    if (leaving) {
      // A signal or cancel arrived while the run was held: due again now.
      // Not a run held for an operator: it would be claimed and held again
      // in a loop (a cancel then applies at once, without a live lease).
      auto& wake = db.cached("UPDATE runs SET wake_at_ms = min(wake_at_ms, ?2) "
                             "WHERE run_id = ?1");
      wake.bind_all(op.run.value, op.now_ms);
      if (auto err = wake.run()) {
        return err;
      }
    } else {
      auto inbox = take_inbox(db, op.run.value, tenant, next_seq, op.now_ms);
      if (!inbox) {
        return inbox.error();
      }
      out.next_seq += static_cast<int64_t>(inbox->size());
      out.inbox = std::move(*inbox);
      auto& moved = db.cached("UPDATE runs SET next_seq = ?2, inbox_pending = 0 "
                              "WHERE run_id = ?1");
      moved.bind_all(op.run.value, out.next_seq);
      if (auto err = moved.run()) {
        return err;
      }
    }
  }
  return out;
}

caf::expected<signal_accepted> apply(sqlite::connection& db, const signal_run& op) {
  auto run = tenant_run(db, op.tenant, op.run);
  if (!run) {
    return run.error();
  }
  if (auto err = check_unfinished(*run, "signals")) {
    return err;
  }
  auto& insert = db.cached("INSERT INTO run_signals (run_id, tenant_id, kind, event_name, "
                           "payload, created_at_ms) VALUES (?1, ?2, 'signal', ?3, ?4, ?5) "
                           "RETURNING signal_id");
  insert.bind_all(op.run.value, run->tenant.value, op.event, op.payload, op.now_ms);
  auto row = insert.step();
  if (!row) {
    insert.reset();
    return row.error();
  }
  auto id = insert.column_int64(0);
  insert.reset();
  // A run waiting for an event is due at once; any other run reads its
  // inbox at its next append.
  auto& mark = db.cached("UPDATE runs SET inbox_pending = 1, wake_at_ms = CASE WHEN ?3 "
                         "THEN min(wake_at_ms, ?2) ELSE wake_at_ms END WHERE run_id = ?1");
  mark.bind_all(op.run.value, op.now_ms,
                int64_t{run->status == run_status::waiting && run->wait_reason == "event"});
  if (auto err = mark.run()) {
    return err;
  }
  return signal_accepted{op.run, id, run->status};
}

caf::expected<cancel_outcome> apply(sqlite::connection& db, const cancel_run& op) {
  auto run = tenant_run(db, op.tenant, op.run);
  if (!run) {
    return run.error();
  }
  if (auto err = check_unfinished(*run, "cancellations")) {
    return err;
  }
  if (run->lease_expires_at_ms > op.now_ms) {
    // A live lease holder drives the run: it takes the cancellation from the
    // inbox at its next step boundary.
    auto& insert = db.cached("INSERT INTO run_signals (run_id, tenant_id, kind, payload, "
                             "created_at_ms) VALUES (?1, ?2, 'cancel', ?3, ?4)");
    insert.bind_all(op.run.value, run->tenant.value, op.reason, op.now_ms);
    if (auto err = insert.run()) {
      return err;
    }
    auto& mark = db.cached("UPDATE runs SET inbox_pending = 1 WHERE run_id = ?1");
    mark.bind_all(op.run.value);
    if (auto err = mark.run()) {
      return err;
    }
    return cancel_outcome{std::move(*run), false};
  }
  history_record e{
    run->next_seq, "run_canceled", "", 0, json::serialize(json::object{{"reason", op.reason}}),
    op.now_ms};
  if (auto err = insert_event(db, op.run.value, run->tenant.value, e, op.now_ms)) {
    return err;
  }
  auto& update = db.cached(
    "UPDATE runs SET status = 'CANCELED', next_seq = next_seq + 1, wait_reason = NULL, "
    "error_type = 'canceled', error_message = ?2, lease_owner = NULL, lease_expires_at_ms = 0, "
    "lease_incarnation = 0, "
    "inbox_pending = 0, "
    "wake_at_ms = 0, updated_at_ms = ?3, finished_at_ms = ?3 WHERE run_id = ?1");
  update.bind_all(op.run.value, op.reason, op.now_ms);
  if (auto err = update.run()) {
    return err;
  }
  if (auto err = cancel_started_steps(db, op.run.value, op.now_ms)) {
    return err;
  }
  if (auto err = resolve_waits(db, op.run.value, "canceled", op.now_ms)) {
    return err;
  }
  auto& consume = db.cached("UPDATE run_signals SET consumed_seq = 0 WHERE run_id = ?1 AND "
                            "consumed_seq IS NULL");
  consume.bind_all(op.run.value);
  if (auto err = consume.run()) {
    return err;
  }
  auto stored = run_by_id(db, op.run.value);
  if (!stored) {
    return stored.error();
  }
  return cancel_outcome{std::move(*stored), true};
}

caf::expected<subscription_record> apply(sqlite::connection& db, const store_subscription& op) {
  const auto& x = op.subscription;
  auto limits = limits_of(db, x.tenant.value, 0); // also checks that the tenant exists
  if (!limits) {
    return limits.error();
  }
  auto& st = db.cached(
    "INSERT INTO subscriptions (tenant_id, subscription_id, status, current_period_start_ms, "
    "current_period_end_ms, price_metadata, product_metadata, updated_at_ms) VALUES (?1, ?2, ?3, "
    "nullif(?4, 0), nullif(?5, 0), ?6, ?7, ?8) ON CONFLICT (tenant_id, subscription_id) DO "
    "UPDATE SET status = excluded.status, current_period_start_ms = "
    "excluded.current_period_start_ms, current_period_end_ms = excluded.current_period_end_ms, "
    "price_metadata = excluded.price_metadata, product_metadata = excluded.product_metadata, "
    "updated_at_ms = excluded.updated_at_ms");
  st.bind_all(x.tenant.value, x.id, x.status, x.period_start_ms, x.period_end_ms, x.price_metadata,
              x.product_metadata, op.now_ms);
  if (auto err = st.run()) {
    return err;
  }
  auto out = x;
  out.updated_at_ms = op.now_ms;
  return out;
}

// -- quota -------------------------------------------------------------------------

caf::expected<std::vector<step_reservation>> apply(sqlite::connection& db,
                                                   const reserve_steps& op) {
  std::vector<step_reservation> out;
  out.reserve(op.steps.size());
  for (auto r : op.steps) {
    if (r.now_ms == 0) {
      r.now_ms = op.now_ms;
    }
    auto got = reserve(db, r, std::string{}, 0);
    if (!got) {
      return got.error();
    }
    out.push_back(*got);
  }
  return out;
}

namespace {

/// Marks the run's open quota wait `resuming` (exactly once) and makes the
/// run due. The wait stays open, and counts against the quota left, until
/// the run's next append (which reserves the step) resolves it. Returns
/// false if another resume got there first.
caf::expected<bool> resume_paused(sqlite::connection& db, int64_t run, int64_t now_ms) {
  auto& wait = db.cached("UPDATE run_waits SET resolution = 'resuming' WHERE run_id = ?1 "
                         "AND kind = 'quota' AND resolved_at_ms IS NULL AND resolution IS NULL");
  wait.bind_all(run);
  if (auto err = wait.run()) {
    return err;
  }
  if (db.changes() == 0) {
    return false;
  }
  auto& due = db.cached("UPDATE runs SET wait_reason = 'resumed', wake_at_ms = ?2, "
                        "updated_at_ms = ?2 WHERE run_id = ?1 AND status = 'WAITING' "
                        "AND wait_reason = 'quota'");
  due.bind_all(run, now_ms);
  if (auto err = due.run()) {
    return err;
  }
  return db.changes() == 1;
}

} // namespace

caf::expected<int64_t> apply(sqlite::connection& db, const resume_quota_waits& op) {
  const auto& t = op.terms;
  if (t.period_end_ms <= t.period_start_ms) {
    return make_error(errc::invalid_argument, "resuming quota waits of tenant '" + t.tenant.value +
                                                "' needs a usage period");
  }
  int64_t room = op.max_runs;
  if (t.limit >= 0) {
    auto used = counter_of(db, t.tenant.value, t.period_start_ms, t.period_end_ms);
    if (!used) {
      return used.error();
    }
    // Runs resumed earlier that have not reserved their step yet count too.
    auto& resumed = db.cached("SELECT count(*) FROM run_waits WHERE kind = 'quota' "
                              "AND tenant_id = ?1 AND resolved_at_ms IS NULL "
                              "AND resolution = 'resuming'");
    resumed.bind_all(t.tenant.value);
    auto pending = first_int(resumed);
    if (!pending) {
      return pending.error();
    }
    room = std::min(room, t.limit - used->used - *pending);
  }
  if (room <= 0) {
    return int64_t{0};
  }
  auto& waits = db.cached("SELECT run_id FROM run_waits WHERE kind = 'quota' AND tenant_id = ?1 "
                          "AND resolved_at_ms IS NULL AND resolution IS NULL "
                          "ORDER BY wait_id LIMIT ?2");
  waits.bind_all(t.tenant.value, room);
  auto runs =
    all_rows<int64_t>(waits, [](const sqlite::statement& st) { return st.column_int64(0); });
  if (!runs) {
    return runs.error();
  }
  int64_t resumed = 0;
  for (auto run : *runs) {
    auto ok = resume_paused(db, run, op.now_ms);
    if (!ok) {
      return ok.error();
    }
    resumed += *ok ? 1 : 0;
  }
  return resumed;
}

caf::expected<resume_outcome> apply(sqlite::connection& db, const resume_run& op) {
  const auto& t = op.terms;
  auto run = tenant_run(db, t.tenant, op.run);
  if (!run) {
    return run.error();
  }
  if (run->status != run_status::waiting || run->wait_reason != "quota") {
    auto state = run->status + (run->wait_reason.empty() ? "" : " (" + run->wait_reason + ")");
    return make_error(errc::invalid_argument, "run " + std::to_string(op.run.value) + " is " +
                                                state + ", not waiting on quota");
  }
  resume_outcome out;
  if (t.limit >= 0) {
    auto used = counter_of(db, t.tenant.value, t.period_start_ms, t.period_end_ms);
    if (!used) {
      return used.error();
    }
    if (used->used >= t.limit) {
      out.exhausted = quota_exhausted{
        t.tenant, op.run, run->node_path, used->used, t.limit, t.period_start_ms, t.period_end_ms};
      return out;
    }
  }
  auto ok = resume_paused(db, op.run.value, op.now_ms);
  if (!ok) {
    return ok.error();
  }
  out.resumed = *ok;
  return out;
}

// -- reads -----------------------------------------------------------------------

caf::expected<run_record> apply(sqlite::connection& db, const find_run& q) {
  return tenant_run(db, q.tenant, q.run);
}

caf::expected<std::vector<run_record>> apply(sqlite::connection& db, const list_runs& q) {
  auto& st = db.cached("SELECT " FLOWGATE_RUN_COLUMNS " FROM runs WHERE run_id > ?1 "
                       "AND (?2 = '' OR tenant_id = ?2) AND (?3 = '' OR status = ?3) "
                       "ORDER BY run_id LIMIT ?4");
  st.bind_all(q.after_run, q.tenant.value, q.status, q.limit);
  return all_rows<run_record>(st, read_run);
}

caf::expected<std::vector<tenant_stats>> apply(sqlite::connection& db, const read_tenant_stats& q) {
  auto& st = db.cached(
    "SELECT t.tenant_id, "
    "(SELECT count(*) FROM runs r WHERE r.tenant_id = t.tenant_id AND r.status = 'RUNNING' "
    "AND r.lease_expires_at_ms > ?2), "
    "(SELECT count(*) FROM runs r WHERE r.tenant_id = t.tenant_id AND r.status = 'PENDING'), "
    "(SELECT count(*) FROM runs r WHERE r.tenant_id = t.tenant_id AND r.status = 'WAITING'), "
    "t.config_json, "
    "coalesce((SELECT rejected FROM tenant_rejections x WHERE x.tenant_id = t.tenant_id "
    "AND x.reason = 'tenant_at_limit'), 0), "
    "coalesce((SELECT rejected FROM tenant_rejections x WHERE x.tenant_id = t.tenant_id "
    "AND x.reason = 'soft_limit'), 0), "
    "coalesce((SELECT rejected FROM tenant_rejections x WHERE x.tenant_id = t.tenant_id "
    "AND x.reason = 'hard_limit'), 0) "
    "FROM tenants t WHERE ?1 = '' OR t.tenant_id = ?1 ORDER BY t.tenant_id");
  st.bind_all(q.tenant.value, q.now_ms);
  caf::error bad_config;
  auto rows = all_rows<tenant_stats>(st, [&q, &bad_config](const sqlite::statement& s) {
    tenant_stats x;
    x.tenant = tenant_id{s.column_text(0)};
    x.running = s.column_int64(1);
    x.queued = s.column_int64(2);
    x.waiting = s.column_int64(3);
    auto limits = limits_of_text(x.tenant.value, s.column_text(4), q.default_limit);
    if (limits) {
      x.limit = limits->max_running;
      x.admission = limits->reject ? "reject" : "queue";
      x.soft_limit = limits->soft;
      x.hard_limit = limits->hard;
    } else if (!bad_config) {
      bad_config = limits.error();
    }
    x.rejected_at_limit = s.column_int64(5);
    x.rejected_soft = s.column_int64(6);
    x.rejected_hard = s.column_int64(7);
    return x;
  });
  if (bad_config) {
    return bad_config;
  }
  if (rows && rows->empty() && !q.tenant.value.empty()) {
    return make_error(errc::unknown_tenant, "tenant '" + q.tenant.value + "' does not exist");
  }
  return rows;
}

caf::expected<std::vector<subscription_record>> apply(sqlite::connection& db,
                                                      const list_subscriptions& q) {
  auto& st = db.cached("SELECT subscription_id, status, coalesce(current_period_start_ms, 0), "
                       "coalesce(current_period_end_ms, 0), price_metadata, product_metadata, "
                       "updated_at_ms FROM subscriptions WHERE tenant_id = ?1 "
                       "ORDER BY subscription_id");
  st.bind_all(q.tenant.value);
  return all_rows<subscription_record>(st, [&q](const sqlite::statement& s) {
    return subscription_record{q.tenant,          s.column_text(0),  s.column_text(1),
                               s.column_int64(2), s.column_int64(3), s.column_text(4),
                               s.column_text(5),  s.column_int64(6)};
  });
}

caf::expected<int64_t> apply(sqlite::connection& db, const find_usage& q) {
  auto counter = counter_of(db, q.tenant.value, q.period_start_ms, q.period_end_ms);
  if (!counter) {
    return counter.error();
  }
  return counter->used;
}

caf::expected<std::vector<history_record>> apply(sqlite::connection& db, const load_history& q) {
  auto& st = db.cached("SELECT seq, event_type, node_path, attempt, payload, created_at_ms "
                       "FROM run_events WHERE run_id = ?1 AND seq > ?2 ORDER BY seq");
  st.bind_all(q.run.value, q.after_seq);
  return all_rows<history_record>(st, [](const sqlite::statement& s) {
    return history_record{s.column_int64(0), s.column_text(1),
                          s.column_text(2),  static_cast<int32_t>(s.column_int64(3)),
                          s.column_text(4),  s.column_int64(5)};
  });
}

#undef FLOWGATE_RUN_COLUMNS

caf::expected<std::vector<node_record>> apply(sqlite::connection& db, const list_nodes& q) {
  auto& st = db.cached(
    "SELECT n.node_id, n.incarnation, n.host, n.pid, n.address, n.ttl_ms, n.started_at_ms, "
    "n.heartbeat_at_ms, coalesce(n.stopped_at_ms, 0), "
    "(SELECT count(*) FROM runs r WHERE r.lease_owner = n.node_id AND r.lease_incarnation = "
    "n.incarnation AND r.status = 'RUNNING' AND r.lease_expires_at_ms > ?1) "
    "FROM nodes n ORDER BY n.node_id");
  st.bind_all(q.now_ms);
  return all_rows<node_record>(st, [&q](const sqlite::statement& row) {
    node_record x;
    x.node = node_id{row.column_text(0)};
    x.incarnation = row.column_int64(1);
    x.host = row.column_text(2);
    x.pid = row.column_int64(3);
    x.address = row.column_text(4);
    x.ttl_ms = row.column_int64(5);
    x.started_at_ms = row.column_int64(6);
    x.heartbeat_at_ms = row.column_int64(7);
    x.stopped_at_ms = row.column_int64(8);
    x.held_runs = row.column_int64(9);
    x.live = x.stopped_at_ms == 0 && x.heartbeat_at_ms + x.ttl_ms > q.now_ms;
    return x;
  });
}

caf::expected<std::vector<tenant_id>> apply(sqlite::connection& db, const list_quota_tenants& q) {
  auto& st = db.cached("SELECT DISTINCT tenant_id FROM run_waits WHERE kind = 'quota' "
                       "AND resolved_at_ms IS NULL ORDER BY tenant_id LIMIT ?1");
  st.bind_all(int64_t{q.limit});
  return all_rows<tenant_id>(
    st, [](const sqlite::statement& row) { return tenant_id{row.column_text(0)}; });
}

caf::expected<usage_reconciliation> apply(sqlite::connection& db, const reconcile_usage& q) {
  usage_reconciliation out{q.tenant, q.period_start_ms, q.period_end_ms, 0, 0, 0, false};
  if (q.period_end_ms == 0) {
    // The period that starts there (counter or ledger rows name it).
    auto& end = db.cached("SELECT max(period_end_ms) FROM usage_periods WHERE tenant_id = ?1 "
                          "AND period_start_ms = ?2");
    end.bind_all(q.tenant.value, q.period_start_ms);
    auto found = first_int(end);
    if (!found) {
      return found.error();
    }
    if (*found == 0) {
      return make_error(errc::not_found, "tenant '" + q.tenant.value +
                                           "' has no usage period starting at " +
                                           format_rfc3339(q.period_start_ms));
    }
    out.period_end_ms = *found;
  }
  auto counter = counter_of(db, q.tenant.value, out.period_start_ms, out.period_end_ms);
  if (!counter) {
    return counter.error();
  }
  out.counter = counter->used;
  out.counter_exists = counter->exists;
  // Through the tenant's runs: the ledger's key starts with run_id.
  auto& ledger = db.cached("SELECT count(*) FROM runs r JOIN run_steps s ON s.run_id = r.run_id "
                           "WHERE r.tenant_id = ?1 AND s.tenant_id = ?1 "
                           "AND s.period_start_ms = ?2 AND s.period_end_ms = ?3");
  ledger.bind_all(q.tenant.value, out.period_start_ms, out.period_end_ms);
  auto n = first_int(ledger);
  if (!n) {
    return n.error();
  }
  out.ledger = *n;
  out.drift = out.counter - out.ledger;
  return out;
}

} // namespace flowgate::sqlite_runs
