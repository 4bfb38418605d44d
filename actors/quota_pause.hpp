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

#include "actors/node_local.hpp"

#include <cstdint>
#include <optional>

namespace flowgate {

/// `done(resumed_limit)` runs on `self` when the check ends: the fresh
/// limit if the run was resumed under it, nullopt otherwise (terms
/// unchanged, or any error: the resume scanner still covers the run).
template <class Self, class Done>
void recheck_quota_pause(Self* self, const quota_accountant_actor& accountant,
                         const store_writer_actor& writer, const quota_exhausted& x, Done done) {
  self->send(accountant, put_atom::value, x.tenant);
  self->request(accountant, local_reply, get_atom::value, x.tenant)
    .then(
      [=](quota_terms& fresh) {
        bool changed = fresh.limit != x.limit || fresh.period_start_ms != x.period_start_ms ||
                       fresh.period_end_ms != x.period_end_ms;
        if (!changed) {
          done(std::optional<int64_t>{});
          return;
        }
        self->request(writer, local_reply, resume_run{x.run, fresh, 0})
          .then(
            [=](resume_outcome& r) {
              done(r.resumed ? std::optional<int64_t>{fresh.limit} : std::optional<int64_t>{});
            },
            [=](caf::error&) { done(std::optional<int64_t>{}); });
      },
      [=](caf::error&) { done(std::optional<int64_t>{}); });
}

} // namespace flowgate
