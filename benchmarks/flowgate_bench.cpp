// Load benchmark: an embedded executing node on a fresh database; R runs of
// an S-step `noop` pipeline spread over T tenants are submitted (a bounded
// window in flight), and the benchmark waits for all of them. Every step is
// committed durably (`synchronous` as given, FULL by default).
//
// Prints runs/s, step attempts/s, p50/p99 of run latency (submit -> run
// finished, measured in-process) and of step latency (ledger started ->
// finished, millisecond resolution), peak RSS, and the settings.

#include "actors/node.hpp"
#include "actors/scheduler_threads.hpp"
#include "actors/wall_clock.hpp"
#include "config/billing.hpp"
#include "config/node_settings.hpp"
#include "config/pipeline.hpp"
#include "messages/errors.hpp"
#include "messages/registration.hpp"
#include "persistence/open_store.hpp"
#include "persistence/pg.hpp"
#include "persistence/sqlite.hpp"

#include <caf/all.hpp>

#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

using namespace flowgate;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  int64_t runs = 20'000;
  int64_t steps = 3;
  int64_t tenants = 100;
  int64_t window = 2'000;
  int64_t workers = 8;
  /// Per-tenant concurrency limit (0 = unlimited).
  int64_t tenant_limit = 0;
  std::string synchronous = "full";
  std::string db;
  /// Measure step reservations instead of runs.
  bool quota = false;
  /// Runs end in an event wait: measure the memory of WAITING runs, then
  /// signal them all.
  bool waiting = false;
  /// --waiting: seconds of rest before each memory reading.
  int64_t settle_s = 0;
  /// Items of a for_each per run instead of --steps (0 = none).
  int64_t fan_out = 0;
  int64_t fan_out_concurrency = 16;
  /// Only create the runs (PENDING) and leave them in --db for other
  /// processes to run (benchmarks/cluster_throughput.sh).
  bool preload = false;
  /// Submissions per second, paced (0: as fast as the window allows).
  int64_t rate = 0;
};

const char* const help = R"(Usage: flowgate-bench [options]

  --runs R          runs to submit (20000)
  --steps S         noop steps per run (3)
  --tenants T       tenants the runs are spread over (100)
  --window N        submissions in flight (2000)
  --rate N          submit N runs per second, paced (open loop, up to --window
                    in flight), to read latency below the peak rate (0: no pacing)
  --workers N       activity workers (8)
  --tenant-limit N  max_concurrent_runs of every tenant (0 = unlimited, the default);
                    reports the highest number of runs of one tenant running at once
  --synchronous M   off | normal | full (full)
  --db PATH|URL     database file (default: a fresh temporary file, removed after),
                    or an empty PostgreSQL database (postgresql://...)
  --quota           measure step-quota reservations instead of runs: --runs
                    reservations through the quota_accountant with --window in
                    flight (batched into one store operation per writer turn),
                    next to one transaction per reservation, in the same run
  --waiting         each run ends in a wait for the event "go": submits --runs
                    runs until all are WAITING and reports the node's memory
                    then against before (resident, and heap in use by the
                    allocator's own count), then signals every run (--window in flight) and
                    reports signals/s and runs completed/s
  --fan-out N       each run is a for_each over N items (a noop attempt each)
                    instead of --steps noop steps
  --concurrency C   with --fan-out: items in flight per run (16)
  --preload         only create the runs, PENDING (--window creations in
                    flight), in --db (required) and leave them there for
                    `flowgate serve` nodes to run (cluster_throughput.sh)
  --settle-s N      with --waiting: rest N seconds before each memory reading (0)

Every bench tenant gets an unlimited subscription (usage is still counted),
so runs never pause on quota; --quota uses a limit above the reservations.
)";

/// CPU time of this process so far (user + system), in seconds.
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

long peak_rss_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/// Memory in use now: freed heap handed back to the system first.
struct memory_now {
  double rss_mb = 0;
  double heap_mb = 0;
  /// Of the heap: SQLite's page caches and statements (bounded per connection).
  double sqlite_mb = 0;
};

memory_now measure_memory() {
  memory_now m;
  m.heap_mb = static_cast<double>(heap_in_use_bytes()) / (1024.0 * 1024.0);
  m.sqlite_mb = static_cast<double>(sqlite::memory_used()) / (1024.0 * 1024.0);
  std::ifstream status{"/proc/self/status"};
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      m.rss_mb = std::stod(line.substr(6)) / 1024.0;
    }
  }
  return m;
}

