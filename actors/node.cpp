#include "actors/node.hpp"

#include "actors/activity.hpp"
#include "actors/activity_pool.hpp"
#include "actors/blocking_ask.hpp"
#include "actors/client.hpp"
#include "actors/config_registry.hpp"
#include "actors/dispatcher.hpp"
#include "actors/gateway.hpp"
#include "actors/gateway_door.hpp"
#include "actors/log.hpp"
#include "actors/peer_links.hpp"
#include "actors/quota_accountant.hpp"
#include "actors/resume_scanner.hpp"
#include "actors/run_codec.hpp"
#include "actors/schedule_firer.hpp"
#include "actors/store_reader.hpp"
#include "actors/store_writer.hpp"
#include "actors/tenant_limiter.hpp"
#include "actors/wall_clock.hpp"
#include "config/api_key.hpp"
#include "config/json_text.hpp"
#include "config/pipeline.hpp"
#include "config/tenant_config.hpp"
#include "engine/engine.hpp"
#include "engine/planner.hpp"
#include "messages/errors.hpp"
#include "persistence/open_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/timestamp.hpp>

#include <boost/json.hpp>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace flowgate {

struct node::guard_state {
  caf::actor_system* sys = nullptr;
  std::string node_id;
  /// Set by the destructor before it stops the actors.
  std::atomic<bool> stopping{false};
  /// Set by the first actor that terminated while the node ran.
  std::atomic<bool> tripped{false};
  std::function<void(const caf::error&)> on_fatal;
  std::once_flag fatal_once;
  /// Written by guard_actors() before the first attach, then only read.
  std::vector<std::pair<std::string, caf::actor_addr>> members;

  void fatal(const caf::error& err) {
    std::call_once(fatal_once, [&] {
      if (on_fatal) {
        on_fatal(err);
      }
    });
  }

  void terminated(const std::string& name, const caf::error& reason) {
    if (stopping.load() || tripped.exchange(true)) {
      return;
    }
    auto why = reason ? sys->render(reason) : std::string{"a normal exit"};
    auto err = make_error(errc::shutting_down, "node '" + node_id + "' stops: its " + name +
                                                 " terminated while it ran (" + why + ")");
    log_line("error", "a node actor terminated: the node stops",
             {{"node", node_id}, {"actor", name}, {"reason", why}});
    for (const auto& [other, addr] : members) {
      if (auto a = caf::actor_cast<caf::actor>(addr)) {
        caf::anon_send_exit(a, caf::exit_reason::kill);
      }
    }
    fatal(err);
  }
};

node::node(caf::actor_system& sys, node_settings settings)
    : gateway_client(sys, gateway_actor{}), settings_(std::move(settings)),
      guard_(std::make_shared<guard_state>()) {
  guard_->sys = &sys;
  guard_->node_id = settings_.node_id;
}

