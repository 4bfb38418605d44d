// The door a node publishes (gateway_door.hpp): API keys in, scopes out.

#include "actors/gateway_door.hpp"

#include "actors/log.hpp"
#include "config/api_key.hpp"
#include "config/tenant_config.hpp"
#include "messages/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <memory>
#include <type_traits>
#include <unordered_map>

namespace flowgate {

namespace {

using door_pointer = gateway_actor::pointer;

/// Requests only an operator key may make.
template <class Req>
constexpr bool operator_request =
  std::is_same_v<Req, list_tenants_request> || std::is_same_v<Req, db_info_request> ||
  std::is_same_v<Req, scan_quota_request> || std::is_same_v<Req, list_nodes_request> ||
  std::is_same_v<Req, create_key_request> || std::is_same_v<Req, list_keys_request> ||
  std::is_same_v<Req, revoke_key_request> || std::is_same_v<Req, cluster_news_request> ||
  std::is_same_v<Req, peer_hello_request>;

caf::error not_accepted() {
  return make_error(errc::unauthenticated,
                    "this request needs a valid API key (flowgate --key, $FLOWGATE_KEY): the key "
                    "given is missing, malformed, unknown or revoked");
}

/// The scope a valid key allows for what the client asked.
template <class Req>
caf::expected<tenant_scope> allowed_scope(const api_key_record& key, const tenant_scope& asked,
                                          const std::string& default_tenant_id) {
  if (key.tenant.empty()) {
    tenant_scope out = asked;
    out.key.clear();
    return out;
  }
  if constexpr (operator_request<Req>) {
    return make_error(errc::forbidden,
                      "this request needs an operator key; the key given belongs to tenant '" +
                        key.tenant + "'");
  } else {
    if (!asked.all && !blank_tenant_id(asked.tenant)) {
      auto named = normalize_tenant_id(asked.tenant, default_tenant_id);
      if (!named) {
        return named.error();
      }
      if (*named != key.tenant) {
        return make_error(errc::forbidden, "the key given belongs to tenant '" + key.tenant +
                                             "'; it cannot act for tenant '" + *named + "'");
      }
    }
    tenant_scope out;
    out.tenant = key.tenant;
    return out;
  }
}

struct door_state {
  door_setup setup;
  /// Requests in flight per key id (from the key check to the answer).
  std::unordered_map<std::string, int64_t> in_flight;
};

template <class Out, class Req>
caf::typed_response_promise<Out> admit(door_pointer self, const std::shared_ptr<door_state>& st,
                                       Req& request) {
  auto rp = self->make_response_promise<Out>();
  auto parsed = parse_api_key(request.scope.key);
  if (!parsed) {
    rp.deliver(not_accepted());
    return rp;
  }
  auto held = std::make_shared<Req>(std::move(request));
  auto secret = std::make_shared<std::string>(std::move(parsed->secret));
  self->request(st->setup.reader, st->setup.request_timeout, find_api_key{parsed->id})
    .then(
      [self, st, rp, held, secret](api_key_record& key) mutable {
        if (key.revoked_at_ms != 0 ||
            !same_api_key_hash(api_key_hash(*secret), key.secret_sha256)) {
          log_line("warn", "remote request refused: API key not accepted",
                   {{"key_id", key.key_id}});
          rp.deliver(not_accepted());
          return;
        }
        auto scope = allowed_scope<Req>(key, held->scope, st->setup.default_tenant_id);
        if (!scope) {
          rp.deliver(scope.error());
          return;
        }
        auto& n = st->in_flight[key.key_id];
        if (n >= st->setup.max_key_requests) {
          log_line("warn", "remote request refused: too many in flight for its key",
                   {{"key_id", key.key_id}, {"limit", std::to_string(n)}});
          rp.deliver(make_error(errc::too_many_requests,
                                "API key " + key.key_id + " has " + std::to_string(n) +
                                  " requests in flight at this node, the most it may "
                                  "(FLOWGATE_MAX_KEY_REQUESTS); retry when some are answered"));
          return;
        }
        ++n;
        held->scope = std::move(*scope);
        auto id = key.key_id;
        auto done = [st, id] {
          if (auto it = st->in_flight.find(id); it != st->in_flight.end() && --it->second <= 0) {
            st->in_flight.erase(it);
          }
        };
        // No timeout of its own: the gateway's runner bounds every request
        // (a wait by its timeout) and answers, or fails the promise if it dies.
        self->request(st->setup.gateway, caf::infinite, std::move(*held))
          .then(
            [rp, done](Out& out) mutable {
              done();
              rp.deliver(std::move(out));
            },
            [rp, done](caf::error& err) mutable {
              done();
              rp.deliver(std::move(err));
            });
      },
      [rp](caf::error& err) mutable {
        rp.deliver(code_of(err) == errc::not_found ? not_accepted() : std::move(err));
      });
  return rp;
}

gateway_actor::behavior_type door(door_pointer self, std::shared_ptr<door_state> st) {
  return {
    [=](put_tenant_request& r) { return admit<tenant_record>(self, st, r); },
    [=](get_tenant_request& r) { return admit<tenant_record>(self, st, r); },
    [=](list_tenants_request& r) { return admit<std::vector<tenant_record>>(self, st, r); },
    [=](tenant_stats_request& r) { return admit<std::vector<tenant_stats>>(self, st, r); },
    [=](put_config_request& r) { return admit<config_stored>(self, st, r); },
    [=](get_config_request& r) { return admit<config_view>(self, st, r); },
    [=](activate_config_request& r) { return admit<config_activated>(self, st, r); },
    [=](list_configs_request& r) { return admit<std::vector<config_summary>>(self, st, r); },
    [=](db_info_request& r) { return admit<schema_info>(self, st, r); },
    [=](start_run_request& r) { return admit<run_created>(self, st, r); },
    [=](signal_run_request& r) { return admit<signal_accepted>(self, st, r); },
    [=](cancel_run_request& r) { return admit<cancel_outcome>(self, st, r); },
    [=](poke_run_request& r) { return admit<bool>(self, st, r); },
    [=](cluster_news_request& r) { return admit<bool>(self, st, r); },
    [=](peer_hello_request& r) { return admit<bool>(self, st, r); },
    [=](get_run_request& r) { return admit<run_record>(self, st, r); },
    [=](list_runs_request& r) { return admit<std::vector<run_record>>(self, st, r); },
    [=](run_history_request& r) { return admit<std::vector<history_record>>(self, st, r); },
    [=](run_attempts_request& r) { return admit<std::vector<attempt_record>>(self, st, r); },
    [=](wait_run_request& r) { return admit<run_record>(self, st, r); },
    [=](replay_run_request& r) { return admit<replay_report>(self, st, r); },
    [=](put_subscription_request& r) { return admit<subscription_record>(self, st, r); },
    [=](list_subscriptions_request& r) {
      return admit<std::vector<subscription_record>>(self, st, r);
    },
    [=](put_schedule_request& r) { return admit<schedule_view>(self, st, r); },
    [=](get_schedule_request& r) { return admit<schedule_view>(self, st, r); },
    [=](list_schedules_request& r) { return admit<std::vector<schedule_view>>(self, st, r); },
    [=](delete_schedule_request& r) { return admit<int64_t>(self, st, r); },
    [=](pause_schedule_request& r) { return admit<schedule_view>(self, st, r); },
    [=](quota_summary_request& r) { return admit<quota_summary>(self, st, r); },
    [=](resume_run_request& r) { return admit<resume_outcome>(self, st, r); },
    [=](reconcile_quota_request& r) { return admit<usage_reconciliation>(self, st, r); },
    [=](scan_quota_request& r) { return admit<int64_t>(self, st, r); },
    [=](list_nodes_request& r) { return admit<std::vector<node_record>>(self, st, r); },
    [=](check_request& r) { return admit<check_report>(self, st, r); },
    [=](create_key_request& r) { return admit<key_created>(self, st, r); },
    [=](list_keys_request& r) { return admit<std::vector<api_key_record>>(self, st, r); },
    [=](revoke_key_request& r) { return admit<api_key_record>(self, st, r); },
  };
}

} // namespace

gateway_actor spawn_gateway_door(caf::actor_system& sys, door_setup setup) {
  auto st = std::make_shared<door_state>();
  st->setup = std::move(setup);
  return sys.spawn(door, std::move(st));
}

} // namespace flowgate
