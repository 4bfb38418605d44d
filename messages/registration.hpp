#pragma once

/// Registers flowgate's message types and error category with an actor
/// system config. Call once on every `caf::actor_system_config` that hosts
/// flowgate actors (the same names on every node).

namespace caf {
class actor_system_config;
} // namespace caf

namespace flowgate {

/// Adds every serializable flowgate message type, the `flowgate` error
/// category (so `sys.render(e)` prints the sentence) and the thread hook of
/// messages/actor_threads.hpp.
void register_types(caf::actor_system_config& cfg);

} // namespace flowgate
