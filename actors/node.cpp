#include "actors/node.hpp"

#include "actors/activity.hpp"
#include "actors/activity_pool.hpp"
#include "actors/config_registry.hpp"
#include "actors/dispatcher.hpp"
#include "actors/log.hpp"
#include "actors/quota_accountant.hpp"
#include "actors/resume_scanner.hpp"
#include "actors/run_codec.hpp"
#include "actors/store_reader.hpp"
#include "actors/store_writer.hpp"
#include "actors/tenant_limiter.hpp"
#include "actors/wall_clock.hpp"
#include "config/json_text.hpp"
#include "config/pipeline.hpp"
#include "config/tenant_config.hpp"
#include "engine/engine.hpp"
#include "engine/planner.hpp"
#include "messages/errors.hpp"
#include "persistence/sqlite_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/timestamp.hpp>

#include <boost/json.hpp>

#include <cerrno>
#include <csignal>
#include <thread>
#include <unistd.h>

namespace flowgate {

namespace {

/// Sends one request from a scoped actor and waits for the typed answer.
template <class R, class Handle, class... Ts>
caf::expected<R> ask(caf::actor_system& sys, std::chrono::milliseconds timeout, const Handle& dest,
                     Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::expected<R> out{caf::error{}};
  self->request(dest, timeout, std::forward<Ts>(xs)...)
    .receive([&](R& x) { out = std::move(x); }, [&](caf::error& e) { out = std::move(e); });
  return out;
}

} // namespace

node::node(caf::actor_system& sys, node_settings settings)
    : sys_(sys), settings_(std::move(settings)) {}

std::string default_node_id() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof(host), "node");
  }
  return std::string{host} + "-" + std::to_string(getpid());
}

caf::expected<std::unique_ptr<node>> node::start(caf::actor_system& sys, node_settings settings,
                                                 node_options options) {
  if (settings.node_id.empty()) {
    settings.node_id = default_node_id();
  }
  std::unique_ptr<node> n{new node(sys, std::move(settings))};
  auto opts = store_options_from(n->settings_);
  auto writer = open_sqlite_writer(opts, wall_clock_ms(sys), &n->applied_migrations_);
  if (!writer) {
    return writer.error();
  }
  auto reader = open_sqlite_reader(opts);
  if (!reader) {
    return reader.error();
  }
  n->writer_ = spawn_store_writer(sys, std::shared_ptr<write_session>{std::move(*writer)},
                                  static_cast<size_t>(n->settings_.max_write_batch));
  n->reader_ = spawn_store_reader(sys, std::shared_ptr<read_session>{std::move(*reader)});
  config_registry_settings rs;
  rs.default_tenant_id = n->settings_.default_tenant_id;
  rs.default_config_version = n->settings_.default_config_version;
  rs.max_document_bytes = static_cast<size_t>(n->settings_.max_document_bytes);
  n->configs_ = spawn_config_registry(sys, n->writer_, n->reader_, rs);
  if (auto err = n->bootstrap_tenants()) {
    return err;
  }
  const auto& s = n->settings_;
  n->accountant_ =
    spawn_quota_accountant(sys, accountant_setup{n->writer_, n->reader_, s.quota_terms_ttl_ms});
  if (options.execute) {
    auto activities =
      options.activities ? options.activities : std::make_shared<const activity_registry>();
    n->pool_ = spawn_activity_pool(sys, std::move(activities), static_cast<int32_t>(s.workers),
                                   s.activity_timeout_ms);
    n->limiters_ = spawn_tenant_directory(sys);
    if (auto err = n->register_membership()) {
      return err;
    }
    dispatcher_setup ds;
    ds.settings = s;
    ds.incarnation = n->incarnation_;
    ds.on_fenced = std::move(options.on_fenced);
    ds.writer = n->writer_;
    ds.reader = n->reader_;
    ds.configs = n->configs_;
    ds.pool = n->pool_;
    ds.accountant = n->accountant_;
    ds.limiters = n->limiters_;
    n->dispatcher_ = spawn_dispatcher(sys, std::move(ds));
  }
  // A node that does not execute scans only when asked (`flowgate quota scan`).
  n->scanner_ =
    spawn_resume_scanner(sys, scanner_setup{n->writer_, n->reader_, n->accountant_, n->dispatcher_,
                                            options.execute ? s.quota_scan_interval_ms : 0,
                                            static_cast<int32_t>(s.quota_scan_batch)});
  return n;
}

