#include "actors/schedule_firer.hpp"

#include "actors/log.hpp"
#include "actors/periodic_rounds.hpp"
#include "actors/wall_clock.hpp"
#include "config/billing.hpp"
#include "config/pipeline.hpp"
#include "config/schedule.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <functional>
#include <memory>

namespace flowgate {

namespace {

struct firer_state {
  // Declared so the state is no aggregate: CAF would try to build it from `self`.
  firer_state() = default;

  firer_setup setup;
  bool periodic_round = false;
  static inline const char* name = "flowgate.schedule_firer";
};

using firer_pointer = schedule_firer_actor::stateful_pointer<firer_state>;

/// One round's progress over its schedules.
struct round {
  int64_t started = 0;
  size_t open = 0;
  bool full = false;
  round_done done;
};

void finish_one(firer_pointer self, const std::shared_ptr<round>& r) {
  if (--r->open != 0) {
    return;
  }
  if (r->started > 0 && self->state.setup.dispatcher) {
    self->send(self->state.setup.dispatcher, poll_atom::value);
  }
  r->done(r->started, r->full);
}

void send_fire(firer_pointer self, const std::shared_ptr<round>& r, fire_schedule op) {
  auto tenant = op.tenant.value;
  auto id = op.id;
  self->request(self->state.setup.writer, local_reply, std::move(op))
    .then(
      [=](schedule_fired& fired) {
        if (!fired.stale) {
          log_line("info", "schedule fired",
                   {{"tenant", tenant},
                    {"schedule", id},
                    {"runs", std::to_string(fired.runs.size())},
                    {"skipped", std::to_string(fired.skipped)},
                    {"next_fire", fired.schedule.next_fire_ms > 0
                                    ? format_rfc3339(fired.schedule.next_fire_ms)
                                    : std::string{"none"}},
                    {"outcome", fired.schedule.last_outcome}});
        }
        r->started += static_cast<int64_t>(fired.runs.size());
        finish_one(self, r);
      },
      [=](caf::error& err) {
        log_line(
          "warn", "firing a schedule failed",
          {{"tenant", tenant}, {"schedule", id}, {"error", self->home_system().render(err)}});
        finish_one(self, r);
      });
}

void fire_one(firer_pointer self, const std::shared_ptr<round>& r, const schedule_record& s) {
  fire_schedule op;
  op.tenant = s.tenant;
  op.id = s.id;
  op.revision = s.revision;
  op.default_limit = self->state.setup.default_limit;
  auto spec = parse_schedule_text(s.document);
  if (!spec) {
    op.config_error = describe(spec.error());
    send_fire(self, r, std::move(op));
    return;
  }
  self
    ->request(self->state.setup.configs, local_reply, get_atom::value, s.tenant,
              queue_name{spec->queue}, config_version{spec->version})
    .then(
      [=](const config_snapshot_ptr& snap) mutable {
        op.version = snap->version;
        op.checksum = snap->checksum;
        send_fire(self, r, std::move(op));
      },
      [=](caf::error& err) mutable {
        // The fire is processed as skipped, with the reason recorded.
        op.config_error = describe(err);
        send_fire(self, r, std::move(op));
      });
}

void run_round(firer_pointer self, round_done done) {
  auto r = std::make_shared<round>();
  r->done = std::move(done);
  auto batch = self->state.setup.batch;
  self
    ->request(self->state.setup.reader, local_reply,
              due_schedules{wall_clock_ms(self->home_system()), batch})
    .then(
      [=](std::vector<schedule_record>& due) {
        if (due.empty()) {
          r->done(0, false);
          return;
        }
        r->open = due.size();
        r->full = due.size() >= static_cast<size_t>(batch);
        for (const auto& s : due) {
          fire_one(self, r, s);
        }
      },
      [=](caf::error& err) {
        log_line("warn", "listing due schedules failed",
                 {{"error", self->home_system().render(err)}});
        r->done(0, false);
      });
}

schedule_firer_actor::behavior_type firer(firer_pointer self, firer_setup setup) {
  self->state.setup = std::move(setup);
  return periodic_rounds<schedule_firer_actor::behavior_type>(
    self, self->state.setup.interval_ms, &self->state.periodic_round, run_round);
}

} // namespace

schedule_firer_actor spawn_schedule_firer(caf::actor_system& sys, firer_setup setup) {
  return sys.spawn(firer, std::move(setup));
}

} // namespace flowgate