double percentile(std::vector<double> xs, double p) {
  if (xs.empty()) {
    return 0;
  }
  std::sort(xs.begin(), xs.end());
  auto i = static_cast<size_t>(p * static_cast<double>(xs.size() - 1));
  return xs[i];
}

struct bench_result {
  std::vector<double> run_latency_ms;
  int64_t completed = 0;
  int64_t failed = 0;
};

using finished_atom = caf::atom_constant<caf::atom("finished")>;
using submit_atom = caf::atom_constant<caf::atom("submit")>;
using ids_atom = caf::atom_constant<caf::atom("ids")>;

struct submission {
  run_record run;
};

struct submitter_state {
  submitter_state() = default;
  std::vector<submission> todo;
  size_t next = 0;
  int64_t in_flight = 0;
  int64_t window = 0;
  /// Paced submissions: per second (0: none), and since when.
  int64_t rate = 0;
  clock_type::time_point paced_from;
  bool pacing_armed = false;
  std::unordered_map<int64_t, clock_type::time_point> started;
  std::unordered_map<int64_t, std::pair<clock_type::time_point, done_reason>> early;
  bench_result result;
  int64_t finished = 0;
  /// How a run leaves when it went well (completed, or waiting).
  done_reason expect = done_reason::completed;
  std::vector<std::pair<std::string, int64_t>> ids;
  caf::response_promise done;
  static inline const char* name = "bench.submitter";
};

caf::behavior submitter(caf::stateful_actor<submitter_state>* self, dispatcher_actor dispatcher,
                        std::vector<submission> todo, int64_t window, done_reason expect,
                        int64_t rate) {
  self->state.todo = std::move(todo);
  self->state.window = window;
  self->state.rate = rate;
  self->state.expect = expect;
  auto account = [self](int64_t run, clock_type::time_point t0, clock_type::time_point t1,
                        done_reason why) {
    auto& st = self->state;
    st.result.run_latency_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    (why == st.expect ? st.result.completed : st.result.failed) += 1;
    st.finished += 1;
    (void)run;
    if (st.finished == static_cast<int64_t>(st.todo.size()) && st.done.pending()) {
      st.done.deliver(caf::make_message(st.result.completed));
    }
  };
  return {
    [=](submit_atom) {
      auto& st = self->state;
      // Paced: as many as are due by now (the first call starts the clock).
      size_t due = st.todo.size();
      if (st.rate > 0) {
        auto now = clock_type::now();
        if (st.next == 0 && !st.pacing_armed) {
          st.paced_from = now;
        }
        auto elapsed = std::chrono::duration<double>(now - st.paced_from).count();
        due =
          std::min(st.todo.size(), static_cast<size_t>(elapsed * static_cast<double>(st.rate)) + 1);
        if (due < st.todo.size() && !st.pacing_armed) {
          st.pacing_armed = true;
          self->delayed_send(self, std::chrono::milliseconds{1}, tick_atom::value);
        }
      }
      while (st.in_flight < st.window && st.next < due) {
        auto& s = st.todo[st.next++];
        st.in_flight += 1;
        auto t0 = clock_type::now();
        self->request(dispatcher, local_reply, start_atom::value, s.run)
          .then(
            [=](run_created& c) {
              auto& state = self->state;
              state.in_flight -= 1;
              auto id = c.run.id.value;
              state.ids.emplace_back(c.run.tenant.value, id);
              if (auto e = state.early.find(id); e != state.early.end()) {
                account(id, t0, e->second.first, e->second.second);
                state.early.erase(e);
              } else {
                state.started[id] = t0;
              }
              self->send(self, submit_atom::value);
            },
            [=](caf::error& err) {
              std::cerr << "submit failed: " << self->home_system().render(err) << "\n";
              self->quit(err);
            });
      }
    },
    [=](tick_atom) {
      self->state.pacing_armed = false;
      self->send(self, submit_atom::value);
    },
    [=](const run_finished& f) {
      auto& st = self->state;
      auto now = clock_type::now();
      auto it = st.started.find(f.run.value);
      if (it == st.started.end()) {
        st.early[f.run.value] = {now, f.reason};
        return;
      }
      account(f.run.value, it->second, now, f.reason);
      st.started.erase(it);
    },
    [=](finished_atom) {
      auto& st = self->state;
      st.done = self->make_response_promise();
      if (st.finished == static_cast<int64_t>(st.todo.size())) {
        st.done.deliver(caf::make_message(st.result.completed));
      }
      return st.done;
    },
    [=](get_atom) { return caf::make_message(self->state.result.run_latency_ms); },
    [=](ids_atom) { return caf::make_message(self->state.ids); },
  };
}