node::~node() {
  if (incarnation_ > 0) {
    // Marks the registration stopped so the id can be reused at once; the
    // leases are left to expire (drain() hands them back first).
    (void)ask<int64_t>(sys_, std::chrono::milliseconds{2000}, writer_,
                       stop_node{node_id{settings_.node_id}, incarnation_, 0});
  }
  for (const auto& a :
       {caf::actor_cast<caf::actor>(scanner_), caf::actor_cast<caf::actor>(limiters_),
        caf::actor_cast<caf::actor>(accountant_), caf::actor_cast<caf::actor>(dispatcher_),
        caf::actor_cast<caf::actor>(pool_), caf::actor_cast<caf::actor>(configs_),
        caf::actor_cast<caf::actor>(reader_), caf::actor_cast<caf::actor>(writer_)}) {
    if (a) {
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    }
  }
}

caf::error node::bootstrap_tenants() {
  auto existing =
    ask<std::vector<tenant_record>>(sys_, request_timeout, reader_, flowgate::list_tenants{2});
  if (!existing) {
    return existing.error();
  }
  seed_tenants seed;
  seed.now_ms = wall_clock_ms(sys_);
  seed.tenants.push_back(
    tenant_record{tenant_id{settings_.default_tenant_id}, "default", "solo", "{}", 0, 0});
  bool only_default = existing->empty() || (existing->size() == 1 && existing->front().id.value ==
                                                                       settings_.default_tenant_id);
  if (only_default) {
    for (const auto& id : settings_.bootstrap_tenant_ids) {
      seed.tenants.push_back(tenant_record{tenant_id{id}, "", "solo", "{}", 0, 0});
    }
  }
  auto inserted = ask<int64_t>(sys_, request_timeout, writer_, std::move(seed));
  if (!inserted) {
    return inserted.error();
  }
  return {};
}

caf::expected<tenant_id> node::normalize_tenant(std::string_view raw) const {
  auto id = normalize_tenant_id(raw, settings_.default_tenant_id);
  if (!id) {
    return id.error();
  }
  return tenant_id{std::move(*id)};
}

caf::expected<tenant_record> node::put_tenant(std::string_view raw_id,
                                              std::string_view config_json) {
  auto id = normalize_tenant(raw_id);
  if (!id) {
    return id.error();
  }
  auto parsed = parse_tenant_config_text(config_json, id->value);
  if (!parsed) {
    return parsed.error();
  }
  tenant_record rec{
    *id, parsed->config.name, to_string(parsed->config.tier), parsed->canonical_text, 0, 0};
  auto stored = ask<tenant_record>(sys_, request_timeout, writer_,
                                   store_tenant{std::move(rec), wall_clock_ms(sys_)});
  if (stored) {
    caf::anon_send(accountant_, put_atom::value, *id); // the tier may have changed
  }
  return stored;
}

caf::expected<tenant_record> node::get_tenant(std::string_view raw_id) {
  auto id = normalize_tenant(raw_id);
  if (!id) {
    return id.error();
  }
  return ask<tenant_record>(sys_, request_timeout, reader_, find_tenant{*id});
}

