#include "actors/config_registry.hpp"

#include "actors/wall_clock.hpp"

#include "config/pipeline_parser.hpp"
#include "messages/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/timestamp.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <deque>
#include <map>
#include <tuple>

namespace flowgate {

namespace {

using cache_key = std::tuple<std::string, std::string, std::string>;

struct config_registry_state {
  // Declared so the state is no aggregate: CAF would try to build it from `self`.
  config_registry_state() = default;

  store_writer_actor writer;
  store_reader_actor reader;
  config_registry_settings settings;
  std::map<cache_key, config_snapshot_ptr> cache;
  std::deque<cache_key> cache_order;
  static inline const char* name = "flowgate.config_registry";
};

using registry_pointer = config_registry_actor::stateful_pointer<config_registry_state>;
using snapshot_promise = caf::typed_response_promise<config_snapshot_ptr>;

void remember(registry_pointer self, const config_snapshot_ptr& snap) {
  auto& st = self->state;
  cache_key key{snap->tenant, snap->queue, snap->version};
  if (st.cache.emplace(key, snap).second) {
    st.cache_order.push_back(std::move(key));
    while (st.cache.size() > st.settings.cache_capacity && !st.cache_order.empty()) {
      st.cache.erase(st.cache_order.front());
      st.cache_order.pop_front();
    }
  }
}

caf::error check_names(const queue_name& queue, const config_version& version, bool pinned) {
  if (!is_valid_queue_name(queue.value)) {
    return make_error(errc::invalid_argument,
                      "queue '" + queue.value + "' must match [A-Za-z0-9._-]{1,128}");
  }
  if (pinned && !is_valid_version_label(version.value)) {
    return make_error(errc::invalid_argument,
                      "version '" + version.value + "' must match [A-Za-z0-9._-]{1,64}");
  }
  return {};
}

/// Turns a stored document into a cached snapshot. Documents were validated
/// on put; a failure here means the stored row is corrupt or the validator
/// became stricter, and it is reported, never papered over.
caf::expected<config_snapshot_ptr> load_snapshot(registry_pointer self,
                                                 const config_document& doc) {
  pipeline_limits limits;
  limits.max_document_bytes =
    std::max(self->state.settings.max_document_bytes, doc.document.size());
  auto parsed = parse_pipeline_text(doc.document, doc.version.value, limits);
  if (!parsed) {
    return make_error(errc::invalid_config, "stored config of tenant '" + doc.tenant.value +
                                              "' queue '" + doc.queue.value + "' version '" +
                                              doc.version.value +
                                              "' no longer validates: " + describe(parsed.error()));
  }
  if (parsed->checksum != doc.checksum) {
    return make_error(errc::store_failure, "stored config of tenant '" + doc.tenant.value +
                                             "' queue '" + doc.queue.value + "' version '" +
                                             doc.version.value + "' does not match its checksum");
  }
  auto snap = make_snapshot(doc.tenant.value, doc.queue.value, doc.version.value, doc.checksum,
                            doc.document, std::move(parsed->definition));
  remember(self, snap);
  return snap;
}

void resolve(registry_pointer self, snapshot_promise rp, tenant_id tenant, queue_name queue,
             config_version version, bool may_fall_back, tenant_id fallback_from = {});

/// Answers an error; after a fallback, says which tenant asked.
void deliver_error(snapshot_promise& rp, caf::error err, const tenant_id& fallback_from,
                   const queue_name& queue) {
  if (fallback_from.value.empty() || code_of(err) == errc::none) {
    rp.deliver(std::move(err));
    return;
  }
  rp.deliver(make_error(
    code_of(err), "tenant '" + fallback_from.value + "' has no config for queue '" + queue.value +
                    "' and the default tenant's cannot be used: " + describe(err)));
}

/// Called when (tenant, queue) yields nothing: use the default tenant's
/// config if the tenant has none at all for this queue.
void fall_back(registry_pointer self, snapshot_promise rp, tenant_id tenant, queue_name queue,
               config_version version, caf::error original) {
  auto& st = self->state;
  if (tenant.value == st.settings.default_tenant_id) {
    rp.deliver(std::move(original));
    return;
  }
  self->request(st.reader, st.settings.store_timeout, list_configs{tenant, queue})
    .then(
      [=](const std::vector<config_summary>& existing) mutable {
        if (!existing.empty()) {
          rp.deliver(std::move(original));
          return;
        }
        resolve(self, rp, tenant_id{self->state.settings.default_tenant_id}, queue, version, false,
                tenant);
      },
      [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

void resolve(registry_pointer self, snapshot_promise rp, tenant_id tenant, queue_name queue,
             config_version version, bool may_fall_back, tenant_id fallback_from) {
  auto& st = self->state;
  if (version.value.empty()) {
    config_version fallback_version{st.settings.default_config_version};
    self
      ->request(st.reader, st.settings.store_timeout,
                find_runnable_version{tenant, queue, fallback_version})
      .then(
        [=](config_version& found) mutable {
          if (!found.value.empty()) {
            resolve(self, rp, tenant, queue, std::move(found), may_fall_back, fallback_from);
            return;
          }
          auto err =
            make_error(errc::unknown_queue, "tenant '" + tenant.value + "' queue '" + queue.value +
                                              "' has no active version and no default version '" +
                                              fallback_version.value + "'");
          if (may_fall_back) {
            fall_back(self, rp, tenant, queue, version, std::move(err));
          } else {
            deliver_error(rp, std::move(err), fallback_from, queue);
          }
        },
        [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
    return;
  }
  auto hit = st.cache.find(cache_key{tenant.value, queue.value, version.value});
  if (hit != st.cache.end()) {
    rp.deliver(hit->second);
    return;
  }
  self->request(st.reader, st.settings.store_timeout, find_config{tenant, queue, version})
    .then(
      [=](config_document& doc) mutable {
        auto snap = load_snapshot(self, doc);
        if (snap) {
          rp.deliver(std::move(*snap));
        } else {
          rp.deliver(std::move(snap.error()));
        }
      },
      [=](caf::error& err) mutable {
        if (may_fall_back && code_of(err) == errc::unknown_version) {
          fall_back(self, rp, tenant, queue, version, std::move(err));
        } else {
          deliver_error(rp, std::move(err), fallback_from, queue);
        }
      });
}

config_registry_actor::behavior_type config_registry(registry_pointer self,
                                                     store_writer_actor writer,
                                                     store_reader_actor reader,
                                                     config_registry_settings settings) {
  self->state.writer = std::move(writer);
  self->state.reader = std::move(reader);
  self->state.settings = std::move(settings);
  return {
    [=](put_atom, tenant_id& tenant, queue_name& queue, config_version& version,
        std::string& text) -> caf::result<config_stored> {
      if (auto err = check_names(queue, version, true)) {
        return err;
      }
      pipeline_limits limits;
      limits.max_document_bytes = self->state.settings.max_document_bytes;
      auto parsed = parse_pipeline_text(text, version.value, limits);
      if (!parsed) {
        return std::move(parsed.error());
      }
      config_document doc{tenant,
                          queue,
                          version,
                          parsed->checksum,
                          parsed->definition.name,
                          parsed->canonical_text,
                          wall_clock_ms(self->home_system()),
                          false};
      auto snap = make_snapshot(tenant.value, queue.value, version.value, parsed->checksum,
                                parsed->canonical_text, std::move(parsed->definition));
      auto rp = self->make_response_promise<config_stored>();
      self
        ->request(self->state.writer, self->state.settings.store_timeout,
                  store_config{std::move(doc)})
        .then(
          [=](config_stored& stored) mutable {
            remember(self, snap);
            rp.deliver(std::move(stored));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](get_atom, tenant_id& tenant, queue_name& queue,
        config_version& version) -> caf::result<config_snapshot_ptr> {
      if (auto err = check_names(queue, version, !version.value.empty())) {
        return err;
      }
      auto rp = self->make_response_promise<config_snapshot_ptr>();
      resolve(self, rp, std::move(tenant), std::move(queue), std::move(version), true);
      return rp;
    },
    [=](activate_atom, tenant_id& tenant, queue_name& queue,
        config_version& version) -> caf::result<config_activated> {
      if (auto err = check_names(queue, version, true)) {
        return err;
      }
      auto rp = self->make_response_promise<config_activated>();
      self
        ->request(self->state.writer, self->state.settings.store_timeout,
                  activate_config{tenant, queue, version, wall_clock_ms(self->home_system())})
        .then([=](config_activated& done) mutable { rp.deliver(std::move(done)); },
              [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](list_atom, tenant_id& tenant,
        queue_name& queue) -> caf::result<std::vector<config_summary>> {
      auto rp = self->make_response_promise<std::vector<config_summary>>();
      self
        ->request(self->state.reader, self->state.settings.store_timeout,
                  list_configs{tenant, queue})
        .then([=](std::vector<config_summary>& xs) mutable { rp.deliver(std::move(xs)); },
              [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
  };
}

} // namespace

config_registry_actor spawn_config_registry(caf::actor_system& sys, store_writer_actor writer,
                                            store_reader_actor reader,
                                            config_registry_settings settings) {
  return sys.spawn(config_registry, std::move(writer), std::move(reader), std::move(settings));
}

} // namespace flowgate