void node::guard_actors() {
  auto& m = guard_->members;
  auto add = [&m](const char* name, const auto& handle) {
    if (handle) {
      m.emplace_back(name, caf::actor_cast<caf::actor_addr>(handle));
    }
  };
  add("store writer", writer_);
  add("store reader", reader_);
  add("config registry", configs_);
  add("quota accountant", accountant_);
  add("activity pool", pool_);
  add("tenant limiters", limiters_);
  add("dispatcher", dispatcher_);
  add("resume scanner", scanner_);
  add("schedule firer", firer_);
  add("gateway", gateway());
  for (const auto& [name, addr] : m) {
    // An actor that is gone already runs the functor at once.
    if (auto a = caf::actor_cast<caf::actor>(addr)) {
      a->attach_functor(
        [g = guard_, name = name](const caf::error& reason) { g->terminated(name, reason); });
    } else {
      guard_->terminated(name, make_error(errc::shutting_down, "gone before the node started"));
    }
  }
}

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
  if (!settings.peer_key.empty()) {
    // Checked before the store is opened: a bad setting changes nothing.
    if (auto parsed = parse_api_key(settings.peer_key); !parsed) {
      return make_error(errc::invalid_argument,
                        "the peer key (FLOWGATE_PEER_KEY, --peer-key-file): " +
                          describe(parsed.error()));
    }
    if (settings.listen.empty() || !options.execute) {
      return make_error(errc::invalid_argument,
                        "a peer key is for a serving node that listens (--listen with TLS): "
                        "it reaches the other nodes over the same TLS");
    }
  }
  std::unique_ptr<node> n{new node(sys, std::move(settings))};
  n->guard_->on_fatal = std::move(options.on_fatal);
  auto writer = open_store_writer(n->settings_, wall_clock_ms(sys), &n->applied_migrations_);
  if (!writer) {
    return writer.error();
  }
  auto reader = open_store_reader(n->settings_);
  if (!reader) {
    return reader.error();
  }
  n->writer_ = spawn_store_writer(sys, std::shared_ptr<write_session>{std::move(*writer)},
                                  static_cast<size_t>(n->settings_.max_write_batch),
                                  [g = n->guard_](const caf::error& err) { g->fatal(err); });
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
    if (!s.peer_key.empty()) {
      // It needs `listen` (checked above), and publish_door() below refuses
      // to listen without TLS: its links then use the same TLS.
      peer_links_setup ps{n->reader_, s.node_id, s.peer_key, n->request_timeout};
      ps.refresh_ms = std::chrono::milliseconds{std::max<int64_t>(s.lease_ttl_ms / 2, 100)};
      n->peers_ = spawn_peer_links(sys, std::move(ps));
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
    ds.peers = n->peers_;
    n->dispatcher_ = spawn_dispatcher(sys, std::move(ds));
  }
  // A node that does not execute scans only when asked (`flowgate quota scan`).
  n->scanner_ =
    spawn_resume_scanner(sys, scanner_setup{n->writer_, n->reader_, n->accountant_, n->dispatcher_,
                                            options.execute ? s.quota_scan_interval_ms : 0,
                                            static_cast<int32_t>(s.quota_scan_batch)});
  if (options.execute && s.schedule_poll_ms > 0) {
    n->firer_ =
      spawn_schedule_firer(sys, firer_setup{n->writer_, n->reader_, n->configs_, n->dispatcher_,
                                            s.tenant_max_concurrent_runs, s.schedule_poll_ms, 100});
  }
  n->attach(
    spawn_gateway(sys, gateway_setup{s, n->writer_, n->reader_, n->configs_, n->accountant_,
                                     n->scanner_, n->dispatcher_, n->peers_, n->request_timeout}));
  n->guard_actors();
  if (!s.listen.empty()) {
    if (auto err = n->publish_door()) {
      return err;
    }
  }
  return n;
}

caf::error node::publish_door() {
  auto where = parse_address(settings_.listen);
  if (!where) {
    return where.error();
  }
  if (incarnation_ == 0) {
    return make_error(errc::invalid_argument,
                      "only an executing node listens for remote clients (flowgate serve)");
  }
  if (!tls_network_enabled(sys_)) {
    return make_error(errc::invalid_argument,
                      "listening on " + settings_.listen +
                        " needs TLS: a certificate, its key and the cluster's CA (flowgate serve "
                        "--tls-cert, --tls-key, --tls-ca; embedders: enable_tls_network)");
  }
  auto port = caf::openssl::publish(door(), where->second, where->first.c_str(), true);
  if (!port) {
    return make_error(errc::invalid_argument,
                      "cannot listen on " + settings_.listen + ": " + sys_.render(port.error()));
  }
  auto host = where->first.find(':') != std::string::npos ? "[" + where->first + "]" : where->first;
  listening_at_ = host + ":" + std::to_string(*port);
  auto recorded =
    blocking_ask<int64_t>(sys_, request_timeout, writer_,
                          publish_node{node_id{settings_.node_id}, incarnation_, listening_at_});
  if (!recorded) {
    return recorded.error();
  }
  if (peers_) {
    caf::anon_send(peers_, put_atom::value, door_); // its hellos carry it
  }
  log_line("info", "listening for remote clients (TLS)",
           {{"node", settings_.node_id}, {"address", listening_at_}});
  return {};
}

gateway_actor node::door() {
  if (!door_) {
    door_ = spawn_gateway_door(sys_, door_setup{gateway(), reader_, settings_.default_tenant_id,
                                                request_timeout, settings_.max_key_requests});
  }
  return door_;
}

