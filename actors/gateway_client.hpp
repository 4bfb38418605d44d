#pragma once

/// `flowgate::gateway_client`: the blocking public API of a node, as
/// requests to a gateway (messages/gateway_messages.hpp). `flowgate::node`
/// is one, on its own gateway in this process (no key: in-process callers
/// are trusted); `flowgate::client` (actors/client.hpp) is one on a remote
/// node's door (actors/gateway_door.hpp), every request carrying the
/// client's API key. Each call waits at most `request_timeout` (a start
/// queued at its tenant's limit, a wait and a check longer, as said there)
/// and blocks the calling thread: never call it from an actor's handler.

#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flowgate {

class gateway_client {
public:
  gateway_client(caf::actor_system& sys, gateway_actor gateway, std::string key = {});
  gateway_client(const gateway_client&) = delete;
  gateway_client& operator=(const gateway_client&) = delete;
  virtual ~gateway_client() = default;

  /// The gateway (or door) every call goes to.
  const gateway_actor& gateway() const { return gateway_; }

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
  [[nodiscard]] caf::expected<config_view>
  view_config(std::string_view raw_tenant, const std::string& queue, const std::string& version);
  [[nodiscard]] caf::expected<config_activated> activate_config(std::string_view raw_tenant,
                                                                const std::string& queue,
                                                                const std::string& version);
  [[nodiscard]] caf::expected<std::vector<config_summary>> list_configs(std::string_view raw_tenant,
                                                                        const std::string& queue);

  [[nodiscard]] caf::expected<schema_info> db_info();
  // A blank tenant means the default tenant everywhere. Calls on existing
  // runs take a `tenant_scope`: a tenant (which must own the run, else the
  // run is reported exactly like a missing one) or, explicitly,
  // `tenant_scope::all_tenants()` for operators.

  /// Starts a run of (tenant, queue) pinned to `version` (empty: the
  /// resolved version). `input_json`: any JSON value. With an
  /// idempotency key that was used before, returns that run. On an
  /// executing node a run queued at its tenant's concurrency limit is
  /// answered when it is admitted or at the tenant's admission deadline
  /// (then still PENDING and queued); in reject mode the start fails.
  /// Errors: `unknown_tenant`, `unknown_queue`/`unknown_version`,
  /// `malformed_json`, `payload_too_large`, `invalid_argument`,
  /// `tenant_at_limit`, `quota_exceeded`.
  [[nodiscard]] caf::expected<run_created>
  start_run(std::string_view raw_tenant, const std::string& queue, const std::string& input_json,
            const std::string& version = {}, const std::string& idempotency_key = {});
  /// Delivers event `event` with a JSON payload. Errors: `not_found`,
  /// `run_finished`, `malformed_json`, `invalid_argument`.
  [[nodiscard]] caf::expected<signal_accepted> signal_run(const tenant_scope& scope, int64_t run,
                                                          const std::string& event,
                                                          const std::string& payload_json);
  /// Cancels a run (at once, or at its next step boundary if a node drives it).
  [[nodiscard]] caf::expected<cancel_outcome> cancel_run(const tenant_scope& scope, int64_t run,
                                                         const std::string& reason);
  [[nodiscard]] caf::expected<run_record> get_run(const tenant_scope& scope, int64_t run);
  /// Runs ordered by id after `after_run`, of one status or any (none).
  [[nodiscard]] caf::expected<std::vector<run_record>> list_runs(const tenant_scope& scope,
                                                                 caf::optional<run_status> status,
                                                                 int64_t after_run, int32_t limit);
  [[nodiscard]] caf::expected<std::vector<history_record>> run_history(const tenant_scope& scope,
                                                                       int64_t run);
  /// The run's step attempts as the ledger counted them, in start order.
  [[nodiscard]] caf::expected<std::vector<attempt_record>> run_attempts(const tenant_scope& scope,
                                                                        int64_t run);
  /// Polls the store until the run is finished (or WAITING, if
  /// `stop_at_waiting`), or `timeout` passed (then `deadline_exceeded`).
  [[nodiscard]] caf::expected<run_record> wait_for_run(const tenant_scope& scope, int64_t run,
                                                       std::chrono::milliseconds timeout,
                                                       bool stop_at_waiting = true);