caf::expected<std::vector<tenant_record>> node::list_tenants() {
  return ask<std::vector<tenant_record>>(sys_, request_timeout, reader_,
                                         flowgate::list_tenants{100'000});
}

caf::expected<config_stored> node::put_config(std::string_view raw_tenant, const std::string& queue,
                                              const std::string& version, std::string text) {
  auto id = normalize_tenant(raw_tenant);
  if (!id) {
    return id.error();
  }
  return ask<config_stored>(sys_, request_timeout, configs_, put_atom::value, *id,
                            queue_name{queue}, config_version{version}, std::move(text));
}

caf::expected<config_snapshot_ptr> node::get_config(std::string_view raw_tenant,
                                                    const std::string& queue,
                                                    const std::string& version) {
  auto id = normalize_tenant(raw_tenant);
  if (!id) {
    return id.error();
  }
  return ask<config_snapshot_ptr>(sys_, request_timeout, configs_, get_atom::value, *id,
                                  queue_name{queue}, config_version{version});
}

caf::expected<config_activated> node::activate_config(std::string_view raw_tenant,
                                                      const std::string& queue,
                                                      const std::string& version) {
  auto id = normalize_tenant(raw_tenant);
  if (!id) {
    return id.error();
  }
  return ask<config_activated>(sys_, request_timeout, configs_, activate_atom::value, *id,
                               queue_name{queue}, config_version{version});
}

caf::expected<std::vector<config_summary>> node::list_configs(std::string_view raw_tenant,
                                                              const std::string& queue) {
  auto id = normalize_tenant(raw_tenant);
  if (!id) {
    return id.error();
  }
  return ask<std::vector<config_summary>>(sys_, request_timeout, configs_, list_atom::value, *id,
                                          queue_name{queue});
}

caf::expected<schema_info> node::db_info() {
  return ask<schema_info>(sys_, request_timeout, reader_, read_schema_info{});
}

// -- runs --------------------------------------------------------------------------

caf::expected<tenant_id> node::run_tenant(const tenant_scope& scope) const {
  if (scope.all) {
    return tenant_id{};
  }
  return normalize_tenant(scope.tenant);
}

namespace {

bool is_valid_label(const std::string& s, size_t max) {
  if (s.empty() || s.size() > max) {
    return false;
  }
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-' || c == ':';
    if (!ok) {
      return false;
    }
  }
  return true;
}

} // namespace

caf::expected<run_created> node::start_run(std::string_view raw_tenant, const std::string& queue,
                                           const std::string& input_json,
                                           const std::string& version,
                                           const std::string& idempotency_key) {
  auto id = normalize_tenant(raw_tenant);
  if (!id) {
    return id.error();
  }
  if (!idempotency_key.empty() && !is_valid_label(idempotency_key, 256)) {
    return make_error(errc::invalid_argument, "idempotency key must match [A-Za-z0-9_.:-]{1,256}");
  }
  auto input = parse_json_document(input_json.empty() ? std::string_view{"null"} : input_json,
                                   "run input", static_cast<size_t>(settings_.max_document_bytes));
  if (!input) {
    return input.error();
  }
  auto tenant = ask<tenant_record>(sys_, request_timeout, reader_, find_tenant{*id});
  if (!tenant) {
    return tenant.error();
  }
  auto snap = ask<config_snapshot_ptr>(sys_, request_timeout, configs_, get_atom::value, *id,
                                       queue_name{queue}, config_version{version});
  if (!snap) {
    return snap.error();
  }
  run_record r;
  r.tenant = *id;
  r.queue = queue_name{queue};
  r.config_tenant = tenant_id{(*snap)->tenant};
  r.version = config_version{(*snap)->version};
  r.checksum = (*snap)->checksum;
  r.input = boost::json::serialize(*input);
  r.idempotency_key = idempotency_key;
  if (dispatcher_) {
    // A run queued at its tenant's limit is answered by its admission
    // deadline (at most an hour, enforced by the node).
    return ask<run_created>(sys_, request_timeout + std::chrono::hours{1}, dispatcher_,
                            start_atom::value, std::move(r), std::move(*snap));
  }
  create_run op;
  op.run = std::move(r);
  op.default_limit = settings_.tenant_max_concurrent_runs;
  auto created = ask<run_created>(sys_, request_timeout, writer_, std::move(op));
  if (created) {
    if (auto refused = rejection_error(*created)) {
      return refused;
    }
  }
  return created;
}

caf::expected<subscription_record> node::put_subscription(std::string_view raw_tenant,
                                                          std::string_view text) {
  auto id = normalize_tenant(raw_tenant);
  if (!id) {
    return id.error();
  }
  auto parsed = parse_subscription_text(text);
  if (!parsed) {
    return parsed.error();
  }
  subscription_record rec{*id,
                          parsed->id,
                          parsed->status,
                          parsed->period_start_ms,
                          parsed->period_end_ms,
                          parsed->price_metadata,
                          parsed->product_metadata,
                          0};
  auto stored =
    ask<subscription_record>(sys_, request_timeout, writer_, store_subscription{std::move(rec), 0});
  if (stored) {
    caf::anon_send(accountant_, put_atom::value, *id);
  }
  return stored;
}

caf::expected<std::vector<subscription_record>>
node::list_subscriptions(std::string_view raw_tenant) {
  auto t = get_tenant(raw_tenant);
  if (!t) {
    return t.error();
  }
  return ask<std::vector<subscription_record>>(sys_, request_timeout, reader_,
                                               flowgate::list_subscriptions{t->id});
}

caf::expected<quota_terms> node::quota_terms_of(const tenant_id& tenant, bool fresh) {
  if (fresh) {
    caf::anon_send(accountant_, put_atom::value, tenant);
  }
  return ask<quota_terms>(sys_, request_timeout, accountant_, get_atom::value, tenant);
}

caf::expected<std::pair<tenant_record, quota_terms>>
node::tenant_terms(std::string_view raw_tenant) {
  auto t = get_tenant(raw_tenant);
  if (!t) {
    return t.error();
  }
  auto terms = quota_terms_of(t->id, true);
  if (!terms) {
    return terms.error();
  }
  return std::make_pair(std::move(*t), std::move(*terms));
}

caf::expected<quota_summary> node::summarize_quota(std::string_view raw_tenant) {
  auto both = tenant_terms(raw_tenant);
  if (!both) {
    return both.error();
  }
  const auto& [t, terms] = *both;
  quota_summary out;
  out.tenant = t.id.value;
  out.tier = t.tier;
  out.period = billing_period{terms.period_start_ms, terms.period_end_ms, terms.period_source,
                              terms.limit,           terms.limit_source,  terms.warnings};
  auto used = ask<int64_t>(sys_, request_timeout, reader_,
                           find_usage{t.id, out.period.start_ms, out.period.end_ms});
  if (!used) {
    return used.error();
  }
  out.used = *used;
  out.remaining = out.period.limit < 0 ? -1 : std::max<int64_t>(out.period.limit - out.used, 0);
  return out;
}

caf::expected<resume_outcome> node::resume_run(std::string_view raw_tenant, int64_t run) {
  if (raw_tenant.empty()) {
    return make_error(errc::invalid_argument, "resuming a run needs the tenant it belongs to");
  }
  auto both = tenant_terms(raw_tenant);
  if (!both) {
    return both.error();
  }
  auto out = ask<resume_outcome>(sys_, request_timeout, writer_,
                                 flowgate::resume_run{run_id{run}, std::move(both->second), 0});
  if (out && out->resumed && dispatcher_) {
    caf::anon_send(dispatcher_, poll_atom::value);
  }
  return out;
}

caf::expected<std::vector<limiter_stats>> node::limiter_stats() {
  if (!limiters_) {
    return std::vector<flowgate::limiter_stats>{};
  }
  return ask<std::vector<flowgate::limiter_stats>>(sys_, request_timeout, limiters_,
                                                   stats_atom::value);
}

caf::expected<int64_t> node::scan_quota_waits() {
  return ask<int64_t>(sys_, request_timeout, scanner_, wake_atom::value);
}

caf::expected<usage_reconciliation> node::reconcile_quota(std::string_view raw_tenant,
                                                          int64_t period_start_ms) {
  auto t = get_tenant(raw_tenant);
  if (!t) {
    return t.error();
  }
  reconcile_usage q{t->id, period_start_ms, 0};
  if (period_start_ms == 0) {
    auto terms = quota_terms_of(t->id, true);
    if (!terms) {
      return terms.error();
    }
    q.period_start_ms = terms->period_start_ms;
    q.period_end_ms = terms->period_end_ms;
  }
  return ask<usage_reconciliation>(sys_, request_timeout, reader_, q);
}

caf::expected<std::vector<tenant_stats>> node::tenant_stats(std::string_view raw_tenant) {
  // A listing: blank = every tenant.
  auto id = raw_tenant.find_first_not_of(" \t") == std::string_view::npos
              ? caf::expected<tenant_id>{tenant_id{}}
              : normalize_tenant(raw_tenant);
  if (!id) {
    return id.error();
  }
  return ask<std::vector<flowgate::tenant_stats>>(
    sys_, request_timeout, reader_,
    read_tenant_stats{*id, wall_clock_ms(sys_), settings_.tenant_max_concurrent_runs});
}

caf::expected<signal_accepted> node::signal_run(const tenant_scope& scope, int64_t run,
                                                const std::string& event,
                                                const std::string& payload_json) {
  auto id = run_tenant(scope);
  if (!id) {
    return id.error();
  }
  if (!is_valid_label(event, 128)) {
    return make_error(errc::invalid_argument,
                      "event name '" + event + "' must match [A-Za-z0-9_.:-]{1,128}");
  }
  auto payload =
    parse_json_document(payload_json.empty() ? std::string_view{"null"} : payload_json,
                        "signal payload", static_cast<size_t>(settings_.max_document_bytes));
  if (!payload) {
    return payload.error();
  }
  return ask<signal_accepted>(
    sys_, request_timeout, writer_,
    flowgate::signal_run{*id, run_id{run}, event, boost::json::serialize(*payload), 0});
}

caf::expected<cancel_outcome> node::cancel_run(const tenant_scope& scope, int64_t run,
                                               const std::string& reason) {
  auto id = run_tenant(scope);
  if (!id) {
    return id.error();
  }
  return ask<cancel_outcome>(
    sys_, request_timeout, writer_,
    flowgate::cancel_run{*id, run_id{run}, reason.empty() ? "canceled by operator" : reason, 0});
}

caf::expected<run_record> node::get_run(const tenant_scope& scope, int64_t run) {
  auto id = run_tenant(scope);
  if (!id) {
    return id.error();
  }
  return ask<run_record>(sys_, request_timeout, reader_, find_run{*id, run_id{run}});
}

caf::expected<std::vector<run_record>> node::list_runs(const tenant_scope& scope,
                                                       const std::string& status, int64_t after_run,
                                                       int32_t limit) {
  auto id = run_tenant(scope);
  if (!id) {
    return id.error();
  }
  static const char* statuses[] = {run_status::pending, run_status::running,
                                   run_status::waiting, run_status::completed,
                                   run_status::failed,  run_status::canceled};
  if (!status.empty() &&
      std::find(std::begin(statuses), std::end(statuses), status) == std::end(statuses)) {
    return make_error(errc::invalid_argument,
                      "status '" + status +
                        "' must be PENDING, RUNNING, WAITING, COMPLETED, FAILED or CANCELED");
  }
  return ask<std::vector<run_record>>(sys_, request_timeout, reader_,
                                      flowgate::list_runs{*id, status, after_run, limit});
}

caf::expected<std::vector<history_record>> node::run_history(const tenant_scope& scope,
                                                             int64_t run) {
  auto r = get_run(scope, run);
  if (!r) {
    return r.error();
  }
  return ask<std::vector<history_record>>(sys_, request_timeout, reader_,
                                          load_history{run_id{run}, 0});
}

caf::expected<run_record> node::wait_for_run(const tenant_scope& scope, int64_t run,
                                             std::chrono::milliseconds timeout,
                                             bool stop_at_waiting) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto r = get_run(scope, run);
    if (!r) {
      return r.error();
    }
    if (run_status::is_terminal(r->status) ||
        (stop_at_waiting && r->status == run_status::waiting)) {
      return r;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return make_error(errc::deadline_exceeded, "run " + std::to_string(run) + " is still " +
                                                   r->status + " after " +
                                                   std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

caf::expected<replay_report> node::replay(const tenant_scope& scope, int64_t run) {
  auto r = get_run(scope, run);
  if (!r) {
    return r.error();
  }
  replay_report out;
  out.run = run;
  out.tenant = r->tenant.value;
  out.status = r->status;
  auto records =
    ask<std::vector<history_record>>(sys_, request_timeout, reader_, load_history{run_id{run}, 0});
  if (!records) {
    return records.error();
  }
  out.events = static_cast<int64_t>(records->size());
  auto snap = ask<config_snapshot_ptr>(sys_, request_timeout, configs_, get_atom::value,
                                       r->config_tenant, r->queue, r->version);
  if (!snap) {
    out.deterministic = false;
    out.message = "cannot load pinned config: " + describe(snap.error());
    return out;
  }
  auto history = from_records(*records);
  if (!history) {
    out.deterministic = false;
    out.message = describe(history.error());
    return out;
  }
  boost::system::error_code ec;
  auto input = boost::json::parse(r->input, ec);
  // What the run's driver would plan next from this history (nothing is
  // in flight here: an attempt without an outcome would be cut off).
  engine::plan_context ctx;
  ctx.next_seq = r->next_seq;
  ctx.now_ms = wall_clock_ms(sys_);
  ctx.node_path = r->node_path;
  ctx.inbox_fresh = true;
  ctx.hold_timer_ms = settings_.hold_timer_ms;
  auto p = engine::plan((*snap)->definition, input, std::move(*history), ctx);
  out.engine_state = engine::to_string(p.initial_state);
  if (p.conflict) {
    out.deterministic = false;
    out.message = engine::describe(*p.conflict);
  }
  return out;
}

caf::expected<std::vector<node_record>> node::list_nodes() {
  return ask<std::vector<node_record>>(sys_, request_timeout, reader_, flowgate::list_nodes{});
}

caf::error node::register_membership() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) {
    host[0] = '\0';
  }
  register_node op{node_id{settings_.node_id}, host, static_cast<int64_t>(getpid()), "",
                   settings_.lease_ttl_ms,     0};
  auto inc = ask<int64_t>(sys_, request_timeout, writer_, op);
  if (!inc && code_of(inc.error()) == errc::node_id_in_use) {
    // On this host a registration's process can be checked: a killed one
    // (its heartbeat not yet expired) is replaced at once.
    auto nodes = list_nodes();
    if (nodes) {
      for (const auto& x : *nodes) {
        if (x.node == op.node && x.host == op.host && x.pid != getpid() && x.pid > 0 &&
            kill(static_cast<pid_t>(x.pid), 0) != 0 && errno == ESRCH) {
          op.replaces_pid = x.pid;
          inc = ask<int64_t>(sys_, request_timeout, writer_, op);
        }
      }
    }
  }
  if (!inc) {
    return inc.error();
  }
  incarnation_ = *inc;
  log_line("info", "node registered",
           {{"node", settings_.node_id},
            {"incarnation", std::to_string(incarnation_)},
            {"pid", std::to_string(getpid())}});
  return {};
}

caf::expected<int64_t> node::drain() {
  if (!dispatcher_) {
    return int64_t{0};
  }
  auto timeout = std::chrono::milliseconds{settings_.drain_timeout_ms} + request_timeout;
  return ask<int64_t>(sys_, timeout, dispatcher_, drain_atom::value);
}

} // namespace flowgate