node::~node() {
  guard_->stopping = true;
  if (incarnation_ > 0 && !guard_->tripped) {
    // Marks the registration stopped so the id can be reused at once; the
    // leases are left to expire (drain() hands them back first).
    (void)blocking_ask<int64_t>(sys_, std::chrono::milliseconds{2000}, writer_,
                                stop_node{node_id{settings_.node_id}, incarnation_, 0});
  }
  for (const auto& a :
       {caf::actor_cast<caf::actor>(door_), caf::actor_cast<caf::actor>(gateway()),
        caf::actor_cast<caf::actor>(peers_), caf::actor_cast<caf::actor>(scanner_),
        caf::actor_cast<caf::actor>(firer_), caf::actor_cast<caf::actor>(limiters_),
        caf::actor_cast<caf::actor>(accountant_), caf::actor_cast<caf::actor>(dispatcher_),
        caf::actor_cast<caf::actor>(pool_), caf::actor_cast<caf::actor>(configs_),
        caf::actor_cast<caf::actor>(reader_), caf::actor_cast<caf::actor>(writer_)}) {
    if (a) {
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    }
  }
}

caf::error node::bootstrap_tenants() {
  auto existing = blocking_ask<std::vector<tenant_record>>(sys_, request_timeout, reader_,
                                                           flowgate::list_tenants{2});
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
  auto inserted = blocking_ask<int64_t>(sys_, request_timeout, writer_, std::move(seed));
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

caf::expected<config_snapshot_ptr> node::get_config(std::string_view raw_tenant,
                                                    const std::string& queue,
                                                    const std::string& version) {
  auto id = normalize_tenant(raw_tenant);
  if (!id) {
    return id.error();
  }
  return blocking_ask<config_snapshot_ptr>(sys_, request_timeout, configs_, get_atom::value, *id,
                                           queue_name{queue}, config_version{version});
}

caf::expected<int64_t> node::fire_schedules() {
  if (!firer_) {
    return make_error(errc::invalid_argument,
                      "this node fires no schedules (it does not execute runs, or "
                      "schedule_poll_ms is 0)");
  }
  return blocking_ask<int64_t>(sys_, request_timeout, firer_, wake_atom::value);
}

caf::expected<std::vector<limiter_stats>> node::limiter_stats() {
  if (!limiters_) {
    return std::vector<flowgate::limiter_stats>{};
  }
  return blocking_ask<std::vector<flowgate::limiter_stats>>(sys_, request_timeout, limiters_,
                                                            stats_atom::value);
}

caf::expected<quota_terms> node::quota_terms_of(const tenant_id& tenant, bool fresh) {
  if (fresh) {
    caf::anon_send(accountant_, put_atom::value, tenant);
  }
  return blocking_ask<quota_terms>(sys_, request_timeout, accountant_, get_atom::value, tenant);
}

caf::error node::register_membership() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) {
    host[0] = '\0';
  }
  register_node op{node_id{settings_.node_id}, host, static_cast<int64_t>(getpid()), "",
                   settings_.lease_ttl_ms,     0};
  auto inc = blocking_ask<int64_t>(sys_, request_timeout, writer_, op);
  // A busy store (PostgreSQL: a row lock held past the lock timeout by a
  // stalled process) refused nothing for good: ask again, a few times.
  for (int i = 0; i < 10 && !inc && code_of(inc.error()) == errc::store_busy; ++i) {
    log_line("warn", "registering the node: the store is busy, retrying",
             {{"node", settings_.node_id}, {"error", describe(inc.error())}});
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
    inc = blocking_ask<int64_t>(sys_, request_timeout, writer_, op);
  }
  if (!inc && code_of(inc.error()) == errc::node_id_in_use) {
    // On this host a registration's process can be checked: a killed one
    // (its heartbeat not yet expired) is replaced at once.
    // (The gateway is not up yet: ask the store directly.)
    auto nodes = blocking_ask<std::vector<node_record>>(sys_, request_timeout, reader_,
                                                        flowgate::list_nodes{});
    if (nodes) {
      for (const auto& x : *nodes) {
        if (x.node == op.node && x.host == op.host && x.pid != getpid() && x.pid > 0 &&
            kill(static_cast<pid_t>(x.pid), 0) != 0 && errno == ESRCH) {
          op.replaces_pid = x.pid;
          inc = blocking_ask<int64_t>(sys_, request_timeout, writer_, op);
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
  return blocking_ask<int64_t>(sys_, timeout, dispatcher_, drain_atom::value);
}

} // namespace flowgate
