// Group-commit micro benchmark: step reservations (usage counter update +
// ledger row, the quota hot path) through the store_writer actor with
// 1, 10, 100 and 1000 requests in flight, next to two baselines measured in
// the same run on the same kind of database: one transaction per write, and
// SQLite batched directly (1000 per transaction, no actors).
//
// Usage: flowgate-bench-commit [--writes N] [--synchronous full|normal|off] [--dir PATH]

#include "actors/store_writer.hpp"
#include "messages/actor_threads.hpp"
#include "messages/errors.hpp"
#include "messages/registration.hpp"
#include "persistence/sqlite_store.hpp"

#include <caf/all.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>

using namespace flowgate;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  int writes = 20000;
  int single_writes = 2000;
  sync_mode sync = sync_mode::full;
  std::string dir = std::filesystem::temp_directory_path() / "flowgate-bench";
};

long peak_rss_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

reserve_step reservation(int64_t run) {
  return reserve_step{tenant_id{"bench"}, run_id{run}, "step", 1, 0, 1, -1, 1};
}

std::string fresh_db(const options& o, const std::string& name) {
  std::filesystem::create_directories(o.dir);
  auto path = (std::filesystem::path{o.dir} / (name + ".db")).string();
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(path + suffix);
  }
  return path;
}

std::unique_ptr<write_session> open_writer(const options& o, const std::string& path) {
  auto w = open_sqlite_writer(sqlite_store_options{path, o.sync, 5000}, 1);
  if (!w) {
    std::cerr << "cannot open " << path << ": " << describe(w.error()) << "\n";
    std::exit(1);
  }
  return std::move(*w);
}

/// Writes `n` reservations directly, `per_txn` per transaction. Returns writes/s.
double direct(const options& o, int n, int per_txn, const std::string& name) {
  auto session = open_writer(o, fresh_db(o, name));
  auto start = clock_type::now();
  for (int i = 0; i < n; i += per_txn) {
    if (session->begin()) {
      std::exit(1);
    }
    for (int j = i; j < std::min(n, i + per_txn); ++j) {
      if (!session->apply(reservation(j))) {
        std::exit(1);
      }
    }
    if (session->commit()) {
      std::exit(1);
    }
  }
  std::chrono::duration<double> secs = clock_type::now() - start;
  return n / secs.count();
}

struct actor_result {
  double writes_per_sec = 0;
  writer_stats stats;
};

/// Keeps `in_flight` requests outstanding against a store_writer until `n`
/// writes are acknowledged.
actor_result through_writer(caf::actor_system& sys, const options& o, int n, int in_flight) {
  auto writer = spawn_store_writer(
    sys, std::shared_ptr<write_session>{open_writer(o, fresh_db(o, "writer"))}, 4096);
  caf::scoped_actor self{sys};
  auto start = clock_type::now();
  // One (unused) argument: CAF 0.17 misbehaves on argument-less function actors.
  auto driver = self->spawn<caf::monitored>(
    [=](caf::event_based_actor* drv, int) {
      auto next = std::make_shared<int>(0);
      auto done = std::make_shared<int>(0);
      auto issue = std::make_shared<std::function<void()>>();
      *issue = [=] {
        int64_t run = (*next)++;
        drv->request(writer, std::chrono::seconds(60), reservation(run))
          .then(
            [=](const step_reservation&) {
              if (++*done == n) {
                *issue = nullptr; // break the self-reference so the driver can end
                drv->quit();
              } else if (*next < n) {
                (*issue)();
              }
            },
            [=](const caf::error& e) {
              std::cerr << "write failed: " << describe(e) << "\n";
              std::exit(1);
            });
      };
      for (int i = 0; i < std::min(in_flight, n); ++i) {
        (*issue)();
      }
    },
    0);
  self->receive([](const caf::down_msg&) {});
  std::chrono::duration<double> secs = clock_type::now() - start;
  actor_result out;
  out.writes_per_sec = n / secs.count();
  self->request(writer, std::chrono::seconds(5), stats_atom::value)
    .receive([&](writer_stats s) { out.stats = s; }, [](caf::error&) {});
  self->send_exit(writer, caf::exit_reason::user_shutdown);
  return out;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--writes") {
      o.writes = std::stoi(value());
    } else if (a == "--synchronous") {
      auto m = parse_sync_mode(value());
      if (!m) {
        std::cerr << describe(m.error()) << "\n";
        return 2;
      }
      o.sync = *m;
    } else if (a == "--dir") {
      o.dir = value();
    } else if (a == "--help" || a == "-h") {
      std::cout << "Usage: flowgate-bench-commit [--writes N] [--synchronous full|normal|off] "
                   "[--dir PATH]\n";
      return 0;
    } else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  caf::actor_system_config cfg;
  register_types(cfg);
  caf::actor_system sys{cfg};
  actor_threads_joined joined{sys};
  std::printf("group commit benchmark: step reservations (counter update + ledger row)\n");
  std::printf("synchronous=%s, writes per actor run=%d, database dir=%s\n", to_string(o.sync),
              o.writes, o.dir.c_str());
  auto single = direct(o, o.single_writes, 1, "single");
  auto batched = direct(o, o.writes, 1000, "batched");
  std::printf("%-44s %12.0f writes/s\n", "baseline: one transaction per write", single);
  std::printf("%-44s %12.0f writes/s\n", "baseline: SQLite direct, 1000 per transaction", batched);
  double best = 0;
  for (int in_flight : {1, 10, 100, 1000}) {
    int n = in_flight == 1 ? o.single_writes : o.writes;
    auto r = through_writer(sys, o, n, in_flight);
    best = std::max(best, r.writes_per_sec);
    char label[64];
    std::snprintf(label, sizeof label, "store_writer, %d in flight", in_flight);
    std::printf("%-44s %12.0f writes/s  (avg batch %.1f, largest %llu, %.1fx one-per-txn)\n", label,
                r.writes_per_sec,
                r.stats.batches ? double(r.stats.operations) / r.stats.batches : 0.0,
                static_cast<unsigned long long>(r.stats.largest_batch), r.writes_per_sec / single);
  }
  std::printf("best store_writer rate = %.0f%% of SQLite's direct batched rate\n",
              100.0 * best / batched);
  std::printf("peak RSS %ld MB\n", peak_rss_kb() / 1024);
  std::filesystem::remove_all(o.dir);
  return 0;
}
