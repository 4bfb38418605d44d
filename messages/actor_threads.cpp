#include "messages/actor_threads.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/thread_hook.hpp>

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

namespace flowgate {

namespace {

// Threads are outside any actor's mailbox: a mutex and a condition
// variable are the only way to wait for one to end.
struct thread_counts {
  std::mutex mtx;
  std::condition_variable ended;
  std::set<const caf::actor_system*> hooked;
  std::map<const caf::actor_system*, int> live;
};

thread_counts& counts() {
  static thread_counts c;
  return c;
}

/// The system whose detached actor this thread runs (null: not counted).
thread_local const caf::actor_system* counted_for = nullptr;

class actor_thread_hook final : public caf::thread_hook {
public:
  void init(caf::actor_system& sys) override {
    auto& c = counts();
    std::lock_guard<std::mutex> lock{c.mtx};
    c.hooked.insert(&sys);
  }

  void thread_started() override {}

  void thread_terminates() override {
    if (counted_for == nullptr) {
      return; // not counted, or a second hook of the same config
    }
    auto& c = counts();
    std::lock_guard<std::mutex> lock{c.mtx};
    if (auto i = c.live.find(counted_for); i != c.live.end()) {
      i->second -= 1;
    }
    counted_for = nullptr;
    c.ended.notify_all();
  }
};

} // namespace

void add_actor_thread_hook(caf::actor_system_config& cfg) {
  cfg.add_thread_hook<actor_thread_hook>();
}

void mark_detached_thread(caf::actor_system& sys) {
  if (counted_for != nullptr) {
    return;
  }
  // Only a thread of CAF's own for one actor (under the test coordinator
  // the same actors run on the test's thread, which never ends as theirs).
  char name[16] = {};
  if (pthread_getname_np(pthread_self(), name, sizeof(name)) != 0 ||
      std::strcmp(name, "caf.actor") != 0) {
    return;
  }
  auto& c = counts();
  std::lock_guard<std::mutex> lock{c.mtx};
  if (c.hooked.count(&sys) == 0) {
    return; // nobody would see this thread end
  }
  c.live[&sys] += 1;
  counted_for = &sys;
}

void join_actor_threads(caf::actor_system& sys) {
  sys.await_all_actors_done();
  auto& c = counts();
  std::unique_lock<std::mutex> lock{c.mtx};
  // Bounded: a thread whose actor something still holds (a proxy of the
  // network module, stopped only by the destructor) ends only after it; the
  // destructor then waits for it as it always did.
  c.ended.wait_for(lock, std::chrono::seconds{5}, [&] { return c.live[&sys] <= 0; });
  c.live.erase(&sys);
  c.hooked.erase(&sys);
}

} // namespace flowgate