  /// Stores a subscription document (FORMATS.md) for a tenant.
  [[nodiscard]] caf::expected<subscription_record> put_subscription(std::string_view raw_tenant,
                                                                    std::string_view text);
  [[nodiscard]] caf::expected<std::vector<subscription_record>>
  list_subscriptions(std::string_view raw_tenant);
  /// The period, limit (with their sources) and usage in force now.
  [[nodiscard]] caf::expected<quota_summary> summarize_quota(std::string_view raw_tenant);
  /// An operator's resume of a run paused on quota. The tenant must own the
  /// run (else `not_found`) and the run must wait on quota (else
  /// `invalid_argument`). Without quota left the outcome is not resumed and
  /// carries used, limit and period.
  [[nodiscard]] caf::expected<resume_outcome> resume_run(std::string_view raw_tenant, int64_t run);
  /// One resume scan now (what the periodic scanner does); the runs resumed.
  [[nodiscard]] caf::expected<int64_t> scan_quota_waits();

  /// Creates or replaces schedule `id` of the tenant from its document.
  /// Errors: `invalid_argument` (id), `invalid_config`, `malformed_json`,
  /// `unknown_tenant`, `unknown_queue`, `unknown_version`.
  [[nodiscard]] caf::expected<schedule_view>
  put_schedule(std::string_view raw_tenant, const std::string& id, std::string_view text);
  /// One schedule with its next fire times. Errors: `not_found`.
  [[nodiscard]] caf::expected<schedule_view> get_schedule(std::string_view raw_tenant,
                                                          const std::string& id);
  [[nodiscard]] caf::expected<std::vector<schedule_view>>
  list_schedules(std::string_view raw_tenant);
  /// Removes a schedule (its runs stay). Errors: `not_found`.
  [[nodiscard]] caf::expected<int64_t> delete_schedule(std::string_view raw_tenant,
                                                       const std::string& id);
  /// Pauses or resumes a schedule. Errors: `not_found`.
  [[nodiscard]] caf::expected<schedule_view> pause_schedule(std::string_view raw_tenant,
                                                            const std::string& id, bool paused);
  /// Usage counter vs ledger of the period starting at `period_start_ms`
  /// (0 = the current period). Errors: `not_found` for an unknown period.
  [[nodiscard]] caf::expected<usage_reconciliation> reconcile_quota(std::string_view raw_tenant,
                                                                    int64_t period_start_ms = 0);

  /// Admission limits, usage and refusals per tenant (blank = all tenants).
  [[nodiscard]] caf::expected<std::vector<flowgate::tenant_stats>>
  tenant_stats(std::string_view raw_tenant);
  /// Replays a stored history against its pinned pipeline and this engine.
  /// A run outside `scope` is `not_found`, like a missing one.
  [[nodiscard]] caf::expected<replay_report> replay(const tenant_scope& scope, int64_t run);
  /// Every registered serving node: live or not, incarnation, heartbeat,
  /// runs held (`flowgate cluster status`).
  [[nodiscard]] caf::expected<std::vector<node_record>> list_nodes();
  /// Verifies the stored invariants (persistence/store_check.hpp) of one
  /// tenant, or of every tenant with `tenant_scope::all_tenants()`; waits
  /// up to an hour (it reads the whole database).
  [[nodiscard]] caf::expected<check_report> check(const tenant_scope& scope,
                                                  int32_t max_findings = 1000);

  // -- API keys (operator scope) ---------------------------------------------------

  /// A new key for `raw_tenant`, or (`operator_key`) for every tenant. The
  /// answer holds the key itself, the only time it is shown.
  [[nodiscard]] caf::expected<key_created> create_key(std::string_view raw_tenant,
                                                      bool operator_key, const std::string& name);
  /// Every key (blank tenant) or one tenant's, without their secrets.
  [[nodiscard]] caf::expected<std::vector<api_key_record>> list_keys(std::string_view raw_tenant);
  /// Revokes a key: every request with it fails from then on, on every node.
  [[nodiscard]] caf::expected<api_key_record> revoke_key(const std::string& key_id);

  std::chrono::milliseconds request_timeout{15'000};

protected:
  /// For a node, whose gateway is spawned after the client part is made.
  void attach(gateway_actor gateway) { gateway_ = std::move(gateway); }

  caf::actor_system& sys_;

private:
  /// One request with this client's key.
  template <class R, class Req> caf::expected<R> ask(std::chrono::milliseconds timeout, Req req);

  gateway_actor gateway_;
  std::string key_;
};

} // namespace flowgate
