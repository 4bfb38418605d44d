#pragma once

/// One request from a scoped (blocking) actor, waiting for its typed
/// answer: for code outside actors (flowgate::node's API) and for the
/// gateway's request runners, which run on threads of their own. Never from
/// an event-based actor's handler.

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>
#include <utility>

namespace flowgate {

template <class R, class Handle, class... Ts>
caf::expected<R> blocking_ask(caf::actor_system& sys, std::chrono::milliseconds timeout,
                              const Handle& dest, Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::expected<R> out{caf::error{}};
  self->request(dest, timeout, std::forward<Ts>(xs)...)
    .receive([&](R& x) { out = std::move(x); }, [&](caf::error& e) { out = std::move(e); });
  return out;
}

} // namespace flowgate