struct signaler_state {
  signaler_state() = default;
  std::vector<std::pair<std::string, int64_t>> todo;
  size_t next = 0;
  int64_t in_flight = 0;
  int64_t window = 0;
  int64_t finished = 0;
  int64_t completed = 0;
  clock_type::time_point accepted_all;
  caf::response_promise done;
  static inline const char* name = "bench.signaler";
};

/// Signals "go" to every run, `window` requests in flight, and counts the
/// runs that finish (it is a dispatcher watcher).
caf::behavior signaler(caf::stateful_actor<signaler_state>* self, store_writer_actor writer,
                       std::vector<std::pair<std::string, int64_t>> todo, int64_t window) {
  self->state.todo = std::move(todo);
  self->state.window = window;
  auto check_done = [self] {
    auto& st = self->state;
    if (st.finished == static_cast<int64_t>(st.todo.size()) && st.done.pending()) {
      st.done.deliver(caf::make_message(st.completed));
    }
  };
  return {
    [=](submit_atom) {
      auto& st = self->state;
      while (st.in_flight < st.window && st.next < st.todo.size()) {
        auto& [tenant, id] = st.todo[st.next++];
        st.in_flight += 1;
        self
          ->request(writer, std::chrono::seconds{120},
                    signal_run{tenant_id{tenant}, run_id{id}, "go", "null", 0})
          .then(
            [=](signal_accepted&) {
              auto& state = self->state;
              state.in_flight -= 1;
              if (state.next == state.todo.size() && state.in_flight == 0) {
                state.accepted_all = clock_type::now();
              }
              self->send(self, submit_atom::value);
            },
            [=](caf::error& err) {
              std::cerr << "signal failed: " << self->home_system().render(err) << "\n";
              self->quit(err);
            });
      }
    },
    [=](const run_finished& f) {
      auto& st = self->state;
      st.finished += 1;
      st.completed += f.reason == done_reason::completed ? 1 : 0;
      check_done();
    },
    [=](finished_atom) {
      self->state.done = self->make_response_promise();
      check_done();
      return self->state.done;
    },
    [=](get_atom) {
      return std::chrono::duration<double>(self->state.accepted_all.time_since_epoch()).count();
    },
  };
}

bool parse(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << help;
      std::exit(0);
    }
    if (a == "--quota") {
      o.quota = true;
      continue;
    }
    if (a == "--waiting") {
      o.waiting = true;
      continue;
    }
    if (a == "--preload") {
      o.preload = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::cerr << "flowgate-bench: " << a << " needs a value\n" << help;
      return false;
    }
    std::string v = argv[++i];
    auto num = [&](int64_t& out, int64_t min) {
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
      if (ec != std::errc{} || end != v.data() + v.size() || out < min) {
        std::cerr << "flowgate-bench: " << a << " must be an integer >= " << min << "\n";
        return false;
      }
      return true;
    };
    bool ok = true;
    if (a == "--runs") {
      ok = num(o.runs, 1);
    } else if (a == "--steps") {
      ok = num(o.steps, 1);
    } else if (a == "--tenants") {
      ok = num(o.tenants, 1);
    } else if (a == "--window") {
      ok = num(o.window, 1);
    } else if (a == "--rate") {
      ok = num(o.rate, 0);
    } else if (a == "--workers") {
      ok = num(o.workers, 1);
    } else if (a == "--fan-out") {
      ok = num(o.fan_out, 1);
    } else if (a == "--concurrency") {
      ok = num(o.fan_out_concurrency, 1);
    } else if (a == "--settle-s") {
      ok = num(o.settle_s, 0);
    } else if (a == "--tenant-limit") {
      ok = num(o.tenant_limit, 0);
    } else if (a == "--synchronous") {
      o.synchronous = v;
    } else if (a == "--db") {
      o.db = v;
    } else {
      std::cerr << "flowgate-bench: unknown option " << a << "\n" << help;
      return false;
    }
    if (!ok) {
      return false;
    }
  }
  return true;
}

/// A subscription for the current UTC calendar month with a step limit.
std::string month_subscription(const std::string& limit) {
  auto [start, end] = calendar_month(wall_clock_ms());
  return R"({"id":"bench","status":"active","current_period_start":")" + format_rfc3339(start) +
         R"(","current_period_end":")" + format_rfc3339(end) +
         R"(","price_metadata":{"workflow_step_limit":")" + limit + R"("}})";
}

