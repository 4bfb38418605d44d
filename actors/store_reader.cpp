#include "actors/store_reader.hpp"

#include "actors/wall_clock.hpp"
#include "messages/actor_threads.hpp"

#include "persistence/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace flowgate {

namespace {

struct store_reader_state {
  // Declared so the state is no aggregate: CAF would try to build it from `self`.
  store_reader_state() = default;

  std::shared_ptr<read_session> session;
  static inline const char* name = "flowgate.store_reader";
};

using reader_pointer = store_reader_actor::stateful_pointer<store_reader_state>;

store_reader_actor::behavior_type store_reader(reader_pointer self,
                                               std::shared_ptr<read_session> session) {
  mark_detached_thread(self->home_system());
  self->state.session = std::move(session);
  auto& s = *self->state.session;
  return {
    [&s](const find_tenant& q) -> caf::result<tenant_record> { return s.apply(q); },
    [&s](const list_tenants& q) -> caf::result<std::vector<tenant_record>> { return s.apply(q); },
    [&s](const find_config& q) -> caf::result<config_document> { return s.apply(q); },
    [&s](const find_runnable_version& q) -> caf::result<config_version> { return s.apply(q); },
    [&s](const list_configs& q) -> caf::result<std::vector<config_summary>> { return s.apply(q); },
    [&s](const read_schema_info& q) -> caf::result<schema_info> { return s.apply(q); },
    [&s](const find_run& q) -> caf::result<run_record> { return s.apply(q); },
    [&s](const find_runs& q) -> caf::result<std::vector<run_record>> { return s.apply(q); },
    [&s](const list_runs& q) -> caf::result<std::vector<run_record>> { return s.apply(q); },
    [&s](const load_history& q) -> caf::result<std::vector<history_record>> { return s.apply(q); },
    [&s](const load_attempts& q) -> caf::result<std::vector<attempt_record>> { return s.apply(q); },
    [&s](const read_tenant_stats& q) -> caf::result<std::vector<tenant_stats>> {
      return s.apply(q);
    },
    [&s](const list_subscriptions& q) -> caf::result<std::vector<subscription_record>> {
      return s.apply(q);
    },
    [&s](const list_schedules& q) -> caf::result<std::vector<schedule_record>> {
      return s.apply(q);
    },
    [&s](const due_schedules& q) -> caf::result<std::vector<schedule_record>> {
      return s.apply(q);
    },
    [&s](const find_usage& q) -> caf::result<int64_t> { return s.apply(q); },
    [&s](const list_quota_tenants& q) -> caf::result<std::vector<tenant_id>> { return s.apply(q); },
    [&s](const reconcile_usage& q) -> caf::result<usage_reconciliation> { return s.apply(q); },
    [&s](const find_api_key& q) -> caf::result<api_key_record> { return s.apply(q); },
    [&s](const list_api_keys& q) -> caf::result<std::vector<api_key_record>> { return s.apply(q); },
    [&s, self](list_nodes& q) -> caf::result<std::vector<node_record>> {
      if (q.now_ms == 0) {
        q.now_ms = wall_clock_ms(self->home_system());
      }
      return s.apply(q);
    },
    [&s, self](check_database& q) -> caf::result<check_report> {
      if (q.now_ms == 0) {
        q.now_ms = wall_clock_ms(self->home_system());
      }
      return s.apply(q);
    },
  };
}

} // namespace

store_reader_actor spawn_store_reader(caf::actor_system& sys,
                                      std::shared_ptr<read_session> session) {
  if (!spawns_detached(sys)) {
    return sys.spawn(store_reader, std::move(session));
  }
  return sys.spawn<caf::detached>(store_reader, std::move(session));
}

} // namespace flowgate
