#pragma once

/// What a driver does after the store paused one of its runs on quota
/// (an append cut before a step, or a claim that recorded a run's kept
/// first step): the pause was decided under the driver's cached terms. If
/// the tenant's terms changed since (a subscription raised through another
/// process, whose resume scan may already have run), the run is resumed at
/// once rather than at the next scan.
///
/// Used by the orchestrator and the dispatcher (actors/orchestrator.cpp,
/// actors/dispatcher.cpp); `Self` is either's typed actor pointer. The
/// accountant's cached terms of the tenant are dropped first, so the
/// terms read are the store's now.

#include "actors/log.hpp"
#include "actors/node_local.hpp"
#include "config/billing.hpp"

#include <cstdint>
#include <string>

namespace flowgate {

/// Logs the pause (`paused_message`, warn: `who` names the run, then the
/// period, the step, the count and the limit), then checks. `done(resumed)`
/// runs on `self` when the check ends: true if the run was resumed under
/// fresh terms (also logged, info, with the fresh limit), false otherwise
/// (terms unchanged, or any error: the resume scanner still covers the run).
template <class Self, class Done>
void recheck_quota_pause(Self* self, const quota_accountant_actor& accountant,
                         const store_writer_actor& writer, const quota_exhausted& x, log_fields who,
                         const char* paused_message, Done done) {
  auto fields = who;
  fields.emplace_back("period_start", format_rfc3339(x.period_start_ms));
  fields.emplace_back("period_end", format_rfc3339(x.period_end_ms));
  fields.emplace_back("step", x.node_path);
  fields.emplace_back("used", std::to_string(x.used));
  fields.emplace_back("limit", std::to_string(x.limit));
  log_line("warn", paused_message, fields);
  self->send(accountant, put_atom::value, x.tenant);
  self->request(accountant, local_reply, get_atom::value, x.tenant)
    .then(
      [=](quota_terms& fresh) {
        bool changed = fresh.limit != x.limit || fresh.period_start_ms != x.period_start_ms ||
                       fresh.period_end_ms != x.period_end_ms;
        if (!changed) {
          done(false);
          return;
        }
        self->request(writer, local_reply, resume_run{x.run, fresh, 0})
          .then(
            [=](resume_outcome& r) {
              if (r.resumed) {
                auto f = who;
                f.emplace_back("limit", std::to_string(fresh.limit));
                log_line("info", "run resumed: the tenant's fresh quota terms cover the step", f);
              }
              done(r.resumed);
            },
            [=](caf::error&) { done(false); });
      },
      [=](caf::error&) { done(false); });
}

} // namespace flowgate
