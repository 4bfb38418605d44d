#include "actors/resume_scanner.hpp"

#include "actors/log.hpp"
#include "actors/node_local.hpp"
#include "actors/periodic_rounds.hpp"
#include "actors/quota_accountant.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <functional>
#include <memory>

namespace flowgate {

namespace {

struct scanner_state {
  // Declared so the state is no aggregate: CAF would try to build it from `self`.
  scanner_state() = default;

  scanner_setup setup;
  bool periodic_scanning = false;
  static inline const char* name = "flowgate.resume_scanner";
};

using scanner_pointer = resume_scanner_actor::stateful_pointer<scanner_state>;

/// One scan's progress over its tenants.
struct scan {
  int64_t resumed = 0;
  size_t open = 0;
  bool full = false;
  round_done done;
};

void finish_tenant(scanner_pointer self, const std::shared_ptr<scan>& sc) {
  if (--sc->open != 0) {
    return;
  }
  if (sc->resumed > 0 && self->state.setup.dispatcher) {
    self->send(self->state.setup.dispatcher, poll_atom::value);
  }
  sc->done(sc->resumed, sc->full);
}

void resume_tenant(scanner_pointer self, const std::shared_ptr<scan>& sc, const tenant_id& t) {
  auto& st = self->state;
  auto fail = [=](caf::error& err) {
    log_line("warn", "resuming quota waits failed",
             {{"tenant", t.value}, {"error", self->home_system().render(err)}});
    finish_tenant(self, sc);
  };
  self->request(st.setup.accountant, local_reply, get_atom::value, t)
    .then(
      [=](quota_terms& terms) {
        auto batch = self->state.setup.batch;
        self->request(self->state.setup.writer, local_reply, resume_quota_waits{terms, batch, 0})
          .then(
            [=](int64_t n) {
              if (n > 0) {
                auto fields = period_fields(terms);
                fields.emplace_back("resumed", std::to_string(n));
                fields.emplace_back("limit", std::to_string(terms.limit));
                log_line("info", "quota waits resumed", fields);
              }
              sc->resumed += n;
              sc->full = sc->full || n >= batch;
              finish_tenant(self, sc);
            },
            fail);
      },
      fail);
}

void run_scan(scanner_pointer self, round_done done) {
  auto sc = std::make_shared<scan>();
  sc->done = std::move(done);
  self->request(self->state.setup.reader, local_reply, list_quota_tenants{1000})
    .then(
      [=](std::vector<tenant_id>& tenants) {
        if (tenants.empty()) {
          sc->done(0, false);
          return;
        }
        sc->open = tenants.size();
        for (const auto& t : tenants) {
          resume_tenant(self, sc, t);
        }
      },
      [=](caf::error& err) {
        log_line("warn", "listing quota waits failed",
                 {{"error", self->home_system().render(err)}});
        sc->done(0, false);
      });
}

resume_scanner_actor::behavior_type scanner(scanner_pointer self, scanner_setup setup) {
  self->state.setup = std::move(setup);
  return periodic_rounds<resume_scanner_actor::behavior_type>(
    self, self->state.setup.interval_ms, &self->state.periodic_scanning, run_scan);
}

} // namespace

resume_scanner_actor spawn_resume_scanner(caf::actor_system& sys, scanner_setup setup) {
  return sys.spawn(scanner, std::move(setup));
}

} // namespace flowgate