/// --preload: creates the runs PENDING through the store writer, `window`
/// in flight, for other processes to claim.
int preload_runs(const options& o, caf::actor_system& sys, node& n, std::vector<submission>& todo) {
  caf::scoped_actor self{sys};
  auto op = [&](size_t i) {
    create_run c;
    c.run = std::move(todo[i].run); // each is sent once
    return c;
  };
  size_t sent = 0;
  int64_t answered = 0;
  bool failed = false;
  auto t0 = clock_type::now();
  for (; sent < std::min<size_t>(static_cast<size_t>(o.window), todo.size()); ++sent) {
    self->send(n.writer(), op(sent));
  }
  while (answered < static_cast<int64_t>(todo.size()) && !failed) {
    self->receive(
      [&](run_created&) {
        ++answered;
        if (sent < todo.size()) {
          self->send(n.writer(), op(sent++));
        }
      },
      [&](caf::error& e) {
        std::cerr << "flowgate-bench: " << sys.render(e) << "\n";
        failed = true;
      });
  }
  auto elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
  std::printf("flowgate-bench: preloaded %lld PENDING runs of %lld tenants in %.2f s (%.0f/s)\n",
              static_cast<long long>(answered), static_cast<long long>(o.tenants), elapsed,
              static_cast<double>(answered) / elapsed);
  return failed ? 1 : 0;
}

