// Waiting for the threads of detached actors before an actor system dies
// (messages/actor_threads.hpp).

#include "messages/actor_threads.hpp"
#include "messages/registration.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

using namespace flowgate;
using namespace std::chrono_literals;

namespace {

/// A detached actor that counts its thread and waits to be told to exit.
/// The unused argument: CAF 0.17 keeps a function actor's arguments in a
/// shared_ptr that is null when there are none, and dereferences it anyway
/// (UBSan: reference binding to null pointer).
caf::behavior counted(caf::event_based_actor* self, int32_t) {
  mark_detached_thread(self->home_system());
  return {
    [](int32_t x) { return x; },
  };
}

} // namespace

BOOST_AUTO_TEST_SUITE(actor_threads)

// An actor unregisters from its system before its last cleanup (CAF's
// `await_all_actors_done` returns then); the wait goes on until the
// actor's thread ended. The attachable below runs in that gap.
BOOST_AUTO_TEST_CASE(the_join_waits_for_a_detached_actors_thread_not_only_for_the_actor) {
  caf::actor_system_config cfg;
  register_types(cfg);
  caf::actor_system sys{cfg};
  auto finished = std::make_shared<std::atomic<bool>>(false);
  auto a = sys.spawn<caf::detached>(counted, 0);
  a->attach_functor([finished] {
    std::this_thread::sleep_for(300ms);
    finished->store(true);
  });
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  a = nullptr;
  join_actor_threads(sys);
  BOOST_TEST(finished->load());
}

// Hundreds of detached actors ending at once, then the system destroyed:
// without the join CAF 0.17 can block for ever in its destructor (the
// clock's 64-slot queue fills after the clock's thread stopped). Each
// actor's cleanup is slowed after it unregistered, as a preempted thread
// would be: without the join this hangs every time.
BOOST_AUTO_TEST_CASE(systems_whose_many_detached_actors_end_at_once_are_destroyed) {
  for (int round = 0; round < 3; ++round) {
    caf::actor_system_config cfg;
    register_types(cfg);
    caf::actor_system sys{cfg};
    actor_threads_joined joined{sys};
    std::vector<caf::actor> actors;
    for (int i = 0; i < 300; ++i) {
      actors.push_back(sys.spawn<caf::detached>(counted, 0));
      actors.back()->attach_functor([] { std::this_thread::sleep_for(50ms); });
    }
    for (auto& a : actors) {
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    }
    actors.clear();
  }
  BOOST_TEST(true); // it returned
}

BOOST_AUTO_TEST_SUITE_END()
