#pragma once

/// Settings of a flowgate node, read from the environment and overridden
/// by command-line flags. Every variable is documented in README.md.

#include <caf/expected.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace flowgate {

/// SQLite's durability level for commits.
enum class sync_mode : uint8_t { off, normal, full };

const char* to_string(sync_mode m);

/// Everything a node needs to start.
struct node_settings {
  /// FLOWGATE_DB: the SQLite file.
  std::string db_path = "flowgate.db";
  /// FLOWGATE_SYNCHRONOUS: off | normal | full.
  sync_mode synchronous = sync_mode::full;
  /// FLOWGATE_BUSY_TIMEOUT_MS: how long SQLite waits for another writer.
  int64_t busy_timeout_ms = 5000;
  /// FLOWGATE_OPEN_CHECK: quick (default: SQLite's quick_check when the
  /// store is opened for writing; one read of the whole file) | off.
  bool open_check = true;
  /// FLOWGATE_DEFAULT_TENANT_ID: the tenant a blank id means.
  std::string default_tenant_id;
  /// FLOWGATE_TENANT_IDS: tenants created when the store has none.
  std::vector<std::string> bootstrap_tenant_ids;
  /// FLOWGATE_TENANT_MAX_CONCURRENT_RUNS: limit for tenants that set none (0 = unlimited).
  int64_t tenant_max_concurrent_runs = 10;
  /// FLOWGATE_DEFAULT_CONFIG_VERSION: the version run when a queue has no active one.
  std::string default_config_version = "1";
  /// FLOWGATE_MAX_DOCUMENT_BYTES: limit on pipeline and tenant documents.
  int64_t max_document_bytes = int64_t{1} << 20;
  /// FLOWGATE_MAX_BATCH: most operations the store writer commits at once.
  int64_t max_write_batch = 4096;

  // -- execution (a node that runs work: `flowgate serve`, embedders) ------------

  /// FLOWGATE_NODE_ID: this node's lease owner name (default: host-pid).
  std::string node_id;
  /// FLOWGATE_LISTEN: `HOST:PORT` where an executing node publishes its
  /// gateway's door for remote clients (actors/gateway_door.hpp), over TLS
  /// only; port 0 picks a free one. Empty: not published.
  std::string listen;
  /// FLOWGATE_HTTP: `HOST:PORT` of this node's HTTP/JSON API
  /// (api/http_server.hpp; `flowgate serve --http`). Empty: none.
  std::string http;
  /// FLOWGATE_METRICS_TENANTS: tenant labels on `/metrics`: `all` (-1),
  /// `none` (0) or the N busiest plus `other` (api/metrics.hpp).
  int64_t metrics_tenants = 100;
  /// FLOWGATE_PEER_KEY: the API key (an operator key) this node presents at
  /// the other nodes' doors to tell the holder of a run's lease that a
  /// signal or cancellation was stored for it (actors/peer_links.hpp).
  /// Needs `listen` (TLS). Empty: the holder finds it at its next append.
  std::string peer_key;
  /// FLOWGATE_MAX_KEY_REQUESTS: most requests one API key may have in
  /// flight at this node's door (each is answered on a thread of its own);
  /// more are refused with `too_many_requests`.
  int64_t max_key_requests = 32;
  /// FLOWGATE_LEASE_TTL_MS: how long a run lease lasts without renewal.
  int64_t lease_ttl_ms = 30'000;
  /// FLOWGATE_POLL_MS: how often the dispatcher looks for claimable runs.
  int64_t poll_interval_ms = 200;
  /// FLOWGATE_CLAIM_BATCH: most runs claimed per poll.
  int64_t claim_batch = 256;
  /// FLOWGATE_MAX_ACTIVE_RUNS: most runs one node drives at once.
  int64_t max_active_runs = 20'000;
  /// FLOWGATE_WORKERS: activity worker threads.
  int64_t workers = 8;
  /// FLOWGATE_ACTIVITY_TIMEOUT_MS: start-to-close timeout of attempts that set none.
  int64_t activity_timeout_ms = 300'000;
  /// FLOWGATE_HOLD_MS: timers and retry delays up to this long are held in
  /// memory; longer ones release the run (WAITING with a wake time).
  int64_t hold_timer_ms = 2'000;
  /// FLOWGATE_DRAIN_MS: how long a stopping node waits for attempts in flight.
  int64_t drain_timeout_ms = 10'000;
  /// FLOWGATE_ON_NONDETERMINISM: fail the run, or hold it (WAITING,
  /// reason `nondeterminism`) for an operator.
  bool hold_on_nondeterminism = false;

  // -- step quota ------------------------------------------------------------------

  /// FLOWGATE_QUOTA_SCAN_MS: how often quota-paused runs are considered for
  /// resuming (0 = never on a timer; `flowgate quota scan` still works).
  int64_t quota_scan_interval_ms = 300'000;
  /// FLOWGATE_QUOTA_SCAN_BATCH: most waits one tenant resumes per scan.
  int64_t quota_scan_batch = 100;
  /// FLOWGATE_QUOTA_TERMS_TTL_MS: how long a tenant's resolved billing
  /// period and limit are cached (changes made by other processes apply
  /// within this time; this process's own changes apply at once).
  int64_t quota_terms_ttl_ms = 10'000;

  // -- schedules ---------------------------------------------------------------------

  /// FLOWGATE_SCHEDULE_POLL_MS: how often a serving node fires the
  /// schedules that are due (0 = never: the node fires no schedules).
  int64_t schedule_poll_ms = 1'000;

  // -- child runs ----------------------------------------------------------------------

  /// FLOWGATE_MAX_CHILD_DEPTH: how deep child runs may nest (a run started
  /// by `flowgate run start` is depth 0; its children 1, ...).
  int64_t max_child_depth = 8;
};

/// Reads a variable; returns nullptr when unset. Injected for tests.
using env_lookup = std::function<const char*(const char*)>;

/// Settings from the environment (`std::getenv` by default). Errors
/// (`invalid_argument`) name the variable and the reason.
[[nodiscard]] caf::expected<node_settings> settings_from_environment(env_lookup lookup = {});

/// Parses "fail" (false) / "hold" (true).
[[nodiscard]] caf::expected<bool> parse_nondeterminism_policy(const std::string& text);

/// Parses "off" / "normal" / "full" (any case).
[[nodiscard]] caf::expected<sync_mode> parse_sync_mode(const std::string& text);

} // namespace flowgate