/// Step reservations through the quota_accountant (batched) next to one
/// transaction per reservation, on the same database in the same run.
int quota_bench(const options& o, caf::actor_system& sys, node& n, const node_settings& s) {
  auto window = std::max<int64_t>(o.window, 1);
  caf::scoped_actor self{sys};
  auto accountant = n.accountant();
  auto key = [&](int64_t i) {
    return reserve_step{
      tenant_id{"tenant-" + std::to_string(i % o.tenants)}, run_id{i + 1}, "s", 1, 0, 0, -1, 0};
  };
  auto writer_now = [&] {
    writer_stats w;
    self->request(n.writer(), std::chrono::seconds{10}, stats_atom::value)
      .receive([&](writer_stats& x) { w = x; }, [](caf::error&) {});
    return w;
  };
  auto before = writer_now();
  int64_t sent = 0;
  int64_t granted = 0;
  int64_t answered = 0;
  bool failed = false;
  auto t0 = clock_type::now();
  for (; sent < std::min(window, o.runs); ++sent) {
    self->send(accountant, key(sent));
  }
  while (answered < o.runs && !failed) {
    self->receive(
      [&](step_reservation& r) {
        ++answered;
        granted += r.granted ? 1 : 0;
        if (sent < o.runs) {
          self->send(accountant, key(sent++));
        }
      },
      [&](caf::error& e) {
        std::cerr << "flowgate-bench: " << sys.render(e) << "\n";
        failed = true;
      });
  }
  auto batched_s = std::chrono::duration<double>(clock_type::now() - t0).count();
  accountant_stats as;
  self->request(accountant, std::chrono::seconds{10}, stats_atom::value)
    .receive([&](accountant_stats& x) { as = x; }, [](caf::error&) {});
  auto ws = writer_now();
  ws.busy_us -= before.busy_us;
  ws.commit_us -= before.commit_us;
  // One transaction per reservation: the same store code, its own connection.
  auto terms = n.quota_terms_of(tenant_id{"tenant-0"}, false);
  auto session = open_store_writer(s, wall_clock_ms());
  if (failed || !terms || !session) {
    std::cerr << "flowgate-bench: quota set-up failed\n";
    return 1;
  }
  int64_t single = std::min<int64_t>(o.runs, 2'000);
  auto t1 = clock_type::now();
  for (int64_t i = 0; i < single; ++i) {
    auto r = key(i);
    r.tenant = tenant_id{"tenant-0"};
    r.run = run_id{int64_t{1'000'000'000} + i};
    r.period_start_ms = terms->period_start_ms;
    r.period_end_ms = terms->period_end_ms;
    r.limit = terms->limit;
    r.now_ms = wall_clock_ms();
    if ((*session)->begin() || !(*session)->apply(r) || (*session)->commit()) {
      std::cerr << "flowgate-bench: a single reservation failed\n";
      return 1;
    }
  }
  auto single_s = std::chrono::duration<double>(clock_type::now() - t1).count();
  auto batched_rate = static_cast<double>(o.runs) / batched_s;
  auto single_rate = static_cast<double>(single) / single_s;
  std::printf("flowgate-bench --quota: reservations=%lld tenants=%lld window=%lld "
              "synchronous=%s\n",
              static_cast<long long>(o.runs), static_cast<long long>(o.tenants),
              static_cast<long long>(window), o.synchronous.c_str());
  std::printf("  batched via quota_accountant  %.0f reservations/s (%lld granted, %lld store "
              "operations, avg %.1f per operation)\n",
              batched_rate, static_cast<long long>(granted), static_cast<long long>(as.batches),
              as.batches ? static_cast<double>(as.reservations) / static_cast<double>(as.batches)
                         : 0.0);
  std::printf("  writer busy                   %.0f%% of the batched phase (commit/fsync %.0f%%)\n",
              100.0 * static_cast<double>(ws.busy_us) / (batched_s * 1e6),
              100.0 * static_cast<double>(ws.commit_us) / (batched_s * 1e6));
  std::printf("  one transaction each          %.0f reservations/s (%lld reservations)\n",
              single_rate, static_cast<long long>(single));
  std::printf("  ratio                         %.1fx\n", batched_rate / single_rate);
  std::printf("  peak RSS                      %.1f MB\n",
              static_cast<double>(peak_rss_kb()) / 1024.0);
  return granted == o.runs ? 0 : 1;
}
} // namespace

/// `--waiting`: every run reached WAITING; the memory that costs, then the
/// signals that finish them.
int waiting_report(const options& o, caf::actor_system& sys, node& n, int64_t waiting,
                   double elapsed, memory_now before,
                   std::vector<std::pair<std::string, int64_t>> ids) {
  caf::scoped_actor self{sys};
  dispatcher_stats ds;
  self->request(n.dispatcher(), std::chrono::seconds{10}, stats_atom::value)
    .receive([&](dispatcher_stats& x) { ds = x; }, [](caf::error&) {});
  std::this_thread::sleep_for(std::chrono::seconds{o.settle_s});
  auto with_waiting = measure_memory();
  auto ids_mb = static_cast<double>(ids.capacity() * sizeof(ids[0])) / (1024.0 * 1024.0);
  auto total = static_cast<int64_t>(ids.size());
  auto sig = sys.spawn(signaler, n.writer(), std::move(ids), o.window);
  self->request(n.dispatcher(), std::chrono::seconds{10}, watch_atom::value, sig)
    .receive([](ok_atom) {}, [](caf::error&) {});
  auto t0 = clock_type::now();
  self->send(sig, submit_atom::value);
  int64_t completed = 0;
  self->request(sig, std::chrono::seconds{1800}, finished_atom::value)
    .receive([&](int64_t c) { completed = c; },
             [&](caf::error& e) { std::cerr << "flowgate-bench: " << sys.render(e) << "\n"; });
  auto finished_s = std::chrono::duration<double>(clock_type::now() - t0).count();
  double accepted_at = 0;
  self->request(sig, std::chrono::seconds{10}, get_atom::value)
    .receive([&](double x) { accepted_at = x; }, [](caf::error&) {});
  self->send_exit(sig, caf::exit_reason::user_shutdown);
  self->wait_for(sig);
  std::this_thread::sleep_for(std::chrono::seconds{o.settle_s});
  auto after = measure_memory();
  auto accepted_s = accepted_at - std::chrono::duration<double>(t0.time_since_epoch()).count();
  std::printf("flowgate-bench --waiting: runs=%lld steps=%lld tenants=%lld window=%lld "
              "synchronous=%s settle=%llds\n",
              static_cast<long long>(o.runs), static_cast<long long>(o.steps),
              static_cast<long long>(o.tenants), static_cast<long long>(o.window),
              o.synchronous.c_str(), static_cast<long long>(o.settle_s));
  std::printf("  waiting          %lld of %lld runs WAITING in %.2f s (%.0f runs/s); "
              "runs in memory then: %lld\n",
              static_cast<long long>(waiting), static_cast<long long>(o.runs), elapsed,
              static_cast<double>(waiting) / elapsed, static_cast<long long>(ds.active));
  std::printf("  memory           before: RSS %.1f MB, heap in use %.1f MB (SQLite %.1f MB)\n",
              before.rss_mb, before.heap_mb, before.sqlite_mb);
  std::printf("                   with the runs WAITING: RSS %.1f MB, heap in use %.1f MB "
              "(SQLite %.1f MB, the bench's list of run ids %.1f MB)\n",
              with_waiting.rss_mb, with_waiting.heap_mb, with_waiting.sqlite_mb, ids_mb);
  std::printf("                   after all completed: RSS %.1f MB, heap in use %.1f MB "
              "(SQLite %.1f MB)\n",
              after.rss_mb, after.heap_mb, after.sqlite_mb);
  std::printf("  signals          %lld accepted in %.2f s (%.0f/s)\n",
              static_cast<long long>(total), accepted_s, static_cast<double>(total) / accepted_s);
  std::printf("  completed        %lld of %lld runs in %.2f s after the first signal "
              "(%.0f runs/s)\n",
              static_cast<long long>(completed), static_cast<long long>(total), finished_s,
              static_cast<double>(completed) / finished_s);
  std::printf("  peak RSS         %.1f MB\n", static_cast<double>(peak_rss_kb()) / 1024.0);
  return waiting == o.runs && completed == total ? 0 : 1;
}

/// Runs `sql` on the bench's store (SQLite file or PostgreSQL URL) through
/// a connection of its own; calls `each(row)` per row. False if unreadable.
template <class Each> bool query_rows(const std::string& db, const std::string& sql, Each each) {
  auto drain = [&](auto& st) {
    for (;;) {
      auto row = st.step();
      if (!row || !*row) {
        return static_cast<bool>(row);
      }
      each(st);
    }
  };
  if (pg::is_url(db)) {
    auto c = pg::connection::open(db);
    if (!c) {
      return false;
    }
    auto st = (*c)->prepare(sql);
    return st && drain(**st);
  }
  auto c = sqlite::connection::open(sqlite::open_options{db, 5000, sync_mode::normal, false});
  if (!c) {
    return false;
  }
  auto st = c->prepare(sql);
  return st && drain(*st);
}

int main(int argc, char** argv) {
  options o;
  if (!parse(argc, argv, o)) {
    return 2;
  }
  auto sync = parse_sync_mode(o.synchronous);
  if (!sync) {
    std::cerr << "flowgate-bench: " << describe(sync.error()) << "\n";
    return 2;
  }
  if (o.preload && o.db.empty()) {
    std::cerr << "flowgate-bench: --preload needs --db (the runs are left there)\n";
    return 2;
  }
  bool temporary = o.db.empty();
  auto dir =
    std::filesystem::temp_directory_path() / ("flowgate-bench-" + std::to_string(wall_clock_ms()));
  if (temporary) {
    std::filesystem::create_directories(dir);
    o.db = (dir / "bench.db").string();
  } else if (!pg::is_url(o.db)) {
    std::filesystem::remove(o.db);
  }
  node_settings s;
  s.db_path = o.db;
  s.synchronous = *sync;
  s.default_tenant_id = "default";
  s.node_id = "bench";
  s.workers = o.workers;
  s.max_active_runs = std::max<int64_t>(o.runs, 1);
  s.tenant_max_concurrent_runs = o.tenant_limit;
  s.poll_interval_ms = 50;
  caf::actor_system_config cfg;
  register_types(cfg);
  // As `flowgate serve`: leave a core to the store writer's thread, and
  // keep freed heap memory for reuse.
  tune_allocator();
  if (o.waiting) {
    // Its memory report shows SQLite's share (statistics cost a mutex per
    // SQLite allocation: the other modes run as a node does, without).
    sqlite::keep_memory_statistics();
  }
  cfg.set("scheduler.max-threads", static_cast<int>(scheduler_threads()));
  caf::actor_system sys{cfg};
  actor_threads_joined joined{sys};
  int rc = 0;
  {
    auto n = node::start(sys, s, node_options{!o.quota && !o.preload, nullptr});
    if (!n) {
      std::cerr << "flowgate-bench: " << describe(n.error()) << "\n";
      return 1;
    }
    std::string steps;
    for (int64_t i = 0; i < o.steps; ++i) {
      steps += (i == 0 ? "" : ",") + std::string{R"({"id":"s)"} + std::to_string(i) +
               R"(","activity":"noop"})";
    }
    std::string items;
    if (o.fan_out > 0) {
      steps = R"({"id":"items","for_each":{"$ref":"/input/items"},"concurrency":)" +
              std::to_string(o.fan_out_concurrency) + R"(,"do":{"id":"item","activity":"noop"}})";
      for (int64_t i = 0; i < o.fan_out; ++i) {
        items += (i == 0 ? "" : ",") + std::to_string(i);
      }
    }
    if (o.waiting) {
      steps += R"(,{"id":"w","wait":{"event":"go"}})";
    }
    auto doc = R"({"name":"bench","root":{"sequence":[)" + steps + "]}}";
    std::vector<config_snapshot_ptr> snaps;
    for (int64_t t = 0; t < o.tenants; ++t) {
      auto id = "tenant-" + std::to_string(t);
      auto tenant_config = o.tenant_limit > 0
                             ? R"({"max_concurrent_runs": )" + std::to_string(o.tenant_limit) + "}"
                             : std::string{"{}"};
      if (!(*n)->put_tenant(id, tenant_config) || !(*n)->put_config(id, "bench", "1", doc) ||
          !(*n)->put_subscription(id, month_subscription(o.quota ? "1000000000" : "unlimited"))) {
        std::cerr << "flowgate-bench: set-up failed\n";
        return 1;
      }
      auto snap = (*n)->get_config(id, "bench", "1");
      if (!snap) {
        std::cerr << "flowgate-bench: " << describe(snap.error()) << "\n";
        return 1;
      }
      snaps.push_back(*snap);
    }
    if (o.quota) {
      rc = quota_bench(o, sys, **n, s);
      n->reset();
      if (temporary) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
      return rc;
    }
    // The node at rest, before the bench builds its submissions.
    auto before = measure_memory();
    std::vector<submission> todo;
    todo.reserve(static_cast<size_t>(o.runs));
    for (int64_t i = 0; i < o.runs; ++i) {
      const auto& snap = snaps[static_cast<size_t>(i % o.tenants)];
      run_record r;
      r.tenant = tenant_id{snap->tenant};
      r.queue = queue_name{"bench"};
      r.config_tenant = tenant_id{snap->tenant};
      r.version = config_version{"1"};
      r.checksum = snap->checksum;
      r.input = "{\"i\":" + std::to_string(i) +
                (o.fan_out > 0 ? ",\"items\":[" + items + "]" : std::string{}) + "}";
      todo.push_back(submission{std::move(r)});
    }
    if (o.preload) {
      return preload_runs(o, sys, **n, todo);
    }
    auto sub = sys.spawn(submitter, (*n)->dispatcher(), std::move(todo), o.window,
                         o.waiting ? done_reason::waiting : done_reason::completed, o.rate);
    caf::scoped_actor self{sys};
    self->request((*n)->dispatcher(), std::chrono::seconds{10}, watch_atom::value, sub)
      .receive([](ok_atom) {}, [](caf::error&) {});
    auto t0 = clock_type::now();
    auto cpu0 = cpu_seconds();
    self->send(sub, submit_atom::value);
    int64_t completed = 0;
    self->request(sub, std::chrono::seconds{1800}, finished_atom::value)
      .receive([&](int64_t c) { completed = c; },
               [&](caf::error& e) { std::cerr << "flowgate-bench: " << sys.render(e) << "\n"; });
    auto elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
    auto cpu = cpu_seconds() - cpu0;
    std::vector<double> latencies;
    self->request(sub, std::chrono::seconds{10}, get_atom::value)
      .receive([&](std::vector<double>& xs) { latencies = std::move(xs); }, [](caf::error&) {});
    writer_stats ws;
    self->request((*n)->writer(), std::chrono::seconds{10}, stats_atom::value)
      .receive([&](writer_stats& w) { ws = w; }, [](caf::error&) {});
    std::vector<std::pair<std::string, int64_t>> ids;
    self->request(sub, std::chrono::seconds{10}, ids_atom::value)
      .receive([&](std::vector<std::pair<std::string, int64_t>>& xs) { ids = std::move(xs); },
               [](caf::error&) {});
    // Gone before memory is measured: its submissions are the bench's, not the node's.
    self->send_exit(sub, caf::exit_reason::user_shutdown);
    self->wait_for(sub);
    if (o.waiting) {
      rc = waiting_report(o, sys, **n, completed, elapsed, before, std::move(ids));
      n->reset();
      if (temporary) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
      return rc;
    }
    // What the node keeps after the burst (the bench's own id list freed
    // first): its heap in use against the node at rest before it.
    ids = {};
    auto after_burst = measure_memory();
    // Step latency from the ledger (ms resolution).
    std::vector<double> step_ms;
    bool readable =
      query_rows(o.db, "SELECT finished_at_ms - started_at_ms FROM run_steps",
                 [&](auto& row) { step_ms.push_back(static_cast<double>(row.column_int64(0))); });
    int64_t attempts = static_cast<int64_t>(step_ms.size());
    // Highest number of one tenant's runs RUNNING at once, from the runs'
    // [started, finished) spans (ms resolution; a finish and a start in the
    // same millisecond do not overlap).
    int64_t max_per_tenant = 0;
    if (readable) {
      std::map<std::string, std::vector<std::pair<int64_t, int>>> spans;
      query_rows(o.db,
                 "SELECT tenant_id, started_at_ms, finished_at_ms FROM runs "
                 "WHERE finished_at_ms IS NOT NULL ORDER BY tenant_id",
                 [&](auto& row) {
                   auto& v = spans[row.column_text(0)];
                   v.emplace_back(row.column_int64(1), +1);
                   v.emplace_back(row.column_int64(2), -1);
                 });
      for (auto& [tenant, v] : spans) {
        std::sort(v.begin(), v.end()); // at equal times -1 (finish) sorts before +1
        int64_t now_running = 0;
        for (auto& [t, d] : v) {
          now_running += d;
          max_per_tenant = std::max(max_per_tenant, now_running);
        }
      }
    }
    if (o.fan_out > 0) {
      std::printf("flowgate-bench: fan-out of %lld items at concurrency %lld per run\n",
                  static_cast<long long>(o.fan_out), static_cast<long long>(o.fan_out_concurrency));
    }
    std::printf("flowgate-bench: runs=%lld steps=%lld tenants=%lld window=%lld workers=%lld "
                "tenant_limit=%lld synchronous=%s max_batch=%lld rate=%lld allocator=%s\n",
                static_cast<long long>(o.runs), static_cast<long long>(o.fan_out > 0 ? 0 : o.steps),
                static_cast<long long>(o.tenants), static_cast<long long>(o.window),
                static_cast<long long>(o.workers), static_cast<long long>(o.tenant_limit),
                o.synchronous.c_str(), static_cast<long long>(s.max_write_batch),
                static_cast<long long>(o.rate), allocator_name().c_str());
    std::printf("  completed        %lld of %lld runs in %.2f s\n",
                static_cast<long long>(completed), static_cast<long long>(o.runs), elapsed);
    std::printf("  runs/s           %.0f\n", static_cast<double>(completed) / elapsed);
    std::printf("  CPU per run      %.0f us (user + system of this process, %.2f s; the "
                "database server's is not included)\n",
                1e6 * cpu / static_cast<double>(std::max<int64_t>(1, completed)), cpu);
    std::printf("  step attempts/s  %.0f (%lld attempts)\n",
                static_cast<double>(attempts) / elapsed, static_cast<long long>(attempts));
    std::printf("  run latency ms   p50 %.1f  p99 %.1f\n", percentile(latencies, 0.5),
                percentile(latencies, 0.99));
    std::printf("  step latency ms  p50 %.0f  p99 %.0f (ledger, ms resolution)\n",
                percentile(step_ms, 0.5), percentile(step_ms, 0.99));
    std::printf(
      "  writer           %llu transactions, %llu operations, avg batch %.1f, "
      "largest %llu\n",
      static_cast<unsigned long long>(ws.batches), static_cast<unsigned long long>(ws.operations),
      ws.batches ? static_cast<double>(ws.operations) / static_cast<double>(ws.batches) : 0.0,
      static_cast<unsigned long long>(ws.largest_batch));
    if (ws.isolated_batches > 0) {
      std::printf("  writer           %llu batches applied again operation by operation "
                  "(an operation failed)\n",
                  static_cast<unsigned long long>(ws.isolated_batches));
    }
    std::printf("  max running/tenant %lld (limit %s)\n", static_cast<long long>(max_per_tenant),
                o.tenant_limit > 0 ? std::to_string(o.tenant_limit).c_str() : "none");
    std::printf("  writer busy      %.0f%% of the run (commit/fsync %.0f%%)\n",
                100.0 * static_cast<double>(ws.busy_us) / (elapsed * 1e6),
                100.0 * static_cast<double>(ws.commit_us) / (elapsed * 1e6));
    std::printf("  heap in use      %.1f MB at rest before, %.1f MB after the burst (%.0f bytes "
                "per finished run; SQLite's page caches, up to 2 MB per connection, and the "
                "bench's latencies included)\n",
                before.heap_mb, after_burst.heap_mb,
                (after_burst.heap_mb - before.heap_mb) * 1024.0 * 1024.0 /
                  static_cast<double>(std::max<int64_t>(1, completed)));
    if (ws.round_trips > 0) {
      auto per_run = [&](uint64_t count) {
        return static_cast<double>(count) / static_cast<double>(std::max<int64_t>(1, completed));
      };
      auto per_op = [&](uint64_t count) {
        return static_cast<double>(count) /
               static_cast<double>(std::max<uint64_t>(1, ws.operations));
      };
      std::printf("  server round trips %llu by the writer (%.1f per run, %.1f per operation)\n",
                  static_cast<unsigned long long>(ws.round_trips), per_run(ws.round_trips),
                  per_op(ws.round_trips));
      std::printf("  server statements  %llu by the writer (%.1f per run, %.1f per operation)\n",
                  static_cast<unsigned long long>(ws.statements), per_run(ws.statements),
                  per_op(ws.statements));
    }
    std::printf("  peak RSS         %.1f MB\n", static_cast<double>(peak_rss_kb()) / 1024.0);
    rc = completed == o.runs ? 0 : 1;
  }
  if (temporary) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return rc;
}
