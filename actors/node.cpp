#include "actors/node.hpp"

#include "actors/config_registry.hpp"
#include "actors/store_reader.hpp"
#include "actors/store_writer.hpp"
#include "actors/wall_clock.hpp"
#include "config/tenant_config.hpp"
#include "messages/errors.hpp"
#include "persistence/sqlite_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/timestamp.hpp>

namespace flowgate {

namespace {

/// Sends one request from a scoped actor and waits for the typed answer.
template <class R, class Handle, class... Ts>
caf::expected<R> ask(caf::actor_system& sys, std::chrono::milliseconds timeout,
                     const Handle& dest, Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::expected<R> out{caf::error{}};
  self->request(dest, timeout, std::forward<Ts>(xs)...)
    .receive([&](R& x) { out = std::move(x); }, [&](caf::error& e) { out = std::move(e); });
  return out;
}

} // namespace

node::node(caf::actor_system& sys, node_settings settings)
  : sys_(sys), settings_(std::move(settings)) {
}

caf::expected<std::unique_ptr<node>> node::start(caf::actor_system& sys, node_settings settings) {
  std::unique_ptr<node> n{new node(sys, std::move(settings))};
  auto opts = store_options_from(n->settings_);
  auto writer = open_sqlite_writer(opts, wall_clock_ms(), &n->applied_migrations_);
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
  return n;
}

node::~node() {
  for (const auto& a : {caf::actor_cast<caf::actor>(configs_), caf::actor_cast<caf::actor>(reader_),
                        caf::actor_cast<caf::actor>(writer_)}) {
    if (a) {
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    }
  }
}

caf::error node::bootstrap_tenants() {
  auto existing = ask<std::vector<tenant_record>>(sys_, request_timeout, reader_,
                                                  flowgate::list_tenants{2});
  if (!existing) {
    return existing.error();
  }
  seed_tenants seed;
  seed.now_ms = wall_clock_ms();
  seed.tenants.push_back(tenant_record{tenant_id{settings_.default_tenant_id}, "default", "solo",
                                       "{}", 0, 0});
  bool only_default =
    existing->empty() ||
    (existing->size() == 1 && existing->front().id.value == settings_.default_tenant_id);
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
  tenant_record rec{*id, parsed->config.name, to_string(parsed->config.tier),
                    parsed->canonical_text, 0, 0};
  return ask<tenant_record>(sys_, request_timeout, writer_,
                            store_tenant{std::move(rec), wall_clock_ms()});
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

caf::expected<config_stored> node::put_config(std::string_view raw_tenant,
                                              const std::string& queue,
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

} // namespace flowgate
