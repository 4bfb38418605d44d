#pragma once

/// The shared shape of actors that work in rounds (resume_scanner,
/// schedule_firer): `poll_atom` starts a periodic round (ignored while one
/// runs; after a round that found a full batch the next one follows at
/// once, else after `interval_ms`; 0 = no periodic rounds), `wake_atom`
/// runs one round now and answers what it did. Internal to actors/.

#include "messages/atoms.hpp"

#include <caf/response_promise.hpp>
#include <caf/result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>

namespace flowgate {

/// Called by a round when it is over: what it did, and whether its batch was full.
using round_done = std::function<void(int64_t, bool)>;

template <class Pointer> void schedule_round(Pointer self, int64_t interval_ms, bool at_once) {
  if (interval_ms <= 0) {
    return;
  }
  if (at_once) {
    self->send(self, poll_atom::value);
  } else {
    self->delayed_send(self, std::chrono::milliseconds{interval_ms}, poll_atom::value);
  }
}

/// The behaviour: `round(self, done)` runs one round. `busy` lives in the
/// actor's state.
template <class Behavior, class Pointer, class Round>
Behavior periodic_rounds(Pointer self, int64_t interval_ms, bool* busy, Round round) {
  schedule_round(self, interval_ms, false);
  return {
    [=](poll_atom) {
      if (*busy) {
        return;
      }
      *busy = true;
      round(self, [=](int64_t, bool full) {
        *busy = false;
        schedule_round(self, interval_ms, full);
      });
    },
    [=](wake_atom) -> caf::result<int64_t> {
      auto rp = self->template make_response_promise<int64_t>();
      round(self, [rp](int64_t n, bool) mutable { rp.deliver(n); });
      return rp;
    },
  };
}

} // namespace flowgate
