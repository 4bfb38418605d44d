#include "actors/quota_accountant.hpp"

#include "actors/log.hpp"
#include "actors/node_local.hpp"
#include "actors/wall_clock.hpp"
#include "config/billing.hpp"
#include "messages/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <functional>
#include <unordered_map>

namespace flowgate {

namespace {

struct cached_terms {
  quota_terms terms;
  int64_t expires_ms = 0;
};

struct queued_reservation {
  reserve_step step;
  caf::typed_response_promise<step_reservation> promise;
};

/// Called with the terms, or with the error that prevented resolving them.
using terms_callback = std::function<void(const quota_terms*, const caf::error*)>;

struct accountant_state {
  // Declared so the state is no aggregate: CAF would try to build it from `self`.
  accountant_state() = default;

  accountant_setup setup;
  std::unordered_map<std::string, cached_terms> cache;
  /// Callers waiting for terms being resolved, per tenant.
  std::unordered_map<std::string, std::vector<terms_callback>> resolving;
  std::vector<queued_reservation> queued;
  bool batch_in_flight = false;
  accountant_stats stats;
  static inline const char* name = "flowgate.quota_accountant";
};

using accountant_pointer = quota_accountant_actor::stateful_pointer<accountant_state>;

void deliver_all(accountant_pointer self, const std::string& tenant, const quota_terms* terms,
                 const caf::error* err) {
  auto it = self->state.resolving.find(tenant);
  if (it == self->state.resolving.end()) {
    return;
  }
  auto waiting = std::move(it->second);
  self->state.resolving.erase(it);
  for (auto& f : waiting) {
    f(terms, err);
  }
}

void log_resolution(const quota_terms& t) {
  auto fields = period_fields(t);
  if (t.period_source == "calendar month") {
    log_line("info", "no valid subscription: the billing period is the UTC calendar month", fields);
  }
  for (const auto& w : t.warnings) {
    auto f = fields;
    f.emplace_back("warning", w);
    log_line("warn", "billing metadata ignored", f);
  }
}

/// Reads the tenant and its subscriptions, resolves its terms, caches them
/// and answers everyone waiting for them.
void resolve(accountant_pointer self, const tenant_id& tenant) {
  auto& st = self->state;
  st.stats.terms_resolved += 1;
  auto fail = [self, key = tenant.value](caf::error& err) {
    deliver_all(self, key, nullptr, &err);
  };
  self->request(st.setup.reader, local_reply, find_tenant{tenant})
    .then(
      [=](tenant_record& t) {
        self->request(self->state.setup.reader, local_reply, list_subscriptions{tenant})
          .then(
            [=](std::vector<subscription_record>& subs) {
              std::vector<subscription> plain;
              for (const auto& x : subs) {
                plain.push_back(subscription{x.id, x.status, x.period_start_ms, x.period_end_ms,
                                             x.price_metadata, x.product_metadata});
              }
              auto now = wall_clock_ms(self->home_system());
              auto p = resolve_billing_period(plain, t.tier, now);
              quota_terms terms{tenant, p.start_ms,      p.end_ms,       p.limit,
                                t.tier, p.period_source, p.limit_source, p.warnings};
              log_resolution(terms);
              auto& s = self->state;
              s.cache[tenant.value] =
                cached_terms{terms, std::min(p.end_ms, now + s.setup.terms_ttl_ms)};
              deliver_all(self, tenant.value, &terms, nullptr);
            },
            fail);
      },
      fail);
}

/// Calls `f` with the tenant's terms: from the cache if fresh, else once
/// they are resolved (one resolution per tenant at a time).
void with_terms(accountant_pointer self, const tenant_id& tenant, terms_callback f) {
  auto& st = self->state;
  auto it = st.cache.find(tenant.value);
  if (it != st.cache.end() && it->second.expires_ms > wall_clock_ms(self->home_system())) {
    st.stats.terms_cached += 1;
    f(&it->second.terms, nullptr);
    return;
  }
  auto& waiting = st.resolving[tenant.value];
  waiting.push_back(std::move(f));
  if (waiting.size() == 1) {
    resolve(self, tenant);
  }
}

void flush(accountant_pointer self) {
  auto& st = self->state;
  if (st.batch_in_flight || st.queued.empty()) {
    return;
  }
  auto batch = std::make_shared<std::vector<queued_reservation>>(std::move(st.queued));
  st.queued.clear();
  reserve_steps op;
  op.steps.reserve(batch->size());
  for (const auto& q : *batch) {
    op.steps.push_back(q.step);
  }
  st.batch_in_flight = true;
  st.stats.batches += 1;
  self->request(st.setup.writer, local_reply, std::move(op))
    .then(
      [=](std::vector<step_reservation>& out) {
        auto& s = self->state;
        s.batch_in_flight = false;
        for (size_t i = 0; i < batch->size() && i < out.size(); ++i) {
          auto& q = (*batch)[i];
          const auto& r = out[i];
          quota_terms t{q.step.tenant, r.period_start_ms, r.period_end_ms, r.limit, {}, {}, {}, {}};
          auto fields = period_fields(t);
          fields.emplace_back("run", std::to_string(q.step.run.value));
          fields.emplace_back("step", q.step.step_path);
          fields.emplace_back("attempt", std::to_string(q.step.attempt));
          fields.emplace_back("used", std::to_string(r.used));
          fields.emplace_back("limit", std::to_string(r.limit));
          if (r.granted) {
            s.stats.granted += 1;
            if (log_enabled("debug")) {
              log_line("debug", "step reservation granted", fields);
            }
          } else {
            s.stats.refused += 1;
            log_line("warn", "step quota exhausted", fields);
          }
          q.promise.deliver(r);
        }
        flush(self);
      },
      [=](caf::error& err) {
        self->state.batch_in_flight = false;
        for (auto& q : *batch) {
          q.promise.deliver(err);
        }
        flush(self);
      });
}

quota_accountant_actor::behavior_type accountant(accountant_pointer self, accountant_setup setup) {
  self->state.setup = std::move(setup);
  return {
    [=](get_atom, tenant_id& tenant) -> caf::result<quota_terms> {
      auto rp = self->make_response_promise<quota_terms>();
      with_terms(self, tenant, [rp](const quota_terms* t, const caf::error* err) mutable {
        if (t != nullptr) {
          rp.deliver(*t);
        } else {
          rp.deliver(*err);
        }
      });
      return rp;
    },
    [=](reserve_step& step) -> caf::result<step_reservation> {
      auto rp = self->make_response_promise<step_reservation>();
      self->state.stats.reservations += 1;
      auto tenant = step.tenant;
      with_terms(self, tenant,
                 [=, s = std::move(step)](const quota_terms* t, const caf::error* err) mutable {
                   if (t == nullptr) {
                     rp.deliver(*err);
                     return;
                   }
                   s.period_start_ms = t->period_start_ms;
                   s.period_end_ms = t->period_end_ms;
                   s.limit = t->limit;
                   self->state.queued.push_back(queued_reservation{std::move(s), rp});
                   flush(self);
                 });
      return rp;
    },
    [=](put_atom, tenant_id& tenant) { self->state.cache.erase(tenant.value); },
    [=](stats_atom) { return self->state.stats; },
  };
}

} // namespace

std::vector<std::pair<std::string, std::string>> period_fields(const quota_terms& t) {
  return {{"tenant", t.tenant.value},
          {"period_start", format_rfc3339(t.period_start_ms)},
          {"period_end", format_rfc3339(t.period_end_ms)}};
}

quota_accountant_actor spawn_quota_accountant(caf::actor_system& sys, accountant_setup setup) {
  return sys.spawn(accountant, std::move(setup));
}

} // namespace flowgate
