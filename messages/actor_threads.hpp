#pragma once

/// The threads of flowgate's detached actors (activity workers, the store's
/// reader and writer, the gateway's request runners, peer connectors), and
/// waiting for them to end before an actor system dies.
///
/// Why: CAF 0.17's `~actor_system` stops its clock's thread and only then
/// waits for the detached threads. Each detached actor makes one last push
/// to the clock's queue (64 slots) after it unregistered from the system,
/// so `await_all_actors_done` does not wait for it; once the clock's thread
/// is gone and the queue is full, the remaining pushes block for ever and
/// so does the destructor. Seen at the end of a test with 112 activity
/// workers, about once in 40 runs under load.
///
/// `register_types` (messages/registration.hpp) adds the thread hook that
/// counts; on a system whose config lacks it, `join_actor_threads` only
/// waits for the actors.

#include <caf/fwd.hpp>

namespace caf {
class actor_system_config;
} // namespace caf

namespace flowgate {

/// Adds the hook that sees each CAF thread end (register_types calls it).
void add_actor_thread_hook(caf::actor_system_config& cfg);

/// Called first thing on a detached actor's own thread (its behavior
/// function): the thread is counted until it ends.
void mark_detached_thread(caf::actor_system& sys);

/// Waits until every actor of `sys` has terminated and every counted
/// thread has ended (the clock's queue then holds all their pushes), the
/// threads for at most 5 s.
void join_actor_threads(caf::actor_system& sys);

/// Declare one right after the `caf::actor_system` that holds nodes (before
/// the nodes): at scope exit, after they are destroyed and before the
/// system is, it calls join_actor_threads.
class actor_threads_joined {
public:
  explicit actor_threads_joined(caf::actor_system& sys) : sys_(sys) {}
  actor_threads_joined(const actor_threads_joined&) = delete;
  actor_threads_joined& operator=(const actor_threads_joined&) = delete;
  ~actor_threads_joined() { join_actor_threads(sys_); }

private:
  caf::actor_system& sys_;
};

} // namespace flowgate
