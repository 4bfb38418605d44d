// A stalled test says where it stalled. CTest kills a suite that passes its
// TIMEOUT and prints only what the suite wrote so far: a hang (a reply that
// never comes, a lock never released) then leaves no trace of where it
// waited. Every test executable links this global fixture: when
// FLOWGATE_TEST_DEADLINE_S is set (tests/CMakeLists.txt sets it to the
// suite's timeout minus a margin), a watchdog thread waits that long; if
// the suite is still running then, it prints the test case in progress and
// every thread's stack (gdb, bounded in time) to stderr and aborts, so the
// failure names the case and shows the waits.

#include <boost/test/tree/observer.hpp>
#include <boost/test/tree/test_unit.hpp>
#include <boost/test/unit_test.hpp>

#include <sys/prctl.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

namespace {

class stall_watchdog : public boost::unit_test::test_observer {
public:
  stall_watchdog() {
    const char* raw = std::getenv("FLOWGATE_TEST_DEADLINE_S");
    if (raw == nullptr || std::atoi(raw) <= 0) {
      return;
    }
    seconds_ = std::atoi(raw);
    // gdb attaches from a child process: allowed under Yama's ptrace scope 1.
    (void)prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
    boost::unit_test::framework::register_observer(*this);
    thread_ = std::thread{[this] { watch(); }};
  }

  stall_watchdog(const stall_watchdog&) = delete;
  stall_watchdog& operator=(const stall_watchdog&) = delete;

  ~stall_watchdog() override {
    if (!thread_.joinable()) {
      return;
    }
    {
      std::lock_guard<std::mutex> guard{mtx_};
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
    boost::unit_test::framework::deregister_observer(*this);
  }

  void test_unit_start(const boost::unit_test::test_unit& tu) override {
    if (tu.p_type == boost::unit_test::TUT_CASE) {
      std::lock_guard<std::mutex> guard{mtx_};
      current_ = tu.full_name();
      started_ = std::chrono::steady_clock::now();
    }
  }

private:
  void watch() {
    std::unique_lock<std::mutex> lock{mtx_};
    if (cv_.wait_for(lock, std::chrono::seconds{seconds_}, [this] { return done_; })) {
      return;
    }
    auto in_case =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
        .count();
    auto current = current_;
    lock.unlock(); // the suite's thread may start a case meanwhile
    std::fprintf(stderr,
                 "\nstall watchdog: still running after %d s (FLOWGATE_TEST_DEADLINE_S); "
                 "test case in progress: %s (for %lld s). Every thread's stack:\n",
                 seconds_, current.empty() ? "(none)" : current.c_str(),
                 static_cast<long long>(in_case));
    std::fflush(stderr);
    std::string cmd = "timeout 40 gdb -batch -p " + std::to_string(getpid()) +
                      " -ex 'thread apply all bt 40' 1>&2 2>/dev/null";
    (void)std::system(cmd.c_str());
    std::fprintf(stderr, "stall watchdog: aborting the suite\n");
    std::fflush(stderr);
    std::abort();
  }

  int seconds_ = 0;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool done_ = false;
  std::string current_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::thread thread_;
};

} // namespace

BOOST_TEST_GLOBAL_FIXTURE(stall_watchdog);
