#pragma once

/// `flowgate::node`: the composition root. It opens the store, spawns the
/// node's actors inside the embedder's `caf::actor_system`, bootstraps the
/// tenant registry, and offers a blocking API for tools and simple
/// embedders. Actors that need more than request/response talk to the
/// typed handles directly (`writer()`, `reader()`, `configs()`).
///
/// Start-up: the write connection migrates the schema; the default tenant
/// always exists; when the store has no other tenant, the ids in
/// `FLOWGATE_TENANT_IDS` (node_settings::bootstrap_tenant_ids) are created
/// with an empty config. The destructor stops every actor it spawned.

#include "config/node_settings.hpp"
#include "messages/interfaces.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace flowgate {

class node {
public:
  /// Opens the store at `settings.db_path` and starts the node's actors.
  /// Errors: the store's (`schema_too_new`, `store_failure`, ...).
  [[nodiscard]] static caf::expected<std::unique_ptr<node>> start(caf::actor_system& sys,
                                                                  node_settings settings);

  node(const node&) = delete;
  node& operator=(const node&) = delete;
  ~node();

  const node_settings& settings() const { return settings_; }
  /// Migrations applied when this node opened the store.
  const std::vector<std::string>& applied_migrations() const { return applied_migrations_; }

  store_writer_actor writer() const { return writer_; }
  store_reader_actor reader() const { return reader_; }
  config_registry_actor configs() const { return configs_; }

  // -- blocking API (each call waits at most `request_timeout`) --------------------

  /// Normalizes a raw tenant id (blank = the default tenant).
  [[nodiscard]] caf::expected<tenant_id> normalize_tenant(std::string_view raw) const;

  /// Creates or replaces a tenant from its JSON config (FORMATS.md).
  [[nodiscard]] caf::expected<tenant_record> put_tenant(std::string_view raw_id,
                                                        std::string_view config_json);
  [[nodiscard]] caf::expected<tenant_record> get_tenant(std::string_view raw_id);
  [[nodiscard]] caf::expected<std::vector<tenant_record>> list_tenants();

  [[nodiscard]] caf::expected<config_stored> put_config(std::string_view raw_tenant,
                                                        const std::string& queue,
                                                        const std::string& version,
                                                        std::string text);
  /// Resolves and loads a snapshot (empty version = the runnable one).
  [[nodiscard]] caf::expected<config_snapshot_ptr> get_config(std::string_view raw_tenant,
                                                              const std::string& queue,
                                                              const std::string& version);
  [[nodiscard]] caf::expected<config_activated> activate_config(std::string_view raw_tenant,
                                                                const std::string& queue,
                                                                const std::string& version);
  [[nodiscard]] caf::expected<std::vector<config_summary>>
  list_configs(std::string_view raw_tenant, const std::string& queue);

  [[nodiscard]] caf::expected<schema_info> db_info();

  std::chrono::milliseconds request_timeout{15'000};

private:
  node(caf::actor_system& sys, node_settings settings);

  [[nodiscard]] caf::error bootstrap_tenants();

  caf::actor_system& sys_;
  node_settings settings_;
  std::vector<std::string> applied_migrations_;
  store_writer_actor writer_;
  store_reader_actor reader_;
  config_registry_actor configs_;
};

} // namespace flowgate
